"""scripts/bench --scale (issue #13): a forest of several GB, with the defaults.

The forest is the corpus's rf_reg (a 48 MB RandomForestRegressor, 30 trees)
with its trees deep-copied until the pickle passes --scale-gb (default 5.2)
GB, written at pickle protocols 4 and 5 into --scale-dir (default
build/bench-scale; about 4 times the pickle size of disk is used while it
runs).  Each file is built once and reused; so is its zstd -19 file, which
takes the better part of an hour at this size on 2 cores (it is remade
when older than the pickle; --scale-borrow-19 lets a protocol without one
use the other protocol's, and says so).

For each protocol, one run each (wall clock and CPU time; peak anonymous
memory, RssAnon, sampled from /proc/PID/status every 10 ms):
  zstd -3 -T0, zstd -19 -T0 (size only, cached), zstd -d of the -19 file,
  treepack compress and treepack expand with default options,
  and cmp of the expanded file with the original.
Then the targets of the issue, PASS or FAIL.
"""

import copy
import os
import pickle
import subprocess
import time

from . import corpus

GB = 1e9
MiB = 1 << 20


def _rss_anon(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_sampled(argv):
    """Run argv; wall seconds, CPU seconds, peak RssAnon, exit code, stderr.

    RssAnon is what the process holds now, not a high-water mark, so unlike
    ru_maxrss it does not inherit this Python process's size over fork.
    Mapped files (the input, the output being checked) are not anonymous
    memory: the kernel can drop their clean pages again.
    """
    with open(os.devnull, "wb") as null:
        err = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "bench-scale-%d.err" % os.getpid()), "w+b")
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=null, stderr=err)
        peak = 0
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _rss_anon(p.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        msg = err.read().decode("utf-8", "replace").strip()
        err.close()
        os.remove(err.name)
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "rss_anon": peak,
            "rc": p.returncode, "stderr": msg}


def build_forest(scale_dir, gb, protocols, log):
    """The deep-copied forest at each protocol; built when missing."""
    paths = {pr: os.path.join(scale_dir, "forest_%gGB_p%d.pkl" % (gb, pr)) for pr in protocols}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    base_pkl, _ = corpus.ensure(os.path.join(scale_dir, "corpus"), corpus.BY_NAME["rf_reg"], log)
    with open(base_pkl, "rb") as f:
        est = pickle.load(f)
    per_tree = os.path.getsize(base_pkl) / len(est.estimators_)
    n = int(gb * GB / per_tree) + 1
    trees = list(est.estimators_)
    log("building a forest of %d trees (deep copies of rf_reg's %d)" % (n, len(trees)))
    est.estimators_ = [copy.deepcopy(trees[i % len(trees)]) for i in range(n)]
    est.n_estimators = n
    for pr, path in paths.items():
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                pickle.dump(est, f, protocol=pr)
            os.rename(path + ".tmp", path)
            log("wrote %s (%.2f GB)" % (path, os.path.getsize(path) / GB))
    return paths


def zstd19(pkl, log, borrow=None):
    """The zstd -19 file of pkl, made once (it is slow) and kept beside it.

    borrow: with --scale-borrow-19, a protocol without its own -19 file
    uses that of this other pickle of the same forest (the row says so)
    instead of spending the better part of an hour making it."""
    z = pkl + ".19.zst"
    if borrow and not os.path.exists(z) and os.path.exists(borrow + ".19.zst"):
        log("%s: no zstd -19 file; using that of %s" % (os.path.basename(pkl), os.path.basename(borrow)))
        return borrow + ".19.zst"
    if not os.path.exists(z) or os.path.getmtime(z) < os.path.getmtime(pkl):
        log("zstd -19 -T0 %s (tens of minutes at this size; kept for later runs)" % os.path.basename(pkl))
        r = run_sampled(["zstd", "-19", "-T0", "-q", "-f", pkl, "-o", z + ".tmp"])
        if r["rc"]:
            raise RuntimeError("zstd -19 failed: %s" % r["stderr"])
        os.rename(z + ".tmp", z)
    return z


