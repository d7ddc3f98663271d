#!/usr/bin/env bash
# mkipk.sh: build installable .ipk packages of knockd-go without the OpenWrt SDK.
#
# Usage: scripts/mkipk.sh OUTDIR [BINDIR]
#
# Writes OUTDIR/openwrt/<name>_<version>_<arch>.ipk and OUTDIR/entware/... for
#   knockd-go  the daemon (OpenWrt: /usr/sbin/knockd plus everything under files/;
#              Entware: /opt/sbin/knockd, /opt/etc/init.d/S05knockd, /opt/etc/knockd.conf)
#   knockd-go-full  OpenWrt only: the same files, the daemon with every feature
#              (Provides and Conflicts knockd-go, as the feed Makefile's variant)
#   knock-go   the client (OpenWrt: /usr/bin/knock; Entware: /opt/bin/knock)
# and OUTDIR/openwrt/<name>_<version>_all.ipk for each architecture-independent
# package of NOARCH_PACKAGES (below).
#
# Conffiles and the package's own maintainer scripts come from the feed
# Makefile (openwrt-feed/net/knockd-go/Makefile: Package/<name>/conffiles,
# preinst, postinst, prerm, postrm), placed as OpenWrt's package-pack.mk places
# them: conffiles that the package ships in CONTROL/conffiles, the others in
# /lib/upgrade/keep.d/<name>; postinst and prerm as postinst-pkg and prerm-pkg,
# which default_postinst and default_prerm run.
#
# Binaries come from BINDIR/<target>/ (default OUTDIR/bin); missing ones are built
# with scripts/cross.sh first. The OpenWrt knockd-go packages get knockd-fw4
# (built without the iptables backend: OpenWrt >= 22.03 uses firewall4 and has
# no iptables program; and without the features knockd-go leaves out),
# knockd-go-full knockd-fw4-full; Entware's get knockd, with every backend
# and every feature.
#
# The container is the one OpenWrt's scripts/ipkg-build writes and opkg-lede reads:
# a gzip'd GNU-format tar holding ./debian-binary ("2.0"), ./data.tar.gz and
# ./control.tar.gz, every member owned by 0:0, every mtime SOURCE_DATE_EPOCH.
#
# Environment:
#   OPENWRT_ARCHS    opkg architectures (default: mips_24kc mipsel_24kc
#                    arm_cortex-a7_neon-vfpv4 arm_cortex-a9 aarch64_cortex-a53 x86_64)
#   ENTWARE_ARCHS    Entware architectures (default: mips-3.4 mipsel-3.4 armv7-3.2
#                    armv7-2.6 armv5-3.2 aarch64-3.10 x64-3.2)
#   PKG_RELEASE      package release appended to the version (default 1)
#   SOURCE_DATE_EPOCH  timestamp of every file (default: last commit, else a fixed date)
#   MAINTAINER       the Maintainer field, "Name <email>" (default: git config
#                    user.name <user.email>; the same in the feed Makefile of make dist)
#   PKG_LICENSE      the License field (left out when unknown)
#   FILES_DIR        OpenWrt overlay tree (default: files/ of the repository)
#   NOARCH_PACKAGES  architecture-independent packages, one per line (replaces the
#                    list in this script)
#   VERSION          forwarded to cross.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${KNOCKD_GO_SRC:-$(cd "$here/.." && pwd)}

