#!/usr/bin/python3
"""Synthesise model files that Debian's scikit-learn 1.2.1 and numpy 1.24 cannot write.

Usage:
    /usr/bin/python3 scripts/synth_fixtures.py [OUTDIR]

OUTDIR defaults to fixtures/synth/.  The files are built from models fitted
with Debian's scikit-learn, then written with the byte forms newer (or other)
writers use (facts from the sources of scikit-learn's _tree.pyx, numpy's
array pickling and joblib's numpy_pickle.py):

* sklearn >= 1.3 nodes: an 8th field `missing_go_to_left` (u1) at offset 56,
  64-byte records; the 7 padding bytes and missing_go_to_left on leaves hold
  whatever was in memory (here: deterministic garbage, never zero).
* sklearn >= 1.4 classifiers: `values` hold class fractions, not counts.
* numpy 2: `numpy._core.*` module names; protocol 5 `_frombuffer` with a
  fifth argument.
* Python 2 (cPickle, protocol 2): array data as BINSTRING/SHORT_BINSTRING
  (a Python 2 str), where Python 3 writes _codecs.encode(text, 'latin1').
* big-endian nodes and values (s390x), 32-bit builds (`<i4` integer fields),
  Fortran-ordered `values`, a `BINBYTES8` payload, a protocol 5 pickle with
  out-of-band buffers (which treepack must refuse), the module path of the
  joblib vendored in scikit-learn < 0.23, and a zlib joblib file that
  zlib's usual settings cannot reproduce (treepack then restores the stream).

Every file is checked here before it is kept ("proof" in MANIFEST.txt):
  sklearn     Debian's scikit-learn loads it (pickle.load or joblib.load)
              and predicts exactly what the source model predicts;
  shim        it loads once numpy._core is mapped to numpy.core (and
              _frombuffer takes the fifth argument), then predicts the same;
  structure   a restricted unpickler, in which sklearn's Tree records its
              arguments and state, gets back exactly the arrays written;
  buffers     pickle.loads(..., buffers=...) loads it, the file alone not;
  latin1      pickle.load(..., encoding='latin1') loads it, as Python 3 loads
              Python 2 pickles, then predicts the same.
"expect" says what treepack must do: exact (byte-identical round trip),
stream (a compressed file it cannot reproduce: the decompressed stream comes
back exactly and the model loads the same), refused (exit status 1).

Deterministic: re-running gives byte-identical files.
"""

import contextlib
import hashlib
import io
import os
import pickle
import sys
import types
import warnings
import zlib
from collections import namedtuple

import joblib
import joblib.numpy_pickle as jnp
import numpy as np
import sklearn.base
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, GradientBoostingRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.tree._tree import Tree

# ---------------------------------------------------------------------------
# Source models (Debian's scikit-learn, fixed seeds)
# ---------------------------------------------------------------------------


def iris_tree():
    X, y = load_iris(return_X_y=True)
    return DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y), X


def clf_data():
    return make_classification(n_samples=600, n_features=12, n_informative=6, n_classes=3,
                               random_state=5)


def small_forest():
    X, y = clf_data()
    return RandomForestClassifier(n_estimators=6, max_depth=8, random_state=0).fit(X, y), X


def multioutput_tree():
    X, y = clf_data()
    Y = np.column_stack([y, (X[:, 0] > 0).astype(np.int64)])
    return DecisionTreeClassifier(max_depth=7, random_state=0).fit(X, Y), X


def large_regressor():
    # ~1400 nodes: the nodes payload (> 64 KiB) is written outside any frame
    X, y = make_regression(n_samples=700, n_features=5, noise=15.0, random_state=6)
    return DecisionTreeRegressor(random_state=0).fit(X, y), X


def gb_regressor():
    X, y = make_regression(n_samples=300, n_features=6, noise=5.0, random_state=7)
    return GradientBoostingRegressor(n_estimators=12, max_depth=3, random_state=0).fit(X, y), X


def hgb_classifier():
    X, y = clf_data()
    return HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=9, random_state=0).fit(X, y), X


# ---------------------------------------------------------------------------
# Node layouts
# ---------------------------------------------------------------------------

FIELDS7 = ["left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
           "weighted_n_node_samples"]

