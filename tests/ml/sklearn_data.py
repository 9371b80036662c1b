"""Writes scikit-learn's digits, breast_cancer and wine as drover CSVs
(train/test, 75/25, stratified, random_state 0; labels as text "c_NAME")
and prints, per dataset, the test accuracy of scikit-learn's
LogisticRegression with its defaults (max_iter raised so lbfgs converges)
on the raw features and on standardised ones:  NAME ACC_RAW ACC_SCALED

Usage: python3 sklearn_data.py OUT_DIR   (Debian: apt-get install python3-sklearn)
"""
import csv
import sys
import warnings

from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.simplefilter("ignore")
out = sys.argv[1]
for name in ["digits", "breast_cancer", "wine"]:
    d = getattr(datasets, "load_" + name)()
    X, y = d.data, d.target
    names = [str(t) for t in d.target_names]
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    raw = LogisticRegression(max_iter=10000).fit(Xtr, ytr).score(Xte, yte)
    scaled = make_pipeline(StandardScaler(), LogisticRegression(max_iter=10000)).fit(Xtr, ytr).score(Xte, yte)
    cols = ["x%d" % j for j in range(X.shape[1])]
    for part, XX, yy in (("train", Xtr, ytr), ("test", Xte, yte)):
        with open("%s/%s_%s.csv" % (out, name, part), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols + ["label"])
            for row, t in zip(XX, yy):
                w.writerow(["%.9g" % v for v in row] + ["c_" + names[t]])
    print(name, "%.4f" % raw, "%.4f" % scaled)
