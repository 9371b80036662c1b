#!/usr/bin/env bash
# Garbage, oversized and oddly framed messages on both sockets are dropped
# and counted; the coordinator keeps serving.
source "$(dirname "$0")/lib.sh"

pg_start
# shellcheck disable=SC2034 # read by coord_start in lib.sh
T_COORD_EXTRA='  max_message = 65536;'
coord_start

for ep in "$COORD_CLIENT_EP" "$COORD_WORKER_EP"; do
    drover-test-zmqpoke -q --seed 1 -g 100 -s 512 -m 3 -m 5 -e -x 08631001820100 -r hello "$ep" ||
        fail "zmqpoke garbage to $ep exited $?"
    drover-test-zmqpoke -q -o 100000 "$ep" || fail "zmqpoke oversized to $ep exited $?"
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
