#!/usr/bin/env bash
# Human approval (issue 11; docs/workflows.md "approve"): an approve step puts
# its run in `awaiting approval` (runs, status, why) until a key with an
# approve grant (or an admin) says `drover approve` or `drover reject`, with a
# reason; the step's timeout ends it rejected. Every rule is the
# coordinator's, checked here by speaking the protocol directly as a hostile
# but allow-listed client: no grant, the wrong grant, one's own run, a step
# that is not an approve step, no or an over-long reason, a second verdict, a
# finished run. The wait survives a kill -9 of the coordinator. Who and why
# land in the audit trail and the model's stage history.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"

pg_start
coord_start
worker_start w1 2 --artifact-dir "$T_DIR/artifacts"

K="$T_DIR/k"
mkdir -m 700 "$K"
mkkey() { # NAME ROLE
    drover keygen --out "$K/$1" >/dev/null || fail "keygen $1 exited $?"
    drover keys allow client "$K/$1.pub" --role "$2" >/dev/null || fail "allow $1 exited $?"
}
mkkey sub1 submitter   # submits the runs; may also approve claims-* (but not its own runs)
mkkey rev reader       # the reviewer: a reader with an approve grant
mkkey nog reader       # no grant at all
mkkey wrong submitter  # a grant on other models only
drover keys grant sub1 promote 'claims-*' >/dev/null || fail "grant sub1 promote"
drover keys grant sub1 approve 'claims-*' >/dev/null || fail "grant sub1 approve"
drover keys grant rev approve 'claims-*' >/dev/null || fail "grant rev approve"
drover keys grant wrong approve 'other-*' >/dev/null || fail "grant wrong approve"
drover keys list | grep -E '^rev ' | grep -q "approve claims-\*" || fail "keys list: $(drover keys list)"

as() {
    local key="$1"
    shift
    DROVER_KEY="$K/$key" drover "$@"
}
# poke KEY JSON-BODY: one ClientRequest from KEY; prints the reply's JSON.
poke() {
    drover-test-zmqpoke -q --proto client --key "$K/$1" --server-key "$T_KEYS/coordinator.pub" \
        --msg "{\"request_id\":7,$2}" --await 5000 "$COORD_CLIENT_EP" || fail "zmqpoke exited $?"
}
# expect_error KEY BODY CODE TEXT: the reply is error CODE and its message holds TEXT.
expect_error() {
    local out
    out=$(poke "$1" "$2")
    jq -e --arg c "$3" '.error == $c' <<<"$out" >/dev/null || fail "expected $3 for $1 $2: $out"
    jq -r .message <<<"$out" | grep -q -- "$4" || fail "expected '$4' in the message: $out"
}
approve_body() { # RUN STEP APPROVE(true|false) REASON
    printf '"approve":{"run_id":%s,"step":"%s","approve":%s,"reason":"%s","by":"test@host"}' \
        "$1" "$2" "$3" "$4"
}

sql "insert into drover.model_versions (name, version, model_kind, artifact)
     values ('claims-a', 1, 'softmax', repeat('ab', 32))" >/dev/null || fail "cannot insert claims-a:1"

# The run waits at 'review'; 'hold' keeps it active until the test says so.
cat >"$T_DIR/a.cfg" <<EOF
workflow = "approve-a";
steps = (
  { name = "prep"; kind = "exec"; command = "true"; },
  { name = "review"; kind = "approve"; after = ["prep"]; model = "claims-a:1"; },
  { name = "ship"; kind = "promote"; after = ["review"]; model = "claims-a:1"; stage = "production"; },
  { name = "hold"; kind = "exec"; argv = ["/bin/sh", "-c", "while [ ! -f $T_DIR/go ]; do sleep 0.05; done"]; }
);
EOF
run=$(as sub1 submit "$T_DIR/a.cfg") || fail "sub1 submit exited $?"
awaiting() { drover runs | grep -E "^ *$run " | grep -q "awaiting approval"; }
wait_for "run $run awaits approval" 30 awaiting
drover status "$run" | grep -E '^ *review ' | grep -q "awaiting approval" || fail "status: $(drover status "$run")"
drover status "$run" | grep -q "drover approve $run review" || fail "status hint: $(drover status "$run")"
drover why "$run" review | grep -q "awaiting approval" || fail "why: $(drover why "$run" review)"
drover status "$run" --json | jq -e '.run.awaiting_approval and (.tasks[] | select(.name == "review") | .awaiting_approval)' \
    >/dev/null || fail "status --json: $(drover status "$run" --json)"
