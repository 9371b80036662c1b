#!/usr/bin/env bash
# Garbage, oversized and oddly framed messages on both sockets are dropped
# and counted; the coordinator keeps serving. The coordinator runs with
# CURVE (lib.sh): garbage from a sender without keys, or with a key that is
# not allowed, is refused at the handshake and never reaches the decoder;
# garbage from authenticated peers (the admin client key, the allowed
# worker key) does, and is counted.
source "$(dirname "$0")/lib.sh"

pg_start
# shellcheck disable=SC2034 # read by coord_start in lib.sh
T_COORD_EXTRA='  max_message = 65536;'
coord_start
worker_key_allow

dropped_now() { drover info --json | jq -r '[.. | .dropped_messages? // empty] | first // 0'; }

# Unauthenticated garbage: no keys at all, then a key nobody allowed.
drover keygen --out "$T_DIR/stranger" >/dev/null || fail "drover keygen exited $?"
for ep in "$COORD_CLIENT_EP" "$COORD_WORKER_EP"; do
    drover-test-zmqpoke -q -l 500 --seed 2 -g 50 -s 512 -e -r hello "$ep" ||
        fail "zmqpoke garbage without keys to $ep exited $?"
    drover-test-zmqpoke -q -l 500 --seed 3 -g 50 -s 512 -e -r hello \
        -k "$T_DIR/stranger" -K "$T_KEYS/coordinator.pub" "$ep" ||
        fail "zmqpoke garbage with an unknown key to $ep exited $?"
done
wait_for "the coordinator refuses the unknown key on both sockets" 20 \
    bash -c "[[ \$(grep -c 'refused a .* connection: key not allowed' '$T_DIR/coordinator.log') -ge 2 ]]"
pid_alive "$(coord_pid)" || fail "the coordinator died from unauthenticated garbage"
assert_eq 0 "$(dropped_now)" "dropped_messages after garbage that never passed the handshake"

# Authenticated garbage reaches the decoder and is counted.
for ep in "$COORD_CLIENT_EP" "$COORD_WORKER_EP"; do
    if [[ "$ep" == "$COORD_CLIENT_EP" ]]; then key="$T_KEYS/admin"; else key="$T_KEYS/worker"; fi
    drover-test-zmqpoke -q --seed 1 -g 100 -s 512 -m 3 -m 5 -e -x 08631001820100 -r hello \
        -k "$key" -K "$T_KEYS/coordinator.pub" "$ep" ||
        fail "zmqpoke garbage to $ep exited $?"
    drover-test-zmqpoke -q -o 100000 -k "$key" -K "$T_KEYS/coordinator.pub" "$ep" ||
        fail "zmqpoke oversized to $ep exited $?"
done
pid_alive "$(coord_pid)" || fail "the coordinator died from garbage"

dropped() {
    local n
    n=$(drover info --json | jq -r '[.. | .dropped_messages? // empty] | first // 0') || return 1
    [[ "$n" =~ ^[0-9]+$ && $n -gt 0 ]]
}
wait_for "drover info --json reports dropped_messages > 0" 20 dropped
log "dropped_messages: $(drover info --json | jq -c '[.. | .dropped_messages? // empty] | first')"

worker_start w1 2
run=$(submit "$(wf simple)")
assert_eq succeeded "$(wait_run "$run")" "run state after the garbage"
pid_alive "$(coord_pid)" || fail "the coordinator died"
