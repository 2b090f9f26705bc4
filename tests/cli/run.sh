#!/bin/sh
# The command line against hostile inputs (truncated, malformed and odd
# pickles, written by make_inputs.py), in the style of zstd's
# tests/cli-tests: each case runs in a directory of its own holding only
# its input, and checks the exit status, the exact stderr, that no output
# (or temporary) file is left, and that the input is unchanged.
#
#   run.sh TREEPACK FIXTURES_DIR TESTS_CLI_DIR TPK_REPAIR
#
# Set TP_UPDATE=1 to rewrite expected/*.txt from the current behaviour.
set -u
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
tp=$(abs "$1")
fixtures=$(abs "$2")
here=$(abs "$3")
repair=$(abs "$4")
py=/usr/bin/python3
[ -x "$py" ] || py=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" "$here/make_inputs.py" "$fixtures" "$work/in" || { echo "FAIL cannot make the inputs"; exit 1; }
fail=0
checks=0

bad() { echo "FAIL $*"; fail=1; }

# run_case FILE CMD...: run `treepack CMD... FILE` in a fresh directory
# holding a copy of FILE; sets $status, leaves stderr in $work/err and
# stdout in $work/out, and checks that nothing else appeared and FILE is
# unchanged.
run_case() {
    file=$1
    shift
    d=$work/case
    rm -rf "$d"
    mkdir "$d"
    cp "$work/in/$file" "$d/$file"
    sum=$(cksum < "$d/$file")
    (cd "$d" && exec "$tp" "$@" "$file" > "$work/out" 2> "$work/err")
    status=$?
    checks=$((checks + 1))
    left=$(cd "$d" && ls -A)
    [ "$status" = 0 ] || [ "$left" = "$file" ] || bad "$file ($*): files left behind: $(echo $left)"
    [ "$(cksum < "$d/$file")" = "$sum" ] || bad "$file ($*): the input changed"
}

# Golden files: "== FILE [STATUS]" then its exact stderr, for every input.
golden() {
    name=$1
    shift
    actual=$work/$name.txt
    : > "$actual"
    for f in $(cd "$work/in" && ls | grep -v '^big\.pkl$' | LC_ALL=C sort); do
        run_case "$f" "$@"
        [ -s "$work/out" ] && [ "$1" != inspect ] && bad "$f ($*): wrote to stdout"
        echo "== $f [$status]" >> "$actual"
        [ "$1" = inspect ] && cat "$work/out" >> "$actual"
        cat "$work/err" >> "$actual"
    done
    if [ "${TP_UPDATE:-}" = 1 ]; then
        cp "$actual" "$here/expected/$name.txt"
    elif ! diff -u "$here/expected/$name.txt" "$actual"; then
        bad "stderr or exit status differ from expected/$name.txt"
    fi
}

# 1. compress every input: refusals exit 3, malformed inputs 1, with a
#    message naming the file, the problem and the byte offset.
golden compress compress -q
# 2. inspect them too: the same verdicts, and never a crash
golden inspect inspect -q

# 3. truncation at every byte offset of a real model (one directory for
#    the whole loop, checked at the end: thousands of runs must stay quick)
mkdir "$work/cuts"
model=$work/in/model.pkl
size=$(wc -c < "$model")
i=0
while [ "$i" -lt "$size" ]; do
    head -c "$i" "$model" > "$work/cuts/cut.pkl"
    (cd "$work/cuts" && exec "$tp" compress -q cut.pkl 2> ../err)
    status=$?
    case "$(cat "$work/err")" in
    "treepack: cut.pkl: empty input: the file has no bytes") [ "$i" = 0 ] || bad "cut at $i: empty?" ;;
    "treepack: cut.pkl: pickle truncated: "*" (at byte "*")" | \
    "treepack: cut.pkl: pickle ends without STOP: the stream ends before STOP (at byte $i)") ;;
    *) bad "cut at $i: $(cat "$work/err")" ;;
    esac
    [ "$status" = 1 ] || bad "cut at $i: exit status $status"
    i=$((i + 1))
