#!/usr/bin/env bash
# bench/gang.sh — what a gang costs the orchestration (issue 17;
# docs/distributed.md). On a local cluster of four one-slot workers, runs
# N one-step workflows one after another (`drover submit --wait`) of kind
# noop (no process: the orchestration alone) as a plain step, and as gangs
# of 2 and 4 members, and prints the median submit-to-done latency of each
# and its ratio to the plain step's. A gang is placed in one dispatch and
# its members' transitions share the iteration's transaction, so the ratio
# should stay well below the member count.
#
# Runs on loopback with CurveZMQ, like the integration tests (it borrows
# their harness, tests/integration/lib.sh). About half a minute.
#
# Usage: bench/gang.sh [N]   (default 20 runs per shape)
set -euo pipefail
N="${1:-20}"
export DROVER_TEST_LIMIT="${DROVER_TEST_LIMIT:-900}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

pg_start
coord_start
for i in 1 2 3 4; do worker_start "w$i" 1; done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
measure() { # measure NODES: median ms of N runs
    local nodes=$1 i t0 f="$T_DIR/g$1.cfg"
    printf 'workflow = "g%s";\nsteps = ({ name = "s"; kind = "noop"; nodes = %s; });\n' "$nodes" "$nodes" >"$f"
    for ((i = 0; i < N; i++)); do
        t0=${EPOCHREALTIME/./}
        drover submit --wait "$f" >/dev/null || fail "run $i of nodes = $nodes did not succeed"
        echo $(((${EPOCHREALTIME/./} - t0) / 1000))
    done | median
}
one=$(measure 1)
printf '%-22s %8s %8s\n' shape "median" "ratio"
printf '%-22s %6sms %8s\n' "plain step (noop)" "$one" 1.00
for n in 2 4; do
    m=$(measure "$n")
    printf '%-22s %6sms %8.2f\n' "gang of $n (noop)" "$m" "$(awk -v a="$m" -v b="$one" 'BEGIN { print a / b }')"
done
