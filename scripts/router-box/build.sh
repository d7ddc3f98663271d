#!/usr/bin/env bash
# build.sh [ARCH...]: build the router-in-a-box guests (make router-box).
#
# ARCH is mipsel (malta, 24Kc, 64 MB) or armhf (virt, Cortex-A7, 128 MB);
# default both. Everything comes from Debian 12 packages of that
# architecture, fetched with `apt-get download` against a private apt
# state (the host's dpkg architectures are left alone) and unpacked with
# dpkg-deb -x: the kernel and its own modules, busybox-static, iptables,
# nftables, msmtp and knockd 0.8. knockd-go is the binary the packages ship
# (scripts/cross.sh, targets mipsle and arm7), and knockd-go-prof beside it,
# the same built with the benchmark's profiles. The output, under
# build/router-box/ARCH (ignored by git; ROUTER_BOX_DIR to move it):
#   kernel      the kernel (vmlinux for malta, vmlinuz for virt)
#   initrd.gz   the initramfs: /init is scripts/router-box/init
#   usr.sqfs    /usr, a squashfs disk (virtio-blk)
#   qemu.args   the machine's qemu-system arguments, one a line
# Downloads and unpacked packages are cached there; only knockd-go and the
# initramfs are rebuilt on each run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${ROUTER_BOX_DIR:-$root/build/router-box}
mkdir -p "$out"
out=$(cd "$out" && pwd)
die() { echo "router-box: $*" >&2; exit 1; }
for t in qemu-system-mipsel qemu-system-arm dpkg-deb cpio readelf apt-get depmod mksquashfs; do
	command -v "$t" >/dev/null || die "$t not found (run scripts/router-box/deps.sh)"
done

# Packages of every guest, besides its kernel. The libraries the programs
# need are found from their ELF headers (below), among the packages that
# apt resolves as their dependencies.
PROGS="busybox-static iptables nftables msmtp knockd"

# Modules the guests load (with what modules.dep says they need).
MODULES="af_packet crc32c_generic virtio_mmio virtio_pci virtio_net virtio_blk squashfs pcnet32
x_tables ip_tables ip6_tables iptable_filter iptable_nat ip6table_filter ip6table_nat
xt_tcpudp xt_conntrack xt_state xt_comment xt_multiport xt_NAT xt_nat xt_MASQUERADE
xt_recent xt_LOG xt_limit xt_mark xt_set nf_conntrack nf_nat nf_reject_ipv4 nf_reject_ipv6
ipt_REJECT ip6t_REJECT nf_tables nft_chain_nat nft_ct nft_nat nft_masq nft_reject
nft_reject_inet nft_compat nft_counter nft_limit nft_redir nft_fib_inet nft_fib_ipv4 nft_fib_ipv6
nf_log_syslog nft_log nft_hash nft_quota nft_numgen nft_objref nft_socket"

XTABLES="standard tcp udp icmp icmp6 conntrack state comment multiport mark limit recent
DNAT SNAT MASQUERADE NAT REJECT LOG"

arch_vars() {
	case "$1" in
	mipsel)
		kpkg=linux-image-4kc-malta target=mipsle triplet=mipsel-linux-gnu goenv="GOARCH=mipsle GOMIPS=softfloat"
		;;
	armhf)
		kpkg=linux-image-armmp target=arm7 triplet=arm-linux-gnueabihf goenv="GOARCH=arm GOARM=7"
		;;
	*) die "unknown architecture $1 (mipsel or armhf)" ;;
	esac
}