assert_eq 1 "$(sql "select count(*) from drover.events where run_id = $run and kind = 'awaiting_approval'")" \
    "awaiting_approval events"
sql "select detail from drover.events where run_id = $run and kind = 'awaiting_approval'" | grep -q "claims-a:1" ||
    fail "the event names no model version"
drover approve --help | grep -q "drover report RUN EVALUATE-STEP" || fail "approve --help does not point at drover report"

# ---------------------------------------------- the rules, hostile client ---
expect_error nog "$(approve_body "$run" review true "fine")" ERROR_FORBIDDEN "may not approve steps about model 'claims-a'"
expect_error wrong "$(approve_body "$run" review true "fine")" ERROR_FORBIDDEN "keys grant wrong approve"
expect_error sub1 "$(approve_body "$run" review true "fine")" ERROR_FORBIDDEN "may not approve it itself"
expect_error rev "$(approve_body "$run" prep true "fine")" ERROR_BAD_REQUEST "not an approve step"
expect_error rev "$(approve_body "$run" nosuch true "fine")" ERROR_NOT_FOUND "has no step 'nosuch'"
expect_error rev "$(approve_body "$run" review true "")" ERROR_BAD_REQUEST "needs --reason"
expect_error rev "$(approve_body "$run" review true "$(printf 'r%.0s' {1..1001})")" ERROR_BAD_REQUEST "this one is longer"
expect_error rev "$(approve_body 999999 review true "fine")" ERROR_NOT_FOUND "no run 999999"
# A worker key is not a client at all: refused at the handshake (no reply)
# or, were it let in, refused by role.
out=$(drover-test-zmqpoke -q --proto client --key "$T_KEYS/worker" --server-key "$T_KEYS/coordinator.pub" \
    --msg "{\"request_id\":7,$(approve_body "$run" review true fine)}" --await 2000 "$COORD_CLIENT_EP" 2>/dev/null || true)
[[ -z "$out" ]] || jq -e '.error == "ERROR_FORBIDDEN"' <<<"$out" >/dev/null || fail "a worker key approving: $out"
RC=0
as rev approve "$run" review >/dev/null 2>&1 || RC=$?
assert_eq 2 "$RC" "exit status of drover approve without --reason"
assert_eq t "$(sql "select state = 'running' from drover.tasks where run_id = $run and name = 'review'")" \
    "the step still waits after the refused verdicts"

# ---------------------------------------------------- durable across kill -9 ---
coord_kill9
coord_start
wait_for "run $run awaits approval after a restart" 30 awaiting

out=$(as rev approve "$run" review --reason "macro-F1 +2 pt, checked 20 hard cases") || fail "rev approve exited $?: $out"
grep -q "approved" <<<"$out" || fail "approve said: $out"
ship_done() { [[ "$(task_field "$run" ship state)" == succeeded ]]; }
wait_for "the promote after the approval" 30 ship_done
expect_error rev "$(approve_body "$run" review true "again")" ERROR_CONFLICT "already approved"
expect_error rev "$(approve_body "$run" review false "too late")" ERROR_CONFLICT "already approved"
touch "$T_DIR/go"
assert_eq succeeded "$(wait_run "$run" 30)" "the approved run"
expect_error rev "$(approve_body "$run" review true "after the end")" ERROR_CONFLICT "already succeeded; nothing to approve"
assert_eq production "$(sql "select stage from drover.model_versions where name = 'claims-a'")" "stage after the approved run"
sql "select actor || ' ' || detail from drover.audit where run_id = $run" |
    grep -q "^rev approve run $run step review (model claims-a:1): macro-F1" ||
    fail "audit: $(sql "select actor, detail from drover.audit where run_id = $run")"
