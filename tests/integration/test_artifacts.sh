#!/usr/bin/env bash
# Artifacts between steps on two workers that share no folder (issue 12):
# a 100 MB output of a step on worker A is staged into the work folder of a
# step on worker B through the coordinator's artifact service, verified by
# hash in the consumer; the receiving worker is SIGKILLed in the middle of
# its download and, restarted, resumes from the bytes it had. Then a
# hostile but allow-listed worker key speaks the artifact protocol itself:
# downloads it was not assigned, an upload for a task it does not hold, a
# wrong hash and an oversized upload are all refused, and the service keeps
# serving. Lineage is in drover.artifact_lineage.
export DROVER_TEST_LIMIT="${DROVER_TEST_LIMIT:-290}" # ctest's TIMEOUT is 300 (CMakeLists.txt)
source "$(dirname "$0")/lib.sh"

SIZE=100000000
artifact_service_start
mkdir -p "$T_DIR/wa/out" "$T_DIR/wb"
worker_start wa 1 --label a --work-dir "$T_DIR/wa" --artifact-dir "$T_DIR/wa-art"
# B downloads slowly (30 ms a 1 MiB chunk) so the kill lands mid-transfer.
DROVER_TEST_XFER_DELAY_MS=30 worker_start wb 1 --label b --work-dir "$T_DIR/wb" \
    --artifact-dir "$T_DIR/wb-art"

cat >"$T_DIR/pass.cfg" <<CFG
workflow = "pass";
steps = (
  { name = "produce"; kind = "exec"; resources = { labels = ["a"]; };
    command = "head -c $SIZE /dev/urandom >out/big.bin && echo small >notes.txt && sha256sum out/big.bin | cut -d' ' -f1 >$T_DIR/produced.sha";
    outputs = ["out/big.bin", "notes.txt"]; },
  { name = "consume"; kind = "exec"; after = ["produce"]; resources = { labels = ["b"]; };
    inputs = { big = "@produce:out/big.bin"; notes = "@produce:notes.txt"; };
    command = "sha256sum out/big.bin | cut -d' ' -f1 >$T_DIR/consumed.sha && cat notes.txt >$T_DIR/notes.seen"; }
);
CFG
run=$(submit "$T_DIR/pass.cfg")
wait_for "the producer wrote its hash" 60 test -s "$T_DIR/produced.sha"
hex=$(cat "$T_DIR/produced.sha")
part="$T_DIR/wb-art/.partial/$hex"
# partial_mid FILE: a partial transfer file holds some but not all bytes.
partial_mid() {
    local s
    [[ -f "$1" ]] && s=$(stat -c %s "$1") && ((s > 0 && s < SIZE))
}
wait_for "worker wb has part of the 100 MB input (0 < bytes < $SIZE)" 90 partial_mid "$part"
got=$(stat -c %s "$part")
log "killing wb at $got of $SIZE bytes staged"
kill -KILL "$(worker_pid wb)"
worker_forget wb
((got < SIZE)) || fail "the download finished before the kill"
[[ ! -e "$T_DIR/wb/out/big.bin" ]] || fail "the input was placed before its download finished"

worker_start wb 1 --label b --work-dir "$T_DIR/wb" --artifact-dir "$T_DIR/wb-art"
assert_eq succeeded "$(wait_run "$run" 90)" "state of the run after wb was killed mid-download"
assert_eq "$hex" "$(cat "$T_DIR/consumed.sha")" "sha256 of the input the consumer read"
assert_eq small "$(cat "$T_DIR/notes.seen")" "the small input"
grep -q "resuming the download at" "$T_DIR/worker-wb.log" ||
    fail "the restarted worker did not resume its download: $(tail -5 "$T_DIR/worker-wb.log")"
assert_eq "$SIZE" "$(stat -c %s "$T_DIR/artifacts/sha256/${hex:0:2}/${hex:2}")" \
    "size of the artifact in the coordinator's store"
assert_eq "$SIZE" "$(stat -c %s "$T_DIR/wb-art/sha256/${hex:0:2}/${hex:2}")" \
    "size of the artifact in wb's store"
