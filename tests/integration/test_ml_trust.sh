#!/usr/bin/env bash
# Issue 11: evaluation you can trust.
#   1. columns are matched by name: a test file with its columns reversed
#      scores exactly the same; a renamed column fails the step naming it;
#      an extra column fails it unless extra_columns = "ignore";
#   2. a missing value fails evaluate naming its row and column, unless the
#      model was trained with missing = "mean" (the means are in the model);
#      train names it the way the loader does; sgd without a learning rate
#      uses the documented 0.1;
#   3. a retrain that adds a class gets a verdict (the comparison runs on the
#      shared classes and reports the new one), never a failed run, and its
#      metrics are kept; evaluating it leaves production's figures alone;
#   5. with by = 0 a tie is not "better" (an identical retrain is rejected,
#      McNemar p = 1 reported); the lineage path is the file this version was
#      trained from; `drover model show NAME:production` works.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

D="$T_DIR/data"
mkdir -p "$D"
gen_data "$D/train.csv" 600 1
gen_data "$D/test.csv" 300 2
gen_data "$D/test_nan.csv" 300 3 4 0.2
gen_data "$D/train_nan.csv" 600 4 4 0.2
# the same columns in reverse order (label first)
awk -F, -v OFS=, '{ s = $NF; for (i = NF - 1; i >= 1; i--) s = s OFS $i; print s }' \
    "$D/test.csv" >"$D/test_rev.csv"
sed '1s/f2/g2/' "$D/test.csv" >"$D/test_ren.csv"
awk -F, -v OFS=, 'NR == 1 { print "colour," $0; next } { print "7," $0 }' "$D/test.csv" >"$D/test_extra.csv"
cp "$D/train.csv" "$D/train_copy.csv"
# four classes: the three of gen_data plus "total" (signal on f3)
gen_data4() {
    awk -v rows="$2" -v seed="$3" 'BEGIN {
        srand(seed); split("minor,moderate,severe,total", names, ",")
        print "f0,f1,f2,f3,damage"
        for (i = 0; i < rows; i++) {
            c = i % 4; line = ""
            for (j = 0; j < 4; j++) line = line sprintf("%.4f", (j == c ? 4 : 0) + (rand() - 0.5)) ","
            print line names[c + 1]
        }
    }' >"$1"
}
gen_data4 "$D/train4.csv" 800 5
gen_data4 "$D/test4.csv" 400 6

TRAIN='trainer = "softmax"; epochs = 20; learning_rate = 0.05; batch_size = 32; seed = 7; gpu = "never";'
cat >"$T_DIR/a.cfg" <<CFG
workflow = "trust-a";
steps = (
  { name = "train"; kind = "train"; dataset = "$D/train.csv"; label = "damage"; model = "claims"; $TRAIN },
  { name = "ev_orig"; kind = "evaluate"; after = ["train"]; dataset = "$D/test.csv"; model = "@train"; },
  { name = "ev_rev"; kind = "evaluate"; after = ["train"]; dataset = "$D/test_rev.csv"; model = "@train"; },
  { name = "ev_ren"; kind = "evaluate"; after = ["train"]; dataset = "$D/test_ren.csv"; model = "@train"; },
  { name = "ev_nan"; kind = "evaluate"; after = ["train"]; dataset = "$D/test_nan.csv"; model = "@train"; },
  { name = "ev_extra"; kind = "evaluate"; after = ["train"]; dataset = "$D/test_extra.csv"; model = "@train"; },
  { name = "ev_extra_ok"; kind = "evaluate"; after = ["train"]; dataset = "$D/test_extra.csv";
    model = "@train"; extra_columns = "ignore"; },
  { name = "promote"; kind = "promote"; after = ["ev_orig", "ev_rev"]; model = "@train"; stage = "production"; }
);
CFG
run=$(submit "$T_DIR/a.cfg")
wait_run "$run" 90 >/dev/null
for s in train ev_orig ev_rev ev_extra_ok promote; do
    assert_eq succeeded "$(task_field "$run" "$s" state)" "state of $s"
