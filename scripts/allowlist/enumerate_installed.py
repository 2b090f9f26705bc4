#!/usr/bin/python3
"""Print candidate allowlist rows for the installed scikit-learn.

Run with Debian's interpreter, which has scikit-learn, numpy, scipy and
joblib installed:

    /usr/bin/python3 scripts/allowlist/enumerate_installed.py > /tmp/candidates.tsv

It imports every sklearn module (except tests and the excluded packages
below) and prints one tab-separated row per candidate:

    module  name  kind-guess  source  [note]

 * every class whose ``__module__`` is the module it was found in (so a
   class re-exported by another module is listed once, under the module a
   pickle names), by its ``__qualname__``; classes nested in such a class
   too (their qualname is dotted);
 * for compiled (Cython) modules, the ``__pyx_unpickle_*`` functions and
   the ``newObj`` helper they define.

The kind is only a guess (``container`` for dict/list/set/deque subclasses,
``class`` otherwise, ``rule:class_arg`` for the helpers): every row must be
reviewed before it goes into names.tsv (see REVIEW.md).  A note column
flags what the reviewer must read: custom ``__setstate__``, ``__reduce__``,
``__new__``, ``__getattr__``, ``__setattr__``, ``__set_name__``/descriptor
methods, ``__init_subclass__``.

With ``--functions`` it also prints the public functions defined in the
metrics and feature_selection modules (kind-guess ``ref``), for the
reviewer to pick the score functions models keep as parameters.
"""
import importlib
import inspect
import pkgutil
import sys
import warnings

EXCLUDED = (
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.utils._testing",
    "sklearn.utils.parallel",
    "sklearn.utils._joblib",
    "sklearn.utils.fixes",
    "sklearn.utils._mocking",
    "sklearn.utils.estimator_checks",
    "sklearn.utils.discovery",
    "sklearn.utils._show_versions",
    "sklearn.utils._available_if",
    "sklearn.utils.metaestimators",
    "sklearn.conftest",
    "sklearn._build_utils",
    "sklearn.__check_build",
    "sklearn.experimental",
    "sklearn._min_dependencies",
    "sklearn._distributor_init",
)

FUNCTION_MODULES = (
    "sklearn.metrics",
    "sklearn.feature_selection._univariate_selection",
    "sklearn.feature_selection._mutual_info",
)

FLAGGED = (
    "__setstate__",
    "__reduce__",
    "__reduce_ex__",
    "__new__",
    "__getattr__",
    "__getattribute__",
    "__setattr__",
    "__set_name__",
    "__get__",
    "__set__",
    "__init_subclass__",
    "__class_getitem__",
)


def in_package(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


def excluded(name):
    parts = name.split(".")
    if "tests" in parts or "test" in parts:
        return True
    return any(in_package(name, p) for p in EXCLUDED)


def module_names(root):
    pkg = importlib.import_module(root)
    yield root
    for info in pkgutil.walk_packages(pkg.__path__, root + ".", onerror=lambda n: None):
        if excluded(info.name):
            continue
        yield info.name


def is_compiled(mod):
    f = getattr(mod, "__file__", None) or ""
    return f.endswith((".so", ".pyd"))


def guess_kind(cls):
    import collections

    if issubclass(cls, (dict, list, set, collections.deque)):
        return "container"
    return "class"


def notes(cls):
    found = []
    for attr in FLAGGED:
        for base in cls.__mro__:
            if base is object or base.__module__ == "builtins":
                continue
            if attr in vars(base):
                where = "" if base is cls else "@" + base.__module__ + "." + base.__qualname__
                found.append(attr + where)
                break
    return ",".join(found)


def classes_in(cls, modname, seen):
    """cls and the classes nested in it that belong to modname."""
    if id(cls) in seen:
        return
    seen.add(id(cls))
    yield cls
    for value in list(vars(cls).values()):
        if (
            inspect.isclass(value)
            and value.__module__ == modname
            and value.__qualname__.startswith(cls.__qualname__ + ".")
        ):
            yield from classes_in(value, modname, seen)


def main(argv):
    want_functions = "--functions" in argv
    warnings.simplefilter("ignore")
    version = importlib.import_module("sklearn").__version__
    source = "sklearn %s installed" % version
    rows = []
    failed = []
    for modname in module_names("sklearn"):
        try:
            mod = importlib.import_module(modname)
        except Exception as exc:  # noqa: BLE001 - report and go on
            failed.append((modname, repr(exc)))
            continue
        seen = set()
        for value in list(vars(mod).values()):
            if not inspect.isclass(value) or value.__module__ != modname:
                continue
            for cls in classes_in(value, modname, seen):
                rows.append((modname, cls.__qualname__, guess_kind(cls), source, notes(cls)))
        if is_compiled(mod):
            for name, value in sorted(vars(mod).items()):
                if name.startswith("__pyx_unpickle_") or name == "newObj":
                    if callable(value):
                        rows.append((modname, name, "rule:class_arg", source, "cython helper"))
        if want_functions and any(in_package(modname, p) for p in FUNCTION_MODULES):
            for name, value in sorted(vars(mod).items()):
                if (
                    inspect.isfunction(value)
                    and value.__module__ == modname
                    and not name.startswith("_")
                ):
                    rows.append((modname, name, "ref", source, "function"))
    out = sys.stdout
    for row in sorted(set(rows)):
        out.write("\t".join(row).rstrip("\t") + "\n")
    for modname, err in failed:
        sys.stderr.write("could not import %s: %s\n" % (modname, err))


if __name__ == "__main__":
    main(sys.argv[1:])
