#!/usr/bin/env bash
# A diamond workflow runs in dependency order; state, events, CLI views and
# SQL views all agree on what happened.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2
worker_start w2 2

run=$(submit "$(wf diamond)")
timeout 60 drover wait "$run" >"$T_DIR/wait.out" 2>&1 || fail "drover wait $run exited $? ($(cat "$T_DIR/wait.out"))"
assert_eq succeeded "$(run_state "$run")" "run state"
assert_eq 4 "$(sql "select count(*) from drover.tasks where run_id = $run and state = 'succeeded'")" \
    "succeeded tasks"

# Dependency order: every task started after each of its parents finished.
assert_eq 4 "$(sql "select count(*) from drover.task_deps d join drover.tasks t on t.id = d.task_id
                    where t.run_id = $run")" "dependency edges"
assert_eq 0 "$(sql "select count(*) from drover.task_deps d
                    join drover.tasks t on t.id = d.task_id
                    join drover.tasks p on p.id = d.depends_on
                    where t.run_id = $run and (t.started_at is null or p.finished_at is null
                                               or t.started_at < p.finished_at)")" \
    "tasks that started before a dependency finished"

# Events: each task's transitions form a chain ending in succeeded, and the
# run has its own transition to succeeded.
assert_eq 4 "$(sql "select count(distinct task_id) from drover.events
                    where run_id = $run and kind = 'task_state' and to_state = 'succeeded'")" \
    "tasks with a succeeded event"
assert_eq 4 "$(sql "select count(distinct task_id) from drover.events
                    where run_id = $run and kind = 'task_state' and to_state = 'running'")" \
    "tasks with a running event"
assert_eq 0 "$(sql "select count(*) from (
                      select from_state, lag(to_state) over (partition by task_id order by id) as prev
                      from drover.events where run_id = $run and kind = 'task_state') x
                    where prev is not null and prev is distinct from from_state")" \
    "events whose from_state is not the previous to_state"
assert_eq 0 "$(sql "select count(*) from drover.tasks t where t.run_id = $run and t.state is distinct from
                      (select e.to_state from drover.events e where e.task_id = t.id
                       and e.kind = 'task_state' order by e.id desc limit 1)")" \
    "tasks whose state differs from their last event"
assert_eq 1 "$(sql "select count(*) from drover.events
                    where run_id = $run and kind = 'run_state' and to_state = 'succeeded'")" \
    "run_state events to succeeded"

# CLI views.
drover status "$run" --json >"$T_DIR/status.json" || fail "drover status --json exited $?"
jq -e . "$T_DIR/status.json" >/dev/null || fail "drover status --json is not JSON: $(head -c 300 "$T_DIR/status.json")"
jq -e '.run.state == "succeeded" and .run.tasks_total == 4
        and ([.tasks[].name] | sort) == ["a", "b", "c", "d"]
        and all(.tasks[]; .state == "succeeded" and .attempt == 1 and .exit_code == 0)
        and (.tasks[] | select(.name == "d") | .after | sort) == ["b", "c"]' \
    "$T_DIR/status.json" >/dev/null ||
    fail "drover status --json does not show the finished diamond: $(head -c 1500 "$T_DIR/status.json")"
drover runs --json >"$T_DIR/runs.json" || fail "drover runs --json exited $?"
jq -e --argjson id "$run" 'any(.[]; .id == $id and .workflow == "diamond" and .state == "succeeded")' \
    "$T_DIR/runs.json" >/dev/null ||
    fail "drover runs --json does not list run $run as succeeded: $(head -c 800 "$T_DIR/runs.json")"
drover runs | grep -q diamond || fail "drover runs (text) lacks the workflow name"
drover status "$run" | grep -q succeeded || fail "drover status (text) lacks 'succeeded'"

out=$(drover logs "$run" a 2>&1) || fail "drover logs $run a exited $?"
grep -q hello-from-a <<<"$out" || fail "drover logs $run a: expected hello-from-a, got: $out"
out=$(drover logs "$run" d 2>&1) || fail "drover logs $run d exited $?"
grep -q d-out <<<"$out" || fail "drover logs $run d: expected d-out, got: $out"
grep -q d-err <<<"$out" || fail "drover logs $run d: expected the stderr line d-err, got: $out"
drover logs "$run" nosuchstep >/dev/null 2>&1 && fail "drover logs of an unknown step succeeded"

# SQL views for people.
assert_eq "diamond|succeeded|4|4|0|0" \
    "$(sql "select workflow, state, tasks_total, tasks_succeeded, tasks_failed, tasks_waiting
            from drover.run_status where run_id = $run")" "run_status row"
assert_eq "a,b,c,d" "$(sql "select string_agg(step, ',' order by step) from drover.task_status
                            where run_id = $run and state = 'succeeded' and attempt = 1")" \
    "task_status rows"
