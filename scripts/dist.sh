#!/usr/bin/env bash
# dist.sh: the source tarball of a commit and the OpenWrt feed that builds it.
#
# Usage: scripts/dist.sh [OUTDIR]      (default dist/; make dist)
#
# Writes
#   OUTDIR/knockd-go-<version>.tar.gz  git archive of HEAD under knockd-go-<version>/:
#                                      every mtime the commit's time, modes by
#                                      tar.umask 0022, gzip -n: the same bytes for the
#                                      same commit, on any machine, any day
#   OUTDIR/knockd-go-<version>.tar.gz.sha256
#   OUTDIR/openwrt-feed/               openwrt-feed/ of the repository, with
#                                      net/knockd-go/Makefile's PKG_VERSION, PKG_HASH
#                                      (the tarball's SHA-256) and PKG_MAINTAINER set
#
# <version> is the apk form of the package version without its release
# (scripts/cross.sh --pkg-version apk): 1.2.0, or 1.2.0_p3 three commits
# after v1.2.0; valid for the OpenWrt SDKs of both package managers.
# A dirty tree is packed as its commit (HEAD), with a warning.
#
# Environment:
#   MAINTAINER   "Name <email>" (default: git config user.name <user.email>)
#   DIST_URL     PKG_SOURCE_URL of the feed (default: the release of the tag
#                v<version> on GitHub)
#   VERSION      as for scripts/cross.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
die() { echo "dist.sh: $*" >&2; exit 1; }
case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; esac
# shellcheck source=scripts/lib/pkgtools.bash
. "$here/lib/pkgtools.bash"

out=${1:-$root/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
git -C "$root" rev-parse --verify -q HEAD >/dev/null || die "no commit to pack"
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] ||
	echo "dist.sh: warning: the tree has uncommitted changes; packing HEAD" >&2

pv=$("$here/cross.sh" --pkg-version apk 1)
pv=${pv%-r1}
maintainer=$(pkg_maintainer) || die "no maintainer"
name=knockd-go-$pv
tarball=$out/$name.tar.gz

# git archive of a commit: mtimes are the commit's time; the umask is set
# here so a user's tar.umask cannot change the bytes.
git -C "$root" -c tar.umask=0022 archive --format=tar --prefix="$name/" HEAD | gzip -9n >"$tarball.tmp"
mv "$tarball.tmp" "$tarball"
hash=$(sha256sum "$tarball" | cut -d' ' -f1)
echo "$hash  $name.tar.gz" >"$tarball.sha256"

url=${DIST_URL:-https://github.com/knockd-go/knockd-go/releases/download/v$pv}
rm -rf "$out/openwrt-feed"
git -C "$root" archive --format=tar HEAD openwrt-feed | tar -xf - -C "$out"
mk=$out/openwrt-feed/net/knockd-go/Makefile
# sed replacement text: escape \, & and the | delimiter.
esc() { printf '%s' "$1" | sed 's/[\\&|]/\\&/g'; }
sed -i -e "s|^PKG_VERSION:=.*|PKG_VERSION:=$(esc "$pv")|" \
	-e "s|^PKG_HASH:=.*|PKG_HASH:=$hash|" \
	-e "s|^PKG_SOURCE_URL:=.*|PKG_SOURCE_URL:=$(esc "$url")|" \
	-e "s|^PKG_MAINTAINER:=.*|PKG_MAINTAINER:=$(esc "$maintainer")|" "$mk"
for v in PKG_VERSION PKG_HASH PKG_SOURCE_URL PKG_MAINTAINER; do
	[ "$(grep -c "^$v:=" "$mk")" = 1 ] || die "$mk: want one $v:= line"
done
echo "$tarball $(wc -c <"$tarball") bytes, sha256 $hash"
echo "$mk: PKG_VERSION $pv, PKG_HASH $hash, PKG_MAINTAINER $maintainer"
