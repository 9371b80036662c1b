#!/usr/bin/env bash
# drover-web's JSON API (issue 15; docs/http-api.md, docs/security.md) against
# a real cluster: PostgreSQL, coordinator, worker, drover-web, curl. Sign-in
# with web tokens; runs, a run's steps and its live event stream; approvals
# decided by the coordinator for the token's key (a reader without a grant
# gets 403, an approver's verdict is recorded "by key rev (web)"); CSRF and
# Origin checks; a revoked token and a revoked key end the session (401); an
# oversize body is refused; and the coordinator's rules for the web role
# spoken directly by a hostile but allow-listed peer: a web key without a
# token, with a forged one, and an ordinary key with a valid token are all
# refused. A real train and evaluate give the curve and the report. The
# OpenAPI file parses and names every route of web/http.c.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"
command -v curl >/dev/null || fail "curl is needed (make deps)"

SRC="$(cd "$(dirname "$0")/../.." && pwd)"
python3 -m json.tool "$SRC/docs/http-api.openapi.json" >/dev/null || fail "docs/http-api.openapi.json does not parse"
for r in $(grep -oE '\{"(GET|POST|DELETE)", "/api[^"]*"' "$SRC/web/http.c" | sed -E 's/.*"(\/api[^"]*)"/\1/' | sort -u); do
    jq -e --arg r "$r" '.paths | keys | map(gsub("\\{[^}]*\\}"; "*")) | index($r) != null' \
        "$SRC/docs/http-api.openapi.json" >/dev/null || fail "route $r is not in docs/http-api.openapi.json"
    grep -qF "$(sed -E 's/\*/{/; s/\{.*//' <<<"$r")" "$SRC/docs/http-api.md" || fail "route $r is not in docs/http-api.md"
done

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"
gate_init

K="$T_DIR/k"
mkdir -m 700 "$K"
mkkey() { # NAME ROLE
    drover keygen --out "$K/$1" >/dev/null || fail "keygen $1 exited $?"
    drover keys allow client "$K/$1.pub" --role "$2" >/dev/null || fail "allow $1 exited $?"
}
mkkey sub1 submitter # submits the runs
mkkey rev reader     # the reviewer: a reader with an approve grant
mkkey nog reader     # a reader, no grant
mkkey web web        # drover-web's own key
drover keys grant rev approve 'claims-*' >/dev/null || fail "grant rev approve"
drover keys list | grep -E '^web ' | grep -q ' web ' || fail "keys list shows no web role: $(drover keys list)"

