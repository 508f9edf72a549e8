#!/bin/sh
# run-fuzz.sh [SECONDS]: builds the trace reader's libFuzzer target with
# clang (-fsanitize=fuzzer,address,undefined) and runs it for SECONDS
# (default 60) on the seed corpus in tests/fuzz/corpus. Exit 0 when no
# crash, leak or timeout was found; otherwise libFuzzer's exit status and
# the reproducer in $FUZZ_WORK (default: a temporary directory, kept on
# failure). Needs clang, pkg-config, jansson and libdw development files.
#
#   sh tests/fuzz/run-fuzz.sh 60
set -eu
secs=${1:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/rs-fuzz.XXXXXX")}
mkdir -p "$work/corpus"
command -v clang >/dev/null || { echo "run-fuzz: clang is not installed"; exit 77; }
version=$(sed -n 's/^AC_INIT(\[refsweep\], \[\([^]]*\)\].*/\1/p' "$src/configure.ac")
printf '#define PACKAGE_VERSION "%s"\n' "${version:-0}" >"$work/config.h"
# shellcheck disable=SC2046
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$work" -I"$src/include" -I"$src/analyzer" \
	$(pkg-config --cflags jansson libdw) \
	"$src/tests/fuzz/fuzz_reader.c" \
	"$src/analyzer/util.c" "$src/analyzer/reader.c" "$src/analyzer/model.c" \
	"$src/analyzer/symbolize.c" "$src/analyzer/gate.c" \
	"$src/analyzer/report_json.c" \
	$(pkg-config --libs jansson libdw) -lstdc++ -o "$work/fuzz_reader"
cp "$src"/tests/fuzz/corpus/* "$work/corpus/" 2>/dev/null || true
cd "$work"
status=0
./fuzz_reader -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -print_final_stats=1 corpus >fuzz.log 2>&1 || status=$?
tail -n 15 fuzz.log
if [ "$status" -eq 0 ]; then
	echo "run-fuzz: ${secs}s, no crash, leak or timeout"
	[ -n "${FUZZ_WORK:-}" ] || rm -rf "$work"
else
	echo "run-fuzz: FAILED (status $status); reproducer and log in $work"
fi
exit "$status"
