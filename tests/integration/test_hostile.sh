#!/usr/bin/env bash
# A hostile but allow-listed peer (issue 9; docs/security.md "Threats"):
# drives the worker and client protocols directly (tests/tools/zmqpoke.c
# --proto) with forged results, the wrong role, the wrong owner, poisoned
# and costly requests. Each is refused with a clear error and changes
# nothing, while an honest run beside them finishes with no worker declared
# dead and no task lost.
source "$(dirname "$0")/lib.sh"

pg_start
# shellcheck disable=SC2034 # read by coord_start in lib.sh
T_COORD_EXTRA='  client_rate = 100000;
  worker_rate = 2000;'
coord_start
# The honest run asks for the honest worker's label: a fake worker below
# that registers with free exec slots must not be handed its steps.
worker_start honest 4 --label honest

K="$T_DIR/k"
mkdir -m 700 "$K"
for k in fake sub1 sub2 reader; do
    drover keygen --out "$K/$k" >/dev/null || fail "keygen $k exited $?"
done
drover keys allow worker "$K/fake.pub" >/dev/null || fail "allow fake exited $?"
drover keys allow client "$K/sub1.pub" --role submitter >/dev/null || fail "allow sub1 exited $?"
drover keys allow client "$K/sub2.pub" --role submitter >/dev/null || fail "allow sub2 exited $?"
drover keys allow client "$K/reader.pub" --role reader >/dev/null || fail "allow reader exited $?"

# wpoke KEY ARGS... / cpoke KEY ARGS...: a hand-made worker / client session.
wpoke() {
    local key="$1"
    shift
    drover-test-zmqpoke -q --proto worker --key "$key" --server-key "$T_KEYS/coordinator.pub" \
        --linger 500 "$@" "$COORD_WORKER_EP"
}
cpoke() {
    local key="$1"
    shift
    drover-test-zmqpoke -q --proto client --key "$key" --server-key "$T_KEYS/coordinator.pub" \
        --linger 500 "$@" "$COORD_CLIENT_EP"
}
as() {
    local key="$1"
    shift
    DROVER_KEY="$K/$key" drover "$@"
}

# The honest run: long enough to overlap everything below.
cat >"$T_DIR/honest.cfg" <<'EOF'
workflow = "honest";
steps = (
  { name = "a"; kind = "exec"; resources = { labels = ["honest"]; }; argv = ["/bin/sh", "-c", "sleep 3; echo a-done"]; },
  { name = "b"; kind = "exec"; resources = { labels = ["honest"]; }; argv = ["/bin/sh", "-c", "sleep 3; echo b-done"]; },
  { name = "c"; kind = "exec"; after = ["a", "b"]; resources = { labels = ["honest"]; }; argv = ["/bin/sh", "-c", "sleep 1; echo c-done"]; }
);
EOF
honest=$(submit "$T_DIR/honest.cfg")

# ------------------------------------------- forged train result (obs. 1, 9) ---
# A worker of its own (allowed key, own name) is given a train step and
# answers with a model whose artifact does not exist.
cat >"$T_DIR/train.cfg" <<'EOF'
workflow = "forged-train";
steps = (
  { name = "train"; kind = "train"; dataset = "data/train.csv"; label = "y"; model = "claims";
    trainer = "softmax"; resources = { labels = ["fake-only"]; }; retries = 0; }
);
EOF
# Only the fake worker below is labelled fake-only; it registers after the
# submit: capacity that is coming (docs/scheduling.md, "Impossible requests").
train_run=$(submit "$T_DIR/train.cfg" --allow-pending)
tt=$(sql "select id from drover.tasks where run_id = $train_run")
fake_art=$(printf 'ab%.0s' {1..32})
forged='{\"model\":{\"name\":\"claims\",\"kind\":\"softmax\",\"artifact\":\"'"$fake_art"'\",\"metrics\":{\"val_accuracy\":0.9999}},\"datasets\":[{\"sha256\":\"'"$fake_art"'\",\"path\":\"/made/up.csv\",\"format\":\"csv\",\"rows\":5,\"cols\":2,\"role\":\"train\"}]}'
forged_ok='{\"model\":{\"name\":\"claims\",\"kind\":\"softmax\",\"artifact\":\"'"$fake_art"'\",\"metrics\":{\"val_accuracy\":0.9999}}}'
wpoke "$K/fake" \
    --msg '{"register":{"name":"fake-1","host":"x","slots":1,"kinds":["exec","train"],"labels":["fake-only"],"session":1}}' \
    --await 5000 --await 10000 \
    --msg '{"result":{"lease":{"task_id":'"$tt"',"attempt":1},"outcome":"OUTCOME_EXITED","exit_code":0,"outputs_json":"'"$forged_ok"'"}}' \
    --await 5000 >"$T_DIR/fake.out" || fail "zmqpoke (fake worker) exited $?: $(cat "$T_DIR/fake.out")"