# ------------------------------------------------------------ web tokens ---
TOK_REV=$(drover web-token create rev --ttl 1h) || fail "web-token create rev exited $?"
[[ "$TOK_REV" =~ ^drw_[0-9a-f]{64}$ ]] || fail "not a token: $TOK_REV"
TOK_NOG=$(drover web-token create nog) || fail "web-token create nog exited $?"
TOK_SUB=$(drover web-token create sub1 --ttl 2d) || fail "web-token create sub1 exited $?"
RC=0
drover web-token create web >/dev/null 2>&1 || RC=$?
assert_eq 2 "$RC" "a token for the web key itself"
RC=0
DROVER_KEY="$K/rev" drover web-token create rev >/dev/null 2>&1 || RC=$?
assert_eq 2 "$RC" "a reader making a token"
drover web-token list --json | jq -e 'length == 3 and all(.[]; .state == "valid") and
    (map(.token // empty) | length == 0)' >/dev/null || fail "web-token list: $(drover web-token list --json)"
assert_eq 3 "$(sql "select count(*) from drover.web_tokens where length(sha256) = 64")" "stored hashes"
assert_eq 1 "$(sql "select count(*) from drover.web_tokens where sha256 = encode(sha256('$TOK_REV'::bytea), 'hex')")" \
    "the coordinator stores sha256(token)"
drover web-token --help | grep -q "drover web-token create reviewer" || fail "web-token --help has no example"
ID_REV=$(drover web-token list --json | jq -r '.[] | select(.key == "rev") | .id')

# ------------------------------------------------- the protocol, hostile ---
poke() { # KEY JSON-BODY -> the reply's JSON
    drover-test-zmqpoke -q --proto client --key "$K/$1" --server-key "$T_KEYS/coordinator.pub" \
        --msg "{\"request_id\":7,$2}" --await 5000 "$COORD_CLIENT_EP" || fail "zmqpoke exited $?"
}
out=$(poke web '"runs":{"limit":1}')
jq -e '.error == "ERROR_FORBIDDEN"' <<<"$out" >/dev/null || fail "a web key without a token: $out"
jq -r .message <<<"$out" | grep -q "acts only for a signed-in person" || fail "message: $out"
out=$(poke web "\"web_token\":\"drw_$(printf '0%.0s' {1..64})\",\"runs\":{\"limit\":1}")
jq -e '.error == "ERROR_FORBIDDEN" and .web_token_invalid' <<<"$out" >/dev/null || fail "a forged token: $out"
out=$(poke web '"web_token":"not-a-token","whoami":{}')
jq -e '.error == "ERROR_FORBIDDEN" and .web_token_invalid' <<<"$out" >/dev/null || fail "a malformed token: $out"
out=$(poke nog "\"web_token\":\"$TOK_SUB\",\"whoami\":{}")
jq -e '.error == "ERROR_FORBIDDEN"' <<<"$out" >/dev/null || fail "an ordinary key with a valid token: $out"
jq -r .message <<<"$out" | grep -q "only a key of role web" || fail "message: $out"
out=$(poke web "\"web_token\":\"$TOK_REV\",\"whoami\":{}")
jq -e '.error == "ERROR_NONE" and (.json | fromjson | .key == "rev" and .role == "reader" and .approver and .web)' \
    <<<"$out" >/dev/null || fail "whoami through the web key: $out"
out=$(poke web "\"web_token\":\"$TOK_REV\",\"web_tokens\":{\"op\":\"create\",\"key\":\"rev\"}")
jq -e '.error == "ERROR_FORBIDDEN"' <<<"$out" >/dev/null || fail "a reader's token making tokens: $out"
# Not even an admin's token lets drover-web make or change credentials (a
# taken-over drover-web must not give itself access that outlives the
# tokens); an admin's reads go through.
mkkey adm admin
TOK_ADM=$(drover web-token create adm --ttl 1h) || fail "web-token create adm exited $?"
drover keygen --out "$K/x" >/dev/null || fail "keygen x"
PUB_X=$(sed -n 's/^public = "\(.*\)";$/\1/p' "$K/x.pub")
[[ ${#PUB_X} == 40 ]] || fail "no public key in $K/x.pub"
for body in "\"web_tokens\":{\"op\":\"create\",\"key\":\"adm\"}" \
    "\"web_tokens\":{\"op\":\"revoke\",\"id\":$ID_REV}" \
    "\"keys\":{\"op\":\"allow\",\"name\":\"x\",\"kind\":\"client\",\"role\":\"admin\",\"public_key\":\"$PUB_X\"}" \
    "\"keys\":{\"op\":\"grant\",\"name\":\"nog\",\"right\":\"approve\",\"pattern\":\"*\"}" \
    "\"keys\":{\"op\":\"revoke\",\"name\":\"rev\"}"; do
    out=$(poke web "\"web_token\":\"$TOK_ADM\",$body")
    jq -e '.error == "ERROR_FORBIDDEN" and (.message | contains("refused through drover-web"))' <<<"$out" \
        >/dev/null || fail "an admin's token through drover-web, $body: $out"
done
assert_eq 0 "$(sql "select count(*) from drover.keys where name = 'x'")" "a key allowed through drover-web"
assert_eq 0 "$(sql "select count(*) from drover.grants where key = 'nog'")" "a grant made through drover-web"
out=$(poke web "\"web_token\":\"$TOK_ADM\",\"web_tokens\":{\"op\":\"list\"}")
jq -e '.error == "ERROR_NONE" and (.json | fromjson | length == 4)' <<<"$out" >/dev/null ||
    fail "an admin's token listing tokens through drover-web: $out"

# ------------------------------------------------------------ drover-web ---
PORT=$(freeport)
cat >"$T_DIR/web.cfg" <<EOF2
web = {
  listen = "127.0.0.1:$PORT";
  coordinator = "$COORD_CLIENT_EP";
  secret_key = "$K/web";
  coordinator_key = "$T_KEYS/coordinator.pub";
  max_body = 16384;
  max_streams = 2;
  max_streams_per_person = 1;
};
EOF2
# A bad config file: file:line: message, exit 2, nothing served.
printf 'web = {\n  secret_key = "%s";\n  coordinator_key = "%s";\n  max_body = 99;\n};\n' \
    "$K/web" "$T_KEYS/coordinator.pub" >"$T_DIR/bad.cfg"
RC=0
out=$(drover-web --config "$T_DIR/bad.cfg" 2>&1) || RC=$?
assert_eq 2 "$RC" "drover-web with a bad config"
grep -q "bad.cfg:4: must be between 1024 and 1048576: web.max_body" <<<"$out" || fail "bad config said: $out"
printf 'web = { colour = "blue"; };\n' >"$T_DIR/bad.cfg"
RC=0
out=$(drover-web --config "$T_DIR/bad.cfg" 2>&1) || RC=$?
assert_eq 2 "$RC" "drover-web with an unknown setting"
grep -q "bad.cfg:1: unknown setting web.colour" <<<"$out" || fail "unknown setting said: $out"
drover-web --config "$T_DIR/web.cfg" >"$T_DIR/web.log" 2>&1 &
WEB_PID=$!
t_track_pid "$WEB_PID"
B="http://127.0.0.1:$PORT"
up() { curl -s -o /dev/null "$B/"; }
wait_for "drover-web serving" 10 up
hdrs=$(curl -s -D - -o /dev/null "$B/")
grep -qi "^Content-Security-Policy: default-src 'self'" <<<"$hdrs" || fail "no CSP: $hdrs"
grep -qi "^X-Frame-Options: DENY" <<<"$hdrs" || fail "no X-Frame-Options: $hdrs"
grep -qi "^X-Content-Type-Options: nosniff" <<<"$hdrs" || fail "no nosniff: $hdrs"
grep -qi "^Referrer-Policy: same-origin" <<<"$hdrs" || fail "no Referrer-Policy: $hdrs"
grep -qi "^Content-Type: text/html" <<<"$hdrs" || fail "index is not html: $hdrs"

# code METHOD PATH [curl args...]: prints the HTTP status; the body lands in $T_DIR/body
code() {
    local m="$1" p="$2"
    shift 2
    curl -s -o "$T_DIR/body" -w '%{http_code}' -X "$m" "$@" "$B$p"
}
body() { cat "$T_DIR/body"; }
signin() { # JAR TOKEN -> status; the csrf token in $T_DIR/JAR.csrf
    local st
    st=$(code POST /api/session -c "$T_DIR/$1" -H 'Content-Type: application/json' -d "{\"token\":\"$2\"}")
    jq -r '.csrf // empty' "$T_DIR/body" >"$T_DIR/$1.csrf"
    echo "$st"
}
assert_eq 401 "$(code GET /api/me)" "/api/me without a session"
assert_eq 401 "$(signin bad "drw_$(printf 'f%.0s' {1..64})")" "sign-in with a forged token"
assert_eq 401 "$(signin bad not-a-token)" "sign-in with a malformed token"
assert_eq 400 "$(code POST /api/session -H 'Content-Type: application/json' -d '{"tok":1}')" "sign-in without a token"
assert_eq 400 "$(code POST /api/session -H 'Content-Type: text/plain' -d "{\"token\":\"$TOK_REV\"}")" \
    "sign-in without a JSON content type"
assert_eq 403 "$(code POST /api/session -H 'Content-Type: application/json' -H 'Origin: http://evil.example' \
    -d "{\"token\":\"$TOK_REV\"}")" "sign-in from another origin"
assert_eq 200 "$(signin rev "$TOK_REV")" "sign-in as rev"
body | jq -e '.user == "rev" and .role == "reader" and .approver == true and (.csrf | length == 64)' >/dev/null ||
    fail "sign-in answer: $(body)"
grep -q "drover_session" "$T_DIR/rev" || fail "no session cookie"
hdrs=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "{\"token\":\"$TOK_NOG\"}" "$B/api/session")
grep -i '^Set-Cookie: drover_session=' <<<"$hdrs" | grep -i 'HttpOnly' | grep -qi 'SameSite=Strict' ||
    fail "cookie attributes: $hdrs"
assert_eq 200 "$(signin nog "$TOK_NOG")" "sign-in as nog"
assert_eq 200 "$(signin sub "$TOK_SUB")" "sign-in as sub1"
CSRF_REV=$(cat "$T_DIR/rev.csrf") CSRF_NOG=$(cat "$T_DIR/nog.csrf")
assert_eq 200 "$(code GET /api/me -b "$T_DIR/rev")" "/api/me as rev"
body | jq -e --arg c "$CSRF_REV" '.user == "rev" and .csrf == $c and .approver' >/dev/null || fail "/api/me: $(body)"
assert_eq 200 "$(code GET /api/me -b "$T_DIR/nog")" "/api/me as nog"
body | jq -e '.user == "nog" and .approver == false' >/dev/null || fail "/api/me nog: $(body)"

# --------------------------------------------------------- runs and SSE ---
sql "insert into drover.model_versions (name, version, model_kind, artifact)
     values ('claims-a', 1, 'softmax', repeat('ab', 32))" >/dev/null || fail "cannot insert claims-a:1"
cat >"$T_DIR/a.cfg" <<EOF2
workflow = "web-a";
steps = (
  { name = "prep"; kind = "exec"; command = "echo prepared; echo oops >&2"; },
  { name = "review"; kind = "approve"; after = ["prep"]; model = "claims-a:1"; }
);
EOF2
run=$(DROVER_KEY="$K/sub1" drover submit "$T_DIR/a.cfg") || fail "submit exited $?"
cat >"$T_DIR/b.cfg" <<EOF2
workflow = "web-b";
steps = (
  { name = "gated"; kind = "exec"; $(gate_cmd b) },
  { name = "after"; kind = "exec"; command = "true"; after = ["gated"]; }
);
EOF2
runb=$(DROVER_KEY="$K/sub1" drover submit "$T_DIR/b.cfg") || fail "submit b exited $?"
assert_eq 200 "$(code GET '/api/runs?limit=10' -b "$T_DIR/nog")" "/api/runs"
body | jq -e --argjson a "$run" --argjson b "$runb" '[.runs[].id] | index($a) != null and index($b) != null' \
    >/dev/null || fail "/api/runs: $(body)"
body | jq -e --argjson a "$run" '.runs[] | select(.id == $a) | .workflow == "web-a" and
    (.submitted_by | startswith("sub1")) and .steps_total == 2 and (.submitted_at | test("^20..-..-..T..:..:..\\.[0-9]{3}Z$"))' \
    >/dev/null || fail "/api/runs row: $(body)"
assert_eq 200 "$(code GET '/api/runs?workflow=web-b' -b "$T_DIR/nog")" "/api/runs?workflow="
body | jq -e --argjson b "$runb" '(.runs | length == 1) and .runs[0].id == $b' >/dev/null || fail "workflow filter: $(body)"
assert_eq 200 "$(code GET "/api/runs?limit=1&before=$runb" -b "$T_DIR/nog")" "/api/runs?before="
body | jq -e --argjson a "$run" '.runs[0].id == $a and .next_before == $a' >/dev/null || fail "paging: $(body)"
assert_eq 400 "$(code GET '/api/runs?state=bogus' -b "$T_DIR/nog")" "a bad state filter"
# A run a schedule started: the schedule filter, the schedules page with due times.
cat >"$T_DIR/s.cfg" <<EOF2
workflow = "web-s";
schedule = { cron = "0 3 * * *"; timezone = "UTC"; catchup = "none"; };
steps = ( { name = "one"; kind = "exec"; command = "true"; } );
EOF2
DROVER_KEY="$K/sub1" drover submit "$T_DIR/s.cfg" >/dev/null || fail "register schedule exited $?"
out=$(DROVER_KEY="$K/sub1" drover schedule trigger web-s) || fail "schedule trigger exited $?"
runs_=$(grep -oE 'run [0-9]+' <<<"$out" | grep -oE '[0-9]+') || fail "schedule trigger printed '$out'"
assert_eq 200 "$(code GET '/api/runs?schedule=web-s' -b "$T_DIR/nog")" "/api/runs?schedule="
body | jq -e --argjson s "$runs_" '(.runs | length == 1) and .runs[0].id == $s and .runs[0].schedule == "web-s"' \
    >/dev/null || fail "schedule filter: $(body)"
assert_eq 200 "$(code GET /api/schedules -b "$T_DIR/nog")" "/api/schedules"
body | jq -e '.schedules[] | select(.name == "web-s") | (.next_due | length == 5) and
    (.next_due[0] | test("T03:00:00.000Z$"))' >/dev/null || fail "schedules: $(body)"

running() { code GET "/api/runs/$runb" -b "$T_DIR/nog" >/dev/null && body | jq -e '.steps[] | select(.name == "gated") | .state == "running"' >/dev/null; }
wait_for "step gated running" 30 running
code GET /api/workers -b "$T_DIR/nog" >/dev/null
body | jq -e --argjson b "$runb" '.workers[0].tasks | any(.run_id == $b and .step == "gated" and .attempt == 1)' \
    >/dev/null || fail "a worker's running tasks: $(body)"
assert_eq 200 "$(code GET "/api/runs/$runb" -b "$T_DIR/nog")" "/api/runs/ID"
body | jq -e '.run.state == "running" and (.steps | length == 2) and
    (.steps[] | select(.name == "after") | .deps == ["gated"] and .state == "pending") and
    (.steps[] | select(.name == "gated") | .worker == "w1" and .attempt == 1)' >/dev/null || fail "run detail: $(body)"
assert_eq 404 "$(code GET /api/runs/999999 -b "$T_DIR/nog")" "an unknown run"
assert_eq 404 "$(code GET /api/runs/999999/events -b "$T_DIR/nog")" "the stream of an unknown run"
assert_eq 401 "$(code GET "/api/runs/$runb/events")" "a stream without a session"

# The live stream: the current document at once, then the change, then end.
curl -s -N --max-time 60 -b "$T_DIR/nog" "$B/api/runs/$runb/events" >"$T_DIR/sse" 2>/dev/null &
SSE_PID=$!
t_track_pid "$SSE_PID"
first_event() { grep -q '^event: run' "$T_DIR/sse"; }
wait_for "the first run event" 15 first_event
# web.max_streams_per_person = 1: nog's second stream is refused.
assert_eq 503 "$(code GET "/api/runs/$runb/events" -b "$T_DIR/nog" --max-time 10)" "a stream over max_streams_per_person"
grep -q "max_streams_per_person" "$T_DIR/body" || fail "max_streams_per_person said: $(body)"
# web.max_streams = 2: a second stream (rev's) opens, a third is refused.
curl -s -N --max-time 60 -b "$T_DIR/rev" "$B/api/runs/$runb/events" >"$T_DIR/sse_b" 2>/dev/null &
SSE_B_PID=$!
t_track_pid "$SSE_B_PID"
second() { grep -q '^event: run' "$T_DIR/sse_b"; }
wait_for "a second stream" 15 second
assert_eq 503 "$(code GET "/api/runs/$runb/events" -b "$T_DIR/sub" --max-time 10)" "a stream over web.max_streams"
grep -q "too many live streams" "$T_DIR/body" || fail "max_streams said: $(body)"
# A browser that goes away mid long-poll: its stream ends within seconds (not
# at the next keepalive, 15 s on), so its slot is free again; pages keep
# answering meanwhile. Each wait_for round also asks /api/me.
streams() { curl -s "$B/api/health" | jq -r '.streams'; }
assert_eq 2 "$(streams)" "/api/health's count of open streams"
kill "$SSE_B_PID"
me_ok_streams() { # N: N streams are open; an /api/me that is not 200 is noted
    local st
    st=$(code GET /api/me -b "$T_DIR/nog" --max-time 5)
    [[ "$st" == 200 ]] || echo "$st" >>"$T_DIR/me_bad"
    [[ "$(streams)" == "$1" ]]
}
wait_for "the closed run stream to end" 6 me_ok_streams 1
curl -s -N --max-time 60 -b "$T_DIR/rev" "$B/api/runs/$runb/events" >"$T_DIR/sse_c" 2>/dev/null &
SSE_C_PID=$!
t_track_pid "$SSE_C_PID"
third() { grep -q '^event: run' "$T_DIR/sse_c"; }
wait_for "a stream in the freed slot" 15 third
kill "$SSE_C_PID"
wait_for "that stream to end too" 6 me_ok_streams 1
[[ ! -s "$T_DIR/me_bad" ]] || fail "/api/me while streams died: $(cat "$T_DIR/me_bad")"
gate_open b
ended() { grep -q '^event: end' "$T_DIR/sse"; }
wait_for "the stream's end event" 30 ended
grep '^data: ' "$T_DIR/sse" | sed 's/^data: //' | grep -v '^{}$' | tail -1 |
    jq -e '.run.state == "succeeded" and all(.steps[]; .state == "succeeded")' >/dev/null ||
    fail "the last run event: $(tail -5 "$T_DIR/sse")"
[[ $(grep -c '^event: run' "$T_DIR/sse") -ge 2 ]] || fail "one run event only: $(cat "$T_DIR/sse")"
curl -s -N --max-time 3 -b "$T_DIR/nog" "$B/api/runs/events" >"$T_DIR/sse2" 2>/dev/null || true
grep -q '^event: runs' "$T_DIR/sse2" || fail "runs stream: $(cat "$T_DIR/sse2")"
# Runs streams (polling every 500 ms) closed by their browsers end within
# seconds too, and hold no socket of the pool the pages use.
wait_for "the streams before to end" 6 me_ok_streams 0
jars=(nog rev)
for i in 1 2; do
    curl -s -N --max-time 60 -b "$T_DIR/${jars[$((i - 1))]}" "$B/api/runs/events" >"$T_DIR/rs$i" 2>/dev/null &
    eval "RS${i}_PID=\$!"
    t_track_pid "$!"
done
runs_open() { grep -q '^event: runs' "$T_DIR/rs1" && grep -q '^event: runs' "$T_DIR/rs2"; }
wait_for "two runs streams" 15 runs_open
wait_for "two runs streams counted" 10 me_ok_streams 2
kill "$RS1_PID" "$RS2_PID"
wait_for "the closed runs streams to end" 6 me_ok_streams 0
[[ ! -s "$T_DIR/me_bad" ]] || fail "/api/me while streams died: $(cat "$T_DIR/me_bad")"

# ------------------------------------------------------ logs and steps ---
assert_eq 200 "$(code GET "/api/runs/$run/steps/prep/logs?offset=0" -b "$T_DIR/nog")" "logs"
body | jq -e '(.data | contains("prepared")) and (.stderr | contains("oops")) and .next_offset > 0' >/dev/null ||
    fail "logs: $(body)"
assert_eq 404 "$(code GET "/api/runs/$run/steps/nosuch/logs" -b "$T_DIR/nog")" "logs of no step"
assert_eq 200 "$(code GET "/api/runs/$run/steps/prep/metrics" -b "$T_DIR/nog")" "metrics"
body | jq -e '.metrics == []' >/dev/null || fail "metrics: $(body)"
assert_eq 404 "$(code GET "/api/runs/$run/steps/prep/report" -b "$T_DIR/nog")" "no report"
for p in /api/models /api/models/claims-a /api/workers /api/queues /api/schedules /api/approvals; do
    assert_eq 200 "$(code GET "$p" -b "$T_DIR/nog")" "GET $p"
done
code GET /api/models/claims-a -b "$T_DIR/nog" >/dev/null
body | jq -e '.versions[0].version == 1 and .versions[0].stage != null and (.versions[0].history | type == "array")' \
    >/dev/null || fail "/api/models/claims-a: $(body)"
assert_eq 200 "$(code GET /api/models/claims-a/1/curve -b "$T_DIR/nog")" "curve"
body | jq -e '.series == []' >/dev/null || fail "curve: $(body)"
code GET /api/workers -b "$T_DIR/nog" >/dev/null
body | jq -e '.workers[0].name == "w1" and .workers[0].slots == 2 and (.workers[0].tasks | type == "array")' \
    >/dev/null || fail "/api/workers: $(body)"

# ----------------------------------------- a real training: curve, report ---
mkdir -p "$T_DIR/ml/data"
gen_data "$T_DIR/ml/data/train.csv" 600 1
gen_data "$T_DIR/ml/data/test.csv" 150 2
cat >"$T_DIR/ml/t.cfg" <<EOF2
workflow = "web-train";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage";
    model = "claims-t"; epochs = 3; learning_rate = 0.05; batch_size = 32; gpu = "never"; },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "data/test.csv";
    label = "damage"; model = "@train"; gates = { min = { accuracy = 0.5; }; }; }
);
EOF2
runt=$(DROVER_KEY="$K/sub1" drover submit "$T_DIR/ml/t.cfg") || fail "submit train exited $?"
assert_eq succeeded "$(wait_run "$runt" 90)" "the training run"
assert_eq 200 "$(code GET "/api/runs/$runt/steps/train/metrics" -b "$T_DIR/nog")" "train metrics"
body | jq -e '[.metrics[] | select(.name == "train_loss")] | length == 3' >/dev/null || fail "train metrics: $(body)"
assert_eq 200 "$(code GET /api/models/claims-t/1/curve -b "$T_DIR/nog")" "the curve"
body | jq -e --argjson r "$runt" '.run_id == $r and .step == "train" and
    (.series[] | select(.name == "train_loss") | .points | length == 3 and .[0][0] == 1 and .[2][0] == 3)' >/dev/null ||
    fail "curve: $(body)"
assert_eq 200 "$(code GET "/api/runs/$runt/steps/evaluate/report" -b "$T_DIR/nog")" "the report"
body | jq -e '.kind == "evaluate" and .passed and .metrics.accuracy > 0.5 and
    (.confusion.classes == ["minor", "moderate", "severe"]) and (.confusion.matrix | length == 3) and
    (.gates[0].expr | startswith("min")) and .gates[0].passed and .production == null' >/dev/null ||
    fail "report: $(body)"
assert_eq 200 "$(code GET /api/models/claims-t -b "$T_DIR/nog")" "the model"
body | jq -e --argjson r "$runt" '.versions[0].run_id == $r and (.versions[0].datasets[0].sha256 | length == 64)' \
    >/dev/null || fail "model lineage: $(body)"

# ------------------------------------------------------------ approvals ---
awaiting() { code GET /api/approvals -b "$T_DIR/rev" >/dev/null && body | jq -e --argjson r "$run" \
    '.approvals[] | select(.run_id == $r and .step == "review")' >/dev/null; }
wait_for "run $run awaits approval" 30 awaiting
body | jq -e --argjson r "$run" '.approvals[] | select(.run_id == $r) | .can_approve and .model == "claims-a" and
    .version == 1 and .workflow == "web-a" and (.waiting_since | endswith("Z"))' >/dev/null || fail "approvals: $(body)"
code GET /api/approvals -b "$T_DIR/nog" >/dev/null
body | jq -e --argjson r "$run" '.approvals[] | select(.run_id == $r) | .can_approve == false' >/dev/null ||
    fail "approvals for nog: $(body)"
# What the page hides from a reader (the approve button) the coordinator
# refuses too: nog's token approving over ZeroMQ, and the run still waits.
out=$(poke web "\"web_token\":\"$TOK_NOG\",\"approve\":{\"run_id\":$run,\"step\":\"review\",\"approve\":true,\"reason\":\"x\"}")
jq -e '.error == "ERROR_FORBIDDEN"' <<<"$out" >/dev/null || fail "a reader's token approving over ZeroMQ: $out"
out=$(poke web "\"web_token\":\"$TOK_NOG\",\"approvals\":{}")
jq -e --argjson r "$run" '.error == "ERROR_NONE" and (.json | fromjson | .[] | select(.run_id == $r) |
    .can_approve == false)' <<<"$out" >/dev/null || fail "approvals for nog's token over ZeroMQ: $out"
