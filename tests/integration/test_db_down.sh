#!/usr/bin/env bash
# The coordinator starts before PostgreSQL, retries with backoff, and
# serves once the database appears.
source "$(dirname "$0")/lib.sh"

pg_init
coord_start --no-wait
retries() { [[ $(grep -c "cannot connect to the database" "$T_DIR/coordinator.log") -ge 2 ]]; }
wait_for "two 'cannot connect to the database' lines" 30 retries
pid_alive "$(coord_pid)" || fail "the coordinator exited while the database was down"
pg_start
coord_wait
worker_start w1 2
run=$(submit "$(wf simple)")
assert_eq succeeded "$(wait_run "$run")" "run state once the database is up"