sed -n 2p "$T_DIR/fake.out" | jq -e ".assign.lease.task_id == $tt" >/dev/null ||
    fail "the fake worker got no assignment: $(cat "$T_DIR/fake.out")"
assert_eq failed "$(wait_run "$train_run" 20)" "state of the run whose train result was forged"
task_field "$train_run" train error | grep -q "artifact does not check out" ||
    fail "the forged model's refusal: $(task_field "$train_run" train error)"
assert_eq 0 "$(sql "select count(*) from drover.model_versions")" "models registered from a forged artifact"

# An exec step's claims about datasets and models never become lineage.
# The same claims from an exec step's fd 3: plain JSON, written by a script.
plain=$(sed 's/\\"/"/g' <<<"$forged")
printf '#!/bin/sh\nprintf "%%s\\n" '"'"'{"output":%s}'"'"' >&3\n' "$plain" >"$T_DIR/claim.sh"
cat >"$T_DIR/claim.cfg" <<EOF
workflow = "claims";
steps = ( { name = "claim"; kind = "exec"; resources = { labels = ["honest"]; }; argv = ["/bin/sh", "$T_DIR/claim.sh"]; } );
EOF
claim=$(submit "$T_DIR/claim.cfg")
assert_eq succeeded "$(wait_run "$claim" 20)" "state of the exec step that claims lineage"
assert_eq 0 "$(sql "select count(*) from drover.datasets")" "datasets recorded from an exec step's claim"
assert_eq 0 "$(sql "select count(*) from drover.model_versions")" "models registered by an exec step"

# ------------------------------------ overlapping log offsets (obs. 8) ---
# 20 chunks of 50,000 bytes at offsets 0..19 describe a 50,019-byte
# stream: only that is stored, however the offsets overlap.
cat >"$T_DIR/fakelog.cfg" <<'EOF'
workflow = "fake-log";
steps = ( { name = "s"; kind = "exec"; argv = ["/bin/true"]; resources = { labels = ["fake2-only"]; }; retries = 0; } );
EOF
log_run=$(submit "$T_DIR/fakelog.cfg" --allow-pending)
lt=$(sql "select id from drover.tasks where run_id = $log_run")
chunk=$(head -c 50000 /dev/zero | tr '\0' y)
msgs=()
for o in $(seq 0 19); do
    msgs+=(--msg '{"log":{"lease":{"task_id":'"$lt"',"attempt":1},"stream":1,"offset":'"$o"',"data":"'"$chunk"'"}}')
done
wpoke "$K/fake" \
    --msg '{"register":{"name":"fake-2","host":"x","slots":1,"kinds":["exec"],"labels":["fake2-only"],"session":2}}' \
    --await 5000 --await 10000 "${msgs[@]}" \
    --msg '{"result":{"lease":{"task_id":'"$lt"',"attempt":1},"outcome":"OUTCOME_EXITED","exit_code":0}}' \
    --await 5000 >"$T_DIR/fakelog.out" || fail "zmqpoke (fake log) exited $?: $(cat "$T_DIR/fakelog.out")"
assert_eq succeeded "$(wait_run "$log_run" 20)" "state of the fake worker's log run"
assert_eq 50019 "$(sql "select sum(length(data)) from drover.task_logs where task_id = $lt")" \
    "log bytes stored for 20 overlapping chunks"
