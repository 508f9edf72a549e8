#!/bin/sh
# throughput.sh [MB] [REFSWEEP] [parsed]: the analyzer's reading speed and peak
# memory on a large trace=all trace (default 2048 MB). A synthetic trace
# following docs/trace-format.md is generated with awk: 4,096 distinct
# stacks, alloc/free/realloc lines (the bulk of such traces), a sweep with
# leak events every million lines, late frees, an exit event. Then
# `refsweep report -f json` reads it under /usr/bin/time; the script prints
# size, events, seconds, events per second and peak RSS. The reader counts
# alloc/free/realloc lines without parsing them when they start exactly as
# the shim writes them; "parsed" writes them with a space after ':' so
# every line goes through the JSON parser (the worst case).
# Not part of make check (minutes of disk and CPU). Example:
#   sh bench/analyzer/throughput.sh 2048 ./refsweep
set -eu
mb=${1:-2048}
rs=${2:-refsweep}
sep=""
[ "${3:-}" = parsed ] && sep=" "
dir=$(mktemp -d "${TMPDIR:-/tmp}/rs-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
trace="$dir/big.1.1.rsj"

awk -v target=$((mb * 1024 * 1024)) -v sep="$sep" 'BEGIN {
	srand(1);
	printf "{\"ev\":\"start\",\"schema\":\"refsweep-trace\",\"version\":\"1.0\",\"pid\":1,\"ppid\":0,\"exe\":\"/bin/big\",\"argv\":[\"big\"],\"time\":1,\"options\":{\"trace\":\"all\"}}\n";
	printf "{\"ev\":\"module\",\"path\":\"/bin/big\",\"base\":\"0x400000\",\"size\":1048576,\"main\":true}\n";
	for (s = 1; s <= 4096; s++)
		printf "{\"ev\":\"stack\",\"id\":%d,\"frames\":[\"0x%x\",\"0x%x\",\"0x%x\",\"0x%x\",\"0x%x\",\"0x%x\",\"0x%x\",\"0x%x\"],\"truncated\":false}\n", s, 4198400 + s * 16, 4202496 + s * 8, 4206592 + s, 4210688, 4214784, 4218880, 4222976, 4227072;
	bytes = 0; n = 0; seq = 0;
	while (bytes < target) {
		a = 140000000000000 + n * 48;
		line = sprintf("{\"ev\":" sep "\"alloc\",\"a\":\"0x%x\",\"n\":%d,\"s\":%d,\"tid\":1}", a, 16 + n % 512, 1 + n % 4096);
		print line; bytes += length(line) + 1;
		if (n % 3 == 0) {
			line = sprintf("{\"ev\":" sep "\"free\",\"a\":\"0x%x\",\"tid\":1}", a);
			print line; bytes += length(line) + 1;
		} else if (n % 7 == 0) {
			line = sprintf("{\"ev\":" sep "\"realloc\",\"a\":\"0x%x\",\"from\":\"0x%x\",\"n\":%d,\"s\":%d,\"tid\":1}", a + 24, a, 64, 1 + n % 4096);
			print line; bytes += length(line) + 1;
		}
		if (++n % 1000000 == 0) {
			seq++;
			for (s = 1; s <= 256; s++)
				printf "{\"ev\":\"leak\",\"sweep\":%d,\"kind\":\"definite\",\"stack\":%d,\"blocks\":%d,\"bytes\":%d,\"sample\":\"0x%x\"}\n", seq, s, seq, seq * 32, a;
			printf "{\"ev\":\"sweep\",\"seq\":%d,\"trigger\":\"count\",\"partial\":false,\"classes\":{\"definite\":{\"blocks\":%d,\"bytes\":%d}}}\n", seq, 256 * seq, 256 * seq * 32;
			printf "{\"ev\":\"late_free\",\"address\":\"0x%x\",\"size\":32,\"stack\":1,\"kind\":\"definite\",\"sweep\":%d}\n", a, seq;
		}
	}
	printf "{\"ev\":\"exit\",\"how\":\"return\",\"status\":0,\"signal\":0}\n";
}' >"$trace"

size=$(stat -c %s "$trace")
lines=$(wc -l <"$trace")
/usr/bin/time -f '%e %M' -o "$dir/time" "$rs" report -f json --no-symbolize "$trace" >"$dir/report.json"
read -r secs rss_kb <"$dir/time"
echo "trace: $((size / 1048576)) MB, $lines events"
echo "report -f json: ${secs} s, $(awk -v l="$lines" -v s="$secs" 'BEGIN { printf "%.0f", l / s }') events/s, peak RSS $((rss_kb / 1024)) MB"
jq -c '.summary.definite, .summary.freed_after_reported' "$dir/report.json"
