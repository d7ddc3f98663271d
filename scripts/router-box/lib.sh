#!/usr/bin/env bash
# lib.sh: start a router-box guest and talk to it (sourced by test.sh,
# smoke.sh and bench.sh).
#
#   box_start ARCH [QEMU_ARGS...]  boot build/router-box/ARCH; sets BOX_C (the
#                 client's namespace: tap "wan0", 192.0.2.100 and .101, the
#                 guest's WAN 192.0.2.1) and BOX_L (the LAN host's namespace:
#                 tap "lan0", 192.168.1.51, via 192.168.1.1)
#   g CMD...      run CMD in the guest's shell; prints its output, returns its
#                 status (G_TIMEOUT seconds at most, default 120)
#   gput FILE DEST  copy a host file into the guest
#   box_stop      power off, remove the namespaces (an EXIT trap does it too)
#
# BOX_NIC names another NIC model for both NICs (default: pcnet on malta,
# virtio-net-device on virt); BOX_APPEND adds to the kernel's command line;
# BOX_QEMU names another qemu-system binary (bench.sh: why).
#
# The guest's qemu runs in a namespace of its own holding the two tap
# devices; once qemu has them open, they move into the client's and the
# LAN host's namespaces. No traffic leaves those namespaces.

RB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RB_OUT=${ROUTER_BOX_DIR:-$RB_ROOT/build/router-box}
BOX_ID=rb$$
BOX_Q=$BOX_ID-q BOX_C=$BOX_ID-c BOX_L=$BOX_ID-l
BOX_WORK="" BOX_PID=""

rb_die() { echo "router-box: $*" >&2; exit 1; }

box_stop() {
	if [ -n "$BOX_PID" ]; then
		kill "$BOX_PID" 2>/dev/null || true
		# qemu with -icount may not stop on SIGTERM while its CPU is
		# busy: 10 s, then SIGKILL.
		local _
		for _ in $(seq 100); do
			kill -0 "$BOX_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$BOX_PID" 2>/dev/null || true
		wait "$BOX_PID" 2>/dev/null || true
		BOX_PID=""
	fi
	exec 3>&- 4<&- 2>/dev/null || true
	local n
	for n in "$BOX_Q" "$BOX_C" "$BOX_L"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$n" 2>/dev/null || true
	done
	[ -z "$BOX_WORK" ] || rm -rf "$BOX_WORK"
	BOX_WORK=""
}

# rb_wait_carrier NS DEV: until qemu holds the tap (carrier up), 30 s at most.
rb_wait_carrier() {
	local _
	for _ in $(seq 300); do
		ip -n "$1" link show "$2" 2>/dev/null | grep -q LOWER_UP && return 0
		kill -0 "$BOX_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

box_start() {
	local arch=$1 dir line con
	shift
	dir=$RB_OUT/$arch
	[ -s "$dir/initrd.gz" ] || rb_die "no image for $arch: run make router-box"
	BOX_WORK=$(mktemp -d)
	trap box_stop EXIT
	ip netns add "$BOX_Q"
	ip netns add "$BOX_C"
	ip netns add "$BOX_L"
	ip -n "$BOX_Q" tuntap add dev wan0 mode tap
	ip -n "$BOX_Q" tuntap add dev lan0 mode tap
	ip -n "$BOX_Q" link set wan0 up
	ip -n "$BOX_Q" link set lan0 up
	mkfifo "$BOX_WORK/con.in" "$BOX_WORK/con.out"
	local qemu nic blk
	mapfile -t qemu <"$dir/qemu.args"
	# BOX_QEMU: another qemu-system binary for the machine (e.g. a newer
	# QEMU than the distribution's, unpacked from its package).
	[ -z "${BOX_QEMU:-}" ] || qemu[0]=$BOX_QEMU
	case "$arch" in
	mipsel) nic=pcnet,romfile= blk=virtio-blk-pci con=ttyS0 ;;
	armhf) nic=virtio-net-device blk=virtio-blk-device con=ttyAMA0 ;;
	esac
	# BOX_NIC: another NIC model (e.g. virtio-net-pci,romfile= on malta).
	nic=${BOX_NIC:-$nic}
	ip netns exec "$BOX_Q" "${qemu[@]}" -nodefaults -display none -no-reboot \
		-kernel "$dir/kernel" -initrd "$dir/initrd.gz" \
		-append "console=$con quiet loglevel=1 panic=-1 ${BOX_APPEND:-}" \
		-drive file="$dir/usr.sqfs",if=none,format=raw,readonly=on,id=usr -device "$blk,drive=usr" \
		-chardev pipe,id=con,path="$BOX_WORK/con" -serial chardev:con \
		-netdev tap,id=w,ifname=wan0,script=no,downscript=no -device "$nic,netdev=w,mac=52:54:00:00:00:01" \
		-netdev tap,id=l,ifname=lan0,script=no,downscript=no -device "$nic,netdev=l,mac=52:54:00:00:00:02" \
		"$@" >"$BOX_WORK/qemu.log" 2>&1 &
	BOX_PID=$!
	exec 3<>"$BOX_WORK/con.in" 4<>"$BOX_WORK/con.out"
	if ! rb_wait_carrier "$BOX_Q" wan0 || ! rb_wait_carrier "$BOX_Q" lan0; then
		rb_die "qemu did not open its taps: $(cat "$BOX_WORK/qemu.log")"
	fi
	ip -n "$BOX_Q" link set wan0 netns "$BOX_C"
	ip -n "$BOX_Q" link set lan0 netns "$BOX_L"
	ip -n "$BOX_C" link set lo up
	ip -n "$BOX_C" link set wan0 up
	ip -n "$BOX_C" addr add 192.0.2.100/24 dev wan0
	ip -n "$BOX_C" addr add 192.0.2.101/24 dev wan0
	ip -n "$BOX_L" link set lo up
	ip -n "$BOX_L" link set lan0 up
	ip -n "$BOX_L" addr add 192.168.1.51/24 dev lan0
	ip -n "$BOX_L" route add default via 192.168.1.1
	local t0=$SECONDS
	while :; do
		IFS= read -r -t $((${BOX_BOOT_TIMEOUT:-300} - (SECONDS - t0) + 1)) line <&4 ||
			rb_die "$arch did not boot in ${BOX_BOOT_TIMEOUT:-300} s: $(cat "$BOX_WORK/qemu.log")"
		line=${line%$'\r'}
		case "$line" in
		@@ready*)
			echo "router-box: $arch up in $((SECONDS - t0)) s: ${line#@@ready }"
			break
			;;
		esac
	done
}

g() {
	local line t0=$SECONDS limit=${G_TIMEOUT:-120}
	local cmd=$*
	printf '%s\n' "${cmd//$'\n'/ }" >&3
	while IFS= read -r -t $((limit - (SECONDS - t0) + 1)) line <&4; do
		line=${line%$'\r'}
		case "$line" in
		*@@rc=*)
			[ -z "${line%%@@rc=*}" ] || printf '%s\n' "${line%%@@rc=*}"
			return "${line##*@@rc=}"
			;;
		esac
		printf '%s\n' "$line"
		[ $((SECONDS - t0)) -le "$limit" ] || break
	done
	echo "router-box: no answer from the guest to: $*" >&2
	return 124
}

gput() {
	local b64 line
	b64=$(base64 -w 3000 <"$1")
	g ": >/tmp/.put"
	while IFS= read -r line; do
		g "echo $line >>/tmp/.put" >/dev/null
	done <<<"$b64"
	g "base64 -d /tmp/.put >'$2' && rm /tmp/.put"
}