assert_eq 50019 "$(drover logs "$log_run" s | wc -c)" "bytes drover logs prints for them"

# A long honest log is read in pages: every byte, in order.
cat >"$T_DIR/long.cfg" <<'EOF'
workflow = "long-log";
steps = ( { name = "s"; kind = "exec"; resources = { labels = ["honest"]; }; argv = ["/bin/sh", "-c", "seq 1 400000"]; } );
EOF
long_run=$(submit "$T_DIR/long.cfg")
assert_eq succeeded "$(wait_run "$long_run" 30)" "state of the long-log run"
drover logs "$long_run" s >"$T_DIR/long.txt" || fail "drover logs of a long log exited $?"
seq 1 400000 | cmp -s - "$T_DIR/long.txt" || fail "drover logs of a $(stat -c %s "$T_DIR/long.txt")-byte log differs from the output"

# ----------------------------------------- parked long-polls (obs. 4) ---
# A run that waits for a worker that never comes: its version stays put,
# so status requests that know it park. One key may park 1,024; the rest
# get a clear "too many waiting requests".
cat >"$T_DIR/stuck.cfg" <<'EOF'
workflow = "stuck";
steps = ( { name = "s"; kind = "exec"; argv = ["/bin/true"]; resources = { labels = ["nobody"]; }; } );
EOF
stuck=$(submit "$T_DIR/stuck.cfg" --allow-pending)
ver=$(cpoke "$K/reader" --msg '{"request_id":1,"status":{"run_id":'"$stuck"'}}' --await 5000 | jq -r '.runs[0].version')
[[ "$ver" =~ ^[1-9][0-9]*$ ]] || fail "no version for the stuck run: '$ver'"
cpoke "$K/reader" --times 1030 --msg '{"request_id":100,"status":{"run_id":'"$stuck"',"known_version":'"$ver"',"wait_ms":3000}}' \
    --drain 1500 >"$T_DIR/park1.out" || fail "zmqpoke (parking) exited $?"
assert_eq 6 "$(jq -r 'select(.error == "ERROR_RATE_LIMITED") | .message' "$T_DIR/park1.out" | grep -c "too many waiting requests")" \
    "long-polls refused over the per-key cap"
assert_eq 6 "$(wc -l <"$T_DIR/park1.out")" "answers before the parked ones time out"
drover info >/dev/null || fail "drover info while 1,024 requests wait exited $?"

# ----------------------------------------------- costly submits (obs. 3) ---
# 251 steps, each after up to 100 earlier ones: 20,050 dependencies, over
# the cap of 20,000 (docs/workflows.md): refused before anything is written.
jq -n '{request_id: 21, submit: {workflow: "dense", steps: [range(0; 251) as $i |
        {name: "s\($i)", kind: "exec", spec_json: "{\"argv\":[\"/bin/true\"]}",
         after: [range([0, $i - 100] | max; $i) | "s\(.)"]}]}}' >"$T_DIR/dense.json"
runs_before=$(sql "select count(*) from drover.runs")
cpoke "$K/sub1" --msg "@$T_DIR/dense.json" --await 10000 >"$T_DIR/dense.out" || fail "no answer to a dense submit"
jq -e '.error == "ERROR_BAD_REQUEST" and (.message | test("at most 20000 dependencies"))' "$T_DIR/dense.out" >/dev/null ||
    fail "dense submit: $(cut -c1-300 "$T_DIR/dense.out")"
assert_eq "$runs_before" "$(sql "select count(*) from drover.runs")" "runs after a refused dense submit"

# ------------------------------------------ submitted_by (obs. 12) ---
cpoke "$K/sub1" --msg '{"request_id":31,"submit":{"workflow":"spoof","submitted_by":"admin","steps":[{"name":"a","kind":"exec","spec_json":"{\"argv\":[\"/bin/true\"]}"}]}}' \
    --await 5000 >"$T_DIR/spoof.out" || fail "no answer to the spoofing submit"
