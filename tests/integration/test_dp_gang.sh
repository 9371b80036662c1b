#!/usr/bin/env bash
# The built-in trainer data-parallel on a real local cluster:
# examples/claims/dp.cfg's shape — a `train` step with nodes = 2 on two
# workers that share an artifact store, then evaluate @train. Both members
# succeed, exactly one model version is registered (by train[0]) with both
# ranks' dataset hashes in its lineage, rank 0 streamed the metrics and
# rank 1 none, and evaluate scores the model. Then the worker of rank 1 is
# killed mid-training: the gang is retried as a unit on the remaining
# workers and rank 0 resumes every rank from its checkpoint.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"
source "$(dirname "$0")/dp_lib.sh"

dp_cluster 3 --artifact-dir "$T_DIR/artifacts"
mkdir -p "$T_DIR/data"
drover-gen-claims --out "$T_DIR/data" --train 4000 --test 1000 > /dev/null
cat > "$T_DIR/dp.cfg" <<'CFG'
workflow = "claims-dp";
steps = (
  { name = "train"; kind = "train"; nodes = 2; dataset = "data/train.csv"; label = "damage";
    model = "claims-dp"; trainer = "mlp"; hidden = [32]; optimizer = "adam"; epochs = 4;
    batch_size = 128; seed = 42; gpu = "never"; },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "data/test.csv";
    label = "damage"; model = "@train"; gates = { min = { accuracy = 0.5; }; }; }
);
CFG
run=$(submit "$T_DIR/dp.cfg")
assert_eq succeeded "$(wait_run "$run" 90)" "data-parallel claims run"
assert_eq 1 "$(sql "select count(*) from drover.model_versions where name = 'claims-dp'")" \
    "model versions registered by the gang"
assert_eq 'train[0]' "$(sql "select step from drover.model_versions where name = 'claims-dp'")" \
    "the registering member"
sha=$(sha256sum "$T_DIR/data/train.csv" | cut -d' ' -f1)
assert_eq "$sha" "$(sql "select dataset_sha256 from drover.model_versions where name = 'claims-dp'")" \
    "the model's dataset hash"
m0=$(metric_count "$run" 'train[0]' 1)
m1=$(metric_count "$run" 'train[1]' 1)
[[ "$m0" -ge 4 ]] || fail "rank 0 streamed $m0 metric lines, expected one per epoch"
assert_eq 0 "$m1" "metric lines from rank 1"
log "ok: one model from a 2-member data-parallel train, evaluated"

# --- a member's worker dies: the gang reruns and resumes -----------------
cat > "$T_DIR/resume.cfg" <<'CFG'
workflow = "claims-dp-resume";
steps = (
  { name = "train"; kind = "train"; nodes = 2; dataset = "data/train.csv"; label = "damage";
    model = "claims-dp-resume"; trainer = "mlp"; hidden = [64]; optimizer = "adam";
    epochs = 150; batch_size = 16; seed = 42; gpu = "never"; checkpoint_every = "epoch";
    retries = 1; retry_delay = "100ms"; }
);
CFG
run=$(submit "$T_DIR/resume.cfg")
wait_for "rank 0's second epoch metric" 60 sql_is \
    "select count(*) >= 2 from drover.task_metrics m join drover.tasks t on t.id = m.task_id
     where t.run_id = $run and t.name = 'train[0]'" t
victim=$(task_field "$run" 'train[1]' worker)
[[ "$(task_field "$run" 'train[0]' state)" == running ]] ||
    fail "train finished before it could be killed; make its epochs slower"
# A host that dies takes its task with it: killing the worker alone left
# rank 1's process training on, so a fit fast enough finished all its
# epochs before the worker was declared dead, rank 0 removed its
# checkpoint on success, and the rerun started at epoch 1 (seen in CI).
rank1=$(sed -n "s/.*(run $run step train\[1\]) started, pid \([0-9]*\).*/\1/p" "$T_DIR/worker-$victim.log" | tail -n 1)
[[ -n "$rank1" ]] || fail "no pid for rank 1 in worker-$victim.log"
log "killing worker $victim and its rank 1 (pid $rank1)"
kill -KILL "$(worker_pid "$victim")"
kill -KILL -- "-$rank1" 2>/dev/null || kill -KILL "$rank1" 2>/dev/null || true
worker_forget "$victim"
assert_eq succeeded "$(wait_run "$run" 100)" "data-parallel run after a member's worker died"
assert_eq 2 "$(task_field "$run" 'train[0]' attempt)" "gang attempt that finished"
first=$(metric_epoch min "$run" 'train[0]' 2)
assert_ge "$first" 3 "first epoch of attempt 2 (resumed from a checkpoint of epoch >= 2)"
assert_eq 1 "$(sql "select count(*) from drover.model_versions where name = 'claims-dp-resume'")" \
    "model versions registered by the resumed gang"
log "ok: the gang reran without the dead worker and resumed at epoch $first"

echo "PASS: test_dp_gang"
