#!/usr/bin/env bash
# mkapk.sh: prepare OpenWrt >= 25.12 .apk packages (apk-tools 3, ADB format)
# of knockd-go and knock-go, and build them when apk-tools 3 is at hand.
#
# Usage: scripts/mkapk.sh OUTDIR [BINDIR]
#
# The packages get the same files as the .ipk (scripts/mkipk.sh builds those
# first and this script unpacks them), plus what OpenWrt's package-pack.mk adds
# for apk: /lib/apk/packages/<pkg>.list, .conffiles and .conffiles_static, and
# the post-install / post-upgrade / pre-deinstall scripts calling
# default_postinst / default_prerm. For each architecture and package it leaves
#   OUTDIR/apk-staging/<arch>/<pkg>/{files/,post-install,post-upgrade,pre-deinstall,mkpkg.sh}
# where mkpkg.sh is the `apk mkpkg` command line. With apk-tools 3 on PATH (or
# APK=/path/to/apk, e.g. the SDK's staging_dir/host/bin/apk) it runs them and
# writes OUTDIR/apk/<arch>/<pkg>-<version>.apk; without it, it says so and
# exits 0. Debian 12 has no apk-tools package.
#
# Environment: OPENWRT_ARCHS, PKG_RELEASE, SOURCE_DATE_EPOCH, VERSION, FILES_DIR
# as for mkipk.sh; APK (apk binary).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "mkapk.sh: $*" >&2; exit 1; }
case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; esac
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	die "usage: mkapk.sh OUTDIR [BINDIR]"
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
bindir=${2:-$out/bin}

release=${PKG_RELEASE:-1}
version=$("$here/cross.sh" --version)

# apk_version: apk-tools accepts digits{.digits}[letter]{_suffix[digits]}-r<N>;
# git's "-N-gHASH" becomes _pN, a dirty tree adds nothing.
apk_version() {
	local v=${1#v} base n=""
	base=$(printf '%s' "$v" | sed -n 's/^\([0-9][0-9]*\(\.[0-9][0-9]*\)*\).*/\1/p')
	[ -n "$base" ] || base=0.0.0
	n=$(printf '%s' "$v" | sed -n 's/^[0-9.]*-\([0-9][0-9]*\)-g[0-9a-f]*.*/\1/p')
	echo "$base${n:+_p$n}-r$release"
}
apkver=$(apk_version "$version")

APK=${APK:-$(command -v apk || true)}
have_apk=""
if [ -n "$APK" ] && "$APK" mkpkg --help >/dev/null 2>&1; then
	have_apk=1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ENTWARE_ARCHS="" "$here/mkipk.sh" "$work/ipk" "$bindir" >/dev/null

field() { sed -n "s/^$1: //p" "$2" | head -n 1; }
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

for ipk in "$work"/ipk/openwrt/*.ipk; do
	u=$work/u/$(basename "$ipk" .ipk)
	mkdir -p "$u/control"
	tar -xzOf "$ipk" ./control.tar.gz | tar -xzf - -C "$u/control"
	c=$u/control/control
	pkg=$(field Package "$c") arch=$(field Architecture "$c")
	s=$out/apk-staging/$arch/$pkg
	rm -rf "$s"
	mkdir -p "$s/files/lib/apk/packages"
	tar -xzOf "$ipk" ./data.tar.gz | tar -xzf - -C "$s/files"

	(cd "$s/files" && find . \( -type f -o -type l \) ! -path './lib/apk/packages/*' | sed 's|^\.||' | sort) \
		>"$s/files/lib/apk/packages/$pkg.list"
	if [ -f "$u/control/conffiles" ]; then
		cp "$u/control/conffiles" "$s/files/lib/apk/packages/$pkg.conffiles"
		while read -r f; do
			[ -f "$s/files$f" ] && echo "$f $(sha256sum <"$s/files$f" | cut -d' ' -f1)"
		done <"$u/control/conffiles" >"$s/files/lib/apk/packages/$pkg.conffiles_static"
	fi
	# shellcheck disable=SC2016 # text of the generated scripts
	{
		echo '#!/bin/sh'
		echo '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0'
		echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
		echo '. ${IPKG_INSTROOT}/lib/functions.sh'
		echo 'export root="${IPKG_INSTROOT}"'
		echo "export pkgname=\"$pkg\""
		echo 'add_group_and_user'
		echo 'default_postinst'
	} >"$s/post-install"
	{
		echo '#!/bin/sh'
		echo 'export PKG_UPGRADE=1'
		sed '/^#!/d' "$s/post-install"
	} >"$s/post-upgrade"
	# shellcheck disable=SC2016
	{
		echo '#!/bin/sh'
		echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
		echo '. ${IPKG_INSTROOT}/lib/functions.sh'
		echo 'export root="${IPKG_INSTROOT}"'
		echo "export pkgname=\"$pkg\""
		echo 'default_prerm'
	} >"$s/pre-deinstall"
	chmod 0755 "$s/post-install" "$s/post-upgrade" "$s/pre-deinstall"
	find "$s" -exec touch -h -d "@$(field SourceDateEpoch "$c")" {} +

	desc=$(sed -n '/^Description: /,$p' "$c" | sed 's/^Description: //; s/^ //' | tr '\n' ' ' | sed 's/ *$//')
	# shellcheck disable=SC2016,SC1003 # text of the generated script
	{
		echo '#!/bin/sh'
		echo "# apk mkpkg for $pkg $apkver ($arch); run with apk-tools 3 as root or under fakeroot"
		echo 'set -e'
		echo 'out=$(cd "${1:-.}" && pwd)'
		echo 'cd "$(dirname "$0")"'
		echo '"${APK:-apk}" mkpkg \'
		echo "  --info $(q "name:$pkg") \\"
		echo "  --info $(q "version:$apkver") \\"
		echo "  --info $(q "description:$desc") \\"
		echo "  --info $(q "arch:$arch") \\"
		echo "  --info $(q "license:$(field License "$c")") \\"
		echo "  --info $(q "origin:knockd-go") \\"
		echo "  --info $(q "url:$(field URL "$c")") \\"
		echo "  --info $(q "maintainer:$(field Maintainer "$c")") \\"
		echo "  --script post-install:post-install \\"
		echo "  --script post-upgrade:post-upgrade \\"
		echo "  --script pre-deinstall:pre-deinstall \\"
		echo "  --info depends: \\"
		echo "  --files files \\"
		echo "  --output \"\$out/$pkg-$apkver.apk\""
	} >"$s/mkpkg.sh"
	chmod 0755 "$s/mkpkg.sh"

	if [ -n "$have_apk" ]; then
		mkdir -p "$out/apk/$arch"
		APK=$APK sh "$s/mkpkg.sh" "$out/apk/$arch"
		echo "apk/$arch/$pkg-$apkver.apk $(wc -c <"$out/apk/$arch/$pkg-$apkver.apk")"
	else
		echo "staged apk-staging/$arch/$pkg ($apkver)"
	fi
done
if [ -z "$have_apk" ]; then
	echo "mkapk.sh: apk-tools 3 not found (set APK=...); inputs staged under $out/apk-staging," \
		"build each with its mkpkg.sh on a machine that has it (the OpenWrt 25.12 SDK does)."
fi
