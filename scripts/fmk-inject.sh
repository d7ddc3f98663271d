#!/usr/bin/env bash
# fmk-inject.sh: put knockd-go into a root filesystem extracted by
# firmware-mod-kit, ready for its build-firmware.sh.
#
#   ./extract-firmware.sh firmware.bin fmk
#   scripts/fmk-inject.sh fmk/rootfs --config my-knockd.conf
#   ./build-firmware.sh fmk        (or -min if the image got too big)
#
# usage: fmk-inject.sh ROOTFS_DIR [options]
#   --arch ARCH       mipsle, mips, arm (ARMv5, any ARM), armv7, arm64, amd64,
#                     386; default: detected from the root's bin/busybox
#   --binary PATH     knockd binary to install (static, CGO_ENABLED=0);
#                     default: built here with Go for ARCH (with Go 1.23
#                     when the image's kernel is older than 3.2)
#   --config PATH     OpenWrt roots: a UCI file for /etc/config/knockd
#                     (default: the package's, with enabled '0');
#                     other roots: a knockd.conf for /etc/knockd.conf (required)
#   --os OS           openwrt, ddwrt, tomato or sysv; default: detected
#   --interface DEV   sysv roots: the WAN device to listen on (default: the
#                     Interface of knockd.conf)
#   --flash MB        flash size the image must fit (default 8): the end
#                     report compares the squashfs (xz) the root packs to,
#                     plus fmk's other image parts (kernel), with it
#   -h, --help
#
# What goes where:
#   openwrt  /usr/sbin/knockd, everything under files/ (init script, UCI
#            config, firewall include, nftables.d) and /etc/rc.d/S99knockd,
#            K10knockd (what "/etc/init.d/knockd enable" makes)
#   ddwrt    /usr/sbin/knockd, /etc/knockd.conf, /etc/config/knockd.startup,
#            .wanup, .firewall (DD-WRT runs /etc/config/*.startup etc.)
#   tomato   /usr/sbin/knockd, /etc/knockd.conf, /usr/sbin/knockd.sh; Tomato
#            has no startup hook in the root filesystem: set the nvram scripts
#            printed at the end
#   sysv     /usr/sbin/knockd, /etc/knockd.conf, /etc/init.d/S99knockd when
#            rcS runs /etc/init.d/S*, else a line appended to rcS
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
prog=$(basename "$0")

die() { echo "$prog: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

root="" arch="" binary="" config="" os="" iface="" flash=8
while [ $# -gt 0 ]; do
	case $1 in
	--arch) arch=${2:?--arch needs a value}; shift ;;
	--binary) binary=${2:?--binary needs a path}; shift ;;
	--config) config=${2:?--config needs a path}; shift ;;
	--os) os=${2:?--os needs a value}; shift ;;
	--interface) iface=${2:?--interface needs a device}; shift ;;
	--flash) flash=${2:?--flash needs a size in MB}; shift ;;
	-h | --help) usage 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) [ -z "$root" ] || die "one ROOTFS_DIR only"; root=$1 ;;
	esac
	shift
done
[ -n "$root" ] || usage 2
[ -d "$root" ] || die "$root is not a directory"
root=$(cd "$root" && pwd)
if [ ! -d "$root/etc" ] || { [ ! -d "$root/bin" ] && [ ! -d "$root/sbin" ]; }; then
	die "$root does not look like a root filesystem (no etc/ and bin/)"
fi

