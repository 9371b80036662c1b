#!/usr/bin/env bash
# A start lost to a PostgreSQL crash (docs/reliability.md; store.c
# s_started_only: an iteration whose only writes are assigned -> running
# commits without waiting for the WAL flush). The loss is made exactly:
# the coordinator is killed while a step runs and its row is put back to
# what a lost start leaves (assigned, no started_at). The coordinator
# started again loads the step with its lease held, the worker
# re-announces the attempt, and its Result is accepted from assigned:
# the step ran once, under attempt 1, neither lost nor requeued.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 1

cat >"$T_DIR/hold.cfg" <<CFG
workflow = "lost_start";
steps = (
  { name = "a"; kind = "exec"; argv = ["/bin/sh", "-c", "echo \"\$DROVER_ATTEMPT\" >> $T_DIR/a.out; while [ ! -e $T_DIR/go ]; do sleep 0.05; done"]; }
);
CFG
run=$(submit "$T_DIR/hold.cfg")
wait_for "step a running" 30 sql_is "select state from drover.tasks where run_id = $run" running
coord_kill9
sql "update drover.tasks set state = 'assigned', started_at = null where run_id = $run"
last=$(sql "select max(id) from drover.events")
coord_start
# The worker comes back with the attempt and keeps it (not lost, not requeued).
wait_for "worker w1 re-announced" 30 sql_is \
    "select count(*) > 0 from drover.events where kind = 'worker_registered' and worker = 'w1' and id > $last" t
assert_eq "assigned|1|0" "$(sql "select state, attempt, lost from drover.tasks where run_id = $run")" \
    "the step after the restart (state | attempt | lost)"
touch "$T_DIR/go"
assert_eq succeeded "$(wait_run "$run" 60)" "the run whose start was lost"
assert_eq "succeeded|1|0|t" "$(sql "select state, attempt, lost, started_at is not null from drover.tasks where run_id = $run")" \
    "the step (state | attempt | lost | started_at from the Result)"
assert_eq 1 "$(sql "select count(*) from drover.events where run_id = $run and kind = 'task_state'
                    and from_state = 'assigned' and to_state = 'succeeded'")" "its result, accepted from assigned"
assert_eq 1 "$(wc -l <"$T_DIR/a.out")" "times the step ran"
log "ok"
