#!/bin/sh
# The real programs of tests/real (python3, perl, sqlite3, gcc, git, bash,
# tclsh) under the shim: every trace of every process they start
# validates, with module events before the stacks that use them, and ends
# with an exit event; python3 also with trace=all, whose events alternate
# alloc/free per address. A program that is not installed is a failure in
# CI and a skip elsewhere.
. "$top_srcdir/tests/trace/lib.sh"
src="$top_srcdir/tests/real"
ran=0
export PYTHONMALLOC=malloc HOME="$work" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid

# check NAME OPTIONS VALIDATOR-ARGS CMD...
check() {
	name=$1 opts=$2 vargs=$3; shift 3
	if ! command -v "$1" >/dev/null 2>&1; then
		if [ -n "${CI:-}" ]; then fail "$name: $1 not installed"; else
			echo "SKIP: $name: $1 not installed" >&2; fi
		return
	fi
	rm -rf "$work/$name" "$work/cwd"; mkdir -p "$work/cwd"
	cp "$src"/workload.* "$work/cwd/"
	(cd "$work/cwd" && run_shim "dir=$work/$name,$opts" "$@")
	n=$(traces "$work/$name" | wc -l)
	[ "$n" -ge 1 ] || { fail "$name: no trace"; return; }
	for t in $(traces "$work/$name"); do
		valid "$work/$name/$t" --strict-modules --exit any $vargs
	done
	ran=$((ran + 1))
}
check python3 trace=leaks "" /usr/bin/python3 workload.py
check python3-all trace=all "--pairs" /usr/bin/python3 workload.py
check perl trace=leaks "" perl -e 'my %h; $h{"k$_"} = [$_] for 1..20000; print scalar(keys %h), "\n"'
check sqlite3 trace=leaks "" sh -c 'sqlite3 db.sqlite < workload.sql'
check gcc trace=leaks "" sh -c 'gcc -O2 -o prog workload.c && ./prog'
check git trace=leaks "" sh -c 'git init -q r && cd r && cp ../workload.c . && git add . && git commit -qm one && git log --oneline | wc -l'
check bash trace=leaks "" bash -c 'echo $( (echo a; echo b) | sort -r | head -1 )'
check tclsh trace=leaks "" sh -c 'echo "puts [string length [string repeat x 1000]]" | tclsh'
[ $ran -gt 0 ] || exit 77
finish
