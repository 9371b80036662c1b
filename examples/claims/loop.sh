#!/usr/bin/env bash
# examples/claims/loop.sh — the whole loop on the local cluster, the second
# phase of `make demo` (docs/serving.md, "The whole loop"):
#
#   train a pilot -> promote -> drover-serve scores claims -> adjusters
#   correct 600 of them -> a trigger on the feedback folder starts a retrain
#   on exactly those files -> McNemar gate -> approval -> promote -> the
#   server switches to the new version by itself
#
# Needs a running cluster (deploy/local/cluster.sh up) and DROVER_CONFIG
# pointing at its drover.cfg (make demo sets both). Each invocation works in
# a fresh folder examples/claims/data/loop/STAMP/ (under the cluster's
# trigger_roots) and registers the trigger "claims-loop-feedback" again.
#
# The data (drover-gen-claims --seed 7, small sizes, the same bytes on every
# machine): the first model is a pilot trained on 300 labelled claims; the
# adjusters' 600 reviewed labels triple the data, so the retrain is clearly
# better — on the 1000 test rows it is alone right on about 125 rows and the
# pilot alone on about 31 (McNemar p ~ 1e-14), and the gate (strictly
# better, alpha = 0.05) passes on its merits. tests/integration/test_loop.sh
# checks the same loop with a client hammering the server throughout.
#
# LOOP_APPROVE=ask stops at the approval prompt and prints the command;
# by default the script approves with a reviewer key and says so.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${DROVER_BIN:-$HERE/../../build/bin}
export PATH="$BIN:$PATH"
: "${DROVER_CONFIG:?set DROVER_CONFIG to the drover.cfg of the cluster (make demo does)}"
STATE=$(dirname "$DROVER_CONFIG")
KEYS="$STATE/keys"
W="$HERE/data/loop/$(date -u +%Y%m%d-%H%M%S)-$$"
MODEL=claims-loop
SERVE_PID=

if [[ -t 1 ]]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi
die() { echo "loop.sh: $*" >&2; exit 1; }
cleanup() { [[ -z "$SERVE_PID" ]] || { kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; }; }
trap cleanup EXIT
# wait_until SECONDS WHAT CMD...: polls CMD every 0.2 s until it succeeds.
wait_until() {
    local end=$((SECONDS + $1)) what="$2"
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || die "gave up waiting for $what after ${end}s"
        sleep 0.2
    done
}
# key NAME ROLE: a client key of the cluster, made and allowed once.
key() {
    [[ -f "$KEYS/$1" ]] || drover keygen --out "$KEYS/$1" >/dev/null
    drover keys list --json | jq -e --arg n "$1" 'any(.[]; .name == $n and (.revoked | not))' >/dev/null ||
        drover keys allow client "$KEYS/$1.pub" --role "$2" >/dev/null
}

mkdir -p "$W/feedback/$MODEL"
drover-gen-claims --seed 7 --out "$W/gen" --train 3000 --test 1000 --feedback 600 >/dev/null
head -301 "$W/gen/train.csv" >"$W/pilot.csv"
cp "$W/gen/test.csv" "$W/test.csv"
MLP='trainer = "mlp"; hidden = [64]; learning_rate = 0.003; epochs = 20; batch_size = 128;
    val_split = 0.1; patience = 3; seed = 42; gpu = "never";'

say "1. train a pilot model on 300 labelled claims and put it in production"
cat >"$W/pilot.cfg" <<CFG
workflow = "claims-loop-pilot";
steps = (
  { name = "train"; kind = "train"; dataset = "pilot.csv"; label = "damage"; model = "$MODEL"; $MLP },
  { name = "promote"; kind = "promote"; after = ["train"]; model = "@train"; stage = "production"; }
);
CFG
drover submit --wait "$W/pilot.cfg" >/dev/null
V1=$(drover models "$MODEL" --json | jq -r '[.[] | select(.stage == "production")][0].version')
echo "$MODEL:$V1 is in production"