sql "select by || ' | ' || reason from drover.model_stage_changes where name = 'claims-a' order by id" |
    grep -q "^key rev (says test@host) | approved in run $run step review: macro-F1\|^key rev (says .*) | approved in run $run step review: macro-F1" ||
    fail "stage history: $(sql "select by, reason from drover.model_stage_changes where name = 'claims-a'")"

# ------------------------------------------------------------------ reject ---
cat >"$T_DIR/b.cfg" <<EOF
workflow = "approve-b";
steps = (
  { name = "review"; kind = "approve"; model = "claims-a:1"; },
  { name = "ship"; kind = "promote"; after = ["review"]; model = "claims-a:1"; stage = "archived"; }
);
EOF
run=$(as sub1 submit "$T_DIR/b.cfg") || fail "sub1 submit exited $?"
wait_for "run $run awaits approval" 30 awaiting
# Rejecting one's own run is allowed (stopping is always safe).
as sub1 reject "$run" review --reason "worse on rear bumpers" >/dev/null || fail "sub1 reject exited $?"
assert_eq rejected "$(wait_run "$run" 30)" "the rejected run"
drover report "$run" review | grep -q "rejected by key sub1" || fail "the verdict as the step's report: $(drover report "$run" review)"
assert_eq skipped "$(task_field "$run" ship state)" "the promote after a rejection"
task_field "$run" review error | grep -q "rejected by key sub1 (says .*): worse on rear bumpers" ||
    fail "review error: $(task_field "$run" review error)"
assert_eq production "$(sql "select stage from drover.model_versions where name = 'claims-a'")" "stage after the rejected run"

# A rejection stays a rejection across a restart while the run still runs.
cat >"$T_DIR/b2.cfg" <<EOF
workflow = "approve-b2";
steps = (
  { name = "review"; kind = "approve"; model = "claims-a:1"; },
  { name = "hold"; kind = "exec"; argv = ["/bin/sh", "-c", "while [ ! -f $T_DIR/go2 ]; do sleep 0.05; done"]; }
);
EOF
run=$(as sub1 submit "$T_DIR/b2.cfg") || fail "sub1 submit b2 exited $?"
wait_for "run $run awaits approval" 30 awaiting
as rev reject "$run" review --reason "no" >/dev/null || fail "rev reject exited $?"
wait_for "the reject is stored" 30 sql_is "select state from drover.tasks where run_id = $run and name = 'review'" failed
coord_kill9
coord_start
touch "$T_DIR/go2"
assert_eq rejected "$(wait_run "$run" 60)" "a rejected run finished after a coordinator restart"

# ----------------------------------------------------------------- timeout ---
cat >"$T_DIR/c.cfg" <<EOF
workflow = "approve-c";
steps = ( { name = "review"; kind = "approve"; model = "claims-a:1"; timeout = "2s"; } );
EOF
run=$(drover submit "$T_DIR/c.cfg") || fail "submit c exited $?"
assert_eq rejected "$(wait_run "$run" 30)" "the run nobody decided"
task_field "$run" review error | grep -q "no verdict within its timeout" || fail "timeout error: $(task_field "$run" review error)"

# ------------------------------------------------ admin always may, cancel ---
run=$(drover submit "$T_DIR/b.cfg") || fail "admin submit exited $?"
wait_for "run $run awaits approval" 30 awaiting
drover approve "$run" review --reason "admin: own run" >/dev/null || fail "admin approve own run exited $?"
assert_eq succeeded "$(wait_run "$run" 30)" "the admin-approved run"
run=$(drover submit "$T_DIR/c.cfg") || fail "submit c exited $?"
wait_for "run $run awaits approval" 30 awaiting
drover cancel "$run" >/dev/null || fail "cancel exited $?"
assert_eq cancelled "$(run_state "$run")" "a cancelled waiting run"

