#!/usr/bin/python3
"""Check that an expanded model behaves exactly like the original.

Usage:
    /usr/bin/python3 scripts/check_model.py [--model-equal] [-q] ORIGINAL EXPANDED

Both files are loaded (pickle.load, or joblib.load for joblib files / when
pickle.load fails).  Then:

1. Behaviour: every fitted scikit-learn estimator found in the loaded object
   (the object itself, items of lists/tuples/dicts, Pipeline steps, and the
   Pipeline as a whole) is run on a deterministic test matrix built from
   n_features_in_, and the outputs of predict, predict_proba,
   decision_function, score_samples, transform and apply, plus
   feature_importances_, are compared with np.array_equal (exact, no
   tolerance).  Estimators are switched to n_jobs=1 first so that threaded
   float accumulation cannot make results differ.

2. Structure: the two objects are compared recursively (type, every attribute
   of every estimator, numpy arrays by dtype/shape/raw bytes, floats bit for
   bit, dict key order, every tree_'s n_features/n_classes/n_outputs/
   max_depth/node_count and its `nodes` and `values` arrays as bytes).

Text models: vectorizers (CountVectorizer, TfidfVectorizer, HashingVectorizer,
DictVectorizer) and Pipelines/FeatureUnions that start with one have no
n_features_in_; they are run on a deterministic list of documents made of
their own vocabulary (and, for DictVectorizer, of feature dicts), and
transform() outputs are compared exactly as sparse matrices (shape, indices,
indptr, data), as are get_feature_names_out() and predict/predict_proba of
text pipelines.

--stripped LIST (impurity, samples, stop-words, split-values, thresholds,
precision, all; comma-separated) is for files compressed with treepack
--strip: it implies --model-equal, and the stripped parts are not compared:
the impurity / n_node_samples / weighted_n_node_samples fields of tree
nodes, feature_importances_, stop_words_ (which must then be empty in
EXPANDED), the values of internal nodes (split-values); each threshold must
be the float32 at or below the original's (thresholds).  Every prediction is
still compared bit for bit, on rows that include values on both sides of
every split threshold, except with precision: float outputs then agree
within a relative 1e-5 and predict's labels on 99% of the rows.

With --model-equal only equal behaviour is required: tree `nodes`/`values`
are not compared as raw bytes; instead each pair of trees is walked in
preorder from the root and every node's fields and values must be
bit-identical (so trees equal up to a renumbering of node ids pass), dict
key order is ignored, other arrays need only equal values, and apply() leaf
ids may differ by a per-tree relabelling (the leaf partition of the test
rows must be identical).  feature_importances_ is still compared exactly;
note that sklearn sums importances in node-id order, so a renumbered tree
can change it in the last bit.

Output: one line per estimator found ("ok NAME [PATH]: what matched" or
"FAIL ..."), then one "DIFF ..." line per difference.

Exit status: 0 all equal; 1 something differs (the differences are listed),
including an EXPANDED file that exists but cannot be loaded; 2 usage error,
a missing file, or an ORIGINAL that cannot be loaded.
"""

import argparse
import math
import os
import pickle
import sys
import warnings

import numpy as np

# Methods whose outputs are compared, in this order.
METHODS = ("predict", "predict_proba", "decision_function", "score_samples",
           "transform", "apply")

MAX_REPORTED = 20


class LoadError(Exception):
    pass


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

# Magic numbers of the compressors joblib.dump can use.
_JOBLIB_COMPRESSED_PREFIXES = (
    b"\x1f\x8b",              # gzip
    b"BZh",                   # bz2
    b"\xfd7zXZ\x00",          # xz
    b"\x5d\x00\x00",          # lzma (alone)
    b"\x04\x22\x4d\x18",      # lz4
    b"ZF",                    # joblib < 0.10 zlib container
)


def looks_like_joblib(head):
    if any(head.startswith(p) for p in _JOBLIB_COMPRESSED_PREFIXES):
        return True
    if head[:1] == b"\x78" and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
        return True           # zlib stream (joblib compress=True default)
    # Uncompressed joblib: a pickle whose arrays are NumpyArrayWrapper
    # objects followed by raw array data; plain pickle.load would return
    # wrappers instead of arrays.
    return b"NumpyArrayWrapper" in head or b"NDArrayWrapper" in head


