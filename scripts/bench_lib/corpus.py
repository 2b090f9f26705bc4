"""The benchmark corpus: scikit-learn tree models, built deterministically.

Every model is fitted on a synthetic (or sklearn-bundled) data set with a
fixed random_state and n_jobs=2 where the estimator has it, then written with
pickle.dump(model, f, protocol=PROTOCOL).  Files are cached in the corpus
directory and only built when missing, or when MANIFEST.json says the file
was built from another description (written to NAME.pkl.tmp, then renamed,
so an interrupted run leaves no half file behind).

Adding a model: append a Model(...) to MODELS.  `kind` is "forest" (bagged
randomised trees: RandomForest*, ExtraTrees*, IsolationForest), "boosting"
or "tree"; `task` is "clf", "reg" or "outlier".  Targets that apply to
forests or classifier forests use these fields.
"""

import json
import os
import pickle
from collections import namedtuple

PROTOCOL = 4
SEED = 0

Model = namedtuple("Model", ["name", "kind", "task", "description", "build", "large"])

# ---------------------------------------------------------------------------
# Data sets (cached per process: several models share one)
# ---------------------------------------------------------------------------

_data = {}


def _dataset(key, make):
    if key not in _data:
        _data[key] = make()
    return _data[key]


def digits():
    from sklearn.datasets import load_digits

    return _dataset("digits", lambda: load_digits(return_X_y=True))


def clf20k():
    from sklearn.datasets import make_classification

    return _dataset(
        "clf20k",
        lambda: make_classification(n_samples=20000, n_features=30, n_informative=10, random_state=SEED),
    )


def clf4():
    from sklearn.datasets import make_classification

    return _dataset(
        "clf4",
        lambda: make_classification(
            n_samples=10000, n_features=20, n_informative=10, n_classes=4, random_state=SEED
        ),
    )


def reg20k():
    from sklearn.datasets import make_regression

    return _dataset(
        "reg20k", lambda: make_regression(n_samples=20000, n_features=20, noise=1.0, random_state=SEED)
    )


def reg50k():
    from sklearn.datasets import make_regression

    return _dataset(
        "reg50k", lambda: make_regression(n_samples=50000, n_features=20, noise=1.0, random_state=SEED)
    )


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


def _fit(est, data):
    X, y = data()
    return est.fit(X, y)


def rfc(n, data):
    from sklearn.ensemble import RandomForestClassifier

    return _fit(RandomForestClassifier(n_estimators=n, random_state=SEED, n_jobs=2), data)


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


def iforest(n, data):
    from sklearn.ensemble import IsolationForest

    X, _ = data()
    return IsolationForest(n_estimators=n, random_state=SEED, n_jobs=2).fit(X)


def dtr(data):
    from sklearn.tree import DecisionTreeRegressor

    return _fit(DecisionTreeRegressor(random_state=SEED), data)


LARGE_TREES = 80  # about 4.05 MB per fully grown tree on 50000 samples: 324 MB

MODELS = [
    Model("rf_digits", "forest", "clf", "RandomForestClassifier, 100 trees, load_digits", lambda: rfc(100, digits), False),
    Model("rf_clf", "forest", "clf", "RandomForestClassifier, 50 trees, make_classification 20000x30 (10 informative)", lambda: rfc(50, clf20k), False),
    Model("rf_reg", "forest", "reg", "RandomForestRegressor, 30 trees, make_regression 20000x20 noise 1.0", lambda: rfr(30, reg20k), False),
    Model("et_clf", "forest", "clf", "ExtraTreesClassifier, 30 trees, make_classification 20000x30", lambda: etc(30, clf20k), False),
    Model("et_reg", "forest", "reg", "ExtraTreesRegressor, 30 trees, make_regression 20000x20", lambda: etr(30, reg20k), False),
    Model("gb_clf4", "boosting", "clf", "GradientBoostingClassifier, 4 classes, 100 estimators (400 trees, depth 3), make_classification 10000x20", lambda: gbc(100, clf4), False),
    Model("gb_reg", "boosting", "reg", "GradientBoostingRegressor, 200 estimators, depth 5, make_regression 20000x20", lambda: gbr(200, 5, reg20k), False),
    Model("iforest", "forest", "outlier", "IsolationForest, 100 trees, make_classification 20000x30 features", lambda: iforest(100, clf20k), False),
    Model("dt_deep", "tree", "reg", "DecisionTreeRegressor, unlimited depth, make_regression 20000x20", lambda: dtr(reg20k), False),
    Model("rf_reg_large", "forest", "reg", "RandomForestRegressor, %d trees, make_regression 50000x20 noise 1.0" % LARGE_TREES, lambda: rfr(LARGE_TREES, reg50k), True),
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
        _write_atomic(pkl, lambda f: pickle.dump(obj, f, protocol=PROTOCOL))
        _update_manifest(corpus_dir, model, pkl)
    if not os.path.exists(seed):
        from . import seed_lossy

        log("writing the seed (lossy) pickle of %s" % model.name)
        if obj is None:
            with open(pkl, "rb") as f:
                obj = pickle.load(f)
        _write_atomic(seed, lambda f: seed_lossy.dump_dtype_reduction(obj, f, PROTOCOL))
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
        "protocol": PROTOCOL,
        "sklearn": sklearn.__version__,
        "numpy": numpy.__version__,
    }
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