# sklearn >= 1.3 (_tree.pxd: Node gains `unsigned char missing_go_to_left`)
NODE13 = np.dtype({"names": FIELDS7 + ["missing_go_to_left"],
                   "formats": ["<i8", "<i8", "<i8", "<f8", "<f8", "<i8", "<f8", "u1"],
                   "offsets": [0, 8, 16, 24, 32, 40, 48, 56], "itemsize": 64})

# a 32-bit build: intp is 4 bytes, doubles 4-aligned
NODE32 = np.dtype({"names": FIELDS7,
                   "formats": ["<i4", "<i4", "<i4", "<f8", "<f8", "<i4", "<f8"],
                   "offsets": [0, 4, 8, 12, 20, 28, 32], "itemsize": 40})


def nodes13(nodes, seed):
    """Old nodes in the 1.3 layout, with garbage where 1.3 left memory uninitialised."""
    rng = np.random.RandomState(seed)
    out = np.zeros(len(nodes), dtype=NODE13)
    for f in FIELDS7:
        out[f] = nodes[f]
    leaf = nodes["left_child"] == -1
    out["missing_go_to_left"] = np.where(leaf, rng.randint(1, 256, len(nodes)), rng.randint(0, 2, len(nodes)))
    raw = out.view(np.uint8).reshape(len(nodes), 64)
    raw[:, 57:64] = rng.randint(1, 256, (len(nodes), 7))
    return out


def fractions(values):
    """sklearn >= 1.4: weighted class fractions (each output sums to 1)."""
    return values / values.sum(axis=2, keepdims=True)


class TreeState:
    """Pickles as sklearn.tree._tree.Tree(n_features, n_classes, n_outputs) + BUILD,
    with the nodes and values arrays given."""

    def __init__(self, tree, nodes, values):
        _, self.args, state = tree.__reduce__()
        self.state = dict(state)
        self.state["nodes"] = nodes
        self.state["values"] = values

    def __reduce__(self):
        return (Tree, self.args, self.state)

    @property
    def node_count(self):
        return self.state["node_count"]


def with_trees(model, make):
    """A copy of model (a tree or a forest) whose trees pickle as make(tree, i)."""
    import copy
    m = copy.deepcopy(model)
    ests = m.estimators_ if hasattr(m, "estimators_") else [m]
    for i, est in enumerate(np.ravel(ests)):
        est.tree_ = make(est.tree_, i)
    return m


def count_nodes(model):
    ests = model.estimators_ if hasattr(model, "estimators_") else [model]
    return int(sum(e.tree_.node_count for e in np.ravel(ests)))


@contextlib.contextmanager
def sklearn_version(v):
    """BaseEstimator.__getstate__ records sklearn.base.__version__."""
    old = sklearn.base.__version__
    sklearn.base.__version__ = v
    try:
        yield
    finally:
        sklearn.base.__version__ = old


# ---------------------------------------------------------------------------
# numpy 2 names
# ---------------------------------------------------------------------------

_FAKE = {}


@contextlib.contextmanager
def numpy2_names():
    """Register numpy._core.{numeric,multiarray} with stand-in functions, so
    that pickle can write references to them."""
    added = []
    for modname in ("numpy._core", "numpy._core.numeric", "numpy._core.multiarray"):
        if modname not in sys.modules:
            sys.modules[modname] = types.ModuleType(modname)
            added.append(modname)
    for modname, name in (("numpy._core.numeric", "_frombuffer"), ("numpy._core.multiarray", "_reconstruct"),
                          ("numpy._core.multiarray", "scalar")):
        def stand_in(*args):
            raise RuntimeError("stand-in")
        stand_in.__module__, stand_in.__name__, stand_in.__qualname__ = modname, name, name
        setattr(sys.modules[modname], name, stand_in)
        _FAKE[name] = stand_in
    try:
        yield
    finally:
        for modname in added:
            del sys.modules[modname]


class Numpy2Pickler(pickle.Pickler):
    """pickle.Pickler writing arrays as numpy 2 does: numpy._core names, and
    at protocol 5 _frombuffer(buf, dtype, shape, order, axis_order=None)."""

    def __init__(self, f, protocol):
        super().__init__(f, protocol=protocol)
        self.numpy_protocol = protocol

    def reducer_override(self, o):
        if type(o) is np.ndarray:
            r = o.__reduce_ex__(self.numpy_protocol)
            if r[0] is np.core.numeric._frombuffer:
                return (_FAKE["_frombuffer"], tuple(r[1]) + (None,))
            if r[0] is np.core.multiarray._reconstruct:
                return (_FAKE["_reconstruct"],) + tuple(r[1:])
        elif isinstance(o, np.generic):
            r = o.__reduce__()
            if r[0] is np.core.multiarray.scalar:
                return (_FAKE["scalar"],) + tuple(r[1:])
        return NotImplemented


