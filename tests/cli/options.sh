#!/bin/sh
# Every option and message of the command line, in the style of zstd's
# tests/cli-tests: each case runs in a fresh directory holding copies of
# its inputs; every command of it is recorded in a transcript with its
# exit status, its exact stderr ("2|"), its stdout ("1|") or what a
# terminal showed ("t|", through script(1)), and at the end of the case
# the files left in the directory (so a temporary or partial file shows).
# Round trips are checked with cmp, whose exit status is recorded too.
# The transcripts are compared with expected-options/SECTION.txt.
#
#   options.sh TREEPACK FIXTURES_DIR TESTS_CLI_DIR
#
# Set TP_UPDATE=1 to rewrite expected-options/*.txt from the current
# behaviour (then read the diff: every line must be right).
#
# What depends on the codec rather than on the command line is replaced
# before comparing: the size of a .tpk and the ratio ("-> * (*x)"), the
# stored column of `info`, the size of a .tpk in the progress line and in
# the summary of expand; so are rates ("RATE/s") and the version.
set -u
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
tp=$(abs "$1")
fixtures=$(abs "$2")
here=$(abs "$3")
expected=$here/expected-options
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
command -v script > /dev/null || { echo "FAIL script(1) (util-linux, bsdutils) is needed"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
ncases=0
nruns=0
bad() { echo "FAIL $*"; fail=1; }

# `treepack` on PATH, so that the commands read as a user types them
mkdir "$work/bin"
ln -s "$tp" "$work/bin/treepack"
PATH=$work/bin:$PATH
SHELL=/bin/sh
LC_ALL=C
# for the check of -V
MESON_PROJECT_VERSION=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$here/../../meson.build" | head -1)
export PATH SHELL LC_ALL MESON_PROJECT_VERSION
# jsonl FILE: every line must be one JSON object; prints the fields that
# tell what it says (not the codec's sizes)
cat > "$work/bin/jsonl" <<EOF
#!$py
import json, sys
keys = ["file", "original_name", "original_size", "trees", "nodes", "exact", "exactness", "stripped",
        "wrapper", "format", "protocol", "size", "complete", "error", "refused", "safe", "verdict"]
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += 1
    out = ["%s=%s" % (k, json.dumps(r[k])) for k in keys if k in r and (k == "stripped" or not isinstance(r[k], list))]
    for k in ("imports", "calls", "trees", "arrays"):
        if isinstance(r.get(k), list):
            out.append("%s:%d" % (k, len(r[k])))
    print(" ".join(out))
print("%d JSON object%s" % (n, "" if n == 1 else "s"))
EOF
# first N CMD... and last N CMD...: CMD's first or last N lines of stdout,
# with CMD's exit status (a pipe into head would give head's)
for f in first:head last:tail; do
    cat > "$work/bin/${f%:*}" <<EOF
#!/bin/sh
n=\$1
shift
t=\$(mktemp)
"\$@" > "\$t"
s=\$?
${f#*:} -n "\$n" "\$t"
rm -f "\$t"
exit \$s
EOF
done
chmod +x "$work/bin/jsonl" "$work/bin/first" "$work/bin/last"

# ---- the inputs -------------------------------------------------------------
pool=$work/pool
mkdir "$pool"
cp "$fixtures/dt_classifier_iris_p4.pkl" "$pool/m.pkl"             # a small tree
cp "$fixtures/dt_classifier_iris_p5.pkl" "$pool/m5.pkl"            # another one
cp "$fixtures/rf_classifier_p4.pkl" "$pool/rf.pkl"                 # 25 trees
cp "$fixtures/rf_classifier_small.joblib.gz" "$pool/z.joblib.gz"   # compressed joblib
cp "$fixtures/isolation_forest_p5.pkl" "$pool/iso.pkl"
cp "$fixtures/text_count_p4.pkl" "$pool/text.pkl"                  # a vocabulary
cp "$fixtures/text_count_stop_maxfeat_p4.pkl" "$pool/stop.pkl"     # and stop words
# what loading would run os.system('true'): GLOBAL, MARK, STRING, TUPLE, REDUCE, STOP
printf "cos\nsystem\n(S'true'\ntR." > "$pool/evil.pkl"
# looks like a pickle (protocol 4), is not one
printf '\200\004\225garbage.' > "$pool/bad.pkl"
echo "not a model" > "$pool/notes.txt"
(cd "$pool" && "$tp" compress -q m.pkl && "$tp" compress -q --allow-unsafe -o evil.tpk evil.pkl &&
    "$tp" compress -q -o s.tpk < m.pkl) || { echo "FAIL cannot make the inputs"; exit 1; }

# ---- the machinery ----------------------------------------------------------
section=
transcript=
dir=$work/case

# The codec's numbers, rates, \r made visible (see the top).
norm() {
    sed -e 's/\r/\\r/g' \
        -e 's/[0-9.][0-9.]* [kMG]\{0,1\}B\/s/RATE\/s/g' \
        -e 's/ -> [0-9.][0-9.]* [kMG]\{0,1\}B ([0-9.][0-9.]*x)/ -> * (*x)/g' \
        -e 's/expanded, [0-9.][0-9.]* [kMG]\{0,1\}B ->/expanded, * ->/' \
        -e 's/\(\(expand\|test\)[^\\]*\)of [0-9.][0-9.]* [kMG]\{0,1\}B (/\1of * (/g' \
        -e '/\\r\(expand\|test\)/s/\\r  *\\r/\\r(spaces)\\r/g' \
        -e '/^  [a-z][a-z -]* .*[0-9]%$/s/[0-9.][0-9.]* [kMG]\{0,1\}B  *[0-9.][0-9.]*%$/* */' \
        -e 's/^treepack [0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*$/treepack VERSION/'
}

# What a case leaves: d/ a directory, @ a symbolic link, | a fifo.
files_left() {
    (cd "$dir" && find . -mindepth 1 \( -type d -printf '%P/\n' \) -o \( -type l -printf '%P@\n' \) \
        -o \( -type p -printf '%P|\n' \) -o -printf '%P\n') | sort | tr '\n' ' ' | sed 's/ $//'
}

end_case() {
    [ -d "$dir" ] && echo "files: $(files_left | sed "s/^$/(none)/")" >> "$transcript"
    rm -rf "$dir"
}

# section NAME: the transcript expected-options/NAME.txt
section() {
    [ -n "$section" ] && finish_section
    section=$1
    transcript=$work/$1.txt
    : > "$transcript"
}

finish_section() {
    end_case
    if [ "${TP_UPDATE:-}" = 1 ]; then
        mkdir -p "$expected"
        cp "$transcript" "$expected/$section.txt"
    elif ! diff -u "$expected/$section.txt" "$transcript"; then
        bad "transcript differs from expected-options/$section.txt"
    fi
}

# tc NAME [FILE | DEST=POOLFILE]...: a new case in a fresh directory
tc() {
    end_case
    mkdir "$dir"
    printf '\n== %s\n' "$1" >> "$transcript"
    shift
    for f in "$@"; do
        case $f in
        *=*) cp -P "$pool/${f#*=}" "$dir/${f%%=*}" ;;
        *) cp -P "$pool/$f" "$dir/$f" ;;
        esac || bad "cannot copy $f"
    done
    ncases=$((ncases + 1))
}

