#!/usr/bin/env bash
# dist.sh: make dist (scripts/dist.sh) writes the same source tarball for the
# same commit — from two clones at different paths, with different umasks,
# time zones and file times — and the feed it writes carries that tarball's
# real PKG_HASH, the package version and MAINTAINER; the feed Makefile then
# passes scripts/test/feed-makefile.sh.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2016 # bash -c scripts and make syntax in single quotes
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=lib/checks.bash
. "$here/scripts/test/lib/checks.bash"

export MAINTAINER="Test Maintainer <maintainer@example.org>"
# Two clones of the same commit (a committed snapshot of this tree when it
# has uncommitted changes, so the test sees them).
src=$here
if [ -n "$(git -C "$here" status --porcelain --untracked-files=no)" ]; then
	git clone -q "$here" "$tmp/snap"
	(cd "$here" && git diff HEAD --binary) | (cd "$tmp/snap" && git apply --index)
	git -C "$tmp/snap" -c user.name=t -c user.email=t@example.org commit -qm snapshot --date=@1700000000
	src=$tmp/snap
fi
git clone -q "$src" "$tmp/a"
git clone -q "$src" "$tmp/other-path-b"
find "$tmp/other-path-b" -path '*/.git' -prune -o -type f -exec touch -d '2001-02-03 04:05:06' {} +
(cd "$tmp/a" && umask 0022 && TZ=UTC bash scripts/dist.sh "$tmp/out-a") >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; fail "make dist"; summary; }
(cd "$tmp/other-path-b" && umask 0077 && TZ=Asia/Kolkata git -c tar.umask=0077 -c core.autocrlf=true status >/dev/null && TZ=Asia/Kolkata bash scripts/dist.sh "$tmp/out-b") >"$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; fail "make dist (second clone)"; summary; }

pv=$(cd "$tmp/a" && bash scripts/cross.sh --pkg-version apk 1)
pv=${pv%-r1}
ta=$tmp/out-a/knockd-go-$pv.tar.gz
tb=$tmp/out-b/knockd-go-$pv.tar.gz
check "tarball named by the package version ($(basename "$ta"))" test -f "$ta"
check "the same bytes from two clones (other path, umask, time zone, file times)" cmp -s "$ta" "$tb"
(cd "$tmp/a" && sleep 1 && bash scripts/dist.sh "$tmp/out-a2") >/dev/null 2>&1
check "the same bytes when run again later" cmp -s "$ta" "$tmp/out-a2/knockd-go-$pv.tar.gz"
check "gzip header: no name, no time (gzip -n)" test "$(od -An -tx1 -j4 -N4 "$ta" | tr -d ' ')" = 00000000
hash=$(sha256sum "$ta" | cut -d' ' -f1)
check "the .sha256 file holds the tarball's hash" test "$(cut -d' ' -f1 "$ta.sha256")" = "$hash"
check "every entry under knockd-go-$pv/" bash -c '! tar -tzf "$1" | grep -v "^knockd-go-$2/"' _ "$ta" "$pv"
check "the tarball holds the module (go.mod) and the feed" bash -c 'tar -tzf "$1" | grep -qx "knockd-go-$2/go.mod" && tar -tzf "$1" | grep -qx "knockd-go-$2/openwrt-feed/net/knockd-go/Makefile"' _ "$ta" "$pv"
mtimes=$(tar -tvzf "$ta" | awk '{print $4, $5}' | sort -u | wc -l)
check "one mtime for every entry (the commit's)" test "$mtimes" = 1

mk=$tmp/out-a/openwrt-feed/net/knockd-go/Makefile
check "feed Makefile: PKG_HASH is the tarball's SHA-256" grep -qx "PKG_HASH:=$hash" "$mk"
check "feed Makefile: PKG_VERSION $pv" grep -qx "PKG_VERSION:=$pv" "$mk"
check "feed Makefile: PKG_SOURCE is the tarball's name" grep -qx 'PKG_SOURCE:=$(PKG_NAME)-$(PKG_VERSION).tar.gz' "$mk"
check "feed Makefile: PKG_MAINTAINER is MAINTAINER" grep -qxF "PKG_MAINTAINER:=$MAINTAINER" "$mk"
check "feed Makefile: no PKG_MIRROR_HASH, no skip" bash -c '! grep -Eq "PKG_MIRROR_HASH|:=skip" "$1"' _ "$mk"
check "the feed of the other clone is the same" diff -r "$tmp/out-a/openwrt-feed" "$tmp/out-b/openwrt-feed"
if FEED_MAKEFILE=$mk bash "$here/scripts/test/feed-makefile.sh" >"$tmp/fm.log" 2>&1; then
	pass "feed-makefile.sh passes on the written Makefile ($(tail -1 "$tmp/fm.log"))"
else
	cat "$tmp/fm.log"
	fail "feed-makefile.sh on the written Makefile"
fi
summary
