#!/usr/bin/env bash
# Impossible requests are refused at submit (issue 13, observation 2;
# docs/scheduling.md, "Impossible requests"):
#   1. with no worker ever registered nothing is known: a 4-GPU step is
#      accepted;
#   2. once a worker registered (2 slots, 2 GPUs, 8G, label a10), a step
#      asking for more GPUs, slots or memory than any registered worker, or
#      a label none has, is refused, with the largest worker's shape in the
#      message, and writes nothing; the same request sent by hand (not the
#      CLI) is refused alike;
#   3. --allow-pending (SubmitRequest.allow_pending) accepts it;
#   4. a step that fits the registered worker while it is down is accepted,
#      and `drover why` says no worker is connected;
#   6. (observation 9) --queue and --priority on submit override the file's;
#   5. after a coordinator restart the inventory is still known (the worker
#      still down): the refusal holds.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start

step() { # NAME RESOURCES
    cat >"$T_DIR/$1.cfg" <<CFG
workflow = "$1";
steps = ( { name = "s"; kind = "exec"; command = "true"; resources = { $2 }; } );
CFG
    echo "$T_DIR/$1.cfg"
}
runs() { sql "select count(*) from drover.runs"; }

# ---------------------------------------------------- 1. nothing known ---
run=$(submit "$(step early 'gpus = 4;')")
drover cancel "$run" >/dev/null || fail "drover cancel $run exited $?"

# -------------------------------------------- 2. refused, with the shape ---
worker_start w2 2 --gpus 2 --memory 8G --label a10
shape="w2: 2 slots, 2 GPUs, 8.0 GiB, labels a10"
refused() { # FILE WHAT
    local before out
    before=$(runs)
    if out=$(drover submit "$1" 2>&1); then fail "$2: accepted (run $out)"; fi
    [[ "$out" == *"no registered worker (of 1, connected or not) could ever run it"* ]] ||
        fail "$2: message: $out"
    [[ "$out" == *"the largest is $shape"* ]] || fail "$2: no shape in: $out"
    [[ "$out" == *"--allow-pending"* ]] || fail "$2: no hint in: $out"
    assert_eq "$before" "$(runs)" "runs after the refused $2"
}
refused "$(step gpus 'gpus = 4;')" "4-GPU step"
refused "$(step cpus 'cpus = 3;')" "3-slot step"
refused "$(step mem 'memory = "9G";')" "9G step"
refused "$(step lab 'labels = ["a100"];')" "a100 step"
refused "$(step mix 'gpus = 2; labels = ["a10", "b"];')" "a10+b step"
out=$(drover submit "$(step gpus 'gpus = 4;')" 2>&1) || true
[[ "$out" == *"step s asks for 1 slot, 4 GPUs; no registered"* ]] || fail "what s asks: $out"

# The coordinator refuses it for any client: a hand-made SubmitRequest.
drover-test-zmqpoke -q --proto client --key "$T_KEYS/admin" --server-key "$T_KEYS/coordinator.pub" \
    --msg '{"request_id":7,"submit":{"workflow":"raw","steps":[{"name":"s","kind":"exec",
           "spec_json":"{\"argv\":[\"true\"]}","resources":{"cpus":1,"gpus":8}}]}}' \
    --await 5000 "$COORD_CLIENT_EP" >"$T_DIR/raw.out" || fail "zmqpoke submit exited $?"
jq -e '.error == "ERROR_BAD_REQUEST" and (.message | test("could ever run it"))' "$T_DIR/raw.out" \
    >/dev/null || fail "raw submit of 8 GPUs: $(cat "$T_DIR/raw.out")"
assert_eq 0 "$(sql "select count(*) from drover.runs where workflow = 'raw'")" "runs of the raw submit"

# A step that fits is accepted as before.
run=$(submit "$(step fits 'gpus = 2; memory = "8G"; labels = ["a10"];')")
assert_eq succeeded "$(wait_run "$run")" "state of a step that fits w2"

# ------------------------------------- 6. --queue and --priority (obs 9) ---
run=$(submit "$T_DIR/fits.cfg" --priority 7 --queue default)
assert_eq "default|7" "$(sql "select queue, priority from drover.runs where id = $run")" "queue and priority of run $run"
drover submit "$T_DIR/fits.cfg" --queue nosuch >/dev/null 2>&1 && fail "submit to an unknown queue accepted"
drover submit "$T_DIR/fits.cfg" --priority 5000 >/dev/null 2>&1 && fail "submit --priority 5000 accepted"
assert_eq succeeded "$(wait_run "$run")" "state of run $run"

# ------------------------------------------------- 3. --allow-pending ---
run=$(drover submit --allow-pending "$T_DIR/gpus.cfg") || fail "submit --allow-pending exited $?"
[[ "$run" =~ ^[0-9]+$ ]] || fail "submit --allow-pending printed '$run'"
wait_for "why of the pending 4-GPU step" 10 \
    bash -c "drover why $run s | head -1 | grep -q '^no connected worker can ever run it' &&
             drover why $run s | grep -q ': 2 of 4 GPUs\$'"
drover cancel "$run" >/dev/null || fail "drover cancel $run exited $?"

# ---------------------------------------- 4. down, but known: accepted ---
stop_pid worker-w2 "$(worker_pid w2)" || true
unset 'T_PROCS[worker-w2]'
wait_for "w2 is not connected" 20 sql_is "select state <> 'connected' from drover.workers where name = 'w2'" t
run=$(submit "$(step later 'gpus = 2;')")
wait_for "why: no worker" 10 bash -c "[[ \"\$(drover why $run s)\" == 'no worker is connected' ]]"

# -------------------------------------- 5. known after a restart too ---
stop_pid coordinator "$(coord_pid)" || fail "the coordinator exited $? on SIGTERM"
unset 'T_PROCS[coordinator]'
coord_start
refused "$T_DIR/gpus.cfg" "4-GPU step after a restart"
assert_eq "8589934592 2" "$(sql "select memory, gpus from drover.workers where name = 'w2'" | tr '|' ' ')" \
    "w2's shape in drover.workers"
drover cancel "$run" >/dev/null || fail "drover cancel $run exited $?"
log "ok"
