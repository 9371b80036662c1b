#!/usr/bin/env python3
"""A scikit-learn trainer as a drover exec step (examples/sklearn/README.md).

Trains a logistic-regression classifier (SGD, one pass per epoch) on the
handwritten digits data set that ships with scikit-learn, reports each
epoch through drover.task (so `drover metrics RUN train` draws the loss
curve), pickles the model and registers it as a version of model
"sklearn-digits" (task.register_model: flavour sklearn-pickle, its input
signature, its validation metrics, and the CSV it learned from as lineage).
The gate is the workflow's (pipeline.cfg: gates = { min = { val_accuracy =
0.9; }; }), judged by the coordinator on those metrics: a model below it
ends the run `rejected` and is not promoted.

Environment: DATA (the digits as CSV: written there from scikit-learn's copy
when missing; default data/digits.csv), EPOCHS (default 10), SHUFFLE_LABELS
("yes": train on shuffled labels, a deliberately bad model; default "no"),
MODEL_DIR (default $TMPDIR/drover-sklearn), SEED (default 7).
Runs the same by hand: `python3 train.py` prints the metric lines on stderr.
"""

import os
import pickle
import sys
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

import drover.task as task

EPOCHS = int(os.environ.get("EPOCHS", "10"))
SHUFFLE_LABELS = os.environ.get("SHUFFLE_LABELS", "no") == "yes"
SEED = int(os.environ.get("SEED", "7"))
MODEL_DIR = os.environ.get("MODEL_DIR") or os.path.join(tempfile.gettempdir(), "drover-sklearn")
DATA = os.environ.get("DATA") or "data/digits.csv"

if not os.path.exists(DATA):
    # The data set as a file, so that drover can hash it for the lineage.
    X0, y0 = load_digits(return_X_y=True)
    os.makedirs(os.path.dirname(os.path.abspath(DATA)), exist_ok=True)
    tmp = "%s.tmp-%d" % (DATA, os.getpid())
    np.savetxt(tmp, np.column_stack([X0, y0]), fmt="%d", delimiter=",",
               header=",".join(["p%d" % i for i in range(X0.shape[1])] + ["digit"]), comments="")
    os.replace(tmp, DATA)
data = np.loadtxt(DATA, delimiter=",", skiprows=1)
X, y = data[:, :-1] / 16.0, data[:, -1].astype(int)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=SEED,
                                                  stratify=y)
classes = np.unique(y)
if SHUFFLE_LABELS:
    # Labels that say nothing about the images: no model can learn them.
    y_train = np.random.default_rng(SEED).permutation(y_train)
clf = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=SEED)

for epoch in range(1, EPOCHS + 1):
    t0 = time.monotonic()
    clf.partial_fit(X_train, y_train, classes=classes)
    p_train, p_val = clf.predict_proba(X_train), clf.predict_proba(X_val)
    task.log_metric(epoch=epoch,
                    train_loss=log_loss(y_train, p_train, labels=classes),
                    val_loss=log_loss(y_val, p_val, labels=classes),
                    train_accuracy=accuracy_score(y_train, clf.predict(X_train)),
                    val_accuracy=accuracy_score(y_val, clf.predict(X_val)),
                    seconds=time.monotonic() - t0)

val_accuracy = float(accuracy_score(y_val, clf.predict(X_val)))
os.makedirs(MODEL_DIR, exist_ok=True)
model_path = os.path.join(MODEL_DIR, "digits-run%s.pkl" % (task.run_id() or "local"))
with open(model_path, "wb") as f:
    pickle.dump(clf, f)

# The coordinator judges the gate on val_accuracy; the step itself succeeds.
task.report({"val_accuracy": val_accuracy, "model_file": model_path,
             "rows_train": len(y_train), "rows_val": len(y_val), "flavour": "sklearn",
             "shuffled_labels": SHUFFLE_LABELS}, passed=True)
# Once the step exits 0 the worker stores the pickle and hashes DATA; the
# coordinator registers the version (also a rejected one: the gate decides
# whether the pipeline promotes it).
task.register_model("sklearn-digits", model_path, flavour="sklearn-pickle",
                    signature={"inputs": [{"name": "pixels", "type": "float", "shape": [-1, 64]}],
                               "outputs": [{"name": "digit", "type": "int"}]},
                    metrics={"val_accuracy": val_accuracy,
                             "val_loss": float(log_loss(y_val, clf.predict_proba(X_val),
                                                        labels=classes))},
                    datasets=[DATA])
print("val_accuracy %.4f; model in %s" % (val_accuracy, model_path))