assert_eq 1 "$(sql "select count(*) from drover.artifacts where run_id = $run and name = 'out/big.bin' and sha256 = '$hex' and size = $SIZE and step = 'produce'")" \
    "the artifact row of out/big.bin"
assert_eq consume "$(sql "select distinct consumer_step from drover.artifact_lineage where sha256 = '$hex' and consumer_input = 'big'")" \
    "the consumer in drover.artifact_lineage"

# ------------------------------------------------ kill -9 of the uploader ---
# The same bytes again (a deterministic producer), so the new attempt after
# the kill uploads what the coordinator already half holds: it resumes.
head -c "$SIZE" /dev/urandom >"$T_DIR/src.bin"
hex2=$(sha256sum "$T_DIR/src.bin" | cut -d' ' -f1)
kill -TERM "$(worker_pid wa)"
worker_forget wa
DROVER_TEST_XFER_DELAY_MS=30 worker_start wa 1 --label a --work-dir "$T_DIR/wa" \
    --artifact-dir "$T_DIR/wa-art"
cat >"$T_DIR/up.cfg" <<CFG
workflow = "up";
steps = (
  { name = "produce"; kind = "exec"; resources = { labels = ["a"]; }; retries = 0;
    command = "cp $T_DIR/src.bin up.bin"; outputs = ["up.bin"]; },
  { name = "consume"; kind = "exec"; after = ["produce"]; resources = { labels = ["b"]; };
    inputs = { up = "@produce:up.bin"; };
    command = "sha256sum up.bin | cut -d' ' -f1 >$T_DIR/up.sha"; }
);
CFG
up=$(submit "$T_DIR/up.cfg")
upart="$T_DIR/artifacts/.partial/$hex2"
wait_for "the coordinator holds part of wa's upload (0 < bytes < $SIZE)" 90 partial_mid "$upart"
log "killing wa at $(stat -c %s "$upart") of $SIZE bytes uploaded"
kill -KILL "$(worker_pid wa)"
worker_forget wa
worker_start wa 1 --label a --work-dir "$T_DIR/wa" --artifact-dir "$T_DIR/wa-art"
assert_eq succeeded "$(wait_run "$up" 90)" "state of the run after wa was killed mid-upload"
assert_eq "$hex2" "$(cat "$T_DIR/up.sha")" "sha256 of the input after the uploader's kill"
grep -q "resuming the upload at" "$T_DIR/worker-wa.log" ||
    fail "the restarted uploader did not resume: $(tail -5 "$T_DIR/worker-wa.log")"
assert_eq 0 "$(sql "select failures from drover.tasks where run_id = $up and name = 'produce'")" \
    "failures of the producer whose worker was killed (a lost worker is not the step's fault)"

# ------------------------------------- kill -9 of the coordinator mid-download ---
# The transfer waits for the new coordinator, whose artifact service learns
# the attempt's permissions again when wb registers again, and finishes.
kill -TERM "$(worker_pid wb)"
worker_forget wb
DROVER_TEST_XFER_DELAY_MS=30 worker_start wb 1 --label b --work-dir "$T_DIR/wb" \
    --artifact-dir "$T_DIR/wb-art"
sed -e 's/workflow = "pass";/workflow = "again";/' -e "s|$T_DIR/consumed.sha|$T_DIR/again.sha|" \
    -e "s|$T_DIR/produced.sha|$T_DIR/again-produced.sha|" "$T_DIR/pass.cfg" >"$T_DIR/again.cfg"
again=$(submit "$T_DIR/again.cfg")
wait_for "the producer wrote its hash" 60 test -s "$T_DIR/again-produced.sha"
hex3=$(cat "$T_DIR/again-produced.sha")
part="$T_DIR/wb-art/.partial/$hex3"
wait_for "worker wb has part of the third input" 90 partial_mid "$part"
log "killing the coordinator at $(stat -c %s "$part") of $SIZE bytes staged"
coord_kill9
coord_start
assert_eq succeeded "$(wait_run "$again" 120)" "state of the run after the coordinator was killed mid-download"
assert_eq "$hex3" "$(cat "$T_DIR/again.sha")" "sha256 of the input after the coordinator's kill"
kill -TERM "$(worker_pid wb)"
worker_forget wb
worker_start wb 1 --label b --work-dir "$T_DIR/wb" --artifact-dir "$T_DIR/wb-art"

