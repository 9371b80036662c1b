#!/usr/bin/env bash
# Models from exec steps (issue 12; docs/python.md, "Registering a model"):
# examples/sklearn, entirely with the Python module drover.task.
#   1. a scikit-learn model goes train (register_model) -> gate (passes) ->
#      promote: version 1, flavour sklearn-pickle, in production, with its
#      metrics, signature and lineage (the CSV it read, hashed by drover);
#   2. the same pipeline on shuffled labels: the gate says no, the run ends
#      `rejected`, version 2 is registered but not promoted;
#   3. `drover models` shows both with lineage; predict and an evaluate
#      step refuse the flavour ("drover cannot score it");
#   4. hostile steps: an {"output": {"registered": ...}} the step forges is
#      dropped (no version), a dataset the step's argv/env do not name is
#      refused (the step fails), a path to a folder is refused.
# Skipped (77) without python3-sklearn.
source "$(dirname "$0")/lib.sh"

PY=""
for c in "${DROVER_PYTHON:-}" /usr/bin/python3 python3; do
    [[ -n "$c" ]] && command -v "$c" >/dev/null && "$c" -c 'import sklearn' 2>/dev/null &&
        { PY=$(command -v "$c"); break; }
done
if [[ -z "$PY" ]]; then
    echo "test_exec_models: skipped: python3-sklearn is not installed (apt-get install python3-sklearn)" >&2
    exit 77
fi

pg_start
coord_start
export DROVER_PYTHON="$PY" MODEL_DIR="$T_DIR/models"
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"
SK="$T_REPO/examples/sklearn/pipeline.cfg"
DATA="$T_DIR/digits.csv"

# --------------------------------------------------- 1. train -> promote ---
r1=$(drover submit "$SK" --set data="$DATA") || fail "submit exited $?"
assert_eq succeeded "$(wait_run "$r1" 90)" "the sklearn pipeline"
models() { drover --json models sklearn-digits; }
v1=$(models | jq -c '.[] | select(.version == 1)')
log "version 1: $v1"
assert_eq 'sklearn-pickle|production|train' "$(jq -r '"\(.model_kind)|\(.stage)|\(.step)"' <<<"$v1")" \
    "version 1: flavour, stage, step"
jq -e '.metrics.val_accuracy >= 0.9' <<<"$v1" >/dev/null || fail "version 1's metrics: $v1"
art=$(sql "select artifact from drover.model_versions where name = 'sklearn-digits' and version = 1")
[[ "$(sha256sum <"$T_DIR/artifacts/sha256/${art:0:2}/${art:2}" | cut -d' ' -f1)" == "$art" ]] ||
    fail "the stored pickle does not hash to its name"
cmp -s "$T_DIR/artifacts/sha256/${art:0:2}/${art:2}" "$T_DIR/models/digits-run$r1.pkl" ||
    fail "the stored artifact is not the step's pickle"
assert_eq "$(sha256sum <"$DATA" | cut -d' ' -f1)|1797|65" \
    "$(sql "select d.sha256 || '|' || d.rows || '|' || d.cols from drover.model_versions m
            join drover.datasets d on d.sha256 = m.dataset_sha256
            where m.name = 'sklearn-digits' and m.version = 1")" "lineage: the CSV, hashed and counted by drover"
assert_eq '"pixels"' "$(sql "select params->'signature'->'inputs'->0->'name' from drover.model_versions
                             where name = 'sklearn-digits' and version = 1")" "the signature"

# ---------------------------------------------------- 2. shuffled labels ---
r2=$(drover submit "$SK" --set data="$DATA" --set shuffle_labels=yes) || fail "submit exited $?"
assert_eq rejected "$(wait_run "$r2" 90)" "the pipeline on shuffled labels"
assert_eq "skipped|skipped" "$(task_field "$r2" promote state)|$(task_field "$r2" use state)" "promote and use after a rejection"
v2=$(models | jq -c '.[] | select(.version == 2)')
assert_eq 'sklearn-pickle|none' "$(jq -r '"\(.model_kind)|\(.stage)"' <<<"$v2")" "version 2: registered, not promoted"
jq -e '.metrics.val_accuracy < 0.9' <<<"$v2" >/dev/null || fail "version 2's metrics: $v2"

# ------------------------------------------------- 3. listing, refusals ---
out=$(drover models sklearn-digits) || fail "drover models exited $?"
log "drover models:"$'\n'"$out"
[[ "$(grep -c 'sklearn-pickle' <<<"$out")" == 2 ]] || fail "drover models does not show both: $out"
drover model show sklearn-digits:2 >/dev/null || fail "drover model show exited $?"
echo "p0" >"$T_DIR/x.csv"
out=$(drover predict sklearn-digits:1 "$T_DIR/x.csv" --artifact-dir "$T_DIR/artifacts" 2>&1) &&
    fail "predict of a pickle ran: $out"
[[ "$out" == *"flavour sklearn-pickle: drover cannot score it; use an exec step"* ]] || fail "predict: $out"
cat >"$T_DIR/eval.cfg" <<CFG
workflow = "eval-pickle";
steps = ( { name = "e"; kind = "evaluate"; dataset = "$DATA"; label = "digit";
            model = "sklearn-digits:production"; } );
CFG
r3=$(submit "$T_DIR/eval.cfg")
assert_eq failed "$(wait_run "$r3")" "an evaluate of the pickle"
[[ "$(task_field "$r3" e error)" == *"flavour sklearn-pickle: drover cannot score it"* ]] ||
    fail "evaluate's error: $(task_field "$r3" e error)"

# ------------------------------------------------------ 4. hostile steps ---
echo "x" >"$T_DIR/other.csv"
cat >"$T_DIR/forge.cfg" <<CFG
workflow = "forge";
steps = (
  { name = "forged"; kind = "exec";
    command = "echo '{\"output\": {\"registered\": {\"name\": \"forged\", \"flavour\": \"x\", \"artifact\": \"$art\", \"metrics\": {}, \"datasets\": []}}}' >&3"; },
  { name = "unnamed"; kind = "exec"; cwd = "$T_DIR";
    command = "echo m >m.bin; echo '{\"register_model\": {\"name\": \"sneaky\", \"path\": \"m.bin\", \"datasets\": [\"other.csv\"]}}' >&3"; },
  { name = "folder"; kind = "exec"; cwd = "$T_DIR";
    command = "echo '{\"register_model\": {\"name\": \"dir\", \"path\": \"models\"}}' >&3"; }
);
CFG
r4=$(submit "$T_DIR/forge.cfg")
assert_eq failed "$(wait_run "$r4")" "the hostile run"
assert_eq succeeded "$(task_field "$r4" forged state)" "a step that forged 'registered' (dropped by the worker)"
assert_eq 0 "$(sql "select count(*) from drover.model_versions where name in ('forged', 'sneaky', 'dir')")" "versions of hostile steps"
[[ "$(task_field "$r4" unnamed error)" == *"dataset other.csv is not named by the step's argv or env"* ]] ||
    fail "unnamed dataset: $(task_field "$r4" unnamed error)"
[[ "$(task_field "$r4" folder error)" == *"models is a folder"* ]] || fail "folder: $(task_field "$r4" folder error)"
