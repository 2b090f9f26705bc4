#!/bin/sh
# Containers written by earlier treepack versions still expand to their
# originals byte for byte: each directory under tests/compat/ is named after
# the writer (version and commit) and holds FIXTURE.tpk for fixtures/FIXTURE.
# The format grows by adding models and codecs; what was written before must
# keep decoding as it was (the arithmetic of the models included).
#   run.sh TREEPACK FIXTURES_DIR COMPAT_DIR
set -u
tp=$1
fixtures=$2
compat=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
n=0
for c in "$compat"/*/*.tpk; do
    [ -e "$c" ] || continue
    n=$((n + 1))
    name=$(basename "$c" .tpk)
    writer=$(basename "$(dirname "$c")")
    if ! "$tp" expand -q -o "$work/$name" "$c"; then
        echo "FAIL expand $writer/$name"; fail=1; continue
    fi
    if ! cmp -s "$fixtures/$name" "$work/$name"; then
        echo "FAIL bytes differ $writer/$name"; fail=1; continue
    fi
    rm -f "$work/$name"
    echo "ok $writer/$name"
done
[ "$n" -gt 0 ] || { echo "FAIL no containers in $compat"; exit 1; }
exit $fail