def load(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise LoadError("cannot read %s: %s" % (path, e))
    if looks_like_joblib(data):
        return load_joblib(path, None)
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception as e:  # noqa: BLE001 - any unpickling failure
        return load_joblib(path, e)


def load_joblib(path, pickle_error):
    try:
        import joblib
        return joblib.load(path)
    except Exception as e:  # noqa: BLE001
        msg = "cannot load %s: joblib.load: %s: %s" % (path, type(e).__name__, e)
        if pickle_error is not None:
            msg += "; pickle.load: %s: %s" % (type(pickle_error).__name__, pickle_error)
        raise LoadError(msg)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def is_estimator(obj):
    from sklearn.base import BaseEstimator
    return isinstance(obj, BaseEstimator)


def is_fitted(est):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    try:
        check_is_fitted(est)
        return True
    except (NotFittedError, TypeError, AttributeError):
        return False


def find_estimators(obj, path="root", out=None, seen=None):
    """Top-level estimators reachable through containers and Pipeline steps."""
    from sklearn.pipeline import FeatureUnion, Pipeline
    if out is None:
        out, seen = [], set()
    if id(obj) in seen:
        return out
    seen.add(id(obj))
    if is_estimator(obj):
        out.append((path, obj))
        if isinstance(obj, Pipeline):
            for name, step in obj.steps:
                find_estimators(step, "%s.steps[%r]" % (path, name), out, seen)
        elif isinstance(obj, FeatureUnion):
            for name, tr in obj.transformer_list:
                find_estimators(tr, "%s.transformer_list[%r]" % (path, name), out, seen)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            find_estimators(v, "%s[%r]" % (path, k), out, seen)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            find_estimators(v, "%s[%d]" % (path, i), out, seen)
    return out


def all_estimators(obj, out=None, seen=None):
    """Every estimator object reachable anywhere (for setting n_jobs)."""
    if out is None:
        out, seen = [], set()
    if id(obj) in seen:
        return out
    seen.add(id(obj))
    if is_estimator(obj):
        out.append(obj)
        for v in vars(obj).values():
            all_estimators(v, out, seen)
    elif isinstance(obj, dict):
        for v in obj.values():
            all_estimators(v, out, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            all_estimators(v, out, seen)
    elif isinstance(obj, np.ndarray) and obj.dtype == object:
        for v in obj.ravel():
            all_estimators(v, out, seen)
    return out


def count_trees(obj, seen=None):
    from sklearn.tree._tree import Tree
    if seen is None:
        seen = set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, Tree):
        return 1
    if is_estimator(obj):
        return sum(count_trees(v, seen) for v in vars(obj).values())
    if isinstance(obj, dict):
        return sum(count_trees(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(count_trees(v, seen) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        return sum(count_trees(v, seen) for v in obj.ravel())
    return 0


def tree_thresholds(obj, out, seen=None):
    """Every split threshold of the trees in obj, per feature."""
    from sklearn.tree._tree import Tree
    if seen is None:
        seen = set()
    if id(obj) in seen:
        return out
    seen.add(id(obj))
    if isinstance(obj, Tree):
        internal = obj.children_left != -1
        for f, t in zip(obj.feature[internal], obj.threshold[internal]):
            out.setdefault(int(f), set()).add(float(t))
    elif is_estimator(obj):
        for v in vars(obj).values():
            tree_thresholds(v, out, seen)
    elif isinstance(obj, dict):
        for v in obj.values():
            tree_thresholds(v, out, seen)
    elif isinstance(obj, (list, tuple)) or (isinstance(obj, np.ndarray) and obj.dtype == object):
        for v in (obj.ravel() if isinstance(obj, np.ndarray) else obj):
            tree_thresholds(v, out, seen)
    return out


def threshold_rows(est, n_features, limit=400):
    """Rows that sit on the split thresholds of est's trees: for each
    feature the float32 at or below a threshold and the next one up, the
    inputs on which a threshold moved to float32 would decide otherwise
    if it were wrong.  None when est has no trees."""
    per = tree_thresholds(est, {})
    if not per:
        return None
    cols = []
    for j in range(n_features):
        ts = sorted(t for t in per.get(j, ()) if np.isfinite(t))[:limit // 2] or [0.0]
        lo = np.array([float32_floor(t) for t in ts], dtype=np.float64)
        hi = np.nextafter(lo.astype(np.float32), np.float32(np.inf)).astype(np.float64)
        cols.append(np.concatenate([lo, hi]))
    rows = max(len(c) for c in cols)
    return np.stack([np.resize(c, rows) for c in cols], axis=1)


def make_X(n_features):
    """Deterministic test input: normal rows, digit-like rows, edge rows."""
    rng = np.random.RandomState(0)
    parts = [
        rng.standard_normal((200, n_features)),
        rng.standard_normal((50, n_features)) * 5.0,
        rng.randint(0, 17, size=(50, n_features)).astype(np.float64),
        np.zeros((1, n_features)),
        np.full((1, n_features), 1e6),
        np.full((1, n_features), -1e6),
        np.where(np.arange(n_features) % 2 == 0, 1e6, -1e6)[None, :],
    ]
    return np.vstack(parts)


def arrays_equal(a, b):
    """Exact equality of method outputs (arrays, lists of arrays, scalars)."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if type(a) is not type(b) or len(a) != len(b):
            return False
        return all(arrays_equal(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if (a.dtype.kind == "f" or a.dtype.kind == "c") and "precision" in SKIP_VALUES:
        # values rounded to float32: each off by at most 2^-24 of itself
        scale = max(1.0, float(np.nanmax(np.abs(a)))) if a.size else 1.0
        return np.allclose(a, b, rtol=PRECISION_RTOL, atol=PRECISION_RTOL * scale, equal_nan=True)
    if a.dtype.kind == "f" or a.dtype.kind == "c":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def labels_close(a, b):
    """--stripped precision: labels that may flip where a score sits on a
    boundary, on at most 1% of the rows."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.size and np.mean(a != b) <= 0.01


def same_partition(a, b):
    """apply() outputs equal up to a per-column bijective relabelling."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    a2 = a.reshape(a.shape[0], -1)
    b2 = b.reshape(b.shape[0], -1)
    for j in range(a2.shape[1]):
        pairs = set(zip(a2[:, j].tolist(), b2[:, j].tolist()))
        if len(pairs) != len(set(a2[:, j].tolist())) or len(pairs) != len(set(b2[:, j].tolist())):
            return False
    return True


def describe_diff(a, b):
    try:
        if isinstance(a, (list, tuple)):
            return "list of %d vs %d outputs" % (len(a), len(b) if hasattr(b, "__len__") else -1)
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return "shape/dtype %s %s vs %s %s" % (a.shape, a.dtype, b.shape, b.dtype)
        ne = a != b
        if a.dtype.kind == "f":
            ne &= ~(np.isnan(a) & np.isnan(b))
        idx = np.argwhere(ne)
        first = tuple(idx[0]) if len(idx) else ()
        return "%d differing elements, first at %s: %r vs %r" % (
            len(idx), first, a[first] if first else None, b[first] if first else None)
    except Exception as e:  # noqa: BLE001
        return "(cannot describe: %s)" % e


# ---------------------------------------------------------------------------
# Behaviour comparison
# ---------------------------------------------------------------------------


def call(est, method, X):
    try:
        return ("ok", getattr(est, method)(X))
    except Exception as e:  # noqa: BLE001
        return ("error", "%s: %s" % (type(e).__name__, e))


TEXT_VECTORIZERS = ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer")


def text_kind(est):
    """'text', 'dict' or None: what kind of raw input est takes."""
    from sklearn.pipeline import FeatureUnion, Pipeline
    name = type(est).__name__
    if name in TEXT_VECTORIZERS:
        return "text"
    if name == "DictVectorizer":
        return "dict"
    if isinstance(est, Pipeline) and est.steps:
        return text_kind(est.steps[0][1])
    if isinstance(est, FeatureUnion) and est.transformer_list:
        kinds = {text_kind(t) for _, t in est.transformer_list if t not in ("drop", "passthrough")}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def vocab_terms(est, out):
    from sklearn.pipeline import FeatureUnion, Pipeline
    voc = getattr(est, "vocabulary_", None)
    if isinstance(voc, dict):
        out.extend(sorted(str(k) for k in voc))
    if isinstance(est, Pipeline):
        for _, s in est.steps:
            vocab_terms(s, out)
    if isinstance(est, FeatureUnion):
        for _, t in est.transformer_list:
            vocab_terms(t, out)
    return out


def make_docs(est, kind):
    """Deterministic raw input for a text model: documents built from its
    own vocabulary (so that every column can light up), plus fixed text."""
    terms = vocab_terms(est, [])
    rng = np.random.RandomState(0)
    fixed = ["", "the quick brown fox", "GNU General Public License version 3",
             "Permission is hereby granted, free of charge", "\u00e9t\u00e9 na\u00efve \u4e2d\u6587"]
    if kind == "dict":
        feats = terms or ["a", "b=c"]
        return [{feats[j]: float(k + 1) for k, j in enumerate(rng.randint(0, len(feats), size=5))}
                for _ in range(60)] + [{}]
    docs = list(fixed)
    if terms:
        for _ in range(60):
            docs.append(" ".join(terms[j] for j in rng.randint(0, len(terms), size=12)))
        docs.append(" ".join(terms[:2000]))
    return docs


def sparse_equal(a, b):
    import scipy.sparse as sp
    if sp.issparse(a) or sp.issparse(b):
        if not (sp.issparse(a) and sp.issparse(b)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        a, b = a.tocsr(), b.tocsr()
        a.sort_indices()
        b.sort_indices()
        return (np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
                and a.data.tobytes() == b.data.tobytes())
    return arrays_equal(a, b)


def check_text_behaviour(path, a, b, kind, problems):
    name = type(a).__name__
    X = make_docs(a, kind)
    done = []
    for method in ("transform", "predict", "predict_proba", "decision_function", "get_feature_names_out"):
        if not hasattr(a, method):
            continue
        args = () if method == "get_feature_names_out" else (X,)
        ra, rb = call_args(a, method, args), call_args(b, method, args)
        if ra[0] == "error" and rb[0] == "error":
            continue
        if ra[0] != rb[0]:
            problems.append("%s (%s): %s: %s vs %s" % (path, name, method, ra[1] if ra[0] == "error" else "ok",
                                                        rb[1] if rb[0] == "error" else "ok"))
        elif sparse_equal(ra[1], rb[1]):
            done.append(method)
        else:
            problems.append("%s (%s): %s differs" % (path, name, method))
    return "%s [%s]" % (name, path), done


def call_args(est, method, args):
    try:
        return ("ok", getattr(est, method)(*args))
    except Exception as e:  # noqa: BLE001
        return ("error", "%s: %s" % (type(e).__name__, e))


def check_behaviour(path, a, b, model_equal, problems):
    """Compare outputs of estimator a (original) and b (expanded).

    Returns None (type mismatch), a "skip ..." string, or (label, methods
    that matched, whether this estimator had no problems)."""
    before = len(problems)
    res = _check_behaviour(path, a, b, model_equal, problems)
    if isinstance(res, tuple):
        return res + (len(problems) == before,)
    return res


def _check_behaviour(path, a, b, model_equal, problems):
    name = type(a).__name__
    if type(a) is not type(b):
        problems.append("%s: type %s vs %s" % (path, type(a).__name__, type(b).__name__))
        return None
    kind = text_kind(a)
    if kind and is_fitted(a) and getattr(a, "n_features_in_", None) is None:
        return check_text_behaviour(path, a, b, kind, problems)
    if not is_fitted(a):
        if is_fitted(b):
            problems.append("%s (%s): original not fitted, expanded is" % (path, name))
        return "skip %s [%s]: not fitted" % (name, path)
    n = getattr(a, "n_features_in_", None)
    if n is None or n != getattr(b, "n_features_in_", None):
        if n != getattr(b, "n_features_in_", None):
            problems.append("%s (%s): n_features_in_ %r vs %r" % (
                path, name, n, getattr(b, "n_features_in_", None)))
        return "skip %s [%s]: no n_features_in_" % (name, path)
    X = make_X(int(n))
    edges = threshold_rows(a, int(n))
    if edges is not None:
        X = np.vstack([X, edges])
    done = []
    for method in METHODS:
        ha, hb = hasattr(a, method), hasattr(b, method)
        if ha != hb:
            problems.append("%s (%s): %s available in %s only" % (
                path, name, method, "original" if ha else "expanded"))
            continue
        if not ha:
            continue
        ra, rb = call(a, method, X), call(b, method, X)
        if ra[0] == "error" and rb[0] == "error":
            if ra[1] != rb[1]:
                problems.append("%s (%s): %s raised different errors: %s | %s" % (
                    path, name, method, ra[1], rb[1]))
            continue          # e.g. transform on a non-transformer: skip
        if ra[0] != rb[0]:
            problems.append("%s (%s): %s: original %s, expanded %s" % (
                path, name, method, ra[1] if ra[0] == "error" else "ok",
                rb[1] if rb[0] == "error" else "ok"))
            continue
        if arrays_equal(ra[1], rb[1]):
            done.append(method)
        elif "precision" in SKIP_VALUES and method == "predict" and labels_close(ra[1], rb[1]):
            done.append("predict(%d labels differ)" % int(np.sum(np.asarray(ra[1]) != np.asarray(rb[1]))))
        elif method == "apply" and model_equal and same_partition(ra[1], rb[1]):
            done.append("apply(renumbered)")
        else:
            problems.append("%s (%s): %s differs: %s" % (
                path, name, method, describe_diff(ra[1], rb[1])))
    if SKIP_FIELDS:
        return "%s [%s]" % (name, path), done
    fa = _get_attr(a, "feature_importances_")
    fb = _get_attr(b, "feature_importances_")
    if fa[0] != fb[0]:
        problems.append("%s (%s): feature_importances_ %s vs %s" % (path, name, fa[1], fb[1]))
    elif fa[0] == "ok":
        if arrays_equal(fa[1], fb[1]):
            done.append("feature_importances_")
        else:
            problems.append("%s (%s): feature_importances_ differs: %s" % (
                path, name, describe_diff(fa[1], fb[1])))
    return "%s [%s]" % (name, path), done


def _get_attr(obj, attr):
    try:
        return ("ok", getattr(obj, attr))
    except Exception as e:  # noqa: BLE001
        return ("missing", type(e).__name__)


# ---------------------------------------------------------------------------
# Structural comparison
# ---------------------------------------------------------------------------


class Differ:
    def __init__(self, model_equal, stripped=()):
        self.model_equal = model_equal
        self.stripped = set(stripped)
        self.problems = []
        self.trees = 0
        self.seen = set()
        self.keep = []      # keeps compared objects alive so their ids are not reused

    def diff(self, a, b, path):
        if len(self.problems) >= MAX_REPORTED:
            return
        key = (id(a), id(b))
        if key in self.seen:
            return
        self.seen.add(key)
        self.keep.append((a, b))
        self._diff(a, b, path)

    def bad(self, path, msg):
        self.problems.append("%s: %s" % (path, msg))

    def _diff(self, a, b, path):
        from sklearn.tree._tree import Tree
        if type(a) is not type(b):
            return self.bad(path, "type %s vs %s" % (type(a).__name__, type(b).__name__))
        if a is None or isinstance(a, (bool, int, str, bytes, bytearray, complex, type)):
            if a != b:
                self.bad(path, "%r vs %r" % (_short(a), _short(b)))
            return
        if isinstance(a, float):
            if not _float_same(a, b):
                self.bad(path, "%r vs %r" % (a, b))
            return
        if isinstance(a, np.ndarray):
            return self._diff_array(a, b, path, raw=True)
        if isinstance(a, np.generic):
            if a.dtype != b.dtype or a.tobytes() != b.tobytes():
                self.bad(path, "numpy scalar %r (%s) vs %r (%s)" % (a, a.dtype, b, b.dtype))
            return
        if isinstance(a, np.dtype):
            if a != b or a.descr != b.descr:
                self.bad(path, "dtype %s vs %s" % (a, b))
            return
        if isinstance(a, Tree):
            return self._diff_tree(a, b, path)
        if isinstance(a, np.random.RandomState):
            return self._diff(_rs_state(a), _rs_state(b), path + ".get_state()")
        if isinstance(a, dict):
            return self._diff_dict(a, b, path)
        if isinstance(a, (list, tuple)):
            if len(a) != len(b):
                return self.bad(path, "length %d vs %d" % (len(a), len(b)))
            for i, (x, y) in enumerate(zip(a, b)):
                self.diff(x, y, "%s[%d]" % (path, i))
            return
        if isinstance(a, (set, frozenset)):
            if a != b:
                self.bad(path, "set %r vs %r" % (_short(a), _short(b)))
            return
        if hasattr(a, "__dict__") or hasattr(a, "__getstate__"):
            sa, sb = _state(a), _state(b)
            if sa is not None or sb is not None:
                return self.diff(sa, sb, path)
        # Extension types without __dict__ or __eq__ (e.g. the Cython loss
        # objects of HistGradientBoosting): compare what pickle would save.
        ra, rb = _reduced(a), _reduced(b)
        if ra is not None and rb is not None:
            if ra[0] is not rb[0]:
                return self.bad(path, "reconstructed by %r vs %r" % (ra[0], rb[0]))
            return self.diff(list(ra[1:]), list(rb[1:]), path + ".__reduce__()")
        try:
            if a != b:
                self.bad(path, "%r vs %r" % (_short(a), _short(b)))
        except Exception as e:  # noqa: BLE001
            self.bad(path, "cannot compare %s: %s" % (type(a).__name__, e))

    def _diff_dict(self, a, b, path):
        if "stop-words" in self.stripped and "stop_words_" in a:
            if b.get("stop_words_") not in (None, set()):
                self.bad(path + ".stop_words_", "stripped but not empty")
            a = {k: v for k, v in a.items() if k != "stop_words_"}
            b = {k: v for k, v in b.items() if k != "stop_words_"}
        ka, kb = list(a.keys()), list(b.keys())
        if set(ka) != set(kb):
            only_a = [k for k in ka if k not in b]
            only_b = [k for k in kb if k not in a]
            return self.bad(path, "keys only in original %r, only in expanded %r" % (
                only_a, only_b))
        if not self.model_equal and ka != kb:
            self.bad(path, "dict key order differs: %r vs %r" % (_short(ka), _short(kb)))
        for k in ka:
            self.diff(a[k], b[k], _attr_path(path, k))

    def _diff_array(self, a, b, path, raw):
        if a.dtype != b.dtype:
            return self.bad(path, "dtype %s vs %s" % (a.dtype, b.dtype))
        if a.shape != b.shape:
            return self.bad(path, "shape %s vs %s" % (a.shape, b.shape))
        order_a = (a.flags.c_contiguous, a.flags.f_contiguous)
        order_b = (b.flags.c_contiguous, b.flags.f_contiguous)
        if not self.model_equal and a.ndim > 1 and order_a != order_b:
            return self.bad(path, "memory order differs (C,F contiguous %s vs %s)" % (
                order_a, order_b))
        if a.dtype.hasobject:
            fa, fb = a.ravel(order="K"), b.ravel(order="K")
            for i in range(fa.size):
                self.diff(fa[i], fb[i], "%s.flat[%d]" % (path, i))
                if len(self.problems) >= MAX_REPORTED:
                    return
            return
        if not raw:
            return
        if a.dtype.names and "is_leaf" in a.dtype.names and HGB_SKIP:
            # a HistGradientBoosting predictor's nodes: the stripped fields
            # are not compared (value: of internal nodes only)
            a, b = a.copy(), b.copy()
            for f in HGB_SKIP & set(a.dtype.names):
                if f == "value":
                    a["value"][a["is_leaf"] == 0] = 0
                    b["value"][b["is_leaf"] == 0] = 0
                else:
                    a[f] = 0
                    b[f] = 0
        if a.tobytes(order="A") != b.tobytes(order="A") and not (
                self.model_equal and arrays_equal(a, b)):
            self.bad(path, "array bytes differ (%s)" % describe_struct_diff(a, b))

    def _diff_tree(self, a, b, path):
        self.trees += 1
        before = len(self.problems)
        ra, rb = a.__reduce__(), b.__reduce__()
        # ra = (Tree, (n_features, n_classes, n_outputs), state)
        self.diff(ra[1][0], rb[1][0], path + ".n_features")
        self._diff_array(np.asarray(ra[1][1]), np.asarray(rb[1][1]), path + ".n_classes", True)
        self.diff(ra[1][2], rb[1][2], path + ".n_outputs")
        sa, sb = ra[2], rb[2]
        if set(sa) != set(sb):
            return self.bad(path, "tree state keys %r vs %r" % (sorted(sa), sorted(sb)))
        for k in sa:
            if k in ("nodes", "values"):
                self._diff_array(sa[k], sb[k], "%s.%s" % (path, k), raw=not self.model_equal)
            else:
                self.diff(sa[k], sb[k], "%s.%s" % (path, k))
        if self.model_equal and len(self.problems) == before:
            msg = diff_tree_canonical(sa["nodes"], sa["values"], sb["nodes"], sb["values"])
            if msg:
                self.bad(path, msg)


# node fields not compared (--stripped)
SKIP_FIELDS = set()
# --stripped split-values (internal nodes' values not compared), thresholds
# (each must be the float32 below the original), precision (values not
# compared, float outputs within PRECISION_RTOL)
SKIP_VALUES = set()
# fields of HistGradientBoosting predictor nodes not compared (--stripped):
# gain (impurity), count (samples), value of internal nodes (split-values)
HGB_SKIP = set()
PRECISION_RTOL = 1e-5


def float32_floor(t):
    """The largest float32 not above t, as a double (NaN as it is)."""
    f = np.float32(t)
    if np.isnan(t):
        return t
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


def diff_tree_canonical(na, va, nb, vb):
    """Compare two trees node by node in preorder from the root, ignoring node ids.

    Returns None when the trees are identical up to a renumbering of their
    nodes, else a message describing the first difference.
    """
    if len(na) != len(nb):
        return "node_count %d vs %d" % (len(na), len(nb))
    if len(na) == 0:
        return None
    fields = [f for f in na.dtype.names if f not in ("left_child", "right_child") and f not in SKIP_FIELDS]
    la, ra = na["left_child"], na["right_child"]
    lb, rb = nb["left_child"], nb["right_child"]
    stack = [(0, 0, "root")]
    visited = 0
    while stack:
        ia, ib, where = stack.pop()
        visited += 1
        if visited > len(na):
            return "cycle in tree structure"
        for f in fields:
            if na[f][ia].tobytes() != nb[f][ib].tobytes():
                return "node %s (id %d vs %d): %s %r vs %r" % (
                    where, ia, ib, f, na[f][ia], nb[f][ib])
        leaf_a, leaf_b = la[ia] == -1, lb[ib] == -1
        values_kept = not ("precision" in SKIP_VALUES or ("split-values" in SKIP_VALUES and not leaf_a))
        if values_kept and va[ia].tobytes() != vb[ib].tobytes():
            return "node %s (id %d vs %d): values differ" % (where, ia, ib)
        if "thresholds" in SKIP_VALUES and not leaf_a and nb["threshold"][ib] != float32_floor(na["threshold"][ia]):
            return "node %s (id %d vs %d): threshold %r is not the float32 below %r" % (
                where, ia, ib, nb["threshold"][ib], na["threshold"][ia])
        if leaf_a != leaf_b:
            return "node %s (id %d vs %d): leaf in one tree only" % (where, ia, ib)
        if not leaf_a:
            stack.append((int(ra[ia]), int(rb[ib]), where + "R"))
            stack.append((int(la[ia]), int(lb[ib]), where + "L"))
    if visited != len(na):
        return "%d of %d nodes reachable from the root" % (visited, len(na))
    return None


def describe_struct_diff(a, b):
    if a.dtype.names:
        fields = [n for n in a.dtype.names
                  if a[n].tobytes() != b[n].tobytes()]
        rows = np.nonzero(np.any(np.stack([
            (a[n] != b[n]).reshape(len(a), -1).any(axis=1) if a.ndim else a[n] != b[n]
            for n in fields]), axis=0))[0] if fields and a.ndim == 1 else []
        return "fields %s; %d rows, first row %s" % (
            ",".join(fields), len(rows), rows[0] if len(rows) else "?")
    return describe_diff(a, b)


def _float_same(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _rs_state(rs):
    s = rs.get_state(legacy=False)
    return s


def _state(obj):
    try:
        if hasattr(obj, "__getstate__"):
            st = obj.__getstate__()
            if st is not None:
                return st
        return dict(vars(obj))
    except TypeError:
        return None


def _reduced(obj):
    try:
        r = obj.__reduce_ex__(2)
    except Exception:  # noqa: BLE001
        return None
    return r if isinstance(r, tuple) and len(r) >= 2 else None


def _attr_path(path, k):
    if isinstance(k, str) and k.isidentifier():
        return "%s.%s" % (path, k)
    return "%s[%r]" % (path, k)


def _short(x, n=120):
    r = repr(x)
    return r if len(r) <= n else r[:n] + "..."


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main(argv):
    ap = argparse.ArgumentParser(
        description="Check that EXPANDED loads to a model that behaves exactly like ORIGINAL.")
    ap.add_argument("original")
    ap.add_argument("expanded")
    ap.add_argument("--model-equal", action="store_true",
                    help="only require equal behaviour: do not compare raw tree array bytes, "
                         "ignore dict order, allow renumbered apply() leaf ids")
    ap.add_argument("--stripped", metavar="LIST", default="",
                    help="treepack --strip LIST was used: do not compare those parts (implies --model-equal)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    args = ap.parse_args(argv[1:])          # exits 2 on usage errors
    stripped = [s for s in args.stripped.split(",") if s]
    if "all" in stripped:
        stripped = [s for s in stripped if s != "all"] + ["impurity", "samples", "stop-words", "split-values",
                                                         "thresholds"]
    for s in stripped:
        if s not in ("impurity", "samples", "stop-words", "split-values", "thresholds", "precision"):
            ap.error("--stripped: unknown part %r" % s)
    SKIP_VALUES.update(s for s in stripped if s in ("split-values", "thresholds", "precision"))
    if "thresholds" in stripped:
        SKIP_FIELDS.add("threshold")
    if stripped:
        args.model_equal = True
    if "impurity" in stripped:
        SKIP_FIELDS.add("impurity")
        HGB_SKIP.add("gain")
    if "samples" in stripped:
        HGB_SKIP.add("count")
    if "split-values" in stripped:
        HGB_SKIP.add("value")
    if "samples" in stripped:
        SKIP_FIELDS.update(("n_node_samples", "weighted_n_node_samples"))

    warnings.simplefilter("ignore")
    for path in (args.original, args.expanded):
        if not os.path.isfile(path):
            print("error: %s: no such file" % path, file=sys.stderr)
            return 2
    try:
        a = load(args.original)
    except LoadError as e:
        print("error: original: %s" % e, file=sys.stderr)
        return 2
    try:
        b = load(args.expanded)
    except LoadError as e:
        # The original loads but the expanded file does not: that is a difference.
        print("DIFF expanded file does not load: %s" % e)
        print("FAIL: %s and %s differ" % (args.original, args.expanded), file=sys.stderr)
        return 1

    problems = []

    # 1. structural comparison (before touching n_jobs)
    differ = Differ(args.model_equal, stripped)
    differ.diff(a, b, "root")
    structural = differ.problems

    # 2. behaviour
    for est in all_estimators(a) + all_estimators(b):
        if "n_jobs" in vars(est):
            est.n_jobs = 1
    ests_a = find_estimators(a)
    ests_b = find_estimators(b)
    lines = []
    if [p for p, _ in ests_a] != [p for p, _ in ests_b]:
        problems.append("estimators found differ: %r vs %r" % (
            [p for p, _ in ests_a], [p for p, _ in ests_b]))
    else:
        for (path, ea), (_, eb) in zip(ests_a, ests_b):
            res = check_behaviour(path, ea, eb, args.model_equal, problems)
            if res is None:
                continue
            if isinstance(res, str):
                lines.append(res)
                continue
            label, done, clean = res
            nt = count_trees(ea)
            if nt and not structural:
                done.append("%d tree%s %s" % (nt, "" if nt == 1 else "s",
                                              "(canonical)" if args.model_equal else "(arrays)"))
            elif not structural:
                done.append("attributes")
            lines.append("%s %s: %s" % ("ok" if clean and not structural else "FAIL", label,
                                        ", ".join(done) if done else "(nothing equal)"))
    if not ests_a and not structural and not problems:
        lines.append("ok %s: recursive equality (no estimator)" % type(a).__name__)

    problems.extend("structure %s" % p for p in structural)
    if not args.quiet:
        for line in lines:
            print(line)
    if problems:
        for p in problems[:MAX_REPORTED]:
            print("DIFF %s" % p)
        if len(problems) > MAX_REPORTED or len(structural) >= MAX_REPORTED:
            print("DIFF ... (stopped after %d differences)" % MAX_REPORTED)
        print("FAIL: %s and %s differ" % (args.original, args.expanded), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