# ------------------------------------------------------------ a shared store ---
# A worker whose store IS the coordinator's writes its output there and has
# the service verify it: nothing is uploaded; a worker without the shared
# folder still gets it through the service.
mkdir -p "$T_DIR/ws"
worker_start ws 1 --label s --work-dir "$T_DIR/ws" --artifact-dir "$T_DIR/artifacts" --artifact-shared
cat >"$T_DIR/shared.cfg" <<CFG
workflow = "shared";
steps = (
  { name = "produce"; kind = "exec"; resources = { labels = ["s"]; };
    command = "head -c 3000000 /dev/urandom >s.bin && sha256sum s.bin | cut -d' ' -f1 >$T_DIR/s.sha";
    outputs = ["s.bin"]; },
  { name = "consume"; kind = "exec"; after = ["produce"]; resources = { labels = ["b"]; };
    inputs = { s = "@produce:s.bin"; }; command = "sha256sum s.bin | cut -d' ' -f1 >$T_DIR/s.seen"; }
);
CFG
sr=$(submit "$T_DIR/shared.cfg")
assert_eq succeeded "$(wait_run "$sr" 60)" "state of the run through a shared store"
hs=$(cat "$T_DIR/s.sha")
assert_eq "$hs" "$(cat "$T_DIR/s.seen")" "sha256 of the input from the shared store"
grep -q "output s.bin stored as sha256 ${hs:0:12}... (3000000 bytes, in the shared store, verified" \
    "$T_DIR/worker-ws.log" || fail "the shared-store worker did not use the shared store: $(grep -a 's.bin' "$T_DIR/worker-ws.log")"
[[ ! -e "$T_DIR/artifacts/.partial/$hs" ]] || fail "the shared-store worker uploaded its output"
assert_eq 1 "$(sql "select count(*) from drover.artifacts where run_id = $sr and sha256 = '$hs'")" \
    "the artifact row of the shared-store output"

# ------------------------------------------------- missing declared output ---
cat >"$T_DIR/missing.cfg" <<'CFG'
workflow = "missing";
steps = ( { name = "lazy"; kind = "exec"; command = "true"; outputs = ["model.pkl"]; retries = 0;
            resources = { labels = ["a"]; }; } );
CFG
miss=$(submit "$T_DIR/missing.cfg")
assert_eq failed "$(wait_run "$miss" 30)" "state of a step that did not write its declared output"
task_field "$miss" lazy error | grep -q "declared output 'model.pkl' was not written" ||
    fail "the missing output's message: $(task_field "$miss" lazy error)"

# ------------------------------------- the coordinator's own submit checks ---
# A hand-built request skips the CLI's loader; the coordinator says the
# same as `drover submit` does for a file (without the line).
raw() { printf '%s' "$1" | drover-test-rawsubmit - 2>&1 || true; }
out=$(raw '{"workflow":"r1","steps":[{"name":"a","kind":"exec","spec":{"argv":["true"],"outputs":["m.pkl"]}},
  {"name":"b","kind":"exec","spec":{"argv":["true"],"inputs":{"m":"@a:m.pkl"}}}]}')
grep -q "error ERROR_BAD_REQUEST: step 'b': input 'm' names step 'a', which this step does not run after" <<<"$out" ||
    fail "an input from a step it does not run after, hand-built: $out"
out=$(raw '{"workflow":"r2","steps":[{"name":"a","kind":"exec","spec":{"argv":["true"],"outputs":["/etc/passwd"]}}]}')
grep -q "error ERROR_BAD_REQUEST: step 'a': each output must be a path relative" <<<"$out" ||
    fail "an absolute output path, hand-built: $out"
out=$(raw '{"workflow":"r3","steps":[{"name":"a","kind":"exec","spec":{"argv":["true"],"staged":{}}}]}')
grep -q "error ERROR_BAD_REQUEST: step 'a': unknown key 'staged'" <<<"$out" ||
    fail "a client-made 'staged' (the coordinator's own key): $out"

