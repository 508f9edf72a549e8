#!/bin/sh
# The shim runs inside malloc, before libc is ready and while the world is
# stopped, so preload/ may not call what can allocate, take a lock the
# program holds, print, or end the program. A line that must break a rule
# says why with "checksrc: allow" on it or on the line above.
set -u
dir="$top_srcdir/preload"
status=0
banned='(^|[^A-Za-z0-9_.>])(printf|fprintf|sprintf|snprintf|vfprintf|vsnprintf|puts|fputs|fopen|fdopen|fclose|fflush|perror|strdup|strndup|getenv|secure_getenv|setenv|putenv|qsort|opendir|readdir|scandir|setlocale|strerror|abort|assert|exit|atexit|dlerror|backtrace|backtrace_symbols|localtime|gmtime|ctime|strftime|system|popen)[[:space:]]*\('
alloc='(^|[^A-Za-z0-9_.>])(malloc|calloc|realloc|reallocarray|free|posix_memalign|aligned_alloc|memalign|valloc|pvalloc)[[:space:]]*\('
for f in "$dir"/*.c "$dir"/*.h; do
	[ -f "$f" ] || continue
	# Strip comments and strings, keep line numbers, drop allowed lines.
	awk -v banned="$banned" -v alloc="$alloc" -v file="${f#$top_srcdir/}" '
	BEGIN { incomment = 0 }
	{
		line = $0; raw = $0
		allowed = (raw ~ /checksrc: allow/) || prev_allow
		prev_allow = (raw ~ /checksrc: allow/)
		out = ""
		while (length(line) > 0) {
			if (incomment) {
				e = index(line, "*/")
				if (e == 0) { line = ""; break }
				line = substr(line, e + 2); incomment = 0; continue
			}
			s = index(line, "/*"); q = index(line, "\"")
			if (s > 0 && (q == 0 || s < q)) {
				out = out substr(line, 1, s - 1); line = substr(line, s + 2); incomment = 1; continue
			}
			if (q > 0) {
				out = out substr(line, 1, q - 1) "\"\""; line = substr(line, q + 1)
				while (match(line, /^([^"\\]|\\.)*"/)) { line = substr(line, RLENGTH + 1); break }
				continue
			}
			out = out line; line = ""
		}
		sub(/\/\/.*/, "", out)
		if (allowed) next
		if (out ~ banned) { printf "%s:%d: banned call in the shim: %s\n", file, NR, raw; bad = 1 }
		# The malloc family may be defined (intercept.c) but not called.
		if (out ~ alloc && out !~ /^(EXPORT|static|__attribute__)/ && out !~ /alias\(/) {
			printf "%s:%d: the shim must not call the malloc family: %s\n", file, NR, raw; bad = 1
		}
	}
	END { exit bad }' "$f" || status=1
done
[ $status -eq 0 ] && echo "checksrc: preload/ is clean" >&2
exit $status
