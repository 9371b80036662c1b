#!/usr/bin/env bash
# drover-web in a real browser (issue 15; docs/web.md): headless Chromium
# (Debian's chromium) driven over the DevTools protocol by
# tests/web/ui_test.mjs against a real cluster (PostgreSQL, coordinator,
# worker) and a real drover-web. The scenario: sign in with a token; watch
# a run go from running to succeeded on its DAG page without a reload; open
# a failed step's log; see a training curve and an evaluation report;
# approve a waiting model and see its stage change in the registry; a
# reader's token gets no approve button and a 403 from the API; a POST
# without the CSRF token, or from another origin, is refused. Screenshots
# of every page go to <build>/web-screenshots/ (the test's artifacts).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

[[ -x "$DROVER_BIN/drover-web" ]] || fail "$DROVER_BIN/drover-web is missing; build first"
command -v chromium >/dev/null || fail "chromium is missing (make deps installs it)"
command -v node >/dev/null || fail "node is missing (make deps installs nodejs)"

pg_start
coord_start
worker_start w1 4 --artifact-dir "$T_DIR/artifacts"
gate_init

K="$T_DIR/k"
mkdir -m 700 "$K"
# web: drover-web's own key (nothing without a person's token); rev: an
# approver (a reader with an approve grant); nog: a plain reader.
for kr in web:web rev:reader nog:reader; do
    drover keygen --out "$K/${kr%%:*}" >/dev/null || fail "keygen ${kr%%:*} exited $?"
    drover keys allow client "$K/${kr%%:*}.pub" --role "${kr#*:}" >/dev/null || fail "allow $kr exited $?"
done
drover keys grant rev approve 'claims*' >/dev/null || fail "grant rev approve"
TOK_REV=$(drover web-token create rev --ttl 1d) || fail "web-token create rev exited $?"
TOK_NOG=$(drover web-token create nog) || fail "web-token create nog exited $?"
[[ -n "$TOK_REV" && -n "$TOK_NOG" ]] || fail "web-token create printed no token"

WEB_PORT=$(freeport)
WEB="http://127.0.0.1:$WEB_PORT"
printf 'web = {\n  listen = "127.0.0.1:%s";\n  coordinator = "%s";\n  secret_key = "%s";\n  coordinator_key = "%s";\n};\n' \
    "$WEB_PORT" "$COORD_CLIENT_EP" "$K/web" "$T_KEYS/coordinator.pub" >"$T_DIR/web.cfg"
drover-web --config "$T_DIR/web.cfg" >"$T_DIR/web.log" 2>&1 &
t_track_pid $!
web_up() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "$WEB/api/me")" == 401 ]]; }
wait_for "drover-web answers" 20 web_up

# The page's security headers (the UI has no inline script, for this CSP).
hdr=$(curl -sfI "$WEB/") || fail "GET / failed"
grep -qi "^content-security-policy: default-src 'self'" <<<"$hdr" || fail "no CSP on /: $hdr"
grep -qi '^x-frame-options: DENY' <<<"$hdr" || fail "no X-Frame-Options on /: $hdr"
curl -sf "$WEB/vendor/uplot/uPlot.esm.js" -o "$T_DIR/uplot.js" || fail "the vendored uPlot is not served"
cmp -s "$T_DIR/uplot.js" "$T_REPO/web/ui/vendor/uplot/uPlot.esm.js" || fail "the served uPlot differs from web/ui/vendor"

