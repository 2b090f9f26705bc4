#!/bin/sh
# The threaded code on a model big enough to use it: compress with -T 2
# (its workers), expand to a file and to standard output (the prefetch
# helper and the writer thread), test.  Every output compared with cmp.
# Run by `meson test` in every build; .ci/run also runs it under
# ThreadSanitizer (a report makes the run fail).
#   run.sh TREEPACK FIXTURES_DIR
set -u
tp=$1
fixtures=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$(dirname "$0")/make_forest.py" "$fixtures/rf_classifier_p4.pkl" "$work/big.pkl" ||
    { echo "FAIL cannot make the forest"; exit 1; }
fail=0
"$tp" compress -q -T 2 -o "$work/big.tpk" "$work/big.pkl" || { echo "FAIL compress -T 2"; fail=1; }
"$tp" compress -q -T 2 -19 -o "$work/big19.tpk" "$work/big.pkl" || { echo "FAIL compress -T 2 -19"; fail=1; }
"$tp" expand -q -o "$work/out.pkl" "$work/big.tpk" && cmp -s "$work/big.pkl" "$work/out.pkl" ||
    { echo "FAIL expand to a file"; fail=1; }
"$tp" expand -q -T 2 -c "$work/big19.tpk" | cmp -s "$work/big.pkl" - || { echo "FAIL expand -c"; fail=1; }
"$tp" test -q "$work/big.tpk" || { echo "FAIL test"; fail=1; }
[ "$fail" = 0 ] && echo "threads: $(wc -c < "$work/big.pkl") bytes, all round trips exact"
exit $fail
