#!/usr/bin/python3
"""Generate deterministic pickle fixtures of scikit-learn tree models for treepack.

Usage:
    /usr/bin/python3 scripts/make_fixtures.py [OUTDIR]

OUTDIR defaults to fixtures/ next to scripts/.  Every model is built from a
small synthetic data set with a fixed random_state, so two runs produce
byte-identical files (verify with: run into two directories and `cmp`).

Besides the .pkl files the script writes OUTDIR/MANIFEST.txt (file, size,
writer/protocol, object summary, sha256) and OUTDIR/README.md (one line of
description per fixture).

Adding fixtures: append a Fixture(name, builder, writer, description) to
FIXTURES.  `builder` is a zero-argument function returning the object to
serialise (results are cached, so several fixtures may share a builder);
`writer` is a Writer (see pickle_writer and joblib_writer: a label plus a
function (obj, path) -> None).

joblib fixtures are written by Debian's joblib (1.2): plain joblib.dump at
several protocols, every compression method it offers (zlib, gzip, bz2, xz,
lzma, lz4) at the default and another level, the joblib 0.10-1.1 layout
(no alignment padding), the layout of a dump to a file that cannot tell()
(alignment None), and the legacy "ZF" zlib file of joblib < 0.10, written
with joblib's own numpy_pickle_compat.write_zfile.  All of them load with
joblib.load.
"""

import contextlib
import hashlib
import io
import os
import pickle
import sys
import warnings
from collections import namedtuple

import joblib
import joblib.numpy_pickle as joblib_numpy_pickle
import numpy as np
import sklearn
from sklearn.datasets import load_digits, load_iris, make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------

Writer = namedtuple("Writer", ["label", "write"])


def pickle_writer(protocol):
    def write(obj, path):
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=protocol)

    return Writer("pickle protocol %d" % protocol, write)


def joblib_writer(compress=0, protocol=None):
    """joblib.dump with an explicit method (never chosen from the file name)."""
    def write(obj, path):
        joblib.dump(obj, path, compress=compress, protocol=protocol)

    label = "joblib %s" % joblib.__version__
    if compress:
        label += " compress=%r" % (compress,)
    if protocol is not None:
        label += " protocol=%d" % protocol
    return Writer(label, write)


@contextlib.contextmanager
def _wrapper_without_alignment(value):
    """Make joblib write NumpyArrayWrappers as older versions did.

    value None: the attribute is there but None, as joblib >= 1.2 writes it
    when the file cannot tell() its position (no padding byte).
    value "absent": no attribute at all, as joblib 0.10-1.1 wrote every
    array (its state dict ends at allow_mmap; no padding byte).
    """
    orig = joblib_numpy_pickle.NumpyPickler._create_array_wrapper

    def create(self, array):
        wrapper = orig(self, array)
        if value == "absent":
            del wrapper.numpy_array_alignment_bytes
        else:
            wrapper.numpy_array_alignment_bytes = None
        return wrapper

    joblib_numpy_pickle.NumpyPickler._create_array_wrapper = create
    try:
        yield
    finally:
        joblib_numpy_pickle.NumpyPickler._create_array_wrapper = orig


def joblib_old_layout_writer(value):
    def write(obj, path):
        with _wrapper_without_alignment(value):
            joblib.dump(obj, path)

    what = "joblib 0.10-1.1 layout (no alignment attribute)" if value == "absent" else \
        "joblib alignment=None (file without tell)"
    return Writer(what, write)


def joblib_zfile_writer(level=1, protocol=2):
    """joblib < 0.10 compressed files: "ZF", hex length, zlib data."""
    from joblib.numpy_pickle_compat import write_zfile

    def write(obj, path):
        with open(path, "wb") as f:
            write_zfile(f, pickle.dumps(obj, protocol=protocol), compress=level)

    return Writer("joblib<0.10 ZF zlib level %d (pickle protocol %d)" % (level, protocol), write)


P0, P1, P2, P3, P4, P5 = (pickle_writer(p) for p in (0, 1, 2, 3, 4, 5))
J = joblib_writer()

# ---------------------------------------------------------------------------
# Data sets (all synthetic / bundled with sklearn, no downloads)
# ---------------------------------------------------------------------------


def iris():
    return load_iris(return_X_y=True)


def clf3():
    """1000 x 20, 3 classes."""
    return make_classification(
        n_samples=1000, n_features=20, n_informative=8, n_redundant=4,
        n_classes=3, random_state=0)


def clf4_small():
    """400 x 10, 4 classes."""
    return make_classification(
        n_samples=400, n_features=10, n_informative=6, n_redundant=2,
        n_classes=4, n_clusters_per_class=1, random_state=1)


def clf_imbalanced():
    """600 x 12, 3 imbalanced classes (for class_weight='balanced')."""
    return make_classification(
        n_samples=600, n_features=12, n_informative=6, n_classes=3,
        weights=[0.7, 0.2, 0.1], random_state=2)


def reg():
    """500 x 10, one target."""
    return make_regression(n_samples=500, n_features=10, n_informative=6,
                           noise=10.0, random_state=0)