# setup CMD: prepare the case directory (not recorded; must succeed)
setup() { (cd "$dir" && sh -c "$1" < /dev/null) || bad "setup failed: $1"; }

# run [-s | -t] CMD: run CMD in the case directory, stdin /dev/null, and
# record it.  -s: stderr lines sorted (several files at once finish in any
# order); -t: on a terminal (script(1): stdin, stdout and stderr a pty).
run() {
    mode=
    case $1 in -s | -t) mode=$1; shift ;; esac
    if [ "$mode" = -t ]; then
        printf '$ %s    (on a terminal)\n' "$1" >> "$transcript"
        (cd "$dir" && exec script -qec "$1" /dev/null < /dev/null > "$work/out" 2> "$work/err")
    else
        printf '$ %s\n' "$1" >> "$transcript"
        (cd "$dir" && exec sh -c "$1" < /dev/null > "$work/out" 2> "$work/err")
    fi
    echo "[exit $?]" >> "$transcript"
    nruns=$((nruns + 1))
    if [ "$mode" = -t ]; then
        # the pty ends lines with \r\n
        sed 's/\r$//' "$work/out" | norm | sed 's/^/t| /' >> "$transcript"
        sed 's/^/2| /' "$work/err" >> "$transcript"
        return
    fi
    # a last line without its newline shows as such
    if [ -s "$work/err" ] && [ "$(tail -c 1 "$work/err" | od -An -c | tr -d ' ')" != '\n' ]; then
        printf '\n(no newline at the end)\n' >> "$work/err"
    fi
    if [ "$mode" = -s ]; then
        norm < "$work/err" | sort | sed 's/^/2| /' >> "$transcript"
    else
        norm < "$work/err" | sed 's/^/2| /' >> "$transcript"
    fi
    if [ -s "$work/out" ]; then
        if [ -n "$(tr -d '\11\12\15\40-\176' < "$work/out" | head -c 1)" ]; then
            echo "1| (binary data)" >> "$transcript"
        else
            norm < "$work/out" | sed 's/^/1| /' >> "$transcript"
        fi
    fi
}

# ---- help and version -------------------------------------------------------
section help

tc "the overview: treepack --help, -h, help (stdout, exit 0)"
run 'treepack --help'
run 'treepack -h > h1; treepack help > h2; treepack --help > h3; cmp h1 h3 && cmp h2 h3'
tc "no arguments: the overview on stderr, exit 2"
run 'treepack'
for c in compress expand info test inspect; do
    tc "$c --help lists exactly its options; -h and help $c say the same"
    run "treepack $c --help"
    run "treepack $c -h > h1; treepack help $c > h2; treepack $c --help > h3; cmp h1 h3 && cmp h2 h3"
