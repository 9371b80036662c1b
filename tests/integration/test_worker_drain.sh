#!/usr/bin/env bash
# Graceful stop (issue 10, observation 4). SIGTERM on a worker: the
# coordinator assigns it nothing more at once (work submitted meanwhile
# goes elsewhere, not lost), its running task may finish within the drain
# time, and a task still running when the drain time is over is handed back
# (run again elsewhere, counting neither a failure nor a loss). The worker
# then exits 0.
source "$(dirname "$0")/lib.sh"

T_WORKER_DRAIN="30s"
pg_start
coord_start
worker_start w1 2 --label one

# --- drained: the running task finishes, new work goes elsewhere ------------
run=$(submit "$(wf drain_hold)")
wait_for "hold running on w1" 20 sql_is \
    "select state || ' ' || worker from drover.tasks where run_id = $run and name = 'hold'" "running w1"
kill -TERM "$(worker_pid w1)"
wait_for "w1 recorded as stopping" 10 sql_is \
    "select state from drover.workers where name = 'w1'" gone
quick=$(submit "$(wf drain_quick)")
worker_start w2 1
assert_eq succeeded "$(wait_run "$quick" 30)" "run submitted while w1 drained"
assert_eq w2 "$(task_field "$quick" quick worker)" "worker of the step submitted while w1 drained"
assert_eq 0 "$(task_field "$quick" quick lost)" "lost count of that step"
pid_alive "$(worker_pid w1)" || fail "w1 exited before its running task finished"
touch "$T_DIR/release"
assert_eq succeeded "$(wait_run "$run" 30)" "run whose step was running when w1 got SIGTERM"
assert_eq "1 w1 0 0" "$(task_field "$run" hold "attempt || ' ' || worker || ' ' || lost || ' ' || failures")" \
    "attempt, worker, lost, failures of the drained step"
wait_for "w1 exits after draining" 20 pid_gone "$(worker_pid w1)"
worker_forget w1
assert_eq 0 "$T_RC" "exit status of w1 after draining"

# --- drain time over: the task is handed back, not lost, not failed ---------
T_WORKER_DRAIN="1s"
_write_config
worker_start w3 1 --label one
run=$(submit "$(wf drain_forever)")
wait_for "forever running on w3" 20 sql_is \
    "select state || ' ' || worker from drover.tasks where run_id = $run and name = 'forever'" "running w3"
kill -TERM "$(worker_pid w3)"
wait_for "w3 exits after its drain time" 20 pid_gone "$(worker_pid w3)"
worker_forget w3
assert_eq 0 "$T_RC" "exit status of w3 after handing its task back"
assert_eq ready "$(task_field "$run" forever state)" "state of the handed-back step"
worker_start w4 1 --label one
assert_eq succeeded "$(wait_run "$run" 30)" "run whose step was handed back"
assert_eq "2 w4 0 0" "$(task_field "$run" forever "attempt || ' ' || worker || ' ' || lost || ' ' || failures")" \
    "attempt, worker, lost, failures of the handed-back step"