done
for s in ev_ren ev_nan ev_extra; do
    assert_eq failed "$(task_field "$run" "$s" state)" "state of $s"
done
acc() { sql "select report->'metrics'->>'accuracy' from drover.step_reports where run_id = $1 and step = '$2'"; }
a1=$(acc "$run" ev_orig)
a2=$(acc "$run" ev_rev)
assert_ge "$a1" 0.95 "accuracy on the original test file"
assert_eq "$a1" "$a2" "accuracy with the columns reversed (matched by name)"
assert_eq "$a1" "$(acc "$run" ev_extra_ok)" "accuracy with an ignored extra column"
err=$(task_stream "$run" ev_ren 1 2)
[[ "$err" == *"no column 'f2', which the model needs"* ]] || fail "renamed column: '$err'"
err=$(task_stream "$run" ev_extra 1 2)
[[ "$err" == *"has column 'colour', which the model does not read"* ]] || fail "extra column: '$err'"
err=$(task_stream "$run" ev_nan 1 2)
[[ "$err" =~ row\ [0-9]+,\ column\ \'f3\'\ is\ missing ]] || fail "missing value: '$err'"
# the class names are beside the confusion matrix
assert_eq '["minor", "moderate", "severe"]' "$(sql "select report->'metrics'->'classes' from drover.step_reports
                                                 where run_id = $run and step = 'ev_orig'")" "classes of the matrix"
drover report "$run" ev_orig >"$T_DIR/report.txt" || fail "drover report failed"
grep -q 'TRUE \\ PREDICTED.*minor.*moderate.*severe' "$T_DIR/report.txt" ||
    fail "the confusion matrix does not show class names: $(cat "$T_DIR/report.txt")"
prod_eval=$(sql "select eval_metrics::text from drover.model_versions where name = 'claims' and version = 1")
[[ -n "$prod_eval" ]] || fail "production has no evaluation figures"

# 2. missing = "mean": trained with imputation, the NaN file evaluates.
cat >"$T_DIR/b.cfg" <<CFG
workflow = "trust-b";
steps = (
  { name = "train"; kind = "train"; dataset = "$D/train_nan.csv"; label = "damage"; model = "imputed";
    missing = "mean"; $TRAIN },
  { name = "ev"; kind = "evaluate"; after = ["train"]; dataset = "$D/test_nan.csv"; model = "@train";
    gates = { min = { accuracy = 0.8; }; }; },
  { name = "refuse"; kind = "train"; dataset = "$D/train_nan.csv"; label = "damage"; model = "nan";
    epochs = 2; gpu = "never"; },
  { name = "sgd"; kind = "train"; dataset = "$D/train.csv"; label = "damage"; model = "sgd";
    optimizer = "sgd"; epochs = 2; gpu = "never"; }
);
CFG
run=$(submit "$T_DIR/b.cfg")
wait_run "$run" 60 >/dev/null
for s in train ev sgd; do
    assert_eq succeeded "$(task_field "$run" "$s" state)" "state of $s (missing = mean run)"
done
task_stream "$run" train 1 1 | grep -q 'filled with training-split means' || fail "train did not impute"
# without the policy, train names the missing value as the loader counts (header = row 1)
assert_eq failed "$(task_field "$run" refuse state)" "state of a train step on data with NaN"
err=$(task_stream "$run" refuse 1 2)
first=$(awk -F, 'NR > 1 && $4 == "" { print NR; exit }' "$D/train_nan.csv")
[[ "$err" == *"train_nan.csv: row $first, column 'f3' is missing"* ]] || fail "train's NaN error: '$err' (first at row $first)"
# sgd without a learning rate uses the documented 0.1
assert_eq t "$(sql "select (params->>'learning_rate')::float8 = 0.1 from drover.model_versions where name = 'sgd'")" \
    "learning rate of sgd without one"

# 3. a new class in the retraining data.
cat >"$T_DIR/c.cfg" <<CFG
workflow = "trust-c";
steps = (
  { name = "train"; kind = "train"; dataset = "$D/train4.csv"; label = "damage"; model = "claims"; $TRAIN },
  { name = "ev"; kind = "evaluate"; after = ["train"]; dataset = "$D/test4.csv"; model = "@train";
    gates = { better_than_production = { metric = "accuracy"; by = 0.0; alpha = 0.05; }; }; }
);
CFG
run=$(submit "$T_DIR/c.cfg")
st=$(wait_run "$run" 60)
[[ "$st" == succeeded || "$st" == rejected ]] || fail "new-class retrain ended '$st', expected a verdict"
[[ "$(task_field "$run" ev state)" == succeeded || "$st" == rejected ]] || fail "evaluate crashed"
assert_eq '["total"]|300|400' "$(sql "select (report->'comparison'->'new_classes')::text || '|' ||
    (report->'comparison'->>'rows') || '|' || (report->'comparison'->>'of')
    from drover.step_reports where run_id = $run and step = 'ev'")" "new classes|compared rows|of"
sql "select report->>'notes' from drover.step_reports where run_id = $run and step = 'ev'" |
    grep -q "new class 'total' not known to production claims:1" || fail "no new-class note"
drover report "$run" ev >"$T_DIR/report3.txt" || true
grep -q "on the 300 of 400 rows whose class production knows" "$T_DIR/report3.txt" ||
    fail "report of the new-class run: $(cat "$T_DIR/report3.txt")"
grep -q "McNemar's exact test: candidate alone right on" "$T_DIR/report3.txt" || fail "no McNemar line"
[[ -n "$(sql "select report->'comparison'->'mcnemar'->>'p_value' from drover.step_reports
              where run_id = $run and step = 'ev'")" ]] || fail "no McNemar p-value in the report"
assert_ge "$(sql "select eval_metrics->>'accuracy' from drover.model_versions where name = 'claims' and version = 2")" \
    0.9 "the candidate's own metrics, kept"
assert_eq "$prod_eval" "$(sql "select eval_metrics::text from drover.model_versions where name = 'claims' and version = 1")" \
    "production's figures after evaluating another version"

# 5. an identical retrain (same data, params and seed: the same model) from
# a copy of the training file: a tie, so rejected with by = 0.
cat >"$T_DIR/d.cfg" <<CFG
workflow = "trust-d";
steps = (
  { name = "train"; kind = "train"; dataset = "$D/train_copy.csv"; label = "damage"; model = "claims"; $TRAIN },
  { name = "ev"; kind = "evaluate"; after = ["train"]; dataset = "$D/test.csv"; model = "@train";
    gates = { better_than_production = { metric = "accuracy"; by = 0.0; }; }; }
);
CFG
run=$(submit "$T_DIR/d.cfg")
assert_eq rejected "$(wait_run "$run" 60)" "state of an identical retrain with by = 0"
err=$(task_stream "$run" ev 1 2)
[[ "$err" == *"is not better than production"*"(a tie is not better)"* ]] || fail "tie: '$err'"
assert_eq t "$(sql "select (report->'comparison'->'mcnemar'->>'p_value')::float8 = 1 from drover.step_reports
                    where run_id = $run and step = 'ev'")" "McNemar p = 1 of identical models"
assert_eq "$D/train_copy.csv" "$(sql "select dataset_path from drover.model_registry where name = 'claims' and version = 3")" \
    "lineage path of the version trained from the copy"
assert_eq "$D/train.csv" "$(sql "select dataset_path from drover.model_registry where name = 'claims' and version = 1")" \
    "lineage path of version 1"
v=$(drover model show claims:production --json | jq -r .version) || fail "model show claims:production failed"
assert_eq 1 "$v" "version shown for claims:production"
drover model show claims:staging >/dev/null 2>"$T_DIR/staging.err" && fail "model show claims:staging succeeded"
grep -q "has no staging version" "$T_DIR/staging.err" || fail "claims:staging: $(cat "$T_DIR/staging.err")"
log "ok"