def numpy2_dump(obj, f, protocol):
    with numpy2_names():
        Numpy2Pickler(f, protocol).dump(obj)


def _frombuffer5(buf, dtype, shape, order, axis_order=None):
    assert axis_order is None
    return np.core.numeric._frombuffer(buf, dtype, shape, order)


class ShimUnpickler(pickle.Unpickler):
    """numpy 2 names mapped to numpy 1.24's."""

    def find_class(self, module, name):
        if module.startswith("numpy._core"):
            if name == "_frombuffer":
                return _frombuffer5
            module = "numpy.core" + module[len("numpy._core"):]
        return super().find_class(module, name)


# ---------------------------------------------------------------------------
# Proofs
# ---------------------------------------------------------------------------


class TreeRecord:
    """Stands for sklearn's Tree in a restricted unpickler."""

    def __init__(self, *args):
        self.args = args

    def __setstate__(self, state):
        self.state = state


def recorded_trees(obj, out=None, seen=None):
    out = [] if out is None else out
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return out
    seen.add(id(obj))
    if isinstance(obj, TreeRecord):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            recorded_trees(v, out, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            recorded_trees(v, out, seen)
    elif isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        for v in obj.ravel():
            recorded_trees(v, out, seen)
    elif hasattr(obj, "__dict__"):
        recorded_trees(vars(obj), out, seen)
    return out


def same_array(a, b, fields_only=False):
    if not (a.dtype == b.dtype and a.dtype.descr == b.dtype.descr and a.shape == b.shape
            and a.flags.f_contiguous == b.flags.f_contiguous):
        return False
    if fields_only and a.dtype.names:
        return all(a[n].tobytes() == b[n].tobytes() for n in a.dtype.names)
    return a.tobytes(order="A") == b.tobytes(order="A")


def prove_structure(path, expected, loader, fields_only=False):
    """The file's trees hold exactly the arrays written (in order).  joblib.load
    copies structured records field by field, dropping padding bytes: compare
    fields only then (the file itself holds the padding; treepack's round trip
    is checked byte for byte)."""
    obj = loader(path)
    got = recorded_trees(obj)
    assert len(got) == len(expected), (path, len(got), len(expected))
    for rec, ts in zip(got, expected):
        assert rec.args[0] == ts.args[0] and rec.args[2] == ts.args[2], path
        for k in ("nodes", "values"):
            assert same_array(rec.state[k], ts.state[k], fields_only), (path, k)
        assert rec.state["node_count"] == ts.state["node_count"]
    return "structure"


def pickle_tree_loader(unpickler_cls=pickle.Unpickler):
    class U(unpickler_cls):
        def find_class(self, module, name):
            if (module, name) == ("sklearn.tree._tree", "Tree"):
                return TreeRecord
            return super().find_class(module, name)

    def load(path):
        with open(path, "rb") as f:
            return U(f).load()
    return load


def joblib_tree_loader(path):
    orig = jnp.NumpyUnpickler.find_class

    def find_class(self, module, name):
        if (module, name) == ("sklearn.tree._tree", "Tree"):
            return TreeRecord
        return orig(self, module, name)

    jnp.NumpyUnpickler.find_class = find_class
    try:
        return joblib.load(path)
    finally:
        jnp.NumpyUnpickler.find_class = orig


def predictions(model, X):
    out = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        out.append(model.predict_proba(X))
    return out


def prove_predicts(model, X, loaded, how):
    a, b = predictions(model, X), predictions(loaded, X)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "predictions differ"
    return how


# ---------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------


def dump_pickle(obj, path, protocol):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def sk13(model, seed, values=lambda v: v):
    return with_trees(model, lambda t, i: TreeState(t, nodes13(t.__getstate__()["nodes"], seed + i),
                                                    values(t.__getstate__()["values"])))


def trees_of(model):
    ests = model.estimators_ if hasattr(model, "estimators_") else [model]
    return [e.tree_ for e in np.ravel(ests)]


def build_dt_sklearn13_p4(path):
    model, _ = iris_tree()
    m = sk13(model, 1)
    with sklearn_version("1.3.2"):
        dump_pickle(m, path, 4)
    return count_nodes(model), prove_structure(path, trees_of(m), pickle_tree_loader())


def build_dt_sklearn13_p2(path):
    model, _ = iris_tree()
    m = sk13(model, 2)
    with sklearn_version("1.3.2"):
        dump_pickle(m, path, 2)
    return count_nodes(model), prove_structure(path, trees_of(m), pickle_tree_loader())


def build_rf_sklearn14_fractions_p5(path):
    model, _ = small_forest()
    m = sk13(model, 3, fractions)
    with sklearn_version("1.4.2"):
        dump_pickle(m, path, 5)
    return count_nodes(model), prove_structure(path, trees_of(m), pickle_tree_loader())


def build_rf_sklearn14_balanced_p5(path):
    # class_weight='balanced': weighted class counts are not whole numbers.
    # sklearn >= 1.4's ClassificationCriterion.node_value writes
    # sum_total[k, c] / weighted_n_node_samples.
    X, y = clf_data()
    keep = (y != 2) | (np.arange(len(y)) % 4 == 0)  # imbalanced: class 2 rare
    model = RandomForestClassifier(n_estimators=4, max_depth=8, class_weight="balanced",
                                   random_state=0).fit(X[keep], y[keep])

    def frac(tree, i):
        st = tree.__getstate__()
        w = st["nodes"]["weighted_n_node_samples"]
        return TreeState(tree, nodes13(st["nodes"], 7 + i), st["values"] / w[:, None, None])
    m = with_trees(model, frac)
    with sklearn_version("1.4.2"):
        dump_pickle(m, path, 5)
    return count_nodes(model), prove_structure(path, trees_of(m), pickle_tree_loader())


def build_rf_sklearn15_numpy2_p5(path):
    model, _ = small_forest()
    m = sk13(model, 4, fractions)
    with sklearn_version("1.5.2"), open(path, "wb") as f:
        numpy2_dump(m, f, 5)
    return count_nodes(model), prove_structure(path, trees_of(m), pickle_tree_loader(ShimUnpickler))


def build_dt_numpy2_p5(path):
    model, X = iris_tree()
    with open(path, "wb") as f:
        numpy2_dump(model, f, 5)
    with open(path, "rb") as f:
        loaded = ShimUnpickler(f).load()
    return count_nodes(model), prove_predicts(model, X, loaded, "shim")


def build_gb_numpy2_p4(path):
    # object array of trees: numpy._core.multiarray._reconstruct at protocol 4
    model, X = gb_regressor()
    with open(path, "wb") as f:
        numpy2_dump(model, f, 4)
    with open(path, "rb") as f:
        loaded = ShimUnpickler(f).load()
    return count_nodes(model), prove_predicts(model, X, loaded, "shim")


def build_hgb_numpy2_p5(path):
    model, X = hgb_classifier()
    with open(path, "wb") as f:
        numpy2_dump(model, f, 5)
    with open(path, "rb") as f:
        loaded = ShimUnpickler(f).load()
    return 0, prove_predicts(model, X, loaded, "shim")


def build_rf_sklearn13(path):
    # joblib.dump of 1.3 trees: raw 64-byte records after the wrappers
    model, _ = small_forest()
    m = sk13(model, 5)
    with sklearn_version("1.3.2"):
        joblib.dump(m, path)
    return count_nodes(model), prove_structure(path, trees_of(m), joblib_tree_loader, fields_only=True)


def build_dt_bigendian_p4(path):
    model, X = iris_tree()
    m = with_trees(model, lambda t, i: TreeState(
        t, t.__getstate__()["nodes"].astype(t.__getstate__()["nodes"].dtype.newbyteorder(">")),
        t.__getstate__()["values"].astype(">f8")))
    dump_pickle(m, path, 4)
    with open(path, "rb") as f:
        loaded = pickle.load(f)
    return count_nodes(model), prove_predicts(model, X, loaded, "sklearn")


def build_rf_int32_nodes_p3(path):
    model, X = small_forest()
    m = with_trees(model, lambda t, i: TreeState(t, t.__getstate__()["nodes"].astype(NODE32),
                                                 t.__getstate__()["values"]))
    dump_pickle(m, path, 3)
    with open(path, "rb") as f:
        loaded = pickle.load(f)
    return count_nodes(model), prove_predicts(model, X, loaded, "sklearn")


def build_dt_values_fortran_p4(path):
    # sklearn 1.2.1 refuses F-ordered values on load; the bytes are still a tree's
    model, _ = multioutput_tree()
    m = with_trees(model, lambda t, i: TreeState(t, t.__getstate__()["nodes"],
                                                 np.asfortranarray(t.__getstate__()["values"])))
    dump_pickle(m, path, 4)
    return count_nodes(model), prove_structure(path, trees_of(m), pickle_tree_loader())


def build_dt_values_fortran_p5(path):
    model, _ = multioutput_tree()
    m = with_trees(model, lambda t, i: TreeState(t, t.__getstate__()["nodes"],
                                                 np.asfortranarray(t.__getstate__()["values"])))
    dump_pickle(m, path, 5)
    return count_nodes(model), prove_structure(path, trees_of(m), pickle_tree_loader())


def build_dt_values_fortran_joblib(path):
    model, _ = multioutput_tree()
    m = with_trees(model, lambda t, i: TreeState(t, t.__getstate__()["nodes"],
                                                 np.asfortranarray(t.__getstate__()["values"])))
    joblib.dump(m, path)
    return count_nodes(model), prove_structure(path, trees_of(m), joblib_tree_loader)


def build_dt_binbytes8_p4(path):
    model, X = large_regressor()
    buf = io.BytesIO()
    pickle.dump(model, buf, protocol=4)
    data = buf.getvalue()
    payload = model.tree_.__getstate__()["nodes"].tobytes()
    assert len(payload) >= 65536
    head = b"B" + len(payload).to_bytes(4, "little")
    at = data.find(head + payload)
    assert at > 0 and data.find(head + payload, at + 1) < 0
    # outside any frame (the payload is bigger than a frame), so no frame
    # length changes: BINBYTES -> BINBYTES8, as a writer does past 4 GiB
    data = data[:at] + b"\x8e" + len(payload).to_bytes(8, "little") + data[at + len(head):]
    with open(path, "wb") as f:
        f.write(data)
    with open(path, "rb") as f:
        loaded = pickle.load(f)
    return count_nodes(model), prove_predicts(model, X, loaded, "sklearn")


def build_dt_outofband_p5(path):
    model, X = iris_tree()
    buffers = []
    data = pickle.dumps(model, protocol=5, buffer_callback=buffers.append)
    assert buffers
    with open(path, "wb") as f:
        f.write(data)
    loaded = pickle.loads(data, buffers=buffers)
    prove_predicts(model, X, loaded, "buffers")
    return count_nodes(model), "buffers"


def build_rf_sklearn_externals(path):
    # sklearn < 0.23 shipped joblib as sklearn.externals.joblib; files from then
    # name that module for NumpyArrayWrapper (and had no alignment padding)
    model, X = small_forest()
    names = ("sklearn.externals", "sklearn.externals.joblib", "sklearn.externals.joblib.numpy_pickle")
    added = [n for n in names if n not in sys.modules]
    for n in names[:-1]:
        sys.modules.setdefault(n, types.ModuleType(n))
    sys.modules.setdefault(names[-1], jnp)
    cls = jnp.NumpyArrayWrapper
    old_module = cls.__module__
    orig = jnp.NumpyPickler._create_array_wrapper

    def create(self, array):
        w = orig(self, array)
        del w.numpy_array_alignment_bytes
        return w

    try:
        cls.__module__ = names[-1]
        jnp.NumpyPickler._create_array_wrapper = create
        joblib.dump(model, path)
        cls.__module__ = old_module
        loaded = joblib.load(path)
    finally:
        cls.__module__ = old_module
        jnp.NumpyPickler._create_array_wrapper = orig
        for n in added:
            del sys.modules[n]
    return count_nodes(model), prove_predicts(model, X, loaded, "shim")


def python2_form(data):
    """A Python 3 protocol 2 pickle rewritten as Python 2's cPickle writes
    bytes: `_codecs.encode(<text>, 'latin1')` + REDUCE becomes the str itself
    (SHORT_BINSTRING or BINSTRING).  Memo slots of the removed objects stay
    unused; the result's own BINPUT is kept."""
    import pickletools
    import struct
    ops = list(pickletools.genops(data))
    ends = [pos for _, _, pos in ops[1:]] + [len(data)]
    out, i, n = bytearray(), 0, len(ops)

    def is_encode(k):
        op, arg, _ = ops[k]
        return op.name == "GLOBAL" and arg == "_codecs encode"

    encode_memo = set()
    while i < n:
        op, arg, pos = ops[i]
        j = i
        if is_encode(i) or (op.name in ("BINGET", "LONG_BINGET") and arg in encode_memo):
            seq, j = [], i + 1
            while j < n and len(seq) < 4:
                if ops[j][0].name in ("BINPUT", "LONG_BINPUT"):
                    if is_encode(i) and j == i + 1:
                        encode_memo.add(ops[j][1])
                    j += 1
                    continue
                seq.append(ops[j])
                j += 1
            names = [o.name for o, _, _ in seq]
            if names[:1] == ["BINUNICODE"] and names[2:4] == ["TUPLE2", "REDUCE"]:
                raw = seq[0][1].encode("latin1")
                out += (b"U" + bytes([len(raw)]) if len(raw) < 256 else b"T" + struct.pack("<i", len(raw))) + raw
                i = j
                continue
        out += data[pos:ends[i]]
        i += 1
    return bytes(out)


def build_dt_python2_p2(path):
    model, X = iris_tree()
    data = python2_form(pickle.dumps(model, protocol=2))
    assert b"_codecs" not in data
    with open(path, "wb") as f:
        f.write(data)
    loaded = pickle.loads(data, encoding="latin1")
    return count_nodes(model), prove_predicts(model, X, loaded, "latin1")


def build_gb_python2_p2(path):
    model, X = gb_regressor()
    data = python2_form(pickle.dumps(model, protocol=2))
    assert b"_codecs" not in data
    with open(path, "wb") as f:
        f.write(data)
    loaded = pickle.loads(data, encoding="latin1")
    return count_nodes(model), prove_predicts(model, X, loaded, "latin1")


def build_dt_pickle_in_gzip(path):
    # pickle.dump through Python's gzip module: a header with the file name,
    # level 9; joblib.load reads it as a gzip file like its own
    import gzip
    model, X = iris_tree()
    with open(path, "wb") as raw, gzip.GzipFile("dt_classifier.pkl", "wb", fileobj=raw, mtime=0) as f:
        pickle.dump(model, f, protocol=4)
    loaded = joblib.load(path)
    return count_nodes(model), prove_predicts(model, X, loaded, "sklearn")


def build_gb_zlib_filtered(path):
    # zlib with settings joblib never uses: treepack cannot reproduce the
    # file, so it restores the stream and compresses it anew
    model, X = gb_regressor()
    buf = io.BytesIO()
    joblib.dump(model, buf)
    c = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_FILTERED)
    with open(path, "wb") as f:
        f.write(c.compress(buf.getvalue()) + c.flush())
    loaded = joblib.load(path)
    return count_nodes(model), prove_predicts(model, X, loaded, "sklearn")


