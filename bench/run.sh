#!/usr/bin/env bash
# bench/run.sh — what `make bench` runs: drover's own benchmarks (W1-W4,
# S1, S2; definitions in docs/benchmarks.md) against a private cluster it
# starts and stops (PostgreSQL with the peer harness's settings on a free
# port, coordinator, workers; all state in a temp folder removed at exit).
# Each workload runs 3 times (BENCH_REPS); the table shows the medians.
#
#   bench/run.sh                 full sizes (S1: 1k / 100k / 1M waiting)
#   BENCH_QUICK=1 bench/run.sh   smaller: W1 N=5,000, S1 1k / 10k / 100k, 1 rep
#   BENCH_ONLY="W2 W4" ...       a subset (W1 W2 W3 W4 S1 S2)
#   BENCH_SYNC_OFF=1 ...         add W1-W4 with synchronous_commit = off
#   BENCH_EXEC_LINE=0 ...        skip the extra exec-of-/bin/true lines
#                                (shown when the main kind is noop)
#
# Environment of bench/lib.sh applies (DROVER_BIN, BENCH_KIND, BENCH_LAYOUT,
# BENCH_TIMEOUT). Raw lines of every rep go to $BENCH_RAW (default
# ${TMPDIR:-/tmp}/drover-bench-raw.txt).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

QUICK="${BENCH_QUICK:-0}"
REPS="${BENCH_REPS:-3}"
ONLY="${BENCH_ONLY:-W1 W2 W3 W4 S1 S2}"
if [[ $QUICK == 1 ]]; then
    REPS="${BENCH_REPS:-1}"
    export W1_N="${W1_N:-5000}"
    S1_SIZES="${S1_SIZES:-1000 10000 100000}"
else
    S1_SIZES="${S1_SIZES:-1000 100000 1000000}"
fi
RAW="${BENCH_RAW:-${TMPDIR:-/tmp}/drover-bench-raw.txt}"
: >"$RAW"
ROWS=()   # "workload|figure|value"

trap 'b_cleanup' EXIT
trap 'exit 130' INT TERM
want() { [[ " $ONLY " == *" $1 "* ]]; }
row() { ROWS+=("$1|$2|$3"); printf '  %-28s %-44s %s\n' "$1" "$2" "$3" >&2; }