done
tc "--help wins over what follows it, and nothing is done" m.pkl
run 'treepack compress --help m.pkl -19 --bogus > /dev/null'
run 'first 1 treepack compress -h -o out.tpk m.pkl'
tc "an error before --help is reported"
run 'treepack compress --bogus --help'
tc "version: -V, --version, after a command"
run 'treepack -V'
run 'treepack --version'
run 'treepack compress -V'
run 'treepack inspect --version m.pkl'
run 'test "$(treepack -V)" = "treepack $MESON_PROJECT_VERSION"'

# ---- usage errors: exit status 2 ----------------------------------------------
section usage

tc "the command: unknown, option first, help for an unknown command"
run 'treepack compres m.pkl'
run 'treepack --json info m.tpk'
run 'treepack -c compress m.pkl'
run 'treepack help compres'
tc "unknown options: long, short, short inside a word, abbreviations" m.pkl
run 'treepack compress --frobnicate m.pkl'
run 'treepack compress -x m.pkl'
run 'treepack compress -qx m.pkl'
run 'treepack compress -xq m.pkl'
run 'treepack compress --json -xq m.pkl'
run 'treepack compress --s m.pkl'
run 'treepack compress --stdout=yes m.pkl'
run 'treepack info --json=no m.tpk'
run 'treepack compress --out=out.tpk --for --qu m.pkl'
tc "an option that does not apply to the command, for every command" m.pkl m.tpk
for spec in "compress:--json" \
    "expand:--level=3 --exact=byte --strip=impurity --json" \
    "info:-o=x -c -f -k --sync --level=3 --exact=byte --strip=impurity --trust=os --allow-unsafe --progress --no-progress" \
    "test:-o=x -c -f -k --sync --level=3 --exact=byte --strip=impurity --json" \
    "inspect:-o=x -c -f -k --level=3 --exact=byte --strip=impurity --allow-unsafe --progress --no-progress"; do
    c=${spec%%:*}
    for opt in ${spec#*:}; do
        case $opt in -o=*) opt="-o x" ;; esac
        run "treepack $c $opt m.tpk"
    done
done
tc "a compression level for another command" m.pkl m.tpk
for c in expand info test inspect; do run "treepack $c -3 m.tpk"; done
run 'treepack expand -19 m.tpk'
tc "missing arguments" m.pkl
for opt in -o --output -T --threads --level --exact --strip --trust --max-memory; do
    run "treepack compress m.pkl $opt"
done
run 'treepack compress m.pkl -qo'
run 'treepack inspect m.pkl --trust'
tc "bad values" m.pkl
run 'treepack compress --level=0 m.pkl'
run 'treepack compress --level=20 m.pkl'
run 'treepack compress --level=x m.pkl'
run 'treepack compress --level= m.pkl'
run 'treepack compress --level m.pkl'
run 'treepack compress -0 m.pkl'
run 'treepack compress -20 m.pkl'
run 'treepack compress -9v m.pkl'
run 'treepack compress -T x m.pkl'
run 'treepack compress -T -1 m.pkl'
run 'treepack compress -T 257 m.pkl'
run 'treepack compress --threads=2x m.pkl'
run 'treepack compress --exact=models m.pkl'
run 'treepack compress --exact= m.pkl'
run 'treepack compress --strip=fast m.pkl'
run 'treepack compress --strip=impurity,fast m.pkl'
run 'treepack compress --strip= m.pkl'
run 'treepack compress --strip=, m.pkl'
run 'treepack compress --strip=impurity, m.pkl'
run 'treepack compress --strip=impurity,,samples m.pkl'
run 'treepack compress --trust= m.pkl'
run 'treepack compress --trust=.os m.pkl'
run 'treepack compress --trust=os. m.pkl'
run 'treepack inspect --trust=.os m.pkl'
run 'treepack compress --max-memory=0 m.pkl'
run 'treepack compress --max-memory=12X m.pkl'
run 'treepack compress --max-memory=1T m.pkl'
run 'treepack compress --max-memory=-1 m.pkl'
run 'treepack compress --max-memory=17179869184G m.pkl'
run 'treepack compress --max-memory= m.pkl'
tc "outputs that cannot be: -o with several files or -r, -o with -c, -c with -r, compress -c with several" m.pkl m5.pkl a.tpk=m.tpk b.tpk=s.tpk
run 'treepack compress -o out.tpk m.pkl m5.pkl'
run 'treepack compress -r -o out.tpk .'
run 'treepack expand -o out.pkl a.tpk b.tpk'
run 'treepack compress -c -o out.tpk m.pkl'
run 'treepack expand -c -r .'
run 'treepack compress -c m.pkl m5.pkl'
tc "no input files: standard input is a terminal, or -r without directories"
for c in compress expand info test inspect; do run -t "treepack $c"; done
run -t 'treepack compress -q -9'
run 'treepack compress -r < /dev/null'
tc "a usage error does nothing, even with files that would work" m.pkl
run 'treepack compress --level=0 m.pkl; treepack compress -T x m.pkl; treepack compress m.pkl -o'