# ------------------------------------------------------ run_as and symlinks ---
# With worker.run_as, the worker touches a step's files as the task user:
# a symlink the step left cannot make it read (publish) or write (stage)
# where the step itself could not.
if [[ $(id -u) -eq 0 ]]; then
    TU=drover-tasktest
    id -u "$TU" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$TU" || fail "useradd exited $?"
    jd="$T_DIR/wj"
    mkdir -p "$jd" && chown "$TU" "$jd"
    worker_start wj 1 --label j --run-as "$TU" --work-dir "$jd" --artifact-dir "$T_DIR/wj-art"
    cat >"$T_DIR/jail.cfg" <<CFG
workflow = "jail";
steps = (
  { name = "leak"; kind = "exec"; resources = { labels = ["j"]; }; retries = 0;
    command = "ln -s $T_KEYS/worker leak.txt && ln -s /etc evil"; outputs = ["leak.txt"]; }
);
CFG
    jr=$(submit "$T_DIR/jail.cfg")
    assert_eq failed "$(wait_run "$jr" 30)" "state of a step whose output is a symlink to the worker's key"
    task_field "$jr" leak error | grep -q "declared output 'leak.txt' was not written: not a regular file" ||
        fail "the symlinked output's message: $(task_field "$jr" leak error)"
    assert_eq 0 "$(sql "select count(*) from drover.artifacts where run_id = $jr")" "artifacts of the symlinked output"
    cat >"$T_DIR/jail2.cfg" <<CFG
workflow = "jail2";
steps = (
  { name = "p"; kind = "exec"; resources = { labels = ["a"]; };
    command = "mkdir -p evil && echo owned >evil/drover-artifacts-test"; outputs = ["evil/drover-artifacts-test"]; },
  { name = "c"; kind = "exec"; after = ["p"]; resources = { labels = ["j"]; }; retries = 0;
    inputs = { x = "@p:evil/drover-artifacts-test"; }; command = "true"; }
);
CFG
    jr2=$(submit "$T_DIR/jail2.cfg")
    assert_eq failed "$(wait_run "$jr2" 30)" "state of a consumer whose work folder has evil -> /etc"
    [[ ! -e /etc/drover-artifacts-test ]] || { rm -f /etc/drover-artifacts-test; fail "staging wrote into /etc through a symlink"; }
    task_field "$jr2" c error | grep -q "cannot stage input 'x'" ||
        fail "the refused staging's message: $(task_field "$jr2" c error)"
fi

# ------------------------------------------------------------ hostile peers ---
K="$T_DIR/hkeys"
mkdir -p -m 700 "$K"
drover keygen --out "$K/rogue" >/dev/null || fail "keygen rogue exited $?"
drover keys allow worker "$K/rogue.pub" >/dev/null || fail "allow rogue exited $?"
apoke() { # an artifact-service session as the rogue worker key
    drover-test-zmqpoke -q --proto worker --key "$K/rogue" --server-key "$T_KEYS/coordinator.pub" \
        --linger 500 "$@" "$ART_EP"
}
# The rogue holds a task of its own that declares an output.
cat >"$T_DIR/rogue.cfg" <<'CFG'
workflow = "rogue";
steps = ( { name = "r"; kind = "exec"; command = "true"; outputs = ["x.bin"]; retries = 0;
            resources = { labels = ["rogue-only"]; }; } );
CFG
rrun=$(submit "$T_DIR/rogue.cfg" --allow-pending) # no worker has that label yet
rt=$(sql "select id from drover.tasks where run_id = $rrun")
drover-test-zmqpoke -q --proto worker --key "$K/rogue" --server-key "$T_KEYS/coordinator.pub" \
    --linger 500 \
    --msg '{"register":{"name":"rogue","host":"x","slots":1,"kinds":["exec"],"labels":["rogue-only"],"session":5}}' \
    --await 5000 --await 10000 "$COORD_WORKER_EP" >"$T_DIR/rogue.out" ||
    fail "zmqpoke (rogue worker) exited $?: $(cat "$T_DIR/rogue.out")"
