#!/usr/bin/env bash
# A worker speaking another protocol version is refused, exits 2 and is
# never listed.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start good 1
worker_start --no-wait bad 1 --protocol-version 99

pid=$(worker_pid bad)
wait_for "worker with protocol 99 exits" 20 pid_gone "$pid"
worker_forget bad
assert_eq 2 "$T_RC" "exit status of the refused worker"
grep -qi "refused" "$T_DIR/worker-bad.log" || fail "worker log does not name the refusal: $(cat "$T_DIR/worker-bad.log")"
grep -q "refused worker" "$T_DIR/coordinator.log" || fail "coordinator log lacks 'refused worker'"

drover workers --json >"$T_DIR/workers.json" || fail "drover workers --json exited $?"
jq -r '.. | strings' "$T_DIR/workers.json" | grep -qx good || fail "drover workers --json does not list 'good'"
jq -r '.. | strings' "$T_DIR/workers.json" | grep -qx bad && fail "drover workers --json lists the refused worker"
drover workers | grep -qw bad && fail "drover workers lists the refused worker"
assert_eq 0 "$(sql "select count(*) from drover.workers where name = 'bad'")" "refused worker rows in drover.workers"
