#!/usr/bin/env bash
# drover's adapter for the peer harness (../shared/bench-peers, README
# "Adding an adapter"): adapter.sh version | uses | run W1|W2|W3|W4.
#
# Each run starts a coordinator on a fresh database (drover_bench) of the
# harness's PostgreSQL ($PB_PG_URL, same settings as every peer) and
# $PB_CONCURRENCY worker slots as 2 workers (1 when the concurrency is odd),
# runs the workload with bench/lib.sh, stops everything by pid, and writes
# the harness's JSON to $PB_OUT. Times are epoch ms: task starts/ends from
# drover.tasks (the worker's clock), submit times from drover-bench's clock.
#
# Variants (entry drover@VARIANT): "" = W1 as 2 workflows of 10,000
# independent steps (a workflow holds at most 10,000); "runs" = W1 as
# $PB_W1_N single-step runs. Step kind: BENCH_KIND (auto: noop when the
# worker has it, else exec of /bin/true). Programs: DROVER_BIN (default
# <repo>/build/bin).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../../.." && pwd)"

case "${1:-}" in
version)
    v=$(sed -n 's/^project(drover VERSION \([0-9.]*\).*/\1/p' "$REPO/CMakeLists.txt")
    echo "drover ${v:-?} (git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), uncommitted changes included)"
    exit 0 ;;
uses) echo pg; exit 0 ;;
run) ;;
*) echo "usage: $0 version | uses | run W1|W2|W3|W4" >&2; exit 2 ;;
esac
W="${2:?workload}"
: "${PB_OUT:?PB_OUT must name the result file}"

export BENCH_PG_URL="${PB_PG_URL:?}"
export BENCH_DIR="${PB_STATE:-/tmp/peerbench}/drover"
export BENCH_TIMEOUT="${PB_RUN_TIMEOUT:-300}"
export W1_N="${PB_W1_N:-20000}" W2_STEPS="${PB_W2_STEPS:-200}" W3_CHILDREN="${PB_W3_CHILDREN:-1000}"
export W4_SAMPLES="${PB_W4_SAMPLES:-200}" W4_GAP_MS="${PB_W4_GAP_MS:-20}"
C="${PB_CONCURRENCY:-8}"
if ((C % 2 == 0 && C >= 2)); then export BENCH_LAYOUT="2x$((C / 2))"; else export BENCH_LAYOUT="1x$C"; fi
rm -rf "$BENCH_DIR"
# shellcheck source=../../../lib.sh
source "$REPO/bench/lib.sh"
trap b_cleanup EXIT
trap 'exit 143' TERM INT
b_pg_start
cfg="drover $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), kind $BENCH_KIND, workers $BENCH_LAYOUT"

list() { echo "[$1]"; }
case "$W" in
W1)
    mode=wf
    [[ "${PB_VARIANT:-}" == runs ]] && mode=runs
    l=$(bench_w1 "$mode")
    echo "$l" >&2
    printf '{"workload":"W1","n":%s,"enqueue_s":%s,"first_start_ms":%s,"last_end_ms":%s,"config":"%s, W1 as %s"}\n' \
        "$(b_field n "$l")" "$(b_field enqueue_s "$l")" "$(b_field first_start_ms "$l")" "$(b_field last_end_ms "$l")" \
        "$cfg" "$([[ $mode == wf ]] && echo "workflows of <=10,000 steps" || echo "single-step runs")" >"$PB_OUT" ;;
W2)
    l=$(bench_w2)
    printf '{"workload":"W2","steps":%s,"t_submit_ms":%s,"last_end_ms":%s,"transitions_ms":%s,"config":"%s"}\n' \
        "$(b_field steps "$l")" "$(b_field t_submit_ms "$l")" "$(b_field last_end_ms "$l")" \
        "$(list "$(b_field transitions_ms "$l")")" "$cfg" >"$PB_OUT" ;;
W3)
    l=$(bench_w3)
    echo "$l" >&2
    printf '{"workload":"W3","children":%s,"children_run":%s,"t_submit_ms":%s,"root_start_ms":%s,"join_end_ms":%s,"config":"%s"}\n' \
        "$(b_field children "$l")" "$(b_field children_run "$l")" "$(b_field t_submit_ms "$l")" \
        "$(b_field root_start_ms "$l")" "$(b_field join_end_ms "$l")" "$cfg" >"$PB_OUT" ;;
W4)
    l=$(bench_w4)
    printf '{"workload":"W4","samples":%s,"latencies_ms":%s,"config":"%s"}\n' \
        "$(b_field samples "$l")" "$(list "$(b_field latencies_ms "$l")")" "$cfg" >"$PB_OUT" ;;
*) echo "unknown workload $W" >&2; exit 2 ;;
esac
