#!/usr/bin/env bash
# Issue 11: `drover model export FILE --format onnx` for softmax, MLP and
# linear models, all trained with missing = "mean" (so the graph carries the
# imputation), scored on a file with missing values and its columns
# reversed. Two independent checks against `drover predict` on that file:
#  - python3-onnx (Debian): onnx.checker full check, then onnx_check.py's
#    NumPy interpreter of the graph's operators;
#  - onnxruntime (npm's onnxruntime-node, CPU build, installed once into
#    BUILD/onnxruntime with --ignore-scripts; DROVER_ORT_DIR overrides):
#    onnx_ort.js runs the graph.
# Both require identical classes and probabilities within 1e-5. A check
# whose tool cannot be had is skipped with its reason; exit 77 (skipped)
# only when neither ran.
set -euo pipefail
BIN=${DROVER_BIN:?set DROVER_BIN to the build bin directory}
HERE=$(cd "$(dirname "$0")" && pwd)
ORT=${DROVER_ORT_DIR:-$BIN/../onnxruntime}
have_onnx=0 have_ort=0
/usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null && have_onnx=1 ||
    echo "skip the onnx.checker part: python3-onnx is not installed (apt-get install python3-onnx)"
if command -v node >/dev/null; then
    if ! NODE_PATH="$ORT/node_modules" node -e "require('onnxruntime-node')" 2>/dev/null &&
       command -v npm >/dev/null; then
        mkdir -p "$ORT"
        timeout 240 npm install --prefix "$ORT" --no-audit --no-fund --ignore-scripts \
            onnxruntime-node@1.20.1 >"$ORT/npm.log" 2>&1 || true
    fi
    NODE_PATH="$ORT/node_modules" node -e "require('onnxruntime-node')" 2>/dev/null && have_ort=1 ||
        echo "skip the onnxruntime part: onnxruntime-node cannot be installed (see $ORT/npm.log)"
else
    echo "skip the onnxruntime part: node is not installed"
fi
if [[ $have_onnx -eq 0 && $have_ort -eq 0 ]]; then
    echo "SKIPPED: neither python3-onnx nor onnxruntime-node is available"
    exit 77
fi
command -v jq >/dev/null || { echo "jq is required" >&2; exit 1; }
D=$(mktemp -d /tmp/drover-onnx.XXXXXX)
trap 'rm -rf "$D"' EXIT
# 400 rows, 5 features (f3 missing in 10% of rows), 3 classes, a target
awk 'BEGIN { srand(11); print "f0,f1,f2,f3,f4,damage,cost"
    for (i = 0; i < 400; i++) { c = i % 3; line = ""
        for (j = 0; j < 5; j++) {
            v = (j == c ? 2 : 0) + rand() - 0.5 + (j == 4 ? 10 : 0)
            line = line ((j == 3 && rand() < 0.1) ? "" : sprintf("%.5f", v)) ","
        }
        split("minor,moderate,severe", n, ",")
        print line n[c + 1] "," sprintf("%.4f", 3 * c + rand()) } }' >"$D/train.csv"
# reversed column order for scoring, no label
awk -F, -v OFS=, '{ print $5, $4, $3, $2, $1 }' "$D/train.csv" >"$D/score.csv"
cut -d, -f1-6 "$D/train.csv" >"$D/cls.csv"
awk -F, -v OFS=, '{ print $1, $2, $3, $4, $5, $7 }' "$D/train.csv" >"$D/reg.csv"
export DROVER_OUTPUT_FD=3 DROVER_ARTIFACTS="$D/artifacts" CUDA_VISIBLE_DEVICES=
for spec in "softmax cls.csv damage softmax" "mlp cls.csv damage mlp ,\"hidden\":[16,8]" "linear reg.csv cost linear"; do
    set -- $spec
    DROVER_SPEC="{\"dataset\":\"$D/$2\",\"label\":\"$3\",\"model\":\"$1\",\"trainer\":\"$4\",\"epochs\":30,\"missing\":\"mean\"${5:-}}" \
        "$BIN/drover-task" train 3>"$D/$1.out" >"$D/$1.log"
    art=$(jq -r 'select(.output) | .output.model.artifact' "$D/$1.out")
    [[ "$art" =~ ^[0-9a-f]{64}$ ]] || { echo "train $1 failed"; cat "$D/$1.log"; exit 1; }
    mfile="$D/artifacts/sha256/${art:0:2}/${art:2}"
    "$BIN/drover" model export "$mfile" --format onnx -o "$D/$1.onnx" 2>/dev/null
    "$BIN/drover" predict "$mfile" "$D/score.csv" -o "$D/$1.pred.csv" 2>/dev/null
    echo '["f0","f1","f2","f3","f4"]' >"$D/$1.onnx.features.json"
    if [[ $4 != linear ]]; then
        jq -c 'select(.output) | .output.model.classes' "$D/$1.out" >"$D/$1.onnx.classes.json"
    fi
    if [[ $have_onnx -eq 1 ]]; then
        echo -n "$1, onnx.checker + NumPy: "
        /usr/bin/python3 "$HERE/onnx_check.py" "$D/$1.onnx" "$D/score.csv" "$D/$1.pred.csv"
    fi
    if [[ $have_ort -eq 1 ]]; then
        echo -n "$1, onnxruntime: "
        NODE_PATH="$ORT/node_modules" node "$HERE/onnx_ort.js" "$D/$1.onnx" "$D/score.csv" "$D/$1.pred.csv"
    fi
done