def reg_multi():
    """400 x 8, three targets."""
    return make_regression(n_samples=400, n_features=8, n_informative=5,
                           n_targets=3, noise=5.0, random_state=3)


def digits_small():
    """First 600 digits (64 features, 10 classes)."""
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


LICENSES = "/usr/share/common-licenses"
# Text fixtures: paragraphs of these license texts (Debian's base-files
# ships them; their content is fixed per Debian release, and the committed
# fixtures are what the tests use).
LICENSE_FILES = ("Apache-2.0", "Artistic", "BSD", "GPL-2", "LGPL-2.1", "MPL-2.0")


def license_paragraphs(files=LICENSE_FILES, limit=None):
    docs = []
    for name in files:
        with open(os.path.join(LICENSES, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        docs += [p.strip() for p in text.split("\n\n") if p.strip()]
    return docs[:limit] if limit else docs


def _stable(vec):
    # sklearn records id(self.stop_words) to notice a changed setting; an
    # address differs from run to run, so fix it for reproducible files.
    if hasattr(vec, "_stop_words_id"):
        vec._stop_words_id = 140000000000000
    return vec


# ---------------------------------------------------------------------------
# Model builders
# ---------------------------------------------------------------------------


def count_vectorizer():
    return _stable(CountVectorizer().fit(license_paragraphs()))


def count_stop_maxfeat():
    # stop_words='english' and max_features: ids are numpy.int64 scalars
    return _stable(CountVectorizer(stop_words="english", max_features=300).fit(license_paragraphs()))


def count_stop_maxfeat_int32():
    # the same with numpy.int32 ids, as numpy < 2 on Windows (a C long of
    # 32 bits) writes them: 4-byte scalars
    m = count_stop_maxfeat()
    m.vocabulary_ = {t: np.int32(i) for t, i in m.vocabulary_.items()}
    return m


def tfidf_bigram():
    # ngram_range=(1, 2), min_df=2: a stop_words_ set larger than the vocabulary
    return _stable(TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit(license_paragraphs(limit=220)))


def count_bigram_large():
    # > 64 KiB of vocabulary: protocol 4 frames fall inside the dict, > 1000 items per batch
    return _stable(CountVectorizer(ngram_range=(1, 2)).fit(license_paragraphs(files=("GPL-3", "Apache-2.0"))))


def dict_vectorizer():
    docs = license_paragraphs(limit=120)
    feats = [{"w=" + w: float(c) for w, c in zip(*np.unique(d.lower().split(), return_counts=True))} for d in docs]
    return DictVectorizer().fit(feats)


def dict_vectorizer_unsorted():
    # sort=False: feature_names_ in first-seen order is the column order
    docs = license_paragraphs(limit=60)
    feats = [{"w=" + w: 1.0 for w in d.lower().split()[:20]} for d in docs]
    return DictVectorizer(sort=False).fit(feats)


def _labels(docs):
    return np.array([i % 3 for i in range(len(docs))])


def pipeline_tfidf_rf():
    docs = license_paragraphs(limit=300)
    pipe = Pipeline([
        ("tfidf", TfidfVectorizer(stop_words="english", min_df=2)),
        ("rf", RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0)),
    ]).fit(docs, _labels(docs))
    _stable(pipe.named_steps["tfidf"])
    return pipe


def feature_union_text():
    docs = license_paragraphs(limit=150)
    union = FeatureUnion([
        ("words", CountVectorizer(max_features=400)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), min_df=3)),
    ]).fit(docs)
    for _, t in union.transformer_list:
        _stable(t)
    return union



def dt_classifier_iris():
    X, y = iris()
    return DecisionTreeClassifier(random_state=0).fit(X, y)


def dt_classifier_multioutput():
    # Two outputs with string labels: 3 classes and 2 classes
    # -> classes_ is a list of two <U arrays, value has shape (nodes, 2, 3).
    X, y = clf3()
    y1 = np.array(["alpha", "beta", "gamma"])[y]
    y2 = np.array(["neg", "pos"])[(X[:, 0] > 0).astype(np.int64)]
    Y = np.column_stack([y1, y2])
    return DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, Y)


def dt_classifier_sample_weight():
    X, y = clf3()
    w = np.random.RandomState(7).uniform(0.1, 3.0, size=len(y))
    return DecisionTreeClassifier(max_depth=10, random_state=0).fit(X, y, sample_weight=w)


def dt_regressor_bestfirst():
    # max_leaf_nodes -> BestFirstTreeBuilder: node ids are not in preorder.
    X, y = reg()
    return DecisionTreeRegressor(max_leaf_nodes=60, random_state=0).fit(X, y)


def dt_regressor_single_node():
    # Constant target -> a tree with exactly one node (a root leaf).
    X, _ = reg()
    return DecisionTreeRegressor(random_state=0).fit(X[:50], np.full(50, 2.5))


