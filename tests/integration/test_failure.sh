#!/usr/bin/env bash
# A failing step fails the run; its descendants are skipped; independent
# branches still succeed; submit --wait exits 1.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

rc=0
timeout 60 drover submit --wait "$(wf failure)" >"$T_DIR/submit.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of drover submit --wait for a failing run ($(tail -5 "$T_DIR/submit.out"))"
run=$(sql "select max(id) from drover.runs")
[[ -n "$run" ]] || fail "no run recorded"
assert_eq failed "$(run_state "$run")" "run state"
assert_eq "failed|3" "$(task_field "$run" bad "state || '|' || coalesce(exit_code::text, 'null')")" \
    "state and exit code of step bad"
assert_eq skipped "$(task_field "$run" child state)" "state of child"
assert_eq skipped "$(task_field "$run" grandchild state)" "state of grandchild"
assert_eq succeeded "$(task_field "$run" a state)" "state of a"
assert_eq succeeded "$(task_field "$run" side state)" "state of side"
assert_eq succeeded "$(task_field "$run" alone state)" "state of alone"
assert_eq 0 "$(sql "select count(*) from drover.tasks where run_id = $run and name in ('child', 'grandchild')
                    and (attempt <> 0 or started_at is not null)")" "skipped steps that were started"
assert_eq 1 "$(sql "select count(*) from drover.events where run_id = $run and kind = 'run_state'
                    and to_state = 'failed'")" "run_state events to failed"
rc=0
drover wait "$run" >/dev/null 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of drover wait on a failed run"