awaiting || fail "run $run no longer awaits approval after a refused verdict"
A="/api/approvals/$run/review"
J='{"approve":true,"reason":"checked on the web"}'
assert_eq 403 "$(code POST "$A" -b "$T_DIR/rev" -H 'Content-Type: application/json' -d "$J")" "a CSRF-less POST"
grep -q "CSRF token missing or wrong" "$T_DIR/body" || fail "CSRF message: $(body)"
assert_eq 403 "$(code POST "$A" -b "$T_DIR/rev" -H "X-CSRF-Token: $CSRF_NOG" -d "$J")" "another session's CSRF token"
assert_eq 403 "$(code POST "$A" -b "$T_DIR/rev" -H "X-CSRF-Token: $CSRF_REV" -H 'Origin: http://evil.example' -d "$J")" \
    "a POST from another origin"
assert_eq 403 "$(code POST "$A" -b "$T_DIR/nog" -H "X-CSRF-Token: $CSRF_NOG" -d "$J")" "a reader without a grant approving"
grep -q "may not approve" "$T_DIR/body" || fail "nog's 403: $(body)"
big=$(head -c 20000 /dev/zero | tr '\0' x)
assert_eq 413 "$(code POST "$A" -b "$T_DIR/rev" -H "X-CSRF-Token: $CSRF_REV" -d "{\"approve\":true,\"reason\":\"$big\"}")" \
    "an oversize body"