# fetch ARCH: the packages' .debs into $dir/debs, unpacked into $dir/pkgs.
fetch() {
	local arch=$1 dir=$out/$1 st deps
	st=$dir/apt
	local apt=(bash "$here/apt.sh" "$arch" "$st")
	local want="$PROGS $kpkg"
	if [ -f "$dir/pkgs/.done" ] && [ "$(cat "$dir/pkgs/.done")" = "$want" ]; then
		return 0
	fi
	echo "router-box: $arch: fetching Debian packages ($want)"
	"${apt[@]}" apt-get update >/dev/null
	# The kernel metapackage names the versioned image; the programs'
	# dependencies that are libraries (lib* and zlib1g) come along.
	# shellcheck disable=SC2086 # a list of names
	deps=$("${apt[@]}" apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances $PROGS "$kpkg" 2>/dev/null |
		grep -v '^[ <]' | grep -E '^(lib|zlib1g|linux-image-[0-9])' |
		grep -Ev '^(libpython|libperl|libsystemd-shared|libpam|libsemanage|libcryptsetup|libdevmapper|libfdisk|libklibc|libdebian-installer|libnewt|libslang|libsqlite|libdb5|libgdbm|libtextwrap)' |
		sort -u)
	rm -rf "$dir/debs" "$dir/pkgs"
	mkdir -p "$dir/debs" "$dir/pkgs"
	# shellcheck disable=SC2086 # lists of package names
	(cd "$dir/debs" && "${apt[@]}" apt-get download $PROGS $deps >/dev/null)
	for d in "$dir"/debs/*.deb; do
		dpkg-deb -x "$d" "$dir/pkgs"
	done
	echo "$want" >"$dir/pkgs/.done"
}

# needed_libs ROOT FILE...: the shared libraries FILEs need, resolved in
# ROOT's library directories, recursively; prints paths relative to ROOT.
# Fails naming the library that no package provides.
needed_libs() {
	local r=$1 f so p found
	shift
	local -A seen=()
	local queue=("$@")
	while [ ${#queue[@]} -gt 0 ]; do
		f=${queue[0]}
		queue=("${queue[@]:1}")
		for so in $(readelf -d "$r/$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			[ -z "${seen[$so]:-}" ] || continue
			found=""
			for p in "lib/$triplet" "usr/lib/$triplet" lib usr/lib; do
				if [ -e "$r/$p/$so" ]; then
					found=$p/$so
					break
				fi
			done
			[ -n "$found" ] || die "$f needs $so, which no fetched package holds"
			seen[$so]=$found
			echo "$found"
			queue+=("$found")
		done
	done
}

# copy FROM TO PATH...: copy PATHs (relative) keeping symlinks, and the
# file a symlink points to.
copy() {
	local from=$1 to=$2 p t
	shift 2
	for p in "$@"; do
		mkdir -p "$to/$(dirname "$p")"
		cp -a "$from/$p" "$to/$p"
		if [ -L "$from/$p" ]; then
			t=$(readlink "$from/$p")
			case "$t" in /*) t=${t#/} ;; *) t=$(dirname "$p")/$t ;; esac
			[ -e "$to/$t" ] || copy "$from" "$to" "$t"
		fi
	done
}

# module_closure MODDIR NAME...: paths (relative to MODDIR) of the modules
# and what they depend on, per modules.dep; names the kernel has built in
# are skipped.
module_closure() {
	local md=$1 m
	shift
	for m in "$@"; do
		awk -v m="$m" -F: '{ n = $1; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n) }
			n == m { print $1; k = split($2, d, " "); for (i = 1; i <= k; i++) print d[i] }' "$md/modules.dep"
	done | sort -u
}

# image ARCH: assemble the initramfs.
image() {
	local arch=$1 dir=$out/$1 p r kver mods
	p=$dir/pkgs r=$dir/root
	echo "router-box: $arch: knockd-go ($target, as the packages ship it)"
	TARGETS=$target CLIENT_TARGETS="" bash "$root/scripts/cross.sh" "$dir/bin" >"$dir/cross.log" 2>&1 ||
		{ cat "$dir/cross.log" >&2; die "cross.sh failed"; }
	rm -rf "$r"
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,var/run,var/log,root,lib/modules,mnt}
	chmod 1777 "$r/tmp"
	# Programs, their libraries, the dynamic loader, iptables' extensions.
	local progs=(bin/busybox usr/sbin/xtables-legacy-multi usr/sbin/xtables-nft-multi usr/sbin/nft
		usr/bin/msmtp usr/sbin/knockd)
	copy "$p" "$r" "${progs[@]}"
	# iptables' extensions: those a router's rules use (each is 64 KiB on MIPS).
	local ext=() e
	for e in $XTABLES; do
		for f in "$p"/usr/lib/"$triplet"/xtables/lib{xt,ipt,ip6t}_"$e".so; do
			[ ! -e "$f" ] || ext+=("$f")
		done
	done
	copy "$p" "$r" "${ext[@]#"$p"/}"
	local ld
	ld=$(readelf -l "$p/usr/sbin/knockd" | sed -n 's/.*interpreter: \/\(.*\)\]/\1/p')
	copy "$p" "$r" "$ld"
	# shellcheck disable=SC2046 # one path a line
	copy "$p" "$r" $( (needed_libs "$p" "${progs[@]}" && needed_libs "$p" "${ext[@]#"$p"/}") | sort -u)
	local t
	for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
		ln -s xtables-legacy-multi "$r/usr/sbin/$t"
		ln -s xtables-legacy-multi "$r/usr/sbin/${t/tables/tables-legacy}"
		ln -s xtables-nft-multi "$r/usr/sbin/${t/tables/tables-nft}"
	done
	ln -s ../bin/msmtp "$r/usr/sbin/sendmail" # as msmtp-mta does
	cp "$p/etc/ethertypes" "$r/etc/" 2>/dev/null || true
	# knockd-go and Debian's knockd 0.8 side by side.
	install -m 0755 "$dir/bin/$target/knockd" "$r/usr/sbin/knockd-go"
	# The same with the benchmark's profiles (tags knockd_profile; see
	# src/internal/tune), for scripts/router-box/profile.sh. It lives in
	# /usr, on the disk: it costs the guest no memory unless it runs.
	# ROUTER_BOX_PROF_GCFLAGS: other -gcflags words for it (e.g. to see
	# what inlining a package buys: "-gcflags=all=-l -gcflags=PKG=").
	local gcf ov
	ov=$(bash scripts/cross.sh --overlay "$target") # the MIPS runtime's usleep (cross.sh)
	read -ra gcf <<<"${ROUTER_BOX_PROF_GCFLAGS:--gcflags=$(bash scripts/cross.sh --gcflags "$target")}"
	# shellcheck disable=SC2086 # goenv is a list of VAR=value words
	(cd "$root" && env CGO_ENABLED=0 GOFLAGS= GOOS=linux $goenv go build -trimpath -buildvcs=false -tags knockd_profile \
		${ov:+"$ov"} "${gcf[@]}" -ldflags="$(bash scripts/cross.sh --ldflags "$target")" \
		-o "$r/usr/sbin/knockd-go-prof" ./src/cmd/knockd)
	mkdir -p "$r/usr/share"
	cp -a "$root/files/usr/share/nftables.d" "$r/usr/share/"
	# The kernel's own modules.
	kver=$(basename "$(ls -d "$p"/lib/modules/*)")
	mkdir -p "$r/lib/modules/$kver"
	[ -s "$p/lib/modules/$kver/modules.dep" ] || depmod -b "$p" -F "$p/boot/System.map-$kver" "$kver"
	cp "$p/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$r/lib/modules/$kver/" 2>/dev/null || true
	# shellcheck disable=SC2086 # a list of names
	mods=$(module_closure "$p/lib/modules/$kver" $MODULES)
	for m in $mods; do
		copy "$p/lib/modules/$kver" "$r/lib/modules/$kver" "$m"
	done
	# modules.dep of the copied modules only (busybox modprobe reads it).
	# shellcheck disable=SC2086 # a list of paths
	(cd "$r/lib/modules/$kver" && grep -F -f <(printf '%s:\n' $mods) "$p/lib/modules/$kver/modules.dep" >modules.dep)
	echo "$mods" | sed 's/.*\///; s/\.ko$//' >"$r/etc/modules"
	# Users: root only. No `nobody`: a router may lack it, knockd-go must start.
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\n' >"$r/etc/group"
	printf 'hosts: files\n' >"$r/etc/nsswitch.conf"
	printf '127.0.0.1 localhost\n192.0.2.100 client\n' >"$r/etc/hosts"
	printf 'tcp 6 TCP\nudp 17 UDP\nicmp 1 ICMP\n' >"$r/etc/protocols"
	mkdir -p "$r/etc/box" && cp -a "$here/guest/." "$r/etc/box/"
	install -m 0755 "$here/init" "$r/init"
	(cd "$root" && go run ./src/tools/boxserve fw4 wan lan /usr/share/nftables.d) >"$r/etc/box/fw4.nft"
	# /usr (with /lib/TRIPLET merged into it) is a read-only squashfs disk,
	# as a router's flash is: its files live in the page cache, which the
	# kernel can drop, not in RAM for good as the initramfs's do. gzip, not
	# OpenWrt's xz: xz costs the emulated CPU several times more per page.
	mv "$r/lib/$triplet"/* "$r/usr/lib/$triplet/"
	rmdir "$r/lib/$triplet"
	ln -s "../usr/lib/$triplet" "$r/lib/$triplet"
	rm -f "$dir/usr.sqfs"
	mksquashfs "$r/usr" "$dir/usr.sqfs" -comp gzip -all-root -no-progress -quiet >/dev/null
	local usize
	usize=$(du -sh "$r/usr" | cut -f1)
	rm -rf "${r:?}/usr"
	mkdir -p "$r/usr"
	(cd "$r" && find . -print0 | sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6n >"$dir/initrd.gz"
	case "$arch" in
	mipsel)
		cp "$p"/boot/vmlinuz-"$kver" "$dir/kernel"
		printf '%s\n' qemu-system-mipsel -M malta -cpu 24Kc -m 64 >"$dir/qemu.args"
		;;
	armhf)
		cp "$p"/boot/vmlinuz-"$kver" "$dir/kernel"
		printf '%s\n' qemu-system-arm -M virt -cpu cortex-a7 -m 128 >"$dir/qemu.args"
		;;
	esac
	echo "router-box: $arch: initramfs $(du -sh "$r" | cut -f1) ($(du -h "$dir/initrd.gz" | cut -f1) gzipped), /usr $usize ($(du -h "$dir/usr.sqfs" | cut -f1) squashfs) -> $dir"
}

main() {
	local a arches=${*:-mipsel armhf}
	for a in $arches; do
		arch_vars "$a"
		fetch "$a"
		image "$a"
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
