#!/usr/bin/python3
"""The package's functions against the command line: dump then
`treepack expand` gives a pickle (or joblib file) that loads; dumps and
loads; compress_file and expand_file name and write files as the command
line does, byte for byte; inspect's objects; trust; errors with the
library's code, message and offset; the GIL released during a call; and
the ctypes structs laid out as treepack.h's (TREEPACK_LAYOUT: the
layout.c program)."""

import ctypes
import filecmp
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import textwrap
import unittest

import support

import treepack

F = support.FIXTURES


class DumpAndTheCommandLine(unittest.TestCase):

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.work = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def test_dump_then_cli_expand_gives_a_pickle_that_loads(self):
        model = support.load_trusted(os.path.join(F, "rf_classifier_p4.pkl"))
        path = os.path.join(self.work, "forest.tpk")
        rep = treepack.dump(model, path)
        self.assertEqual(rep.path, path)
        self.assertEqual(rep.trees, 25)
        self.assertEqual(rep.protocol, 5)
        self.assertEqual(rep.name, "forest.pkl")
        self.assertEqual(os.path.getsize(path), rep.container_size)
        support.cli("expand", "-q", path)
        expanded = os.path.join(self.work, "forest.pkl")
        self.assertEqual(os.path.getsize(expanded), rep.original_size)
        with open(expanded, "rb") as f:
            again = pickle.load(f)  # a pickle this test wrote itself
        self.assertEqual(support.model_problems(support.load_trusted(os.path.join(F, "rf_classifier_p4.pkl")),
                                                again), [])

    def test_dump_joblib_layout_then_cli_expand_gives_a_joblib_file(self):
        import joblib
        src = os.path.join(F, "gb_classifier_multiclass.joblib")
        model = support.load_trusted(src)
        path = os.path.join(self.work, "gb.joblib.tpk")
        rep = treepack.dump(model, path, joblib=True)
        self.assertEqual(rep.name, "gb.joblib")
        self.assertGreater(rep.trees, 0)
        support.cli("expand", "-q", path)
        expanded = os.path.join(self.work, "gb.joblib")
        insp = treepack.inspect(expanded)
        self.assertIsNotNone(insp.pickle_load_stops)  # joblib's layout: raw array bytes
        self.assertTrue(insp.safe)
        again = joblib.load(expanded)  # written by this test
        self.assertEqual(support.model_problems(support.load_trusted(src), again), [])
        self.assertEqual(support.model_problems(support.load_trusted(src), treepack.load(path)), [])

    def test_dumps_loads_and_file_objects(self):
        from sklearn.ensemble import GradientBoostingRegressor
        from sklearn.datasets import make_regression
        X, y = make_regression(n_samples=300, n_features=5, random_state=0)
        model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, y)
        data = treepack.dumps(model, level=3)
        self.assertTrue(data.startswith(b"TPK") or treepack.info(data).trees == 20)
        self.assertEqual(treepack.info(data).trees, 20)
        again = treepack.loads(data)
        self.assertEqual(again.predict(X).tobytes(), model.predict(X).tobytes())
        self.assertEqual(treepack.loads(bytearray(data)).predict(X).tobytes(), model.predict(X).tobytes())
        self.assertEqual(treepack.loads(memoryview(data)).predict(X).tobytes(), model.predict(X).tobytes())
        # to and from file objects
        path = os.path.join(self.work, "gb.tpk")
        with open(path, "wb") as f:
            treepack.dump(model, f, protocol=4)
        with open(path, "rb") as f:
            self.assertEqual(treepack.load(f).predict(X).tobytes(), model.predict(X).tobytes())
        self.assertEqual(treepack.inspect(path).protocol, 4)
        # plain pickles through loads
        self.assertEqual(treepack.loads(pickle.dumps(model, protocol=2)).predict(X).tobytes(),
                         model.predict(X).tobytes())
        # a progress callback is called
        seen = []
        treepack.dump(model, os.path.join(self.work, "p.tpk"), progress=lambda d, t: seen.append((d, t)))
        # (small inputs may report nothing; the call must not fail either way)
        for done, total in seen:
            self.assertLessEqual(done, total)

    def test_lossy_options(self):
        model = support.load_trusted(os.path.join(F, "rf_classifier_p4.pkl"))
        full = treepack.dumps(model)
        stripped = treepack.dumps(model, strip="impurity,samples")
        self.assertLess(len(stripped), len(full))
        self.assertIn("samples", treepack.info(stripped).stripped)
        X = support.check_model().make_X(model.n_features_in_)
        self.assertEqual(treepack.loads(stripped).predict_proba(X).tobytes(), model.predict_proba(X).tobytes())
        with self.assertRaises(ValueError):
            treepack.dumps(model, strip="everything")
        with self.assertRaises(ValueError):
            treepack.dumps(model, level=42)


