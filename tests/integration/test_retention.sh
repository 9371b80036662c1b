#!/usr/bin/env bash
# Retention (coordinator/gc.c): a million old events, old log chunks and
# metric rows, and old finished runs are pruned in small batches while a
# run proceeds; what must stay stays: the audit trail (no audit period set),
# young rows, running work, and a run that a model version names (lineage).
# Prints the longest single batch (the longest any row lock was held).
source "$(dirname "$0")/lib.sh"
T_LIMIT=110

pg_start
coord_start          # creates the schema; no retention yet
stop_pid coordinator "$(coord_pid)" || fail "coordinator did not stop"
unset 'T_PROCS[coordinator]'

log "inserting 1,000,000 old events and old runs, logs and metrics"
sql "
insert into drover.events (at, kind, detail)
  select now() - interval '10 days', 'task_state', 'old' from generate_series(1, 1000000);
insert into drover.events (at, kind, actor, detail)
  select now() - interval '10 days', 'command', 'alice', 'old audit' from generate_series(1, 300);
insert into drover.runs (id, workflow, state, submitted_at, finished_at, tasks_total) values
  (900001, 'old-plain', 'succeeded', now() - interval '40 days', now() - interval '40 days', 1),
  (900002, 'old-lineage', 'succeeded', now() - interval '40 days', now() - interval '40 days', 1),
  (900003, 'recent', 'failed', now() - interval '1 day', now() - interval '1 day', 1);
insert into drover.tasks (id, run_id, idx, name, kind, spec, state) values
  (900001, 900001, 0, 't', 'exec', '{}', 'succeeded'),
  (900002, 900002, 0, 't', 'exec', '{}', 'succeeded'),
  (900003, 900003, 0, 't', 'exec', '{}', 'failed');
insert into drover.task_logs (task_id, attempt, stream, offset_bytes, data, at)
  select 900003, 1, 1, g * 10, 'old chunk', now() - interval '3 days' from generate_series(0, 1999) g;
insert into drover.task_logs (task_id, attempt, stream, offset_bytes, data, at)
  select 900003, 1, 2, g * 10, 'young chunk', now() from generate_series(0, 9) g;
insert into drover.task_metrics (task_id, attempt, seq, at, data)
  select 900003, 1, g, now() - interval '3 days', '{}' from generate_series(0, 9999) g;
insert into drover.model_versions (name, version, model_kind, artifact, run_id, step)
  values ('kept', 1, 'softmax', repeat('a', 64), 900002, 't');
" >/dev/null || fail "cannot insert the old rows"
young_events=$(sql "select count(*) from drover.events where at > now() - interval '1 day'")

T_COORD_EXTRA='retention = { events = "2d"; logs = "2d"; metrics = "2d"; finished_runs = "30d"; };'
coord_start
worker_start w1 2
run=$(submit "$(wf diamond)")
pruned() { sql_is "select count(*) from drover.events where detail = 'old'" 0; }
wait_for "the million old events are pruned" 100 pruned
assert_eq succeeded "$(wait_run "$run" 60)" "the run that proceeded during the pruning"

assert_eq 300 "$(sql "select count(*) from drover.events where kind = 'command' and detail = 'old audit'")" \
    "old audit rows (no audit period: kept)"
[[ $(sql "select count(*) from drover.events where at > now() - interval '1 day'") -ge $young_events ]] ||
    fail "young events were pruned"
wait_for "old log chunks and metrics pruned" 30 sql_is \
    "select (select count(*) from drover.task_logs where task_id = 900003 and stream = 1) +
            (select count(*) from drover.task_metrics where task_id = 900003)" 0
assert_eq 10 "$(sql "select count(*) from drover.task_logs where task_id = 900003 and stream = 2")" \
    "young log chunks"
wait_for "the old unreferenced run is pruned" 30 sql_is "select count(*) from drover.runs where id = 900001" 0
assert_eq 0 "$(sql "select count(*) from drover.tasks where id = 900001")" "its task went with it"
assert_eq 1 "$(sql "select count(*) from drover.runs where id = 900002")" "the run a model version names"
assert_eq 900002 "$(sql "select run_id from drover.model_versions where name = 'kept'")" "lineage intact"
assert_eq 1 "$(sql "select count(*) from drover.runs where id = 900003")" "a run finished 1 day ago"
grep -q 'retention: pruned' "$T_DIR/coordinator.log" || fail "no retention summary in the log"
longest=$(grep -o 'longest batch [0-9.]* ms' "$T_DIR/coordinator.log" | awk '{print $3}' | sort -n | tail -1)
log "pruned 1,000,000 events while run $run ran; longest batch (row locks held) ${longest} ms"
