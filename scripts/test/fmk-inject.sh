#!/usr/bin/env bash
# Tests scripts/fmk-inject.sh the way firmware-mod-kit uses a root filesystem:
# small root trees (OpenWrt, DD-WRT, Tomato, plain SysV) are packed with
# mksquashfs, unpacked with unsquashfs into fmk/rootfs, knockd-go is
# injected, the tree is packed again (as build-firmware.sh does, -all-root)
# and unpacked, and the result is checked: binary, configuration and startup
# hook present with the right modes. The binary is the real knockd built for
# mipsle (soft float); it is run under qemu-mipsel-static when available.
# shellcheck disable=SC2016 # bash -c '...' snippets read their own "$1"
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
inject="$here/scripts/fmk-inject.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=lib/checks.bash
. "$here/scripts/test/lib/checks.bash"
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "FAIL $1 is needed (Debian package ${2:-$1})"
	exit 1
}
need mksquashfs squashfs-tools
need unsquashfs squashfs-tools
need go golang

# ---- the binary ----------------------------------------------------------------------
echo "building knockd for mipsle (softfloat)"
(cd "$here" && CGO_ENABLED=0 GOOS=linux GOARCH=mipsle GOMIPS=softfloat \
	go build -trimpath -ldflags='-s -w' -o "$tmp/knockd" ./src/cmd/knockd)
pass "built ./src/cmd/knockd for linux/mipsle ($(stat -c %s "$tmp/knockd") bytes)"

# fake_elf FILE ARCH: an ELF header good enough for fmk-inject.sh's detection.
fake_elf() {
	local h
	case $2 in
	mipsle) h='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00' ;;
	mips) h='\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08' ;;
	esac
	mkdir -p "$(dirname "$1")"
	printf '%b' "$h" >"$1"
	head -c 200 /dev/zero >>"$1"
	chmod 0755 "$1"
}
# base_root DIR ARCH: what every firmware has
base_root() {
	mkdir -p "$1/bin" "$1/sbin" "$1/etc/init.d" "$1/lib" "$1/usr/sbin" "$1/usr/bin" "$1/tmp" "$1/var"
	fake_elf "$1/bin/busybox" "$2"
	ln -s busybox "$1/bin/sh"
}
# fmk_cycle SRC NAME: pack SRC, unpack it into $tmp/NAME/fmk/rootfs
fmk_cycle() {
	mksquashfs "$1" "$tmp/$2.img" -all-root -noappend -quiet >/dev/null
	mkdir -p "$tmp/$2/fmk"
	unsquashfs -d "$tmp/$2/fmk/rootfs" "$tmp/$2.img" >/dev/null
}
# rebuild NAME: pack fmk/rootfs as build-firmware.sh does, unpack into NAME/out
rebuild() {
	mksquashfs "$tmp/$1/fmk/rootfs" "$tmp/$1-new.img" -all-root -noappend -quiet >/dev/null
	unsquashfs -d "$tmp/$1/out" "$tmp/$1-new.img" >/dev/null
}
mode() { stat -c %a "$1" 2>/dev/null || echo missing; }
is_mode() { [ "$(mode "$2")" = "$1" ]; }

printf "config knockd 'global'\n\toption enabled '1'\n\toption interface 'wan'\n\nconfig door 'ssh'\n\toption sequence '7000,8000,9000'\n\tlist open 'tcp/22'\n" >"$tmp/my.uci"
printf '[options]\n\tUseSyslog\n\n[ssh]\n\tSequence = 7000,8000,9000\n\tOpen = tcp/22\n' >"$tmp/knockd.conf"