class Files(unittest.TestCase):
    """compress_file and expand_file against the command line."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.work = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def copy(self, name, as_name=None):
        dst = os.path.join(self.work, as_name or name)
        with open(os.path.join(F, name), "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        return dst

    def test_names_bytes_and_refusals(self):
        for name, tpk_name, back in (("dt_classifier_iris_p4.pkl", "dt_classifier_iris_p4.tpk",
                                      "dt_classifier_iris_p4.pkl"),
                                     ("rf_classifier_small.joblib", "rf_classifier_small.joblib.tpk",
                                      "rf_classifier_small.joblib"),
                                     ("rf_classifier_small.joblib.gz", "rf_classifier_small.joblib.gz.tpk",
                                      "rf_classifier_small.joblib.gz")):
            with self.subTest(file=name):
                src = self.copy(name)
                rep = treepack.compress_file(src)
                self.assertEqual(rep.path, os.path.join(self.work, tpk_name))
                # the same container as the command line's
                cli_out = os.path.join(self.work, "cli-" + tpk_name)
                support.cli("compress", "-q", "-o", cli_out, src)
                self.assertTrue(filecmp.cmp(rep.path, cli_out, shallow=False))
                with self.assertRaises(FileExistsError):
                    treepack.compress_file(src)
                treepack.compress_file(src, force=True)
                os.unlink(src)
                rep = treepack.expand_file(os.path.join(self.work, tpk_name))
                self.assertEqual(rep.path, os.path.join(self.work, back))
                self.assertTrue(filecmp.cmp(rep.path, os.path.join(F, name), shallow=False))
                with self.assertRaises(FileExistsError):
                    treepack.expand_file(os.path.join(self.work, tpk_name))
        # names as the command line makes them
        self.assertEqual(treepack.compressed_name("a/m.pkl"), "a/m.tpk")
        self.assertEqual(treepack.compressed_name("m.bin"), "m.bin.tpk")
        self.assertEqual(treepack.expanded_name("m.tpk"), "m.pkl")
        self.assertEqual(treepack.expanded_name("f.joblib.xz.tpk"), "f.joblib.xz")
        self.assertEqual(treepack.expanded_name("x.bin.tpk"), "x.bin.pkl")
        self.assertIsNone(treepack.expanded_name("m.dat"))
        self.assertIsNone(treepack.expanded_name("d/.tpk"))
        # and refusals
        tpk = os.path.join(self.work, "dt_classifier_iris_p4.tpk")
        with self.assertRaises(treepack.Error) as cm:
            treepack.compress_file(tpk, os.path.join(self.work, "again.tpk"))
        self.assertEqual(cm.exception.code, treepack.Code.E_USAGE)
        with self.assertRaises(treepack.Error) as cm:
            treepack.expand_file(os.path.join(F, "dt_classifier_iris_p4.pkl"), os.path.join(self.work, "x"))
        self.assertEqual(cm.exception.code, treepack.Code.E_NOT_TPK)
        odd = self.copy("dt_classifier_iris_p4.pkl", "odd.tpk.data")
        treepack.compress_file(odd, os.path.join(self.work, "odd.container"))
        with self.assertRaises(treepack.Error) as cm:
            treepack.expand_file(os.path.join(self.work, "odd.container"))
        self.assertEqual(cm.exception.code, treepack.Code.E_USAGE)

    def test_unsafe_files_leave_nothing(self):
        evil = os.path.join(self.work, "evil.pkl")
        with open(evil, "wb") as f:
            f.write(b"\x80\x02cos\nsystem\n(X\x0c\x00\x00\x00touch MARKERtR.")
        with self.assertRaises(treepack.UnsafePickleError) as cm:
            treepack.compress_file(evil)
        self.assertEqual((cm.exception.module, cm.exception.name, cm.exception.opcode, cm.exception.offset),
                         ("os", "system", "GLOBAL", 2))
        self.assertEqual(sorted(os.listdir(self.work)), ["evil.pkl"])
        # a crafted container: expand_file refuses it and leaves no file
        treepack.compress_file(evil, allow_unsafe=True)
        with self.assertRaises(treepack.UnsafePickleError) as cm:
            treepack.expand_file(os.path.join(self.work, "evil.tpk"), os.path.join(self.work, "out.pkl"))
        self.assertEqual((cm.exception.module, cm.exception.name), ("os", "system"))
        self.assertEqual(sorted(os.listdir(self.work)), ["evil.pkl", "evil.tpk"])
        with self.assertRaises(treepack.UnsafePickleError):
            treepack.load(os.path.join(self.work, "evil.tpk"))
        self.assertFalse(os.path.exists("MARKER"))


class InspectTrustErrors(unittest.TestCase):

    def test_inspect_objects(self):
        insp = treepack.inspect(os.path.join(F, "rf_classifier_p4.pkl"))
        self.assertEqual(insp.verdict, "safe")
        self.assertTrue(insp.safe)
        self.assertEqual(insp.format, "pickle")
        self.assertEqual(insp.protocol, 4)
        self.assertEqual(len(insp.trees), 25)
        self.assertEqual(sum(t.nodes for t in insp.trees), 6835)  # fixtures/MANIFEST.txt
        self.assertTrue(all(t.valid for t in insp.trees))
        self.assertIn(("sklearn.ensemble._forest", "RandomForestClassifier"), insp.names())
        first = insp.imports[0]
        self.assertIsInstance(first, treepack.Import)
        self.assertEqual(first.status, "allowed")
        self.assertEqual(first.loaders, frozenset({"pickle", "joblib"}))
        self.assertTrue(any(c.opcode == "REDUCE" and c.target is not None and c.target.name == "Tree"
                            for c in insp.calls))
        self.assertTrue(any(a.dtype == "V56" for a in insp.arrays))
        self.assertIsNone(insp.pickle_load_stops)
        # a .tpk is inspected expanded
        data = subprocess.run([support.CLI, "compress", "-c", os.path.join(F, "rf_classifier_p4.pkl")],
                              capture_output=True, check=True).stdout
        tinsp = treepack.inspect(data)
        self.assertEqual(tinsp.format, "tpk")
        self.assertEqual(tinsp.imports, insp.imports)
        # joblib files: where pickle.load would stop
        self.assertIsNotNone(treepack.inspect(os.path.join(F, "rf_classifier_small.joblib")).pickle_load_stops)
        self.assertTrue(treepack.inspect(os.path.join(F, "rf_classifier_small.joblib.xz")).compressed)
        # malformed: no exception, an error and a verdict
        bad = treepack.inspect(b"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00K")
        self.assertEqual(bad.verdict, "unreadable")
        self.assertFalse(bad.complete)
        self.assertIsInstance(bad.error, treepack.Error)

    def test_trust(self):
        with tempfile.TemporaryDirectory() as work:
            with open(os.path.join(work, "tp_test_things.py"), "w") as f:
                f.write(textwrap.dedent("""
                    class Thing:
                        def __init__(self, x):
                            self.x = x
                        def __eq__(self, other):
                            return type(other) is Thing and other.x == self.x
                """))
            sys.path.insert(0, work)
            try:
                import tp_test_things
                thing = tp_test_things.Thing([1, 2])
                data = pickle.dumps(thing, protocol=4)
                with self.assertRaises(treepack.UnsafePickleError) as cm:
                    treepack.loads(data)
                self.assertEqual(cm.exception.import_name, "tp_test_things.Thing")
                self.assertEqual(treepack.loads(data, trust=["tp_test_things"]), thing)
                self.assertEqual(treepack.loads(data, trust="tp_test_things.Thing"), thing)
                self.assertEqual(treepack.loads(data, allow_unsafe=True), thing)
                insp = treepack.inspect(data, trust=["tp_test_things"])
                self.assertEqual([i.status for i in insp.imports if i.module == "tp_test_things"], ["trusted"])
                self.assertEqual(insp.verdict, "safe")
                with self.assertRaises(treepack.UnsafePickleError):
                    treepack.dumps(thing)
                tpk = treepack.dumps(thing, trust=["tp_test_things"])
                with self.assertRaises(treepack.UnsafePickleError):
                    treepack.loads(tpk)
                self.assertEqual(treepack.loads(tpk, trust=["tp_test_things"]), thing)
            finally:
                sys.path.remove(work)

    def test_errors_carry_the_librarys_code_message_and_offset(self):
        good = pickle.dumps({"a": b"x" * 4096}, protocol=4)
        with self.assertRaises(treepack.Error) as cm:
            treepack.loads(good[:100])
        e = cm.exception
        self.assertEqual(e.code, treepack.Code.E_TRUNCATED)
        self.assertIn("truncated", e.message)
        self.assertIsInstance(e.offset, int)
        self.assertEqual(str(e), e.message)
        tpk = bytearray(treepack.dumps(support.load_trusted(os.path.join(F, "dt_classifier_iris_p4.pkl"))))
        with self.assertRaises(treepack.Error) as cm:
            treepack.loads(bytes(tpk[:len(tpk) // 2]))
        self.assertGreaterEqual(int(cm.exception.code), 50)
        tpk[len(tpk) // 2] ^= 0xFF
        with self.assertRaises(treepack.Error) as cm:
            treepack.loads(bytes(tpk))
        self.assertIn(cm.exception.code, (treepack.Code.E_TPK_CHECKSUM, treepack.Code.E_TPK_CORRUPT,
                                          treepack.Code.E_MISMATCH, treepack.Code.E_ZSTD))
        # a header that declares a size no memory holds
        for declared in (2 ** 39 - 1, 2 ** 45, 2 ** 64 - 1):
            lie = bytearray(tpk)
            lie[len(lie) // 2] ^= 0xFF  # undo the damage above
            lie[16:24] = declared.to_bytes(8, "little")
            with self.assertRaises(treepack.Error):
                treepack.loads(bytes(lie))
        with self.assertRaises(treepack.Error) as cm:
            treepack.loads(b"")
        self.assertEqual(cm.exception.code, treepack.Code.E_EMPTY)
        with self.assertRaises(TypeError):
            treepack.loads("not bytes")
        with self.assertRaises(TypeError):
            treepack.load(b"bytes are for loads")
        # a joblib file without joblib
        from treepack import _unpickle
        saved, _unpickle._joblib = _unpickle._joblib, False
        try:
            with self.assertRaises(treepack.Error) as cm:
                treepack.load(os.path.join(F, "rf_classifier_small.joblib"))
            self.assertEqual(cm.exception.code, treepack.Code.E_JOBLIB)
            self.assertIn("needs joblib", cm.exception.message)
        finally:
            _unpickle._joblib = saved
        with self.assertRaises(treepack.Error):
            treepack.info(os.path.join(F, "dt_classifier_iris_p4.pkl"))


class Binding(unittest.TestCase):

    def test_the_gil_is_released_during_a_call(self):
        """A thread counts while tp_compress runs, called as the package
        calls it (ctypes.CDLL) and, for comparison, through ctypes.PyDLL,
        which holds the GIL: the counter must move far more in the first."""
        import numpy as np
        from treepack import _core, _lib
        big = np.random.RandomState(0).standard_normal(2_000_000)  # 16 MB of pickle
        inp = treepack._pickle_to_memory(big, 5, False)
        held = ctypes.PyDLL(_lib.library_path()).tp_compress
        held.restype, held.argtypes = _lib.lib.tp_compress.restype, _lib.lib.tp_compress.argtypes
        ticks = [0]
        stop = threading.Event()

        def count():
            while not stop.is_set():
                ticks[0] += 1

        def ticks_during(fn):
            opts = _core.Options(level=3, threads=1)
            out = _core.MemoryOut(inp.len)
            with _lib.Context() as ctx:
                before = ticks[0]
                self.assertEqual(fn(ctx.ptr, inp.ptr, inp.len, opts.ref, out.sink.ref, None), 0)
                n = ticks[0] - before
            out.close()
            return n
        # the counter gets the GIL at each callback of the sink: a short
        # switch interval makes it give it back soon
        interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0001)
        t = threading.Thread(target=count)
        t.start()
        try:
            released = ticks_during(_lib.lib.tp_compress)
            kept = ticks_during(held)
        finally:
            stop.set()
            t.join()
            inp.close()
            sys.setswitchinterval(interval)
        print("counter during tp_compress: %d with the GIL released, %d with it held" % (released, kept))
        self.assertGreater(released, 5 * max(kept, 1000))

    def test_struct_layout_matches_treepack_h(self):
        layout = os.environ.get("TREEPACK_LAYOUT")
        if not layout:
            self.skipTest("TREEPACK_LAYOUT (the layout.c program) not set")
        from treepack import _lib
        out = subprocess.run([layout], capture_output=True, text=True, check=True).stdout
        checked = 0
        for line in out.splitlines():
            key, value = line.split()
            if "." in key:
                struct, field = key.split(".")
                got = getattr(getattr(_lib, struct), {"import": "import_"}.get(field, field)).offset
            else:
                got = ctypes.sizeof(getattr(_lib, key))
            self.assertEqual(got, int(value), key)
            checked += 1
        self.assertGreater(checked, 30)

    def test_library_and_version(self):
        self.assertEqual(treepack.library_path(), os.environ["TREEPACK_LIBRARY"])
        self.assertRegex(treepack.library_version(), r"^\d+\.\d+\.\d+")
        self.assertEqual(treepack.Code.E_UNSAFE, 60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
