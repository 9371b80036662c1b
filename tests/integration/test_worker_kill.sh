#!/usr/bin/env bash
# SIGKILL the worker running a task: the coordinator notices the silence,
# the task runs again on the other worker with a higher attempt, the run
# succeeds, and the dead worker's task process does not linger.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 1
worker_start w2 1

run=$(submit "$(wf worker_kill)")
wait_for "step long started (pid recorded)" 30 test -s "$T_DIR/long.pids"
read -r pid1 att1 <"$T_DIR/long.pids"
t_track_pid "$pid1"
assert_eq 1 "$att1" "attempt of the first run of long"
wait_for "step long running in the database" 20 sql_is \
    "select state from drover.tasks where run_id = $run and name = 'long'" running
victim=$(task_field "$run" long worker)
case "$victim" in
w1) other=w2 ;;
w2) other=w1 ;;
*) fail "task long runs on unknown worker '$victim'" ;;
esac
log "killing worker $victim (pid $(worker_pid "$victim")); task pid $pid1"
kill -KILL "$(worker_pid "$victim")"
worker_forget "$victim"

assert_eq succeeded "$(wait_run "$run" 60)" "run state after the worker was killed"
attempt=$(task_field "$run" long attempt)
assert_ge "$attempt" 2 "attempt of long after the re-run"
assert_eq "$other" "$(task_field "$run" long worker)" "worker that finished long"
assert_eq succeeded "$(task_field "$run" after state)" "state of after"
assert_eq 2 "$(wc -l <"$T_DIR/long.pids" | tr -d ' ')" "times long started"
wait_for "task process $pid1 of the killed worker to be gone" 15 pid_gone "$pid1"
assert_eq 1 "$(sql "select count(*) from drover.tasks where run_id = $run and name = 'long' and lost >= 1")" \
    "long records a lost attempt"
