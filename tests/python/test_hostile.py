#!/usr/bin/python3
"""Hostile pickles: treepack.load and loads refuse them and run nothing.

The attacks are tests/security/make_attacks.py's (each proven there to run
code or read a file under pickle.load or joblib.load), plus a few small
ones written here: os.system through GLOBAL + REDUCE, posix.system
through STACK_GLOBAL, builtins.eval, a getattr chain to eval, a dotted
STACK_GLOBAL name walking to builtins, and each of them inside a .tpk
(which a crafted container can carry: `compress --allow-unsafe`).  Every
payload would create the file MARKER in the working directory (or return
/etc/passwd as the object).  Each file is loaded in a child /usr/bin/python3
whose working directory is a fresh temporary directory per file, so that a
payload that ran would leave MARKER there; none may.

Also checked here: the defence in depth.  An unpickler whose verdict is
made to leave a name out refuses it in find_class, for the C unpickler,
the pruning one and joblib's.
"""

import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import unittest

import support

import treepack

SECURITY = os.path.join(support.SOURCE, "tests", "security")

# ---------------------------------------------------------------- small attacks


def _unicode(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _stack_global(module, name):
    return _unicode(module) + _unicode(name) + b"\x93"


def _call1(callable_bytes, arg):
    """callable(arg) through REDUCE."""
    return callable_bytes + b"(" + _unicode(arg) + b"tR"


SMALL = {
    # protocol 2: os.system('touch MARKER')
    "os_system_global": b"\x80\x02" + _call1(_global("os", "system"), "touch MARKER") + b".",
    # protocol 4: posix.system via STACK_GLOBAL
    "posix_system_stack_global": b"\x80\x04" + _call1(_stack_global("posix", "system"), "touch MARKER") + b".",
    # builtins.eval of code that makes the marker
    "builtins_eval": b"\x80\x02" + _call1(_global("builtins", "eval"),
                                          "open('MARKER','w').write('ran')") + b".",
    # getattr(builtins-module-ish, 'eval')(code): a getattr chain
    "getattr_chain": (b"\x80\x02" + _global("builtins", "getattr") + b"(" + _global("builtins", "__builtins__")
                      + _unicode("eval") + b"tR" + b"(" + _unicode("open('MARKER','w').write('ran')") + b"tR."),
    # a dotted name walked attribute by attribute at protocol 4:
    # sklearn.base.warnings.sys.modules... -> numpy's re-exported os
    "dotted_stack_global": b"\x80\x04" + _call1(_stack_global("numpy", "os.system"), "touch MARKER") + b".",
    # protocol 0 INST
    "inst_os_system": b"(" + b"V" + b"touch MARKER\n" + b"ios\nsystem\n.",
}

# ---------------------------------------------------------------- the child

CHILD = r"""
import json, os, sys, tempfile
import treepack
for line in sys.stdin:
    item = json.loads(line)
    d = tempfile.mkdtemp(prefix="tp-hostile-")
    os.chdir(d)
    res = {"name": item["name"], "how": item["how"]}
    try:
        if item["how"] == "loads":
            with open(item["file"], "rb") as f:
                obj = treepack.loads(f.read(), trust=item["trust"])
        else:
            obj = treepack.load(item["file"], trust=item["trust"], allow_unsafe=item.get("allow_unsafe", False))
        res["loaded"] = True
        res["passwd"] = "root:" in repr(obj)
    except treepack.Error as e:
        res.update(error=type(e).__name__, code=int(e.code), message=e.message, offset=e.offset,
                   module=getattr(e, "module", None), opcode=getattr(e, "opcode", None))
    except BaseException as e:
        res.update(error="other:" + type(e).__name__, message=str(e)[:200])
    res["marker"] = os.path.exists(os.path.join(d, "MARKER"))
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.chdir("/")
    os.rmdir(d)
    print(json.dumps(res), flush=True)
"""


def run_child(items):
    """Load each item in the child; its results, one dict an item."""
    r = subprocess.run([support.PYTHON, "-c", CHILD], input="".join(json.dumps(i) + "\n" for i in items),
                       capture_output=True, text=True, env=support.child_env(), timeout=600)
    if r.returncode != 0:
        raise AssertionError("the child failed: %s" % r.stderr[-3000:])
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def attacks(work):
    """(name, file, trust) of every attack: make_attacks.py's and SMALL."""
    adir = os.path.join(work, "attacks")
    subprocess.run([support.PYTHON, os.path.join(SECURITY, "make_attacks.py"), adir], check=True,
                   capture_output=True)
    out = []
    with open(os.path.join(adir, "attacks.tsv")) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if cols[0] == "name":
                continue
            name, _cls, _loaders, _payload, file, opts = cols[:6]
            trust = [o[len("--trust="):] for o in opts.split() if o.startswith("--trust=")]
            out.append((name, os.path.join(adir, file), trust))
    for name, data in SMALL.items():
        path = os.path.join(work, name + ".pkl")
        with open(path, "wb") as f:
            f.write(data)
        out.append((name, path, []))
    return out


class Hostile(unittest.TestCase):

    def test_attacks_are_refused_and_run_nothing(self):
        with tempfile.TemporaryDirectory() as work:
            items = []
            crafted = 0
            for name, path, trust in attacks(work):
                items.append({"name": name, "how": "load", "file": path, "trust": trust})
                items.append({"name": name, "how": "loads", "file": path, "trust": trust})
                # the same bytes in a .tpk, as a crafted container carries them
                tpk = os.path.join(work, name + ".tpk")
                r = support.cli("compress", "-q", "--allow-unsafe", "-o", tpk, path, check=False)
                if r.returncode == 0:
                    crafted += 1
                    items.append({"name": name, "how": "load tpk", "file": tpk, "trust": trust})
            self.assertGreaterEqual(len(items), 2 * 70)
            self.assertGreater(crafted, 40)
            # the control: with allow_unsafe the payload runs, and the
            # child sees its marker
            control = {"name": "control", "how": "load", "file": os.path.join(work, "os_system_global.pkl"),
                       "trust": [], "allow_unsafe": True}
            results = run_child(items + [control])
            self.assertEqual(len(results), len(items) + 1)
            self.assertTrue(results.pop()["marker"], "the control's payload did not run: the test cannot see one")
            kinds = {}
            for res in results:
                label = "%s (%s)" % (res["name"], res["how"])
                with self.subTest(attack=label):
                    self.assertFalse(res["marker"], "%s: the payload ran" % label)
                    self.assertNotIn("loaded", res, "%s: loaded (passwd shown: %s)" % (label, res.get("passwd")))
                    self.assertIn(res["error"], ("UnsafePickleError", "Error"), "%s: %s" % (label, res))
                    if res["error"] == "UnsafePickleError":
                        self.assertEqual(res["code"], 60)
                        self.assertIsNotNone(res["opcode"], label)
                        self.assertIsNotNone(res["offset"], label)
                    kinds.setdefault(res["error"], []).append(label)
            for k, v in sorted(kinds.items()):
                print("%s: %d%s" % (k, len(v), "" if k == "UnsafePickleError" else ": " + ", ".join(v)))
            # only a handful are refused as malformed rather than unsafe
            self.assertGreater(len(kinds.get("UnsafePickleError", [])), 0.85 * len(results))

    def test_small_attacks_name_what_they_import(self):
        expect = {"os_system_global": ("os", "system", "GLOBAL"),
                  "posix_system_stack_global": ("posix", "system", "STACK_GLOBAL"),
                  "builtins_eval": ("builtins", "eval", "GLOBAL"),
                  "getattr_chain": ("builtins", "getattr", "GLOBAL"),
                  "dotted_stack_global": ("numpy", "os.system", "STACK_GLOBAL"),
                  "inst_os_system": ("os", "system", "INST")}
        for name, (module, attr, opcode) in expect.items():
            with self.subTest(attack=name):
                data = SMALL[name]
                with self.assertRaises(treepack.UnsafePickleError) as cm:
                    treepack.loads(data)
                e = cm.exception
                self.assertEqual((e.module, e.name, e.opcode), (module, attr, opcode))
                self.assertEqual(e.code, treepack.Code.E_UNSAFE)
                self.assertEqual(e.import_name, "%s.%s" % (module, attr))
                # the offset is that of the opcode that names the import
                op = {"GLOBAL": b"c", "STACK_GLOBAL": b"\x93", "INST": b"i"}[opcode]
                self.assertEqual(data[e.offset:e.offset + 1], op)
                self.assertIn("%s.%s" % (module, attr), e.message)
                insp = treepack.inspect(data)
                self.assertEqual(insp.verdict, "unsafe")
                self.assertFalse(insp.safe)
                self.assertIn((module, attr), insp.names(("refused",)))

    def test_find_class_admits_only_the_verdicts_names(self):
        from treepack import _unpickle
        model = {"a": [1, 2.5, None], "b": frozenset({3}), "c": range(4)}
        data = pickle.dumps(model, protocol=2)
        self.assertEqual(treepack.loads(data), model)
        # a verdict that left builtins.frozenset out: find_class refuses it
        insp = treepack.inspect(data)
        real = insp.names

        def names_without(statuses=("allowed", "trusted")):
            return frozenset(p for p in real(statuses) if p[1] != "frozenset")
        object.__setattr__(insp, "names", names_without)
        for unpickler in ("c", "pruning"):
            with self.subTest(unpickler=unpickler):
                reader = _unpickle.Reader(data, len(data))
                guard = _unpickle.Guard(insp.names())
                u = (_unpickle.RestrictedUnpickler(reader, guard) if unpickler == "c"
                     else _unpickle.PruningUnpickler(reader, guard, _unpickle.fetched_indices(data, len(data))))
                with self.assertRaises(treepack.UnsafePickleError) as cm:
                    u.load()
                self.assertEqual((cm.exception.module, cm.exception.name), ("__builtin__", "frozenset"))
        # joblib's unpickler, on a joblib file
        import joblib
        import numpy as np
        with tempfile.TemporaryDirectory() as work:
            path = os.path.join(work, "x.joblib")
            joblib.dump({"x": np.arange(10.0), "o": np.array([{"k": 1}], dtype=object)}, path)
            with open(path, "rb") as f:
                data = f.read()
        insp = treepack.inspect(data)
        self.assertTrue(_unpickle.needs_joblib(insp))
        loaded = treepack.loads(data)
        self.assertEqual(loaded["x"].tolist(), list(np.arange(10.0)))
        self.assertEqual(loaded["o"][0], {"k": 1})
        # the nested pickle of the object array is read by the guarded
        # unpickler too: leave out what only it imports
        for left_out in (("numpy.core.multiarray", "_reconstruct"), ("numpy", "dtype")):
            with self.subTest(joblib_without=left_out):
                self.assertIn(left_out, insp.names())
                allowed = insp.names() - {left_out}
                cls, subs = _unpickle.joblib_support()
                reader = _unpickle.Reader(data, len(data))
                with self.assertRaises(treepack.UnsafePickleError) as cm:
                    cls(reader, _unpickle.Guard(allowed, subs)).load()
                self.assertEqual((cm.exception.module, cm.exception.name), left_out)

    def test_memo_pruning_fetch_of_a_pruned_entry_fails_loudly(self):
        from treepack import _unpickle
        x = [1, 2]
        data = pickle.dumps([x, x], protocol=4)
        fetched = _unpickle.fetched_indices(data, len(data))
        self.assertTrue(fetched)
        self.assertEqual(_unpickle.PruningUnpickler(_unpickle.Reader(data, len(data)), _unpickle.Guard(None),
                                                    fetched).load(), [x, x])
        with self.assertRaises(treepack.Error) as cm:
            _unpickle.PruningUnpickler(_unpickle.Reader(data, len(data)), _unpickle.Guard(None), set()).load()
        self.assertEqual(cm.exception.code, treepack.Code.E_INTERNAL)


if __name__ == "__main__":
    unittest.main(verbosity=2)
