#!/usr/bin/env bash
# A busy or paused coordinator never declares its workers dead for its own
# delay (issue 9, observation 3; docs/reliability.md): the coordinator is
# stopped (SIGSTOP) for three times worker_timeout while a step runs; after
# SIGCONT the worker is still alive to it, the step is not lost and the run
# finishes. `drover info` reports the longest loop iteration.
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
kill -STOP "$(coord_pid)"
read -r -t 3 <>"$T_DIR/.stall-tick" || true   # worker_timeout is 1 s: three of them pass
kill -CONT "$(coord_pid)"
assert_eq succeeded "$(wait_run "$run" 30)" "state of the run after the coordinator's pause"
assert_eq 0 "$(sql "select count(*) from drover.events where kind = 'worker_state' and to_state = 'dead'")" \
    "workers declared dead during the coordinator's own pause"
assert_eq "1 0" "$(sql "select attempt || ' ' || lost from drover.tasks where run_id = $run and name = 'a'")" \
    "attempt and lost count of the step that ran across the pause"
us=$(drover info --json | jq -r '.longest_iteration_us')
[[ "$us" =~ ^[0-9]+$ ]] || fail "drover info --json has no longest_iteration_us: $(drover info --json)"
log "ok (longest iteration ${us} us)"
