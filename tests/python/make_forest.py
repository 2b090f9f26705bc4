#!/usr/bin/python3
"""Write a large random forest for the memory test.

    /usr/bin/python3 tests/python/make_forest.py OUT.pkl MEGABYTES [PREDICTIONS.npy]

Fits an ExtraTreesRegressor whose fully grown trees make a pickle of about
MEGABYTES MB (protocol 5: 64 bytes a node), on synthetic data with a fixed
random_state, pickles it to OUT.pkl, and, when asked, saves its predictions
on a fixed test matrix (see test_X) to PREDICTIONS.npy.  Extra trees with
one candidate feature per split are the quickest forest to grow this big.
"""
import pickle
import sys

import numpy as np

N_TREES = 8
N_FEATURES = 6
BYTES_PER_NODE = 64  # 56 in the node record, 8 in values (one output)


def test_X():
    """The rows both sides predict on."""
    return np.random.RandomState(1).standard_normal((2000, N_FEATURES))


def main(argv):
    out, megabytes = argv[1], float(argv[2])
    from sklearn.ensemble import ExtraTreesRegressor
    # without bootstrap every distinct target ends in its own leaf: a tree
    # of n samples has 2n - 1 nodes
    n = max(1000, int(megabytes * 1e6 / BYTES_PER_NODE / N_TREES / 2))
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n, N_FEATURES))
    y = X[:, 0] * 3 + np.sin(X[:, 1]) + rng.standard_normal(n)
    model = ExtraTreesRegressor(n_estimators=N_TREES, max_features=1, bootstrap=False,
                                random_state=0, n_jobs=-1).fit(X, y)
    model.n_jobs = 1
    with open(out, "wb") as f:
        pickle.dump(model, f, protocol=5)
    if len(argv) > 3:
        np.save(argv[3], model.predict(test_X()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
