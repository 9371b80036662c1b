#!/usr/bin/env bash
# task_overhead.sh [BUILD_DIR] [RUNS] — issue 11's figures for one small
# `drover-task train` (scikit-learn's digits when python3-sklearn is there,
# else a generated 1,347 x 64 set of the same shape), RUNS runs each (default
# 5), printed as median wall seconds and peak RSS (/usr/bin/time):
#  1. gpu = "auto" probing CUDA (CUDA_VISIBLE_DEVICES unset: the old
#     behaviour for every task) vs. a task given no GPU
#     (CUDA_VISIBLE_DEVICES="", what the worker sets): the cost of loading
#     the CUDA libraries for nothing;
#  2. checkpoint_every = "epoch" vs. "30s" (the default) vs. "never" with the
#     train defaults (100 epochs, batch 32): the cost of a durable checkpoint
#     per epoch.
# Figures only; nothing is asserted (speed depends on the machine).
set -euo pipefail
BUILD=${1:-build}
RUNS=${2:-5}
BIN=$(cd "$BUILD/bin" && pwd)
D=$(mktemp -d /tmp/drover-overhead.XXXXXX)
trap 'rm -rf "$D"' EXIT
if /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
    /usr/bin/python3 "$(dirname "$0")/../../tests/ml/sklearn_data.py" "$D" >/dev/null
    DATA="$D/digits_train.csv" WHAT="scikit-learn digits (train split, 1,347 x 64)"
else
    awk 'BEGIN { srand(1); h = ""; for (j = 0; j < 64; j++) h = h "x" j ","; print h "label"
        for (i = 0; i < 1347; i++) { c = i % 10; l = ""
            for (j = 0; j < 64; j++) l = l sprintf("%.3f", (j % 10 == c ? 3 : 0) + rand()) ","
            print l "c" c } }' >"$D/digits_train.csv"
    DATA="$D/digits_train.csv" WHAT="generated 1,347 x 64, 10 classes"
fi
export DROVER_OUTPUT_FD=3 DROVER_ARTIFACTS="$D/artifacts"
# one RUNS-run measurement: LABEL SPEC [env assignments...]
measure() {
    local label=$1 spec=$2
    shift 2
    : >"$D/times"
    for ((i = 1; i <= RUNS; i++)); do
        DROVER_RUN_ID=$RANDOM DROVER_SPEC="$spec" env "$@" /usr/bin/time -f "%e %M" -a -o "$D/times" \
            "$BIN/drover-task" train 3>/dev/null >/dev/null
    done
    sort -n "$D/times" | awk -v l="$label" -v n="$RUNS" '{ w[NR] = $1; m[NR] = $2 }
        END { printf "%-44s %8.3f s %8.1f MiB\n", l, w[int((n + 1) / 2)], m[int((n + 1) / 2)] / 1024 }'
}
echo "data: $WHAT; $RUNS runs each, median"
printf '%-44s %10s %12s\n' "case" "wall" "peak RSS"
S="{\"dataset\":\"$DATA\",\"label\":\"label\",\"model\":\"m\",\"epochs\":10,\"batch_size\":256,\"gpu\":\"auto\""
measure "gpu=auto, CUDA_VISIBLE_DEVICES unset (probes)" "$S}" -u CUDA_VISIBLE_DEVICES
measure "gpu=auto, CUDA_VISIBLE_DEVICES= (no GPU given)" "$S}" CUDA_VISIBLE_DEVICES=
S="{\"dataset\":\"$DATA\",\"label\":\"label\",\"model\":\"m\",\"gpu\":\"never\""
for ck in epoch 30s never; do
    measure "defaults, checkpoint_every = \"$ck\"" "$S,\"checkpoint_every\":\"$ck\"}" CUDA_VISIBLE_DEVICES=
done
