#!/usr/bin/env bash
# drover cancel stops a running step with its whole process group and
# cancels the steps waiting behind it.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

run=$(submit "$(wf cancel)")
lines() { [[ -f "$T_DIR/cancel.pids" && $(wc -l <"$T_DIR/cancel.pids") -ge 4 ]]; }
wait_for "the step's 4 processes recorded their pids" 30 lines
mapfile -t pids <"$T_DIR/cancel.pids"
t_track_pid "${pids[@]}"
for p in "${pids[@]}"; do pid_alive "$p" || fail "process $p of the step is not running before cancel"; done

drover cancel "$run" >"$T_DIR/cancel.out" 2>&1 || fail "drover cancel exited $?: $(cat "$T_DIR/cancel.out")"
assert_eq cancelled "$(wait_run "$run" 30)" "run state after cancel"
assert_eq cancelled "$(task_field "$run" later state)" "state of the waiting step"
assert_eq cancelled "$(task_field "$run" long state)" "state of the running step"
for p in "${pids[@]}"; do
    wait_for "process $p of the cancelled step to be gone" 15 pid_gone "$p"
done
rc=0
drover wait "$run" >/dev/null 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "drover wait on a cancelled run exited 0"
rc=0
drover cancel "$run" >/dev/null 2>&1 || rc=$?
[[ $rc -ne 0 ]] || log "note: cancelling a cancelled run exits 0"