done
checks=$((checks + size))
[ "$(ls -A "$work/cuts")" = cut.pkl ] || bad "truncated inputs left $(ls -A "$work/cuts")"
cmp -s "$model" "$fixtures/dt_classifier_iris_p4.pkl" || bad "the model changed"

# 4. valid but odd pickles survive: exact round trip, bounded time
for f in long_binput_max.pkl memo_doubling.pkl self_list.pkl self_dict.pkl; do
    if ! "$tp" compress -q -o "$work/$f.tpk" "$work/in/$f" || ! "$tp" expand -q -o "$work/$f" "$work/$f.tpk" ||
        ! cmp -s "$work/in/$f" "$work/$f"; then
        bad "$f does not round-trip"
    fi
    rm -f "$work/$f" "$work/$f.tpk"
done

# 5. trust: --trust and --allow-unsafe let a refused pickle through;
#    expand re-checks what it writes, so the .tpk is refused in turn.
cp "$work/in/evil_global.pkl" "$work/evil.pkl"
"$tp" compress -q --trust os.system -o "$work/t1.tpk" "$work/evil.pkl" || bad "--trust os.system refused"
"$tp" compress -q --trust os -o "$work/t2.tpk" "$work/evil.pkl" || bad "--trust os refused"
"$tp" compress -q --trust os.sys -o "$work/t3.tpk" "$work/evil.pkl" 2> /dev/null
[ $? = 3 ] || bad "--trust os.sys let os.system through"
"$tp" compress -q --allow-unsafe -o "$work/evil.tpk" "$work/evil.pkl" || bad "--allow-unsafe refused"
mv "$work/evil.tpk" "$work/in/evil.tpk"
run_case evil.tpk expand -q
[ "$status" = 3 ] || bad "expand of a crafted .tpk: exit status $status"
grep -q "in the expanded pickle: GLOBAL os.system" "$work/err" || bad "expand of a crafted .tpk: $(cat "$work/err")"
run_case evil.tpk expand -q -c
[ "$status" = 3 ] && [ ! -s "$work/out" ] || bad "expand -c of a crafted .tpk wrote or passed ($status)"
run_case evil.tpk test -q
[ "$status" = 3 ] || bad "test of a crafted .tpk: exit status $status"
run_case evil.tpk inspect -q
[ "$status" = 3 ] && grep -q "os.system  REFUSED" "$work/out" || bad "inspect of a crafted .tpk ($status)"
"$tp" expand -q --allow-unsafe -o "$work/evil2.pkl" "$work/in/evil.tpk" && cmp -s "$work/evil.pkl" "$work/evil2.pkl" ||
    bad "expand --allow-unsafe does not give the pickle back"
"$tp" expand -q --trust os.system -c "$work/in/evil.tpk" | cmp -s "$work/evil.pkl" - || bad "expand --trust"

# 6. a model to build containers from
cp "$work/in/model.pkl" "$work/m.pkl"
"$tp" compress -q -o "$work/m.tpk" "$work/m.pkl"

# 7. the container: bad magic, truncation at every offset, a flipped bit
#    at every offset, absurd declared sizes
printf 'not a treepack file' > "$work/in/nomagic.tpk"
run_case nomagic.tpk expand -q
[ "$status" = 1 ] && [ "$(cat "$work/err")" = "treepack: nomagic.tpk: is not a treepack file (no .tpk magic)" ] ||
    bad "bad magic: $status $(cat "$work/err")"
tsize=$(wc -c < "$work/m.tpk")
mkdir "$work/tpks"
"$py" - "$work/m.tpk" "$work/tpks" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
for i in range(8, len(b)):
    open("%s/cut%05d.tpk" % (sys.argv[2], i), "wb").write(b[:i])
    f = bytearray(b)
    f[i] ^= 0x10
    open("%s/flip%05d.tpk" % (sys.argv[2], i), "wb").write(bytes(f))
