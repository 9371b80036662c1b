#!/usr/bin/env bash
# A stale Assign (issue 10, found by the chaos suite's partitions): the
# coordinator assigns a step to a worker whose connection then stalls (here
# the worker is frozen with SIGSTOP right before the Assign arrives; a
# partition does the same). The worker is declared dead, the step runs
# elsewhere and succeeds. When the worker resumes, the Assign still waiting
# in its socket must not start the step — that would run it again after its
# success was recorded. The worker, having heard nothing for half the
# worker timeout, holds it until the coordinator answers a fresh heartbeat;
# the coordinator answers "register again" instead, and its RegisterReply
# drops the lease.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 1
cat >"$T_DIR/once.cfg" <<EOF2
workflow = "stale-assign";
steps = (
  { name = "s"; kind = "exec"; retries = 0;
    argv = ["/bin/sh", "-c", "date +%s.%N >$T_DIR/start.\$DROVER_ATTEMPT"]; }
);
EOF2
kill -STOP "$(worker_pid w1)"
run=$(submit "$T_DIR/once.cfg")
wait_for "s assigned to the frozen w1" 20 sql_is \
    "select state || ' ' || worker from drover.tasks where run_id = $run and name = 's'" "assigned w1"
task=$(sql "select id from drover.tasks where run_id = $run and name = 's'")
wait_for "w1 declared dead" 20 sql_is "select state from drover.workers where name = 'w1'" dead
worker_start w2 1
assert_eq succeeded "$(wait_run "$run" 30)" "run after its first worker froze"
assert_eq "2 w2" "$(task_field "$run" s "attempt || ' ' || worker")" "attempt and worker that ran s"
kill -CONT "$(worker_pid w1)"
wait_for "w1 registered again" 20 sql_is "select state from drover.workers where name = 'w1'" connected
wait_for "w1 drops the stale Assign unstarted" 20 grep -q \
    "task $task attempt 1: the coordinator no longer wants it; dropped before it started" "$T_DIR/worker-w1.log"
[[ ! -e "$T_DIR/start.1" ]] || fail "attempt 1 of s started on w1 after the step's success was recorded"
assert_eq "succeeded 2 w2" "$(task_field "$run" s "state || ' ' || attempt || ' ' || worker")" \
    "s after w1 came back"