# ---- OpenWrt ------------------------------------------------------------------------------
src="$tmp/src-openwrt"
base_root "$src" mipsle
mkdir -p "$src/etc/rc.d" "$src/etc/config" "$src/lib/functions"
printf "DISTRIB_ID='OpenWrt'\n" >"$src/etc/openwrt_release"
printf '#!/bin/sh\n' >"$src/etc/rc.common"
fmk_cycle "$src" openwrt
r="$tmp/openwrt/fmk/rootfs"
check "OpenWrt: inject exits 0" "$inject" "$r" --binary "$tmp/knockd"
rebuild openwrt
o="$tmp/openwrt/out"
check "OpenWrt: /usr/sbin/knockd 0755, the built binary" bash -c '[ "$(stat -c %a "$1")" = 755 ] && cmp -s "$1" "$2"' _ "$o/usr/sbin/knockd" "$tmp/knockd"
check "OpenWrt: /etc/init.d/knockd 0755, from files/" bash -c '[ "$(stat -c %a "$1")" = 755 ] && cmp -s "$1" "$2"' _ "$o/etc/init.d/knockd" "$here/files/etc/init.d/knockd"
check "OpenWrt: /etc/config/knockd 0600 (package default)" bash -c '[ "$(stat -c %a "$1")" = 600 ] && cmp -s "$1" "$2"' _ "$o/etc/config/knockd" "$here/files/etc/config/knockd"
check "OpenWrt: /etc/rc.d/S99knockd -> ../init.d/knockd" test "$(readlink "$o/etc/rc.d/S99knockd")" = ../init.d/knockd
check "OpenWrt: /etc/rc.d/K10knockd -> ../init.d/knockd" test "$(readlink "$o/etc/rc.d/K10knockd")" = ../init.d/knockd
check "OpenWrt: uci-defaults and firewall include" bash -c '[ -f "$1/etc/uci-defaults/90-knockd" ] && [ "$(stat -c %a "$1/usr/share/knockd/firewall.include")" = 755 ]' _ "$o"
n_nft=$(cd "$here/files/usr/share/nftables.d" && find . -type f | wc -l)
check "OpenWrt: all $n_nft nftables.d includes" test "$(cd "$o/usr/share/nftables.d" && find . -type f | wc -l)" = "$n_nft"
check "OpenWrt: rpcd plugin /usr/libexec/rpcd/knockd 0755" is_mode 755 "$o/usr/libexec/rpcd/knockd"
# The size report: what knockd-go adds to the xz squashfs, against the flash.
"$inject" "$r" --binary "$tmp/knockd" >"$tmp/inject.out" 2>&1 || true
sed -n 's/^size: /     size: /p' "$tmp/inject.out"
added=$(sed -n 's/^size: knockd-go adds \([0-9]*\) KiB.*/\1/p' "$tmp/inject.out")
check "OpenWrt: size report: knockd-go adds ${added:-?} KiB (xz squashfs), between 300 KiB and the binary's size" \
	bash -c '[ -n "$1" ] && [ "$1" -ge 300 ] && [ "$1" -lt $(($(stat -c %s "$2") / 1024)) ]' _ "$added" "$tmp/knockd"
check "OpenWrt: size report: fits 8 MB" grep -q '^size: fits 8 MB of flash' "$tmp/inject.out"
mkdir -p "$tmp/openwrt/fmk/image_parts"
head -c $((7900 * 1024)) /dev/urandom >"$tmp/openwrt/fmk/image_parts/kernel"
check "OpenWrt: a 7.7 MiB kernel in image_parts: does not fit 8 MB, exit status 3" \
	bash -c '"$1" "$2" --binary "$3" >"$4" 2>&1; [ $? = 3 ] && grep -q "^size: does NOT fit 8 MB" "$4"' _ "$inject" "$r" "$tmp/knockd" "$tmp/inject.out"
check "OpenWrt: the same with --flash 16: fits" bash -c '"$1" "$2" --binary "$3" --flash 16 | grep -q "^size: fits 16 MB"' _ "$inject" "$r" "$tmp/knockd"
rm -rf "$tmp/openwrt/fmk/image_parts"
check "OpenWrt: files owned by root after -all-root" test "$(stat -c %u:%g "$o/usr/sbin/knockd")" = 0:0
check "OpenWrt: custom --config replaces /etc/config/knockd" bash -c '"$1" "$2" --binary "$3" --config "$4" >/dev/null && cmp -s "$4" "$2/etc/config/knockd" && [ "$(stat -c %a "$2/etc/config/knockd")" = 600 ]' \
	_ "$inject" "$r" "$tmp/knockd" "$tmp/my.uci"