spoof=$(jq -r '.run_id' "$T_DIR/spoof.out")
assert_eq "sub1 (says admin)" "$(sql "select submitted_by from drover.run_status where run_id = $spoof")" \
    "submitted_by of a run whose client claims to be admin"

# ------------------------------------------- a worker key floods (obs. 8) ---
# 20,000 stale log chunks from an allowed worker of its own: over
# worker_rate they are dropped and counted; the stale ones are logged and
# recorded once per 10 s with the count, not one line and row each.
dropped_before=$(drover info --json | jq -r '.dropped_messages')
wpoke "$K/fake" \
    --msg '{"register":{"name":"flood-1","host":"x","slots":1,"kinds":["exec"],"session":3}}' --await 5000 \
    --times 20000 --msg '{"log":{"lease":{"task_id":999999,"attempt":1},"stream":1,"offset":0,"data":"x"}}' \
    >"$T_DIR/flood.out" || fail "zmqpoke (flood) exited $?"
wait_for "the flood is handled" 30 bash -c "[[ \$(drover info --json | jq -r '.dropped_messages + .stale_results') -ge 20000 ]]"
dropped_after=$(drover info --json | jq -r '.dropped_messages')
[[ $((dropped_after - dropped_before)) -ge 1000 ]] ||
    fail "a 20,000-message flood was not rate-limited (dropped grew by $((dropped_after - dropped_before)))"
stale_rows=$(sql "select count(*) from drover.events where kind like 'stale%' and worker = 'flood-1'")
[[ $stale_rows -ge 1 && $stale_rows -le 3 ]] || fail "stale events recorded for the flood: $stale_rows"
grep -q "worker messages over coordinator.worker_rate (fake)" "$T_DIR/coordinator.log" ||
    fail "the coordinator does not say which key went over worker_rate"
stale_lines=$(grep -c "stale log for task 999999" "$T_DIR/coordinator.log" || true)
[[ $stale_lines -ge 1 && $stale_lines -le 3 ]] || fail "stale warnings logged for the flood: $stale_lines"

# ------------------------------------------ wrong role, wrong owner ---
cpoke "$K/reader" --msg '{"request_id":41,"submit":{"workflow":"r","steps":[{"name":"a","kind":"exec","spec_json":"{\"argv\":[\"/bin/true\"]}"}]}}' \
    --await 5000 >"$T_DIR/role1.out" || fail "no answer to a reader's submit"
jq -e '.error == "ERROR_FORBIDDEN" and (.message | test("role reader; this needs submitter \\(request submit\\)"))' "$T_DIR/role1.out" >/dev/null ||
    fail "a reader's submit: $(cat "$T_DIR/role1.out")"
cpoke "$K/sub1" --msg '{"request_id":42,"keys":{"op":"rebind","name":"fake","worker":"honest"}}' \
    --await 5000 >"$T_DIR/role2.out" || fail "no answer to a submitter's keys rebind"
jq -e '.error == "ERROR_FORBIDDEN" and (.message | test("needs admin \\(request keys rebind\\)"))' "$T_DIR/role2.out" >/dev/null ||
    fail "a submitter's keys rebind: $(cat "$T_DIR/role2.out")"
cpoke "$K/sub2" --msg '{"request_id":43,"cancel":{"run_id":'"$stuck"'}}' --await 5000 >"$T_DIR/owner.out" ||
    fail "no answer to a cancel of another key's run"
jq -e '.error == "ERROR_FORBIDDEN" and (.message | test("may cancel only its own runs"))' "$T_DIR/owner.out" >/dev/null ||
    fail "sub2 cancels the admin's run: $(cat "$T_DIR/owner.out")"
assert_eq running "$(run_state "$stuck")" "state of the run another key tried to cancel"

# ------------------------------------------- poisoned requests (obs. 5) ---
# Each is answered with a clear error; none makes the coordinator drop its
# iteration and reload its state (which makes every worker re-register).
cpoke "$K/sub1" --msg '{"request_id":11,"submit":{"workflow":"p","steps":[{"name":"a","kind":"exec","spec_json":"[1]"}]}}' \
    --await 5000 >"$T_DIR/poison1.out" || fail "no answer to a submit with spec [1]"
