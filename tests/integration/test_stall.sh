#!/usr/bin/env bash
# A busy or paused coordinator never declares its workers dead for its own
# delay (issue 9, observation 3; docs/security.md): while a step runs,
#   1. a submit waits 3 s on a table lock someone holds (three times
#      worker_timeout inside one loop iteration), and
#   2. the coordinator is stopped (SIGSTOP) for 3 s;
# each time the worker stays alive to it, no step is lost and the runs
# finish. `drover info` reports the longest loop iteration.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

cat >"$T_DIR/slow.cfg" <<'EOF'
workflow = "slow";
steps = (
  { name = "a"; kind = "exec"; argv = ["/bin/sh", "-c", "sleep 4; echo a-done"]; },
  { name = "b"; kind = "exec"; after = ["a"]; argv = ["/bin/sh", "-c", "echo b-done"]; }
);
EOF
run=$(submit "$T_DIR/slow.cfg")
wait_for "step a runs" 20 sql_is "select state from drover.tasks where run_id = $run and name = 'a'" running
# 1. One iteration blocked 3 s in PostgreSQL (a lock a person holds).
sql "begin; lock table drover.runs in access exclusive mode; select pg_sleep(3); commit" >/dev/null &
locker=$!
wait_for "the lock is held" 10 sql_is "select count(*) from pg_locks where relation = 'drover.runs'::regclass and mode = 'AccessExclusiveLock' and granted" 1
run2=$(submit "$T_DIR/slow.cfg")
wait "$locker" || fail "the locking session exited $?"
assert_eq 0 "$(sql "select count(*) from drover.events where kind = 'worker_state' and to_state = 'dead'")" \
    "workers declared dead while the coordinator waited on the database"

# 2. The whole coordinator stopped.
kill -STOP "$(coord_pid)"
read -r -t 3 <>"$T_DIR/.stall-tick" || true   # worker_timeout is 1 s: three of them pass
kill -CONT "$(coord_pid)"
assert_eq succeeded "$(wait_run "$run" 30)" "state of the run after the coordinator's pause"
assert_eq 0 "$(sql "select count(*) from drover.events where kind = 'worker_state' and to_state = 'dead'")" \
    "workers declared dead during the coordinator's own pause"
assert_eq succeeded "$(wait_run "$run2" 30)" "state of the run submitted across the lock"
assert_eq 0 "$(sql "select count(*) from drover.tasks where attempt <> 1 or lost <> 0")" \
    "steps retried or lost across the stalls"
us=$(drover info --json | jq -r '.longest_iteration_us')
[[ "$us" =~ ^[0-9]+$ ]] || fail "drover info --json has no longest_iteration_us: $(drover info --json)"
log "ok (longest iteration ${us} us)"