PY
cd "$work/tpks" || exit 1
for f in cut*.tpk flip*.tpk; do
    "$tp" expand -q -o out.pkl "$f" 2> ../err
    status=$?
    [ "$status" = 1 ] || bad "$f: exit status $status"
    case $f in
    cut*) grep -q "^treepack: $f: treepack file truncated: .* (at byte [0-9]*)$" ../err || bad "$f: $(cat ../err)" ;;
    *) grep -q "^treepack: $f: \(treepack file corrupted\|unsupported treepack format\|treepack file truncated\|treepack file needs a newer\|expanded data does not match\)" ../err ||
        bad "$f: $(cat ../err)" ;;
    esac
    checks=$((checks + 1))
done
[ ! -e out.pkl ] || bad "a damaged .tpk left its output"
cd "$work" || exit 1
# absurd sizes, with every checksum repaired so that the sizes are what fails
for spec in "skeleton-raw 18446744073709551615" "skeleton-raw 4611686018427387904" "original-size 4611686018427387904" \
    "section-count 1000000"; do
    set -- $spec
    "$repair" "$work/m.tpk" "$work/in/absurd.tpk" "$1" "$2" || { bad "tpk_repair $spec"; continue; }
    run_case absurd.tpk expand -q
    [ "$status" = 1 ] || bad "absurd $spec: exit status $status"
    grep -q "^treepack: absurd.tpk: treepack file corrupted: \|declared size beyond the limit" "$work/err" ||
        bad "absurd $spec: $(cat "$work/err")"
done

# 8. files
cd "$work" || exit 1
cp in/model.pkl m2.pkl
chmod 640 m2.pkl
"$tp" compress -q m2.pkl && [ "$(stat -c %a m2.tpk)" = 640 ] || bad "permission bits not copied"
"$tp" compress -q -o m2.pkl m2.pkl 2> err
[ $? = 1 ] && [ "$(cat err)" = "treepack: m2.pkl: the output m2.pkl is the input itself" ] || bad "output = input: $(cat err)"
"$tp" compress -q -f -o m2.pkl m2.pkl 2> err
[ $? = 1 ] || bad "output = input with -f"
ln m2.pkl hard.pkl
"$tp" compress -q -f -o hard.pkl m2.pkl 2> err
[ $? = 1 ] && grep -q "is the input itself" err || bad "output = input through a hard link"
ln -s m2.pkl soft.pkl
"$tp" compress -q -f -o soft.pkl m2.pkl 2> err
[ $? = 1 ] && grep -q "is the input itself" err || bad "output = input through a symlink"
cmp -s m2.pkl in/model.pkl || bad "the input changed"
"$tp" compress -q m2.pkl 2> err
[ $? = 1 ] && [ "$(cat err)" = "treepack: m2.pkl: m2.tpk already exists (use -f to overwrite)" ] || bad "exists: $(cat err)"
"$tp" compress -q -f m2.pkl || bad "-f does not overwrite"
# an unwritable directory (root writes anywhere, so use one no one can)
"$tp" compress -q -o /proc/treepack-test/m2.tpk m2.pkl 2> err
[ $? = 1 ] && grep -q "^treepack: m2.pkl: cannot create a file next to /proc/treepack-test/m2.tpk: " err ||
    bad "unwritable directory: $(cat err)"
if [ "$(id -u)" != 0 ]; then
    mkdir ro && chmod 555 ro
    "$tp" compress -q -o ro/m2.tpk m2.pkl 2> err
    [ $? = 1 ] && [ -z "$(ls -A ro)" ] || bad "read-only directory"