# ---- compress -----------------------------------------------------------------
section compress

tc "default name, -o, --output, -c, --stdout; each round trip byte-identical" m.pkl orig.pkl=m.pkl
run 'treepack compress m.pkl'
run 'treepack compress -o a.tpk m.pkl'
run 'treepack compress --output=b.tpk m.pkl'
run 'treepack compress --output c.tpk m.pkl'
run 'treepack compress -c m.pkl > d.tpk'
run 'treepack compress --stdout m.pkl > e.tpk'
run 'for f in m a b c d e; do treepack expand -q -o $f.out $f.tpk && cmp orig.pkl $f.out || echo "$f differs"; done'
run 'cmp orig.pkl m.pkl'
tc "names: .pkl becomes .tpk, anything else gets .tpk appended; a .tpk is refused" m.pkl model.joblib=m5.pkl noext=m.pkl m.tpk
run 'treepack compress model.joblib noext'
run 'treepack compress m.tpk'
run 'treepack compress -o again.tpk m.tpk'
tc "-k is accepted and changes nothing (the input is always kept)" m.pkl
run 'treepack compress -k m.pkl'
run 'treepack compress --keep -o k2.tpk m.pkl'
tc "-q prints errors only; -v" m.pkl m5.pkl
run 'treepack compress -q m.pkl'
run 'treepack compress -q m.pkl'
run 'treepack compress -v m5.pkl'
run 'treepack compress --quiet --verbose -f m5.pkl'
run 'treepack compress --verbose --quiet -f m5.pkl'
tc "levels: -1 .. -19, --level=N (the last given counts); each file expands to the original" m.pkl
run 'treepack compress -q -1 -o 1.tpk m.pkl && treepack compress -q -19 -o 19.tpk m.pkl && treepack compress -q --level=19 -o l19.tpk m.pkl && treepack compress -q --level 5 -o l5.tpk m.pkl && treepack compress -q -o 9.tpk m.pkl && treepack compress -q -9 -o n9.tpk m.pkl'
run 'cmp 9.tpk n9.tpk && cmp 19.tpk l19.tpk'
run 'for f in 1 19 l5; do treepack expand -q -c $f.tpk | cmp m.pkl - || echo "$f differs"; done'
run 'treepack compress -q -3 -7 -o last.tpk m.pkl && treepack compress -q -o l7.tpk -7 m.pkl && cmp last.tpk l7.tpk'
tc "-- ends the options: -9 is then a file name" m.pkl
run 'treepack compress -- -9'
run 'cp m.pkl ./-9.pkl && treepack compress -q -- -9.pkl && ls -- -9.tpk'
tc "a value after -o or -T that looks like a level is the value" m.pkl
run 'treepack compress -o -5.tpk m.pkl && treepack compress -q -o -6.tpk -3 m.pkl && treepack test -q -- -5.tpk -6.tpk'
run 'treepack compress -qo -7.tpk m.pkl && treepack compress -q --out -8.tpk m.pkl && cmp -- -7.tpk -8.tpk'
run 'treepack compress -T -2 -o t.tpk m.pkl'
tc "threads: -T 0 (one per core), -T 2, --threads=1; the same file each time" rf.pkl
run 'treepack compress -q -T 0 -o t0.tpk rf.pkl && treepack compress -q -T 2 -o t2.tpk rf.pkl && treepack compress -q --threads=1 -o t1.tpk rf.pkl && cmp t0.tpk t2.tpk && cmp t1.tpk t2.tpk'
run 'treepack expand -q -T 2 -c t2.tpk | cmp rf.pkl -'
tc "--exact=byte is the default" text.pkl
run 'treepack compress --exact=byte -o a.tpk text.pkl'
run 'treepack compress -q -o b.tpk text.pkl && cmp a.tpk b.tpk'
run 'treepack expand -o a.pkl a.tpk && cmp text.pkl a.pkl'
tc "--max-memory: sizes with and without suffixes; a limit too small for the file" m.pkl rf.pkl
run 'treepack compress --max-memory=4G -o a.tpk m.pkl'
run 'treepack compress --max-memory=512m -o b.tpk m.pkl'
run 'treepack compress --max-memory=1000000 -o c.tpk m.pkl'
run 'treepack compress --max-memory=1K m.pkl'
run 'treepack compress --max-memory 100K rf.pkl'
run 'treepack expand --max-memory=1K -o x.pkl a.tpk'
run 'treepack expand --max-memory=1k -c a.tpk > out.pkl; echo "exit $?"; test ! -s out.pkl'
run 'rm out.pkl'
tc "a pickle that is not one: exit 1, nothing left" bad.pkl notes.txt
run 'treepack compress bad.pkl'
run 'treepack compress notes.txt'
run 'treepack compress -c bad.pkl > out.tpk; echo "exit $?"; test ! -s out.tpk'
run 'rm out.tpk'
tc "a file that is not there, a directory without -r"
run 'treepack compress nothere.pkl'
run 'mkdir d && treepack compress d'
run 'treepack compress -q d'