# A model reference that resolves to nothing fails the step (not a wait).
cat >"$T_DIR/d.cfg" <<EOF
workflow = "approve-d";
steps = ( { name = "review"; kind = "approve"; model = "claims-a:7"; } );
EOF
run=$(drover submit "$T_DIR/d.cfg") || fail "submit d exited $?"
assert_eq failed "$(wait_run "$run" 30)" "an approve step about a missing model"
# ------------------------------ the loop: train -> evaluate -> approve @train ---
mkdir -p "$T_DIR/data"
gen_data "$T_DIR/data/train.csv" 300 1
gen_data "$T_DIR/data/test.csv" 120 2
cat >"$T_DIR/ml.cfg" <<EOF
workflow = "approve-ml";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "damage"; model = "claims-ml";
    trainer = "softmax"; epochs = 3; gpu = "never"; checkpoint_every = "never"; },
  { name = "evaluate"; kind = "evaluate"; after = ["train"]; dataset = "data/test.csv"; label = "damage";
    model = "@train"; },
  { name = "review"; kind = "approve"; after = ["evaluate"]; model = "@train"; },
  { name = "ship"; kind = "promote"; after = ["review"]; model = "@train"; stage = "production"; }
);
EOF
run=$(as sub1 submit "$T_DIR/ml.cfg") || fail "sub1 submit ml exited $?"
wait_for "run $run awaits approval" 60 awaiting
drover status "$run" | grep -q "drover report $run evaluate" || fail "status names the evaluation to read: $(drover status "$run")"
drover report "$run" evaluate >/dev/null || fail "the evaluate report an approver reads: exit $?"
# The client's own words are cut at 200 bytes, here inside a two-byte
# character: what is recorded stays valid UTF-8 (nothing refused, no reset).
long_by="$(printf 'x%.0s' {1..199})é"
out=$(poke rev "\"approve\":{\"run_id\":$run,\"step\":\"review\",\"approve\":true,\"reason\":\"read the report\",\"by\":\"$long_by\"}")
jq -e '.error == "ERROR_NONE"' <<<"$out" >/dev/null || fail "approve with a long by: $out"
assert_eq succeeded "$(wait_run "$run" 60)" "the approved train run"
assert_eq production "$(sql "select stage from drover.model_versions where name = 'claims-ml' and version = 1")" \
    "the approved model is in production"
sql "select reason from drover.model_stage_changes where name = 'claims-ml' and version = 1" |
    grep -q "approved in run $run step review: read the report" || fail "stage history of claims-ml:1"
# The same cut where else a client's own words follow its key: a submit's
# submitted_by (cut at 100 bytes) and a promote's by (at 200), spoken over
# the wire. A split character must not get the request refused.
long100="$(printf 'x%.0s' {1..99})é"
spec='{\"argv\":[\"true\"]}'
out=$(poke sub1 "\"submit\":{\"workflow\":\"says\",\"submitted_by\":\"$long100\",\"steps\":[{\"name\":\"s\",\"kind\":\"exec\",\"spec_json\":\"$spec\"}]}")
jq -e '.error == "ERROR_NONE"' <<<"$out" >/dev/null || fail "submit with a long submitted_by: $out"
sql "select submitted_by from drover.runs where workflow = 'says'" | grep -q "(says xxxx" ||
    fail "submitted_by of the 'says' run: $(sql "select submitted_by from drover.runs where workflow = 'says'")"
out=$(poke sub1 "\"promote\":{\"name\":\"claims-a\",\"version\":1,\"stage\":\"staging\",\"reason\":\"cut\",\"by\":\"$long_by\"}")
jq -e '.error == "ERROR_NONE"' <<<"$out" >/dev/null || fail "promote with a long by: $out"
assert_eq staging "$(sql "select stage from drover.model_versions where name = 'claims-a' and version = 1")" \
    "claims-a:1 promoted with a long by"

log "approve: waits visibly, every rule refused over the wire, durable across kill -9, timeout rejects"