Synth = namedtuple("Synth", ["name", "build", "expect", "description"])

SYNTH = [
    Synth("dt_sklearn13_p4.pkl", build_dt_sklearn13_p4, "exact",
          "sklearn 1.3 nodes: 64 bytes, missing_go_to_left, garbage in padding and on leaves"),
    Synth("dt_sklearn13_p2.pkl", build_dt_sklearn13_p2, "exact",
          "the same at protocol 2: the garbage goes through _codecs.encode latin-1 text"),
    Synth("rf_sklearn14_fractions_p5.pkl", build_rf_sklearn14_fractions_p5, "exact",
          "sklearn 1.4 forest: 64-byte nodes, class fractions in values, protocol 5 _frombuffer"),
    Synth("rf_sklearn14_balanced_p5.pkl", build_rf_sklearn14_balanced_p5, "exact",
          "sklearn 1.4 forest, class_weight='balanced': fractions of counts that are not whole numbers"),
    Synth("rf_sklearn15_numpy2_p5.pkl", build_rf_sklearn15_numpy2_p5, "exact",
          "sklearn 1.5 + numpy 2: numpy._core names, five-argument _frombuffer"),
    Synth("dt_numpy2_p5.pkl", build_dt_numpy2_p5, "exact",
          "numpy 2 names on a 1.2 tree, protocol 5"),
    Synth("gb_numpy2_p4.pkl", build_gb_numpy2_p4, "exact",
          "numpy 2 names at protocol 4: numpy._core.multiarray._reconstruct (object array of trees)"),
    Synth("hgb_numpy2_p5.pkl", build_hgb_numpy2_p5, "exact",
          "HistGradientBoostingClassifier with numpy 2 names (predictor nodes via _frombuffer)"),
    Synth("rf_sklearn13.joblib", build_rf_sklearn13, "exact",
          "joblib.dump of a sklearn 1.3 forest: 64-byte raw records after each wrapper"),
    Synth("dt_bigendian_p4.pkl", build_dt_bigendian_p4, "exact",
          "big-endian nodes (>i8, >f8) and values (>f8), as written on s390x"),
    Synth("rf_int32_nodes_p3.pkl", build_rf_int32_nodes_p3, "exact",
          "32-bit build: <i4 integer fields, 40-byte nodes"),
    Synth("dt_values_fortran_p4.pkl", build_dt_values_fortran_p4, "exact",
          "multi-output tree whose values are Fortran-ordered"),
    Synth("dt_values_fortran_p5.pkl", build_dt_values_fortran_p5, "exact",
          "the same at protocol 5: _frombuffer(..., 'F')"),
    Synth("dt_values_fortran.joblib", build_dt_values_fortran_joblib, "exact",
          "the same in a joblib file (wrapper order 'F')"),
    Synth("dt_binbytes8_p4.pkl", build_dt_binbytes8_p4, "exact",
          "nodes payload written with BINBYTES8 (as past 4 GiB), outside any frame"),
    Synth("dt_python2_p2.pkl", build_dt_python2_p2, "exact",
          "Python 2 cPickle form: array data as SHORT_BINSTRING/BINSTRING"),
    Synth("gb_python2_p2.pkl", build_gb_python2_p2, "exact",
          "the same for a GradientBoostingRegressor (object array of trees)"),
    Synth("dt_outofband_p5.pkl", build_dt_outofband_p5, "refused",
          "protocol 5 with out-of-band buffers: NEXT_BUFFER, the data is not in the file"),
    Synth("rf_sklearn_externals.joblib", build_rf_sklearn_externals, "exact",
          "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper (sklearn < 0.23), no padding"),
    Synth("dt_pickle_in_gzip.pkl.gz", build_dt_pickle_in_gzip, "exact",
          "pickle.dump into Python's gzip module: file name in the header, level 9"),
    Synth("gb_zlib_filtered.joblib.z", build_gb_zlib_filtered, "stream",
          "zlib stream with Z_FILTERED and memLevel 9: not reproducible, the stream comes back exactly"),
]


