#!/usr/bin/env python3
"""The library's layers, checked on its sources and on its objects.

src/lib/ is a stack of folders, each building only on those below it
(src/lib/README.md says what each holds):

    base < pickle < numpy < safety < format < sklearn < codec < api

A file may include headers of its own layer and of layers below it, may
call functions defined in them, and no two files may call each other in a
circle (directly or through others).  This reads the #include lines of the
sources and the defined and undefined symbols of the objects (nm), and
fails naming every breach.

    check_layers.py SRC_LIB_DIR OBJECT_DIR
"""
import collections
import os
import re
import subprocess
import sys

LAYERS = ["base", "pickle", "numpy", "safety", "format", "sklearn", "codec", "api"]
RANK = {name: i for i, name in enumerate(LAYERS)}


def main():
    src, objdir = sys.argv[1], sys.argv[2]
    bad = []
    # 1. includes
    for layer in LAYERS:
        folder = os.path.join(src, layer)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                    if not m:
                        continue
                    target = m.group(1)
                    inc_layer = target.split("/")[0] if "/" in target else None
                    if inc_layer is None:
                        if target not in ("treepack.h", "tp_config.h"):
                            bad.append("%s/%s:%d includes %s without its layer" % (layer, name, n, target))
                    elif inc_layer not in RANK:
                        bad.append("%s/%s:%d includes %s, in no layer" % (layer, name, n, target))
                    elif RANK[inc_layer] > RANK[layer]:
                        bad.append("%s/%s:%d includes %s, a layer above" % (layer, name, n, target))
    # 2. symbols: who defines what, who needs what
    defined, needs = {}, collections.defaultdict(set)
    objects = [o for o in sorted(os.listdir(objdir)) if o.endswith(".o")]
    for o in objects:
        unit = o[: -len(".c.o")]
        layer = unit.split("_", 1)[0]
        if layer not in RANK:
            bad.append("object %s is in no layer" % o)
            continue
        out = subprocess.run(["nm", os.path.join(objdir, o)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBRC":
                defined[parts[2]] = unit
            elif len(parts) == 2 and parts[0] == "U":
                needs[unit].add(parts[1])
    graph = collections.defaultdict(set)
    for unit, syms in needs.items():
        for s in syms:
            d = defined.get(s)
            if d is None or d == unit:
                continue
            graph[unit].add(d)
            if RANK[d.split("_", 1)[0]] > RANK[unit.split("_", 1)[0]]:
                bad.append("%s calls %s of %s, a layer above" % (unit, s, d))
    # 3. no cycle between files (Tarjan's strongly connected components)
    index, low, stack, on, order = {}, {}, [], set(), [0]

    def visit(v):
        index[v] = low[v] = order[0]
        order[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                bad.append("files that call each other in a circle: " + " ".join(sorted(comp)))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    if not objects:
        bad.append("no objects in " + objdir)
    for b in bad:
        print("FAIL " + b)
    print("%d objects, %d edges between files, %d problems" % (len(objects), sum(len(e) for e in graph.values()), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
