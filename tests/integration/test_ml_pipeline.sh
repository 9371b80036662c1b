#!/usr/bin/env bash
# The ML kinds end to end on a small generated, separable data set:
#   1. validate -> train -> evaluate (gates pass): a model version is
#      registered with its dataset hash, every epoch streamed as a metric,
#      the evaluation report stored and passed;
#   2. an evaluate gate that cannot pass (accuracy above 1) fails the step
#      with the figures in its stderr line and a stored failed report;
#   3. a failing validation check (missing values) fails the step with its
#      reason, the report says which check, and train after it is skipped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

mkdir -p "$T_DIR/data"
gen_data "$T_DIR/data/train.csv" 900 1
gen_data "$T_DIR/data/test.csv" 300 2
gen_data "$T_DIR/data/dirty.csv" 300 3 4 0.2

cat >"$T_DIR/pipeline.cfg" <<CFG
workflow = "ml-pipeline";
steps = (
  { name = "validate"; kind = "validate"; dataset = "data/train.csv"; label = "damage";
    checks = { columns = ["f0", "f1", "f2", "f3"]; min_rows = 100; max_missing = 0.0;
      ranges = { f0 = [-1.0, 5.0]; }; min_class_share = 0.3; max_duplicates = 0.0;
      drift = { reference = "data/test.csv"; max_psi = 0.5; bins = 5; }; }; },
  { name = "train"; kind = "train"; after = ["validate"]; dataset = "data/train.csv";
    label = "damage"; model = "claims"; trainer = "softmax"; learning_rate = 0.05;
    epochs = 8; batch_size = 32; val_split = 0.2; seed = 7; gpu = "never"; },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "data/test.csv";
    label = "damage"; model = "@train";
    gates = { min = { accuracy = 0.95; macro_f1 = 0.95; }; max = { log_loss = 0.9; };
      better_than_production = { metric = "accuracy"; by = 0.0; }; }; }
);
CFG
run=$(submit "$T_DIR/pipeline.cfg")
assert_eq succeeded "$(wait_run "$run" 90)" "state of the validate -> train -> evaluate run"

# validate: a stored, passed report with all seven checks.
assert_eq "true|7" "$(sql "select passed || '|' || jsonb_array_length(report->'checks')
                        from drover.step_reports where run_id = $run and step = 'validate'")" \
    "validate report passed|checks"
# train: one metric per epoch, in order, and a registered model version.
assert_eq 8 "$(metric_count "$run" train 1)" "epoch metrics of train"
assert_eq "1|8" "$(sql "select min((m.data->>'epoch')::int) || '|' || max((m.data->>'epoch')::int)
                        from drover.task_metrics m join drover.tasks t on t.id = m.task_id
                        where t.run_id = $run and t.name = 'train'")" "first|last epoch metric"
train_sha=$(sha256sum "$T_DIR/data/train.csv" | cut -d' ' -f1)
assert_eq "1|softmax|$train_sha" "$(sql "select version || '|' || model_kind || '|' || dataset_sha256
                        from drover.model_versions where name = 'claims' and run_id = $run")" \
    "model version|kind|dataset hash"
artifact=$(sql "select artifact from drover.model_versions where name = 'claims' and version = 1")
[[ -f "$T_DIR/artifacts/sha256/${artifact:0:2}/${artifact:2}" ]] ||
    fail "model artifact $artifact is not in the store"
val_acc=$(sql "select metrics->>'val_accuracy' from drover.model_versions where name = 'claims' and version = 1")
assert_ge "$val_acc" 0.95 "validation accuracy of the separable problem"
# evaluate: passed, with the metrics attached to the model version.
assert_eq t "$(sql "select passed from drover.step_reports where run_id = $run and step = 'evaluate'")" \
    "evaluate report passed"
acc=$(sql "select report->'metrics'->>'accuracy' from drover.step_reports
           where run_id = $run and step = 'evaluate'")
assert_ge "$acc" 0.95 "test accuracy"
task_stream "$run" evaluate 1 1 | grep -q "no production version to compare against" ||
    fail "evaluate did not note the missing production version"

# 2. A gate that cannot pass.
cat >"$T_DIR/gate.cfg" <<CFG
workflow = "ml-gate";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage";
    model = "claims"; epochs = 3; learning_rate = 0.05; batch_size = 32; gpu = "never"; },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "data/test.csv";
    model = "@train"; gates = { min = { accuracy = 1.5; }; }; },
  { name = "after"; kind = "exec"; after = ["evaluate"]; command = "true"; }
);
CFG
run2=$(submit "$T_DIR/gate.cfg")
# A gate that says no ends the run `rejected`: the system worked, the model did not pass.
assert_eq rejected "$(wait_run "$run2" 90)" "state of the run whose gate fails"
assert_eq failed "$(task_field "$run2" evaluate state)" "state of the gated evaluate"
assert_eq skipped "$(task_field "$run2" after state)" "state of the step after the failed gate"
stderr=$(task_stream "$run2" evaluate 1 2)
[[ "$stderr" =~ gate\ failed:\ accuracy\ [01]\.[0-9]{3}\ \<\ min\ 1\.500 ]] ||
    fail "evaluate's reason is '$stderr', expected 'gate failed: accuracy X < min 1.500'"
assert_eq "false|false" "$(sql "select passed || '|' || (report->'gates'->0->>'passed')
                        from drover.step_reports where run_id = $run2 and step = 'evaluate'")" \
    "stored report of the failed gate"
assert_eq 2 "$(sql "select count(*) from drover.model_versions where name = 'claims'")" \
    "model versions after two trainings"

# 3. A failing validation check.
cat >"$T_DIR/dirty.cfg" <<CFG
workflow = "ml-dirty";
steps = (
  { name = "validate"; kind = "validate"; dataset = "data/dirty.csv"; label = "damage";
    checks = { min_rows = 10; max_missing = 0.01; }; },
  { name = "train"; kind = "train"; after = ["validate"]; dataset = "data/dirty.csv";
    label = "damage"; model = "dirty"; }
);
CFG
run3=$(submit "$T_DIR/dirty.cfg")
assert_eq failed "$(wait_run "$run3" 60)" "state of the run with dirty data"
assert_eq skipped "$(task_field "$run3" train state)" "train after a failed validation"
stderr=$(task_stream "$run3" validate 1 2)
[[ "$stderr" =~ validation\ failed:\ max_missing:\ column\ \'f3\'\ is\ [0-9.]+%\ missing\ \(max\ 1\.0%\) ]] ||
    fail "validate's reason is '$stderr'"
assert_eq "false|min_rows:true,max_missing:false" \
    "$(sql "select r.passed || '|' || string_agg((c.v->>'name') || ':' || (c.v->>'passed'), ','
                                                 order by c.i)
            from drover.step_reports r, jsonb_array_elements(r.report->'checks') with ordinality c(v, i)
            where r.run_id = $run3 and r.step = 'validate' group by r.passed")" \
    "stored validation report"
