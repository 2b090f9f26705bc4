"""The benchmark corpus: scikit-learn tree models, built deterministically.

Every model is fitted on a synthetic (or sklearn-bundled) data set with a
fixed random_state and n_jobs=2 where the estimator has it, then written with
pickle.dump(model, f, protocol=model.protocol) (PROTOCOL, 4, unless a model
says otherwise: the *_p0 and *_p2 files are the fitted object of the model
they are named after, pickled at protocol 0 or 2).  Files are cached in the corpus
directory and only built when missing, or when MANIFEST.json says the file
was built from another description (written to NAME.pkl.tmp, then renamed,
so an interrupted run leaves no half file behind).

Adding a model: append a Model(...) to MODELS.  `kind` is "forest" (bagged
randomised trees: RandomForest*, ExtraTrees*, IsolationForest), "boosting"
or "tree"; `task` is "clf", "reg" or "outlier".  Targets that apply to
forests or classifier forests use these fields.  `data` names the data set
(DATASETS) whose held-out rows held_out(model) returns.
"""

import json
import os
import pickle
from collections import namedtuple

PROTOCOL = 4
SEED = 0

Model = namedtuple("Model", ["name", "kind", "task", "description", "build", "large", "protocol", "data"])

# ---------------------------------------------------------------------------
# Data sets (cached per process: several models share one)
#
# Each is (X_train, y_train, X_test, y_test): the models are fitted on the
# training part only, and the held-out part is what the benchmark predicts on
# to measure the prediction error of lossy layouts (slim-trees, treepack
# --strip=precision).  Generated sets are drawn with HELD_OUT more rows than
# the training part (make_* shuffle their rows) and the last HELD_OUT rows
# are held out; bundled sets (digits, iris, breast cancer) are permuted with
# RandomState(SEED) and their last quarter (a fixed count) is held out.
# ---------------------------------------------------------------------------

HELD_OUT = 5000

_data = {}


def _dataset(key, make):
    if key not in _data:
        _data[key] = make()
    return _data[key]


def _tail(X, y, n_test):
    return X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]


def _bundled(load, n_test):
    import numpy as np

    X, y = load(return_X_y=True)
    idx = np.random.RandomState(SEED).permutation(len(X))
    return _tail(X[idx], y[idx], n_test)


def digits():
    from sklearn.datasets import load_digits

    return _dataset("digits", lambda: _bundled(load_digits, 297))


def iris():
    from sklearn.datasets import load_iris

    return _dataset("iris", lambda: _bundled(load_iris, 50))


def cancer():
    from sklearn.datasets import load_breast_cancer

    return _dataset("cancer", lambda: _bundled(load_breast_cancer, 169))


def clf20k():
    from sklearn.datasets import make_classification

    return _dataset("clf20k", lambda: _tail(*make_classification(
        n_samples=20000 + HELD_OUT, n_features=30, n_informative=10, random_state=SEED), HELD_OUT))


def clf4():
    from sklearn.datasets import make_classification

    return _dataset("clf4", lambda: _tail(*make_classification(
        n_samples=10000 + HELD_OUT, n_features=20, n_informative=10, n_classes=4, random_state=SEED), HELD_OUT))


def clf_imb():
    """3 classes of 80%, 15% and 5%: what class_weight='balanced' is for."""
    from sklearn.datasets import make_classification

    return _dataset("clf_imb", lambda: _tail(*make_classification(
        n_samples=10000 + HELD_OUT, n_features=20, n_informative=8, n_classes=3, weights=[0.8, 0.15, 0.05],
        random_state=SEED), HELD_OUT))


def reg20k():
    from sklearn.datasets import make_regression

    return _dataset("reg20k", lambda: _tail(*make_regression(
        n_samples=20000 + HELD_OUT, n_features=20, noise=1.0, random_state=SEED), HELD_OUT))


def reg_multi():
    from sklearn.datasets import make_regression

    return _dataset("reg_multi", lambda: _tail(*make_regression(
        n_samples=5000 + HELD_OUT, n_features=10, n_targets=3, noise=1.0, random_state=SEED), HELD_OUT))


def reg50k():
    from sklearn.datasets import make_regression

    return _dataset("reg50k", lambda: _tail(*make_regression(
        n_samples=50000 + HELD_OUT, n_features=20, noise=1.0, random_state=SEED), HELD_OUT))


DATASETS = {f.__name__: f for f in (digits, iris, cancer, clf20k, clf4, clf_imb, reg20k, reg_multi, reg50k)}


def held_out(model):
    """The held-out rows (X_test, y_test) of the data set model was fitted on."""
    _, _, X, y = DATASETS[model.data]()
    return X, y


