#!/usr/bin/env bash
# mkapk.sh: build OpenWrt >= 25.12 .apk packages (apk-tools 3, ADB format) of
# knockd-go, knock-go and the NOARCH_PACKAGES, without the SDK or apk-tools.
#
# Usage: scripts/mkapk.sh OUTDIR [BINDIR]
#
# Writes OUTDIR/apk/<arch>/<name>-<version>.apk (<arch> "noarch" for the
# architecture-independent ones), with src/tools/apkpack (apkpack
# mkpkg, the counterpart of the SDK's "apk mkpkg"), signed with the feed's
# EC key.
#
# Each .apk holds what OpenWrt's package-pack.mk gives "apk mkpkg" for the
# same package: the files of the .ipk (scripts/mkipk.sh builds those; this
# script unpacks them), plus /lib/apk/packages/<name>.list (every file and
# symlink), .conffiles and .conffiles_static (path and SHA-256); the
# post-install, post-upgrade and pre-deinstall scripts that call
# default_postinst / default_prerm and then run the package's own postinst /
# prerm; pre-install and pre-upgrade from its preinst, post-deinstall from its
# postrm. Info: name, version, description, arch, license, origin, url,
# maintainer, depends, and the virtual provide <name>-any OpenWrt adds;
# the .ipk's Provides as apk's versioned provides (knockd-go-full provides
# knockd-go=<version>: one of the two is installed, and apk add
# knockd-go-full replaces knockd-go), and provider-priority 100 for the
# default variant of the feed Makefile (DEFAULT_VARIANT), as package-pack.mk.
#
# The version is apk's form of the embedded version, from cross.sh
# --pkg-version (one place for .ipk and .apk): v1.2.0-3-gabc1234 ->
# 1.2.0_p3-r<PKG_RELEASE> (apk refuses free-form versions).
#
# Environment: OPENWRT_ARCHS, PKG_RELEASE, SOURCE_DATE_EPOCH, VERSION,
# FILES_DIR, NOARCH_PACKAGES as for mkipk.sh;
#   IPK_DIR        directory of OpenWrt .ipk files to convert (default: build
#                  them with mkipk.sh)
#   APK_SIGN_KEY   EC private key (PEM) (default: $FEED_KEYS/apk-private.pem if
#                  it exists; otherwise the packages are unsigned and install
#                  only from a signed index or with apk add --allow-untrusted)
#   FEED_KEYS      key directory of scripts/feed-keys.sh (default: OUTDIR/keys)
#   APKPACK        apkpack binary (default: built from the tree)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${KNOCKD_GO_SRC:-$(cd "$here/.." && pwd)}
die() { echo "mkapk.sh: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/pkgtools.bash
. "$here/lib/pkgtools.bash"
case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; esac
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	die "usage: mkapk.sh OUTDIR [BINDIR]"
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
bindir=${2:-$out/bin}

release=${PKG_RELEASE:-1}

# The package version: cross.sh computes it for .ipk and .apk alike.
apkver=$("$here/cross.sh" --pkg-version apk "$release")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build_pkgtools "$work/tools"

key=${APK_SIGN_KEY:-}
if [ -z "$key" ] && [ -f "${FEED_KEYS:-$out/keys}/apk-private.pem" ]; then
	key=${FEED_KEYS:-$out/keys}/apk-private.pem
fi
if [ -n "$key" ]; then
	[ -f "$key" ] || die "APK_SIGN_KEY $key: no such file"
	key=$(cd "$(dirname "$key")" && pwd)/$(basename "$key")
fi

ipkdir=${IPK_DIR:-}
if [ -z "$ipkdir" ]; then
	ENTWARE_ARCHS="" "$here/mkipk.sh" "$work/ipk" "$bindir" >/dev/null
	ipkdir=$work/ipk/openwrt
fi
compgen -G "$ipkdir/*.ipk" >/dev/null || die "no .ipk in $ipkdir"
# One build only: every package gets the version computed above.
versions=$(for ipk in "$ipkdir"/*.ipk; do b=$(basename "$ipk" .ipk); b=${b#*_}; echo "${b%%_*}"; done | sort -u)
[ "$(wc -l <<<"$versions")" = 1 ] || die "$ipkdir holds packages of several versions: $(tr '\n' ' ' <<<"$versions")"

field() { sed -n "s/^$1: //p" "$2" | head -n 1; }

# script_body FILE: a script without its #! line(s), as package-pack.mk
# appends one script to another.
script_body() { [ ! -f "$1" ] || sed '/^[[:space:]]*#!/d' "$1"; }

# write_scripts CONTROLDIR PKG S: the apk scripts of package-pack.mk into S/.
write_scripts() {
	local c=$1 pkg=$2 s=$3
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
		script_body "$c/postinst-pkg"
	} >"$s/post-install"
	{
		echo '#!/bin/sh'
		echo 'export PKG_UPGRADE=1'
		script_body "$s/post-install"
	} >"$s/post-upgrade"
	# shellcheck disable=SC2016
	{
		echo '#!/bin/sh'
		echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
		echo '. ${IPKG_INSTROOT}/lib/functions.sh'
		echo 'export root="${IPKG_INSTROOT}"'
		echo "export pkgname=\"$pkg\""
		echo 'default_prerm'
		script_body "$c/prerm-pkg"
	} >"$s/pre-deinstall"
	if [ -f "$c/preinst" ]; then
		cp "$c/preinst" "$s/pre-install"
		{
			echo '#!/bin/sh'
			echo 'export PKG_UPGRADE=1'
			script_body "$c/preinst"
		} >"$s/pre-upgrade"
	fi
	[ ! -f "$c/postrm" ] || sed -z 's/^[[:space:]]*#!/#!/' "$c/postrm" >"$s/post-deinstall"
}

# apk_depends "a, b (>= 1.0)": opkg's Depends as package-pack.mk gives it to
# apk: parentheses and spaces dropped, one dependency per word.
apk_depends() { printf '%s' "$1" | tr -d ' ()' | tr ',' ' '; }
# apk_provides NAME "a, b": NAME's virtual NAME-any and a=VERSION b=VERSION.
apk_provides() {
	local p out="$1-any"
	for p in $(printf '%s' "$2" | tr ',' ' '); do out="$out $p=$apkver"; done
	echo "$out"
}
feed_mk=$(feed_makefile knockd-go)

n=0
for ipk in "$ipkdir"/*.ipk; do
	u=$work/u/$(basename "$ipk" .ipk)
	mkdir -p "$u/control" "$u/scripts"
	tar -xzOf "$ipk" ./control.tar.gz | tar -xzf - -C "$u/control"
	c=$u/control/control
	pkg=$(field Package "$c") arch=$(field Architecture "$c")
	[ "$arch" = all ] && arch=noarch
	f=$u/files
	mkdir -p "$f/lib/apk/packages"
	tar -xzOf "$ipk" ./data.tar.gz | tar -xzf - -C "$f"

	(cd "$f" && find . \( -type f -o -type l \) ! -path './lib/apk/packages/*' | sed 's|^\.||' | LC_ALL=C sort) \
		>"$f/lib/apk/packages/$pkg.list"
	if [ -f "$u/control/conffiles" ]; then
		cp "$u/control/conffiles" "$f/lib/apk/packages/$pkg.conffiles"
		while read -r cf; do
			[ -f "$f$cf" ] && echo "$cf $(sha256sum <"$f$cf" | cut -d' ' -f1)"
		done <"$u/control/conffiles" >"$f/lib/apk/packages/$pkg.conffiles_static"
	fi
	# apk has no Require-User: OpenWrt's default_postinst reads the
	# users to create from the package's .rusers file.
	ru=$(field Require-User "$c")
	[ -n "$ru" ] && printf '%s\n' "$ru" >"$f/lib/apk/packages/$pkg.rusers"
	chmod 0644 "$f"/lib/apk/packages/*
	write_scripts "$u/control" "$pkg" "$u/scripts"
	epoch=$(field SourceDateEpoch "$c")

	desc=$(sed -n '/^Description: /,$p' "$c" | sed 's/^Description: //; s/^ //' | tr '\n' ' ' | sed 's/  */ /g; s/ *$//')
	args=(--info "name:$pkg" --info "version:$apkver" --info "description:$desc" --info "arch:$arch"
		--info "license:$(field License "$c")" --info "origin:$(field Source "$c")"
		--info "url:$(field URL "$c")" --info "maintainer:$(field Maintainer "$c")"
		--info "provides:$(apk_provides "$pkg" "$(field Provides "$c")")" --info "depends:$(apk_depends "$(field Depends "$c")")")
	if [ "$(feed_field "$feed_mk" "$pkg" DEFAULT_VARIANT)" = 1 ]; then args+=(--info "provider-priority:100"); fi
	for t in pre-install post-install pre-upgrade post-upgrade pre-deinstall post-deinstall; do
		[ -f "$u/scripts/$t" ] && args+=(--script "$t:$u/scripts/$t")
	done
	[ -n "$key" ] && args+=(--sign-key "$key")
	mkdir -p "$out/apk/$arch"
	dest=$out/apk/$arch/$pkg-$apkver.apk
	SOURCE_DATE_EPOCH=$epoch "$APKPACK" mkpkg "${args[@]}" --files "$f" --output "$dest" ||
		die "$pkg ($arch): apkpack mkpkg failed"
	printf '%-52s %9d\n' "apk/$arch/$(basename "$dest")" "$(wc -c <"$dest")"
	n=$((n + 1))
done
if [ -n "$key" ]; then
	echo "mkapk.sh: $n packages, version $apkver, signed with $key"
else
	echo "mkapk.sh: $n packages, version $apkver, unsigned (no APK_SIGN_KEY, no $out/keys/apk-private.pem)"
fi
