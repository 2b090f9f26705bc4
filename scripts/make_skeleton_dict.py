#!/usr/bin/python3
"""Train the zstd dictionary built into treepack for skeleton sections.

    /usr/bin/python3 scripts/make_skeleton_dict.py OUT.zdict [SAMPLES_DIR]

writes OUT.zdict (for zstd -D) and OUT.inc, the bytes as C initialisers
that src/lib/base/skeleton_dict.c includes (src/lib/base/skeleton_dict.inc).

The skeleton of a model pickle (everything but its tree and array
payloads) is mostly names: modules, classes, attribute names, dtype
strings, opcodes around them.  They repeat across every model file, so a
small file's skeleton compresses far better against a dictionary that
holds them already.  The samples are models fitted here with Debian's
scikit-learn on small synthetic data, pickled with protocols 0 to 5 and by
joblib, with their large payloads cut out; copies with the module paths,
criterion names and version strings of other scikit-learn and numpy
releases stand for the files those releases write.  No published model
file is used.

The dictionary is part of the format (codec 3 of tpk(5) names it by its
ID): once released it never changes; a new one gets a new ID.
"""
import io
import os
import pickle
import pickletools
import subprocess
import sys
import tempfile
import warnings

import numpy as np

warnings.simplefilter("ignore")
DICT_ID = 0x74706B31   # "tpk1"
DICT_SIZE = 32768


def models():
    from sklearn import datasets
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (AdaBoostClassifier, BaggingRegressor, ExtraTreesClassifier, ExtraTreesRegressor,
                                  GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingClassifier, HistGradientBoostingRegressor, IsolationForest,
                                  RandomForestClassifier, RandomForestRegressor, StackingClassifier,
                                  VotingClassifier)
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, LabelEncoder, OneHotEncoder, StandardScaler
    from sklearn.impute import SimpleImputer
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    Xc, yc = datasets.make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0)
    Xr, yr = datasets.make_regression(n_samples=120, n_features=5, random_state=0)
    yb = (yc > 0).astype(int)
    small = dict(n_estimators=3, random_state=0)
    out = [
        DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xc, yc),
        DecisionTreeClassifier(max_depth=2, random_state=0).fit(Xc, yb),
        DecisionTreeRegressor(max_depth=3, random_state=0).fit(Xr, yr),
        RandomForestClassifier(max_depth=2, **small).fit(Xc, yc),
        RandomForestClassifier(max_depth=2, class_weight="balanced", **small).fit(Xc, yb),
        RandomForestRegressor(max_depth=2, **small).fit(Xr, yr),
        ExtraTreesClassifier(max_depth=2, **small).fit(Xc, yc),
        ExtraTreesRegressor(max_depth=2, **small).fit(Xr, yr),
        GradientBoostingClassifier(max_depth=2, **small).fit(Xc, yc),
        GradientBoostingClassifier(max_depth=2, **small).fit(Xc, yb),
        GradientBoostingRegressor(max_depth=2, **small).fit(Xr, yr),
        HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(Xc, yc),
        HistGradientBoostingRegressor(max_iter=3, random_state=0).fit(Xr, yr),
        IsolationForest(n_estimators=3, random_state=0).fit(Xr),
        AdaBoostClassifier(n_estimators=3, random_state=0).fit(Xc, yc),
        BaggingRegressor(DecisionTreeRegressor(max_depth=2), n_estimators=3, random_state=0).fit(Xr, yr),
        VotingClassifier([("dt", DecisionTreeClassifier(max_depth=2)), ("lr", LogisticRegression())]).fit(Xc, yc),
        StackingClassifier([("dt", DecisionTreeClassifier(max_depth=2))], cv=2).fit(Xc, yc),
        make_pipeline(StandardScaler(), RandomForestClassifier(max_depth=2, **small)).fit(Xc, yc),
        make_pipeline(SimpleImputer(), FunctionTransformer(np.log1p), DecisionTreeRegressor(max_depth=2)).fit(
            np.abs(Xr), yr),
        GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [2, 3]}, cv=2).fit(Xc, yc),
        RandomizedSearchCV(RandomForestRegressor(n_estimators=2, random_state=0), {"max_depth": [2, 3]}, n_iter=2,
                           cv=2, random_state=0).fit(Xr, yr),
        LinearRegression().fit(Xr, yr),
        LogisticRegression().fit(Xc, yc),
        LabelEncoder().fit(["a", "b", "c"]),
    ]
    docs = ["the cat sat on the mat", "a dog and a cat", "models of trees and forests", "text to count"] * 5
    out.append(Pipeline([("v", CountVectorizer()), ("nb", MultinomialNB())]).fit(docs, [0, 1, 0, 1] * 5))
    out.append(Pipeline([("v", TfidfVectorizer(stop_words="english")), ("lr", LogisticRegression())]).fit(
        docs, [0, 1, 0, 1] * 5))
    try:
        import pandas as pd
        df = pd.DataFrame({"a": Xr[:, 0], "b": Xr[:, 1], "c": np.where(Xr[:, 2] > 0, "x", "y")})
        ct = ColumnTransformer([("num", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(), ["c"])])
        out.append(Pipeline([("ct", ct), ("dt", DecisionTreeRegressor(max_depth=2))]).fit(df, yr))
        out.append(RandomForestRegressor(max_depth=2, **small).fit(df[["a", "b"]], yr))
    except ImportError:
        pass
    return out


