#!/usr/bin/python3
"""Peak memory of treepack.load: a large forest loads with a peak below
twice its expanded pickle, and predicts exactly what the original did.

make_forest.py fits an ExtraTreesRegressor whose pickle (protocol 5) has
TREEPACK_MEMORY_MB megabytes (default 250), the command line compresses
it, and a fresh /usr/bin/python3 per case loads it: from the .tpk, from
the plain pickle, and (for comparison only) with pickle.load.  Each child
reads VmRSS after importing numpy, scikit-learn and treepack (its base)
and VmHWM after loading (its peak), from /proc/self/status.  Asserted:
peak - base < 2 x pickle size for both treepack cases (the base is the
interpreter with scikit-learn, which no loader can avoid), and the
predictions on a fixed matrix are bit for bit the original's.
"""

import json
import os
import subprocess
import tempfile
import unittest

import support

HERE = os.path.dirname(os.path.abspath(__file__))
MB = float(os.environ.get("TREEPACK_MEMORY_MB", "250"))

CHILD = r"""
import json, sys, time
import numpy as np
import sklearn.ensemble
import treepack
sys.path.insert(0, sys.argv[4])
import make_forest

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

how, path, expected = sys.argv[1], sys.argv[2], sys.argv[3]
base = status("VmRSS:")
start = time.monotonic()
if how == "pickle.load":
    import pickle
    with open(path, "rb") as f:
        model = pickle.load(f)  # the forest this test made
else:
    model = treepack.load(path)
seconds = time.monotonic() - start
peak = status("VmHWM:")
after = status("VmRSS:")
same = model.predict(make_forest.test_X()).tobytes() == np.load(expected).tobytes()
print(json.dumps({"base": base, "peak": peak, "after": after, "same": same, "seconds": seconds}))
"""


def measure(how, path, expected):
    r = subprocess.run([support.PYTHON, "-c", CHILD, how, path, expected, HERE], capture_output=True, text=True,
                       env=support.child_env(), timeout=600)
    if r.returncode != 0:
        raise AssertionError("%s %s: %s" % (how, path, r.stderr[-3000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


class Memory(unittest.TestCase):

    def test_large_forest_loads_below_twice_its_pickle(self):
        with tempfile.TemporaryDirectory() as work:
            pkl = os.path.join(work, "forest.pkl")
            preds = os.path.join(work, "predictions.npy")
            subprocess.run([support.PYTHON, os.path.join(HERE, "make_forest.py"), pkl, str(MB), preds], check=True)
            size = os.path.getsize(pkl)
            support.cli("compress", "-q", pkl)
            tpk = os.path.join(work, "forest.tpk")
            print("forest: pickle %.1f MB, .tpk %.1f MB" % (size / 1e6, os.path.getsize(tpk) / 1e6))
            for how, path in (("treepack.load", tpk), ("treepack.load", pkl), ("pickle.load", pkl)):
                m = measure(how, path, preds)
                grew = m["peak"] - m["base"]
                print("%s(%s): %.1f s; base %.0f MB, peak %.0f MB: +%.0f MB = %.2f x the pickle; %.0f MB after"
                      % (how, os.path.basename(path), m["seconds"], m["base"] / 1e6, m["peak"] / 1e6, grew / 1e6,
                         grew / size, m["after"] / 1e6))
                self.assertTrue(m["same"], "%s(%s): the predictions differ" % (how, path))
                if how == "treepack.load":
                    self.assertLess(grew, 2 * size, "%s(%s)" % (how, path))


if __name__ == "__main__":
    unittest.main(verbosity=2)
