#!/usr/bin/env bash
# Late results (issue 10, observation 7): a worker frozen (SIGSTOP) while
# its step runs is declared dead, the step runs again elsewhere and
# succeeds; when the frozen worker comes back with the first attempt's
# result, that result is not applied and is recorded in drover.events as
# kind stale_result (docs/sql.md).
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 1
run=$(submit "$(wf stale)")
wait_for "s running on w1" 20 sql_is \
    "select state || ' ' || worker from drover.tasks where run_id = $run and name = 's'" "running w1"
task=$(sql "select id from drover.tasks where run_id = $run and name = 's'")
kill -STOP "$(worker_pid w1)"
wait_for "w1 declared dead" 20 sql_is "select state from drover.workers where name = 'w1'" dead
worker_start w2 1
assert_eq succeeded "$(wait_run "$run" 30)" "run after its first worker froze"
assert_eq "2 w2" "$(task_field "$run" s "attempt || ' ' || worker")" "attempt and worker that finished s"
touch "$T_DIR/stale-release"
kill -CONT "$(worker_pid w1)"
wait_for "the late result of attempt 1 recorded as stale_result" 20 sql_is \
    "select count(*) > 0 from drover.events where task_id = $task and attempt = 1 and kind = 'stale_result'" t
assert_eq "succeeded 2 w2" "$(task_field "$run" s "state || ' ' || attempt || ' ' || worker")" \
    "the step after the late result came back"
assert_eq "$run" "$(sql "select distinct run_id from drover.events where task_id = $task and kind = 'stale_result'")" \
    "run of the stale_result event"
