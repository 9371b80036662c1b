#!/usr/bin/env bash
# With nothing listening, the CLI gives up after its timeout with exit 3
# and names the endpoint.
source "$(dirname "$0")/lib.sh"

port=$(freeport)
ep="tcp://127.0.0.1:$port"
t0=$(_now)
rc=0
drover runs --timeout 1 --coordinator "$ep" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
t1=$(_now)
assert_eq 3 "$rc" "exit status of drover runs with no coordinator"
grep -q "127.0.0.1:$port" "$T_DIR/err" || fail "message does not name the endpoint: $(cat "$T_DIR/err")"
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
log "gave up after ${elapsed}s"
awk -v e="$elapsed" 'BEGIN { exit !(e < 10) }' || fail "drover runs --timeout 1 took ${elapsed}s (bound 10 s)"

# Same through the environment.
rc=0
DROVER_COORDINATOR="$ep" drover info --timeout 1 >/dev/null 2>"$T_DIR/err" || rc=$?
assert_eq 3 "$rc" "exit status of drover info with DROVER_COORDINATOR pointing nowhere"