def skeleton(data):
    """The pickle without long opcode arguments (array and tree payloads)."""
    keep, last, end = [], 0, len(data)
    try:
        for op, arg, pos in pickletools.genops(data):
            if isinstance(arg, (bytes, bytearray, str)) and len(arg) > 96:
                n = len(arg) if isinstance(arg, (bytes, bytearray)) else len(arg.encode("utf-8", "surrogatepass"))
                at = pos + 1 + (op.arg.n if op.arg.n > 0 else 0)
                keep.append(data[last:at])
                last = at + n
    except ValueError as e:  # joblib's raw array bytes after a wrapper: keep what came before
        end = int(str(e).split("position ")[1].split(",")[0])
    keep.append(data[last:max(last, end)])
    return b"".join(keep)


# what other releases write instead of scikit-learn 1.2 and numpy 1.24
VARIANTS = [
    [],
    [(b"sklearn.tree._classes", b"sklearn.tree.tree"), (b"sklearn.ensemble._forest", b"sklearn.ensemble.forest"),
     (b"sklearn.ensemble._gb", b"sklearn.ensemble.gradient_boosting"), (b"squared_error", b"mse"),
     (b"log_loss", b"deviance"), (b"1.2.1", b"0.21.3")],
    [(b"1.2.1", b"0.24.2"), (b"squared_error", b"mse")],
    [(b"1.2.1", b"1.0.2")],
    [(b"1.2.1", b"1.3.2")],
    [(b"1.2.1", b"1.5.2"), (b"numpy.core", b"numpy._core")],
    [(b"1.2.1", b"1.6.1"), (b"numpy.core", b"numpy._core")],
]


def main():
    out = sys.argv[1]
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="tpk-dict-")
    os.makedirs(work, exist_ok=True)
    import joblib
    k = 0
    for m in models():
        blobs = [pickle.dumps(m, protocol=p) for p in (0, 1, 2, 3, 4, 5)]
        b = io.BytesIO()
        joblib.dump(m, b)
        blobs.append(b.getvalue())
        for blob in blobs:
            sk = skeleton(blob)
            for v in VARIANTS:
                s = sk
                for a, c in v:
                    s = s.replace(a, c)
                with open(os.path.join(work, "s%05d" % k), "wb") as f:
                    f.write(s)
                k += 1
    files = sorted(os.path.join(work, f) for f in os.listdir(work))
    subprocess.run(["zstd", "-q", "-f", "--train", "--maxdict=%d" % DICT_SIZE, "--dictID=%d" % DICT_ID, "-o", out]
                   + files, check=True)
    data = open(out, "rb").read()
    with open(os.path.splitext(out)[0] + ".inc", "w") as f:
        f.write("/* generated by scripts/make_skeleton_dict.py: %d bytes, dictionary ID %#x */\n" % (len(data), DICT_ID))
        for i in range(0, len(data), 16):
            f.write(" ".join("0x%02x," % b for b in data[i:i + 16]) + "\n")
    print("%s: %d bytes from %d samples" % (out, os.path.getsize(out), len(files)))


if __name__ == "__main__":
    main()