say "2. drover-serve scores claims (a reader key of its own, a bearer token for the adjusters)"
key serve reader
key reviewer reader
out=$(drover keys grant reviewer approve "$MODEL" 2>&1) || [[ "$out" == *"already has approve"* ]] || die "$out"
TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
(umask 077 && printf 'adjuster %s\n' "$TOKEN" >"$W/tokens" && echo "$TOKEN" >"$W/token")
PORT=$(drover-test-freeport)
URL="http://127.0.0.1:$PORT"
COORD=$(awk -F'"' '/^cli/ { c = 1 } c && /coordinator =/ { print $2; exit }' "$DROVER_CONFIG")
cat >"$W/serve.cfg" <<CFG
serve = {
  listen = "127.0.0.1:$PORT";
  models = [ "$MODEL" ];
  coordinator = "$COORD";
  secret_key = "$KEYS/serve";
  coordinator_key = "$KEYS/coordinator.pub";
  artifact_dir = "$STATE/artifacts";
  tokens = "$W/tokens";
  log_dir = "$W/serve-log";
  feedback_dir = "$W/feedback";
  poll_interval = "200ms";
  feedback_rows = 200;
  feedback_flush = "1h";
};
CFG
drover-serve --config "$W/serve.cfg" </dev/null >>"$W/serve.log" 2>&1 &
SERVE_PID=$!
wait_until 30 "drover-serve (log: $W/serve.log)" curl -sf "$URL/readyz"
# The later batch of claims, scored in 6 requests of 100 rows.
B="$W/gen/feedback/batch-001.csv"
awk -F, -v pfx="$W/batch" '
    NR == 1 { n = split($0, h, ","); next }
    { row = "{"; for (j = 1; j < n; j++) row = row (j > 1 ? "," : "") "\"" h[j] "\":" $j
      rows[NR - 1] = row "}"; print $n >(pfx ".labels") }
    END { for (b = 0; b < 6; b++) {
              f = sprintf("%s.%d.json", pfx, b); body = "{\"rows\":["
              for (i = 1; i <= 100; i++) body = body (i > 1 ? "," : "") rows[b * 100 + i]
              print body "]}" >f; close(f) } }' "$B"
mapfile -t LABELS <"$W/batch.labels"
IDS=()
for b in 0 1 2 3 4 5; do
    curl -sf -H "Authorization: Bearer $TOKEN" --data-binary "@$W/batch.$b.json" \
        "$URL/v1/models/$MODEL/predict" >"$W/answer.$b.json"
    IDS+=("$(jq -r .request_id "$W/answer.$b.json")")
done
echo "600 claims scored by $MODEL:$V1; the first five of request ${IDS[0]}:"
jq -r '.predictions[:5][] | "  predicted \(.class)"' "$W/answer.0.json" |
    paste - <(printf '  (an adjuster says %s)\n' "${LABELS[@]:0:5}")

say "3. a trigger on the feedback folder, then the adjusters' corrections"
cat >"$W/feedback.cfg" <<CFG
workflow = "claims-loop-feedback";
trigger = { watch = "feedback/$MODEL"; min_new_rows = 600; };
steps = (
  # the pilot's rows plus exactly the files this run consumed
  { name = "merge"; kind = "exec"; cwd = ".";
    argv = ["sh", "-c", "out=\$1; shift; awk 'FNR > 1 || NR == 1' \"\$@\" >\"\$out.tmp\" && mv \"\$out.tmp\" \"\$out\"",
            "merge", "reviewed-\${run.id}.csv", "pilot.csv", "\${trigger.files}"]; },
  { name = "train"; kind = "train"; after = ["merge"]; dataset = "reviewed-\${run.id}.csv"; label = "damage";
    model = "$MODEL"; $MLP },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "test.csv"; label = "damage";
    model = "@train";
    gates = { better_than_production = { metric = "accuracy"; by = 0.0; alpha = 0.05; }; }; },
  { name = "review"; kind = "approve"; after = ["evaluate"]; model = "@train"; },
  { name = "promote"; kind = "promote"; after = ["review"]; model = "@train"; stage = "production"; }
);
CFG
drover submit "$W/feedback.cfg" >/dev/null
echo "registered: claims-loop-feedback runs when 600 corrected rows arrive in $W/feedback/$MODEL"
# The fifth claim of the first request (row 4), corrected by hand.
echo "one correction by hand (the fifth claim above):"
echo "  \$ drover feedback ${IDS[0]} ${LABELS[4]} --row 4 --by adjuster-1"
DROVER_SERVE_URL=$URL drover feedback "${IDS[0]}" "${LABELS[4]}" --row 4 --by adjuster-1 --token-file "$W/token" |
    sed 's/^/  /'
