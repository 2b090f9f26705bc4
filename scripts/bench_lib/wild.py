"""scripts/bench --wild (issue 14): published model files, as found.

The folder (default ../shared/corpus/wild beside the repository) holds model
files that people published, with a MANIFEST.tsv: one row per file with its
`kind` (tree, text, or both: a pipeline with a vectorizer and trees),
`container` (pickle, joblib-raw, joblib-zlib, joblib-xz, joblib-multifile,
gzip-pickle), pickle `protocol`, `sklearn_version`, top-level `estimator` and
`notes` (py2, numpy2, libs:..., from-history), as its README describes.

These files are NEVER unpickled here: every file is only read by
`xz -9 -T1 -k -c` (the same bytes: a zlib or xz joblib file is compressed
as it is) and by the treepack CLI with its default options (compress, then
expand and cmp with the original: the round trip must be byte-exact), and
`treepack info --json` gives the stored size of each part.  Files that
treepack refuses (exit status 3: loading them would import names outside its
allowlist) or fails on are listed and kept out of the geometric means.
A file of the folder that the manifest does not list is measured too, with
kind "?".
"""

import csv
import json
import math
import os
import subprocess

MANIFEST = "MANIFEST.tsv"


def default_dir(repo):
    return os.path.normpath(os.path.join(repo, "..", "shared", "corpus", "wild"))


def read_manifest(d):
    path = os.path.join(d, MANIFEST)
    rows = {}
    if os.path.exists(path):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                rows[row["file"]] = row
    return rows


def files(d):
    skip = {MANIFEST, "README.md"}
    return sorted(n for n in os.listdir(d) if n not in skip and os.path.isfile(os.path.join(d, n)))


def _run(argv, stdout=None):
    with open(stdout, "wb") if stdout else open(os.devnull, "wb") as out:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
    return p.returncode, p.stderr.decode("utf-8", "replace").strip()


def measure_file(tp, d, name, meta, tmp):
    src = os.path.join(d, name)
    row = {"file": name, "bytes": os.path.getsize(src), "kind": meta.get("kind", "?"),
           "container": meta.get("container", "?"), "protocol": meta.get("protocol", "?"),
           "sklearn": meta.get("sklearn_version", "?"), "estimator": meta.get("estimator", "?"),
           "notes": meta.get("notes", "")}
    xz = os.path.join(tmp, "w.xz")
    rc, err = _run(["xz", "-9", "-T1", "-k", "-c", src], xz)
    row["xz9_bytes"] = os.path.getsize(xz) if rc == 0 else None
    os.remove(xz)
    tpk, back = os.path.join(tmp, "w.tpk"), os.path.join(tmp, "w.out")
    rc, err = _run([tp, "compress", "-q", "-f", "-o", tpk, src])
    if rc != 0:
        row["status"] = "refused" if rc == 3 else "failed"
        row["rc"] = rc
        msg = err.splitlines()[-1] if err else ""
        for prefix in ("treepack: " + src + ": ", "treepack: "):  # the path is in the row already
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
                break
        row["message"] = msg[:300]
        return row
    row["status"] = "ok"
    row["tp_bytes"] = os.path.getsize(tpk)
    p = subprocess.run([tp, "info", "--json", tpk], capture_output=True, text=True)
    try:
        info = json.loads(p.stdout.splitlines()[0])
        row["parts"] = {k: v.get("stored", 0) for k, v in (info.get("parts") or {}).items()}
        row["trees"] = info.get("trees")
        row["left_as_is"] = info.get("left_as_is")
        row["wrapper"] = info.get("wrapper")
    except (ValueError, IndexError):
        row["parts"] = None
    rc, err = _run([tp, "expand", "-q", "-f", "-o", back, tpk])
    row["exact"] = rc == 0 and subprocess.run(["cmp", "-s", src, back]).returncode == 0
    if rc != 0:
        row["expand_error"] = err[-300:]
    for f in (tpk, back):
        if os.path.exists(f):
            os.remove(f)
    return row


def measure(tp, d, tmp, log):
    meta = read_manifest(d)
    names = files(d)
    rows = []
    for i, name in enumerate(names):
        log("wild %d/%d: %s" % (i + 1, len(names), name))
        rows.append(measure_file(tp, d, name, meta.get(name, {}), tmp))
    missing = sorted(set(meta) - set(names))
    return {"dir": d, "rows": rows, "manifest_missing": missing}


def ratio(r):
    if r.get("status") == "ok" and r.get("xz9_bytes"):
        return r["tp_bytes"] / r["xz9_bytes"]
    return None


def geomean(xs):
    xs = [x for x in xs if x is not None]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summary(wild):
    """Per kind: files, measured, geometric mean of treepack / xz -9, max, and
    how many came out larger than xz -9; refused and failed files."""
    rows = wild["rows"]
    out = {}
    for kind in ("tree", "text", "both", "?", "all"):
        sel = [r for r in rows if kind == "all" or r["kind"] == kind]
        if not sel:
            continue
        rs = [ratio(r) for r in sel]
        good = [x for x in rs if x is not None]
        out[kind] = {"files": len(sel), "measured": len(good), "geomean": geomean(good),
                     "max": max(good) if good else None,
                     "larger_than_xz": [r["file"] for r in sel if (ratio(r) or 0) > 1.0],
                     "refused": [r["file"] for r in sel if r.get("status") == "refused"],
                     "failed": [r["file"] for r in sel if r.get("status") == "failed"],
                     "not_exact": [r["file"] for r in sel if r.get("status") == "ok" and not r.get("exact")]}
    return out


def top_parts(parts, n=3):
    """'skeleton 61%, values 20%, ...': the n largest stored parts."""
    if not parts:
        return "-"
    total = sum(parts.values()) or 1
    big = sorted(((v, k) for k, v in parts.items() if v), reverse=True)[:n]
    return ", ".join("%s %.0f%%" % (k, 100.0 * v / total) for v, k in big)
