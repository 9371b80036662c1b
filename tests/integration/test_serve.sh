#!/usr/bin/env bash
# Issue 11, the serving endpoint and adjuster feedback (docs/serving.md):
# drover-serve serves the production version of a model trained and
# promoted on a local cluster, with a reader key of its own.
#   1. it answers a single row and a batch, naming the version and a
#      request id; refusals: no/bad token 401, oversized body 413, batch
#      over max_batch 413, malformed JSON 400, a missing column 400;
#   2. a hammering client (2 connections, thousands of requests) sees zero
#      failures while version 2 is promoted: every answer names one
#      version, each connection's versions switch once, from 1 to 2;
#   3. the prediction log holds every request id the client got;
#   4. feedback for N = 5 requests makes one CSV file of exactly 5 rows,
#      the logged inputs joined with the corrected labels, and a trigger
#      on that folder starts a run; a second correction of the same
#      request is 409, an unknown id 404, a malformed one 400; corrections
#      acknowledged before a kill -9 land in a file at the next start.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

D="$T_DIR/data"
mkdir -p "$D"
gen_data "$D/train.csv" 600 1
gen_data "$D/test.csv" 90 2
# train_promote SEED: a run training a version of "claims" and promoting it.
train_promote() {
    cat >"$T_DIR/t$1.cfg" <<CFG
workflow = "train$1";
steps = (
  { name = "train"; kind = "train"; dataset = "$D/train.csv"; label = "damage"; model = "claims";
    trainer = "softmax"; epochs = 20; learning_rate = 0.05; seed = $1; gpu = "never"; },
  { name = "promote"; kind = "promote"; after = ["train"]; model = "@train"; stage = "production"; }
);
CFG
    submit "$T_DIR/t$1.cfg"
}
r1=$(train_promote 7)
assert_eq succeeded "$(wait_run "$r1" 60)" "state of the first training run"

# drover-serve's own key, a reader
drover keygen --out "$T_KEYS/serve" >/dev/null || fail "keygen serve"
drover keys allow client "$T_KEYS/serve.pub" --role reader >/dev/null || fail "keys allow serve"
TOKEN=0123456789abcdef0123456789abcdef
printf '# test tokens\nadjuster %s\n' "$TOKEN" >"$T_DIR/tokens"
chmod 600 "$T_DIR/tokens"
PORT=$(freeport)
FB="$T_DIR/feedback"
cat >"$T_DIR/serve.cfg" <<CFG
serve = {
  listen = "127.0.0.1:$PORT";
  models = [ "claims" ];
  coordinator = "$COORD_CLIENT_EP";
  secret_key = "$T_KEYS/serve";
  coordinator_key = "$T_KEYS/coordinator.pub";
  artifact_dir = "$T_DIR/artifacts";
  tokens = "$T_DIR/tokens";
  log_dir = "$T_DIR/serve-log";
  feedback_dir = "$FB";
  poll_interval = "200ms";
  max_body = 65536;
  max_batch = 100;
  feedback_rows = 5;
  feedback_flush = "1h";
};
CFG
# a tokens file others may read is refused at start
chmod 644 "$T_DIR/tokens"
out=$(drover-serve --config "$T_DIR/serve.cfg" 2>&1) && fail "drover-serve started with a 0644 tokens file"
[[ "$out" == *"chmod 600"* ]] || fail "tokens mode message: $out"
chmod 600 "$T_DIR/tokens"
drover-serve --config "$T_DIR/serve.cfg" </dev/null >>"$T_DIR/serve.log" 2>&1 &
SERVE_PID=$!
t_track_pid "$SERVE_PID"
URL="http://127.0.0.1:$PORT"
wait_for "drover-serve is ready" 30 curl -sf "$URL/readyz"