# ---- expand, test -----------------------------------------------------------
section expand

tc "expand: named after the .tpk, -o, --output, -c, --stdout; all byte-identical" m.tpk orig.pkl=m.pkl
run 'treepack expand m.tpk'
run 'treepack expand -o a.pkl m.tpk'
run 'treepack expand --output=b.pkl m.tpk'
run 'treepack expand -c m.tpk > c.pkl'
run 'treepack expand --stdout m.tpk > d.pkl'
run 'treepack expand -k -o e.pkl m.tpk'
run 'for f in m a b c d e; do cmp orig.pkl $f.pkl || echo "$f differs"; done'
tc "named after the .tpk as gzip names; -N: the stored name, in the directory of the .tpk" m.tpk s.tpk
run 'mkdir sub && cp m.tpk sub/renamed.tpk && treepack expand sub/renamed.tpk'
run 'cp m.tpk sub/f.joblib.tpk && treepack expand sub/f.joblib.tpk && cmp sub/f.joblib sub/renamed.pkl'
run 'cp m.tpk sub/other.tpk && treepack expand -N sub/other.tpk && cmp sub/m.pkl sub/renamed.pkl'
run 'treepack expand -N s.tpk'
run 'treepack expand s.tpk && cmp s.pkl sub/m.pkl'
run 'cp s.tpk s.bin && treepack expand s.bin'
run 'treepack expand -o s2.pkl s.bin && cmp s.pkl s2.pkl'
tc "-N takes only a plain model file name: never a dotfile, a path or conftest.py" m.pkl
setup 'cp m.pkl conftest.py && cp m.pkl .hidden.pkl && treepack compress -q conftest.py .hidden.pkl'
run 'treepack expand -N conftest.py.tpk'
run 'treepack expand -N .hidden.tpk'
run 'treepack expand conftest.py.tpk && cmp conftest.py.pkl m.pkl'
tc "-f never replaces what is not a regular file: a device or FIFO is written into" m.tpk orig.pkl=m.pkl
run 'treepack expand -f -o /dev/null m.tpk && test -c /dev/null'
run 'treepack expand -q -f -o /dev/full m.tpk; test -c /dev/full'
run 'mkfifo ff && { cat ff > got.pkl & } && treepack expand -o ff m.tpk; wait; cmp got.pkl orig.pkl && test -p ff'
run 'treepack compress -f -o /dev/null orig.pkl && test -c /dev/null'
tc "expand -q, -v; a file that is no .tpk" m.tpk m.pkl notes.txt
run 'treepack expand -q -o a.pkl m.tpk'
run 'treepack expand -v -o b.pkl m.tpk'
run 'treepack expand m.pkl'
run 'treepack expand -o x.pkl notes.txt'
run 'treepack expand nothere.tpk'
tc "a damaged .tpk: exit 1 and nothing written" m.tpk
# damage in the header, whose layout is the format's, not the codec's
setup 'cp m.tpk flip.tpk && printf "\377" | dd of=flip.tpk bs=1 seek=20 conv=notrunc 2> /dev/null && head -c 40 m.tpk > cut.tpk'
run 'treepack expand -o a.pkl flip.tpk'
run 'treepack expand -o b.pkl cut.tpk'
run 'treepack test cut.tpk'
run 'treepack info cut.tpk'
tc "a .tpk of a compressed joblib file reproduces it byte for byte" z.joblib.gz
run 'treepack compress z.joblib.gz'
run 'mv z.joblib.gz orig.gz && treepack expand z.joblib.gz.tpk && cmp orig.gz z.joblib.gz'
run 'treepack test -v z.joblib.gz.tpk'
tc "test: OK, -q, -v, several, one damaged" m.tpk s.tpk
setup 'head -c 40 m.tpk > cut.tpk'
run 'treepack test m.tpk'
run 'treepack test -q m.tpk'
run 'treepack test -v m.tpk'
run 'treepack test m.tpk s.tpk'
run 'treepack test -q m.tpk cut.tpk s.tpk'
run 'treepack test m.tpk cut.tpk s.tpk'
run 'treepack test --max-memory=1K m.tpk'
run -s 'treepack test -T 2 m.tpk s.tpk > out.txt; echo "exit $?"; test ! -s out.txt'
run 'rm out.txt'

# ---- standard input and output, terminals -------------------------------------------
section stdio