sed -n 2p "$T_DIR/rogue.out" | jq -e ".assign.lease.task_id == $rt" >/dev/null ||
    fail "the rogue worker got no assignment: $(cat "$T_DIR/rogue.out")"
ct=$(sql "select id from drover.tasks where run_id = $run and name = 'consume'")
ca=$(task_field "$run" consume attempt)
hello=$(printf hello | sha256sum | cut -d' ' -f1)
lease_c='"lease":{"task_id":'"$ct"',"attempt":'"$ca"'}'
lease_r='"lease":{"task_id":'"$rt"',"attempt":1}'
v='"xfer_version":2,' # the transfer protocol (chunk bytes in a second frame)
hw=$(printf 'hello world' | sha256sum | cut -d' ' -f1)
apoke \
    --msg '{"artifact":{'"$v"'"op":"ARTIFACT_GET",'"$lease_c"',"sha256":"'"$hex"'","length":1024}}' --await 5000 \
    --msg '{"artifact":{'"$v"'"op":"ARTIFACT_GET",'"$lease_r"',"sha256":"'"$hex"'","length":1024}}' --await 5000 \
    --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_BEGIN",'"$lease_c"',"sha256":"'"$hello"'","size":5}}' --await 5000 \
    --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_BEGIN",'"$lease_r"',"sha256":"'"$hello"'","size":11811160064}}' --await 5000 \
    --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_BEGIN",'"$lease_r"',"sha256":"'"$hello"'","size":5}}' --await 5000 \
    --frame HELLO --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_CHUNK",'"$lease_r"',"sha256":"'"$hello"'","size":5,"offset":0}}' --await 5000 \
    --msg '{"artifact":{'"$v"'"op":"ARTIFACT_VERIFY",'"$lease_r"',"sha256":"'"$hex"'","size":'"$SIZE"'}}' --await 5000 \
    --msg '{"artifact":{"op":"ARTIFACT_PUT_BEGIN",'"$lease_r"',"sha256":"'"$hw"'","size":11}}' --await 5000 \
    --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_CHUNK",'"$lease_r"',"sha256":"'"$hw"'","size":11,"offset":0,"data":"aGVsbG8gd29ybGQ="}}' --await 5000 \
    --frame-bytes 1048577 --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_CHUNK",'"$lease_r"',"sha256":"'"$hw"'","size":11,"offset":0}}' --await 5000 \
    --frame world --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_CHUNK",'"$lease_r"',"sha256":"'"$hw"'","size":11,"offset":6}}' --await 5000 \
    --frame 'hello world!' --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_CHUNK",'"$lease_r"',"sha256":"'"$hw"'","size":11,"offset":0}}' --await 5000 \
    --frame junk --msg '{"artifact":{'"$v"'"op":"ARTIFACT_GET",'"$lease_r"',"sha256":"'"$hw"'","length":16}}' --await 5000 \
    --frame 'hello world' --msg '{"artifact":{'"$v"'"op":"ARTIFACT_PUT_CHUNK",'"$lease_r"',"sha256":"'"$hw"'","size":11,"offset":0}}' --await 5000 \
    >"$T_DIR/apoke.out" || fail "zmqpoke (artifact service) exited $?: $(cat "$T_DIR/apoke.out")"
# expect N ERROR REGEX WHAT: answer N has that error (ERROR_NONE: none) and
# a message matching REGEX.
expect() {
    local got
    got=$(sed -n "$1p" "$T_DIR/apoke.out")
    jq -e --arg e "$2" --arg re "$3" \
        '(.artifact.error // "ERROR_NONE") == $e and ((.artifact.message // "") | test($re))' \
        >/dev/null <<<"$got" || fail "$4: $got"
}
expect 1 ERROR_FORBIDDEN "not held" "a download of another worker's input was not refused"
expect 2 ERROR_FORBIDDEN "not an input" "a download of a hash that is not its input was not refused"
expect 3 ERROR_FORBIDDEN "not held" "an upload for a task the worker does not hold was not refused"
expect 4 ERROR_BAD_REQUEST "artifact_max_size" "an oversized upload was not refused"
expect 5 ERROR_NONE "" "the rogue's own upload did not begin"
expect 6 ERROR_BAD_REQUEST "hashes to" "an upload with the wrong hash was not refused"
expect 7 ERROR_NONE "" "VERIFY of a stored artifact by a task that may upload"
expect 8 ERROR_BAD_REQUEST "protocol 0, the coordinator 2: upgrade drover-worker" \
    "a request of an older worker (no xfer_version) was not refused with a clear message"
