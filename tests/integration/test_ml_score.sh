#!/usr/bin/env bash
# Issue 11, batch scoring: a `score` step writes the predictions of a model
# version for a data file into ARTIFACTS/runs/RUN/STEP/ and reports the file,
# the version and the scored dataset; `drover predict NAME:production FILE`
# gives the same predictions through the coordinator, and `drover predict
# MODEL_FILE FILE` works with no cluster at all. Columns are matched by
# name (a reversed, unlabelled file), a missing column fails naming it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

D="$T_DIR/data"
mkdir -p "$D"
gen_data "$D/train.csv" 600 1
gen_data "$D/test.csv" 90 2
# unlabelled, columns reversed
awk -F, -v OFS=, '{ print $4, $3, $2, $1 }' "$D/test.csv" >"$D/claims.csv"
cut -d, -f1-3 "$D/test.csv" >"$D/short.csv"
cat >"$T_DIR/s.cfg" <<CFG
workflow = "score";
steps = (
  { name = "train"; kind = "train"; dataset = "$D/train.csv"; label = "damage"; model = "claims";
    trainer = "softmax"; epochs = 20; learning_rate = 0.05; seed = 7; gpu = "never"; },
  { name = "promote"; kind = "promote"; after = ["train"]; model = "@train"; stage = "production"; },
  { name = "score"; kind = "score"; after = ["promote"]; dataset = "$D/claims.csv"; model = "claims:production"; },
  { name = "score_at"; kind = "score"; after = ["train"]; dataset = "$D/test.csv"; model = "@train";
    format = "binary"; },
  { name = "score_bad"; kind = "score"; after = ["train"]; dataset = "$D/short.csv"; model = "@train"; }
);
CFG
run=$(submit "$T_DIR/s.cfg")
wait_run "$run" 60 >/dev/null
for s in train promote score score_at; do
    assert_eq succeeded "$(task_field "$run" "$s" state)" "state of $s"
done
assert_eq failed "$(task_field "$run" score_bad state)" "state of the score step missing a column"
err=$(task_stream "$run" score_bad 1 2)
[[ "$err" == *"no column 'f3', which the model needs"* ]] || fail "score_bad: '$err'"

out="$T_DIR/artifacts/runs/$run/score/predictions.csv"
[[ -f "$out" ]] || fail "no predictions file $out"
assert_eq "row,version,class,p_minor,p_moderate,p_severe" "$(head -1 "$out")" "header of the predictions"
assert_eq 91 "$(wc -l <"$out")" "lines of the predictions (header + 90)"
assert_eq "1,claims:1" "$(sed -n 2p "$out" | cut -d, -f1,2)" "row id and version of the first prediction"
# the predicted classes are the true ones (separable data), columns by name
paste -d, <(tail -n +2 "$D/test.csv" | cut -d, -f5) <(tail -n +2 "$out" | cut -d, -f3) |
    awk -F, '$1 != $2 { bad++ } END { exit bad > 2 }' || fail "predicted classes differ from the truth"
# outputs: the file, its hash, the version and the scored dataset (lineage)
outputs=$(sql "select report from drover.step_reports where run_id = $run and step = 'score'")
assert_eq "$out|90|claims|1" "$(jq -r '[.predictions.path, .predictions.rows, .model.name, .model.version] | join("|")' <<<"$outputs")" \
    "score outputs"
assert_eq "$(sha256sum "$out" | cut -d' ' -f1)" "$(jq -r .predictions.sha256 <<<"$outputs")" "sha256 of the predictions"
assert_eq "scored" "$(sql "select d.role from drover.task_datasets d join drover.tasks t on t.id = d.task_id
                          where t.run_id = $run and t.name = 'score'")" "lineage role of the scored data"
drover report "$run" score | grep -q "predictions $out" || fail "drover report of the score step"
bin="$T_DIR/artifacts/runs/$run/score_at/predictions.bin"
assert_eq 90 "$(drover dataset inspect "$bin" --json | jq .rows)" "rows of the binary predictions"

# drover predict through the coordinator, and from the file with no cluster
drover predict claims:production "$D/claims.csv" --artifact-dir "$T_DIR/artifacts" >"$T_DIR/p1.csv" 2>"$T_DIR/p1.err" ||
    fail "drover predict claims:production failed: $(cat "$T_DIR/p1.err")"
cmp -s "$out" "$T_DIR/p1.csv" || fail "drover predict differs from the score step"
art=$(sql "select artifact from drover.model_versions where name = 'claims' and version = 1")
mfile="$T_DIR/artifacts/sha256/${art:0:2}/${art:2}"
DROVER_COORDINATOR=tcp://127.0.0.1:1 drover predict "$mfile" "$D/claims.csv" -o "$T_DIR/p2.csv" 2>/dev/null ||
    fail "drover predict MODEL_FILE failed"
cmp -s <(cut -d, -f1,3- "$out") <(cut -d, -f1,3- "$T_DIR/p2.csv") || fail "model-file predictions differ"
log "ok"
