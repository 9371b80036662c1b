#!/usr/bin/env bash
# Sweeps that survive a failed member (issue 13, observation 8):
#   1. a matrix of three train steps, one over a file training refuses, and
#      a select with min_success = 2: the select picks among the two that
#      succeeded and the run succeeds (the failed member shows as failed);
#   2. the same with min_success = 3: the select is skipped, the run fails;
#   3. a select whose metric no train step records (a misspelling) is
#      refused at submit with file:line, and the same request sent by hand
#      is refused by the coordinator; nothing is written.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

mkdir -p "$T_DIR/data"
gen_data "$T_DIR/data/a.csv" 300 1
gen_data "$T_DIR/data/c.csv" 300 3
gen_data "$T_DIR/data/bad.csv" 300 2
sed -i '5s/^[^,]*,/abc,/' "$T_DIR/data/bad.csv" # a feature that is not a number

sweep() { # NAME MIN_SUCCESS METRIC
    cat >"$T_DIR/$1.cfg" <<CFG
workflow = "$1";
steps = (
  { name = "train"; kind = "train"; label = "damage"; model = "$1"; trainer = "softmax";
    epochs = 1; batch_size = 32; val_split = 0.2; seed = 7; gpu = "never";
    matrix = { dataset = ["data/a.csv", "data/bad.csv", "data/c.csv"]; }; },
  { name = "pick"; kind = "select"; after = ["train"]; metric = "$3"; mode = "max";
    min_success = $2; }
);
CFG
    echo "$T_DIR/$1.cfg"
}
states() { sql "select string_agg(name || ':' || state, ' ' order by name) from drover.tasks where run_id = $1"; }

# ------------------------------------------------ 1. min_success = 2 ---
run=$(submit "$(sweep sw2 2 val_accuracy)")
assert_eq succeeded "$(wait_run "$run" 90)" "state of the sweep with min_success = 2"
assert_eq "pick:succeeded train.1:succeeded train.2:failed train.3:succeeded" "$(states "$run")" "steps of run $run"
pick=$(sql "select report from drover.step_reports where run_id = $run and step = 'pick'")
assert_eq "train.1 train.3" "$(jq -r '[.candidates[].step] | sort | join(" ")' <<<"$pick")" "pick's candidates"
[[ "$(jq -r .chosen.step <<<"$pick")" =~ ^train\.[13]$ ]] || fail "pick chose: $pick"

# ------------------------------------------------ 2. min_success = 3 ---
run=$(submit "$(sweep sw3 3 val_accuracy)")
assert_eq failed "$(wait_run "$run" 90)" "state of the sweep with min_success = 3"
assert_eq "pick:skipped train.1:succeeded train.2:failed train.3:succeeded" "$(states "$run")" "steps of run $run"

# --------------------------------------------- 3. a misspelt metric ---
before=$(sql "select count(*) from drover.runs")
out=$(drover submit "$(sweep typo 2 val_acuracy)" 2>&1) && fail "a select on val_acuracy was accepted: $out"
[[ "$out" == *"typo.cfg:"[0-9]*": "*"'metric' must be one of a metric train steps record: val_accuracy"* ]] ||
    fail "submit said: $out"
drover-test-zmqpoke -q --proto client --key "$T_KEYS/admin" --server-key "$T_KEYS/coordinator.pub" \
    --msg '{"request_id":5,"submit":{"workflow":"raw","steps":[{"name":"t","kind":"exec",
           "spec_json":"{\"argv\":[\"true\"]}"},{"name":"pick","kind":"select","after":["t"],
           "spec_json":"{\"metric\":\"val_acuracy\",\"mode\":\"max\",\"from\":[\"t\"]}"}]}}' \
    --await 5000 "$COORD_CLIENT_EP" >"$T_DIR/raw.out" || fail "zmqpoke submit exited $?"
jq -e '.error == "ERROR_BAD_REQUEST" and (.message | test("metric"))' "$T_DIR/raw.out" >/dev/null ||
    fail "raw select on val_acuracy: $(cat "$T_DIR/raw.out")"
assert_eq "$before" "$(sql "select count(*) from drover.runs")" "runs after the refused submits"
log "ok"
