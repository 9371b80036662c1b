#!/usr/bin/env bash
# Promotion rights (issue 9, observations 2 and 12; docs/security.md): a
# workflow `promote` step, `select` and `drover promote` need the admin role
# or an explicit grant on the model name; for a step, the key that submitted
# the run is checked (refused: the step fails with the reason). The stage
# history names the key behind every change, however long the client's own
# "by" text is.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

K="$T_DIR/k"
mkdir -m 700 "$K"
drover keygen --out "$K/sub1" >/dev/null || fail "keygen sub1 exited $?"
drover keys allow client "$K/sub1.pub" --role submitter >/dev/null || fail "allow sub1 exited $?"
as() {
    local key="$1"
    shift
    DROVER_KEY="$K/$key" drover "$@"
}
run_rc() {
    local out="$1"
    shift
    RC=0
    "$@" >"$T_DIR/$out" 2>&1 || RC=$?
}

for m in claims-a other; do
    sql "insert into drover.model_versions (name, version, model_kind, artifact)
         values ('$m', 1, 'softmax', repeat('ab', 32))" >/dev/null || fail "cannot insert $m:1"
done
promote_wf() { # FILE MODEL STAGE
    cat >"$1" <<EOF
workflow = "promote-$2";
steps = ( { name = "p"; kind = "promote"; model = "$2:1"; stage = "$3"; retries = 0; } );
EOF
}

# ---------------------------------------- a submitter's promote step ---
promote_wf "$T_DIR/p1.cfg" claims-a production
run=$(as sub1 submit "$T_DIR/p1.cfg") || fail "sub1 submit exited $?"
assert_eq failed "$(wait_run "$run" 20)" "state of sub1's promote run without a grant"
task_field "$run" p error | grep -q "permission denied: key 'sub1' may not change the stage of model 'claims-a'" ||
    fail "the promote step's error: $(task_field "$run" p error)"
assert_eq none "$(sql "select stage from drover.model_versions where name = 'claims-a'")" "stage after the refused step"

# ------------------------------------------------------------- grant ---
out=$(drover keys grant sub1 promote 'claims-*') || fail "keys grant exited $?: $out"
drover keys list --json | jq -e '.[] | select(.name == "sub1") | .grants == ["promote claims-*"]' >/dev/null ||
    fail "keys list does not show the grant: $(drover keys list --json)"
drover keys list | grep -E '^sub1 ' | grep -q "promote claims-\*" || fail "keys list table: $(drover keys list)"
sql "select detail from drover.audit" | grep -q "keys grant" || fail "no audit row for keys grant"
run=$(as sub1 submit "$T_DIR/p1.cfg") || fail "sub1 submit exited $?"
assert_eq succeeded "$(wait_run "$run" 20)" "state of sub1's promote run with a grant"
assert_eq production "$(sql "select stage from drover.model_versions where name = 'claims-a'")" "stage after the granted step"
sql "select by from drover.model_stage_changes where name = 'claims-a' order by id desc limit 1" |
    grep -q "run $run step p (key sub1)" || fail "stage history: $(sql "select by from drover.model_stage_changes")"

# The grant covers its pattern only, for steps and for drover promote alike.
promote_wf "$T_DIR/p2.cfg" other staging
run=$(as sub1 submit "$T_DIR/p2.cfg") || fail "sub1 submit exited $?"
assert_eq failed "$(wait_run "$run" 20)" "state of sub1's promote run outside its grant"
run_rc cli1.out as sub1 promote other:1 staging
assert_eq 2 "$RC" "exit status of sub1 promoting a model outside its grant"
grep -qi "permission denied" "$T_DIR/cli1.out" || fail "sub1 promote other: $(cat "$T_DIR/cli1.out")"
run_rc cli2.out as sub1 promote claims-a:1 archived --reason "$(printf 'r%.0s' {1..2000})"
assert_eq 0 "$RC" "exit status of sub1 promoting within its grant: $(cat "$T_DIR/cli2.out")"

# The key is recorded whole whatever the client claims about itself.
long=$(printf 'x%.0s' {1..3000})
drover-test-zmqpoke -q --proto client --key "$K/sub1" --server-key "$T_KEYS/coordinator.pub" \
    --msg '{"request_id":9,"promote":{"name":"claims-a","version":1,"stage":"staging","by":"'"$long"'","reason":"'"$long"'"}}' \
    --await 5000 "$COORD_CLIENT_EP" >"$T_DIR/long.out" || fail "zmqpoke promote exited $?"
jq -e '.error == "ERROR_NONE"' "$T_DIR/long.out" >/dev/null || fail "long promote: $(cat "$T_DIR/long.out")"
sql "select by from drover.model_stage_changes where name = 'claims-a' order by id desc limit 1" |
    grep -q "^key sub1 (says xxx" || fail "stage history of a long 'by': $(sql "select left(by, 80) from drover.model_stage_changes order by id desc limit 1")"

# ----------------------------------------------------------- ungrant ---
out=$(drover keys ungrant sub1 promote 'claims-*') || fail "keys ungrant exited $?: $out"
run=$(as sub1 submit "$T_DIR/p1.cfg") || fail "sub1 submit exited $?"
assert_eq failed "$(wait_run "$run" 20)" "state of sub1's promote run after ungrant"
run_rc g.out drover keys grant worker promote 'x'
assert_eq 2 "$RC" "exit status of granting to a worker key"

# A revoked key's runs lose its grants with it.
drover keys grant sub1 promote 'claims-*' >/dev/null || fail "grant again exited $?"
cat >"$T_DIR/p3.cfg" <<EOF
workflow = "promote-late";
steps = (
  { name = "wait"; kind = "exec"; argv = ["/bin/sh", "-c", "sleep 2"]; },
  { name = "p"; kind = "promote"; after = ["wait"]; model = "claims-a:1"; stage = "production"; retries = 0; }
);
EOF
run=$(as sub1 submit "$T_DIR/p3.cfg") || fail "sub1 submit exited $?"
drover keys revoke sub1 >/dev/null || fail "revoke sub1 exited $?"
assert_eq failed "$(wait_run "$run" 20)" "state of a revoked key's promote run"
task_field "$run" p error | grep -q "is no longer allowed" || fail "revoked key's promote step: $(task_field "$run" p error)"
log "ok"
