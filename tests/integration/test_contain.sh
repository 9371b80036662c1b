#!/usr/bin/env bash
# Containment (issue 10, observations 1 and 2): whatever a step starts ends
# with it. Each step leaves a double-forked grandchild in a session of its
# own; killing the worker (then restarting it), cancelling and timing out
# must each end that grandchild too, and a step asking for 100M that
# allocates 600 MB fails with a message that says so.
# CONTAIN_MODE=subreaper (test_contain_subreaper.sh) runs the same with
# worker.cgroup = "off": sessions + environment tags under a subreaper.
source "$(dirname "$0")/lib.sh"

if [[ "${CONTAIN_MODE:-auto}" == subreaper ]]; then
    T_WORKER_EXTRA='  cgroup = "off";'
fi

pg_start
coord_start
worker_start w1 2
grep -o "containment: .*" "$T_DIR/worker-w1.log" | head -1 >&2 || true

# pid_of_attempt FILE ATTEMPT: the grandchild pid an attempt recorded.
pid_of_attempt() { awk -v a="$2" '$2 == a { print $1; exit }' "$1"; }

# --- the worker is SIGKILLed, then restarted ---------------------------------
run=$(submit "$(wf contain)")
wait_for "attempt 1 left its grandchild" 30 grep -q ' 1$' "$T_DIR/gc.pids"
gc1=$(pid_of_attempt "$T_DIR/gc.pids" 1)
t_track_pid "$gc1"
pid_alive "$gc1" || fail "grandchild $gc1 of attempt 1 is not running"
wait_for "orphan running in the database" 20 sql_is \
    "select state from drover.tasks where run_id = $run and name = 'orphan'" running
log "SIGKILL worker w1 (pid $(worker_pid w1)); grandchild $gc1"
kill -KILL "$(worker_pid w1)"
worker_forget w1
worker_start w1 2
wait_for "the restarted worker ended grandchild $gc1 of its killed predecessor" 20 pid_gone "$gc1"
assert_eq succeeded "$(wait_run "$run" 60)" "run state after the worker restart"
gc2=$(pid_of_attempt "$T_DIR/gc.pids" 2)
[[ -n "$gc2" ]] || fail "attempt 2 recorded no grandchild"
t_track_pid "$gc2"
wait_for "grandchild $gc2 of the succeeded attempt ended with it" 10 pid_gone "$gc2"

# --- cancel ------------------------------------------------------------------
run=$(submit "$(wf contain_cancel)")
wait_for "the cancelled step left its grandchild" 30 test -s "$T_DIR/cancel_gc.pids"
gc=$(head -1 "$T_DIR/cancel_gc.pids")
t_track_pid "$gc"
wait_for "hold running" 20 sql_is \
    "select state from drover.tasks where run_id = $run and name = 'hold'" running
drover cancel "$run" >/dev/null || fail "drover cancel $run exited $?"
wait_for "grandchild $gc of the cancelled step to end" 20 pid_gone "$gc"
assert_eq cancelled "$(wait_run "$run" 30)" "state of the cancelled run"

# --- timeout -----------------------------------------------------------------
run=$(submit "$(wf contain_timeout)")
wait_for "the slow step left its grandchild" 30 test -s "$T_DIR/timeout_gc.pids"
gc=$(head -1 "$T_DIR/timeout_gc.pids")
t_track_pid "$gc"
assert_eq failed "$(wait_run "$run" 30)" "state of the timed-out run"
wait_for "grandchild $gc of the timed-out step to end" 20 pid_gone "$gc"

# --- memory ------------------------------------------------------------------
if grep -q "memory limits enforced (memory.max)" "$T_DIR/worker-w1.log"; then
    want="killed: out of memory (limit 100M)"
else
    want="memory limited to 100M by RLIMIT_AS"
fi
run=$(submit "$(wf contain_memory)")
assert_eq failed "$(wait_run "$run" 60)" "state of the run whose step allocated 600 MB under 100M"
err=$(task_field "$run" hog error)
[[ "$err" == *"$want"* ]] || fail "error of the memory hog: expected '$want' in '$err'"
log "memory hog: $err"
