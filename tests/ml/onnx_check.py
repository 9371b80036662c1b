"""Checks a drover ONNX export: onnx.checker (full check, with shape
inference), then evaluates the graph with a small NumPy interpreter of the
operators drover emits and compares it with drover's own predictions.

Usage: python3 onnx_check.py MODEL.onnx DATA.csv PREDICTIONS.csv
  DATA.csv         the scored data (header; the model's features by name)
  PREDICTIONS.csv  `drover predict` output for DATA.csv
Exit 0 when the predicted classes are identical and every probability (or
value) is within 1e-5 (absolute, plus 1e-5 relative for regression values).
"""
import csv
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

model_path, data_path, pred_path = sys.argv[1:4]
m = onnx.load(model_path)
onnx.checker.check_model(m, full_check=True)
meta = {p.key: p.value for p in m.metadata_props}
features = json.loads(meta["drover.features"])

with open(data_path, newline="") as f:
    rows = list(csv.reader(f))
head, body = rows[0], rows[1:]
idx = [head.index(c) for c in features]
X = np.array([[float(r[i]) if r[i].strip() else np.nan for i in idx] for r in body], dtype=np.float32)

env = {"input": X}
for t in m.graph.initializer:
    env[t.name] = numpy_helper.to_array(t)
for n in m.graph.node:
    a = [env[i] for i in n.input]
    attrs = {at.name: at.i for at in n.attribute}
    op = n.op_type
    if op == "IsNaN":
        r = np.isnan(a[0])
    elif op == "Where":
        r = np.where(a[0], a[1], a[2]).astype(np.float32)
    elif op == "Sub":
        r = a[0] - a[1]
    elif op == "Div":
        r = a[0] / a[1]
    elif op == "MatMul":
        r = a[0] @ a[1]
    elif op == "Add":
        r = a[0] + a[1]
    elif op == "Relu":
        r = np.maximum(a[0], 0)
    elif op == "Softmax":
        z = a[0] - a[0].max(axis=attrs.get("axis", -1), keepdims=True)
        e = np.exp(z)
        r = e / e.sum(axis=attrs.get("axis", -1), keepdims=True)
    elif op == "ArgMax":
        r = np.argmax(a[0], axis=attrs.get("axis", 0))
    else:
        sys.exit("unexpected operator %s" % op)
    env[n.output[0]] = r

with open(pred_path, newline="") as f:
    pred = list(csv.reader(f))
ph, pb = pred[0], pred[1:]
assert len(pb) == len(X), "row counts differ"
if "value" in ph:
    got = env["value"][:, 0].astype(np.float64)
    want = np.array([float(r[ph.index("value")]) for r in pb])
    err = np.abs(got - want) - 1e-5 * np.abs(want)
    assert (err <= 1e-5).all(), "values differ by up to %g" % err.max()
    print("ok: %d values within 1e-5 (largest difference %.2g)" % (len(X), np.abs(got - want).max()))
else:
    classes = json.loads(meta["drover.classes"])
    P = env["probabilities"]
    want = np.array([[float(r[ph.index("p_" + c)]) for c in classes] for r in pb])
    d = np.abs(P - want).max()
    assert d <= 1e-5, "probabilities differ by up to %g" % d
    labels = [classes[i] for i in env["label"]]
    same = sum(l == r[ph.index("class")] for l, r in zip(labels, pb))
    assert same == len(pb), "%d of %d predicted classes differ" % (len(pb) - same, len(pb))
    print("ok: %d rows, classes identical, probabilities within %.2g" % (len(X), d))
