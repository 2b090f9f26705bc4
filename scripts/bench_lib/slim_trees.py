"""slim-trees' layout of scikit-learn trees, re-implemented for the benchmark.

slim-trees (QuantCo/slim-trees, 0.2.x) saves a model with
dump_sklearn_compressed(model, path, "lzma"): a pickle.Pickler with default
arguments (pickle.DEFAULT_PROTOCOL, 4 on Python 3.8-3.13) whose dispatch
table sends every sklearn.tree._tree.Tree to a reducer, written through
lzma.open(path, "wb") (the .xz format, preset 6, CRC64).  Everything that is
not a Tree is pickled as usual: a HistGradientBoosting model, which holds no
Tree, is just its pickle compressed by lzma.

A Tree reduces to the global slim_trees.sklearn_tree._tree_unpickle called
with (Tree, Tree's own constructor arguments, (slim-trees' version string,
state)), where state is a dict, in this order:

  max_depth, node_count   as in the Tree's own state;
  is_leaf                 np.packbits of left_child == -1, every node;
  children_left,          uint16, internal nodes only (node ids as they are,
  children_right          not relative);
  features                uint16, internal nodes only;
  thresholds              internal nodes only, as a dict:
                            is_compressible  np.packbits of a mask: 2*t lies
                                             within 1e-12 of an integer in the
                                             int8 range [-128, 127],
                            a2_compressible  (2*t)[mask] cast to int8: a C
                                             cast, which truncates toward zero,
                                             so a 2*t just below a positive
                                             integer (or just above a negative
                                             one) loses 0.5 when halved back:
                                             slim-trees' own rounding rule,
                            a_incompressible t[~mask], float64;
  values                  the leaves' rows of the value array, float32;
  missing_go_to_left      (scikit-learn >= 1.3 only) np.packbits of the field
                          for internal nodes.

impurity, n_node_samples, weighted_n_node_samples and the internal nodes'
values are dropped; loading fills them with zeros (leaves get feature -2 and
threshold -2.0).  The uint16 and float32 casts are checked against the
array's min and max first and a ValueError stops the dump when they do not
fit (a tree of more than 65536 nodes cannot be saved): dump() raises
Refused then.

"slim-trees f64" is the same layout with the leaf values kept float64: the
variant issue 14 measures against treepack --strip.

The loader needs the module slim_trees.sklearn_tree: it is not installed
here (pip's registry is out of reach), so this file registers a stand-in
module of that name in sys.modules (only when no real slim_trees is
importable) whose _tree_unpickle rebuilds the Tree from the layout.  The
pickle then names the same global as slim-trees', byte for byte, and the
file loads back into a model whose predictions the benchmark compares with
the original's (prediction_error).  check_structure() is the sanity check of
the layout: every tree rebuilt from the file has the original's topology
and features, its thresholds equal except for the truncation above, and its
leaf values are the float32 roundings of the original's.
"""

import copyreg
import importlib.util
import lzma
import os
import pickle
import sys
import types

import numpy as np

SLIM_TREES_VERSION = "0.2.15"
MODULE = "slim_trees.sklearn_tree"
LOADER = "_tree_unpickle"
HALF_INT_EPS = 1e-12
INT8 = np.iinfo(np.int8)


class Refused(Exception):
    """slim-trees' dump would stop with a ValueError on this model."""


def _fits(a, dtype):
    """What slim-trees checks before a cast: the min and the max fit the
    dtype (numpy 1.x's value-based can_cast on the two scalars)."""
    if a.size == 0:
        return True
    return bool(np.can_cast(a.max(), dtype) and np.can_cast(a.min(), dtype))


def _checked(a, dtype, what):
    if not _fits(a, dtype):
        raise Refused("%s do not fit %s (min %r, max %r)" % (what, np.dtype(dtype).name, a.min(), a.max()))
    return a.astype(dtype)


def half_int_split(t):
    """Thresholds t (float64) as slim-trees stores them: a mask of the ones
    whose double is (within 1e-12) an int8, those doubles as int8, the rest."""
    t2 = 2.0 * t
    frac = t2 % 1
    near = (np.minimum(np.abs(frac - 1), frac) < HALF_INT_EPS) & (t2 >= INT8.min) & (t2 <= INT8.max)
    return {
        "is_compressible": np.packbits(near),
        "a2_compressible": t2[near].astype(np.int8),
        "a_incompressible": t[~near],
    }


def half_int_join(d):
    n = len(d["a2_compressible"]) + len(d["a_incompressible"])
    near = np.unpackbits(d["is_compressible"], count=n).astype(bool)
    t = np.zeros(n, dtype=np.float64)
    t[near] = d["a2_compressible"] / 2.0
    t[~near] = d["a_incompressible"]
    return t


