#!/usr/bin/env bash
# A train step killed (SIGKILL) after its second epoch is retried and the
# second attempt resumes from the epoch checkpoint instead of starting
# over (checkpoint_every = "epoch"; the default is every 30 s): its first epoch metric is past 2, its stdout says "resuming from
# epoch N", and the run succeeds with a registered model.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 1 --artifact-dir "$T_DIR/artifacts"

mkdir -p "$T_DIR/data"
# Enough work per epoch (MLP, small batches) that the kill lands while many
# epochs remain; the assertions below do not depend on where it lands.
gen_data "$T_DIR/data/train.csv" 12000 5 16
cat >"$T_DIR/resume.cfg" <<CFG
workflow = "ml-resume";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage";
    model = "resumable"; trainer = "mlp"; hidden = [64]; epochs = 150; batch_size = 16;
    learning_rate = 0.001; seed = 3; gpu = "never"; retries = 1; retry_delay = "100ms";
    checkpoint_every = "epoch"; }
);
CFG
run=$(submit "$T_DIR/resume.cfg")
wait_for "train's second epoch metric" 60 sql_is \
    "select count(*) >= 2 from drover.task_metrics m join drover.tasks t on t.id = m.task_id
     where t.run_id = $run and t.name = 'train' and m.attempt = 1" t
# drover-task is the worker's direct child (exec'd in its own group).
pid=$(pgrep -P "$(worker_pid w1)" -x drover-task || true)
[[ "$pid" =~ ^[0-9]+$ ]] || fail "no drover-task child of the worker (got '$pid')"
[[ "$(task_field "$run" train state)" == running ]] ||
    fail "train finished before it could be killed; make its epochs slower"
log "killing drover-task pid $pid after epoch $(metric_count "$run" train 1)"
kill -KILL "$pid"

assert_eq succeeded "$(wait_run "$run" 100)" "state of the run after the retried train"
assert_eq 2 "$(task_field "$run" train attempt)" "attempt that finished train"
first=$(metric_epoch min "$run" train 2)
assert_ge "$first" 3 "first epoch run by attempt 2 (resumed after a checkpoint of epoch >= 2)"
last=$(metric_epoch max "$run" train 2)
assert_eq 150 "$last" "last epoch of attempt 2"
out=$(task_stream "$run" train 2 1)
[[ "$out" =~ resuming\ from\ epoch\ ([0-9]+) ]] || fail "attempt 2 did not say it resumed: $out"
assert_eq "$first" "${BASH_REMATCH[1]}" "epoch named in 'resuming from epoch N'"
assert_eq 1 "$(sql "select count(*) from drover.model_versions where name = 'resumable' and run_id = $run")" \
    "model versions registered by the resumed run"
[[ ! -e "$T_DIR/artifacts/checkpoints/run-$run-train.ckpt" ]] ||
    fail "the checkpoint outlived the successful step"
