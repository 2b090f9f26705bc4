"""What the tests of the Python package share: where things are, the
command line, and the comparison of two models (scripts/check_model.py's).

Set by tests/meson.build (or by hand):
    PYTHONPATH         the package's folder, python/ of the source tree
    TREEPACK_LIBRARY   build/src/lib/libtreepack.so
    TREEPACK_CLI       build/src/cli/treepack
    TREEPACK_SOURCE    the source tree (fixtures/, scripts/, tests/security/)
"""

import importlib.util
import os
import subprocess
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("TREEPACK_SOURCE") or os.path.dirname(os.path.dirname(HERE))
CLI = os.environ.get("TREEPACK_CLI") or os.path.join(SOURCE, "build", "src", "cli", "treepack")
FIXTURES = os.path.join(SOURCE, "fixtures")
PYTHON = "/usr/bin/python3"

if "TREEPACK_LIBRARY" not in os.environ:
    os.environ["TREEPACK_LIBRARY"] = os.path.join(SOURCE, "build", "src", "lib", "libtreepack.so")
if os.path.join(SOURCE, "python") not in sys.path:
    sys.path.insert(0, os.path.join(SOURCE, "python"))


def child_env():
    """The environment for a child /usr/bin/python3 that imports treepack."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(SOURCE, "python") + (os.pathsep + env["PYTHONPATH"]
                                                          if env.get("PYTHONPATH") else "")
    return env


def cli(*args, check=True):
    """Run the command line; returns the CompletedProcess."""
    r = subprocess.run([CLI] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError("treepack %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def manifest(folder):
    """The files a fixtures MANIFEST.txt lists, with their columns."""
    out = []
    with open(os.path.join(folder, "MANIFEST.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            out.append(cols)
    return out


_check_model = None


def check_model():
    """scripts/check_model.py as a module."""
    global _check_model
    if _check_model is None:
        spec = importlib.util.spec_from_file_location("check_model", os.path.join(SOURCE, "scripts",
                                                                                  "check_model.py"))
        _check_model = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_check_model)
    return _check_model


def load_trusted(path):
    """A fixture loaded as check_model.py loads it (pickle.load or
    joblib.load): only for the repository's fixtures and files the tests
    wrote themselves."""
    return check_model().load(path)


def model_problems(a, b):
    """What differs between two loaded objects, as check_model.py finds it:
    the structure (every attribute, arrays by bytes, trees' nodes and
    values) and the behaviour (predict, predict_proba, ... on its test
    matrices, compared exactly).  [] when they are the same."""
    cm = check_model()
    warnings.simplefilter("ignore")
    differ = cm.Differ(False, [])
    differ.diff(a, b, "root")
    problems = ["structure %s" % p for p in differ.problems]
    for est in cm.all_estimators(a) + cm.all_estimators(b):
        if "n_jobs" in vars(est):
            est.n_jobs = 1
    ea, eb = cm.find_estimators(a), cm.find_estimators(b)
    if [p for p, _ in ea] != [p for p, _ in eb]:
        problems.append("estimators found differ: %r vs %r" % ([p for p, _ in ea], [p for p, _ in eb]))
    else:
        for (path, x), (_, y) in zip(ea, eb):
            cm.check_behaviour(path, x, y, False, problems)
    return problems
