#!/usr/bin/env bash
# Issue 11: `drover model export FILE --format onnx` for softmax, MLP (with
# missing = "mean" imputation) and linear models: the graph passes
# onnx.checker (full check) and, evaluated by onnx_check.py's NumPy
# interpreter of its operators, gives drover predict's classes exactly and
# its probabilities within 1e-5. Exit 77 (skipped) without Debian's
# python3-onnx. (onnxruntime is not in Debian: not used here.)
set -euo pipefail
BIN=${DROVER_BIN:?set DROVER_BIN to the build bin directory}
HERE=$(cd "$(dirname "$0")" && pwd)
if ! /usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null; then
    echo "SKIPPED: python3-onnx is not installed (apt-get install python3-onnx)"
    exit 77
fi
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
train() { # NAME DATA LABEL TRAINER
    DROVER_SPEC="{\"dataset\":\"$D/$2\",\"label\":\"$3\",\"model\":\"$1\",\"trainer\":\"$4\",\"epochs\":30,\"missing\":\"mean\"$5}" \
        "$BIN/drover-task" train 3>&1 >"$D/$1.log" | jq -r 'select(.output) | .output.model.artifact'
}
for spec in "softmax cls.csv damage softmax" "mlp cls.csv damage mlp ,\"hidden\":[16,8]" "linear reg.csv cost linear"; do
    set -- $spec
    art=$(train "$1" "$2" "$3" "$4" "${5:-}")
    [[ "$art" =~ ^[0-9a-f]{64}$ ]] || { echo "train $1 failed"; cat "$D/$1.log"; exit 1; }
    mfile="$D/artifacts/sha256/${art:0:2}/${art:2}"
    "$BIN/drover" model export "$mfile" --format onnx -o "$D/$1.onnx"
    "$BIN/drover" predict "$mfile" "$D/score.csv" -o "$D/$1.pred.csv" 2>/dev/null
    echo -n "$1: "
    /usr/bin/python3 "$HERE/onnx_check.py" "$D/$1.onnx" "$D/score.csv" "$D/$1.pred.csv"
done
