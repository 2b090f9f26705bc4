#!/bin/sh
# The allowlist against real models: many kinds of fitted scikit-learn
# estimators, pickled at protocols 2 to 5 (make_real_models.py), must all
# compress, expand exactly and inspect as safe.  Needs Debian's sklearn.
#   real_models.sh TREEPACK TESTS_CLI_DIR
set -u
tp=$1
here=$2
if ! /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
    echo "FAIL Debian's python3-sklearn is not installed"
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/make_real_models.py" "$work/m" || exit 1
fail=0
for f in "$work"/m/*.pkl; do
    b=$(basename "$f")
    "$tp" inspect -q "$f" > "$work/report" || { echo "FAIL inspect $b"; cat "$work/report"; fail=1; continue; }
    "$tp" compress -q -o "$work/x.tpk" "$f" && "$tp" expand -q -f -o "$work/x.pkl" "$work/x.tpk" &&
        cmp -s "$f" "$work/x.pkl" || { echo "FAIL round trip $b"; fail=1; }
    rm -f "$work/x.tpk" "$work/x.pkl"
done
[ "$fail" = 0 ] && echo "all $(ls "$work/m" | wc -l) models accepted"
exit $fail
