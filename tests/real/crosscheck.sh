#!/bin/sh
# usage: tests/real/crosscheck.sh [-b BUILDDIR] [-k KEEPDIR] [PROGRAM...]
#
# Cross-check campaign (slow, ~30 s; not part of `make check`): runs short
# deterministic commands of real Debian programs under refsweep, under
# valgrind memcheck (--trace-children=yes, one log per process image) and with
# LeakSanitizer preloaded (liblsan.so.0, exitcode=0), and prints a markdown
# table with one row per process image that reached exit: blocks (bytes) per
# class on each side, and the verdict on refsweep's leaks (definite +
# indirect + cycle) against valgrind's (definitely + indirectly lost).
# Processes are matched across tools by argv[0]'s basename and start order.
# refsweep's figures are each process's own exit sweep (blocks inherited
# through fork included, as valgrind and LeakSanitizer count them), not the
# report's summary (which counts an inherited block once, as the parent's).
#   -b BUILDDIR  where `refsweep` and .libs/librefsweep.so are
#                (default: $top_builddir, else the current directory)
#   -k KEEPDIR   keep every tool's output there (refsweep traces, valgrind
#                logs vg.PID.N, LeakSanitizer logs lsan.EXE.PID) for the stacks
#   PROGRAM...   only these rows (names as in the list below); default all
# Environment: VALGRIND_EXTRA (extra valgrind options, e.g.
# --run-libc-freeres=no), LSAN (path of liblsan.so.0).
set -u
build=${top_builddir:-.}
keep=
while getopts b:k: opt; do
	case $opt in
		b) build=$OPTARG ;;
		k) keep=$OPTARG ;;
		*) sed -n '2p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
rs="$build/refsweep"
[ -x "$rs" ] || { echo "crosscheck: $rs not built" >&2; exit 2; }
rs=$(cd "$(dirname "$rs")" && pwd)/refsweep
lsan=${LSAN:-/usr/lib/x86_64-linux-gnu/liblsan.so.0}
command -v valgrind >/dev/null || { echo "crosscheck: valgrind not installed" >&2; exit 2; }
[ -e "$lsan" ] || { echo "crosscheck: $lsan missing" >&2; exit 2; }
py=/usr/bin/python3
if [ -n "$keep" ]; then work=$keep; rm -rf "$work"; mkdir -p "$work"
else work=$(mktemp -d "${TMPDIR:-/tmp}/rs-xc.XXXXXX"); trap 'rm -rf "$work"' EXIT; fi
work=$(cd "$work" && pwd)

all="python3 perl perl-dumper bash dash git-commit git-log sqlite3 gcc mawk sed grep
	sort tar-czf tar-xzf gzip find make tclsh xmllint jq"
