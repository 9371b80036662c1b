#!/usr/bin/env bash
# Security (CurveZMQ, roles, limits; docs/operations.md): the coordinator
# admits only allowed keys, enforces roles, records who did what, refuses
# secret key files others may read and insecure non-loopback listening,
# truncates oversized logs and rate-limits clients.
#
# lib.sh starts everything with CURVE: the coordinator's key, the admin
# client key (DROVER_KEY, used by every plain `drover` call here) and the
# shared worker key. This test makes more keys with `drover keygen`.
source "$(dirname "$0")/lib.sh"

pg_start
# shellcheck disable=SC2034 # read by coord_start in lib.sh
T_COORD_EXTRA='  max_message = 65536;
  max_log_bytes = 4096;'
coord_start

K="$T_DIR/k"
mkdir -m 700 "$K"

# as KEY ARGS...: drover with another client key.
as() {
    local key="$1"
    shift
    DROVER_KEY="$K/$key" drover "$@"
}

# run_rc OUT CMD...: runs CMD with stdout+stderr in $T_DIR/OUT; sets RC.
run_rc() {
    local out="$1"
    shift
    RC=0
    "$@" >"$T_DIR/$out" 2>&1 || RC=$?
}

secret_of() { sed -n 's/^secret = "\(.*\)";$/\1/p' "$1"; }

runs_count() { sql "select count(*) from drover.runs"; }

# ------------------------------------------------------- keygen, keys ---

run_rc keygen.out drover keygen --out "$K/reader"
assert_eq 0 "$RC" "exit status of drover keygen"
assert_eq 600 "$(stat -c %a "$K/reader")" "mode of the secret key file"
[[ -f "$K/reader.pub" ]] || fail "keygen wrote no .pub file"
grep -qF -e "$(sed -n 's/^public = "\(.*\)";$/\1/p' "$K/reader.pub")" "$T_DIR/keygen.out" ||
    fail "keygen does not print the public key: $(cat "$T_DIR/keygen.out")"
grep -q "drover keys allow" "$T_DIR/keygen.out" || fail "keygen does not say what to run next"
grep -qF -e "$(secret_of "$K/reader")" "$T_DIR/keygen.out" && fail "keygen printed the secret key"
run_rc keygen2.out drover keygen --out "$K/reader"
assert_eq 2 "$RC" "exit status of keygen over an existing key"
run_rc keygen3.out drover keygen --json --out "$K/sub1"
assert_eq 0 "$RC" "exit status of keygen --json"
jq -e '.public_key | length == 40' "$T_DIR/keygen3.out" >/dev/null || fail "keygen --json: $(cat "$T_DIR/keygen3.out")"
grep -qF -e "$(secret_of "$K/sub1")" "$T_DIR/keygen3.out" && fail "keygen --json printed the secret key"
for k in sub2 revoked stranger victim loose; do
    drover keygen --out "$K/$k" >/dev/null || fail "keygen $k exited $?"
done

drover keys allow client "$K/reader.pub" --role reader >/dev/null || fail "allow reader exited $?"
drover keys allow client "$K/sub1.pub" --role submitter >/dev/null || fail "allow sub1 exited $?"
drover keys allow client "$K/sub2.pub" --role submitter >/dev/null || fail "allow sub2 exited $?"
drover keys allow client "$K/revoked.pub" --role submitter >/dev/null || fail "allow revoked exited $?"
drover keys allow worker "$K/victim.pub" >/dev/null || fail "allow victim exited $?"
run_rc dup.out drover keys allow client "$K/sub1.pub" --role admin --name sub1-again
assert_eq 2 "$RC" "exit status of allowing the same public key twice"

drover keys list >"$T_DIR/keys.txt" || fail "drover keys list exited $?"
head -1 "$T_DIR/keys.txt" | grep -qE '^NAME +KIND +ROLE +REVOKED +PUBLIC-KEY' ||
    fail "keys list header: $(head -1 "$T_DIR/keys.txt")"