tc "compress and expand in pipes: no file arguments, -, cat |" m.pkl
run 'treepack compress < m.pkl > a.tpk'
run 'treepack compress - < m.pkl > b.tpk && cmp a.tpk b.tpk'
run 'treepack expand -c - < a.tpk > a.pkl && cmp m.pkl a.pkl'
run 'cat a.tpk | treepack expand - > b.pkl && cmp m.pkl b.pkl'
run 'treepack expand < a.tpk > c.pkl && cmp m.pkl c.pkl'
run 'cat m.pkl | treepack compress -q | treepack expand -q | cmp m.pkl -'
tc "standard input with -o; the .tpk stores no name, so (unnamed)" m.pkl
run 'treepack compress -o in.tpk < m.pkl'
run 'treepack compress -o in2.tpk - < m.pkl && cmp in.tpk in2.tpk'
run 'first 1 treepack info in.tpk'
run 'treepack expand -o out.pkl - < in.tpk && cmp m.pkl out.pkl'
run 'treepack expand in.tpk && cmp m.pkl in.pkl'
tc "info, test and inspect read standard input too, named (stdin)" m.tpk m.pkl
run 'treepack test - < m.tpk'
run 'treepack test < m.tpk'
run 'first 2 treepack info - < m.tpk'
run 'treepack info --json < m.tpk > out.json && jsonl out.json'
run 'first 1 treepack inspect - < m.pkl'
run 'treepack inspect --json < m.tpk > out.json && jsonl out.json'
run 'treepack expand -o m.pkl - < m.tpk'
tc "never binary data to a terminal, unless -f" m.pkl m.tpk
run -t 'treepack compress -c m.pkl'
run -t 'treepack compress - < m.pkl'
run -t 'treepack compress < m.pkl'
run -t 'treepack expand -c m.tpk'
run -t 'treepack expand - < m.tpk'
run 'script -qec "treepack compress -f -c m.pkl" /dev/null < /dev/null > tty.out; echo "exit $?"; head -c 4 tty.out | tail -c 3; echo'
run 'rm tty.out'
tc "text output to a terminal is fine" m.pkl m.tpk
run -t 'treepack info m.tpk'
run -t 'treepack test m.tpk'
run -t 'treepack compress -o out.tpk m.pkl'

# ---- existing outputs -------------------------------------------------------
section exists

tc "compress: an existing output is refused without -f and left as it was" m.pkl
setup 'echo precious > m.tpk && cp m.tpk saved'
run 'treepack compress m.pkl'
run 'cmp saved m.tpk'
run 'treepack compress -q m.pkl'
run 'treepack compress -o m.tpk m.pkl'
run 'treepack compress -f m.pkl && treepack test -q m.tpk'
run 'echo precious > m.tpk && treepack compress --force -o m.tpk m.pkl && treepack test -q m.tpk'
tc "expand: the same" m.tpk orig.pkl=m.pkl
setup 'echo precious > m.pkl && cp m.pkl saved'
run 'treepack expand m.tpk'
run 'cmp saved m.pkl'
run 'treepack expand -f m.tpk && cmp orig.pkl m.pkl'
run 'echo precious > other && treepack expand -o other m.tpk'
run 'treepack expand -f -o other m.tpk && cmp orig.pkl other'
tc "the output is the input itself, also with -f" m.pkl m.tpk orig.pkl=m.pkl orig.tpk=m.tpk
run 'treepack compress -o m.pkl m.pkl'
run 'treepack compress -f -o m.pkl m.pkl'
run 'treepack compress -f -o ./m.pkl m.pkl'
run 'ln m.pkl hard.pkl && treepack compress -f -o hard.pkl m.pkl'
run 'treepack expand -f -o m.tpk m.tpk'
run 'cmp orig.pkl m.pkl && cmp orig.tpk m.tpk'
tc "the output is a directory" m.pkl
run 'mkdir out && treepack compress -o out m.pkl'
run 'treepack compress -f -o out m.pkl'
tc "several files, one output exists: the others are done, exit 1" m.pkl m5.pkl
setup 'echo precious > m.tpk'
run 'treepack compress m.pkl m5.pkl'
run 'treepack compress -q m.pkl m5.pkl'

# ---- several files ------------------------------------------------------------------
section several

tc "several files: each reported, a summary; the worst exit status" m.pkl m5.pkl evil.pkl bad.pkl
run 'treepack compress m.pkl m5.pkl'
run 'treepack compress -f m.pkl nothere.pkl m5.pkl'
run 'treepack compress -f nothere.pkl m.pkl'
run 'treepack compress -f m.pkl bad.pkl m5.pkl'
run 'treepack compress -f m.pkl evil.pkl bad.pkl m5.pkl'
run 'treepack compress -q -f m.pkl evil.pkl bad.pkl m5.pkl'
run 'treepack compress bad.pkl nothere.pkl'
tc "several at once with -T 2 (lines in any order: sorted here)" m.pkl m5.pkl rf.pkl evil.pkl bad.pkl
run -s 'treepack compress -T 2 m.pkl m5.pkl rf.pkl'
run -s 'treepack test -T 2 m.tpk m5.tpk rf.tpk'
run -s 'treepack compress -T 2 -f m.pkl evil.pkl bad.pkl m5.pkl rf.pkl'
run -s 'mkdir x && mv *.tpk x && treepack expand -T 2 x/m.tpk x/m5.tpk x/rf.tpk'
run 'cmp m.pkl x/m.pkl && cmp m5.pkl x/m5.pkl && cmp rf.pkl x/rf.pkl'
tc "expand, test, info, inspect of several, one failing" m.tpk s.tpk m.pkl evil.pkl notes.txt
run 'treepack expand m.tpk s.tpk notes.txt'
run 'treepack test m.tpk m.pkl s.tpk'
run 'treepack info m.tpk m.pkl s.tpk > out.txt; echo "exit $?"; grep -c checksum out.txt'
run 'treepack inspect m.pkl evil.pkl m.tpk > out.txt; echo "exit $?"; grep "^verdict" out.txt'
run 'rm out.txt'