[ $# -gt 0 ] && all="$*"

# The same environment for every tool (refsweep run sets PYTHONMALLOC itself).
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0
export LC_ALL=C.UTF-8 HOME="$work/home"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t
export GIT_COMMITTER_EMAIL=t@example.invalid GIT_AUTHOR_DATE='2026-01-01T00:00:00Z'
export GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"

# Fixture files every command may use; each run gets a fresh copy.
fx="$work/fixture"
mkdir -p "$fx/tree/sub"
cat >"$fx/script.py" <<'EOF'
import json, re, collections
c = collections.Counter(re.findall(r"\w+", "a b a c b a"))
print(json.dumps(sorted(c.items())), collections.OrderedDict(x=1))
EOF
cat >"$fx/t.c" <<'EOF'
#include <stdio.h>
struct p { int x, y; };
static int add(struct p a) { return a.x + a.y; }
int main(void) { struct p a = { 1, 2 }; printf("%d\n", add(a)); return 0; }
EOF
printf '%s\n' 3 banana 10 foo apple 1 bar foooo 7 baz >"$fx/data.txt"
printf 'all: a.o\na.o: t.c\n\t$(CC) -c t.c -o $@\nclean:\n\trm -f a.o\n' >"$fx/Makefile"
cat >"$fx/script.tcl" <<'EOF'
set d [dict create]
foreach w {a b c a b a} { dict incr d $w }
puts [lsort -stride 2 [dict get $d]]
puts [regsub -all {a+} "banana" X]
EOF
printf '<?xml version="1.0"?>\n<r><i n="1">a</i><i n="2">b</i></r>\n' >"$fx/doc.xml"
printf '{"a":[1,2,{"b":"c"}],"d":{"e":null}}\n' >"$fx/data.json"
cp "$fx/t.c" "$fx/data.txt" "$fx/tree/"; cp "$fx/doc.xml" "$fx/tree/sub/"
(cd "$fx" && tar czf tree.tgz tree)

# prog NAME: sets setup (shell code run natively first, in the run directory)
# and cmd (the measured command, for eval "set -- $cmd").
prog() {
	setup=:
	case $1 in
		python3) cmd='/usr/bin/python3 script.py' ;;
		perl) cmd="perl -e 'print 1'" ;;
		perl-dumper) cmd="perl -MData::Dumper -e 'print Dumper({a => [1, 2], b => q(x)})'" ;;
		bash) cmd="bash -c 'echo a b c | tr \" \" \"\\n\" | sort -r | head -n 2; (cd tree && echo \$PWD); x=\$(echo sub); echo \$x'" ;;
		dash) cmd="dash -c 'for i in 1 2 3; do echo \$i; done | cat; x=\$(echo sub); echo \$x'" ;;
		git-commit) setup='git init -q -b main . && git add .'; cmd="git commit -q -m first" ;;
		git-log) setup='git init -q -b main . && git add . && git commit -q -m first'
			cmd="git log --format='%H %s'" ;;
		sqlite3) cmd="sqlite3 :memory: \"create table t(a, b); insert into t values (1, 'x'), (2, 'y'); create index i on t(b); select a, b from t order by b desc;\"" ;;
		gcc) cmd='gcc -O1 -c t.c -o t.o' ;;
		mawk) cmd="mawk '/^[0-9]+\$/ { s += \$1 } END { print s, NR }' data.txt" ;;
		sed) cmd="sed -E 's/(o+)|a/<\\1>/g' data.txt" ;;
		grep) cmd="grep -E '^(fo+|ba[rz])\$' data.txt" ;;
		sort) cmd='sort -n data.txt' ;;
		tar-czf) cmd='tar czf out.tgz tree' ;;
		tar-xzf) cmd='tar xzf tree.tgz -C tree/sub' ;;
		gzip) cmd='gzip -k data.txt' ;;
		find) cmd="find . -name '*.c' -o -name '*.xml'" ;;
		make) cmd='make -n' ;;
		tclsh) cmd='tclsh script.tcl' ;;
		xmllint) cmd="xmllint --xpath '//i[@n=2]/text()' doc.xml" ;;
		jq) cmd="jq -c '.a[2], (.d | keys)' data.json" ;;
		*) echo "crosscheck: unknown program $1" >&2; return 1 ;;
	esac
}

# fresh NAME TOOL: a new copy of the fixture, with NAME's setup done in it.
fresh() {
	d="$work/$1/$2"
	rm -rf "$d"; mkdir -p "$d/out"; cp -R "$fx" "$d/run"
	(cd "$d/run" && eval "$setup") >/dev/null 2>&1
}

cat >"$work/parse.py" <<'EOF'
import glob, json, os, re, sys

def num(s): return int(s.replace(",", ""))

def refsweep(d):
    procs = []
    for f in glob.glob(os.path.join(d, "*.rsj")):
        start, last = None, None
        for line in open(f, errors="replace"):
            if '"ev":"start"' in line: start = json.loads(line)
            elif '"ev":"sweep"' in line and '"trigger":"exit"' in line: last = json.loads(line)
        if not start or not last: continue
        c = {k: (v["blocks"], v["bytes"]) for k, v in last["classes"].items()}
        if last.get("partial"): c["partial"] = True
        procs.append((os.path.basename(start["argv"][0]), start["pid"], c))
    return procs

def valgrind(d):
    procs = []
    for f in glob.glob(os.path.join(d, "vg.*")):
        t = open(f, errors="replace").read()
        m = re.search(r"==(\d+)== Command: (\S+)", t)
        if not m: continue
        c = {}
        for k, lab in (("definite", "definitely lost"), ("indirect", "indirectly lost"),
                       ("possible", "possibly lost"), ("reachable", "still reachable"),
                       ("suppressed", "suppressed")):
            x = re.search(lab + r": ([\d,]+) bytes in ([\d,]+) blocks", t)
            if x: c[k] = (num(x.group(2)), num(x.group(1)))
        if "All heap blocks were freed" in t:
            c = {k: (0, 0) for k in ("definite", "indirect", "possible", "reachable", "suppressed")}
        if not c: continue          # an image that exec'd: no leak check
        procs.append((os.path.basename(m.group(2).replace("\\ ", " ")), int(m.group(1)), c))
    return procs

def lsan(d):
    # One log per process that reported; a process with no log leaked nothing.
    procs = {}
    for f in glob.glob(os.path.join(d, "lsan.*")):
        pid = int(f.rsplit(".", 1)[1])
        t = open(f, errors="replace").read()
        c = {"direct": [0, 0], "indirect": [0, 0]}
        for kind, b, n in re.findall(r"(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object", t):
            c[kind.lower()][0] += int(n); c[kind.lower()][1] += int(b)
        if "LeakSanitizer has encountered a fatal error" in t or "Tracer caught signal" in t:
            c["error"] = True
        procs[pid] = c
    return procs

