#!/usr/bin/env bash
# Sweep and select (docs/scheduling.md, "Sweeps" and "select") on a small
# generated, separable data set: train with matrix learning_rate = [0.5,
# 0.00001] expands to train.1 and train.2, each registering a model version;
# select (val_accuracy, max) picks the better one and evaluate (model =
# "@pick") evaluates exactly that version; a second select with mode min
# picks the other one when their accuracies differ.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

mkdir -p "$T_DIR/data"
gen_data "$T_DIR/data/train.csv" 600 1
gen_data "$T_DIR/data/test.csv" 300 2

cat >"$T_DIR/sweep.cfg" <<'CFG'
workflow = "sweep";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage";
    model = "swept"; trainer = "softmax"; epochs = 1; batch_size = 32; val_split = 0.2;
    seed = 7; gpu = "never";
    matrix = { learning_rate = [0.5, 0.00001]; }; },
  { name = "pick"; kind = "select"; after = ["train"]; metric = "val_accuracy"; mode = "max"; },
  { name = "worst"; kind = "select"; after = ["train"]; metric = "val_accuracy"; mode = "min"; },
  { name = "evaluate"; kind = "evaluate"; after = ["pick"]; dataset = "data/test.csv";
    label = "damage"; model = "@pick"; }
);
CFG
run=$(submit "$T_DIR/sweep.cfg")
assert_eq succeeded "$(wait_run "$run" 90)" "state of the sweep run"

assert_eq "evaluate pick train.1 train.2 worst" \
    "$(sql "select string_agg(name, ' ' order by name) from drover.tasks where run_id = $run")" \
    "steps of the expanded run"
assert_eq "train.1:0.5 train.2:1e-05" \
    "$(sql "select string_agg(name || ':' || (spec->>'learning_rate')::float8, ' ' order by name)
            from drover.tasks where run_id = $run and name like 'train.%'")" \
    "learning rate of each expansion"
# Versions are numbered in the order the expansions finished: map by step.
assert_eq "train.1 train.2|1 2" \
    "$(sql "select string_agg(step, ' ' order by step) || '|' || string_agg(version::text, ' ' order by version)
            from drover.model_versions where name = 'swept' and run_id = $run")" \
    "steps | versions of the model versions registered by the expansions"
ver() { sql "select version from drover.model_versions where name = 'swept' and step = '$1'"; }
acc() { sql "select metrics->>'val_accuracy' from drover.model_versions where name = 'swept' and step = '$1'"; }
v1=$(ver train.1)
v2=$(ver train.2)
a1=$(acc train.1)
a2=$(acc train.2)
log "val_accuracy: train.1 (lr 0.5, version $v1) $a1, train.2 (lr 1e-05, version $v2) $a2"
best=$(awk -v a="$a1" -v b="$a2" -v v1="$v1" -v v2="$v2" 'BEGIN { print (b + 0 > a + 0) ? v2 : v1 }')
worst=$(awk -v a="$a1" -v b="$a2" -v v1="$v1" -v v2="$v2" 'BEGIN { print (b + 0 < a + 0) ? v2 : v1 }')

report() { sql "select report from drover.step_reports where run_id = $run and step = '$1'"; }
pick=$(report pick)
[[ -n "$pick" ]] || fail "the select step stored no report"
assert_eq "true|val_accuracy|max|swept|$best" \
    "$(jq -r '[.passed, .metric, .mode, .chosen.name, .chosen.version] | map(tostring) | join("|")' <<<"$pick")" \
    "pick's report: passed|metric|mode|chosen"
assert_eq "train.1 train.2" "$(jq -r '[.candidates[].step] | sort | join(" ")' <<<"$pick")" "pick's candidates"
cli=$(drover --json report "$run" pick) || fail "drover report $run pick exited $?"
assert_eq "swept:$best" "$(jq -r '(.report // .) | "\(.chosen.name):\(.chosen.version)"' <<<"$cli")" \
    "chosen version in drover report --json"

assert_eq "swept|$best" "$(sql "select name || '|' || version from drover.model_evaluations where run_id = $run")" \
    "the version evaluate evaluated"
if [[ "$a1" != "$a2" ]]; then
    assert_eq "swept|$worst" "$(jq -r '"\(.chosen.name)|\(.chosen.version)"' <<<"$(report worst)")" \
        "the version the min select chose"
    [[ $best != "$worst" ]] || fail "max and min chose the same version with different accuracies"
else
    log "both versions reached val_accuracy $a1: max and min may choose either"
fi
