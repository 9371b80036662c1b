#!/usr/bin/env bash
# bench/train/dp.sh — the data-parallel built-in trainer (docs/distributed.md)
# on the claims data: one process against a gang of RANKS members started by
# hand with the gang contract's environment, all on this host. Prints the
# median over RUNS runs of: compute and gradient-allreduce time per step (as
# drover-task train measures them), their ratio, wall time, and both test
# accuracies. Not a test: the figures depend on the machine and its load.
#
#   bench/train/dp.sh [RUNS] [RANKS]       (defaults 5 and 2)
# Env: DROVER_BIN (default build/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN:-$ROOT/build/bin}
RUNS=${1:-5}
RANKS=${2:-2}
W=$(mktemp -d /tmp/drover-bench-dp.XXXXXX)
trap 'rm -rf "$W"' EXIT
export OPENBLAS_NUM_THREADS=1 DROVER_ARTIFACTS=$W/art DROVER_STEP=train
"$BIN/drover-gen-claims" --out "$W/data" > /dev/null
SPEC='{"dataset":"'$W'/data/train.csv","label":"damage","model":"claims-damage","trainer":"mlp",
"hidden":[128],"optimizer":"adam","learning_rate":0.003,"l2":0.0001,"epochs":20,
"batch_size":256,"val_split":0.1,"patience":3,"seed":42,"gpu":"never","checkpoint_every":"never"}'
export DROVER_SPEC=$SPEC

accuracy() { # accuracy OUTFILE: test accuracy (percent) of the model it reported
    local a
    a=$(grep -o '"artifact":"[0-9a-f]*"' "$1" | head -1 | cut -d'"' -f4)
    "$BIN/drover-task" predict "$DROVER_ARTIFACTS/sha256/${a:0:2}/${a:2}" "$W/data/test.csv" |
        tail -n +2 | cut -d, -f3 | paste -d, - <(tail -n +2 "$W/data/test.csv" | awk -F, '{print $NF}') |
        awk -F, '{n++; if ($1 == $2) ok++} END {printf "%.2f", 100 * ok / n}'
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

for ((i = 1; i <= RUNS; i++)); do
    s=$(date +%s.%N)
    DROVER_RUN_ID=s$i "$BIN/drover-task" train > "$W/single.$i" 2>&1
    awk -v a="$(date +%s.%N)" -v b="$s" 'BEGIN {print a - b}' >> "$W/single.wall"
    accuracy "$W/single.$i" >> "$W/single.acc"; echo >> "$W/single.acc"
    port=$("$BIN/drover-test-freeport")
    s=$(date +%s.%N)
    pids=()
    for ((r = 0; r < RANKS; r++)); do
        RANK=$r WORLD_SIZE=$RANKS MASTER_ADDR=127.0.0.1 MASTER_PORT=$port DROVER_GANG_ID=b$i \
            DROVER_RUN_ID=d$i "$BIN/drover-task" train > "$W/dp.$i.$r" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || { echo "a rank failed:"; tail -n 5 "$W"/dp.$i.*; exit 1; }; done
    awk -v a="$(date +%s.%N)" -v b="$s" 'BEGIN {print a - b}' >> "$W/dp.wall"
    sed -n 's/^data-parallel: [0-9]* steps, \([0-9.]*\) ms compute and \([0-9.]*\) ms .*/\1 \2/p' \
        "$W/dp.$i.0" >> "$W/dp.steps"
    accuracy "$W/dp.$i.0" >> "$W/dp.acc"; echo >> "$W/dp.acc"
done
compute=$(cut -d' ' -f1 "$W/dp.steps" | median)
comm=$(cut -d' ' -f2 "$W/dp.steps" | median)
echo "claims MLP [128], batch 256, Adam, early stopping; $RANKS ranks on one host; median of $RUNS runs"
printf "  single process: wall %.2f s, test accuracy %s%%\n" "$(median < "$W/single.wall")" "$(grep . "$W/single.acc" | median)"
printf "  %d ranks:        wall %.2f s, test accuracy %s%%\n" "$RANKS" "$(median < "$W/dp.wall")" "$(grep . "$W/dp.acc" | median)"
printf "  per step (rank 0): compute %.3f ms, gradient allreduce %.3f ms, allreduce/compute %.1fx\n" \
    "$compute" "$comm" "$(awk -v a="$comm" -v b="$compute" 'BEGIN {print a / b}')"
