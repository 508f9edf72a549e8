# scripts/setup.sh: sourced by quickstart.sh and runtests.sh. Installs what
# the build and the tests need when it is missing (Debian/Ubuntu, as root or
# through sudo), then configures and builds refsweep in _build/.
# Nothing here runs when everything is already in place.
set -eu
top=$(cd "$(dirname "$0")" && pwd)
build="$top/_build"

# The build needs the first line; the test suite runs real programs and the
# peers refsweep is cross-checked against (second line), checks reports with
# jq, xmllint and a JSON schema validator (third), and fuzzes the trace
# reader with clang's libFuzzer (fourth).
RS_PACKAGES="autoconf automake libtool pkg-config make gcc binutils libunwind-dev libjansson-dev libdw-dev libelf-dev
 python3 perl sqlite3 tcl git bash bc valgrind liblsan0 strace gdb
 jq libxml2-utils python3-jsonschema
 clang libclang-rt-14-dev"

need_install() {
	for tool in autoreconf libtoolize pkg-config gcc make readelf; do
		command -v "$tool" >/dev/null 2>&1 || return 0
	done
	pkg-config --exists libunwind jansson libdw 2>/dev/null || return 0
	for tool in sqlite3 tclsh git valgrind strace clang bc jq xmllint; do
		command -v "$tool" >/dev/null 2>&1 || return 0
	done
	[ -e /usr/lib/x86_64-linux-gnu/liblsan.so.0 ] || return 0
	return 1
}

if need_install; then
	if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
		echo "setup: missing packages; as root run: apt-get install -y $(echo $RS_PACKAGES)" >&2
		exit 1
	fi
	echo "setup: installing build and test dependencies with apt-get" >&2
	$sudo apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $RS_PACKAGES >/dev/null
fi

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	echo "setup: autoreconf" >&2
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
	echo "setup: configure" >&2
	"$top/configure" -q
fi
echo "setup: make" >&2
make -s -j2 >/dev/null
make -s -j2 tests/integration/demo >/dev/null
cd "$top"