# reps NAME CMD...: runs CMD REPS times, keeping each output line in
# R_LINES (and in the raw file, tagged NAME).
reps() {
    local name="$1" i line
    shift
    R_LINES=()
    for ((i = 1; i <= REPS; i++)); do
        b_log "$name rep $i/$REPS"
        line=$("$@") || b_die "$name failed"
        R_LINES+=("$line")
        echo "$name rep=$i $line" >>"$RAW"
    done
}
# med KEY: median over R_LINES of the numeric field KEY=.
med() {
    local l vals=()
    for l in "${R_LINES[@]}"; do vals+=("$(b_field "$1" "$l")"); done
    b_median "${vals[@]}"
}
# medstat KEY STAT: per-rep statistic (p50, p99, mean) of the list field
# KEY=, then the median of those over the reps.
medstat() {
    local l vals=() list
    for l in "${R_LINES[@]}"; do
        list=$(b_field "$1" "$l")
        case "$2" in mean) vals+=("$(b_mean "$list")") ;; p*) vals+=("$(b_pct "$list" "${2#p}")") ;; esac
    done
    b_median "${vals[@]}"
}
w1_shape() { local n="${W1_N:-20000}" per; per=$((n < 10000 ? n : 10000)); echo "$(((n + per - 1) / per)) workflows x $per"; }
fmt0() { awk -v v="$1" 'BEGIN { printf "%\047.0f", v }'; }

# workloads PASS KIND: W1-W4 with the given kind; PASS labels the rows.
workloads() {
    local tag="$1" old="$BENCH_KIND"
    BENCH_KIND="$2"
    if want W1; then
        reps "W1-wf$tag" bench_w1 wf
        row "W1 one workflow$tag" "throughput (tasks/s), $(w1_shape)" "$(fmt0 "$(med throughput_per_s)")"
        row "W1 one workflow$tag" "submit rate (tasks/s)" "$(fmt0 "$(med submit_per_s)")"
        reps "W1-runs$tag" bench_w1 runs
        row "W1 many runs$tag" "throughput (tasks/s), ${W1_N:-20000} runs x 1" "$(fmt0 "$(med throughput_per_s)")"
        row "W1 many runs$tag" "submit rate (runs/s)" "$(fmt0 "$(med submit_per_s)")"
    fi
    if want W2; then
        reps "W2$tag" bench_w2
        row "W2 chain$tag" "hand-off mean / p50 / p99 (ms)" \
            "$(medstat transitions_ms mean) / $(medstat transitions_ms p50) / $(medstat transitions_ms p99)"
    fi
    if want W3; then
        reps "W3$tag" bench_w3
        row "W3 fan-out/in$tag" "wall, submit -> join end (s)" "$(awk -v v="$(med wall_ms)" 'BEGIN { printf "%.3f", v / 1000 }')"
    fi
    if want W4; then
        reps "W4$tag" bench_w4
        row "W4 idle latency$tag" "submit -> start p50 / p99 (ms)" \
            "$(medstat latencies_ms p50) / $(medstat latencies_ms p99)"
    fi
    BENCH_KIND="$old"
}

b_pg_start
b_log "private PostgreSQL at $B_PG_URL (peer settings), kind=$BENCH_KIND, workers=$BENCH_LAYOUT, reps=$REPS"
b_log "state in $BENCH_DIR"

workloads "" "$BENCH_KIND"
if [[ "$BENCH_KIND" == noop && "${BENCH_EXEC_LINE:-1}" == 1 ]]; then
    ONLY_SAVE="$ONLY"
    ONLY="$(tr ' ' '\n' <<<"$ONLY" | grep -E '^W[1-4]$' | tr '\n' ' ')" || true
    workloads " [exec /bin/true]" exec
    ONLY="$ONLY_SAVE"
fi

if want S1; then
    s1_first="" s1_last=""
    for size in $S1_SIZES; do
        # One backlog per size; its three windows of K starts are the reps.
        line=$(bench_s1 "$size") || b_die "S1 $size failed"
        echo "S1 $line" >>"$RAW"
        v=$(b_median $(b_field us_per_task "$line" | tr ',' ' '))
        row "S1 backlog $size" "dispatch cost (us/task, K=${S1_K:-250})" "$v"
        row "S1 backlog $size" "backlog submit (s)" "$(b_field submit_s "$line")"
        [[ -z "$s1_first" ]] && s1_first="$v"
        s1_last="$v"
    done
    row "S1 ratio" "largest / smallest backlog" "$(awk -v a="$s1_last" -v b="$s1_first" 'BEGIN { printf "%.2f", a / b }')"
fi

if want S2; then
    reps "S2" bench_s2
    row "S2 ${S2_WORKERS:-1000} sim workers" "coordinator CPU, idle (% of one core)" "$(med idle_cpu_pct)"
    row "S2 ${S2_WORKERS:-1000} sim workers" "submit -> start p50 / p99 (ms)" \
        "$(medstat latencies_ms p50) / $(medstat latencies_ms p99)"
fi

if [[ "${BENCH_SYNC_OFF:-0}" == 1 ]]; then
    b_pg_sync off
    ONLY="$(tr ' ' '\n' <<<"$ONLY" | grep -E '^W[1-4]$' | tr '\n' ' ')" || true
    workloads " [sync off]" "$BENCH_KIND"
    b_pg_sync on
fi

echo
echo "drover benchmarks: $(nproc) cores, kind=$BENCH_KIND, workers $BENCH_LAYOUT, synchronous_commit=on" \
    "unless marked, median of $REPS"
echo
echo "| workload | figure | median |"
echo "|---|---|---|"
for r in "${ROWS[@]}"; do
    IFS='|' read -r a b c <<<"$r"
    echo "| $a | $b | $c |"
done
echo
echo "raw figures: $RAW"
