#!/usr/bin/env bash
# bench/compare.sh — drover beside the peers, in one run of the peer harness
# (../shared/bench-peers/run-all.sh): same machine, same PostgreSQL server
# and settings, same workloads, same statistics (its lib/aggregate.py).
# drover's adapter is bench/peers-adapter/adapters/drover/adapter.sh, found
# through PB_ADAPTER_PATH; the harness folder itself is never written.
#
#   bench/compare.sh                         drover + the default peers, 3 reps
#   bench/compare.sh -s "drover dask@1x8-inf" -r 1     any run-all.sh option passes through
#
# Default peers: graphile-worker@batched pg-boss celery@threads-2x4
# dask@1x8-inf (the fastest layout of each, see the harness's notes).
# Output: the harness's results file ($PB_RESULTS, default
# /tmp/drover-compare/results-<UTC date>.md) and, on stdout, drover's
# figures beside each peer's with the ratio (> 1 means drover is better:
# throughput drover/peer, times peer/drover), for synchronous_commit = on.
# Environment: DROVER_BIN (default <repo>/build/bin), BENCH_KIND,
# PEERS_DIR (default <repo>/../shared/bench-peers).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$REPO/../shared/bench-peers}"
[[ -x "$PEERS_DIR/run-all.sh" ]] || { echo "compare.sh: no peer harness at $PEERS_DIR" >&2; exit 1; }
export DROVER_BIN="${DROVER_BIN:-$REPO/build/bin}"
[[ -x "$DROVER_BIN/drover-bench" ]] || { echo "compare.sh: $DROVER_BIN/drover-bench missing; build first (make build)" >&2; exit 1; }

SYSTEMS="drover graphile-worker@batched pg-boss celery@threads-2x4 dask@1x8-inf"
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    -s) SYSTEMS="$2"; shift 2 ;;
    -w | -r | --run-id) ARGS+=("$1" "$2"); shift 2 ;;
    *) ARGS+=("$1"); shift ;;
    esac
done
mkdir -p /tmp/drover-compare
export PB_RESULTS="${PB_RESULTS:-/tmp/drover-compare/results-$(date -u +%Y-%m-%d).md}"
# run-all.sh looks for <folder>/<name>/adapter.sh in each PB_ADAPTER_PATH folder
export PB_ADAPTER_PATH="$HERE/peers-adapter/adapters${PB_ADAPTER_PATH:+:$PB_ADAPTER_PATH}"

"$PEERS_DIR/run-all.sh" -s "$SYSTEMS" "${ARGS[@]}"

# The first results table is synchronous_commit = on:
# | system | W1 enqueue | W1 throughput | W2 mean / p50 / p99 | W3 wall | W4 p50 / p99 | reps |
python3 - "$PB_RESULTS" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sec = text.split("## Results: synchronous_commit = on", 1)[1].split("\n## ", 1)[0]
rows = {}
for line in sec.splitlines():
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if len(c) < 7 or c[0] in ("system", "") or set(c[0]) <= set("-"):
        continue
    rows[c[0]] = c
def nums(cell):
    return [float(x.replace(",", "")) for x in re.findall(r"[\d,]*\.?\d+", cell.split("(")[0])] if cell not in ("–", "") else []
figs = [  # (label, column, index in the cell, higher is better)
    ("W1 enqueue (jobs/s)", 1, 0, True), ("W1 throughput (jobs/s)", 2, 0, True),
    ("W2 hand-off p50 (ms)", 3, 1, False), ("W2 hand-off p99 (ms)", 3, 2, False),
    ("W3 wall (s)", 4, 0, False), ("W4 latency p50 (ms)", 5, 0, False), ("W4 latency p99 (ms)", 5, 1, False)]
dname = next((k for k in rows if k.startswith("drover")), None)
if not dname:
    print("compare.sh: no drover row in the results (see the failed runs in %s)" % sys.argv[1]); sys.exit(1)
print("\n## drover beside each peer (synchronous_commit = on; ratio > 1: drover better)\n")
peers = [k for k in rows if not k.startswith("drover")]
print("| figure | %s | %s |" % (dname, " | ".join("%s (ratio)" % p for p in peers)))
print("|---|---|%s" % ("---|" * len(peers)))
for label, col, i, hi in figs:
    d = nums(rows[dname][col]); dv = d[i] if len(d) > i else None
    cells = []
    for p in peers:
        v = nums(rows[p][col]); pv = v[i] if len(v) > i else None
        if dv is None or pv is None or dv == 0 or pv == 0:
            cells.append("%s" % (pv if pv is not None else "–"))
        else:
            r = dv / pv if hi else pv / dv
            cells.append("%g (%.2f×)" % (pv, r))
    print("| %s | %s | %s |" % (label, "–" if dv is None else "%g" % dv, " | ".join(cells)))
print("\nfull results: %s" % sys.argv[1])
PY