def order(procs):
    seen, out = {}, {}
    for name, pid, c in sorted(procs, key=lambda p: p[1]):
        i = seen.get(name, 0); seen[name] = i + 1
        out[(name, i)] = (pid, c)
    return out

def cell(c, k):
    if k not in c: return "–"
    b, n = c[k]
    return "%d (%d)" % (b, n) if b else "0"

def add(c, *ks):
    return (sum(c.get(k, (0, 0))[0] for k in ks), sum(c.get(k, (0, 0))[1] for k in ks))

name, base = sys.argv[1], sys.argv[2]
rs = order(refsweep(os.path.join(base, "refsweep/out")))
vg = order(valgrind(os.path.join(base, "valgrind/out")))
ls = lsan(os.path.join(base, "lsan/out"))
st = int(open(os.path.join(base, "lsan/status")).read())
# liblsan's signal() interceptor has no real function to call when it is
# preloaded (it warns "REAL(sigaction_symname) == nullptr"): programs that
# call signal() die with SIGSEGV. A crashed child shows in its parent's
# stderr only when the parent says so (gcc does).
crashed = set(re.findall(r"signal terminated program (\S+)",
                         open(os.path.join(base, "lsan/stderr"), errors="replace").read()))
# LeakSanitizer's logs carry the executable's name: match them the same way.
lo = {}
for f in glob.glob(os.path.join(base, "lsan/out", "lsan.*")):
    exe, pid = f.rsplit(".", 2)[-2:]
    lo.setdefault(exe, []).append(int(pid))
lo = {(exe, i): ls[p] for exe, ps in lo.items() for i, p in enumerate(sorted(ps))}
for key in sorted(set(rs) | set(vg), key=lambda k: (rs.get(k, vg.get(k))[0])):
    r = rs.get(key, (0, None))[1]; v = vg.get(key, (0, None))[1]
    l = lo.get(key)
    proc = "%s" % key[0] + ("#%d" % key[1] if key[1] else "")
    rc = "–" if r is None else " / ".join(cell(r, k) for k in ("definite", "indirect", "cycle", "possible", "reachable"))
    vc = "–" if v is None else " / ".join(cell(v, k) for k in ("definite", "indirect", "possible", "reachable", "suppressed"))
    if st > 128 and key == min(rs, key=lambda k: rs[k][0]): lc = "crashed (signal %d)" % (st - 128)
    elif key[0] in crashed and l is None: lc = "crashed"
    elif l is None: lc = "0"
    elif l.get("error"): lc = "fatal error"
    else: lc = "%s / %s" % tuple("%d (%d)" % tuple(l[k]) if l[k][0] else "0" for k in ("direct", "indirect"))
    if r is None or v is None: verdict = "unmatched"
    else:
        a, b = add(r, "definite", "indirect", "cycle"), add(v, "definite", "indirect")
        if r.get("partial"): verdict = "refsweep sweep partial"
        elif a == b:
            verdict = "agree" if add(r, "definite", "cycle") == add(v, "definite") else "agree (sum)"
        elif a[0] > b[0]: verdict = "refsweep +%d blocks: FALSE LEAK?" % (a[0] - b[0])
        elif a[0] < b[0]: verdict = "refsweep −%d blocks: MISSED?" % (b[0] - a[0])
        else: verdict = "same blocks, bytes %+d" % (a[1] - b[1])
    print("| %s | %s | %s | %s | %s | %s |" % (name, proc, rc, vc, lc, verdict))
EOF

echo "| program | process | refsweep definite / indirect / cycle / possible / reachable | valgrind definitely / indirectly / possibly lost / still reachable / suppressed | LSan direct / indirect | verdict |"
echo "|---|---|---|---|---|---|"
for name in $all; do
	prog "$name" || continue
	eval "set -- $cmd"
	if ! command -v "$1" >/dev/null 2>&1; then echo "| $name | not installed | | | | |"; continue; fi
	fresh "$name" refsweep
	(cd "$d/run" && nice -n 10 "$rs" run -q -o "$d/out" -- "$@") >"$d/stdout" 2>"$d/stderr" </dev/null
	fresh "$name" valgrind
	(cd "$d/run" && nice -n 10 valgrind --trace-children=yes --leak-check=full \
		--show-leak-kinds=all --num-callers=40 ${VALGRIND_EXTRA:-} \
		--log-file="$d/out/vg.%p.%n" "$@") >"$d/stdout" 2>"$d/stderr" </dev/null
	fresh "$name" lsan
	(cd "$d/run" && LD_PRELOAD="$lsan" \
		LSAN_OPTIONS="exitcode=0:log_exe_name=1:log_path=$d/out/lsan" nice -n 10 "$@") \
		>"$d/stdout" 2>"$d/stderr" </dev/null
	echo $? >"$d/status"
	$py "$work/parse.py" "$name" "$work/$name"
done
