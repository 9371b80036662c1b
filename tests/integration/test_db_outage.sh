#!/usr/bin/env bash
# Honest answers during a database outage (issue 10, observation 5). With
# PostgreSQL stopped, the coordinator still answers: `drover info` (which
# says the database is unavailable) and the status of a running run come
# from memory; writes and database reads are refused with "database
# unavailable, retrying since HH:MM:SS" and exit code 4 (not 3, "cannot
# reach the coordinator"). When the database is back, everything goes on.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 1
run=$(submit "$(wf drain_hold)")
wait_for "hold running" 20 sql_is \
    "select state from drover.tasks where run_id = $run and name = 'hold'" running
pg_stop
wait_for "the coordinator noticed the outage" 20 grep -q "the database is unreachable" "$T_DIR/coordinator.log"

out=$(drover info 2>&1) || fail "drover info during the outage exited $?: $out"
[[ "$out" == *"database          UNAVAILABLE since"* ]] || fail "drover info does not show the outage: $out"
assert_eq unavailable "$(drover --json info | jq -r .database)" "database in drover --json info"
drover status "$run" >/dev/null 2>&1 || fail "drover status of a running run during the outage exited $?"
drover workers >/dev/null 2>&1 || fail "drover workers during the outage exited $?"
drover submit "$(wf simple)" >"$T_DIR/submit.out" 2>&1 && rc=0 || rc=$?
assert_eq 4 "$rc" "exit status of a submit during the outage ($(cat "$T_DIR/submit.out"))"
grep -qE "database unavailable, retrying since [0-9]{2}:[0-9]{2}:[0-9]{2}" "$T_DIR/submit.out" ||
    fail "the refused submit does not say why: $(cat "$T_DIR/submit.out")"
drover runs >"$T_DIR/runs.out" 2>&1 && rc=0 || rc=$?
assert_eq 4 "$rc" "exit status of drover runs (a database read) during the outage"

pg_resume
wait_for "drover info shows the database back" 30 sh -c \
    "drover --json info 2>/dev/null | jq -e '.database == \"ok\"' >/dev/null"
touch "$T_DIR/release"
assert_eq succeeded "$(wait_run "$run" 30)" "run that was running through the outage"
run2=$(submit "$(wf simple)")
assert_eq succeeded "$(wait_run "$run2" 30)" "run submitted after the outage"