def main(argv):
    if len(argv) > 2:
        sys.stderr.write("usage: %s [OUTDIR]\n" % argv[0])
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(here), "fixtures", "synth")
    os.makedirs(outdir, exist_ok=True)
    warnings.simplefilter("ignore")
    rows = []
    for s in SYNTH:
        path = os.path.join(outdir, s.name)
        nodes, proof = s.build(path)
        with open(path, "rb") as f:
            data = f.read()
        rows.append((s, len(data), nodes, proof, hashlib.sha256(data).hexdigest()))
        print("%-32s %8d bytes %6d nodes  %-8s %-9s" % (s.name, len(data), nodes, s.expect, proof))
    total = sum(r[1] for r in rows)
    print("%-32s %8d bytes" % ("TOTAL (%d files)" % len(rows), total))
    with open(os.path.join(outdir, "MANIFEST.txt"), "w", newline="\n") as f:
        f.write("# synthesised fixtures, generated by scripts/synth_fixtures.py -- do not edit\n")
        f.write("# file\tbytes\ttree_nodes\texpect\tproof\tsha256\tdescription\n")
        for s, size, nodes, proof, sha in rows:
            f.write("%s\t%d\t%d\t%s\t%s\t%s\t%s\n" % (s.name, size, nodes, s.expect, proof, sha, s.description))
        f.write("# total\t%d\n" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
