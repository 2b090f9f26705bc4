#!/usr/bin/env python3
"""tp_ and TP_ name the public interface, include/treepack.h, and nothing else.

A reader tells the API from the internals by the prefix (src/lib/README.md):
every tp_/TP_ name is declared in include/treepack.h, and the internals are
named by their module (bytebuf_, cursor_, wrap_, tree_block_, ...).  This
fails naming every breach of that rule:

 1. a symbol of the library's objects (nm: global or file-local, defined or
    needed) that starts with tp_ and that treepack.h does not declare;
 2. a tp_/TP_ identifier in the code of src/ (comments, strings and
    #include lines left out) that treepack.h does not declare: internal
    types, macros and static inline functions leave no symbol;
 3. a function that treepack.h declares (TP_API) or that one of its macros
    calls, which the library's objects do not define.

    check_names.py TREEPACK_H SRC_DIR OBJECT_DIR
"""
import os
import re
import subprocess
import sys

NAME = re.compile(r"\b(?:tp|TP)_[A-Za-z0-9_]+\b")


def code_only(text):
    """text without comments, string and character literals and #include lines."""
    text = re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', " ", text, flags=re.S)
    return re.sub(r"^\s*#\s*include[^\n]*", "", text, flags=re.M)


def main():
    header, src, objdir = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(header, encoding="utf-8") as f:
        hcode = code_only(f.read())
    public = set(NAME.findall(hcode))
    # Functions: the TP_API declarations, and what the header's macros call.
    functions = set(re.findall(r"^TP_API\b[^;(]*?\b(tp_[a-z0-9_]+)\s*\(", hcode, flags=re.M))
    macros = set(re.findall(r"^\s*#\s*define\s+([A-Za-z_]\w*)", hcode, flags=re.M))
    logical = re.sub(r"\\\n", " ", hcode).splitlines()
    for line in logical:
        m = re.match(r"\s*#\s*define\s+\w+(?:\([^)]*\))?(.*)", line)
        if m:
            functions.update(n for n in re.findall(r"\b(tp_[a-z0-9_]+)\s*\(", m.group(1)) if n not in macros)
    bad = []
    if not functions:
        bad.append("no TP_API function found in " + header)

    # 1. symbols of the objects
    objects = [o for o in sorted(os.listdir(objdir)) if o.endswith(".o")]
    if not objects:
        bad.append("no objects in " + objdir)
    defined = set()
    for o in objects:
        out = subprocess.run(["nm", os.path.join(objdir, o)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] not in "Uw":
                sym, how = parts[2], "defines"
                if parts[1] in "TDBRC":
                    defined.add(sym)
            elif len(parts) == 2 and parts[0] == "U":
                sym, how = parts[1], "needs"
            else:
                continue
            # clang names a function's static variable "function.variable"
            # (gcc "variable.0"): a file-local symbol of that shape is judged
            # by the function that holds it.
            if how == "defines" and parts[1].islower() and "." in sym:
                sym = sym.split(".", 1)[0]
            if sym.startswith("tp_") and sym not in public:
                bad.append("%s %s %s (nm %s), which include/treepack.h does not declare"
                           % (o, how, sym, parts[-2] if how == "defines" else "U"))

    # 2. identifiers of the sources
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith((".c", ".h", ".inc")):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                code = code_only(f.read())
            for n, line in enumerate(code.splitlines(), 1):
                for ident in NAME.findall(line):
                    if ident not in public:
                        bad.append("%s:%d: %s has the public prefix but is not in include/treepack.h"
                                   % (os.path.relpath(path, src), n, ident))

    # 3. what the header promises
    for fn in sorted(functions):
        if fn not in defined:
            bad.append("include/treepack.h declares %s, which no object of the library defines" % fn)

    for b in bad:
        print("FAIL " + b)
    print("%d public names, %d public functions, %d objects, %d problems"
          % (len(public), len(functions), len(objects), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