jq -e '.error == "ERROR_BAD_REQUEST" and (.message | test("not a JSON object"))' "$T_DIR/poison1.out" >/dev/null ||
    fail "submit with spec [1]: $(cat "$T_DIR/poison1.out")"
cpoke "$K/sub1" --msg '{"request_id":12,"submit":{"workflow":"p","steps":[{"name":"a","kind":"exec","spec_json":"{\"argv\":[\"/bin/true\"],\"x\":1e999}"}]}}' \
    --await 5000 >"$T_DIR/poison2.out" || fail "no answer to a submit with a number out of range"
jq -e '.error == "ERROR_BAD_REQUEST"' "$T_DIR/poison2.out" >/dev/null || fail "submit with 1e999: $(cat "$T_DIR/poison2.out")"
# A value the database refuses (an integer column) is rolled back alone.
cpoke "$T_KEYS/admin" --msg '{"request_id":13,"queue":{"op":"limit","name":"default","limit":4294967295}}' \
    --await 5000 >"$T_DIR/poison3.out" || fail "no answer to a queue limit out of range"
jq -e '.error != "ERROR_NONE" and (.message | length > 0)' "$T_DIR/poison3.out" >/dev/null ||
    fail "queue limit 4294967295: $(cat "$T_DIR/poison3.out")"
drover queue list >/dev/null || fail "drover queue list after the poisoned requests exited $?"

# ---------------------------------------- oversized frames (obs. 12) ---
# Over coordinator.max_message (16 MiB) but within libzmq's hard cap (a
# quarter more): refused by size with a clear error, counted, never decoded.
dropped_before=$(drover info --json | jq -r '.dropped_messages')
jq -n '{request_id: 41, submit: {workflow: "huge", steps: [{name: "s", kind: "exec",
        spec_json: ("{\"argv\":[\"" + ("x" * 17000000) + "\"]}")}]}}' >"$T_DIR/huge.json"
cpoke "$K/sub1" --msg "@$T_DIR/huge.json" --await 20000 >"$T_DIR/huge.out" || fail "no answer to an oversized request"
jq -e '.request_id == 41 and .error == "ERROR_BAD_REQUEST" and
       (.message | test("^request of 170[0-9]{5} bytes exceeds the limit of 16777216 bytes"))'     "$T_DIR/huge.out" >/dev/null || fail "oversized request: $(cut -c1-300 "$T_DIR/huge.out")"
dropped_after=$(drover info --json | jq -r '.dropped_messages')
((dropped_after > dropped_before)) || fail "an oversized request was not counted in dropped_messages"
# Over the hard cap: libzmq drops the connection (no answer); the
# coordinator keeps serving.
cpoke "$K/sub1" --oversized 22000000 --drain 1000 >"$T_DIR/huger.out" 2>&1 || true
[[ ! -s "$T_DIR/huger.out" ]] || fail "a frame over the hard cap was answered: $(cut -c1-300 "$T_DIR/huger.out")"
drover info >/dev/null || fail "drover info after an oversized frame exited $?"
assert_eq 0 "$(sql "select count(*) from drover.runs where workflow = 'huge'")" "runs from oversized requests"

# ------------------------------------------------------------- the end ---
assert_eq succeeded "$(wait_run "$honest" 30)" "state of the honest run"
assert_eq 0 "$(sql "select count(*) from drover.tasks where run_id = $honest and (attempt <> 1 or lost <> 0)")" \
    "tasks of the honest run lost or retried"
assert_eq 0 "$(sql "select count(*) from drover.events where kind = 'worker_state' and to_state = 'dead' and worker = 'honest'")" \
    "workers declared dead"
pid_alive "$(coord_pid)" || fail "the coordinator died"
grep -q "reloading state" "$T_DIR/coordinator.log" && fail "a request made the coordinator reload its state: $(grep "reloading state" "$T_DIR/coordinator.log")"
assert_eq 1 "$(sql "select count(*) from drover.events where kind = 'worker_registered' and worker = 'honest'")" \
    "registrations of the honest worker"
log "ok"