expect 9 ERROR_BAD_REQUEST "inside the request.s envelope" "a chunk inside the envelope (the old form) was not refused"
expect 10 ERROR_BAD_REQUEST "chunks are 1 to 1048576 bytes" "an oversized chunk (1 MiB + 1) was not refused"
expect 11 ERROR_CONFLICT "holds 0 of 11" "a chunk ahead of what the coordinator holds (out of the window) was not refused"
expect 12 ERROR_BAD_REQUEST "runs past" "a chunk past the artifact's end was not refused"
expect 13 ERROR_BAD_REQUEST "misplaced" "a GET carrying a chunk was not refused"
expect 14 ERROR_NONE "" "the rogue's well-formed upload (its own task, one chunk frame)"
sed -n 14p "$T_DIR/apoke.out" | jq -e '.artifact.complete == true and .artifact.xfer_version == 2' >/dev/null ||
    fail "the well-formed one-chunk upload did not complete: $(sed -n 14p "$T_DIR/apoke.out")"
sed -n 11p "$T_DIR/apoke.out" | jq -e '.artifact.offset // 0 | . == 0' >/dev/null ||
    fail "the out-of-window chunk's answer did not say where to resume"
assert_eq "hello world" "$(cat "$T_DIR/artifacts/sha256/${hw:0:2}/${hw:2}")" \
    "the stored bytes after refused, oversized and out-of-window chunks"
# The rogue's task has no inputs: even its own upload is not its download.
apoke --msg '{"artifact":{'"$v"'"op":"ARTIFACT_GET",'"$lease_r"',"sha256":"'"$hw"'","length":16}}' \
    --await 5000 | jq -e '.artifact.error == "ERROR_FORBIDDEN" and (._frames // [] | length == 0)' >/dev/null ||
    fail "a download of a hash that is not the task's input carried bytes or was not refused"
sed -n 1p "$T_DIR/apoke.out" | jq -e '(.artifact.data // "") == ""' >/dev/null ||
    fail "a refused download carried data"
sed -n 7p "$T_DIR/apoke.out" | jq -e '.artifact.complete == true' >/dev/null ||
    fail "VERIFY did not say complete"
[[ ! -e "$T_DIR/artifacts/sha256/${hello:0:2}/${hello:2}" ]] || fail "the wrong bytes were stored"
# A client key (even an admin's) never gets past the handshake.
out=$(drover-test-zmqpoke -q --proto worker --key "$T_KEYS/admin" --server-key "$T_KEYS/coordinator.pub" \
    --linger 500 --msg '{"artifact":{'"$v"'"op":"ARTIFACT_GET",'"$lease_c"',"sha256":"'"$hex"'","length":16}}' \
    --await 2000 "$ART_EP" 2>/dev/null || true)
[[ -z "$out" ]] || fail "a client key was answered by the artifact service: $out"
# Garbage on the artifact socket is dropped; the service still answers.
drover-test-zmqpoke -q --key "$K/rogue" --server-key "$T_KEYS/coordinator.pub" --garbage 20 \
    --linger 500 "$ART_EP" || fail "zmqpoke garbage exited $?"
apoke --msg '{"artifact":{'"$v"'"op":"ARTIFACT_VERIFY",'"$lease_r"',"sha256":"'"$hex"'","size":'"$SIZE"'}}' \
    --await 5000 | jq -e '.artifact.complete == true' >/dev/null ||
    fail "the artifact service stopped answering after garbage"
grep -q "artifact service: refused" "$T_DIR/coordinator.log" || fail "refusals were not logged"
drover cancel "$rrun" >/dev/null || true
log "ok"
