#!/usr/bin/env bash
# bench/serve.sh — drover-serve beside a Python baseline on the same model
# and data, measured in the same run (docs/serving.md, "Benchmark").
#
# The claims data (drover-gen-claims, seed 7: 10,000 rows of 32 features);
# drover trains the claims pipeline's MLP (128 ReLU units) on a private
# cluster and promotes it; drover-serve serves it (2 HTTP threads,
# prediction log on, fsync every 5 ms). The baseline
# (bench/serve_baseline.py) trains scikit-learn's MLPClassifier with the
# same shape on the same file and serves it with wsgiref (keep-alive, a
# thread per connection). drover-serveload sends the test set's rows:
#   latency:    1 connection, one request in flight (p50/p99 of the
#               client's round trip and of the server's own time, from the
#               Server-Timing header);
#   throughput: 4 connections (requests/s and rows/s);
# for single rows and batches of 100, RUNS times each (alternating the
# servers), and prints the medians and the ratios as a Markdown table.
#
#   bench/serve.sh                  RUNS=3 SECONDS_PER_RUN=3
#   RUNS=5 SECONDS_PER_RUN=5 bench/serve.sh
# Environment: DROVER_BIN (default <repo>/build/bin), BENCH_DIR, BENCH_KEEP=1.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
trap 'b_cleanup' EXIT
trap 'exit 130' INT TERM
RUNS="${RUNS:-3}"
SECS="${SECONDS_PER_RUN:-3}"
PY=/usr/bin/python3
"$PY" -c 'import sklearn' 2>/dev/null || b_die "Debian's python3-sklearn is needed (apt-get install python3-sklearn)"
for b in drover drover-serve drover-serveload drover-gen-claims drover-task; do
    [[ -x "$DROVER_BIN/$b" ]] || b_die "$DROVER_BIN/$b is missing; build first (make build)"
done

D="$BENCH_DIR/claims"
"$DROVER_BIN/drover-gen-claims" --out "$D" >/dev/null
b_pg_start
BENCH_COORD_EXTRA="artifact_dir = \"$BENCH_DIR/artifacts\";" b_coord_start
"$DROVER_BIN/drover-worker" --config "$BENCH_DIR/drover.cfg" --name serve-bench --slots 1 \
    --artifact-dir "$BENCH_DIR/artifacts" </dev/null >>"$BENCH_DIR/worker-1.log" 2>&1 &
B_PROCS[worker-1]=$!
b_track $!
b_wait 30 "the worker to register" grep -q "registered with" "$BENCH_DIR/worker-1.log" || b_die "no worker"
cat >"$BENCH_DIR/train.cfg" <<CFG
workflow = "serve-bench";
steps = (
  { name = "train"; kind = "train"; dataset = "$D/train.csv"; label = "damage"; model = "claims-damage";
    trainer = "mlp"; hidden = [128]; learning_rate = 0.003; l2 = 0.0001; epochs = 20; batch_size = 256;
    val_split = 0.1; patience = 3; seed = 42; gpu = "never"; },
  { name = "promote"; kind = "promote"; after = ["train"]; model = "@train"; stage = "production"; }
);
CFG
export DROVER_CONFIG="$BENCH_DIR/drover.cfg"
run=$("$DROVER_BIN/drover" --coordinator "$B_CLIENT_EP" submit "$BENCH_DIR/train.cfg" --wait --timeout 300 | tail -1) ||
    b_die "training failed: $run"
b_log "trained and promoted claims-damage (run $run)"

TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'bench %s\n' "$TOKEN" >"$BENCH_DIR/tokens"
chmod 600 "$BENCH_DIR/tokens"
mapfile -t ports < <("$DROVER_BIN/drover-test-freeport" 2)
cat >"$BENCH_DIR/serve.cfg" <<CFG
serve = {
  listen = "127.0.0.1:${ports[0]}";
  models = [ "claims-damage" ];
  coordinator = "$B_CLIENT_EP";
  insecure = true;
  artifact_dir = "$BENCH_DIR/artifacts";
  tokens = "$BENCH_DIR/tokens";
  log_dir = "$BENCH_DIR/serve-log";
  threads = 2;
};
CFG
"$DROVER_BIN/drover-serve" --config "$BENCH_DIR/serve.cfg" </dev/null >>"$BENCH_DIR/serve.log" 2>&1 &
B_PROCS[serve]=$!
b_track $!
"$PY" "$HERE/serve_baseline.py" --train "$D/train.csv" --label damage --port "${ports[1]}" \
    </dev/null >>"$BENCH_DIR/baseline.log" 2>&1 &
B_PROCS[baseline]=$!
echo "$!" >>"$BENCH_DIR/pids"
b_wait 60 "drover-serve to be ready" curl -sf "http://127.0.0.1:${ports[0]}/readyz" || b_die "drover-serve"
b_wait 120 "the baseline to be ready" curl -sf "http://127.0.0.1:${ports[1]}/healthz" || b_die "baseline"

# one SERVER MODE CONNS: prints drover-serveload's figures
one() {
    local port=${ports[0]} batch=1
    [[ "$1" == python ]] && port=${ports[1]}
    [[ "$2" == batch ]] && batch=100
    "$DROVER_BIN/drover-serveload" --addr "127.0.0.1:$port" --path /v1/models/claims-damage/predict \
        --token "$TOKEN" --csv "$D/test.csv" --label damage --batch $batch --conns "$3" --seconds "$SECS"
}
declare -A R=()
for mode in single batch; do
    for ((r = 1; r <= RUNS; r++)); do
        for srv in drover python; do
            lat=$(one $srv $mode 1) || b_die "$srv $mode: failures: $lat"
            thr=$(one $srv $mode 4) || b_die "$srv $mode: failures: $thr"
            b_log "$srv $mode run $r: $lat | $thr"
            for f in lat_p50_us lat_p99_us srv_p50_us srv_p99_us; do R[$srv.$mode.$f]+="$(b_field $f "$lat") "; done
            for f in req_per_s rows_per_s; do R[$srv.$mode.$f]+="$(b_field $f "$thr") "; done
        done
    done
done
med() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '\nclaims MLP (32 -> 128 -> 5), %s runs of %s s each, medians; %s\n\n' "$RUNS" "$SECS" "$(date -u +%Y-%m-%d)"
printf '| figure | drover-serve | Python (sklearn + wsgiref) | ratio |\n|---|---:|---:|---:|\n'
for mode in single batch; do
    label="single row"
    [[ $mode == batch ]] && label="batch of 100"
    for f in srv_p50_us srv_p99_us lat_p50_us lat_p99_us req_per_s rows_per_s; do
        d=$(med "${R[drover.$mode.$f]}")
        p=$(med "${R[python.$mode.$f]}")
        case $f in
        srv_p50_us) name="server time p50 (µs)" ;;
        srv_p99_us) name="server time p99 (µs)" ;;
        lat_p50_us) name="round trip p50 (µs)" ;;
        lat_p99_us) name="round trip p99 (µs)" ;;
        req_per_s) name="requests/s (4 connections)" ;;
        rows_per_s) name="rows/s (4 connections)" ;;
        esac
        if [[ $f == *_per_s ]]; then ratio=$(awk -v a="$d" -v b="$p" 'BEGIN { printf "%.1f×", a / b }')
        else ratio=$(awk -v a="$d" -v b="$p" 'BEGIN { printf "%.1f× faster", b / a }'); fi
        printf '| %s, %s | %s | %s | %s |\n' "$label" "$name" "$d" "$p" "$ratio"
    done
done