# ---- ELF helpers ---------------------------------------------------------------
# elf_arch FILE prints the Go architecture of an ELF executable: mipsle,
# mips, arm, arm64, amd64 or 386.
elf_arch() {
	local f=$1 h class data machine
	h=$(od -An -tx1 -N20 -v "$f" 2>/dev/null | tr -d ' \n')
	[ "${h:0:8}" = 7f454c46 ] || return 1
	class=${h:8:2} data=${h:10:2}
	if [ "$data" = 01 ]; then machine=${h:38:2}${h:36:2}; else machine=${h:36:4}; fi
	case "$machine:$data:$class" in
	0008:01:01) echo mipsle ;;
	0008:02:01) echo mips ;;
	0028:01:01) echo arm ;;
	00b7:01:02) echo arm64 ;;
	003e:01:02) echo amd64 ;;
	0003:01:01) echo 386 ;;
	*) echo "unknown-$machine-$data-$class" ;;
	esac
}
same_arch() { # same_arch ARCH ARCH: armv7 is an arm
	[ "${1/armv7/arm}" = "${2/armv7/arm}" ]
}

# ---- detect ------------------------------------------------------------------------
ref=""
for f in bin/busybox sbin/init bin/sh usr/sbin/httpd; do
	if [ -f "$root/$f" ] && [ ! -L "$root/$f" ] && elf_arch "$root/$f" >/dev/null; then
		ref=$f
		break
	fi
done
root_arch=""
[ -n "$ref" ] && root_arch=$(elf_arch "$root/$ref")
if [ -z "$arch" ]; then
	[ -n "$root_arch" ] || die "cannot tell the CPU of $root (no ELF bin/busybox); give --arch"
	arch=$root_arch
fi
case $arch in
mipsle | mips | arm | armv7 | arm64 | amd64 | 386) ;;
*) die "unsupported --arch $arch (mipsle, mips, arm, armv7, arm64, amd64, 386)" ;;
esac
if [ -n "$root_arch" ] && ! same_arch "$arch" "$root_arch"; then
	die "--arch $arch, but $ref in $root is $root_arch"
fi

check_binary() {
	[ -f "$binary" ] || die "no such binary: $binary"
	bin_arch=$(elf_arch "$binary") || die "$binary is not an ELF executable"
	same_arch "$bin_arch" "$arch" || die "$binary is $bin_arch, the root is $arch"
}
[ -z "$binary" ] || check_binary

has_nvram() { [ -e "$root/usr/sbin/nvram" ] || [ -e "$root/sbin/nvram" ] || [ -e "$root/bin/nvram" ]; }
if [ -z "$os" ]; then
	if [ -e "$root/etc/openwrt_release" ] || [ -e "$root/etc/rc.common" ]; then
		os=openwrt
	elif [ -e "$root/www/tomato.js" ]; then
		os=tomato
	elif has_nvram; then
		os=ddwrt
	elif [ -e "$root/etc/init.d/rcS" ]; then
		os=sysv
	else
		die "cannot tell the firmware of $root; give --os openwrt|ddwrt|tomato|sysv"
	fi
fi
case $os in openwrt | ddwrt | tomato | sysv) ;; *) die "unknown --os $os" ;; esac

if [ -n "$config" ]; then
	[ -f "$config" ] || die "no such config: $config"
	if [ "$os" = openwrt ]; then
		grep -q "^config knockd" "$config" ||
			die "$config is not a UCI knockd file (no \"config knockd\" section); OpenWrt reads /etc/config/knockd"
	elif grep -q "^config " "$config"; then
		die "$config is a UCI file; $os needs a knockd.conf"
	fi
elif [ "$os" != openwrt ]; then
	die "$os needs --config knockd.conf (the doors)"
fi

# ---- kernel ---------------------------------------------------------------------------
# Go 1.24 and later need Linux 3.2; Go 1.23 runs on 2.6.32 and later; older
# kernels (2.6.22 of FreshTomato MIPS RT, 2.4) run no Go program at all.
kver=""
if [ -d "$root/lib/modules" ]; then
	kver=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | head -n 1)
fi
old_kernel=""
case $kver in
2.6.3[2-9]* | 3.[01] | 3.[01].*) old_kernel=go123 ;;
2.* | 1.*) old_kernel=none ;;
esac
[ "$old_kernel" = none ] && echo "warning: the image's kernel is $kver; Go programs need Linux 2.6.32 or later" >&2

