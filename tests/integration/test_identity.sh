#!/usr/bin/env bash
# Worker identity (issue 9, observation 1; docs/security.md): a worker name
# belongs to the key that first registered it. Another allowed worker key
# registering under that name, claiming guessed leases and sending a forged
# Result, is refused and changes nothing, while the honest run beside it
# finishes with no worker declared dead and no task lost. Two honest
# workers sharing a name: the newer is refused while the older lives (it
# says which host holds the name) and takes over once the older is gone;
# never ping-pong. An admin re-binds a name with `drover keys rebind`.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start local-1 4

K="$T_DIR/k"
mkdir -m 700 "$K"
drover keygen --out "$K/evil" >/dev/null || fail "keygen evil exited $?"
drover keys allow worker "$K/evil.pub" >/dev/null || fail "allow evil exited $?"

# poke KEY ARGS...: a hand-made worker session with key KEY.
poke() {
    local key="$1"
    shift
    drover-test-zmqpoke -q --proto worker --key "$key" --server-key "$T_KEYS/coordinator.pub" \
        --linger 500 "$@" "$COORD_WORKER_EP"
}

cat >"$T_DIR/slow.cfg" <<'EOF'
workflow = "slow";
steps = (
  { name = "a"; kind = "exec"; argv = ["/bin/sh", "-c", "sleep 2; echo a-done"]; },
  { name = "b"; kind = "exec"; argv = ["/bin/sh", "-c", "sleep 2; echo b-done"]; },
  { name = "c"; kind = "exec"; after = ["a", "b"]; argv = ["/bin/sh", "-c", "echo c-done"]; }
);
EOF
run=$(submit "$T_DIR/slow.cfg")
wait_for "steps a and b run on local-1" 20 sql_is \
    "select count(*) from drover.tasks where run_id = $run and state = 'running' and worker = 'local-1'" 2
