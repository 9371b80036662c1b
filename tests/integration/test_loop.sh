#!/usr/bin/env bash
# Issue 11, the whole loop on a local cluster (docs/serving.md "The whole
# loop"): train -> promote -> drover-serve answers -> adjusters correct N
# served predictions -> a trigger on the feedback folder starts a retrain on
# exactly those files (${trigger.files}) -> the McNemar gate
# (better_than_production, by = 0, alpha = 0.05) -> a reviewer key with an
# approve grant approves -> promote -> drover-serve switches versions, while
# a client hammers it from before the first correction to after the switch:
# zero failed requests, every answer names version 1 or 2, each
# connection's versions go 1...1 2...2 (one switch).
#
# What the data do so the gate passes every time (not by luck): the data
# come from drover-gen-claims (seed 7, fixed sizes, byte-identical on every
# machine). Version 1 is trained on a pilot: the first 300 rows of the
# history. The adjusters review 600 served claims of the later batch
# (data/feedback/batch-001.csv) and send their true labels; the triggered
# retrain learns from the pilot plus exactly those reviewed rows (900 rows,
# three times the data), with the same seed. On the 1000 test rows version
# 2 is alone right on 126 rows and version 1 alone on 31 (accuracy 0.835
# vs 0.740): McNemar p = 8.7e-15. The test asserts p < 0.001, so a drift in
# the trainer that shrinks the margin shows as a failure saying so, not as
# a flaky gate. The gate is the shipped one (by = 0, alpha = 0.05), not
# weakened.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"
source "$(dirname "$0")/serve_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

# ------------------------------------------------------------- the data ---
D="$T_DIR/data"
drover-gen-claims --seed 7 --out "$D" --train 3000 --test 1000 --feedback 600 >/dev/null ||
    fail "drover-gen-claims exited $?"
head -301 "$D/train.csv" >"$D/history.csv"
assert_ge "$(grep -c ',glass$' "$D/feedback/batch-001.csv")" 60 "glass rows in the batch"

MLP='trainer = "mlp"; hidden = [64]; learning_rate = 0.003; epochs = 20; batch_size = 128;
    val_split = 0.1; patience = 3; seed = 42; gpu = "never";'
cat >"$T_DIR/v1.cfg" <<CFG
workflow = "claims-first";
steps = (
  { name = "train"; kind = "train"; dataset = "$D/history.csv"; label = "damage"; model = "claims-damage"; $MLP },
  { name = "promote"; kind = "promote"; after = ["train"]; model = "@train"; stage = "production"; }
);
CFG
r1=$(submit "$T_DIR/v1.cfg")
assert_eq succeeded "$(wait_run "$r1" 120)" "state of the first training run"

# ------------------------------------------------------ drover-serve, v1 ---
serve_config claims-damage '  max_batch = 100;
  feedback_rows = 200;
  feedback_flush = "1h";'
serve_start
P=/v1/models/claims-damage/predict
wait_for "drover-serve serves version 1" 20 serving claims-damage 1

# ------------------------------------------- the hammer, from now on ---
hammer_start $P "$D/test.csv"
wait_for "the hammer is going" 20 served_gt 200

# ------------------------- the retrain: trigger, gate, approval, promote ---
# Registered before the corrections arrive; submitted by the admin key, so
# the approval must come from another key (a reader with an approve grant).
mkdir -p "$FB/claims-damage"
cat >"$T_DIR/retrain.cfg" <<CFG
workflow = "claims-feedback";
trigger = { watch = "$FB/claims-damage"; min_new_rows = 600; };
steps = (
  { name = "merge"; kind = "exec";
    argv = ["sh", "-c", "out=\$1; shift; awk 'FNR > 1 || NR == 1' \"\$@\" >\"\$out.tmp\" && mv \"\$out.tmp\" \"\$out\"",
            "merge", "$D/reviewed-\${run.id}.csv", "$D/history.csv", "\${trigger.files}"]; },
  { name = "train"; kind = "train"; after = ["merge"]; dataset = "$D/reviewed-\${run.id}.csv"; label = "damage";
    model = "claims-damage"; $MLP },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "$D/test.csv"; label = "damage";
    model = "@train";
    gates = { better_than_production = { metric = "accuracy"; by = 0.0; alpha = 0.05; }; }; },
  { name = "review"; kind = "approve"; after = ["evaluate"]; model = "@train"; },
  { name = "promote"; kind = "promote"; after = ["review"]; model = "@train"; stage = "production"; }
);
CFG
drover submit "$T_DIR/retrain.cfg" >/dev/null || fail "submit of the triggered retrain"
drover keygen --out "$T_KEYS/reviewer" >/dev/null || fail "keygen reviewer"
drover keys allow client "$T_KEYS/reviewer.pub" --role reader >/dev/null || fail "keys allow reviewer"
drover keys grant reviewer approve 'claims-*' >/dev/null || fail "keys grant reviewer"