fi
# never binary data to a terminal (script(1) gives the command one)
if command -v script > /dev/null 2>&1; then
    script -qec "'$tp' compress -c m2.pkl" /dev/null > out 2>&1
    st=$?
    [ "$st" = 1 ] && grep -q "refusing to write binary data to a terminal" out || bad "binary to a terminal: $st $(cat out)"
    script -qec "'$tp' expand -c m2.tpk" /dev/null > out 2>&1
    grep -q "refusing to write binary data to a terminal" out || bad "expand: binary to a terminal: $(cat out)"
fi
# a full disk: stdout to /dev/full, and a file size limit for files
"$tp" compress -q -c m2.pkl > /dev/full 2> err
[ $? = 1 ] && grep -q "No space left on device" err || bad "/dev/full: $(cat err)"
mkdir full
(trap '' XFSZ; ulimit -f 1; exec "$tp" compress -q -1 -o full/big.tpk in/big.pkl) 2> err
[ $? = 1 ] && [ -z "$(ls -A full)" ] || bad "file size limit: $(cat err); left: $(ls -A full)"
# interruption half way: nothing left behind.  The signal is sent once the
# temporary output exists (compress opens it before it starts work, and the
# big input keeps it busy for most of a second), not after a fixed sleep: a
# fast machine finishes before a sleep ends.
mkdir int
interrupt() { # signal, level
    "$tp" compress -q "$2" -o int/big.tpk in/big.pkl &
    pid=$!
    n=0
    while [ -z "$(ls -A int)" ] && [ $n -lt 500 ]; do sleep 0.01; n=$((n + 1)); done
    kill "-$1" "$pid" 2> /dev/null
    wait "$pid"
}
interrupt INT -19
st=$?
[ "$st" = 130 ] || bad "SIGINT: exit status $st (did it finish before the signal?)"
[ -z "$(ls -A int)" ] || bad "SIGINT left $(ls -A int)"
rm -f int/*
interrupt TERM -1
st=$?
[ "$st" = 143 ] || bad "SIGTERM: exit status $st (did it finish before the signal?)"
[ -z "$(ls -A int)" ] || bad "SIGTERM left $(ls -A int)"

# 9. the limits that a flag sets
"$tp" compress -q --max-memory=1M -c in/dup_1e6.pkl > /dev/null 2> err
[ $? = 1 ] && grep -q "memory limit reached" err || bad "--max-memory: $(cat err)"
"$tp" expand -q --max-memory=1K -c m.tpk > out 2> err
# the limit bounds what is allocated (here the check's interpreter), not
# the size the container declares: a pickle is streamed, never held whole
[ $? = 1 ] && [ ! -s out ] && grep -q "memory limit reached: in the expanded pickle: the interpreter would need more than 1024 bytes" err ||
    bad "expand --max-memory: $(cat err)"
"$tp" compress -q --max-memory=12X -c m2.pkl > /dev/null 2> err
[ $? = 2 ] || bad "--max-memory=12X accepted"

# 10. inspect: trust shows as such, JSON parses, stdin works
"$tp" inspect --trust os.system in/evil_global.pkl > out
[ $? = 0 ] && grep -q "os.system  trusted" out && grep -q "^verdict: safe to load if you trust" out || bad "inspect --trust"
for fv in model.pkl:safe evil_global.pkl:unsafe tree_cycle.pkl:invalid-tree trailing_bytes.pkl:unreadable; do
    f=${fv%%:*}
    "$tp" inspect --json "in/$f" > out 2> /dev/null
    "$py" -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['verdict'] == sys.argv[2], r" out "${fv#*:}" ||
        bad "inspect --json $f"
done
"$tp" inspect - < in/evil_inst.pkl > out
[ $? = 3 ] && grep -q "INST          os.system  REFUSED" out || bad "inspect from stdin"
"$tp" compress -q --trust '' -c m2.pkl > /dev/null 2> err
[ $? = 2 ] || bad "--trust '' accepted"

echo "$checks cases"
[ "$fail" = 0 ] && echo "all passed"
exit $fail
