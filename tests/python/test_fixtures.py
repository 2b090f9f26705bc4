#!/usr/bin/python3
"""Every fixture loads through treepack.load, from the .tpk the command
line makes of it and from the file itself, to a model that is the
original's: the same attributes (arrays byte for byte, trees' nodes and
values) and the same predictions, compared exactly (scripts/check_model.py).

Each also through the pruning unpickler (which pickles of 16 MB and more
with trees get) where it would apply.  The fixtures of
fixtures/MANIFEST.txt all; of fixtures/synth those that
Debian's scikit-learn loads as they are (proof "sklearn"), and the one
with out-of-band buffers, which must be refused as compress refuses it.
"""

import os
import tempfile
import unittest

import support  # noqa: F401 - sets the paths

import treepack
from treepack import _unpickle

prune_from = _unpickle.PRUNE_FROM


def fixture_files():
    files = [os.path.join(support.FIXTURES, cols[0]) for cols in support.manifest(support.FIXTURES)]
    synth = os.path.join(support.FIXTURES, "synth")
    files += [os.path.join(synth, cols[0]) for cols in support.manifest(synth) if cols[4] == "sklearn"]
    return files


class Fixtures(unittest.TestCase):

    def test_every_fixture_loads_to_the_same_model(self):
        files = fixture_files()
        self.assertGreaterEqual(len(files), 70)
        with tempfile.TemporaryDirectory() as work:
            for path in files:
                name = os.path.basename(path)
                with self.subTest(fixture=name):
                    # the comparison runs the models (which sets attributes
                    # such as n_jobs): a fresh original for each
                    original = support.load_trusted(path)
                    tpk = os.path.join(work, name + ".tpk")
                    support.cli("compress", "-q", "-o", tpk, path)
                    from_tpk = treepack.load(tpk)
                    problems = support.model_problems(original, from_tpk)
                    self.assertEqual(problems, [], "%s from its .tpk" % name)
                    from_file = treepack.load(path)
                    original = support.load_trusted(path)
                    problems = support.model_problems(original, from_file)
                    self.assertEqual(problems, [], "%s from the file itself" % name)
                    with open(tpk, "rb") as f:
                        from_bytes = treepack.loads(f.read())
                    self.assertEqual(type(from_bytes), type(original))
                    # the pruning unpickler, which big pickles with trees
                    # get, on every fixture it would take
                    _unpickle.PRUNE_FROM = 0
                    try:
                        pruned = treepack.load(path)
                    finally:
                        _unpickle.PRUNE_FROM = prune_from
                    original = support.load_trusted(path)
                    problems = support.model_problems(original, pruned)
                    self.assertEqual(problems, [], "%s with the memo pruned" % name)
                    print("ok %s: %s from the .tpk and from the file" % (name, type(original).__name__))

    def test_out_of_band_buffers_are_refused(self):
        path = os.path.join(support.FIXTURES, "synth", "dt_outofband_p5.pkl")
        with self.assertRaises(treepack.Error) as cm:
            treepack.load(path)
        self.assertEqual(cm.exception.code, treepack.Code.E_OUT_OF_BAND)
        self.assertIsNotNone(cm.exception.offset)
        self.assertNotIsInstance(cm.exception, treepack.UnsafePickleError)


if __name__ == "__main__":
    unittest.main(verbosity=2)
