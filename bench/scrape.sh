#!/usr/bin/env bash
# bench/scrape.sh — what Prometheus scraping costs the hand-off (issue 14):
# W2 (a chain of W2_STEPS steps, hand-off = previous step's end -> next
# step's start) with the coordinator's metrics endpoint on, once without a
# scraper and once with /metrics fetched every 100 ms, alternating the two
# SCRAPE_REPS times each on the same PostgreSQL, then the medians of the
# per-rep p50 and p99 and their ratio. Prints figures; asserts nothing.
#
#   bench/scrape.sh                  (DROVER_BIN as for bench/run.sh)
#   SCRAPE_REPS=9 W2_STEPS=4000 bench/scrape.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
REPS="${SCRAPE_REPS:-5}"
# Long enough for a few dozen scrapes per rep (200 steps last under a second).
export W2_STEPS="${W2_STEPS:-2000}"
trap 'b_cleanup' EXIT
trap 'exit 130' INT TERM
b_pg_start
MPORT=$("$DROVER_BIN/drover-test-freeport" 1)
export BENCH_COORD_EXTRA="  metrics_listen = \"127.0.0.1:$MPORT\";"

scraper() { # fetches /metrics every 100 ms until killed; counts good scrapes
    local n=0
    while true; do
        curl -sf -o /dev/null "http://127.0.0.1:$MPORT/metrics" && n=$((n + 1))
        echo "$n" >"$BENCH_DIR/scrapes"
        b_pause 0.1
    done
}

declare -a P50_OFF P50_ON P99_OFF P99_ON
for ((i = 1; i <= REPS; i++)); do
    for mode in off on; do
        pid=""
        if [[ $mode == on ]]; then
            scraper &
            pid=$!
        fi
        line=$(bench_w2)
        [[ -n "$pid" ]] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
        tr=$(b_field transitions_ms "$line")
        p50=$(b_pct "$tr" 50) p99=$(b_pct "$tr" 99)
        b_log "rep $i scrape=$mode: hand-off p50 $p50 ms, p99 $p99 ms"
        if [[ $mode == on ]]; then P50_ON+=("$p50"); P99_ON+=("$p99"); else P50_OFF+=("$p50"); P99_OFF+=("$p99"); fi
    done
done
m50off=$(b_median "${P50_OFF[@]}") m50on=$(b_median "${P50_ON[@]}")
m99off=$(b_median "${P99_OFF[@]}") m99on=$(b_median "${P99_ON[@]}")
printf 'W2 hand-off (ms), %s steps, median of %s reps each, metrics endpoint on:\n' "${W2_STEPS:-200}" "$REPS"
printf '  not scraped:        p50 %s  p99 %s\n' "$m50off" "$m99off"
printf '  scraped every 100ms: p50 %s  p99 %s  (%s scrapes in the last rep)\n' "$m50on" "$m99on" \
    "$(cat "$BENCH_DIR/scrapes" 2>/dev/null || echo 0)"
awk -v a="$m50on" -v b="$m50off" 'BEGIN { printf "  p50 ratio scraped / not: %.3f\n", (b > 0 ? a / b : 0) }'