die() { echo "mkipk.sh: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/pkgtools.bash
. "$here/lib/pkgtools.bash"

case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; esac
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	die "usage: mkipk.sh OUTDIR [BINDIR]"
fi

mkdir -p "$1"
out=$(cd "$1" && pwd)
bindir=${2:-$out/bin}
mkdir -p "$bindir"
bindir=$(cd "$bindir" && pwd)

openwrt_archs=${OPENWRT_ARCHS-mips_24kc mipsel_24kc arm_cortex-a7_neon-vfpv4 arm_cortex-a9 aarch64_cortex-a53 x86_64}
entware_archs=${ENTWARE_ARCHS-mips-3.4 mipsel-3.4 armv7-3.2 armv7-2.6 armv5-3.2 aarch64-3.10 x64-3.2}
files_dir=${FILES_DIR:-$root/files}
feed_mk=$(feed_makefile knockd-go)
[ -n "$feed_mk" ] || die "no openwrt-feed/*/knockd-go/Makefile"

# Architecture-independent OpenWrt packages (ipk "Architecture: all", apk
# "noarch"), one per line: NAME|DIR|DEPENDS|TITLE. DIR, relative to the
# repository, is laid out like a LuCI app in a feed: htdocs/ is installed to
# /www, root/ to /. Conffiles and scripts come from DIR/Makefile as for
# knockd-go (define Package/NAME/conffiles, postinst, prerm, postrm); a
# luci-* package also gets the postinst of LuCI's luci.mk, which makes rpcd
# and the LuCI caches pick up the new menu and ACL files. DEPENDS is a comma-
# separated opkg list. Adding the LuCI app is one line in this list (lines
# starting with # are skipped):
default_noarch_packages='
luci-app-knockd-go|openwrt-feed/luci/luci-app-knockd-go|luci-base, luci-lib-uqr, knockd-go|LuCI support for knockd-go (port knocking and SPA)
'
noarch_packages=${NOARCH_PACKAGES-$default_noarch_packages}
release=${PKG_RELEASE:-1}
maintainer=$(pkg_maintainer) || die "no maintainer"
url=https://github.com/knockd-go/knockd-go

# arch_target ARCH prints the cross.sh target whose binary runs on an opkg
# architecture. ARM without a VFP unit (bcm53xx Cortex-A9, Kirkwood XScale,
# Entware armv5) gets GOARM=5, as the OpenWrt feed does; armv7-2.6 is Entware's
# build for Linux 2.6.36 (FreshTomato ARM), whose Cortex-A9 often lacks VFP too.
arch_target() {
	case "$1" in
	mips_* | mips-*) echo mips ;;
	mipsel_* | mipsel-*) echo mipsle ;;
	arm_cortex-a7* | arm_cortex-a15* | arm_cortex-a9_vfpv3* | arm_cortex-a9_neon | armv7-3.2) echo arm7 ;;
	arm_* | armv7-2.6 | armv5-*) echo arm5 ;;
	aarch64_* | aarch64-*) echo arm64 ;;
	x86_64 | x64-*) echo amd64 ;;
	*) return 1 ;;
	esac
}

version=$("$here/cross.sh" --version)

# The package version: cross.sh computes it for .ipk and .apk alike.
pkgver=$("$here/cross.sh" --pkg-version ipk "$release")

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null) || SOURCE_DATE_EPOCH=""
	SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200} # 2024-01-01T00:00:00Z
fi
epoch=$SOURCE_DATE_EPOCH

detect_license() {
	local f
	for f in "$root/LICENSE" "$root/LICENSE.md" "$root/COPYING"; do
		[ -f "$f" ] || continue
		if grep -q 'GNU GENERAL PUBLIC LICENSE' "$f"; then
			if grep -q 'Version 3' "$f"; then echo GPL-3.0-or-later; else echo GPL-2.0-or-later; fi
		elif grep -q 'Apache License' "$f"; then echo Apache-2.0
		elif grep -q 'Permission is hereby granted, free of charge' "$f"; then echo MIT
		elif grep -q 'Redistribution and use in source and binary forms' "$f"; then echo BSD-3-Clause
		fi
		return 0
	done
}
license=${PKG_LICENSE:-$(detect_license)}

# Binaries: build whatever is missing.
need=""
for a in $openwrt_archs $entware_archs; do
	t=$(arch_target "$a") || die "unknown architecture $a"
	case " $need " in *" $t "*) ;; *) need="$need $t" ;; esac
done
missing=""
for t in $need; do
	if [ ! -x "$bindir/$t/knockd" ] || [ ! -x "$bindir/$t/knockd-fw4" ] || [ ! -x "$bindir/$t/knockd-fw4-full" ] ||
		[ ! -x "$bindir/$t/knock" ]; then
		missing="$missing $t"
	fi
done
if [ -n "$missing" ]; then
	TARGETS="${missing# }" CLIENT_TARGETS="" "$here/cross.sh" "$bindir" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