def dt_regressor_large():
    # Fully grown on 1500 samples: ~3000 nodes, so the `nodes` array (> 64 KiB) is
    # bigger than the pickle frame target and protocols 4/5 write it outside a FRAME.
    X, y = make_regression(n_samples=1500, n_features=6, noise=20.0, random_state=4)
    return DecisionTreeRegressor(random_state=0).fit(X, y)


def rf_classifier():
    X, y = clf3()
    return RandomForestClassifier(n_estimators=25, random_state=0).fit(X, y)


def rf_classifier_balanced():
    X, y = clf_imbalanced()
    return RandomForestClassifier(n_estimators=15, max_depth=10, class_weight="balanced",
                                  random_state=0).fit(X, y)


def rf_regressor():
    X, y = reg()
    return RandomForestRegressor(n_estimators=12, max_depth=12, oob_score=True,
                                 random_state=0).fit(X, y)


def rf_regressor_multioutput():
    X, Y = reg_multi()
    return RandomForestRegressor(n_estimators=10, max_depth=10, random_state=0).fit(X, Y)


def et_classifier_digits():
    X, y = digits_small()
    return ExtraTreesClassifier(n_estimators=8, random_state=0).fit(X, y)


def et_regressor():
    X, y = reg()
    return ExtraTreesRegressor(n_estimators=8, max_depth=10, random_state=0).fit(X, y)


def gb_classifier_multiclass():
    X, y = clf4_small()
    return GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)


def gb_regressor():
    X, y = reg()
    return GradientBoostingRegressor(n_estimators=40, max_depth=4, subsample=0.8,
                                     loss="huber", random_state=0).fit(X, y)


def isolation_forest():
    X, _ = clf3()
    return IsolationForest(n_estimators=30, max_samples=200, random_state=0).fit(X)


def pipeline_scaler_rf():
    X, y = clf4_small()
    return Pipeline([
        ("scaler", StandardScaler()),
        ("rf", RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0)),
    ]).fit(X, y)


def list_two_models():
    Xr, yr = reg()
    X, y = iris()
    return [
        DecisionTreeRegressor(max_depth=6, random_state=0).fit(Xr, yr),
        ExtraTreesClassifier(n_estimators=5, random_state=0).fit(X, y),
    ]


def dict_model_meta():
    X, y = reg()
    model = RandomForestRegressor(n_estimators=6, max_depth=8, random_state=1).fit(X, y)
    return {
        "model": model,
        "meta": {
            "name": "house-prices",
            "version": 3,
            "features": ["f%d" % i for i in range(X.shape[1])],
            "r2_train": float(model.score(X, y)),
            "tags": ("synthetic", "regression"),
            "fold_ids": frozenset({1, 2, 3}),   # ints only: deterministic order
            "notes": None,
        },
    }


def logistic_regression():
    X, y = iris()
    return LogisticRegression(max_iter=500).fit(X, y)


def grid_search_tree():
    # 160 candidates x 5 splits with train scores: cv_results_ holds
    # split<k>_test_score ... and their mean, std and rank, which follow
    # from the splits (codec/records_cv.h); min_samples_leaf=0 is invalid,
    # so 16 candidates fail and score NaN, ranked last.  The timings are
    # zeroed so that the file is the same on every run.
    from sklearn.model_selection import GridSearchCV
    X, y = iris()
    grid = {"max_depth": list(range(1, 17)), "min_samples_leaf": list(range(0, 10))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gs = GridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=5, return_train_score=True,
                          error_score=np.nan).fit(X, y)
    for k in ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"):
        gs.cv_results_[k][:] = 0.0
    gs.refit_time_ = 0.0
    return gs


def rf_classifier_small():
    X, y = clf4_small()
    return RandomForestClassifier(n_estimators=8, max_depth=7, random_state=0).fit(X, y)


def hgb_classifier():
    # 3 classes x 15 iterations: 45 TreePredictor objects, whose `nodes` are
    # structured arrays of PREDICTOR_RECORD_DTYPE (52-byte records).
    X, y = clf3()
    return HistGradientBoostingClassifier(max_iter=15, max_leaf_nodes=15, random_state=0).fit(X, y)


def hgb_classifier_l2():
    # L2 regularisation added to every hessian sum: values -G / (H + l2);
    # log loss (hessians not constant) and a learning rate of 0.2
    X, y = clf3()
    return HistGradientBoostingClassifier(max_iter=10, max_leaf_nodes=15, l2_regularization=0.5,
                                          learning_rate=0.2, random_state=0).fit(X, y)


def hgb_regressor_l2():
    # squared error (constant hessians: H is the count) with L2
    X, y = reg()
    return HistGradientBoostingRegressor(max_iter=25, l2_regularization=1.5, learning_rate=0.05,
                                         random_state=0).fit(X, y)


def hgb_regressor():
    X, y = reg()
    return HistGradientBoostingRegressor(max_iter=25, random_state=0).fit(X, y)


def gb_regressor_small():
    X, y = reg()
    return GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0).fit(X, y)