def slim_state(state, values_dtype=np.float32):
    """A Tree's __reduce__ state in slim-trees' layout."""
    if not isinstance(state, dict) or not {"max_depth", "node_count", "nodes", "values"} <= set(state):
        raise Refused("tree state has keys %r" % (sorted(state) if isinstance(state, dict) else type(state)))
    nodes = state["nodes"]
    leaf = nodes["left_child"] == -1
    if not np.array_equal(leaf, nodes["right_child"] == -1):
        raise Refused("left and right children disagree on the leaves")
    inner = ~leaf
    out = {
        "max_depth": state["max_depth"],
        "node_count": state["node_count"],
        "is_leaf": np.packbits(leaf),
        "children_left": _checked(nodes["left_child"][inner], np.uint16, "child ids"),
        "children_right": _checked(nodes["right_child"][inner], np.uint16, "child ids"),
        "features": _checked(nodes["feature"][inner], np.uint16, "features"),
        "thresholds": half_int_split(nodes["threshold"][inner].astype(np.float64)),
        "values": _checked(state["values"][leaf], values_dtype, "leaf values"),
    }
    if "missing_go_to_left" in (nodes.dtype.names or ()):
        out["missing_go_to_left"] = np.packbits(nodes["missing_go_to_left"][inner].astype(bool))
    return out


def full_state(s):
    """The Tree state a slim-trees file loads back to (dropped fields zero)."""
    from sklearn.tree._tree import NODE_DTYPE

    n = int(s["node_count"])
    leaf = np.unpackbits(s["is_leaf"], count=n).astype(bool)
    inner = ~leaf
    nodes = np.zeros(n, dtype=NODE_DTYPE)
    nodes["left_child"][inner] = s["children_left"]
    nodes["left_child"][leaf] = -1
    nodes["right_child"][inner] = s["children_right"]
    nodes["right_child"][leaf] = -1
    nodes["feature"][inner] = s["features"]
    nodes["feature"][leaf] = -2
    nodes["threshold"][inner] = half_int_join(s["thresholds"])
    nodes["threshold"][leaf] = -2.0
    if "missing_go_to_left" in (NODE_DTYPE.names or ()) and "missing_go_to_left" in s:
        nodes["missing_go_to_left"][inner] = np.unpackbits(s["missing_go_to_left"], count=int(inner.sum()))
    values = np.zeros((n,) + s["values"].shape[1:], dtype=np.float64)
    values[leaf] = s["values"]
    return {"max_depth": s["max_depth"], "node_count": s["node_count"], "nodes": nodes, "values": values}


def _tree_unpickle(reconstructor, args, versioned_state):
    _version, state = versioned_state
    tree = reconstructor(*args)
    tree.__setstate__(full_state(state))
    return tree


_tree_unpickle.__module__ = MODULE
_tree_unpickle.__qualname__ = _tree_unpickle.__name__ = LOADER


def _install_stand_in():
    """Make slim_trees.sklearn_tree._tree_unpickle resolvable (see above)."""
    mod = sys.modules.get(MODULE)
    if mod is not None:
        if getattr(mod, LOADER, None) is not _tree_unpickle:
            raise RuntimeError("a real %s is imported: this benchmark's stand-in would clash with it" % MODULE)
        return
    if "slim_trees" not in sys.modules and importlib.util.find_spec("slim_trees") is not None:
        raise RuntimeError("slim_trees is installed: measure it directly instead of this re-implementation")
    pkg = sys.modules.get("slim_trees")
    if pkg is None:
        pkg = types.ModuleType("slim_trees", "stand-in for the benchmark (scripts/bench_lib/slim_trees.py)")
        pkg.__path__ = []
        pkg.__version__ = SLIM_TREES_VERSION
        sys.modules["slim_trees"] = pkg
    mod = types.ModuleType(MODULE, "stand-in for the benchmark (scripts/bench_lib/slim_trees.py)")
    setattr(mod, LOADER, _tree_unpickle)
    sys.modules[MODULE] = mod
    pkg.sklearn_tree = mod


def _reducer(values_dtype):
    from sklearn.tree._tree import Tree

    def reduce_tree(tree):
        assert isinstance(tree, Tree)
        cls, args, state = tree.__reduce__()
        return _tree_unpickle, (cls, args, (SLIM_TREES_VERSION, slim_state(state, values_dtype)))

    return reduce_tree


def dumps(model, values_dtype=np.float32):
    """The uncompressed pickle slim-trees writes for model."""
    import io

    from sklearn.tree._tree import Tree

    _install_stand_in()
    buf = io.BytesIO()
    p = pickle.Pickler(buf)  # slim-trees passes no protocol
    p.dispatch_table = copyreg.dispatch_table.copy()
    p.dispatch_table[Tree] = _reducer(values_dtype)
    p.dump(model)
    return buf.getvalue()