held=$(sql "select json_agg(json_build_object('task_id', id, 'attempt', attempt)) from drover.tasks
            where run_id = $run and name in ('a', 'b')")
ta=$(sql "select id from drover.tasks where run_id = $run and name = 'a'")

# ------------------------------------------------ another key, same name ---
forged_outputs='{\"model\":{\"name\":\"claims\",\"kind\":\"softmax\",\"artifact\":\"'$(printf 'ab%.0s' {1..32})'\"}}'
poke "$K/evil" \
    --msg '{"register":{"name":"local-1","host":"evil-host","slots":4,"kinds":["exec"],"held":'"$held"'}}' \
    --await 5000 \
    --msg '{"result":{"lease":{"task_id":'"$ta"',"attempt":1},"outcome":"OUTCOME_EXITED","exit_code":0,"outputs_json":"'"$forged_outputs"'"}}' \
    --msg '{"heartbeat":{"running":'"$held"'}}' \
    --drain 1500 >"$T_DIR/evil.out" || fail "zmqpoke (evil) exited $?: $(cat "$T_DIR/evil.out")"
head -1 "$T_DIR/evil.out" | jq -e '.register_reply.accepted == false' >/dev/null ||
    fail "a Register from another key under local-1's name was not refused: $(cat "$T_DIR/evil.out")"
head -1 "$T_DIR/evil.out" | jq -r '.register_reply.reason' | grep -q "belongs to another key" ||
    fail "the refusal does not say why: $(head -1 "$T_DIR/evil.out")"
head -1 "$T_DIR/evil.out" | jq -r '.register_reply.reason' | grep -q "drover keys rebind local-1 evil" ||
    fail "the refusal does not say how to fix it: $(head -1 "$T_DIR/evil.out")"
if jq -e 'select(.result_ack)' "$T_DIR/evil.out" >/dev/null; then
    fail "the forged Result was acknowledged: $(cat "$T_DIR/evil.out")"
fi
grep -q "refused worker registration (evil): worker name 'local-1' belongs to another key" \
    "$T_DIR/coordinator.log" || fail "the coordinator did not log the refusal"

# A connection of the victim's key cannot be used by another key either:
# without a registration of its own it is told to register.
poke "$K/evil" --msg '{"heartbeat":{"running":'"$held"'}}' --await 3000 >"$T_DIR/evil2.out" ||
    fail "zmqpoke (evil heartbeat) exited $?"
jq -e '.reregister' "$T_DIR/evil2.out" >/dev/null || fail "unregistered heartbeat: $(cat "$T_DIR/evil2.out")"

# ------------------------------------------- a second process, same key ---
drover-worker --config "$T_CFG" --coordinator "$COORD_WORKER_EP" --name local-1 --slots 2 \
    </dev/null >>"$T_DIR/worker-clone.log" 2>&1 &
clone=$!
t_track_pid "$clone"
wait_for "the clone is refused for now" 20 grep -q "in use by a live session from host" "$T_DIR/worker-clone.log"
pid_alive "$clone" || fail "the clone exited instead of waiting for the name"

assert_eq succeeded "$(wait_run "$run" 30)" "state of the honest run"
assert_eq 0 "$(sql "select count(*) from drover.tasks where run_id = $run and (attempt <> 1 or lost <> 0 or worker <> 'local-1')")" \
    "tasks of the honest run that were lost, retried or ran elsewhere"
assert_eq 0 "$(sql "select count(*) from drover.events where kind = 'worker_state' and to_state = 'dead'")" \
    "workers declared dead"
drover logs "$run" a | grep -q a-done || fail "step a's output is not the honest worker's"
assert_eq 0 "$(sql "select count(*) from drover.model_versions")" "models registered from a forged Result"
grep -q "refused" "$T_DIR/worker-local-1.log" && fail "the honest worker was refused: $(cat "$T_DIR/worker-local-1.log")"
assert_eq 1 "$(sql "select count(*) from drover.events where kind = 'worker_registered' and worker = 'local-1'")" \
    "registrations of local-1 (no ping-pong)"
assert_eq worker "$(sql "select key from drover.workers where name = 'local-1'")" "key bound to local-1"

# The older one goes: the clone takes the name over (same key).
stop_pid local-1 "$(worker_pid local-1)" || true
unset "T_PROCS[worker-local-1]"
wait_for "the clone registers once the name is free" 20 grep -q "registered with" "$T_DIR/worker-clone.log"

# ------------------------------------------------------------- rebind ---
out=$(drover keys rebind local-1 evil) || fail "keys rebind exited $?: $out"
grep -q "now belongs to key 'evil'" <<<"$out" || fail "keys rebind said: $out"
sql "select detail from drover.audit" | grep -q "keys rebind" || fail "no audit row for keys rebind"
# The clone (key 'worker') was dropped; registering again it is refused for good.
wait_for "the clone exits, refused" 20 pid_gone "$clone"
grep -q "belongs to another key" "$T_DIR/worker-clone.log" || fail "clone log: $(tail -5 "$T_DIR/worker-clone.log")"
poke "$K/evil" --msg '{"register":{"name":"local-1","host":"h","slots":1,"kinds":["exec"],"session":7}}' \
    --await 5000 >"$T_DIR/evil3.out" || fail "zmqpoke (evil after rebind) exited $?"
jq -e '.register_reply.accepted == true' "$T_DIR/evil3.out" >/dev/null ||
    fail "the key the name was given to is refused: $(cat "$T_DIR/evil3.out")"
run_rc() { RC=0; "$@" >"$T_DIR/rc.out" 2>&1 || RC=$?; }
run_rc drover keys rebind local-1 admin
assert_eq 2 "$RC" "exit status of rebinding to a client key"
grep -q "not an allowed worker key" "$T_DIR/rc.out" || fail "rebind to a client key: $(cat "$T_DIR/rc.out")"
log "ok"