def dict_of_arrays():
    rng = np.random.RandomState(0)
    return {
        "weights": rng.standard_normal((20, 5)),
        "bias": rng.standard_normal(5).astype(np.float32),
        "fortran": np.asfortranarray(np.arange(24, dtype=np.int32).reshape(4, 6)),
        "labels": np.array(["a", "bb", "ccc"]),
        "mask": np.array([True, False, True]),
        "scalar": np.float64(1.5),
        "names": ["w", "b"],
    }


# ---------------------------------------------------------------------------
# Fixture table
# ---------------------------------------------------------------------------

Fixture = namedtuple("Fixture", ["name", "builder", "writer", "description"])

FIXTURES = [
    # one small model at all four protocols
    Fixture("dt_classifier_iris_p2.pkl", dt_classifier_iris, P2,
            "DecisionTreeClassifier on iris (same model at all four protocols)"),
    Fixture("dt_classifier_iris_p3.pkl", dt_classifier_iris, P3,
            "DecisionTreeClassifier on iris (same model at all four protocols)"),
    Fixture("dt_classifier_iris_p4.pkl", dt_classifier_iris, P4,
            "DecisionTreeClassifier on iris (same model at all four protocols)"),
    Fixture("dt_classifier_iris_p5.pkl", dt_classifier_iris, P5,
            "DecisionTreeClassifier on iris (same model at all four protocols)"),
    # a forest-like model (object ndarray of trees) at all four protocols
    Fixture("gb_classifier_multiclass_p2.pkl", gb_classifier_multiclass, P2,
            "GradientBoostingClassifier, 4 classes, 20 stages (80 trees in an object ndarray)"),
    Fixture("gb_classifier_multiclass_p3.pkl", gb_classifier_multiclass, P3,
            "same GradientBoostingClassifier as _p2"),
    Fixture("gb_classifier_multiclass_p4.pkl", gb_classifier_multiclass, P4,
            "same GradientBoostingClassifier as _p2"),
    Fixture("gb_classifier_multiclass_p5.pkl", gb_classifier_multiclass, P5,
            "same GradientBoostingClassifier as _p2"),
    # single trees
    Fixture("dt_classifier_multioutput_p3.pkl", dt_classifier_multioutput, P3,
            "multi-output DecisionTreeClassifier (string labels: 3 classes + 2 classes), max_depth=8"),
    Fixture("dt_classifier_sampleweight_p2.pkl", dt_classifier_sample_weight, P2,
            "DecisionTreeClassifier fitted with float sample_weight (non-integer weighted_n_node_samples)"),
    Fixture("dt_regressor_bestfirst_p5.pkl", dt_regressor_bestfirst, P5,
            "DecisionTreeRegressor max_leaf_nodes=60 (best-first builder, nodes not in preorder)"),
    Fixture("dt_regressor_single_node_p4.pkl", dt_regressor_single_node, P4,
            "DecisionTreeRegressor on a constant target: a tree with a single (leaf) node"),
    Fixture("dt_regressor_large_p4.pkl", dt_regressor_large, P4,
            "fully grown DecisionTreeRegressor, ~3000 nodes: nodes array > 64 KiB (written outside a FRAME)"),
    Fixture("dt_regressor_large_p5.pkl", dt_regressor_large, P5,
            "same tree as _p4 at protocol 5 (large in-band BYTEARRAY8 outside a FRAME)"),
    # forests
    Fixture("rf_classifier_p4.pkl", rf_classifier, P4,
            "RandomForestClassifier, 25 fully grown trees, 3 classes (thousands of nodes)"),
    Fixture("rf_classifier_balanced_p3.pkl", rf_classifier_balanced, P3,
            "RandomForestClassifier class_weight='balanced' on imbalanced data (non-integer weights)"),
    Fixture("rf_regressor_p2.pkl", rf_regressor, P2,
            "RandomForestRegressor, 12 trees max_depth=12, oob_score=True (thousands of nodes)"),
    Fixture("rf_regressor_multioutput_p5.pkl", rf_regressor_multioutput, P5,
            "multi-output RandomForestRegressor (3 targets), 10 trees max_depth=10"),
    Fixture("et_classifier_digits_p4.pkl", et_classifier_digits, P4,
            "ExtraTreesClassifier on 600 digits (64 features, 10 classes), 8 fully grown trees"),
    Fixture("et_regressor_p3.pkl", et_regressor, P3,
            "ExtraTreesRegressor, 8 trees max_depth=10"),
    Fixture("gb_regressor_p2.pkl", gb_regressor, P2,
            "GradientBoostingRegressor huber loss, subsample=0.8, 40 stages max_depth=4"),
    Fixture("isolation_forest_p5.pkl", isolation_forest, P5,
            "IsolationForest, 30 trees, max_samples=200"),
    # containers
    Fixture("pipeline_scaler_rf_p3.pkl", pipeline_scaler_rf, P3,
            "Pipeline(StandardScaler, RandomForestClassifier 10 trees max_depth=8)"),
    Fixture("list_two_models_p4.pkl", list_two_models, P4,
            "plain list [DecisionTreeRegressor, ExtraTreesClassifier]"),
    Fixture("dict_model_meta_p5.pkl", dict_model_meta, P5,
            "dict {'model': RandomForestRegressor, 'meta': {...}} (str/int/float/tuple/frozenset/None)"),
    # no trees at all
    Fixture("logistic_regression_p2.pkl", logistic_regression, P2,
            "LogisticRegression on iris: no trees at all"),
    Fixture("dict_of_arrays_p2.pkl", dict_of_arrays, P2,
            "dict of numpy arrays (float64, float32, Fortran-order int32, <U3, bool, scalar): no trees"),
    Fixture("dict_of_arrays_p4.pkl", dict_of_arrays, P4,
            "same dict of arrays as _p2"),
    Fixture("dict_of_arrays_p5.pkl", dict_of_arrays, P5,
            "same dict of arrays as _p2 (the Fortran array becomes _frombuffer(..., 'F'))"),
    # old protocols: text opcodes (0), binary without bytes opcodes (1)
    Fixture("dt_classifier_iris_p0.pkl", dt_classifier_iris, P0,
            "the iris tree at protocol 0: array data as UNICODE raw-unicode-escape text"),
    Fixture("dt_classifier_iris_p1.pkl", dt_classifier_iris, P1,
            "the iris tree at protocol 1"),
    Fixture("gb_regressor_small_p0.pkl", gb_regressor_small, P0,
            "GradientBoostingRegressor 15 stages at protocol 0"),
    # HistGradientBoosting: structured predictor node arrays
    Fixture("grid_search_tree_p4.pkl", grid_search_tree, P4,
            "GridSearchCV of a DecisionTreeClassifier, 160 candidates x 5 splits, cv_results_ with NaN scores"),
    Fixture("hgb_classifier_p2.pkl", hgb_classifier, P2,
            "HistGradientBoostingClassifier, 3 classes x 15 iterations (predictor nodes as latin-1 text)"),
    Fixture("hgb_classifier_l2_p4.pkl", hgb_classifier_l2, P4,
            "HistGradientBoostingClassifier, 3 classes x 10 iterations, l2_regularization 0.5, learning rate 0.2"),
    Fixture("hgb_regressor_l2_p4.pkl", hgb_regressor_l2, P4,
            "HistGradientBoostingRegressor, 25 iterations, l2_regularization 1.5, learning rate 0.05"),
    Fixture("hgb_regressor_p5.pkl", hgb_regressor, P5,
            "HistGradientBoostingRegressor, 25 iterations"),
    # joblib, uncompressed: raw array data after each NumpyArrayWrapper
    Fixture("dt_classifier_iris.joblib", dt_classifier_iris, J,
            "joblib.dump of the iris DecisionTreeClassifier (pickle protocol 4, aligned raw arrays)"),
    Fixture("rf_classifier_small.joblib", rf_classifier_small, J,
            "RandomForestClassifier 8 trees max_depth=7, joblib.dump"),
    Fixture("gb_classifier_multiclass.joblib", gb_classifier_multiclass, J,
            "GradientBoostingClassifier: estimators_ is an object array, written as a nested pickle"),
    Fixture("hgb_classifier.joblib", hgb_classifier, J,
            "HistGradientBoostingClassifier, joblib.dump (predictor nodes as raw structured arrays)"),
    Fixture("dt_regressor_bestfirst_p2.joblib", dt_regressor_bestfirst, joblib_writer(protocol=2),
            "best-first DecisionTreeRegressor, joblib.dump protocol=2"),
    Fixture("gb_regressor_small_p0.joblib", gb_regressor_small, joblib_writer(protocol=0),
            "GradientBoostingRegressor, joblib.dump protocol=0 (text opcodes, wrappers via copyreg)"),
    Fixture("dt_classifier_multioutput_p5.joblib", dt_classifier_multioutput, joblib_writer(protocol=5),
            "multi-output DecisionTreeClassifier (string labels), joblib.dump protocol=5"),
    Fixture("pipeline_scaler_rf.joblib", pipeline_scaler_rf, J,
            "Pipeline(StandardScaler, RandomForestClassifier), joblib.dump"),
    Fixture("gb_regressor_small_joblib11.joblib", gb_regressor_small, joblib_old_layout_writer("absent"),
            "GradientBoostingRegressor in the joblib 0.10-1.1 layout: no alignment attribute, no padding"),
    Fixture("rf_classifier_small_notell.joblib", rf_classifier_small, joblib_old_layout_writer(None),
            "joblib dump to a file without tell(): numpy_array_alignment_bytes=None, no padding"),
    # joblib, compressed: every method Debian's joblib offers
    Fixture("rf_classifier_small.joblib.z", rf_classifier_small, joblib_writer(compress=True),
            "compress=True: zlib level 3"),
    Fixture("rf_classifier_small_9.joblib.z", rf_classifier_small, joblib_writer(compress=("zlib", 9)),
            "zlib level 9"),
    Fixture("rf_classifier_small.joblib.gz", rf_classifier_small, joblib_writer(compress="gzip"),
            "gzip, default level 3"),
    Fixture("rf_classifier_small_1.joblib.gz", rf_classifier_small, joblib_writer(compress=("gzip", 1)),
            "gzip level 1"),
    Fixture("rf_classifier_small.joblib.bz2", rf_classifier_small, joblib_writer(compress="bz2"),
            "bz2, default level 9"),
    Fixture("rf_classifier_small_1.joblib.bz2", rf_classifier_small, joblib_writer(compress=("bz2", 1)),
            "bz2 level 1"),
    Fixture("rf_classifier_small.joblib.xz", rf_classifier_small, joblib_writer(compress="xz"),
            "xz, default preset 6"),
    Fixture("rf_classifier_small_1.joblib.xz", rf_classifier_small, joblib_writer(compress=("xz", 1)),
            "xz preset 1"),
    Fixture("rf_classifier_small.joblib.lzma", rf_classifier_small, joblib_writer(compress="lzma"),
            "lzma (LZMA-alone), default preset 6"),
    Fixture("rf_classifier_small_9.joblib.lzma", rf_classifier_small, joblib_writer(compress=("lzma", 9)),
            "lzma preset 9"),
    Fixture("rf_classifier_small.joblib.lz4", rf_classifier_small, joblib_writer(compress="lz4"),
            "lz4 frame, default level"),
    Fixture("rf_classifier_small_9.joblib.lz4", rf_classifier_small, joblib_writer(compress=("lz4", 9)),
            "lz4 frame level 9 (LZ4 HC)"),
    Fixture("gb_classifier_multiclass.joblib.gz", gb_classifier_multiclass, joblib_writer(compress="gzip"),
            "GradientBoostingClassifier (nested pickle) in a gzip joblib file"),
    Fixture("hgb_regressor.joblib.xz", hgb_regressor, joblib_writer(compress="xz"),
            "HistGradientBoostingRegressor in an xz joblib file"),
    Fixture("dt_classifier_iris.joblib.zf", dt_classifier_iris, joblib_zfile_writer(),
            "legacy joblib < 0.10 'ZF' file (zlib level 1 around a protocol 2 pickle)"),
    # text vectorizers (vocabularies, stop-word sets), fitted on license texts
    Fixture("text_count_p2.pkl", count_vectorizer, P2,
            "CountVectorizer on license paragraphs (BINPUT/LONG_BINPUT, BINUNICODE terms)"),
    Fixture("text_count_p4.pkl", count_vectorizer, P4,
            "same CountVectorizer at protocol 4 (MEMOIZE, SHORT_BINUNICODE)"),
    Fixture("text_count_stop_maxfeat_p2.pkl", count_stop_maxfeat, P2,
            "CountVectorizer stop_words='english', max_features=300: numpy.int64 ids (bytes as latin-1 text)"),
    Fixture("text_count_stop_maxfeat_p4.pkl", count_stop_maxfeat, P4,
            "same at protocol 4: numpy.int64 ids as SHORT_BINBYTES, stop_words_ as EMPTY_SET/ADDITEMS"),
    Fixture("text_count_int32_p2.pkl", count_stop_maxfeat_int32, P2,
            "CountVectorizer with numpy.int32 ids (Windows numpy < 2): 4 bytes as latin-1 text"),
    Fixture("text_count_int32_p3.pkl", count_stop_maxfeat_int32, P3,
            "same at protocol 3: numpy.int32 ids as SHORT_BINBYTES of 4 bytes"),
    Fixture("text_tfidf_bigram_p3.pkl", tfidf_bigram, P3,
            "TfidfVectorizer ngram_range=(1, 2), min_df=2: stop_words_ as set(list) REDUCE"),
    Fixture("text_tfidf_bigram_p5.pkl", tfidf_bigram, P5,
            "same TfidfVectorizer at protocol 5"),
    Fixture("text_count_bigram_large_p4.pkl", count_bigram_large, P4,
            "CountVectorizer (1, 2)-grams, vocabulary > 64 KiB: FRAMEs inside the dict"),
    Fixture("text_dict_vectorizer_p4.pkl", dict_vectorizer, P4,
            "DictVectorizer: vocabulary_ keys are memo GETs of feature_names_"),
    Fixture("text_dict_vectorizer_unsorted_p4.pkl", dict_vectorizer_unsorted, P4,
            "DictVectorizer(sort=False): feature_names_ in first-seen order (must never be reordered)"),
    Fixture("text_pipeline_tfidf_rf_p4.pkl", pipeline_tfidf_rf, P4,
            "Pipeline(TfidfVectorizer stop_words='english' min_df=2, RandomForestClassifier 5 trees)"),
    Fixture("text_feature_union_p5.pkl", feature_union_text, P5,
            "FeatureUnion(CountVectorizer max_features=400, TfidfVectorizer char_wb (2, 3)-grams)"),
    Fixture("text_pipeline_tfidf_rf.joblib", pipeline_tfidf_rf, J,
            "the text Pipeline, joblib.dump"),
]

# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------


def summarize(obj):
    """Short description of the serialised object for the manifest."""
    if isinstance(obj, Pipeline):
        return "Pipeline[%s]" % ",".join(summarize(s) for _, s in obj.steps)
    if isinstance(obj, list):
        return "list[%s]" % ",".join(summarize(o) for o in obj)
    if isinstance(obj, tuple):
        return "tuple[%s]" % ",".join(summarize(o) for o in obj)
    if isinstance(obj, dict):
        if any(isinstance(v, sklearn.base.BaseEstimator) for v in obj.values()):
            return "dict{%s}" % ",".join(
                "%s:%s" % (k, summarize(v) if isinstance(v, sklearn.base.BaseEstimator)
                           else type(v).__name__) for k, v in obj.items())
        return "dict{%s}" % ",".join(
            "%s:%s" % (k, type(v).__name__) for k, v in obj.items())
    return type(obj).__name__


def count_nodes(obj, seen=None):
    """Total number of tree nodes reachable from obj (for the manifest)."""
    from sklearn.tree._tree import Tree
    if seen is None:
        seen = set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, Tree):
        return obj.node_count
    if isinstance(obj, (list, tuple)):
        return sum(count_nodes(o, seen) for o in obj)
    if isinstance(obj, dict):
        return sum(count_nodes(o, seen) for o in obj.values())
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        return sum(count_nodes(o, seen) for o in obj.ravel())
    if isinstance(obj, sklearn.base.BaseEstimator):
        return sum(count_nodes(o, seen) for o in vars(obj).values())
    return 0


