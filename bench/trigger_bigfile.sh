#!/usr/bin/env bash
# bench/trigger_bigfile.sh — what a large data-trigger file costs the
# coordinator's loop (issue 13, observation 7: "counting a 1.5 GB file
# stalled the coordinator for 2.5 s"). A trigger watches a folder; a CSV of
# SIZE_MB (default 1536) is moved in; the trigscan thread hashes and counts
# it. Prints:
#   - the coordinator's longest loop iteration before and after the file
#     was read (CoordinatorInfo.longest_iteration_us), and
#   - the slowest of the `drover info` calls a probe makes every 10 ms
#     meanwhile (includes starting the drover process, a few ms),
#   - how long the file took to count (seconds, wall clock, from the move
#     until schedule list shows its rows).
# Runs on loopback with CurveZMQ, borrowing tests/integration/lib.sh.
# Needs SIZE_MB of free space under $TMPDIR. No assertions: figures.
set -euo pipefail
export DROVER_TEST_LIMIT="${DROVER_TEST_LIMIT:-900}"
SIZE_MB="${SIZE_MB:-1536}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

pg_start
coord_start
W="$T_DIR/feedback"
mkdir -p "$W" "$T_DIR/staging"
cat >"$T_DIR/t.cfg" <<CFG
workflow = "big";
trigger = { watch = "$W"; min_new_rows = 2000000000; };
steps = ( { name = "s"; kind = "exec"; command = "true"; } );
CFG
drover submit "$T_DIR/t.cfg" >/dev/null
rows=$((SIZE_MB * 1048576 / 34)) # 34 bytes a row
/usr/bin/python3 - "$T_DIR/staging/big.csv" "$rows" <<'PY'
import sys
path, rows = sys.argv[1], int(sys.argv[2])
chunk = "0.5,minor,1234.5678,another field\n" * 100000
with open(path, "w") as f:
    f.write("f0,damage,f1,f2\n")
    for _ in range(rows // 100000):
        f.write(chunk)
    f.write("0.5,minor,1234.5678,another field\n" * (rows % 100000))
PY
touch -d "@$(($(date +%s) - 10))" "$T_DIR/staging/big.csv"
# Writing the file leaves GBs of dirty pages; their writeback would stall
# PostgreSQL's commits (and so the loop) whatever reads the file: flush
# them first, so the figures are what reading costs.
sync
before=$(drover --json info | jq .longest_iteration_us)
pending() { drover --json schedule list | jq '.[] | select(.name == "big") | .pending_rows'; }
worst=0
t0=$(date +%s.%N)
mv "$T_DIR/staging/big.csv" "$W/big.csv"
while [[ "$(pending)" != "$rows" ]]; do
    a=$(date +%s%N)
    drover info --timeout 30 >/dev/null
    b=$(date +%s%N)
    ms=$(((b - a) / 1000000))
    ((ms > worst)) && worst=$ms
    sleep 0.01
done
t1=$(date +%s.%N)
after=$(drover --json info | jq .longest_iteration_us)
printf 'file: %d MiB, %d rows\n' "$SIZE_MB" "$rows"
printf 'counted in: %.1f s (move to rows shown; scans are 2 s apart)\n' "$(echo "$t1 - $t0" | bc -l)"
printf 'longest loop iteration: before %.1f ms, after %.1f ms\n' "$(echo "$before / 1000" | bc -l)" \
    "$(echo "$after / 1000" | bc -l)"
printf 'slowest drover info meanwhile: %d ms\n' "$worst"