# ---- binary ---------------------------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$binary" ]; then
	command -v go >/dev/null || die "no --binary given and no Go to build one"
	goarch=$arch goarm="" target=$arch
	case $arch in arm) goarm=5 target=arm5 ;; armv7) goarch=arm goarm=7 target=arm7 ;; esac
	if [ "$old_kernel" = go123 ] && [ -z "${GOTOOLCHAIN:-}" ]; then
		echo "kernel $kver: building with Go 1.23 (later Go needs Linux 3.2)"
		export GOTOOLCHAIN=go1.23.12
	fi
	echo "building knockd for $arch"
	(cd "$here" && CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm GOMIPS=softfloat \
		go build -trimpath -gcflags="$("$here/scripts/cross.sh" --gcflags "$target")" \
		-ldflags "$("$here/scripts/cross.sh" --ldflags "$target")" -o "$tmp/knockd" ./src/cmd/knockd) ||
		die "go build failed"
	binary=$tmp/knockd
elif [ "$old_kernel" = go123 ]; then
	echo "note: the image's kernel is $kver: the binary must be built with Go 1.23 or older" >&2
fi
check_binary

# ---- install -----------------------------------------------------------------------------
added=() # what was put, for the size report
put() { # put MODE SRC DEST(relative to root)
	mkdir -p "$root/$(dirname "$3")"
	cp "$2" "$root/$3"
	chmod "$1" "$root/$3"
	added+=("$3")
	echo "  /$3"
}
put_text() { # put_text MODE DEST < text
	mkdir -p "$root/$(dirname "$2")"
	cat >"$root/$2"
	chmod "$1" "$root/$2"
	added+=("$2")
	echo "  /$2"
}
put_link() { # put_link TARGET DEST
	mkdir -p "$root/$(dirname "$2")"
	ln -sfn "$1" "$root/$2"
	added+=("$2")
	echo "  /$2 -> $1"
}

echo "installing knockd-go into $root ($os, $arch):"
put 0755 "$binary" usr/sbin/knockd