def dump(model, path, values_dtype=np.float32):
    """dump_sklearn_compressed(model, path, "lzma"); returns the file size.

    The pickle is made first and then written through lzma.open: liblzma's
    output does not depend on how its input is cut into writes."""
    raw = dumps(model, values_dtype)
    with lzma.open(path, "wb") as f:
        f.write(raw)
    return {"bytes": os.path.getsize(path), "raw_bytes": len(raw), "protocol": pickle.DEFAULT_PROTOCOL}


def load(path):
    """Load a file written by dump() (ours: never a file from elsewhere)."""
    _install_stand_in()
    with lzma.open(path, "rb") as f:
        return pickle.load(f)


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def trees_of(obj, out=None, seen=None):
    """Every sklearn Tree reachable from obj, in a fixed order."""
    from sklearn.base import BaseEstimator
    from sklearn.tree._tree import Tree

    if out is None:
        out, seen = [], set()
    if id(obj) in seen:
        return out
    seen.add(id(obj))
    if isinstance(obj, Tree):
        out.append(obj)
    elif isinstance(obj, BaseEstimator):
        for v in vars(obj).values():
            trees_of(v, out, seen)
    elif isinstance(obj, dict):
        for v in obj.values():
            trees_of(v, out, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            trees_of(v, out, seen)
    elif isinstance(obj, np.ndarray) and obj.dtype == object:
        for v in obj.ravel():
            trees_of(v, out, seen)
    return out


def check_structure(original, rebuilt, values_dtype=np.float32):
    """Sanity check of the layout: what survived, tree by tree."""
    ta, tb = trees_of(original), trees_of(rebuilt)
    res = {"trees": len(ta), "nodes": 0, "thresholds_changed": 0, "max_threshold_change": 0.0,
           "max_leaf_value_change": 0.0, "problems": []}
    if len(ta) != len(tb):
        res["problems"].append("%d trees vs %d" % (len(ta), len(tb)))
        return res
    for i, (a, b) in enumerate(zip(ta, tb)):
        res["nodes"] += a.node_count
        for f in ("children_left", "children_right", "feature"):
            if not np.array_equal(getattr(a, f), getattr(b, f)):
                res["problems"].append("tree %d: %s differ" % (i, f))
        inner = a.children_left != -1
        d = np.abs(a.threshold[inner] - b.threshold[inner])
        res["thresholds_changed"] += int(np.count_nonzero(d))
        res["max_threshold_change"] = max(res["max_threshold_change"], float(d.max()) if d.size else 0.0)
        leaf = ~inner
        want = a.value[leaf].astype(values_dtype).astype(np.float64)
        if not np.array_equal(want, b.value[leaf]):
            res["problems"].append("tree %d: leaf values are not the %s roundings" % (i, np.dtype(values_dtype).name))
        dv = np.abs(a.value[leaf] - b.value[leaf])
        res["max_leaf_value_change"] = max(res["max_leaf_value_change"], float(dv.max()) if dv.size else 0.0)
        if np.any(b.n_node_samples) or np.any(b.impurity):
            res["problems"].append("tree %d: dropped fields are not zero" % i)
    res["problems"] = res["problems"][:10]
    return res


def single_jobs(obj):
    """n_jobs=1 on every estimator inside obj (no threaded float sums)."""
    from sklearn.base import BaseEstimator

    stack, seen = [obj], set()
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, BaseEstimator):
            if "n_jobs" in vars(o):
                o.n_jobs = 1
            stack.extend(vars(o).values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, np.ndarray) and o.dtype == object:
            stack.extend(o.ravel())
    return obj


def prediction_error(original, lossy, X, task):
    """How far lossy's predictions are from original's on X.

    clf: max and mean absolute difference of predict_proba, and the share of
    rows whose predicted label changed; reg: of predict (every output);
    outlier: of score_samples, and the share of rows whose predict (inlier /
    outlier) changed.  `max_abs` is the figure the targets compare."""
    import warnings

    single_jobs(original)
    single_jobs(lossy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "clf":
            a, b = original.predict_proba(X), lossy.predict_proba(X)
            la, lb = original.predict(X), lossy.predict(X)
        elif task == "outlier":
            a, b = original.score_samples(X), lossy.score_samples(X)
            la, lb = original.predict(X), lossy.predict(X)
        else:
            a, b = original.predict(X), lossy.predict(X)
            la = lb = None
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = np.abs(a - b)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    res = {"rows": int(X.shape[0]), "what": {"clf": "predict_proba", "outlier": "score_samples"}.get(task, "predict"),
           "max_abs": float(d.max()) if d.size else 0.0, "mean_abs": float(d.mean()) if d.size else 0.0,
           "max_abs_output": scale, "labels_changed": None}
    if la is not None:
        res["labels_changed"] = float(np.mean(np.asarray(la) != np.asarray(lb)))
    return res
