#!/usr/bin/env bash
# pkg-versions-real.sh: the .ipk and .apk versions of successive builds
# (scripts/cross.sh --pkg-version), ordered by the package managers
# themselves: `apk version -t` (apk-tools 3) and `opkg-cl compare-versions`
# (opkg-lede), from OPENWRT_TOOLS. The same order is checked without the
# tools, in the pure tier, by src/internal/pkgver (TestSuccessiveBuilds).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
skip() { echo "SKIP: pkg-versions-real: $*"; exit 0; }
tools=${OPENWRT_TOOLS:-}
[ -n "$tools" ] || skip "OPENWRT_TOOLS not set (the prefix holding bin/apk and bin/opkg-cl, built from source)"
for t in apk opkg-cl; do
	[ -x "$tools/bin/$t" ] || skip "no $tools/bin/$t (OPENWRT_TOOLS=$tools)"
done
export LD_LIBRARY_PATH=$tools/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# opkg reads a configuration even to compare versions: an empty root's.
mkdir -p "$tmp/root/var/lock"
echo "dest root /" >"$tmp/opkg.conf"
opkg() { "$tools/bin/opkg-cl" -f "$tmp/opkg.conf" -o "$tmp/root" "$@"; }

# Successive builds in commit order (as in src/internal/pkgver).
builds="0.1.0-9-gffffff0 0.1.0-10-g0000001 0.1.0-171-gc64c8e0 v0.1.1 v0.1.1-1-gabcdef0 v0.1.1-2-g0123456 v0.2.0 v1.0.0 v1.0.0-1-g1111111"
pass=0 fail=0
prev_ipk="" prev_apk=""
for v in $builds; do
	ipk=$(VERSION=$v bash "$here/scripts/cross.sh" --pkg-version ipk 1)
	apk=$(VERSION=$v bash "$here/scripts/cross.sh" --pkg-version apk 1)
	if [ -n "$prev_ipk" ]; then
		if opkg compare-versions "$prev_ipk" '<<' "$ipk"; then
			echo "ok   opkg: $prev_ipk << $ipk"; pass=$((pass + 1))
		else
			echo "FAIL opkg: not $prev_ipk << $ipk"; fail=$((fail + 1))
		fi
		r=$("$tools/bin/apk" version -t "$prev_apk" "$apk" 2>&1 || true)
		if [ "$r" = "<" ]; then
			echo "ok   apk: $prev_apk < $apk"; pass=$((pass + 1))
		else
			echo "FAIL apk version -t $prev_apk $apk: $r"; fail=$((fail + 1))
		fi
	fi
	prev_ipk=$ipk prev_apk=$apk
done
echo "pkg-versions-real: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
