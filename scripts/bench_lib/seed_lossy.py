"""The seed's lossy dtype-reduction pickling of scikit-learn trees, re-implemented.

This is the baseline "seed (lossy) + xz -9" of the benchmark: every
sklearn.tree._tree.Tree is pickled, through a copyreg dispatch table, as a
dict of reduced arrays instead of its full state:

  * child ids as int16 (int32 when the tree has more than 32767 nodes),
    stored for internal nodes only, plus an is_leaf mask;
  * feature ids as int16, internal nodes only;
  * thresholds with the half-int trick: values v with 2*v an integer in the
    int8 range are stored as int8(2*v), the others stay float64;
  * leaf values as float32, leaves only;
  * impurity, n_node_samples and weighted_n_node_samples are dropped.

It is lossy (float32 values, dropped statistics), so it is only a size
reference; treepack's output is exact.  The result is pickled with the same
protocol as the original (4 in this benchmark) and then compressed with xz -9.
"""

import copyreg
import pickle

import numpy as np
from sklearn.tree._tree import Tree

INT16 = np.iinfo(np.int16)


def compress_half_int_float_array(a, compression_dtype=np.int8):
    info = np.iinfo(compression_dtype)
    a2 = 2.0 * a
    frac = a2 % 1
    is_compressible = (np.minimum(np.abs(frac - 1), frac) < 1e-12) & (a2 >= info.min) & (a2 <= info.max)
    return {
        "is_compressible": is_compressible,
        "a2_compressible": a2[is_compressible].astype(compression_dtype),
        "a_incompressible": a[~is_compressible],
    }


def compress_tree_state(state):
    nodes = state["nodes"]
    node_count = int(state["node_count"])
    child_dtype = np.int16 if node_count <= INT16.max else np.int32
    is_leaf = nodes["left_child"] == -1
    internal = ~is_leaf
    return {
        "max_depth": state["max_depth"],
        "node_count": state["node_count"],
        "is_leaf": is_leaf,
        "children_left": nodes["left_child"][internal].astype(child_dtype),
        "children_right": nodes["right_child"][internal].astype(child_dtype),
        "features": nodes["feature"][internal].astype(np.int16),
        "thresholds": compress_half_int_float_array(nodes["threshold"][internal].astype(np.float64)),
        "values": state["values"][is_leaf].astype(np.float32),
    }


def compressed_tree_unpickle(cls, init_args, state):
    """Stand-in loader (the benchmark only measures sizes)."""
    raise NotImplementedError("seed (lossy) pickles are a size reference only")


def compressed_tree_pickle(tree):
    assert isinstance(tree, Tree)
    cls, init_args, state = tree.__reduce__()
    return compressed_tree_unpickle, (cls, init_args, compress_tree_state(state))


def dump_dtype_reduction(model, file, protocol):
    p = pickle.Pickler(file, protocol=protocol)
    p.dispatch_table = copyreg.dispatch_table.copy()
    p.dispatch_table[Tree] = compressed_tree_pickle
    p.dump(model)