# post PATH BODY [TOKEN]: prints "STATUS BODY"
post() {
    curl -s -o "$T_DIR/resp" -w '%{http_code}' -H "Authorization: Bearer ${3-$TOKEN}" \
        -H 'Content-Type: application/json' --data-binary "$2" "$URL$1"
    echo " $(cat "$T_DIR/resp")"
}
P=/v1/models/claims/predict
# ---------------------------------------------------------- 1. answers ---
out=$(post $P '{"row": {"f0": 4.1, "f1": 0.2, "f2": -0.1, "f3": 0.3}}')
[[ "$out" == 200\ * ]] || fail "single row: $out"
assert_eq "claims|1|minor|true" "$(jq -r '[.model, .version, .prediction.class, (.request_id | length == 20)] | join("|")' <<<"${out#200 }")" \
    "model|version|class|request id of a single row"
out=$(post $P '{"rows": [{"f0": 4, "f1": 0, "f2": 0, "f3": 0}, {"f3": 0, "f2": 0, "f1": 4.2, "f0": 0}, {"f0": 0, "f1": 0, "f2": 4, "f3": 0.1}]}')
assert_eq "minor moderate severe" "$(jq -r '[.predictions[].class] | join(" ")' <<<"${out#200 }")" "classes of a batch (columns by name)"
assert_eq 401 "$(post $P '{"row": {}}' wrongtoken-wrongtoken | cut -d' ' -f1)" "a bad token"
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' --data-binary '{}' "$URL$P")" "no token"
big=$(head -c 70000 /dev/zero | tr '\0' ' ')
assert_eq 413 "$(post $P "{\"row\": {}} $big" | cut -d' ' -f1)" "an oversized body"
rows=$(for i in $(seq 101); do printf '{"f0":1,"f1":1,"f2":1,"f3":1},'; done)
assert_eq 413 "$(post $P "{\"rows\": [${rows%,}]}" | cut -d' ' -f1)" "a batch of 101 rows (max_batch 100)"
out=$(post $P '{"row": {"f0": 1,')
[[ "$out" == 400\ *"malformed JSON at line 1"* ]] || fail "malformed JSON: $out"
out=$(post $P '{"row": {"f0": 1, "f1": 2, "f2": 3}}')
[[ "$out" == 400\ *"no column 'f3', which the model needs"* ]] || fail "a missing column: $out"
out=$(post $P '{"row": {"f0": 1, "f1": 2, "f2": 3, "f3": 4, "x": 1}}')
[[ "$out" == 400\ *"unknown column 'x'"* ]] || fail "an extra column: $out"
assert_eq 404 "$(post /v1/models/other/predict '{"row": {}}' | cut -d' ' -f1)" "a model not served"
curl -s "$URL/metrics" | grep -q '^drover_serve_refused_bad_json_total 1$' || fail "bad JSON not counted"

# -------------------------------------------- 2. hammer through a swap ---
rm -f "$T_DIR/stop"
drover-serveload --addr "127.0.0.1:$PORT" --path $P --token "$TOKEN" --csv "$D/test.csv" \
    --label damage --conns 2 --until "$T_DIR/stop" --log "$T_DIR/hammer.log" >"$T_DIR/hammer.out" 2>&1 &
HAMMER=$!
t_track_pid "$HAMMER"
served() { curl -s "$URL/metrics" | awk '$1 == "drover_serve_predict_requests_total" { print $2 }'; }
served_gt() { test "$(served)" -gt "$1"; }
wait_for "the hammer is going" 20 served_gt 500
r2=$(train_promote 8)
assert_eq succeeded "$(wait_run "$r2" 60)" "state of the second training run"
# A function, not grep on <(curl ...): that is read once, and a retry
# would read the exhausted pipe again.
version_is() { curl -s "$URL/metrics" | grep -q "^drover_serve_model_version{model=\"claims\"} $1\$"; }
wait_for "drover-serve switched to version 2" 20 version_is 2
at=$(served)
wait_for "1000 more requests on version 2" 60 served_gt $((at + 1000))
touch "$T_DIR/stop"
wait "$HAMMER" || fail "the hammering client saw failures: $(cat "$T_DIR/hammer.out")"
log "hammer: $(cat "$T_DIR/hammer.out")"
# every answer 200 with one version; per connection 1...1 2...2
awk '/^# conn/ { conn++; prev = 0; next }
     $1 != 200 { print "status " $1; bad = 1 }
     $2 != 1 && $2 != 2 { print "version " $2; bad = 1 }
     $2 < prev { print "conn " conn " went back from " prev " to " $2; bad = 1 }
     { if ($2 != prev && prev) switches[conn]++; prev = $2; n++; seen[$2]++ }
     END { for (c in switches) if (switches[c] > 1) { print "conn " c " switched " switches[c] " times"; bad = 1 }
           if (!seen[1] || !seen[2]) { print "versions seen: 1=" seen[1] " 2=" seen[2]; bad = 1 }
           if (n < 2000) { print "only " n " requests"; bad = 1 }
           exit bad }' "$T_DIR/hammer.log" || fail "hammer answers (above)"
grep -q "now serving version 2 (was 1)" "$T_DIR/serve.log" || fail "no swap logged"

# ------------------------------------------ 3. the log has every id ---
grep -v '^#' "$T_DIR/hammer.log" | awk '{ print $3 }' | sort >"$T_DIR/ids"
logged_all() {
    cat "$T_DIR"/serve-log/predictions/pred-*.jsonl | cut -c8-27 | sort >"$T_DIR/logged"
    [[ -z "$(comm -23 "$T_DIR/ids" "$T_DIR/logged")" ]]
}
wait_for "every request id in the prediction log" 10 logged_all
assert_eq "$(wc -l <"$T_DIR/ids")" "$(sort -u "$T_DIR/ids" | wc -l)" "request ids are unique"
rec=$(grep -h "\"id\":\"$(head -1 "$T_DIR/ids")\"" "$T_DIR"/serve-log/predictions/pred-*.jsonl)
jq -e '.model == "claims" and (.version == 1 or .version == 2) and (.input_sha256 | length == 64)
       and (.rows[0] | keys == ["f0","f1","f2","f3"]) and (.out[0].class | type == "string")' <<<"$rec" >/dev/null ||
    fail "a log record: $rec"

# ------------------------------------------------------- 4. feedback ---
cat >"$T_DIR/retrain.cfg" <<CFG
workflow = "retrain";
trigger = { watch = "$FB/claims"; min_new_rows = 5; };
steps = ( { name = "s"; kind = "exec"; command = "true"; } );
CFG
mkdir -p "$FB/claims"
drover submit "$T_DIR/retrain.cfg" >/dev/null || fail "submit of the triggered workflow"
: >"$T_DIR/sent"
for i in 1 2 3 4 5; do
    row=$(sed -n "$((i + 1))p" "$D/test.csv")
    IFS=, read -r a b c d label <<<"$row"
    out=$(post $P "{\"row\": {\"f0\": $a, \"f1\": $b, \"f2\": $c, \"f3\": $d}}")
    id=$(jq -r .request_id <<<"${out#200 }")
    echo "$id $a,$b,$c,$d,corrected-$label" >>"$T_DIR/sent"
done
assert_eq 0 "$(find "$FB/claims" -name '*.csv' | wc -l)" "files before the corrections"
# through drover feedback (the CLI speaks the same HTTP API)
echo "$TOKEN" >"$T_DIR/token"
chmod 600 "$T_DIR/token"
export DROVER_SERVE_URL="$URL"
n=0
while read -r id expect; do
    out=$(drover feedback "$id" "${expect##*,}" --by "adjuster-$n" --token-file "$T_DIR/token") ||
        fail "drover feedback $id exited $?: $out"
    [[ "$out" == "recorded: request $id row 0 is '${expect##*,}' (by adjuster-$n; predicted by claims:"* ]] ||
        fail "drover feedback printed: $out"
    n=$((n + 1))
done <"$T_DIR/sent"
first=$(head -1 "$T_DIR/sent" | cut -d' ' -f1)
out=$(post /v1/feedback "{\"request_id\": \"$first\", \"label\": \"severe\"}")
[[ "$out" == 409\ *"already has a correction"* ]] || fail "a second correction: $out"
assert_eq "$(head -1 "$T_DIR/sent" | sed 's/.*,//')|adjuster-0" "$(jq -r '.correction | "\(.label)|\(.by)"' <<<"${out#409 }")" \
    "the first correction in the 409 answer"
rc=0
out=$(DROVER_SERVE_TOKEN=$TOKEN drover feedback "$first" severe 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of drover feedback for a corrected request"
[[ "$out" == *"already has a correction"* ]] || fail "drover feedback, second correction: $out"
assert_eq 404 "$(post /v1/feedback '{"request_id": "00000000000000000000", "label": "x"}' | cut -d' ' -f1)" "an unknown request id"
assert_eq 400 "$(post /v1/feedback '{"request_id": "../etc", "label": "x"}' | cut -d' ' -f1)" "a malformed request id"
assert_eq 400 "$(post /v1/feedback "{\"request_id\": \"$first\", \"label\": \"a,b\"}" | cut -d' ' -f1)" "a label with a comma"
mapfile -t files < <(find "$FB/claims" -name '*.csv')
assert_eq 1 "${#files[@]}" "feedback files"
assert_eq "f0,f1,f2,f3,damage" "$(head -1 "${files[0]}")" "header of the feedback file"
assert_eq 5 "$(tail -n +2 "${files[0]}" | wc -l)" "rows of the feedback file"
# joined with the inputs, in order (float32 round trip: within 1e-6)
paste -d, <(cut -d' ' -f2 "$T_DIR/sent") <(tail -n +2 "${files[0]}") |
    awk -F, '{ for (j = 1; j <= 4; j++) if ((d = $j - $(j + 5)) > 1e-6 || d < -1e-6) bad = 1
               if ($5 != $10) bad = 1 } END { exit bad }' ||
    fail "feedback rows differ from the inputs: $(paste <(cut -d' ' -f2 "$T_DIR/sent") <(tail -n +2 "${files[0]}"))"
wait_for "the feedback file starts the retraining run" 30 \
    sql_is "select count(*) from drover.runs where schedule = 'retrain'" 1
assert_eq "5" "$(sql "select rows from drover.trigger_files where name = 'retrain'")" "rows the trigger consumed"

# a restart keeps the duplicate check (the journal)
stop_pid drover-serve "$SERVE_PID" || fail "drover-serve exited $? on SIGTERM"
drover-serve --config "$T_DIR/serve.cfg" </dev/null >>"$T_DIR/serve.log" 2>&1 &
SERVE_PID=$!
t_track_pid "$SERVE_PID"
wait_for "drover-serve is ready again" 30 curl -sf "$URL/readyz"
out=$(post /v1/feedback "{\"request_id\": \"$first\", \"label\": \"severe\"}")
[[ "$out" == 409\ * ]] || fail "a second correction after a restart: $out"
assert_eq 1 "$(find "$FB/claims" -name '*.csv' | wc -l)" "feedback files after the restart"
# a crash with corrections pending (2 of feedback_rows 5): acknowledged
# ones are in the journal and land in a file at the next start
for i in 1 2; do
    out=$(post $P '{"row": {"f0": 0.1, "f1": 4.2, "f2": 0, "f3": 0}}')
    id=$(jq -r .request_id <<<"${out#200 }")
    assert_eq 200 "$(post /v1/feedback "{\"request_id\": \"$id\", \"label\": \"moderate\"}" | cut -d' ' -f1)" "pending correction $i"
done
assert_eq 1 "$(find "$FB/claims" -name '*.csv' | wc -l)" "files with 2 corrections pending"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
drover-serve --config "$T_DIR/serve.cfg" </dev/null >>"$T_DIR/serve.log" 2>&1 &
SERVE_PID=$!
t_track_pid "$SERVE_PID"
wait_for "drover-serve is ready after kill -9" 30 curl -sf "$URL/readyz"
mapfile -t files < <(find "$FB/claims" -name '*.csv' | sort)
assert_eq 2 "${#files[@]}" "files after the crash"
assert_eq "2|moderate moderate" "$(tail -n +2 "${files[1]}" | wc -l)|$(tail -n +2 "${files[1]}" | cut -d, -f5 | xargs)" \
    "rows and labels of the file written at restart"
assert_eq 409 "$(post /v1/feedback "{\"request_id\": \"$id\", \"label\": \"minor\"}" | cut -d' ' -f1)" \
    "a correction acknowledged before the crash is still the only one"
stop_pid drover-serve "$SERVE_PID" || fail "drover-serve exited $? on SIGTERM (a sanitizer report?)"
log "ok"