check "OpenWrt: a knockd.conf is refused as /etc/config/knockd" bash -c '! "$1" "$2" --binary "$3" --config "$4" 2>/dev/null' _ "$inject" "$r" "$tmp/knockd" "$tmp/knockd.conf"
if command -v qemu-mipsel-static >/dev/null 2>&1; then
	check "OpenWrt: injected knockd runs (qemu-mipsel-static knockd -V)" bash -c 'qemu-mipsel-static "$1" -V 2>&1 | grep -qi knockd' _ "$o/usr/sbin/knockd"
	check "OpenWrt: injected knockd accepts the injected UCI file (-k -u)" bash -c 'qemu-mipsel-static "$1" -k -u "$2" >/dev/null 2>&1' _ "$r/usr/sbin/knockd" "$tmp/my.uci"
else
	echo "note: qemu-mipsel-static missing, the injected binary is not run"
fi

# ---- DD-WRT -------------------------------------------------------------------------------
src="$tmp/src-ddwrt"
base_root "$src" mipsle
fake_elf "$src/usr/sbin/nvram" mipsle
mkdir -p "$src/etc/config"
fmk_cycle "$src" ddwrt
r="$tmp/ddwrt/fmk/rootfs"
check "DD-WRT: without --config: refused" bash -c '! "$1" "$2" --binary "$3" 2>/dev/null' _ "$inject" "$r" "$tmp/knockd"
check "DD-WRT: a UCI file as knockd.conf: refused" bash -c '! "$1" "$2" --binary "$3" --config "$4" 2>/dev/null' _ "$inject" "$r" "$tmp/knockd" "$tmp/my.uci"
check "DD-WRT: inject exits 0" "$inject" "$r" --binary "$tmp/knockd" --config "$tmp/knockd.conf"
rebuild ddwrt
o="$tmp/ddwrt/out"
check "DD-WRT: /usr/sbin/knockd 0755" is_mode 755 "$o/usr/sbin/knockd"
check "DD-WRT: /etc/knockd.conf 0600, the given file" bash -c '[ "$(stat -c %a "$1")" = 600 ] && cmp -s "$1" "$2"' _ "$o/etc/knockd.conf" "$tmp/knockd.conf"
for h in startup wanup firewall; do
	check "DD-WRT: /etc/config/knockd.$h 0755" bash -c '[ "$(stat -c %a "$1")" = 755 ] && cmp -s "$1" "$2"' _ "$o/etc/config/knockd.$h" "$here/scripts/ddwrt/knockd.$h"
done
check "DD-WRT: no OpenWrt init script" test ! -e "$o/etc/init.d/knockd"

# ---- Tomato -------------------------------------------------------------------------------
src="$tmp/src-tomato"
base_root "$src" mipsle
fake_elf "$src/bin/nvram" mipsle
mkdir -p "$src/www"
: >"$src/www/tomato.js"
fmk_cycle "$src" tomato
r="$tmp/tomato/fmk/rootfs"
check "Tomato: inject exits 0, prints the nvram scripts" bash -c '"$1" "$2" --binary "$3" --config "$4" | grep -q "nvram set script_fire="' _ "$inject" "$r" "$tmp/knockd" "$tmp/knockd.conf"
rebuild tomato
o="$tmp/tomato/out"
check "Tomato: /usr/sbin/knockd.sh 0755" is_mode 755 "$o/usr/sbin/knockd.sh"
check "Tomato: /etc/knockd.conf 0600" is_mode 600 "$o/etc/knockd.conf"