grep -qE '^sub1 +client +submitter +no ' "$T_DIR/keys.txt" || fail "keys list lacks sub1: $(cat "$T_DIR/keys.txt")"
grep -qE '^victim +worker +- +no ' "$T_DIR/keys.txt" || fail "keys list lacks victim: $(cat "$T_DIR/keys.txt")"
drover keys list --json >"$T_DIR/keys.json" || fail "drover keys list --json exited $?"
assert_eq "reader" "$(jq -r '.[] | select(.name == "reader") | .role' "$T_DIR/keys.json")" "reader's role in keys list --json"
for k in "$K"/* "$T_KEYS"/*; do
    [[ "$k" == *.pub ]] && continue
    s=$(secret_of "$k")
    grep -qF -e "$s" "$T_DIR/keys.txt" "$T_DIR/keys.json" && fail "keys list shows the secret of $k"
    [[ $(sql "select count(*) from drover.keys where public_key = '$s'") == 0 ]] ||
        fail "the secret of $k is in drover.keys"
done

# ------------------------------------------------ unknown worker key ---

worker_start w1 2
worker_start --no-wait intruder 2 --key "$K/stranger"
wait_for "the coordinator refuses the intruder's key" 20 \
    grep -q "refused a worker connection: key not allowed" "$T_DIR/coordinator.log"
wait_for "the intruder logs that its key was refused" 20 \
    grep -q "refused this worker's key 'stranger'" "$T_DIR/worker-intruder.log"
cat >"$T_DIR/fan.cfg" <<EOF
workflow = "fan";
steps = (
  { name = "a"; kind = "exec"; argv = ["/bin/sh", "-c", "echo a"]; },
  { name = "b"; kind = "exec"; argv = ["/bin/sh", "-c", "echo b"]; },
  { name = "c"; kind = "exec"; argv = ["/bin/sh", "-c", "echo c"]; },
  { name = "d"; kind = "exec"; after = ["a", "b", "c"]; argv = ["/bin/sh", "-c", "echo d"]; }
);
EOF
run=$(submit "$T_DIR/fan.cfg")
assert_eq succeeded "$(wait_run "$run")" "state of a run while an unknown worker knocks"
assert_eq 0 "$(sql "select count(*) from drover.tasks where worker = 'intruder'")" "tasks given to the intruder"
assert_eq 0 "$(sql "select count(*) from drover.workers where name = 'intruder'")" "intruder rows in drover.workers"
drover workers --json | jq -e '[.[] | select(.name == "intruder")] | length == 0' >/dev/null ||
    fail "drover workers lists the intruder"
pid_alive "$(worker_pid intruder)" || fail "the refused worker gave up (it should keep retrying)"
grep -q "registered with" "$T_DIR/worker-intruder.log" && fail "the intruder registered"

# ------------------------------------------- clients without a key etc ---

n0=$(runs_count)
run_rc nokey.out env -u DROVER_KEY -u DROVER_COORDINATOR_KEY drover submit --timeout 1 "$T_DIR/fan.cfg"
assert_eq 3 "$RC" "exit status of a submit without a key"
grep -q "DROVER_KEY" "$T_DIR/nokey.out" || fail "the no-key message does not name DROVER_KEY: $(cat "$T_DIR/nokey.out")"
run_rc stranger.out as stranger submit --timeout 1 "$T_DIR/fan.cfg"
assert_eq 3 "$RC" "exit status of a submit with an unknown key"
grep -q "refused this client's key 'stranger'" "$T_DIR/stranger.out" ||
    fail "the unknown-key message does not mention the key: $(cat "$T_DIR/stranger.out")"
run_rc halfkey.out env -u DROVER_COORDINATOR_KEY drover runs
assert_eq 2 "$RC" "exit status with a client key but no coordinator key"
grep -q "DROVER_COORDINATOR_KEY" "$T_DIR/halfkey.out" || fail "half-key message: $(cat "$T_DIR/halfkey.out")"

run_rc revoked1.out as revoked submit "$T_DIR/fan.cfg"
assert_eq 0 "$RC" "exit status of a submit before revocation: $(cat "$T_DIR/revoked1.out")"
rrun=$(cat "$T_DIR/revoked1.out")
wait_run "$rrun" >/dev/null
drover keys revoke revoked >"$T_DIR/revoke.out" 2>&1 || fail "drover keys revoke exited $?: $(cat "$T_DIR/revoke.out")"
grep -qE '^revoked +client +submitter +yes ' <(drover keys list) || fail "keys list does not show the revocation"
n1=$(runs_count)
run_rc revoked2.out as revoked submit --timeout 1 "$T_DIR/fan.cfg"
assert_eq 3 "$RC" "exit status of a submit with a revoked key"
grep -q "refused this client's key" "$T_DIR/revoked2.out" || fail "revoked message: $(cat "$T_DIR/revoked2.out")"
assert_eq "$n1" "$(runs_count)" "runs after a submit with a revoked key"
[[ $((n1 - n0)) -eq 1 ]] || fail "runs grew by $((n1 - n0)) while only one allowed submit happened"

# ------------------------------------ revocation drops a worker session ---

cat >"$T_DIR/vic.cfg" <<EOF
workflow = "vic";
steps = (
  { name = "hold"; kind = "exec";
    argv = ["/bin/sh", "-c", "if [ -e $T_DIR/vic.flag ]; then echo second; exit 0; fi; touch $T_DIR/vic.flag; echo \$\$ > $T_DIR/vic.pid; exec sleep 300"]; }
);
EOF
# The victim is the only worker when the step is dispatched.
kill -TERM "$(worker_pid w1)"
wait_for "worker w1 stops" 20 pid_gone "$(worker_pid w1)"
worker_forget w1
assert_eq 0 "$T_RC" "exit status of worker w1 on SIGTERM"
worker_start victim 1 --key "$K/victim"
vrun=$(submit "$T_DIR/vic.cfg")
wait_for "the victim runs the held step" 20 sql_is \
    "select worker || ':' || state from drover.tasks where run_id = $vrun" "victim:running"
wait_for "the held step wrote its pid" 10 test -s "$T_DIR/vic.pid"
t_track_pid "$(cat "$T_DIR/vic.pid")"
drover keys revoke victim >"$T_DIR/revoke2.out" 2>&1 || fail "revoke victim exited $?: $(cat "$T_DIR/revoke2.out")"
# Requeued: ready, since the stopped w1 drained and gets nothing (before
# graceful stop it was still thought alive and got attempt 2, lost again).
wait_for "the victim's task is requeued" 20 sql_is \
    "select state from drover.tasks where run_id = $vrun" ready
victim_gone() { drover workers --json | jq -e '[.[] | select(.name == "victim" and .connected)] | length == 0'; }
wait_for "the victim is no longer a connected worker" 20 victim_gone
worker_start spare 2
assert_eq succeeded "$(wait_run "$vrun")" "state of the run after its worker's key was revoked"
assert_eq spare "$(task_field "$vrun" hold worker)" "worker of the requeued task"
# The revoked worker learns it: it is told to register again, is refused and exits 2.
wait_for "the revoked worker exits" 20 pid_gone "$(worker_pid victim)"
worker_forget victim
assert_eq 2 "$T_RC" "exit status of the worker whose key was revoked"
grep -q "revoked" "$T_DIR/worker-victim.log" || fail "the revoked worker's log does not say why it stopped"
# A new process with the revoked key never gets in.
worker_start --no-wait victim2 1 --key "$K/victim"
wait_for "the coordinator refuses the revoked worker key" 20 \
    grep -q "refused a worker connection: key revoked" "$T_DIR/coordinator.log"
wait_for "victim2 logs that its key was refused" 20 grep -q "refused this worker's key 'victim'" "$T_DIR/worker-victim2.log"
grep -q "registered with" "$T_DIR/worker-victim2.log" && fail "a worker with a revoked key registered"

# ----------------------------------------------------------------- roles ---

cat >"$T_DIR/long.cfg" <<EOF
workflow = "long";
steps = ( { name = "wait"; kind = "exec"; argv = ["/bin/sh", "-c", "exec sleep 300"]; } );
EOF
run_rc reader-runs.out as reader runs
assert_eq 0 "$RC" "exit status of drover runs with a reader key: $(cat "$T_DIR/reader-runs.out")"
run_rc reader-submit.out as reader submit "$T_DIR/long.cfg"
assert_eq 2 "$RC" "exit status of a submit with a reader key"
grep -qi "permission denied" "$T_DIR/reader-submit.out" || fail "reader submit: $(cat "$T_DIR/reader-submit.out")"

run_a=$(as sub1 submit "$T_DIR/long.cfg") || fail "sub1 submit exited $?"
run_b=$(as sub2 submit "$T_DIR/long.cfg") || fail "sub2 submit exited $?"
assert_eq sub1 "$(sql "select submitted_key from drover.runs where id = $run_a")" "submitted_key of sub1's run"
run_rc reader-cancel.out as reader cancel "$run_a"
assert_eq 2 "$RC" "exit status of a cancel with a reader key"
grep -qi "permission denied" "$T_DIR/reader-cancel.out" || fail "reader cancel: $(cat "$T_DIR/reader-cancel.out")"
run_rc sub2-cancel.out as sub2 cancel "$run_a"
assert_eq 2 "$RC" "exit status of sub2 cancelling sub1's run"
grep -q "sub1" "$T_DIR/sub2-cancel.out" || fail "sub2 cancel message does not name the owner: $(cat "$T_DIR/sub2-cancel.out")"
assert_eq running "$(run_state "$run_a")" "state of sub1's run after refused cancels"
run_rc sub1-cancel.out as sub1 cancel "$run_a"
assert_eq 0 "$RC" "exit status of sub1 cancelling its own run: $(cat "$T_DIR/sub1-cancel.out")"
assert_eq cancelled "$(wait_run "$run_a" 30)" "state of sub1's run after its own cancel"
run_rc sub1-keys.out as sub1 keys revoke sub2
assert_eq 2 "$RC" "exit status of keys revoke with a submitter key"
run_rc admin-cancel.out drover cancel "$run_b"
assert_eq 0 "$RC" "exit status of the admin cancelling sub2's run: $(cat "$T_DIR/admin-cancel.out")"
assert_eq cancelled "$(wait_run "$run_b" 30)" "state of sub2's run after the admin's cancel"

# Promote needs admin; a model version to promote, registered by hand.
sql "insert into drover.model_versions (name, version, model_kind, artifact)
     values ('sec-model', 1, 'softmax', repeat('ab', 32))" >/dev/null || fail "cannot insert a model version"
run_rc sub1-promote.out as sub1 promote sec-model:1 staging --reason nope
assert_eq 2 "$RC" "exit status of promote with a submitter key"
grep -qi "permission denied" "$T_DIR/sub1-promote.out" || fail "sub1 promote: $(cat "$T_DIR/sub1-promote.out")"
run_rc promote.out drover promote sec-model:1 staging --reason audit-test
assert_eq 0 "$RC" "exit status of promote with the admin key: $(cat "$T_DIR/promote.out")"

# ---------------------------------------------------------- audit trail ---

audit_has() { # ACTOR REGEX [RUN]
    local q="select count(*) from drover.audit where actor = '$1' and detail ~* '$2'"
    [[ -n "${3:-}" ]] && q="$q and run_id = $3"
    [[ $(sql "$q") -ge 1 ]] || fail "drover.audit has no row by '$1' matching /$2/${3:+ for run $3}: $(sql 'select actor, run_id, detail from drover.audit order by id')"
}
audit_has sub1 submit "$run_a"
audit_has sub2 submit "$run_b"
audit_has sub1 cancel "$run_a"
audit_has admin cancel "$run_b"
audit_has revoked submit "$rrun"
audit_has admin 'keys allow.*sub1'
audit_has admin 'keys revoke.*victim'
audit_has admin 'sec-model'
assert_eq 0 "$(sql "select count(*) from drover.audit where actor = 'sub2' and run_id = $run_a")" "audit rows of sub2's refused cancel"
assert_eq 0 "$(sql "select count(*) from drover.audit where actor = 'reader'")" "audit rows of the reader (refused only)"

# ---------------------- garbage from an authenticated client is counted ---

dropped_now() { drover info --json | jq -r '.dropped_messages'; }
d0=$(dropped_now)
drover-test-zmqpoke -q --seed 5 -g 50 -s 512 -e -r hello -k "$K/sub1" -K "$T_KEYS/coordinator.pub" \
    "$COORD_CLIENT_EP" || fail "zmqpoke garbage exited $?"
drover-test-zmqpoke -q -o 200000 -k "$K/sub1" -K "$T_KEYS/coordinator.pub" "$COORD_CLIENT_EP" ||
    fail "zmqpoke oversized exited $?"
more_dropped() { [[ $(dropped_now) -gt $d0 ]]; }
wait_for "garbage from sub1 counted in dropped_messages" 20 more_dropped
pid_alive "$(coord_pid)" || fail "the coordinator died from an authenticated client's garbage"
run=$(as sub1 submit "$T_DIR/fan.cfg") || fail "sub1 cannot submit after its garbage"
assert_eq succeeded "$(wait_run "$run")" "a run after the garbage"

# ------------------------------------------------------- log truncation ---

cat >"$T_DIR/chatty.cfg" <<EOF
workflow = "chatty";
steps = ( { name = "talk"; kind = "exec";
            argv = ["/bin/sh", "-c", "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | head -n 400; echo done >&2"]; } );
EOF
run=$(submit "$T_DIR/chatty.cfg")
assert_eq succeeded "$(wait_run "$run")" "state of the chatty run"
drover logs "$run" talk >"$T_DIR/chatty.log" 2>&1 || fail "drover logs exited $?"
grep -q "\[drover: log truncated" "$T_DIR/chatty.log" || fail "no truncation marker in the logs: $(head -c 300 "$T_DIR/chatty.log")"
xs=$(tr -cd x <"$T_DIR/chatty.log" | wc -c)
[[ $xs -le 4096 && $xs -ge 1000 ]] || fail "kept $xs bytes of output (max_log_bytes 4096)"

# ------------------------------------------- secret keys with loose modes ---

chmod 644 "$K/loose"
run_rc loose-cli.out drover --key "$K/loose" runs
assert_eq 2 "$RC" "exit status of drover with a 0644 secret key"
grep -q "chmod 600" "$T_DIR/loose-cli.out" || fail "CLI loose key message: $(cat "$T_DIR/loose-cli.out")"
run_rc loose-worker.out timeout 20 drover-worker --config "$T_CFG" --name loose --key "$K/loose"
assert_eq 2 "$RC" "exit status of drover-worker with a 0644 secret key"
grep -q "chmod 600" "$T_DIR/loose-worker.out" || fail "worker loose key message: $(cat "$T_DIR/loose-worker.out")"
run_rc nokey-worker.out timeout 20 drover-worker --coordinator "$COORD_WORKER_EP" --name nokey --config /dev/null
assert_eq 2 "$RC" "exit status of drover-worker without any key"
grep -q "insecure" "$T_DIR/nokey-worker.out" || fail "worker no-key message: $(cat "$T_DIR/nokey-worker.out")"

# A second coordinator (own ports and database) for the start-up refusals.
psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atqc 'create database drover2' >/dev/null ||
    fail "cannot create database drover2"
mapfile -t p2 < <(freeport 2)
coord2_cfg() { # FILE CLIENT_HOST EXTRA
    cat >"$1" <<EOF
coordinator = {
  client_endpoint = "tcp://$2:${p2[0]}";
  worker_endpoint = "tcp://127.0.0.1:${p2[1]}";
  database = "host=127.0.0.1 port=$PG_PORT dbname=drover2 user=postgres connect_timeout=5";
$3
};
EOF
}
coord2_cfg "$T_DIR/loose.cfg" 127.0.0.1 "  secret_key = \"$K/loose\";"
run_rc coord-loose.out timeout 30 drover-coordinator --config "$T_DIR/loose.cfg"
[[ $RC -ne 0 && $RC -ne 124 ]] || fail "the coordinator started with a 0644 secret key (status $RC)"
grep -q "chmod 600" "$T_DIR/coord-loose.out" || fail "coordinator loose key message: $(cat "$T_DIR/coord-loose.out")"

coord2_cfg "$T_DIR/nokey.cfg" 127.0.0.1 ""
run_rc coord-nokey.out timeout 30 drover-coordinator --config "$T_DIR/nokey.cfg"
[[ $RC -ne 0 && $RC -ne 124 ]] || fail "the coordinator started without a secret key (status $RC)"
grep -q "secret_key" "$T_DIR/coord-nokey.out" || fail "coordinator no-key message: $(cat "$T_DIR/coord-nokey.out")"

coord2_cfg "$T_DIR/open.cfg" 0.0.0.0 "  insecure = true;"
run_rc coord-open.out timeout 30 drover-coordinator --config "$T_DIR/open.cfg"
[[ $RC -ne 0 && $RC -ne 124 ]] || fail "an insecure coordinator listened on 0.0.0.0 (status $RC)"
grep -q "non-loopback" "$T_DIR/coord-open.out" || fail "insecure 0.0.0.0 message: $(cat "$T_DIR/coord-open.out")"

# Insecure on loopback works, says so at every start, and needs no key.
coord2_cfg "$T_DIR/insecure.cfg" 127.0.0.1 "  insecure = true;"
drover-coordinator --config "$T_DIR/insecure.cfg" </dev/null >>"$T_DIR/coordinator2.log" 2>&1 &
T_PROCS[coordinator2]=$!
insecure_info() { env -u DROVER_KEY -u DROVER_COORDINATOR_KEY drover info --timeout 1 --coordinator "tcp://127.0.0.1:${p2[0]}"; }
wait_for "the insecure coordinator answers a client without keys" 30 insecure_info
grep -q "WITHOUT authentication" "$T_DIR/coordinator2.log" || fail "the insecure coordinator does not warn"
stop_pid coordinator2 "${T_PROCS[coordinator2]}" || fail "the insecure coordinator exited $? on SIGTERM"
unset 'T_PROCS[coordinator2]'

# ---------------------------------------------------------- rate limit ---

# Restart with client_rate = 1 (burst 2): a burst of requests from one key
# must be refused well before 40 (a process per call takes far less than
# the 1 s a token takes to come back).
stop_pid coordinator "$(coord_pid)" || fail "the coordinator exited $? on SIGTERM"
unset 'T_PROCS[coordinator]'
T_COORD_EXTRA='  client_rate = 1;'
coord_start
limited=0
for ((i = 0; i < 40; i++)); do
    run_rc rate.out as reader runs
    if [[ $RC -ne 0 ]]; then limited=1; break; fi
done
assert_eq 1 "$limited" "a reader making 40 quick requests was refused"
assert_eq 2 "$RC" "exit status of a rate-limited request: $(cat "$T_DIR/rate.out")"
grep -qi "slow down" "$T_DIR/rate.out" || fail "rate-limit message: $(cat "$T_DIR/rate.out")"
log "rate limited after $((i + 1)) requests"
# Another key is not affected, and the reader gets back in after a pause.
drover info >/dev/null || fail "the admin was rate-limited by the reader's burst"
reader_ok() { as reader runs; }
wait_for "the reader's budget refills" 10 reader_ok
