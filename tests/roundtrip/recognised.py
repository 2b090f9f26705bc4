#!/usr/bin/python3
"""Check what treepack recognises in each fixture, and the synthesised fixtures' round trips.

Usage:
    recognised.py TREEPACK FIXTURES_DIR [CHECK_MODEL_PY]

Reads FIXTURES_DIR/MANIFEST.txt, written by scripts/make_fixtures.py
(columns: file, bytes, tree_nodes, writer, object, sha256) or by
scripts/synth_fixtures.py (file, bytes, tree_nodes, expect, proof, sha256,
description).  For every file, `treepack compress` then `treepack info --json`:

* every tree is stored column by column: the node count equals the
  manifest's, and no tree and no HistGradientBoosting predictor is left as is;
  HistGradientBoosting models have their predictors recognised;
* a compressed joblib file names the method and, unless the manifest expects
  "stream", says expand reproduces it byte for byte.

For the synthesised fixtures the whole round trip is checked here too:
  exact    test, expand, byte-identical output;
  stream   info says the file is compressed anew; the expanded file differs,
           decompresses to the original's stream byte for byte, and the
           model loads the same (CHECK_MODEL_PY);
  refused  compress fails with exit status 1, a message naming out-of-band
           buffers, and no output file;
and where the proof column says "sklearn", CHECK_MODEL_PY compares the
models loaded from the original and the expanded file.
"""

import json
import os
import subprocess
import sys
import tempfile
import zlib

EXT_METHOD = {".z": "zlib", ".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".lzma": "lzma", ".lz4": "lz4",
              ".zf": "zf"}


def manifest(d):
    rows, synth = [], False
    with open(os.path.join(d, "MANIFEST.txt")) as f:
        for line in f:
            if line.startswith("# file\t"):
                synth = "expect" in line.split("\t")
            if line.startswith("#") or not line.strip():
                continue
            c = line.rstrip("\n").split("\t")
            rows.append({"file": c[0], "nodes": int(c[2]),
                         "expect": c[3] if synth else "exact",
                         "proof": c[4] if synth else "sklearn",
                         "object": "" if synth else c[4]})
    return rows, synth


def run(args):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def decompressed(path):
    """The stream inside a zlib file (the only kind the synthesised 'stream' case uses)."""
    with open(path, "rb") as f:
        return zlib.decompress(f.read())


def check(tp, d, row, synth, check_model, work):
    name = row["file"]
    src = os.path.join(d, name)
    tpk = os.path.join(work, name + ".tpk")
    out = os.path.join(work, name)
    r = run([tp, "compress", "-q", "-f", "--columns", "-o", tpk, src])
    if row["expect"] == "refused":
        if r.returncode != 1 or "out-of-band" not in r.stderr or os.path.exists(tpk):
            return "compress should refuse with status 1 and an out-of-band message, got %d: %s" % (
                r.returncode, r.stderr.strip())
        return None
    if r.returncode:
        return "compress failed: %s" % r.stderr.strip()
    r = run([tp, "info", "--json", tpk])
    if r.returncode:
        return "info failed: %s" % r.stderr.strip()
    info = json.loads(r.stdout)
    if info["nodes"] != row["nodes"]:
        return "info counts %d nodes stored column by column, the manifest %d" % (info["nodes"], row["nodes"])
    left = info["left_as_is"]
    if left["trees"] or left["predictors"]:
        return "left as is: %r" % left
    hgb = "HistGradientBoosting" in row["object"] or name.startswith("hgb")
    if hgb and not info["recognised"]["predictors"]:
        return "no HistGradientBoosting predictor recognised"
    method = EXT_METHOD.get(os.path.splitext(name)[1], "")
    if info["wrapper"] != method:
        return "info says wrapper %r, expected %r" % (info["wrapper"], method)
    if method and info["wrapper_exact"] != (row["expect"] == "exact"):
        return "info says wrapper_exact=%r" % info["wrapper_exact"]
    if not synth:
        return None  # tests/roundtrip/run.sh checks the main fixtures' round trips

    r = run([tp, "test", "-q", tpk])
    if r.returncode:
        return "test failed: %s" % r.stderr.strip()
    r = run([tp, "expand", "-q", "-f", "-o", out, tpk])
    if r.returncode:
        return "expand failed: %s" % r.stderr.strip()
    with open(src, "rb") as f:
        a = f.read()
    with open(out, "rb") as f:
        b = f.read()
    if row["expect"] == "exact" and a != b:
        return "bytes differ"
    if row["expect"] == "stream":
        if a == b:
            return "the file came back byte for byte, which the manifest does not expect"
        if decompressed(src) != decompressed(out):
            return "the decompressed streams differ"
        r = run([tp, "info", tpk])
        if "not byte for byte" not in r.stdout:
            return "info does not say that expand writes a new file: %s" % r.stdout
    if row["proof"] == "sklearn" and check_model:
        r = run([sys.executable, check_model, src, out])
        if r.returncode:
            return "model check: %s %s" % (r.stdout.strip(), r.stderr.strip())
    return None


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    tp, d = argv[1], argv[2]
    check_model = argv[3] if len(argv) > 3 else None
    rows, synth = manifest(d)
    if not rows:
        print("FAIL no fixtures in %s" % d)
        return 1
    fail = 0
    with tempfile.TemporaryDirectory() as work:
        for row in rows:
            why = check(tp, d, row, synth, check_model, work)
            if why:
                fail = 1
                print("FAIL %s: %s" % (row["file"], why))
            else:
                print("ok %s (%s)" % (row["file"], row["expect"]))
    return fail


if __name__ == "__main__":
    sys.exit(main(sys.argv))