# ----------------------------------------------------------------- runs ---
mkdir -p "$T_DIR/data"
gen_data "$T_DIR/data/train.csv" 600 1
gen_data "$T_DIR/data/test.csv" 300 2
cat >"$T_DIR/train.cfg" <<CFG
workflow = "claims-train";
steps = (
  { name = "check"; kind = "validate"; dataset = "data/train.csv"; label = "damage";
    checks = { min_rows = 100; max_missing = 0.0; }; },
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage"; model = "claims";
    trainer = "softmax"; learning_rate = 0.05; epochs = 8; batch_size = 32; val_split = 0.2; seed = 7; gpu = "never"; },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "data/test.csv"; label = "damage";
    model = "@train"; gates = { min = { accuracy = 0.9; }; }; }
);
CFG
RUN_TRAIN=$(submit "$T_DIR/train.cfg")
cat >"$T_DIR/fail.cfg" <<CFG
workflow = "fails";
steps = ( { name = "broken"; kind = "exec"; argv = ["/bin/sh", "-c", "echo loading; echo boom-marker >&2; exit 3"]; } );
CFG
RUN_FAIL=$(submit "$T_DIR/fail.cfg")
cat >"$T_DIR/hold.cfg" <<CFG
workflow = "held";
steps = (
  { name = "prep"; kind = "exec"; command = "true"; },
  { name = "hold"; kind = "exec"; after = ["prep"]; $(gate_cmd hold) },
  { name = "after"; kind = "exec"; after = ["hold"]; command = "true"; }
);
CFG
RUN_HOLD=$(submit "$T_DIR/hold.cfg")
assert_eq succeeded "$(wait_run "$RUN_TRAIN" 60)" "the train run"
# A model with a version in production, and a second version evaluated
# against it (the report's candidate vs production).
cat >"$T_DIR/rival.cfg" <<CFG
workflow = "rival";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage"; model = "rival";
    trainer = "softmax"; epochs = 2; seed = 3; gpu = "never"; checkpoint_every = "never"; },
  { name = "ship"; kind = "promote"; after = ["train"]; model = "@train"; stage = "production"; }
);
CFG
assert_eq succeeded "$(wait_run "$(submit "$T_DIR/rival.cfg")" 60)" "the run putting rival:1 in production"
sed -e 's/"claims-train"/"rival-eval"/' -e 's/model = "claims"/model = "rival"/' "$T_DIR/train.cfg" >"$T_DIR/rival2.cfg"
RUN_CMP=$(submit "$T_DIR/rival2.cfg")
assert_eq failed "$(wait_run "$RUN_FAIL" 30)" "the failing run"
# Two runs wait at an approve step on claims:1 (made by the train run): one
# for the approver, one for the reader to be refused.
review_cfg() { # FILE STAGE
    printf 'workflow = "claims-review";\nsteps = (\n  { name = "review"; kind = "approve"; model = "claims:1"; },\n  { name = "ship"; kind = "promote"; after = ["review"]; model = "claims:1"; stage = "%s"; }\n);\n' \
        "$2" >"$1"
}
review_cfg "$T_DIR/r1.cfg" production
review_cfg "$T_DIR/r2.cfg" archived
assert_eq succeeded "$(wait_run "$RUN_CMP" 60)" "rival:2 evaluated against production"
RUN_REVIEW=$(submit "$T_DIR/r1.cfg")
RUN_REVIEW2=$(submit "$T_DIR/r2.cfg")
awaiting() { drover runs | grep -E "^ *$1 " | grep -q "awaiting approval"; }
wait_for "run $RUN_REVIEW awaits approval" 30 awaiting "$RUN_REVIEW"
wait_for "run $RUN_REVIEW2 awaits approval" 30 awaiting "$RUN_REVIEW2"

# ------------------------------------------------ CSRF and Origin by curl ---
jar="$T_DIR/jar"
curl -s -D "$T_DIR/session.hdr" -o "$T_DIR/session.json" -c "$jar" -H 'Content-Type: application/json' \
    -d "{\"token\":\"$TOK_REV\"}" "$WEB/api/session" || fail "POST /api/session failed"
grep -qi '^set-cookie: drover_session=.*HttpOnly' "$T_DIR/session.hdr" || fail "session cookie: $(cat "$T_DIR/session.hdr")"
grep -qi 'SameSite=Strict' "$T_DIR/session.hdr" || fail "the session cookie is not SameSite=Strict"
csrf=$(jq -r .csrf "$T_DIR/session.json")
[[ -n "$csrf" && "$csrf" != null ]] || fail "no csrf in $(cat "$T_DIR/session.json")"
post_code() { # ARGS...: the status of a POST approve of RUN_REVIEW2 with the cookie
    curl -s -o "$T_DIR/post.out" -w '%{http_code}' -b "$jar" -H 'Content-Type: application/json' "$@" \
        -d '{"approve":true,"reason":"by curl"}' "$WEB/api/approvals/$RUN_REVIEW2/review"
}
assert_eq 403 "$(post_code)" "a POST without X-CSRF-Token"
grep -qi csrf "$T_DIR/post.out" || fail "the CSRF refusal says: $(cat "$T_DIR/post.out")"
assert_eq 403 "$(post_code -H "X-CSRF-Token: x$csrf")" "a POST with a wrong X-CSRF-Token"
assert_eq 403 "$(post_code -H "X-CSRF-Token: $csrf" -H 'Origin: http://evil.example')" "a POST from another origin"
awaiting "$RUN_REVIEW2" || fail "a refused POST changed run $RUN_REVIEW2"

# ------------------------------------------------------------ the browser ---
SHOTS="$(dirname "$DROVER_BIN")/web-screenshots"
rm -rf "$SHOTS" && mkdir -p "$SHOTS"
export WEB_URL="$WEB" TOK_REV TOK_NOG RUN_TRAIN RUN_CMP RUN_FAIL RUN_HOLD RUN_REVIEW RUN_REVIEW2 SHOTS GO_FILE="$T_DIR/go.hold"
RC=0
node "$T_REPO/tests/web/ui_test.mjs" >"$T_DIR/browser.log" 2>&1 || RC=$?
cat "$T_DIR/browser.log" >&2
assert_eq 0 "$RC" "exit status of the browser scenario (tests/web/ui_test.mjs)"
assert_eq succeeded "$(wait_run "$RUN_HOLD" 30)" "the held run"
assert_eq succeeded "$(wait_run "$RUN_REVIEW" 30)" "the approved run"
assert_eq production "$(sql "select stage from drover.model_versions where name = 'claims' and version = 1")" \
    "claims:1 after the approval in the browser"
awaiting "$RUN_REVIEW2" || fail "the reader's refused approval changed run $RUN_REVIEW2"
sql "select by || ' | ' || reason from drover.model_stage_changes where name = 'claims'" | grep -q "rev.*browser approval" ||
    fail "stage history: $(sql "select by, reason from drover.model_stage_changes where name = 'claims'")"
log "screenshots in $SHOTS: $(cd "$SHOTS" && ls | tr '\n' ' ')"
echo "PASS"