# ------------------------------------ 600 served claims, reviewed labels ---
# The batch is scored in 6 requests of 100 rows; each row's true label goes
# back as a correction of that request row (one curl, keep-alive).
B="$D/feedback/batch-001.csv"
awk -F, -v pfx="$B" '
    NR == 1 { n = split($0, h, ","); next }
    { row = "{"; for (j = 1; j < n; j++) row = row (j > 1 ? "," : "") "\"" h[j] "\":" $j
      rows[NR - 1] = row "}"; labels[NR - 1] = $n }
    END { if (NR - 1 != 600) exit 1
          for (b = 0; b < 6; b++) {
              f = sprintf("%s.%d.json", pfx, b); body = "{\"rows\":["
              for (i = 1; i <= 100; i++) body = body (i > 1 ? "," : "") rows[b * 100 + i]
              print body "]}" >f; close(f) }
          for (i = 1; i <= 600; i++) print labels[i] >(pfx ".labels") }' "$B" ||
    fail "cannot write the batch requests"
: >"$T_DIR/fb.curl"
mapfile -t LABELS <"$B.labels"
for b in 0 1 2 3 4 5; do
    out=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data-binary "@$B.$b.json" "$URL$P") || fail "predict batch $b: curl exited $?"
    assert_eq 200 "${out##*$'\n'}" "status of batch $b"
    resp=${out%$'\n'*}
    assert_eq "1|100" "$(jq -r '"\(.version)|\(.predictions | length)"' <<<"$resp")" "version|rows of batch $b"
    id=$(jq -r .request_id <<<"$resp")
    for i in $(seq 0 99); do
        label=${LABELS[b * 100 + i]}
        printf 'url = "%s/v1/feedback"\nheader = "Authorization: Bearer %s"\ndata-binary = "{\\"request_id\\": \\"%s\\", \\"row\\": %d, \\"label\\": \\"%s\\", \\"by\\": \\"adjuster-%d\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
            "$URL" "$TOKEN" "$id" "$i" "$label" "$((i % 7))" >>"$T_DIR/fb.curl"
    done
done
sed -i '$d' "$T_DIR/fb.curl"   # no "next" after the last one
curl -s -K "$T_DIR/fb.curl" >"$T_DIR/fb.codes" || fail "the corrections: curl exited $?"
assert_eq "600 200" "$(sort "$T_DIR/fb.codes" | uniq -c | xargs)" "statuses of the 600 corrections"

# -------------------------------------------------- the triggered run ---
wait_for "the corrections start the retrain" 30 \
    sql_is "select count(*) from drover.runs where schedule = 'claims-feedback'" 1
rt=$(sql "select id from drover.runs where schedule = 'claims-feedback'")
assert_eq 3 "$(sql "select count(*) from drover.trigger_files where run_id = $rt")" "files the run consumed"
assert_eq 600 "$(sql "select sum(rows) from drover.trigger_files where run_id = $rt")" "rows the run consumed"
awaiting() {
    [[ "$(run_state "$rt")" != running ]] || drover runs | grep -E "^ *$rt " | grep -q "awaiting approval"
}
wait_for "the retrain reaches the approval" 60 awaiting
assert_eq running "$(run_state "$rt")" "state of the retrain at the approval ($(drover status "$rt" 2>&1)
$(drover report "$rt" evaluate 2>&1))"
assert_eq succeeded "$(task_field "$rt" evaluate state)" "the gated evaluate step"
assert_eq 901 "$(wc -l <"$D/reviewed-$rt.csv")" "lines of the merged reviewed rows"
drover report "$rt" evaluate >"$T_DIR/evaluate.txt" || true
log "evaluate: $(grep -i 'mcnemar\|accuracy' "$T_DIR/evaluate.txt" | head -4)"
p=$(sql "select report->'comparison'->'mcnemar'->>'p_value' from drover.step_reports
         where run_id = $rt and step = 'evaluate'")
[[ -n "$p" ]] || fail "no McNemar p-value in the report"
awk -v p="$p" 'BEGIN { exit !(p < 0.001) }' || fail "McNemar p = $p: the data no longer give a clear margin"
assert_eq 1 "$(sql "select version from drover.model_versions where name = 'claims-damage' and stage = 'production'")" \
    "production before the approval"
serving claims-damage 1 || fail "drover-serve left version 1 before the approval"

out=$(DROVER_KEY="$T_KEYS/reviewer" drover approve "$rt" review --reason "glass claims right again (McNemar p = $p)") ||
    fail "reviewer approve exited $?: $out"
assert_eq succeeded "$(wait_run "$rt" 60)" "the approved retrain"
assert_eq 2 "$(sql "select version from drover.model_versions where name = 'claims-damage' and stage = 'production'")" \
    "production after the approval"

# ------------------------------------------------------ the switch ---
wait_for "drover-serve switched to version 2" 20 serving claims-damage 2
at=$(served)
wait_for "500 more requests on version 2" 60 served_gt $((at + 500))
hammer_check 1 2
grep -q "now serving version 2 (was 1)" "$T_DIR/serve.log" || fail "no swap logged"
stop_pid drover-serve "$SERVE_PID" || fail "drover-serve exited $? on SIGTERM"
log "ok"
