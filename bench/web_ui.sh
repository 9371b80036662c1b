#!/usr/bin/env bash
# bench/web_ui.sh — drover-web's pages in headless Chromium (issue 15; figures
# in docs/web.md). With 10,000 runs and a 1,000-step run in the database:
#
#   runs page  time from navigation start to the first page of runs drawn
#              (data-readyAt: DOM built; data-paintedAt: two animation
#              frames later, i.e. laid out and painted), median of N loads,
#              and the renderer's main-thread work per load (less noisy);
#   DAG page   the same for the 1,000-step run's graph, and the layout time
#              alone (the layered layout above dag.js's DAGRE_MAX steps);
#   live       a step's transition (tasks.finished_at, the worker's clock on
#              this host) to the moment the open DAG page shows it
#              (window.__droverSeen, the browser's clock), median of S steps.
#
# Runs on loopback with CurveZMQ, borrowing the integration tests' harness
# (tests/integration/lib.sh); bench/web.sh measures the API alone.
# Usage: bench/web_ui.sh  (BENCH_LOADS=N, default 7)
set -euo pipefail
export DROVER_TEST_LIMIT="${DROVER_TEST_LIMIT:-900}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"
LOADS="${BENCH_LOADS:-7}"
SAMPLES=5

# shellcheck disable=SC2034 # read by coord_start
T_COORD_EXTRA='  client_rate = 1000000;'
pg_start
coord_start
worker_start w1 8 --artifact-dir "$T_DIR/artifacts"
gate_init

drover keygen --out "$T_DIR/web" >/dev/null || fail "keygen web"
drover keys allow client "$T_DIR/web.pub" --role web >/dev/null || fail "allow web"
TOKEN=$(drover web-token create admin) || fail "web-token create admin exited $?"
WEB_PORT=$(freeport)
printf 'web = {\n  listen = "127.0.0.1:%s";\n  coordinator = "%s";\n  secret_key = "%s";\n  coordinator_key = "%s";\n  rate = 10000;\n};\n' \
    "$WEB_PORT" "$COORD_CLIENT_EP" "$T_DIR/web" "$T_KEYS/coordinator.pub" >"$T_DIR/web.cfg"
drover-web --config "$T_DIR/web.cfg" >"$T_DIR/web.log" 2>&1 &
t_track_pid $!
web_up() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WEB_PORT/api/me")" == 401 ]]; }
wait_for "drover-web answers" 20 web_up

# 10,000 finished one-step runs as history, written by SQL (submitting them
# one by one through the CLI would take most of the time here; the pages
# only read them). A third came from a schedule "nightly", a tenth failed.
log "writing 10,000 finished runs"
sql "insert into drover.runs (workflow, state, submitted_by, submitted_key, submitted_at, started_at,
                              finished_at, tasks_total, schedule)
     select case when g % 3 = 0 then 'nightly-train' else 'hello' end,
            case when g % 10 = 0 then 'failed' else 'succeeded' end, 'bench', 'admin',
            now() - (10001 - g) * interval '1 minute', now() - (10001 - g) * interval '1 minute',
            now() - (10001 - g) * interval '1 minute' + interval '2 seconds', 1,
            case when g % 3 = 0 then 'nightly' end
     from generate_series(1, 10000) g" >/dev/null || fail "cannot write the runs"
sql "insert into drover.tasks (run_id, idx, name, kind, spec, state, attempt)
     select id, 0, 'step', 'noop', '{}'::jsonb, state, 1 from drover.runs where submitted_by = 'bench'" >/dev/null ||
    fail "cannot write the tasks"

# The 1,000-step run: 40 layers of 25 `true` steps, each after two of the
# layer before, and SAMPLES steps that wait for a file each (the live
# samples), after the last layer.
W=25
{
    echo 'workflow = "big";'
    echo 'steps = ('
    for ((i = 0; i < 1000 - SAMPLES; i++)); do
        deps=""
        if ((i >= W)); then
            a=$((i - W)) b=$((i - W + ((i % W) == W - 1 ? -1 : 1)))
            deps="after = [\"s$a\", \"s$b\"]; "
        fi
        echo "  { name = \"s$i\"; kind = \"noop\"; $deps},"
    done
    for ((k = 1; k <= SAMPLES; k++)); do
        sep=","
        ((k == SAMPLES)) && sep=""
        echo "  { name = \"wait$k\"; kind = \"exec\"; after = [\"s$((1000 - SAMPLES - 1))\"]; $(gate_cmd "wait$k") }$sep"
    done
    echo ');'
} >"$T_DIR/big.cfg"
BIG=$(submit "$T_DIR/big.cfg")
waiting() { sql_is "select count(*) from drover.tasks where run_id = $BIG and name like 'wait%' and state = 'running'" "$SAMPLES"; }
wait_for "the 1,000-step run reaches its waiting steps" 300 waiting
log "runs in the database: $(sql "select count(*) from drover.runs")"

# The API alone (curl, no browser), to tell the server's share from the page's.
B="http://127.0.0.1:$WEB_PORT"
curl -sf -c "$T_DIR/jar" -H 'Content-Type: application/json' -d "{\"token\":\"$TOKEN\"}" "$B/api/session" >/dev/null ||
    fail "curl sign-in failed"
api_ms() { # PATH: median of 7 GETs, in ms
    for _ in 1 2 3 4 5 6 7; do
        curl -sf -b "$T_DIR/jar" -o /dev/null -w '%{time_total}\n' "$B$1" || fail "GET $1 failed"
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%.0f", a[int((NR + 1) / 2)] * 1000 }'
}
echo "API: GET /api/me median $(api_ms /api/me) ms; GET /api/runs?limit=50 median $(api_ms '/api/runs?limit=50') ms; GET /api/runs/$BIG (1,000 steps, $(curl -sf -b "$T_DIR/jar" "$B/api/runs/$BIG" | wc -c) bytes) median $(api_ms "/api/runs/$BIG") ms"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

export WEB_URL="http://127.0.0.1:$WEB_PORT" TOKEN BIG LOADS SAMPLES GO_PREFIX="$T_DIR/go.wait"
node --no-warnings "$T_REPO/tests/web/bench_web.mjs" "$T_DIR" 2>&1 | tee "$T_DIR/bench.out"
# The transitions' own times, for the live latency (same host, same clock).
sql "select name || ' ' || (extract(epoch from finished_at) * 1000)::bigint from drover.tasks
     where run_id = $BIG and name like 'wait%' order by name" >"$T_DIR/finished.txt"
node -e '
const fs = require("fs");
const seen = JSON.parse(fs.readFileSync(process.argv[1] + "/seen.json", "utf8"));
const fin = fs.readFileSync(process.argv[1] + "/finished.txt", "utf8").trim().split("\n").map(l => l.trim().split(" "));
const d = fin.map(([n, t]) => seen[n] - Number(t)).filter(x => isFinite(x)).sort((a, b) => a - b);
if (!d.length) { console.log("live: no sample"); process.exit(1); }
console.log(`live: step transition -> DAG page: median ${d[d.length >> 1]} ms, max ${d[d.length - 1]} ms (${d.length} steps: ${d.join(", ")} ms)`);
' "$T_DIR"
