#!/bin/bash
# run.sh TREEPACK_BINARY ATTACK_DIR
#
# Asks treepack about every attack that prove.py saw run under a real
# loader (ATTACK_DIR/proven.tsv), and asserts for each:
#   - `treepack inspect` does not print "verdict: safe to load";
#   - `treepack compress` exits non-zero and leaves no output file;
#   - the same bytes as a .tpk container (written by `compress
#     --allow-unsafe`, i.e. what a crafted container can carry):
#     `treepack expand` exits non-zero and leaves no output file, and
#     `treepack inspect` of the container does not say "safe to load".
# One line per attack, then a summary; exit 1 if any attack FAILs.
#
# make_attacks.py (re)writes ATTACK_DIR when it has no attacks.tsv or an older
# one; prove.py runs first when proven.tsv is missing or older than the
# attacks (its log: ATTACK_DIR/prove.log).
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 TREEPACK_BINARY ATTACK_DIR" >&2
    exit 2
fi
T=$(realpath "$1") || exit 2
D=$2
HERE=$(dirname "$(realpath "$0")")
PY=/usr/bin/python3
[ -x "$T" ] || { echo "run.sh: $T is not an executable" >&2; exit 2; }
if [ ! -f "$D/attacks.tsv" ] || [ "$HERE/make_attacks.py" -nt "$D/attacks.tsv" ]; then
    "$PY" "$HERE/make_attacks.py" "$D" || exit 2
fi
if [ ! -f "$D/proven.tsv" ] || [ "$D/attacks.tsv" -nt "$D/proven.tsv" ] || [ "$HERE/prove.py" -nt "$D/proven.tsv" ]; then
    "$PY" "$HERE/prove.py" "$D" > "$D/prove.log" 2>&1 || { cat "$D/prove.log"; exit 2; }
    grep '^prove:' "$D/prove.log"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tp-security.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
failed=()
printf '%-5s %-36s %-5s %-19s %s\n' RESULT ATTACK CLASS "RAN UNDER" "TREEPACK'S VERDICT [failed checks]"
while IFS=$'\t' read -r name cls loaders file opts; do
    [ "$name" = name ] && continue
    args=()
    [ "$opts" != "-" ] && read -r -a args <<< "$opts"
    f="$D/$file"
    problems=()

    insp=$("$T" inspect "${args[@]}" "$f" 2>&1)
    verdict=$(printf '%s\n' "$insp" | sed -n 's/^verdict: //p' | head -1)
    [ -n "$verdict" ] || verdict="no verdict: $(printf '%s\n' "$insp" | tail -1 | sed "s|$D/||")"
    case $verdict in "safe to load"*) problems+=(inspect) ;; esac

    out="$work/$name.tpk"
    if "$T" compress -q "${args[@]}" -o "$out" "$f" > /dev/null 2>&1; then
        problems+=(compress)
    elif [ -e "$out" ]; then
        problems+=(compress-left-output)
    fi
    rm -f "$out"

    tpk="$work/$name.crafted.tpk"
    if "$T" compress -q --allow-unsafe -o "$tpk" "$f" > /dev/null 2>&1; then
        exp="$work/$name.expanded"
        if "$T" expand -q "${args[@]}" -o "$exp" "$tpk" > /dev/null 2>&1; then
            problems+=(expand)
        elif [ -e "$exp" ]; then
            problems+=(expand-left-output)
        fi
        rm -f "$exp"
        if "$T" inspect "${args[@]}" "$tpk" 2>&1 | grep -q '^verdict: safe to load'; then problems+=(tpk-inspect); fi
        rm -f "$tpk"
    fi

    [ ${#verdict} -gt 70 ] && verdict="${verdict:0:67}..."
    if [ ${#problems[@]} -eq 0 ]; then
        pass=$((pass + 1))
        printf '%-5s %-36s %-5s %-19s %s\n' PASS "$name" "$cls" "$loaders" "$verdict"
    else
        fail=$((fail + 1))
        failed+=("$name")
        printf '%-5s %-36s %-5s %-19s %s [%s]\n' FAIL "$name" "$cls" "$loaders" "$verdict" "${problems[*]}"
    fi
done < "$D/proven.tsv"

echo
echo "treepack: $T"
[ $fail -eq 0 ] || echo "attacks treepack lets through: ${failed[*]}"
echo "security: $pass passed, $fail failed"
[ $fail -eq 0 ]