def main(argv):
    # stop_words_ is a set: its order follows the string hash seed
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + argv)
    if len(argv) > 2:
        sys.stderr.write("usage: %s [OUTDIR]\n" % argv[0])
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(here), "fixtures")
    os.makedirs(outdir, exist_ok=True)

    names = [fx.name for fx in FIXTURES]
    assert len(names) == len(set(names)), "duplicate fixture names"

    cache = {}
    rows = []
    warnings.simplefilter("ignore")
    for fx in FIXTURES:
        if fx.builder not in cache:
            cache[fx.builder] = fx.builder()
        obj = cache[fx.builder]
        path = os.path.join(outdir, fx.name)
        fx.writer.write(obj, path)
        with open(path, "rb") as f:
            data = f.read()
        rows.append((fx, len(data), count_nodes(obj), summarize(obj),
                     hashlib.sha256(data).hexdigest()))
        print("%-40s %9d bytes  %6d nodes  %s" % (fx.name, len(data), rows[-1][2], fx.writer.label))

    total = sum(r[1] for r in rows)
    print("%-40s %9d bytes" % ("TOTAL (%d files)" % len(rows), total))

    buf = io.StringIO()
    buf.write("# treepack fixtures, generated by scripts/make_fixtures.py -- do not edit\n")
    buf.write("# sklearn %s, numpy %s\n" % (sklearn.__version__, np.__version__))
    buf.write("# file\tbytes\ttree_nodes\twriter\tobject\tsha256\n")
    for fx, size, nodes, summ, sha in rows:
        buf.write("%s\t%d\t%d\t%s\t%s\t%s\n" % (fx.name, size, nodes, fx.writer.label, summ, sha))
    buf.write("# total\t%d\n" % total)
    with open(os.path.join(outdir, "MANIFEST.txt"), "w", newline="\n") as f:
        f.write(buf.getvalue())

    buf = io.StringIO()
    buf.write(README_HEAD)
    buf.write("| file | bytes | tree nodes | writer | contents |\n")
    buf.write("|---|---:|---:|---|---|\n")
    for fx, size, nodes, summ, sha in rows:
        buf.write("| `%s` | %d | %d | %s | %s |\n" % (fx.name, size, nodes, fx.writer.label,
                                                    fx.description.replace("|", "\\|")))
    buf.write("\nTotal: %d bytes in %d files.\n" % (total, len(rows)))
    buf.write(README_TAIL)
    with open(os.path.join(outdir, "README.md"), "w", newline="\n") as f:
        f.write(buf.getvalue())
    return 0