def bench_protocol(tp, pkl, work, log, borrow=None):
    row = {"file": os.path.basename(pkl), "bytes": os.path.getsize(pkl)}
    z3, tpk, back, zback = (os.path.join(work, n) for n in ("f.zst", "f.tpk", "f.pkl", "f.zst.pkl"))
    steps = [
        ("zstd3", ["zstd", "-3", "-T0", "-q", "-f", pkl, "-o", z3]),
        ("tp_c", [tp, "compress", "-f", "-o", tpk, pkl]),
        ("tp_d", [tp, "expand", "-f", "-o", back, tpk]),
    ]
    for key, argv in steps:
        log("%s: %s" % (row["file"], " ".join(os.path.basename(a) if a.startswith(work) else a for a in argv)))
        row[key] = run_sampled(argv)
        if row[key]["rc"]:
            raise RuntimeError("%s failed: %s" % (key, row[key]["stderr"]))
    row["tp_bytes"] = os.path.getsize(tpk)
    row["zstd3_bytes"] = os.path.getsize(z3)
    os.remove(z3)
    row["exact"] = subprocess.run(["cmp", "-s", pkl, back]).returncode == 0
    os.remove(back)
    z19 = zstd19(pkl, log, borrow)
    row["zstd19_of"] = os.path.basename(z19)[: -len(".19.zst")]
    row["zstd19_bytes"] = os.path.getsize(z19)
    log("%s: zstd -d of the -19 file" % row["file"])
    row["zstd_d"] = run_sampled(["zstd", "-d", "-q", "-f", z19, "-o", zback])
    os.remove(zback)
    os.remove(tpk)
    return row


def check(row):
    """The issue's targets for one row: (name, limit text, value text, passed)."""
    n = row["bytes"]
    c_lim = 0.1 * n + 512 * MiB
    t = []
    t.append(("round trip exact (cmp)", "yes", "yes" if row["exact"] else "NO", row["exact"]))
    t.append(("compress RssAnon <= 0.1 x input + 512 MiB", "%.0f MiB" % (c_lim / MiB),
              "%.0f MiB" % (row["tp_c"]["rss_anon"] / MiB), row["tp_c"]["rss_anon"] <= c_lim))
    t.append(("expand RssAnon <= 0.1 x output + 512 MiB", "%.0f MiB" % (c_lim / MiB),
              "%.0f MiB" % (row["tp_d"]["rss_anon"] / MiB), row["tp_d"]["rss_anon"] <= c_lim))
    rc = row["tp_c"]["seconds"] / row["zstd3"]["seconds"]
    t.append(("compress time <= 2 x zstd -3 -T0", "2.00", "%.2f" % rc, rc <= 2))
    rd = row["tp_d"]["seconds"] / row["zstd_d"]["seconds"]
    t.append(("expand time <= 1 x zstd -d (of -19)", "1.00", "%.2f" % rd, rd <= 1))
    return t


def render(rows):
    def mb(b):
        return "%.1fM" % (b / MiB) if b < 10 * GB else "%.2fG" % (b / (1 << 30))

    def s(r):
        return "%.1fs (cpu %.1fs)" % (r["seconds"], r["cpu_seconds"])

    cols = ["pickle", "size", "zstd-3", "zstd-19", "tp", "c:zstd-3 -T0", "c:tp", "d:zstd (-19)", "d:tp",
            "anon:c", "anon:d", "exact"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join([":---"] + ["---:"] * (len(cols) - 1)) + "|"]
    for r in rows:
        cells = [r["file"], mb(r["bytes"]), mb(r["zstd3_bytes"]), mb(r["zstd19_bytes"]), mb(r["tp_bytes"]),
                 s(r["zstd3"]), s(r["tp_c"]), s(r["zstd_d"]), s(r["tp_d"]),
                 "%.0fM" % (r["tp_c"]["rss_anon"] / MiB), "%.0fM" % (r["tp_d"]["rss_anon"] / MiB),
                 "yes" if r["exact"] else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for r in rows:
        if r["zstd19_of"] != r["file"]:
            lines.append("- %s: zstd-19 and d:zstd are those of %s, the same forest at another protocol "
                         "(--scale-borrow-19)" % (r["file"], r["zstd19_of"]))
    for r in rows:
        for name, limit, value, passed in check(r):
            lines.append("- [%s] %s: %s: %s (limit %s)" % ("PASS" if passed else "FAIL", r["file"], name, value, limit))
    return "\n".join(lines) + "\n"


def bench_scale(args, log):
    os.makedirs(args.scale_dir, exist_ok=True)
    paths = build_forest(args.scale_dir, args.scale_gb, (4, 5), log)
    work = os.path.join(args.scale_dir, "work")
    os.makedirs(work, exist_ok=True)
    rows = []
    for pr in sorted(paths):
        other = [paths[q] for q in sorted(paths) if q != pr]
        borrow = other[0] if args.scale_borrow_19 and other else None
        rows.append(bench_protocol(args.treepack, paths[pr], work, log, borrow))
    return rows