# ---- -r ---------------------------------------------------------------------------
section recursive

tree="d/a.pkl=m.pkl d/sub/b.pkl=m5.pkl d/sub/z.joblib.gz=z.joblib.gz d/c.tpk=m.tpk d/notes.txt=notes.txt"
mktree() {
    setup 'mkdir -p d/sub d/empty && ln -s a.pkl d/link.pkl && mkfifo d/fifo'
    for f in $tree; do cp "$pool/${f#*=}" "$dir/${f%%=*}"; done
}
tc "compress -r: model files converted, the rest skipped with a note, a summary"
mktree
run 'treepack compress -r d'
tc "a .tpk met by compress is named only with -v; a second run fails on the existing outputs"
mktree
run 'treepack compress -q -r d'
run 'treepack compress -r d'
run 'treepack compress -r -v -f d'
run 'treepack compress -r -q d'
tc "expand -r, test -r, info -r, inspect -r"
mktree
run 'treepack compress -q -r d && mkdir e && mv d/a.tpk d/c.tpk e && mv d/sub/*.tpk e'
run 'treepack expand -r e'
run 'treepack expand -r -v -f e'
run 'treepack test -r d e'
run 'treepack info -r e > out.txt; echo "exit $?"; grep "^e/" out.txt; rm out.txt'
run 'treepack info -r -q e > /dev/null'
run 'treepack inspect -r --json d e > out.json; echo "exit $?"; jsonl out.json'
run 'rm out.json && cmp e/a.pkl d/a.pkl && cmp e/z.joblib.gz d/sub/z.joblib.gz'
tc "-r with a file that fails: exit 1, the summary counts it"
mktree
cp "$pool/bad.pkl" "$dir/d/sub/bad.pkl"
run 'treepack compress -r d'
run 'treepack compress -r -f d/sub d/a.pkl nothere'
tc "-r -T 2: several at once (sorted here)"
mktree
run -s 'treepack compress -r -T 2 d'
run -s 'treepack test -r -T 2 d'
run -s 'rm d/*.pkl d/sub/b.pkl d/sub/z.joblib.gz && treepack expand -r -T 2 d'
tc "a directory without -r; an empty directory"
setup 'mkdir -p d/empty'
run 'treepack compress d'
run 'treepack test d'
for c in compress expand info test inspect; do run "treepack $c -r d/empty"; done
run 'treepack compress -r -q d/empty'

tc "--sync: the same files, flushed to the disk before they are named" m.pkl
run 'treepack compress --sync m.pkl && treepack expand --sync -o back.pkl m.tpk && cmp m.pkl back.pkl'
run 'treepack compress --sync -c m.pkl | treepack expand --sync -c - | cmp m.pkl -'

tc "-f replaces an existing file in one step; a directory in the way stays" m.pkl
run 'treepack compress m.pkl && ln m.tpk link.tpk && treepack compress -f -1 m.pkl && cmp -s m.tpk link.tpk; echo "same as the old one: $?"'
run 'treepack expand -f -o m.pkl m.tpk && treepack test m.tpk'
setup 'mkdir -p dir.tpk'
run 'treepack compress -f -o dir.tpk m.pkl; test -d dir.tpk && echo "still a directory"'

# ---- the progress line --------------------------------------------------------------
section progress

tc "--progress when stderr is a file: the line is drawn, then cleared" m.pkl m5.pkl
run 'treepack compress --progress m.pkl'
run 'treepack compress --progress -q m5.pkl'
run 'treepack compress --pro -c m.pkl > c.tpk'
run 'treepack expand --progress -o a.pkl m.tpk'
run 'treepack test --progress m.tpk'
run 'treepack expand --progress -c m.tpk | cmp m.pkl -'
run 'treepack test --progress m.tpk m5.tpk'
tc "none by default when stderr is no terminal, none with --no-progress" m.pkl
run '(cat m.pkl; sleep 1.2) | treepack compress -o out.tpk -'
run 'treepack compress --no-progress -o out2.tpk m.pkl'
run 'treepack compress --progress --no-progress -o out3.tpk m.pkl'
run 'treepack compress --no-progress --progress -o out4.tpk m.pkl'
tc "on a terminal: after a second of work, and not with --no-progress or -q" m.pkl
run -t 'treepack compress -o quick.tpk m.pkl'
run -t '(cat m.pkl; sleep 1.2) | treepack compress -o out.tpk -'
run -t '(cat m.pkl; sleep 1.2) | treepack compress --no-progress -o out2.tpk -'
run -t '(cat m.pkl; sleep 1.2) | treepack compress -q -o out3.tpk -'