README_HEAD = """\
# treepack test fixtures

Generated by `scripts/make_fixtures.py` (deterministic: fixed `random_state`
everywhere, synthetic data only; re-running gives byte-identical files).
`MANIFEST.txt` lists each file with its size, number of tree nodes, writer,
object summary and sha256. Regenerate with

    /usr/bin/python3 scripts/make_fixtures.py            # writes into fixtures/

and check a round trip with

    /usr/bin/python3 scripts/check_model.py ORIGINAL.pkl EXPANDED.pkl

This README is generated too; edit the table in the script, not here.

"""

README_TAIL = """
## Notes on the pickle byte forms (sklearn 1.2.1, numpy 1.24, CPython 3.11 `_pickle`)

* `Tree` objects reduce as `sklearn.tree._tree.Tree(n_features, n_classes_array, n_outputs)`
  followed by `BUILD` with the dict state `{'max_depth', 'node_count', 'nodes', 'values'}`.
  `nodes` is a structured array, dtype `V56` with fields `left_child, right_child, feature`
  (`<i8`), `threshold, impurity` (`<f8`), `n_node_samples` (`<i8`), `weighted_n_node_samples`
  (`<f8`): 56 bytes per node. `values` is `<f8` of shape `(node_count, n_outputs, max_n_classes)`
  (`max_n_classes` is 1 for regressors and for GradientBoosting's trees).
* Protocols 2, 3, 4: numpy arrays are
  `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')` + `BUILD` with the state
  tuple `(1, shape, dtype, is_fortran, rawdata)`.
  - Protocol 2 has no bytes opcode, so every `bytes` (the `b'b'` argument, array data, numpy
    scalar data) is written as `_codecs.encode(<BINUNICODE text>, 'latin1')` + `REDUCE`:
    the raw bytes re-encoded as latin-1 text, stored as UTF-8, so every byte >= 0x80 takes
    two bytes (tree `nodes`/`values` payloads grow by ~25-50 % in these fixtures).
  - Protocol 3 uses `SHORT_BINBYTES`/`BINBYTES`; no frames.
  - Protocol 4 uses the same opcodes inside `FRAME`s of ~64 KiB; a payload bigger than the
    frame target (`dt_regressor_large_p4.pkl`: 168 KB `nodes`) is written *between* frames,
    not inside one. No `BINBYTES8` occurs (only used for > 4 GiB).
* Protocol 5: contiguous non-object arrays become
  `numpy.core.numeric._frombuffer(BYTEARRAY8 payload, dtype, shape, order)` + `REDUCE`
  (`order` is `'C'`, or `'F'` for Fortran arrays); the buffer is in-band (`pickle.dump` has no
  buffer_callback). There is no `BUILD` for these arrays. Large payloads are again written
  outside frames (`dt_regressor_large_p5.pkl`).
* Object-dtype arrays (`GradientBoosting*.estimators_`, an `(n_stages, K)` array of
  `DecisionTreeRegressor`) use `_reconstruct` + `BUILD` at every protocol, including 5, with a
  Python list of the objects as `rawdata`.
* numpy scalars (e.g. `n_classes_` of a single-output classifier) are
  `numpy.core.multiarray.scalar(dtype, bytes)` at every protocol (`_codecs.encode` at p2).
* The `V56` node dtype is one shared object (sklearn's `NODE_DTYPE`), so it is spelled out once
  per file (`numpy.dtype('V56', False, True)` + `BUILD` with names/fields/itemsize) and every
  later tree refers to it via the memo (`BINGET`/`LONG_BINGET`).
* Multi-output classifiers store `classes_` as a list of arrays (`<U5` strings in
  `dt_classifier_multioutput_p3.pkl`, 4 bytes per character) and `n_classes_` as a list.
* Protocol 0 writes array data as `_codecs.encode(<UNICODE text>, 'latin1')`: the
  text is raw-unicode-escape, every byte as itself except `\\`, NUL, LF, CR and ^Z,
  written `\\u005c` etc.; protocol 1 as protocol 2 (BINUNICODE, UTF-8).
* HistGradientBoosting: each `TreePredictor` (NEWOBJ + BUILD) holds `nodes`, a
  structured array of `PREDICTOR_RECORD_DTYPE` (52-byte packed records: value,
  count, feature_idx, num_threshold, missing_go_to_left, left, right, gain, depth,
  is_leaf, bin_threshold, is_categorical, bitset_idx), and two bitset arrays.

## joblib files (joblib 1.2)

* `joblib.dump` uses pickle protocol 4 unless told otherwise.  Every ndarray becomes
  `joblib.numpy_pickle.NumpyArrayWrapper` (NEWOBJ, or `copyreg._reconstructor` at
  protocols 0-1) + BUILD with `{subclass, shape, order, dtype, allow_mmap,
  numpy_array_alignment_bytes}`; the frame is ended, then come one byte p, p bytes
  of 0xFF (aligning the data to 16 in the file), and the raw array bytes in the
  wrapper's order.  Opcodes resume after them.
* Object arrays (GradientBoosting's `estimators_`) are written instead as a whole
  protocol 2 pickle (`pickle.dump(array)`) nested in the stream.
* joblib 0.10-1.1 wrote no `numpy_array_alignment_bytes` and no padding
  (`gb_regressor_small_joblib11.joblib`); joblib >= 1.2 writes None and no padding
  when the file cannot tell() (`rf_classifier_small_notell.joblib`).
* Compressed files are the same stream through zlib (`.z`, level 3 by default),
  gzip (wbits 31, level 3), bz2 (level 9), xz (preset 6, CRC64), lzma (LZMA-alone,
  preset 6) or lz4 (frame, 64 KiB linked blocks, level 0); joblib < 0.10 wrote
  `ZF`, the stream length in hex padded to 19 characters, and zlib data
  (`dt_classifier_iris.joblib.zf`).
"""

if __name__ == "__main__":
    sys.exit(main(sys.argv))
