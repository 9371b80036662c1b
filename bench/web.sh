#!/usr/bin/env bash
# bench/web.sh — drover-web's figures (issue 15; docs/http-api.md):
#
#   (a) live updates: from a step's end (tasks.finished_at, the worker's
#       clock; one host, so clocks agree) to the `event: run` showing it on
#       GET /api/runs/{id}/events, as curl receives it; N runs, one at a time;
#   (b) API latency (curl's time_total) of GET /api/runs?limit=50 and of
#       GET /api/runs/{id} for a run of 1,000 steps, 20 requests each.
#
# Prints medians and maxima. Runs on loopback with CurveZMQ, borrowing the
# integration tests' harness (tests/integration/lib.sh). About a minute.
#
# Usage: bench/web.sh [N]   (default N = 10)
set -euo pipefail
N="${1:-10}"
export DROVER_TEST_LIMIT="${DROVER_TEST_LIMIT:-600}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

pg_start
coord_start
worker_start w1 2
gate_init
K="$T_DIR/k"
mkdir -m 700 "$K"
drover keygen --out "$K/web" >/dev/null && drover keys allow client "$K/web.pub" --role web >/dev/null
drover keygen --out "$K/u" >/dev/null && drover keys allow client "$K/u.pub" --role submitter >/dev/null
TOK=$(drover web-token create u)
PORT=$(freeport)
printf 'web = { listen = "127.0.0.1:%s"; coordinator = "%s"; secret_key = "%s"; coordinator_key = "%s"; rate = 1000; };\n' \
    "$PORT" "$COORD_CLIENT_EP" "$K/web" "$T_KEYS/coordinator.pub" >"$T_DIR/web.cfg"
drover-web --config "$T_DIR/web.cfg" >"$T_DIR/web.log" 2>&1 &
t_track_pid $!
B="http://127.0.0.1:$PORT"
up() { curl -s -o /dev/null "$B/"; }
wait_for "drover-web" 10 up
curl -s -c "$T_DIR/jar" -H 'Content-Type: application/json' -d "{\"token\":\"$TOK\"}" "$B/api/session" >/dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m }'; }
maxof() { sort -n | tail -1 | awk '{ printf "%.1f", $1 }'; }

# (a) ------------------------------------------------------------------
: >"$T_DIR/lat"
for i in $(seq 1 "$N"); do
    printf 'workflow = "live"; steps = ( { name = "s"; kind = "exec"; %s } );\n' "$(gate_cmd "l$i")" >"$T_DIR/l.cfg"
    run=$(DROVER_KEY="$K/u" drover submit "$T_DIR/l.cfg")
    wait_for "run $run running" 30 task_state_is "$run" s running
    # Each line stamped with the wall clock when it arrives.
    (curl -s -N --max-time 60 -b "$T_DIR/jar" "$B/api/runs/$run/events" |
        while IFS= read -r line; do printf '%s %s\n' "${EPOCHREALTIME/,/.}" "$line"; done >"$T_DIR/sse.$i") &
    first() { grep -q ' event: run' "$T_DIR/sse.$i"; }
    wait_for "the stream of run $run" 10 first
    gate_open "l$i"
    ended() { grep -q ' event: end' "$T_DIR/sse.$i"; }
    wait_for "run $run's end event" 30 ended
    fin=$(sql "select extract(epoch from finished_at) from drover.tasks where run_id = $run and name = 's'")
    got=$(grep ' data: {"run"' "$T_DIR/sse.$i" | grep '"name":"s"[^}]*"state":"succeeded"' | head -1 | cut -d' ' -f1)
    awk -v a="$got" -v b="$fin" 'BEGIN { printf "%.1f\n", (a - b) * 1000 }' >>"$T_DIR/lat"
done
printf '(a) step end -> event on the stream, %d runs: median %s ms, max %s ms\n' "$N" \
    "$(median <"$T_DIR/lat")" "$(maxof <"$T_DIR/lat")"

# (b) ------------------------------------------------------------------
{
    echo 'workflow = "big"; steps = ('
    echo "  { name = \"s0\"; kind = \"exec\"; $(gate_cmd big) },"
    for j in $(seq 1 998); do echo "  { name = \"s$j\"; kind = \"exec\"; command = \"true\"; after = [\"s0\"]; },"; done
    echo '  { name = "s999"; kind = "exec"; command = "true"; after = ["s0"]; }'
    echo ');'
} >"$T_DIR/big.cfg"
big=$(DROVER_KEY="$K/u" drover submit "$T_DIR/big.cfg")
for p in "/api/runs?limit=50" "/api/runs/$big"; do
    : >"$T_DIR/t"
    for _ in $(seq 1 20); do
        curl -s -o "$T_DIR/out" -w '%{time_total}\n' -b "$T_DIR/jar" "$B$p" | awk '{ printf "%.1f\n", $1 * 1000 }' >>"$T_DIR/t"
    done
    printf '(b) GET %-22s %7d bytes: median %s ms, max %s ms\n' "$p" "$(wc -c <"$T_DIR/out")" \
        "$(median <"$T_DIR/t")" "$(maxof <"$T_DIR/t")"
done
gate_open big
drover cancel "$big" >/dev/null 2>&1 || true