head -c 40000 /dev/zero | tr '\0' x >"$T_DIR/big.body"
# Without a declared length the body is cut where it passes the limit: the
# answer is 413, unless curl is still sending when the connection closes.
st=$(code POST "$A" -b "$T_DIR/rev" -H "X-CSRF-Token: $CSRF_REV" -H 'Transfer-Encoding: chunked' \
    --data-binary @"$T_DIR/big.body") || true
log "an oversize chunked body: HTTP $st"
[[ "$st" == 413 || "$st" == 000 ]] || fail "an oversize chunked body: $st $(body)"
assert_eq 200 "$(code GET /api/me -b "$T_DIR/rev")" "serving after an oversize chunked body"
assert_eq 400 "$(code POST "$A" -b "$T_DIR/rev" -H "X-CSRF-Token: $CSRF_REV" -d '{"approve":"yes"}')" "a malformed verdict"
assert_eq 200 "$(code POST "$A" -b "$T_DIR/rev" -H "X-CSRF-Token: $CSRF_REV" -H "Origin: $B" -d "$J")" "rev approves"
body | jq -e '.result | contains("approved")' >/dev/null || fail "approve answer: $(body)"
assert_eq 409 "$(code POST "$A" -b "$T_DIR/rev" -H "X-CSRF-Token: $CSRF_REV" -d "$J")" "a second verdict"
assert_eq succeeded "$(wait_run "$run" 30)" "the approved run"
sql "select by from drover.model_stage_changes where name = 'claims-a'" | grep -qx "key rev (web)" ||
    fail "stage history: $(sql "select by, reason from drover.model_stage_changes where name = 'claims-a'")"
