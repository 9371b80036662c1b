#!/usr/bin/env bash
# Gates on exec steps (issue 12; docs/python.md, "Gates on exec steps"):
# gates = { min = {...}; max = {...}; } judged by the coordinator on the
# metrics the step reported through the line protocol.
#   1. accuracy 0.95 >= 0.9 and log_loss 0.2 <= 0.5: the step and run succeed,
#      and the verdict is in its report;
#   2. accuracy 0.5: the step ends failed with "rejected by its gates", no
#      retry, its successor is skipped, the run ends `rejected`;
#   3. a gated metric the step never reported: the run ends `failed`;
#   4. a bad gate in a file is a file:line error; a hand-built request with
#      one is refused by the coordinator.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

# gated ACC LOGLOSS: a workflow whose step reports those figures.
gated() {
    cat >"$T_DIR/g-$1.cfg" <<CFG
workflow = "gated";
steps = (
  { name = "fit"; kind = "exec"; retries = 2;
    command = "echo '{\"output\": {\"report\": {\"passed\": true, \"accuracy\": $2, \"metrics\": {\"log_loss\": $3}}}}' >&\"\$DROVER_OUTPUT_FD\"";
    gates = { min = { accuracy = 0.9; }; max = { log_loss = 0.5; }; }; },
  { name = "after"; kind = "exec"; after = ["fit"]; command = "true"; }
);
CFG
    echo "$T_DIR/g-$1.cfg"
}

# ------------------------------------------------------------- 1. pass ---
r1=$(submit "$(gated good 0.95 0.2)")
assert_eq succeeded "$(wait_run "$r1")" "run whose step passes its gates"
assert_eq 'true|0.95|[]' "$(drover --json report "$r1" fit | jq -r '"\(.report.gates.passed)|\(.report.gates.values.accuracy)|\(.report.gates.failed | tojson)"')" \
    "the verdict in the step's report"

# ------------------------------------------------------------ 2. reject ---
r2=$(submit "$(gated bad 0.5 0.2)")
assert_eq rejected "$(wait_run "$r2")" "run whose step fails its gate"
assert_eq "failed|1|skipped" "$(sql "select string_agg(x, '|') from (select state::text as x from drover.tasks where run_id = $r2 and name = 'fit'
    union all select attempt::text from drover.tasks where run_id = $r2 and name = 'fit'
    union all select state from drover.tasks where run_id = $r2 and name = 'after') s")" \
    "gated step failed after one attempt (no retry), successor skipped"
err=$(task_field "$r2" fit error)
[[ "$err" == *"rejected by its gates: accuracy 0.5 < 0.9"* ]] || fail "the step's error: $err"
assert_eq false "$(drover --json report "$r2" fit | jq -r .report.passed)" "report.passed of the rejected step"

# -------------------------------------------------- 3. metric missing ---
cat >"$T_DIR/nometric.cfg" <<'CFG'
workflow = "gated-silent";
steps = ( { name = "fit"; kind = "exec"; command = "true"; gates = { min = { accuracy = 0.9; }; }; } );
CFG
r3=$(submit "$T_DIR/nometric.cfg")
assert_eq failed "$(wait_run "$r3")" "run whose gated step reported nothing"
err=$(task_field "$r3" fit error)
[[ "$err" == *"reported no metric 'accuracy'"* ]] || fail "the silent step's error: $err"

# ------------------------------------------------------- 4. bad gates ---
cat >"$T_DIR/badgate.cfg" <<'CFG'
workflow = "bad-gate";
steps = ( { name = "fit"; kind = "exec"; command = "true";
            gates = { better_than_production = { metric = "accuracy"; }; }; } );
CFG
out=$(drover submit "$T_DIR/badgate.cfg" 2>&1) && fail "a bad exec gate was submitted"
[[ "$out" == "$T_DIR/badgate.cfg:3: step 'fit': unknown gate 'better_than_production' for an exec step"* ]] ||
    fail "message: $out"
cpoke() {
    drover-test-zmqpoke -q --proto client --key "$T_KEYS/admin" --server-key "$T_KEYS/coordinator.pub" \
        --linger 500 "$@" "$COORD_CLIENT_EP"
}
rep=$(cpoke --msg '{"request_id":9,"submit":{"workflow":"evil","steps":[{"name":"a","kind":"exec",
    "spec_json":"{\"argv\":[\"true\"],\"gates\":{\"min\":{\"accuracy\":\"high\"}}}"}]}}' --await 5000) || fail "no answer"
assert_eq ERROR_BAD_REQUEST "$(jq -r .error <<<"$rep")" "a hand-built request with a bad gate: $(jq -r .message <<<"$rep")"