# ---------------------------------------------------------------------------
# Models (fitted objects cached per process: the protocol 0 and 2 files of a
# model pickle the same fitted object as its protocol 4 file)
# ---------------------------------------------------------------------------

_fitted = {}


def _memo(key, fit):
    if key not in _fitted:
        _fitted[key] = fit()
    return _fitted[key]


def _fit(est, data):
    X, y, _, _ = DATASETS[data]()
    return est.fit(X, y)


def rfc(n, data, **kw):
    from sklearn.ensemble import RandomForestClassifier

    return _fit(RandomForestClassifier(n_estimators=n, random_state=SEED, n_jobs=2, **kw), data)


def rfr(n, data):
    from sklearn.ensemble import RandomForestRegressor

    return _fit(RandomForestRegressor(n_estimators=n, random_state=SEED, n_jobs=2), data)


def etc(n, data):
    from sklearn.ensemble import ExtraTreesClassifier

    return _fit(ExtraTreesClassifier(n_estimators=n, random_state=SEED, n_jobs=2), data)


def etr(n, data):
    from sklearn.ensemble import ExtraTreesRegressor

    return _fit(ExtraTreesRegressor(n_estimators=n, random_state=SEED, n_jobs=2), data)


def gbc(n, data):
    from sklearn.ensemble import GradientBoostingClassifier

    return _fit(GradientBoostingClassifier(n_estimators=n, random_state=SEED), data)


def gbr(n, depth, data):
    from sklearn.ensemble import GradientBoostingRegressor

    return _fit(GradientBoostingRegressor(n_estimators=n, max_depth=depth, random_state=SEED), data)


def hgbc(n, data):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return _fit(HistGradientBoostingClassifier(max_iter=n, early_stopping=False, random_state=SEED), data)


def hgbr(n, data):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return _fit(HistGradientBoostingRegressor(max_iter=n, early_stopping=False, random_state=SEED), data)


def iforest(n, data):
    from sklearn.ensemble import IsolationForest

    X, _, _, _ = DATASETS[data]()
    return IsolationForest(n_estimators=n, random_state=SEED, n_jobs=2).fit(X)


def dtr(data):
    from sklearn.tree import DecisionTreeRegressor

    return _fit(DecisionTreeRegressor(random_state=SEED), data)


def dtc(data):
    from sklearn.tree import DecisionTreeClassifier

    return _fit(DecisionTreeClassifier(random_state=SEED), data)


LARGE_TREES = 80  # about 4.05 MB per fully grown tree on 50000 samples: 324 MB
HO = "; %d more rows held out" % HELD_OUT


def _m(name, kind, task, description, build, data, large=False, protocol=None, memo=None):
    build_memo = (lambda: _memo(memo, build)) if memo else build
    if protocol is not None:  # description: the name of the model it is a copy of
        description = "%s pickled at protocol %d" % (description, protocol)
    return Model(name, kind, task, description, build_memo, large, PROTOCOL if protocol is None else protocol, data)