# ---- plain SysV (rcS runs /etc/init.d/S??*) and a bare rcS -------------------------------
src="$tmp/src-sysv"
base_root "$src" mipsle
printf '#!/bin/sh\nfor i in /etc/init.d/S??* ; do\n\t"$i" start\ndone\n' >"$src/etc/init.d/rcS"
chmod 0755 "$src/etc/init.d/rcS"
fmk_cycle "$src" sysv
r="$tmp/sysv/fmk/rootfs"
check "SysV: inject exits 0" "$inject" "$r" --binary "$tmp/knockd" --config "$tmp/knockd.conf" --interface vlan2
rebuild sysv
o="$tmp/sysv/out"
check "SysV: /etc/init.d/S99knockd 0755" is_mode 755 "$o/etc/init.d/S99knockd"
check "SysV: S99knockd starts knockd -d -c /etc/knockd.conf -i vlan2" grep -q '/usr/sbin/knockd -d -c /etc/knockd.conf -i vlan2' "$o/etc/init.d/S99knockd"
check "SysV: S99knockd parses (sh -n)" sh -n "$o/etc/init.d/S99knockd"

src="$tmp/src-rcs"
base_root "$src" mipsle
printf '#!/bin/sh\nmount -a\n' >"$src/etc/init.d/rcS"
chmod 0755 "$src/etc/init.d/rcS"
fmk_cycle "$src" rcs
r="$tmp/rcs/fmk/rootfs"
"$inject" "$r" --binary "$tmp/knockd" --config "$tmp/knockd.conf" >/dev/null
check "rcS: second run succeeds" "$inject" "$r" --binary "$tmp/knockd" --config "$tmp/knockd.conf"
rebuild rcs
o="$tmp/rcs/out"
check "rcS: knockd line appended once" test "$(grep -c '^\[ -x /usr/sbin/knockd \] && /usr/sbin/knockd -d -c /etc/knockd.conf$' "$o/etc/init.d/rcS")" = 1
check "rcS: still 0755 and parses" bash -c '[ "$(stat -c %a "$1")" = 755 ] && sh -n "$1"' _ "$o/etc/init.d/rcS"

# ---- old kernels -----------------------------------------------------------------------------
mkdir -p "$r/lib/modules/2.6.36.4brcmarm"
check "kernel 2.6.36: says the binary must come from Go 1.23" bash -c '"$1" "$2" --binary "$3" --config "$4" 2>&1 | grep -q "must be built with Go 1.23"' \
	_ "$inject" "$r" "$tmp/knockd" "$tmp/knockd.conf"
rm -rf "$r/lib/modules/2.6.36.4brcmarm"
mkdir -p "$r/lib/modules/2.6.22.19"
check "kernel 2.6.22: warns that Go cannot run there" bash -c '"$1" "$2" --binary "$3" --config "$4" 2>&1 | grep -q "need Linux 2.6.32 or later"' \
	_ "$inject" "$r" "$tmp/knockd" "$tmp/knockd.conf"

# ---- refusals ---------------------------------------------------------------------------------
src="$tmp/src-mips"
base_root "$src" mips
check "big-endian MIPS root, mipsle binary: refused" bash -c '! "$1" "$2" --binary "$3" --config "$4" 2>"$5" && grep -q "is mipsle, the root is mips" "$5"' \
	_ "$inject" "$src" "$tmp/knockd" "$tmp/knockd.conf" "$tmp/err"
check "--arch arm64 on a mipsle root: refused" bash -c '! "$1" "$2" --arch arm64 --binary "$3" 2>/dev/null' _ "$inject" "$tmp/openwrt/fmk/rootfs" "$tmp/knockd"
check "not a root filesystem: refused" bash -c '! "$1" "$2" --binary "$3" 2>/dev/null' _ "$inject" "$tmp" "$tmp/knockd"
check "--help exits 0" bash -c '"$1" --help | grep -q "ROOTFS_DIR"' _ "$inject"

if command -v shellcheck >/dev/null 2>&1; then
	check "shellcheck fmk-inject.sh" shellcheck "$inject"
fi
summary