sql "select actor || ' ' || detail from drover.audit where run_id = $run" |
    grep -q "^rev approve run $run step review (model claims-a:1) via web: checked on the web" ||
    fail "audit: $(sql "select actor, detail from drover.audit where run_id = $run")"

# ------------------------------------------------------ ending sessions ---
assert_eq 200 "$(code DELETE /api/session -b "$T_DIR/nog" -H "X-CSRF-Token: $CSRF_NOG")" "sign-out"
assert_eq 401 "$(code GET /api/me -b "$T_DIR/nog")" "after sign-out"
drover web-token revoke "$ID_REV" >/dev/null || fail "web-token revoke exited $?"
assert_eq 401 "$(code GET /api/me -b "$T_DIR/rev")" "a revoked token"
assert_eq 401 "$(code GET /api/runs -b "$T_DIR/rev")" "a revoked token's session is gone"
assert_eq 401 "$(signin rev2 "$TOK_REV")" "signing in again with a revoked token"
# An expired token (made over the wire with a one-second life) no longer signs in.
tok=$(admin_poke --msg '{"request_id":9,"web_tokens":{"op":"create","key":"nog","ttl_s":1}}' --await 5000 |
    jq -r '.json | fromjson | .token') || fail "a one-second token"
[[ "$tok" =~ ^drw_ ]] || fail "no one-second token: $tok"
expired() { [[ "$(signin exp "$tok")" == 401 ]]; }
wait_for "the one-second token expires" 10 expired
# At most 50 valid tokens for one key (the expired one counts no more):
# nog has one, 49 more are made, the next is refused until one is revoked.
mk_nog() { admin_poke --msg '{"request_id":9,"web_tokens":{"op":"create","key":"nog"}}' --await 5000; }
for i in $(seq 49); do
    mk_nog | jq -e '.error == "ERROR_NONE"' >/dev/null || fail "nog's token $((i + 1)) of 50 was refused"
