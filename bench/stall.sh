#!/usr/bin/env bash
# bench/stall.sh — what one costly client can cost everyone (issue 9;
# docs/security.md "Figures"). Prints, for each scenario, the coordinator's
# worst loop stall and its peak RSS beyond its idle size:
#
#   (a) 1,000 `logs` requests (from offset 0) on a step with a 50 MB log;
#   (b) the densest workflow the limits allow: 10,000 steps, 20,000
#       dependencies (WORKFLOW_MAX_STEPS, WORKFLOW_MAX_EDGES);
#   (c) 1,000 parked long-polls (status requests waiting for a change).
#
# Stall: CoordinatorInfo.longest_iteration_us (`drover info --json`), the
# longest busy loop iteration, read from a coordinator restarted for the
# scenario; and, as a cross-check from outside, the slowest of the
# `drover info` calls a probe makes every 10 ms meanwhile (this includes
# starting the drover process, a few ms). RSS: VmHWM (peak) minus the
# VmRSS measured once the restarted coordinator is idle.
#
# The goal (issue 9): each stall < 100 ms and < 100 MB beyond idle.
# Runs on loopback with CurveZMQ, like the integration tests (it borrows
# their harness, tests/integration/lib.sh). About 1-3 minutes.
#
# Usage: bench/stall.sh [a] [b] [c]   (default: all three scenarios)
set -euo pipefail
ONLY=" ${*:-a b c} "
want() { [[ "$ONLY" == *" $1 "* ]]; }
export DROVER_TEST_LIMIT="${DROVER_TEST_LIMIT:-900}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

# shellcheck disable=SC2034 # read by coord_start
T_COORD_EXTRA='  client_rate = 1000000;
  max_log_bytes = 134217728;'
pg_start
coord_start
worker_start w1 2

poke() { admin_poke "$@"; }
rss_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$(coord_pid)/status"; }

# restart: a fresh coordinator (its peak RSS and longest iteration start
# from this scenario), then its idle RSS once it answers.
restart() {
    coord_kill9
    coord_start
    wait_for "the worker is back" 20 sql_is \
        "select state from drover.workers where name = 'w1'" connected
    drover info >/dev/null
    IDLE_KB=$(rss_kb VmRSS)
}

# probe_start / probe_stop: `drover info` every 10 ms; the slowest call.
probe_start() {
    (
        worst=0
        while [[ ! -e "$T_DIR/probe.stop" ]]; do
            t0=${EPOCHREALTIME/./}
            drover info --timeout 10 >/dev/null 2>&1 || true
            d=$(( ${EPOCHREALTIME/./} - t0 ))
            ((d > worst)) && worst=$d
            echo "$worst" >"$T_DIR/probe.worst"
            read -r -t 0.01 <>"$T_DIR/.probe-tick" || true
        done
    ) &
    PROBE=$!
}
probe_stop() {
    touch "$T_DIR/probe.stop"
    wait "$PROBE" || true
    rm -f "$T_DIR/probe.stop"
}

report() { # NAME
    local us hwm
    us=$(drover info --json | jq -r '.longest_iteration_us')
    hwm=$(rss_kb VmHWM)
    printf '%-44s stall %8.1f ms (probe: slowest info %7.1f ms)   peak RSS %7.1f MB beyond idle (idle %.1f MB)\n' \
        "$1" "$(bc -l <<<"$us / 1000")" "$(bc -l <<<"$(cat "$T_DIR/probe.worst") / 1000")" \
        "$(bc -l <<<"($hwm - $IDLE_KB) / 1024")" "$(bc -l <<<"$IDLE_KB / 1024")"
}

# --------------------------------------------------------------- (a) ---
if want a; then
cat >"$T_DIR/big.cfg" <<'EOF'
workflow = "big-log";
steps = ( { name = "s"; kind = "exec"; argv = ["/bin/sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' x"]; } );
EOF
run=$(submit "$T_DIR/big.cfg")
wait_run "$run" 300 >/dev/null
stored=$(sql "select sum(length(data)) from drover.task_logs t join drover.tasks k on k.id = t.task_id where k.run_id = $run")
restart
probe_start
poke --summary --times 1000 --msg '{"request_id":1,"logs":{"run_id":'"$run"',"step":"s"}}' \
    --collect 1000 >"$T_DIR/a.out"
probe_stop
got=$(jq -s 'map(select(.error == "ERROR_NONE")) | length' "$T_DIR/a.out")
report "(a) 1,000 logs on a ${stored}-byte log ($got ok)"
fi

# --------------------------------------------------------------- (b) ---
if want b; then
jq -n '{request_id: 2, submit: {workflow: "dense", steps: [range(0; 10000) as $i |
        {name: "s\($i)", kind: "exec", spec_json: "{\"argv\":[\"/bin/true\"]}",
         resources: {labels: ["nobody"]},
         after: [range([0, $i - 2] | max; $i) | "s\(.)"]}]}}' >"$T_DIR/dense.json"
edges=$(jq '[.submit.steps[].after | length] | add' "$T_DIR/dense.json")
restart
probe_start
poke --summary --msg "@$T_DIR/dense.json" --await 60000 >"$T_DIR/b.out"
probe_stop
report "(b) submit: 10,000 steps, $edges edges ($(jq -r .error "$T_DIR/b.out"))"
fi

# --------------------------------------------------------------- (c) ---
if want c; then
cat >"$T_DIR/stuck.cfg" <<'EOF'
workflow = "stuck";
steps = ( { name = "s"; kind = "exec"; argv = ["/bin/true"]; resources = { labels = ["nobody"]; }; } );
EOF
stuck=$(submit "$T_DIR/stuck.cfg")
restart
ver=$(poke --msg '{"request_id":1,"status":{"run_id":'"$stuck"'}}' --await 5000 | jq -r '.runs[0].version')
probe_start
poke --summary --times 1000 --msg '{"request_id":100,"status":{"run_id":'"$stuck"',"known_version":'"$ver"',"wait_ms":5000}}' \
    --collect 1000 >"$T_DIR/c.out"
probe_stop
report "(c) 1,000 parked long-polls ($(jq -s 'map(select(.error == "ERROR_NONE")) | length' "$T_DIR/c.out") answered at their deadline)"
fi
