#!/bin/sh
# get-sarif-schema.sh: puts the SARIF 2.1.0 JSON schema where
# tests/analyzer/formats.sh looks for it (${XDG_CACHE_HOME:-~/.cache}/
# refsweep/sarif-2.1.0.json). The schema ships inside Microsoft's SARIF
# multitool package on the npm registry; fetched with npm's own client.
# Not part of make check (it needs the registry); CI may run it first.
set -eu
dir="${XDG_CACHE_HOME:-$HOME/.cache}/refsweep"
[ -s "$dir/sarif-2.1.0.json" ] && { echo "$dir/sarif-2.1.0.json"; exit 0; }
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @microsoft/sarif-multitool-linux@5.7.0 >/dev/null)
tar -xzf "$tmp"/microsoft-sarif-multitool-linux-*.tgz -C "$tmp" package/sarif-2.1.0.json
mv "$tmp/package/sarif-2.1.0.json" "$dir/sarif-2.1.0.json"
echo "$dir/sarif-2.1.0.json"
