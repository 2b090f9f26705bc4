#!/usr/bin/python3
"""The opt-in modes of treepack compress, proven with Debian's scikit-learn.

    lossy.py TREEPACK FIXTURES_DIR CHECK_MODEL_PY

--exact=model: every text fixture expands to a model equal to the original
(check_model.py --model-equal: attributes, vocabularies, transform()).
--strip: predictions stay bit-identical (check_model.py --stripped LIST);
info and test say what was done; IsolationForest refuses `samples`;
wrong options are usage errors.  Ends with "N passed, N failed".
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

TP, FIX, CHECK = sys.argv[1:4]
PY = "/usr/bin/python3"
passed = failed = 0


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def result(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok", what)
    else:
        failed += 1
        print("FAIL", what)
        if detail:
            print("  " + detail.strip().replace("\n", "\n  "))


def has_stop_words(path):
    """Whether the file holds a vectorizer with a non-empty stop_words_."""
    code = ("import sys; sys.path.insert(0, %r); import check_model as c; o = c.load(%r); "
            "print(any(getattr(e, 'stop_words_', None) for e in c.all_estimators(o)))" % (os.path.dirname(CHECK), path))
    rc, out = run([PY, "-W", "ignore", "-c", code])
    return out.strip().endswith("True")


def roundtrip(src, work, opts, check_args, want_exactness):
    base = os.path.basename(src)
    tpk = os.path.join(work, base + ".tpk")
    out = os.path.join(work, base)
    label = "%s %s" % (" ".join(opts), base)
    rc, msg = run([TP, "compress", "-f", "-o", tpk] + opts + [src])
    if rc:
        return result(False, label, msg)
    rc2, msg2 = run([TP, "expand", "-f", "-o", out, tpk])
    rc3, msg3 = run([TP, "test", tpk])
    rc4, info = run([TP, "info", "--json", tpk])
    if rc2 or rc3 or rc4:
        return result(False, label, msg2 + msg3 + info)
    j = json.loads(info)
    if j["exactness"] not in want_exactness.split("|"):
        return result(False, label, "info says %s, want %s" % (j["exactness"], want_exactness))
    said = {"model": "model-exact", "lossy": "lossy"}.get(j["exactness"])
    if said and said not in msg3:
        return result(False, label, "test does not say %s: %s" % (said, msg3))
    rc5, chk = run([PY, CHECK] + check_args + [src, out])
    result(rc5 == 0, label + ": " + (chk.strip().splitlines() or ["?"])[-1], chk)
    return j


def compressed(src, work, opts):
    """info --json of src compressed with opts (no round trip)."""
    tpk = os.path.join(work, "sized.tpk")
    rc, msg = run([TP, "compress", "-f", "-o", tpk] + opts + [src])
    rc2, info = run([TP, "info", "--json", tpk])
    if rc or rc2:
        return result(False, "compress %s %s" % (" ".join(opts), src), msg + info)
    return json.loads(info)


def main():
    with tempfile.TemporaryDirectory() as work:
        texts = sorted(glob.glob(os.path.join(FIX, "text_*")))
        if not texts:
            result(False, "no text fixtures in %s" % FIX)
        for f in texts:
            # a vocabulary already in sorted order (DictVectorizer) stays byte-exact
            j = roundtrip(f, work, ["--exact=model"], ["--model-equal"], "model|byte")
            if j and has_stop_words(f):
                roundtrip(f, work, ["--strip", "stop-words"], ["--stripped", "stop-words"], "lossy")
        for name in ("rf_classifier_p4.pkl", "gb_regressor_p2.pkl", "dt_classifier_iris_p0.pkl",
                     "dt_regressor_bestfirst_p5.pkl", "et_classifier_digits_p4.pkl", "rf_classifier_small.joblib.gz",
                     "gb_classifier_multiclass.joblib", "text_pipeline_tfidf_rf_p4.pkl"):
            f = os.path.join(FIX, name)
            j = roundtrip(f, work, ["--columns", "--strip", "impurity,samples"], ["--stripped", "impurity,samples"], "lossy")
            if j:
                # impurity that the codec predicts from class counts costs nothing:
                # compress keeps it, says so, and leaves it out of "stripped"
                result((j["stripped"] == ["impurity", "samples"]
                        or (j["stripped"] == ["samples"] and j["kept"]["impurity"]))
                       and j["trees_stripped"] == j["trees"] > 0,
                       "info lists what was stripped: %s" % name, json.dumps(j)[:400])
        # the tree parts: internal-node values, float32 thresholds (both
        # keep predictions bit-identical, checked on rows at every
        # threshold), and the opt-in float32 values; protocols 0-5
        for name in ("gb_regressor_p2.pkl", "gb_classifier_multiclass_p4.pkl", "gb_classifier_multiclass_p2.pkl",
                     "rf_regressor_p2.pkl", "dt_regressor_bestfirst_p5.pkl", "rf_regressor_multioutput_p5.pkl",
                     "gb_regressor_small_p0.pkl", "rf_classifier_p4.pkl", "et_regressor_p3.pkl"):
            f = os.path.join(FIX, name)
            j = roundtrip(f, work, ["--strip=all"], ["--stripped", "all"], "lossy")
            k = compressed(f, work, ["--strip=impurity,samples"])
            if j and k:
                regression = not name.startswith("rf_classifier")
                result("thresholds" in j["stripped"] and j["thresholds_lowered"] > 0
                       and ("split-values" in j["stripped"]) == regression
                       and j["container_size"] < k["container_size"],
                       "--strip=all lowers thresholds%s and is smaller than impurity,samples: %s (%d < %d)"
                       % (", sets split values" if regression else "", name, j["container_size"],
                          k["container_size"]), json.dumps(j)[:600])
            p = roundtrip(f, work, ["--strip=all,precision"], ["--stripped", "all,precision"], "lossy")
            if p and j and not name.startswith("rf_classifier"):
                result("precision" in p["stripped"] and 0 < p["max_value_change"] and p["values_rounded"] > 0
                       and p["container_size"] < j["container_size"],
                       "precision rounds values, says by how much (%.3g), and is smaller: %s (%d < %d)"
                       % (p["max_value_change"], name, p["container_size"], j["container_size"]),
                       json.dumps(p)[:600])
            elif p:
                result("precision" not in p["stripped"] and p["values_rounded"] == 0,
                       "precision leaves class counts as they are: %s" % name, json.dumps(p)[:600])
        # HistGradientBoosting: gain (impurity), count (samples) and the
        # values of internal nodes (split-values) go; predict, predict_proba
        # and decision_function stay bit-identical
        for name in ("hgb_classifier_p2.pkl", "hgb_regressor_p5.pkl", "hgb_classifier.joblib",
                     "hgb_regressor.joblib.xz"):
            f = os.path.join(FIX, name)
            j = roundtrip(f, work, ["--strip=all"], ["--stripped", "all"], "lossy")
            k = compressed(f, work, [])
            if j and k:
                result(all(p in j["stripped"] for p in ("impurity", "samples", "split-values"))
                       and j["trees_stripped"] > 0 and j["split_values_set"] > 0
                       and j["container_size"] < k["container_size"],
                       "--strip=all on HistGradientBoosting: gain, count, internal values (%s: %d < %d)"
                       % (name, j["container_size"], k["container_size"]), json.dumps(j)[:600])
        # its gains are predicted exactly: zeros may cost more, then the file stays exact
        roundtrip(os.path.join(FIX, "hgb_regressor_p5.pkl"), work, ["--strip", "impurity"],
                  ["--stripped", "impurity"], "lossy|byte")
        # --strip=all on an IsolationForest keeps samples, and says so
        iso = os.path.join(FIX, "isolation_forest_p5.pkl")
        rc, msg = run([TP, "compress", "-f", "-o", os.path.join(work, "iso_all.tpk"), "--strip=all", iso])
        result(rc == 0 and "samples kept, an IsolationForest's scores read n_node_samples" in msg,
               "--strip=all keeps an IsolationForest's samples", msg)
        j = roundtrip(iso, work, ["--strip=all"], ["--stripped", "impurity,split-values,thresholds"], "lossy")
        result(bool(j) and j["kept"]["samples"] and "samples" not in j["stripped"],
               "info: samples kept for the IsolationForest", json.dumps(j)[:400])
        # --exact=model and --strip together
        roundtrip(os.path.join(FIX, "text_pipeline_tfidf_rf_p4.pkl"), work,
                  ["--exact=model", "--strip", "impurity,samples,stop-words"],
                  ["--stripped", "impurity,samples,stop-words"], "lossy")
        # IsolationForest scores read n_node_samples
        iso = os.path.join(FIX, "isolation_forest_p5.pkl")
        rc, msg = run([TP, "compress", "-f", "-o", os.path.join(work, "iso.tpk"), "--strip", "samples", iso])
        result(rc == 1 and "IsolationForest" in msg and not os.path.exists(os.path.join(work, "iso.tpk")),
               "IsolationForest refuses --strip samples", msg)
        roundtrip(iso, work, ["--strip", "impurity"], ["--stripped", "impurity"], "lossy")
        # messages
        rc, msg = run([TP, "compress", "-f", "-o", os.path.join(work, "x.tpk"), "--strip", "impurity",
                       os.path.join(FIX, "rf_regressor_p2.pkl")])
        result(rc == 0 and "lossy: stripped impurity (feature_importances_ no longer meaningful; node impurity "
               in msg, "compress says what it stripped", msg)
        rc, msg = run([TP, "info", os.path.join(work, "x.tpk")])
        result(rc == 0 and "lossy: stripped impurity" in msg and "compressed from:" in msg, "info shows it", msg)
        # a classifier's gini impurity is predicted from its class counts and
        # costs nothing: zeros would cost more, so the file stays exact
        rc, msg = run([TP, "compress", "-f", "-o", os.path.join(work, "y.tpk"), "--strip", "impurity",
                       os.path.join(FIX, "rf_classifier_p4.pkl")])
        result(rc == 0 and "--strip=impurity: nothing stripped, the file is no smaller without it" in msg
               and ", exact ->" in msg, "compress says what it did not strip, and why", msg)
        for argv, what in (([TP, "compress", "--strip", "leaves", iso], "unknown --strip part"),
                           ([TP, "compress", "--exact=bits", iso], "unknown --exact"),
                           ([TP, "expand", "--exact=model", iso], "--exact with expand")):
            rc, msg = run(argv)
            result(rc == 2, "usage error: " + what, msg)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
