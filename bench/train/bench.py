#!/usr/bin/python3
"""Reference implementations for bench/train (run with Debian's python3).

    bench.py IMPL FILE [EPOCHS] [LR]

IMPL: sk_logreg | sk_sgd | sk_mlp | np_softmax | np_mlp. Reads the
DRVBENCH file that drover-bench-train wrote, times fit + predict (data
loading excluded, standardisation included, as for drover) and prints one
JSON line like drover-bench-train's. Set OPENBLAS_NUM_THREADS=1 and
OMP_NUM_THREADS=1 before starting it (run.sh does).
"""
import json
import resource
import sys
import time
import warnings

import numpy as np


def load(path):
    hdr = np.fromfile(path, dtype="<u8", count=8)
    n, d, k, ntr = (int(v) for v in hdr[1:5])
    X = np.fromfile(path, dtype="<f4", count=n * d, offset=64).reshape(n, d)
    y = np.fromfile(path, dtype="<i4", count=n, offset=64 + 4 * n * d)
    return X[:ntr], y[:ntr], X[ntr:], y[ntr:], k


def standardize(Xtr, Xte):
    mu = Xtr.mean(axis=0)
    sd = Xtr.std(axis=0)
    sd[sd == 0] = 1
    return ((Xtr - mu) / sd).astype(np.float32), ((Xte - mu) / sd).astype(np.float32)


def np_softmax(Xtr, ytr, Xte, k, epochs, lr, B=256):
    rng = np.random.default_rng(0)
    Xtr, Xte = standardize(Xtr, Xte)
    n, d = Xtr.shape
    W = np.zeros((d, k), np.float32)
    b = np.zeros(k, np.float32)
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, B):
            idx = order[s:s + B]
            x = Xtr[idx]
            z = x @ W + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), ytr[idx]] -= 1
            p /= len(idx)
            W -= lr * (x.T @ p)
            b -= lr * p.sum(axis=0)
    return (Xte @ W + b).argmax(axis=1)


def np_mlp(Xtr, ytr, Xte, k, epochs, lr, B=256, H=128):
    rng = np.random.default_rng(0)
    Xtr, Xte = standardize(Xtr, Xte)
    n, d = Xtr.shape
    W1 = (rng.standard_normal((d, H)) * np.sqrt(2.0 / d)).astype(np.float32)
    b1 = np.zeros(H, np.float32)
    W2 = (rng.standard_normal((H, k)) * np.sqrt(1.0 / H)).astype(np.float32)
    b2 = np.zeros(k, np.float32)
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, B):
            idx = order[s:s + B]
            x = Xtr[idx]
            a = np.maximum(x @ W1 + b1, 0)
            z = a @ W2 + b2
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), ytr[idx]] -= 1
            p /= len(idx)
            da = (p @ W2.T) * (a > 0)
            W2 -= lr * (a.T @ p)
            b2 -= lr * p.sum(axis=0)
            W1 -= lr * (x.T @ da)
            b1 -= lr * da.sum(axis=0)
    return (np.maximum(Xte @ W1 + b1, 0) @ W2 + b2).argmax(axis=1)


def sk(name, Xtr, ytr, Xte, epochs):
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if name == "sk_logreg":
        clf = LogisticRegression(max_iter=100)
    elif name == "sk_sgd":
        clf = SGDClassifier(loss="log_loss", max_iter=epochs, tol=None, random_state=0)
    else:
        clf = MLPClassifier(hidden_layer_sizes=(128,), batch_size=256, max_iter=epochs,
                            random_state=0)
    model = make_pipeline(StandardScaler(), clf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        model.fit(Xtr, ytr)
    return model.predict(Xte)


def main():
    impl, path = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    lr = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
    Xtr, ytr, Xte, yte, k = load(path)
    if impl.startswith("sk_"):
        import sklearn  # noqa: F401  (import cost outside the timing)
        from sklearn.linear_model import LogisticRegression  # noqa: F401
        from sklearn.neural_network import MLPClassifier  # noqa: F401
    t0 = time.perf_counter()
    if impl == "np_softmax":
        pred = np_softmax(Xtr, ytr, Xte, k, epochs, lr)
    elif impl == "np_mlp":
        pred = np_mlp(Xtr, ytr, Xte, k, epochs, lr)
    else:
        pred = sk(impl, Xtr, ytr, Xte, epochs)
    wall = time.perf_counter() - t0
    acc = float((pred == yte).mean())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    names = {"sk_logreg": "sklearn LogisticRegression", "sk_sgd": "sklearn SGDClassifier",
             "sk_mlp": "sklearn MLPClassifier(128)", "np_softmax": "numpy softmax SGD",
             "np_mlp": "numpy MLP(128) SGD"}
    print(json.dumps({"impl": names[impl], "wall_s": round(wall, 4), "rss_mib": round(rss, 1),
                      "accuracy": round(acc, 4)}))


if __name__ == "__main__":
    main()