TAR=(tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$epoch")

# normalize DIR: directories 0755; files 0755 when executable, else 0644;
# etc/init.d/* and rpcd plugins 0755, etc/config/* 0600 (OpenWrt's
# INSTALL_BIN / INSTALL_CONF), knockd.conf 0600.
normalize() {
	local d=$1
	find "$d" -type d -exec chmod 0755 {} +
	find "$d" -type f -perm /111 -exec chmod 0755 {} +
	find "$d" -type f ! -perm /111 -exec chmod 0644 {} +
	for sub in etc/init.d opt/etc/init.d usr/libexec/rpcd usr/sbin usr/bin opt/sbin opt/bin; do
		[ -d "$d/$sub" ] && find "$d/$sub" -maxdepth 1 -type f -exec chmod 0755 {} +
	done
	[ -d "$d/etc/config" ] && find "$d/etc/config" -type f -exec chmod 0600 {} +
	# knockd.conf holds commands and, for SPA doors, keys.
	for f in etc/knockd.conf opt/etc/knockd.conf; do
		[ -f "$d/$f" ] && chmod 0600 "$d/$f"
	done
	return 0
}

# control_file NAME ARCH DEPENDS CONFLICTS DESCRIPTION... writes CONTROL/control
# in the field order of OpenWrt's package-pack.mk.
control_file() {
	local name=$1 arch=$2 conflicts=$3 dest=$4
	shift 4
	{
		echo "Package: $name"
		echo "Version: $pkgver"
		[ -n "$conflicts" ] && echo "Conflicts: $conflicts"
		[ -n "${provides:-}" ] && echo "Provides: $provides"
		echo "Source: $url"
		echo "SourceName: knockd-go"
		[ -n "$license" ] && echo "License: $license"
		echo "Section: net"
		[ -n "${require_user:-}" ] && echo "Require-User: $require_user"
		echo "SourceDateEpoch: $epoch"
		echo "URL: $url"
		echo "Maintainer: $maintainer"
		echo "Architecture: $arch"
		echo "Installed-Size: 0"
		printf 'Description: %s\n' "$1"
		shift
		local l
		for l in "$@"; do printf ' %s\n' "$l"; done
	} >"$dest"
}

# openwrt_scripts DIR writes the postinst/prerm every OpenWrt package gets.
openwrt_scripts() {
	# shellcheck disable=SC2016 # the variables belong to the generated script
	printf '%s\n' '#!/bin/sh' \
		'[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0' \
		'[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0' \
		'. ${IPKG_INSTROOT}/lib/functions.sh' \
		'default_postinst $0 $@' >"$1/postinst"
	# shellcheck disable=SC2016
	printf '%s\n' '#!/bin/sh' \
		'[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0' \
		'. ${IPKG_INSTROOT}/lib/functions.sh' \
		'default_prerm $0 $@' >"$1/prerm"
	chmod 0755 "$1/postinst" "$1/prerm"
}

# ipkg_build PKGDIR DESTDIR: PKGDIR holds the data tree and PKGDIR/CONTROL.
ipkg_build() {
	local pkgdir=$1 dest=$2 t name ver arch size
	t=$(mktemp -d "$work/ipk.XXXXXX")
	name=$(sed -n 's/^Package: //p' "$pkgdir/CONTROL/control")
	ver=$(sed -n 's/^Version: //p' "$pkgdir/CONTROL/control")
	arch=$(sed -n 's/^Architecture: //p' "$pkgdir/CONTROL/control")
	normalize "$pkgdir"
	chmod 0644 "$pkgdir/CONTROL/control"
	[ -f "$pkgdir/CONTROL/conffiles" ] && chmod 0644 "$pkgdir/CONTROL/conffiles"
	"${TAR[@]}" --exclude=./CONTROL -C "$pkgdir" -cf - . | gzip -9n >"$t/data.tar.gz"
	size=$(gzip -dc "$t/data.tar.gz" | wc -c)
	sed -i "s/^Installed-Size: .*/Installed-Size: $size/" "$pkgdir/CONTROL/control"
	"${TAR[@]}" -C "$pkgdir/CONTROL" -cf - . | gzip -9n >"$t/control.tar.gz"
	echo "2.0" >"$t/debian-binary"
	chmod 0644 "$t/debian-binary" "$t/data.tar.gz" "$t/control.tar.gz"
	mkdir -p "$dest"
	"${TAR[@]}" -C "$t" -cf - ./debian-binary ./data.tar.gz ./control.tar.gz |
		gzip -n >"$dest/${name}_${ver}_${arch}.ipk"
	printf '%-52s %9d\n' "$(basename "$dest")/${name}_${ver}_${arch}.ipk" \
		"$(wc -c <"$dest/${name}_${ver}_${arch}.ipk")"
}

# feed_extras DIR NAME MAKEFILE: what package-pack.mk adds to package NAME
# from its Makefile. Conffiles (Package/NAME/conffiles) the package ships go
# to CONTROL/conffiles (opkg keeps a changed one), the others to
# /lib/upgrade/keep.d/NAME (sysupgrade keeps them); Package/NAME/preinst and
# postrm become CONTROL/preinst and postrm, postinst and prerm become
# CONTROL/postinst-pkg and prerm-pkg (run by default_postinst/default_prerm).
feed_extras() {
	local d=$1 name=$2 mk=$3 f keep="" s text
	while read -r f; do
		[ -n "$f" ] || continue
		if [ -f "$d$f" ]; then
			echo "$f" >>"$d/CONTROL/conffiles"
		else
			keep="$keep$f"$'\n'
		fi
	done < <(feed_define "$mk" "Package/$name/conffiles")
	if [ -n "$keep" ]; then
		mkdir -p "$d/lib/upgrade/keep.d"
		printf '%s' "$keep" >"$d/lib/upgrade/keep.d/$name"
	fi
	for s in preinst:preinst postinst:postinst-pkg prerm:prerm-pkg postrm:postrm; do
		text=$(feed_define "$mk" "Package/$name/${s%%:*}") || die "$name: ${s%%:*} in $mk"
		[ -n "$text" ] || continue
		printf '%s\n' "$text" >"$d/CONTROL/${s#*:}"
		chmod 0755 "$d/CONTROL/${s#*:}"
	done
	return 0
}

# luci_postinst: the postinst LuCI's luci.mk gives every LuCI package: on a
# live system, make rpcd and LuCI reload menus, ACLs and cached modules.
luci_postinst() {
	# shellcheck disable=SC2016 # text of the generated script
	printf '%s\n' '#!/bin/sh' \
		'[ -n "${IPKG_INSTROOT}" ] || {' \
		'	rm -f /tmp/luci-indexcache.*' \
		'	rm -rf /tmp/luci-modulecache/' \
		'	killall -HUP rpcd 2>/dev/null' \
		'	exit 0' \
		'}'
}

daemon_desc=("Port-knocking daemon compatible with knockd 0.8's knockd.conf."
	"Opens firewall doors, runs commands or wakes LAN hosts after a knock"
	"sequence or an fwknop-style single packet. Static Go binary.")
small_desc=("Port-knocking daemon compatible with knockd 0.8's knockd.conf."
	"Opens firewall doors, runs commands or wakes LAN hosts after a knock"
	"sequence. Small enough for 8 MB of flash: fwknop SPA, rotating knocks,"
	"mail and knockd doctor are in knockd-go-full. Static Go binary.")
full_desc=("knockd-go with every feature: port-knock sequences, fwknop SPA,"
	"rotating knocks, mail to the admin and knockd doctor. Takes knockd-go's"
	"place. Static Go binary.")
# mergelist "a b": package-pack.mk's comma-separated form, "a, b".
mergelist() { printf '%s' "$*" | sed 's/  */, /g'; }
client_desc=("Port-knocking client (knock) for knockd-go and knockd."
	"Static Go binary.")

# openwrt_daemon ARCH NAME BINARY DESCRIPTION...: the OpenWrt package NAME of
# the daemon: files/ and BINARY as /usr/sbin/knockd, its conflicts, provides,
# user, conffiles and scripts from the feed Makefile.
openwrt_daemon() {
	local arch=$1 name=$2 bin=$3 d
	shift 3
	d="$work/ow-$arch/$name"
	mkdir -p "$d/usr/sbin" "$d/CONTROL"
	if [ -d "$files_dir" ]; then
		# Everything under files/ is an overlay of the router's root.
		(cd "$files_dir" && find . -mindepth 1 -maxdepth 1 ! -name '.*' ! -name '*.md' \
			-exec cp -R -p {} "$d/" \;)
	fi
	cp "$bin" "$d/usr/sbin/knockd"
	# default_postinst creates the daemon's user (Require-User).
	require_user=$(feed_userid "$feed_mk" "$name")
	provides=$(mergelist "$(feed_field "$feed_mk" "$name" PROVIDES)")
	control_file "$name" "$arch" "$(mergelist "$(feed_field "$feed_mk" "$name" CONFLICTS)")" "$d/CONTROL/control" "$@"
	require_user='' provides=''
	feed_extras "$d" "$name" "$feed_mk"
	openwrt_scripts "$d/CONTROL"
	ipkg_build "$d" "$out/openwrt"
}

build_openwrt() {
	local arch=$1 t p d
	t=$(arch_target "$arch")
	p="$work/ow-$arch"

	# knockd-go and its variant knockd-go-full: the same files but the
	# daemon's build (OpenWrt >= 22.03 uses firewall4: no iptables backend).
	openwrt_daemon "$arch" knockd-go "$bindir/$t/knockd-fw4" "${small_desc[@]}"
	openwrt_daemon "$arch" knockd-go-full "$bindir/$t/knockd-fw4-full" "${full_desc[@]}"

	d="$p/knock-go"
	mkdir -p "$d/usr/bin" "$d/CONTROL"
	cp "$bindir/$t/knock" "$d/usr/bin/knock"
	control_file knock-go "$arch" knock "$d/CONTROL/control" "${client_desc[@]}"
	feed_extras "$d" knock-go "$feed_mk"
	openwrt_scripts "$d/CONTROL"
	ipkg_build "$d" "$out/openwrt"
}

build_entware() {
	local arch=$1 t p d
	t=$(arch_target "$arch")
	p="$work/ew-$arch"

	d="$p/knockd-go"
	mkdir -p "$d/opt/sbin" "$d/opt/etc/init.d" "$d/CONTROL"
	cp "$bindir/$t/knockd" "$d/opt/sbin/knockd"
	cp "$here/entware/S05knockd" "$d/opt/etc/init.d/S05knockd"
	cp "$here/entware/knockd.conf" "$d/opt/etc/knockd.conf"
	control_file knockd-go "$arch" knockd "$d/CONTROL/control" "${daemon_desc[@]}"
	echo /opt/etc/knockd.conf >"$d/CONTROL/conffiles"
	cp "$here/entware/prerm" "$d/CONTROL/prerm"
	chmod 0755 "$d/CONTROL/prerm"
	ipkg_build "$d" "$out/entware"

	d="$p/knock-go"
	mkdir -p "$d/opt/bin" "$d/CONTROL"
	cp "$bindir/$t/knock" "$d/opt/bin/knock"
	control_file knock-go "$arch" knock "$d/CONTROL/control" "${client_desc[@]}"
	ipkg_build "$d" "$out/entware"
}

# build_noarch "NAME|DIR|DEPENDS|TITLE": one architecture-independent package.
build_noarch() {
	local name dir deps title d mk
	IFS='|' read -r name dir deps title <<<"$1"
	if [ -z "$name" ] || [ -z "$dir" ]; then
		die "noarch package '$1': want NAME|DIR|DEPENDS|TITLE"
	fi
	case "$dir" in /*) ;; *) dir=$root/$dir ;; esac
	[ -d "$dir" ] || die "noarch package $name: no directory $dir"
	d="$work/noarch/$name"
	mkdir -p "$d/CONTROL"
	if [ -d "$dir/htdocs" ]; then
		mkdir -p "$d/www"
		cp -R -p "$dir/htdocs/." "$d/www/"
	fi
	[ -d "$dir/root" ] && cp -R -p "$dir/root/." "$d/"
	[ -n "$(find "$d" -mindepth 1 -maxdepth 1 ! -name CONTROL)" ] || die "noarch package $name: nothing in $dir/htdocs or $dir/root"
	control_file "$name" all "" "$d/CONTROL/control" "${title:-$name}"
	[ -n "$deps" ] && sed -i "s/^Version: .*/&\nDepends: $deps/" "$d/CONTROL/control"
	[ "${name#luci-}" = "$name" ] || sed -i 's/^Section: net$/Section: luci/' "$d/CONTROL/control"
	mk=$dir/Makefile
	[ -f "$mk" ] || mk=$(feed_makefile "$name")
	feed_extras "$d" "$name" "$mk"
	if [ "${name#luci-}" != "$name" ] && [ ! -e "$d/CONTROL/postinst-pkg" ]; then
		luci_postinst >"$d/CONTROL/postinst-pkg"
		chmod 0755 "$d/CONTROL/postinst-pkg"
	fi
	openwrt_scripts "$d/CONTROL"
	ipkg_build "$d" "$out/openwrt"
}

echo "knockd-go $version: packages $pkgver, SOURCE_DATE_EPOCH=$epoch -> $out"
for a in $openwrt_archs; do build_openwrt "$a"; done
for a in $entware_archs; do build_entware "$a"; done
while IFS= read -r line; do
	case "$line" in '' | '#'*) continue ;; esac
	build_noarch "$line"
done <<<"$noarch_packages"
