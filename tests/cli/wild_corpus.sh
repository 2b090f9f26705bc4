#!/bin/sh
# The published model files of ../shared/corpus/wild (not in this
# repository: skipped when the folder is absent): every one that imports
# only sklearn, numpy, scipy, joblib and pandas names must compress and
# expand back byte for byte with the defaults; one that imports other
# code (its MANIFEST.tsv notes say libs:...) must be refused (exit 3);
# one that does not parse must fail (exit 1).  Nothing here loads them.
#   wild_corpus.sh TREEPACK CORPUS_DIR
set -u
tp=$1
corpus=$2
[ -f "$corpus/MANIFEST.tsv" ] || { echo "no corpus at $corpus: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0 ok=0 refused=0 broken=0
# file, notes (the last column)
tr -d '\r' < "$corpus/MANIFEST.tsv" | awk -F'\t' 'NR > 1 { print $1 "\t" $NF }' > "$work/list"
while IFS="$(printf '\t')" read -r f notes; do
    [ -f "$corpus/$f" ] || { echo "FAIL $f: listed but missing"; fail=1; continue; }
    expect=0
    libs=$(printf '%s\n' "$notes" | tr ';' '\n' | sed -n 's/^libs://p' | tr '+' '\n' |
        grep -v -x -e pandas -e _loss -e sklearn -e numpy -e scipy -e joblib)
    [ -n "$libs" ] && expect=3
    case $notes in parse:*) expect=1 ;; esac
    "$tp" compress -q -f -o "$work/x.tpk" "$corpus/$f" 2> "$work/err"
    st=$?
    if [ "$st" != "$expect" ]; then
        echo "FAIL $f: compress exit $st, expected $expect: $(head -c 300 "$work/err")"
        fail=1
    elif [ "$st" = 0 ]; then
        if "$tp" expand -q -f -o "$work/x.out" "$work/x.tpk" 2> "$work/err" && cmp -s "$corpus/$f" "$work/x.out"; then
            ok=$((ok + 1))
        else
            echo "FAIL $f: does not expand to the original: $(head -c 300 "$work/err")"
            fail=1
        fi
    elif [ "$st" = 3 ]; then
        refused=$((refused + 1))
    else
        broken=$((broken + 1))
    fi
    rm -f "$work/x.tpk" "$work/x.out"
done < "$work/list"
echo "$ok round-trip exactly, $refused refused (they import other code), $broken unreadable"
exit $fail