: >"$W/fb.curl"
for b in 0 1 2 3 4 5; do
    for i in $(seq 0 99); do
        ((b > 0 || i != 4)) || continue
        printf 'url = "%s/v1/feedback"\nheader = "Authorization: Bearer %s"\ndata-binary = "{\\"request_id\\": \\"%s\\", \\"row\\": %d, \\"label\\": \\"%s\\", \\"by\\": \\"adjuster-%d\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
            "$URL" "$TOKEN" "${IDS[b]}" "$i" "${LABELS[b * 100 + i]}" "$((i % 7 + 1))"
    done
done >"$W/fb.curl"
sed -i '$d' "$W/fb.curl"
curl -s -K "$W/fb.curl" >"$W/fb.codes"
[[ "$(sort -u "$W/fb.codes" | xargs)" == 200 ]] || die "some corrections were refused: $(sort "$W/fb.codes" | uniq -c | xargs)"
echo "and 599 more through POST /v1/feedback: $(ls "$W/feedback/$MODEL" | xargs)"

say "4. the triggered retrain: merge, train, evaluate against production (McNemar, alpha 0.05)"
RUN=
triggered() {
    RUN=$(drover runs --workflow claims-loop-feedback --json | jq -r 'max_by(.id) | .id // empty')
    [[ -n "$RUN" && "$(drover status "$RUN" --json | jq -r '.run.awaiting_approval or (.run.state != "running" and .run.state != "queued")')" == true ]]
}
wait_until 90 "the triggered run to reach its approval" triggered
drover report "$RUN" evaluate | sed -n '1,/^$/d; /^Confusion/q; p'
[[ "$(drover status "$RUN" --json | jq -r .run.awaiting_approval)" == true ]] ||
    { drover status "$RUN"; die "run $RUN did not reach the approval"; }

say "5. the approval prompt"
drover status "$RUN" | grep -E "awaiting approval|drover approve" | sed 's/^/  /'
if [[ "${LOOP_APPROVE:-auto}" == ask ]]; then
    echo "Approve it yourself (a key with an approve grant, or the admin key):"
    echo "  DROVER_KEY=$KEYS/reviewer drover approve $RUN review --reason 'checked the report'"
    echo "Then drover models $MODEL shows the new version in production; serve it with"
    echo "  drover-serve --config $W/serve.cfg   # (this script's server stops with it)"
    exit 0
fi
echo "approving as key 'reviewer' (a reader with an approve grant on $MODEL):"
echo "  \$ DROVER_KEY=$KEYS/reviewer drover approve $RUN review --reason 'beats the pilot, checked the report'"
DROVER_KEY="$KEYS/reviewer" drover approve "$RUN" review --reason "beats the pilot, checked the report" | sed 's/^/  /'
drover_state() { [[ "$(drover status "$RUN" --json | jq -r .run.state)" == succeeded ]]; }
wait_until 30 "run $RUN to succeed" drover_state

say "6. drover-serve switches to the new version by itself"
V2=$(drover models "$MODEL" --json | jq -r '[.[] | select(.stage == "production")][0].version')
serving_v2() { curl -sf -H "Authorization: Bearer $TOKEN" --data-binary "@$W/batch.0.json" \
    "$URL/v1/models/$MODEL/predict" | jq -e --argjson v "$V2" '.version == $v'; }
wait_until 30 "drover-serve to serve $MODEL:$V2" serving_v2
grep "now serving version $V2" "$W/serve.log" | sed 's/^/  /'
echo "$MODEL:$V2 answers now. The loop's files: $W"