case $os in
openwrt)
	while IFS= read -r f; do
		mode=0644
		[ -x "$here/files/$f" ] && mode=0755
		case $f in etc/init.d/*) mode=0755 ;; etc/config/*) mode=0600 ;; esac
		put "$mode" "$here/files/$f" "$f"
	done < <(cd "$here/files" && find . -type f ! -name '*.md' | sed 's|^\./||' | sort)
	while IFS= read -r f; do
		put_link "$(readlink "$here/files/$f")" "$f"
	done < <(cd "$here/files" && find . -type l | sed 's|^\./||' | sort)
	[ -n "$config" ] && put 0600 "$config" etc/config/knockd
	# What "/etc/init.d/knockd enable" does (no postinst runs in an image).
	start=$(sed -n 's/^START=//p' "$root/etc/init.d/knockd")
	stop=$(sed -n 's/^STOP=//p' "$root/etc/init.d/knockd")
	mkdir -p "$root/etc/rc.d"
	[ -n "$start" ] && ln -sfn ../init.d/knockd "$root/etc/rc.d/S${start}knockd" && echo "  /etc/rc.d/S${start}knockd -> ../init.d/knockd"
	[ -n "$stop" ] && ln -sfn ../init.d/knockd "$root/etc/rc.d/K${stop}knockd" && echo "  /etc/rc.d/K${stop}knockd -> ../init.d/knockd"
	if [ -z "$config" ] || grep -q "option enabled '0'" "$root/etc/config/knockd"; then
		echo "note: /etc/config/knockd has enabled '0': knockd stays off until you set it to '1'"
	fi
	;;
ddwrt)
	put 0600 "$config" etc/knockd.conf
	put 0755 "$here/scripts/ddwrt/knockd.startup" etc/config/knockd.startup
	put 0755 "$here/scripts/ddwrt/knockd.wanup" etc/config/knockd.wanup
	put 0755 "$here/scripts/ddwrt/knockd.firewall" etc/config/knockd.firewall
	;;
tomato)
	put 0600 "$config" etc/knockd.conf
	put 0755 "$here/scripts/tomato/knockd.sh" usr/sbin/knockd.sh
	cat <<-'EOF'
	Tomato runs no startup file from the image; after flashing, set once:
	  nvram set script_init='/usr/sbin/knockd.sh start'
	  nvram set script_wanup='/usr/sbin/knockd.sh wanup'
	  nvram set script_fire='/usr/sbin/knockd.sh firewall'
	  nvram commit
	(Administration -> Scripts: Init, WAN Up, Firewall)
	EOF
	;;
sysv)
	put 0600 "$config" etc/knockd.conf
	args="-d -c /etc/knockd.conf${iface:+ -i $iface}"
	rcs="$root/etc/init.d/rcS"
	if [ -f "$rcs" ] && grep -Eq '/etc/init\.d/S(\[0-9\]|\?\?|\*)' "$rcs"; then
		put_text 0755 etc/init.d/S99knockd <<-EOF
		#!/bin/sh
		# knockd-go (added by fmk-inject.sh)
		case "\${1:-start}" in
		start) [ -x /usr/sbin/knockd ] && /usr/sbin/knockd $args ;;
		stop) [ -r /var/run/knockd.pid ] && kill "\$(cat /var/run/knockd.pid)" ;;
		esac
		EOF
	elif [ -f "$rcs" ]; then
		if ! grep -q '^# knockd-go$' "$rcs"; then
			printf '\n# knockd-go\n[ -x /usr/sbin/knockd ] && /usr/sbin/knockd %s\n' "$args" >>"$rcs"
		fi
		echo "  /etc/init.d/rcS (knockd started at its end)"
	else
		die "no /etc/init.d/rcS in $root; start /usr/sbin/knockd $args yourself"
	fi
	;;
esac

kb=$(du -sk "$root/usr/sbin/knockd" | cut -f1)
echo "done: knockd is ${kb} KiB"

# What it costs in the image: OpenWrt's root is a squashfs with xz and
# 256 KiB blocks (firmware-mod-kit's build-firmware.sh packs the same way
# for OpenWrt and DD-WRT images).
if ! command -v mksquashfs >/dev/null 2>&1; then
	echo "size: mksquashfs not found (squashfs-tools): rebuild with build-firmware.sh and check the size it reports"
	exit 0
fi
sq() { # sq DIR: bytes of DIR packed as an xz squashfs
	local out
	out=$(mktemp)
	mksquashfs "$1" "$out" -noappend -all-root -comp xz -b 262144 -no-progress -quiet >/dev/null 2>&1 || { rm -f "$out"; return 1; }
	stat -c %s "$out"
	rm -f "$out"
}
stage=$(mktemp -d)
for f in "${added[@]}"; do
	mkdir -p "$stage/$(dirname "$f")"
	cp -a "$root/$f" "$stage/$f"
done
add=$(sq "$stage")
rm -rf "$stage"
total=$(sq "$root")
parts=0
if [ -d "$root/../image_parts" ]; then # firmware-mod-kit's kernel and headers
	parts=$(find "$root/../image_parts" -maxdepth 1 -type f ! -name 'rootfs*' -printf '%s\n' | awk '{s+=$1} END{print s+0}')
fi
budget=$((flash * 1024 * 1024))
image=$((total + parts))
printf 'size: knockd-go adds %d KiB to the root squashfs (xz); the root packs to %d KiB' $((add / 1024)) $((total / 1024))
[ "$parts" -gt 0 ] && printf ', %d KiB with the image'"'"'s other parts' $((image / 1024))
printf '\n'
if [ "$image" -le "$budget" ]; then
	printf 'size: fits %d MB of flash: %d KiB left (before the boot loader'"'"'s and the settings'"'"' partitions)\n' "$flash" $(((budget - image) / 1024))
else
	printf 'size: does NOT fit %d MB of flash: %d KiB too much\n' "$flash" $(((image - budget) / 1024))
	exit 3
fi