MODELS = [
    _m("rf_digits", "forest", "clf", "RandomForestClassifier, 100 trees, load_digits (1500 rows; 297 held out)",
       lambda: rfc(100, "digits"), "digits"),
    _m("rf_clf", "forest", "clf", "RandomForestClassifier, 50 trees, make_classification 20000x30 (10 informative)" + HO,
       lambda: rfc(50, "clf20k"), "clf20k"),
    _m("rf_reg", "forest", "reg", "RandomForestRegressor, 30 trees, make_regression 20000x20 noise 1.0" + HO,
       lambda: rfr(30, "reg20k"), "reg20k"),
    _m("et_clf", "forest", "clf", "ExtraTreesClassifier, 30 trees, make_classification 20000x30" + HO,
       lambda: etc(30, "clf20k"), "clf20k"),
    _m("et_reg", "forest", "reg", "ExtraTreesRegressor, 30 trees, make_regression 20000x20" + HO,
       lambda: etr(30, "reg20k"), "reg20k"),
    _m("gb_clf4", "boosting", "clf", "GradientBoostingClassifier (log-loss), 4 classes, 100 estimators (400 trees, "
       "depth 3), make_classification 10000x20" + HO, lambda: gbc(100, "clf4"), "clf4", memo="gb_clf4"),
    _m("gb_reg", "boosting", "reg", "GradientBoostingRegressor (squared error), 200 estimators, depth 5, "
       "make_regression 20000x20" + HO, lambda: gbr(200, 5, "reg20k"), "reg20k", memo="gb_reg"),
    _m("iforest", "forest", "outlier", "IsolationForest, 100 trees, make_classification 20000x30 features" + HO,
       lambda: iforest(100, "clf20k"), "clf20k"),
    _m("dt_deep", "tree", "reg", "DecisionTreeRegressor, unlimited depth, make_regression 20000x20" + HO,
       lambda: dtr("reg20k"), "reg20k"),
    _m("hgb_clf", "boosting", "clf", "HistGradientBoostingClassifier, 200 iterations (no early stopping), "
       "make_classification 20000x30" + HO, lambda: hgbc(200, "clf20k"), "clf20k"),
    _m("hgb_reg", "boosting", "reg", "HistGradientBoostingRegressor, 200 iterations (no early stopping), "
       "make_regression 20000x20" + HO, lambda: hgbr(200, "reg20k"), "reg20k"),
    _m("rf_cw", "forest", "clf", "RandomForestClassifier class_weight='balanced', 50 trees, make_classification "
       "10000x20, 3 classes of 80/15/5%" + HO, lambda: rfc(50, "clf_imb", class_weight="balanced"), "clf_imb"),
    _m("et_multi", "forest", "reg", "ExtraTreesRegressor, 30 trees, 3 outputs, make_regression 5000x10" + HO,
       lambda: etr(30, "reg_multi"), "reg_multi"),
    _m("dt_iris", "tree", "clf", "DecisionTreeClassifier, load_iris (100 rows; 50 held out)",
       lambda: dtc("iris"), "iris", memo="dt_iris"),
    _m("rf_small", "forest", "clf", "RandomForestClassifier, 10 trees, load_breast_cancer (400 rows; 169 held out)",
       lambda: rfc(10, "cancer"), "cancer", memo="rf_small"),
    _m("dt_iris_p0", "tree", "clf", "dt_iris", lambda: dtc("iris"), "iris", protocol=0, memo="dt_iris"),
    _m("rf_small_p0", "forest", "clf", "rf_small", lambda: rfc(10, "cancer"), "cancer", protocol=0, memo="rf_small"),
    _m("rf_small_p2", "forest", "clf", "rf_small", lambda: rfc(10, "cancer"), "cancer", protocol=2, memo="rf_small"),
    _m("gb_reg_p2", "boosting", "reg", "gb_reg", lambda: gbr(200, 5, "reg20k"), "reg20k", protocol=2, memo="gb_reg"),
    _m("gb_clf4_p0", "boosting", "clf", "gb_clf4", lambda: gbc(100, "clf4"), "clf4", protocol=0, memo="gb_clf4"),
    _m("rf_reg_large", "forest", "reg", "RandomForestRegressor, %d trees, make_regression 50000x20 noise 1.0" % LARGE_TREES
       + HO, lambda: rfr(LARGE_TREES, "reg50k"), "reg50k", large=True),
]

BY_NAME = {m.name: m for m in MODELS}


def pickle_path(corpus_dir, model):
    return os.path.join(corpus_dir, model.name + ".pkl")


def seed_path(corpus_dir, model):
    return os.path.join(corpus_dir, model.name + ".seed.pkl")


def _write_atomic(path, write):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def ensure(corpus_dir, model, log):
    """Make sure NAME.pkl and NAME.seed.pkl exist; build what is missing."""
    os.makedirs(corpus_dir, exist_ok=True)
    pkl, seed = pickle_path(corpus_dir, model), seed_path(corpus_dir, model)
    obj = None
    built = _manifest(corpus_dir).get(model.name, {}).get("description")
    if built is not None and built != model.description and os.path.exists(pkl):
        log("%s was built as %r: rebuilding" % (model.name, built))
        for path in (pkl, seed):
            if os.path.exists(path):
                os.remove(path)
    if not os.path.exists(pkl):
        import warnings

        log("building %s: %s" % (model.name, model.description))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = model.build()
        _write_atomic(pkl, lambda f: pickle.dump(obj, f, protocol=model.protocol))
        _update_manifest(corpus_dir, model, pkl)
    if not os.path.exists(seed):
        from . import seed_lossy

        log("writing the seed (lossy) pickle of %s" % model.name)
        if obj is None:
            with open(pkl, "rb") as f:
                obj = pickle.load(f)
        _write_atomic(seed, lambda f: seed_lossy.dump_dtype_reduction(obj, f, model.protocol))
    return pkl, seed


def _manifest(corpus_dir):
    try:
        with open(os.path.join(corpus_dir, "MANIFEST.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _update_manifest(corpus_dir, model, pkl):
    import numpy
    import sklearn

    path = os.path.join(corpus_dir, "MANIFEST.json")
    manifest = _manifest(corpus_dir)
    manifest[model.name] = {
        "description": model.description,
        "bytes": os.path.getsize(pkl),
        "protocol": model.protocol,
        "sklearn": sklearn.__version__,
        "numpy": numpy.__version__,
    }
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