# ---- info and inspect ------------------------------------------------------------
section info

tc "info: the table; -q leaves stdout alone; --json parses" m.tpk z.joblib.gz notes.txt
run 'treepack info m.tpk'
run 'first 1 treepack info -q m.tpk'
run 'treepack info --json m.tpk > out.json && jsonl out.json'
run 'treepack compress -q z.joblib.gz && treepack info z.joblib.gz.tpk'
run 'treepack info --json m.tpk z.joblib.gz.tpk > out.json && jsonl out.json'
run 'treepack info notes.txt nothere.tpk'
run 'first 1 treepack info --max-memory=1K -T 2 m.tpk'
tc "inspect: a safe pickle, a .tpk, JSON" m.pkl m.tpk
run 'treepack inspect m.pkl'
run 'first 1 treepack inspect m.tpk'
run 'treepack inspect --json m.pkl m.tpk > out.json && jsonl out.json'
run 'last 1 treepack inspect -q m.pkl'
run 'last 2 treepack inspect --max-memory=1K m.pkl'
tc "an unsafe pickle: refused (exit 3) by inspect, compress, and in a .tpk by test and expand" evil.pkl evil.tpk
run 'treepack inspect evil.pkl'
run 'treepack inspect --json evil.pkl > out.json; echo "exit $?"; jsonl out.json'
run 'treepack compress -o refused.tpk evil.pkl'
run 'treepack inspect evil.tpk'
run 'treepack test evil.tpk'
run 'treepack expand -o out.pkl evil.tpk'
run 'treepack expand -c evil.tpk > out.pkl; echo "exit $?"; test ! -s out.pkl'
run 'rm out.pkl out.json'
tc "--trust and --allow-unsafe let it through" evil.pkl evil.tpk
run 'last 1 treepack inspect --trust=os evil.pkl'
run 'last 1 treepack inspect --trust=os.system evil.pkl'
run 'last 1 treepack inspect --trust=os.sys evil.pkl'
run 'last 1 treepack inspect --trust=posix --trust=os evil.pkl'
run 'treepack compress --trust=os.system -o t.tpk evil.pkl'
run 'treepack compress --allow-unsafe -o u.tpk evil.pkl'
run 'treepack test --trust=os t.tpk'
run 'treepack test --allow-unsafe u.tpk'
run 'treepack expand --trust=os -o t.pkl t.tpk && cmp evil.pkl t.pkl'
run 'treepack expand --allow-unsafe -o u.pkl evil.tpk && cmp evil.pkl u.pkl'

# ---- lossy modes --------------------------------------------------------------
section lossy

tc "--exact=model: a note; expand gives an equal model, not the same bytes" text.pkl m.pkl
run 'treepack compress --exact=model text.pkl'
run 'first 4 treepack info text.tpk'
run 'treepack info --json text.tpk > out.json && jsonl out.json'
run 'treepack test text.tpk'
run 'treepack expand -o back.pkl text.tpk'
run 'cmp -s text.pkl back.pkl'
run 'treepack compress --exact=model m.pkl'
tc "--strip: each part, with its note" m.pkl stop.pkl rf.pkl
run 'treepack compress --strip=impurity -o i.tpk rf.pkl'
run 'treepack compress --strip=samples -o s.tpk rf.pkl'
run 'treepack compress --strip=stop-words -o w.tpk stop.pkl'
run 'treepack compress -q --strip=impurity -o q.tpk rf.pkl'
run 'treepack compress --strip=stop-words -o nothing.tpk m.pkl'
tc "--strip: several parts; the order does not matter; the record in info, test and expand" rf.pkl stop.pkl
run 'treepack compress --strip=impurity,samples -o a.tpk rf.pkl'
run 'treepack compress -q --strip=samples,impurity -o b.tpk rf.pkl && cmp a.tpk b.tpk'
run 'treepack compress -q --strip=impurity --strip=samples -o c.tpk rf.pkl && cmp a.tpk c.tpk'
run 'treepack compress --strip=impurity,samples,stop-words --exact=model -o all.tpk stop.pkl'
run 'first 9 treepack info a.tpk'
run 'treepack info --json a.tpk all.tpk > out.json && jsonl out.json'
run 'treepack test a.tpk'
run 'treepack expand -o back.pkl a.tpk'
run 'cmp -s rf.pkl back.pkl'
tc "--strip=samples is refused for an IsolationForest (its scores read n_node_samples)" iso.pkl
run 'treepack compress --strip=samples iso.pkl'
run 'treepack compress --strip=impurity iso.pkl'

finish_section
echo "$ncases cases, $nruns commands"
[ "$fail" = 0 ] && echo "all passed"
exit $fail