done
out=$(mk_nog)
jq -e '.error == "ERROR_CONFLICT" and (.message | contains("the most for one key"))' <<<"$out" >/dev/null ||
    fail "a 51st valid token for nog: $out"
drover web-token revoke "$(drover web-token list --json | jq -r '[.[] | select(.key == "nog" and .state == "valid")][0].id')" \
    >/dev/null || fail "revoke one of nog's tokens"
mk_nog | jq -e '.error == "ERROR_NONE"' >/dev/null || fail "a token for nog after a revoke"
TTL_OVER=$((367 * 86400))
admin_poke --msg "{\"request_id\":9,\"web_tokens\":{\"op\":\"create\",\"key\":\"nog\",\"ttl_s\":$TTL_OVER}}" --await 5000 |
    jq -e '.error == "ERROR_BAD_REQUEST"' >/dev/null || fail "a token living over 366 days"
drover keys revoke sub1 >/dev/null || fail "keys revoke sub1"
assert_eq 401 "$(code GET /api/me -b "$T_DIR/sub")" "a revoked key's token"
drover web-token list --json | jq -e --argjson i "$ID_REV" '.[] | select(.id == $i) | .state == "revoked"' \
    >/dev/null || fail "list after revoke: $(drover web-token list --json)"

# The server kept serving through all of it, and stops cleanly (under
# ASan, its leak check runs at this exit).
assert_eq 200 "$(code GET / )" "the page after everything"
stop_pid drover-web "$WEB_PID" || fail "drover-web exited $? on SIGTERM (expected 0)"
log "ok"
