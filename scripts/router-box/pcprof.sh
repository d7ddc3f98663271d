#!/usr/bin/env bash
# pcprof.sh ARCH DAEMON [RATE]: where the guest's CPU goes while DAEMON
# (go: knockd-go as the packages ship it; 08: Debian's knockd 0.8; none:
# no daemon) runs alone in a router-box guest under RATE first knocks a
# second (default 20) from never-repeating spoofed sources, with a
# legitimate knock every 2 s (bench.sh's doors and traffic). It samples the
# guest CPU's program counter through QEMU's monitor (src/tools/pcsample)
# and prints the samples' split (the kernel's idle wait, the kernel, the
# knockd-go program, other programs) and the most frequent functions of
# the kernel (the guest's /proc/kallsyms) and of knockd-go (its line
# table). Go's own CPU profile is no use in the guest (profile.sh): at 20
# first knocks a second it caught 250 ms of the 6.6 s of CPU time the
# daemon's threads used.
#
# Environment: PCPROF_SECS (sampling time, default 40), PCPROF_HZ (samples
# a second, default 400), PCPROF_WARM (seconds of traffic before, 10),
# PCPROF_CLOCK (tcg, the default, or icount: -icount shift=1,sleep=on),
# PCPROF_LIMIT (functions listed, 25), PCPROF_OUT (a directory to keep the
# samples and the kernel's symbols in).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/router-box/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || rb_die "needs root (network namespaces)"
arch=${1:?usage: pcprof.sh ARCH go|08|none [RATE]}
d=${2:?usage: pcprof.sh ARCH go|08|none [RATE]}
rate=${3:-20}
SECS=${PCPROF_SECS:-40} HZ=${PCPROF_HZ:-400} WARM=${PCPROF_WARM:-10} CLOCK=${PCPROF_CLOCK:-tcg}
case $arch in
mipsel) target=mipsle ;;
armhf) target=arm7 ;;
*) rb_die "unknown ARCH $arch (mipsel or armhf)" ;;
esac
case $d in
go) start="knockd-go -i wan -c /etc/box/bench-go.conf >/tmp/kgo.log 2>&1" ;;
08) start="knockd -i wan -c /etc/box/bench-08.conf >/dev/null 2>&1" ;;
none) start="" ;;
*) rb_die "unknown DAEMON $d (go, 08 or none)" ;;
esac
case $rate in '' | *[!0-9]*) rb_die "RATE $rate: want first knocks a second" ;; esac
bin=$RB_OUT/$arch/bin/$target/knockd
[ -x "$bin" ] || rb_die "no $bin: run make router-box"
tools=$(mktemp -d)
trap 'box_stop; rm -rf "$tools"' EXIT
(cd "$RB_ROOT" && CGO_ENABLED=0 go build -o "$tools/boxserve" ./src/tools/boxserve &&
	CGO_ENABLED=0 go build -o "$tools/floodgen" ./src/tools/floodgen &&
	CGO_ENABLED=0 go build -o "$tools/pcsample" ./src/tools/pcsample)
WAN=192.0.2.1 A=192.0.2.100 WANMAC=52:54:00:00:00:01

extra=(-monitor "unix:$tools/mon.sock,server=on,wait=off")
[ "$CLOCK" = tcg ] || extra+=(-icount "shift=1,sleep=on")
box_start "$arch" "${extra[@]}"
trap 'box_stop; rm -rf "$tools"' EXIT # box_start set its own, box_stop alone
# The kernel's addresses differ from boot to boot: this boot's.
g "awk '\$2 ~ /^[tTwW]\$/' /proc/kallsyms" >"$tools/kallsyms"
if [ -n "$start" ]; then
	g "($start &)"
	g "sleep 2"
	g "pidof ${start%% *}" >/dev/null || rb_die "${start%% *} did not start: $(g 'cat /tmp/kgo.log')"
fi
ip netns exec "$BOX_C" "$tools/floodgen" -dev wan0 -dstmac "$WANMAC" -dst "$WAN" -port 7000 -rate "$rate" \
	-n $((rate * (SECS + WARM + 10))) -sources $((rate * (SECS + WARM + 10))) -src 11.0.0.1 -for "$((SECS + WARM + 10))s" >/dev/null 2>&1 &
fl=$!
sleep "$WARM"
ip netns exec "$BOX_C" "$tools/boxserve" knocks "$A" "$WAN" 7000,8000,9000 2s "$SECS" 5551 5552 >"$tools/knocks" 2>&1 &
kn=$!
"$tools/pcsample" sample "$tools/mon.sock" "$SECS" "$HZ" >"$tools/pcs"
wait "$kn" || true
kill "$fl" 2>/dev/null || true
wait "$fl" 2>/dev/null || true

echo "pcprof.sh: $arch, clock $CLOCK, daemon $d, $rate first knocks/s, $SECS s after $WARM s, $HZ samples a second"
case $d in
go) echo "legitimate knocks: $(awk 'NR == 1' "$tools/knocks")" ;;
08) echo "legitimate knocks: $(awk 'NR == 2' "$tools/knocks")" ;;
esac
"$tools/pcsample" report "$tools/kallsyms" "$bin" "${PCPROF_LIMIT:-25}" "$tools/pcs"
if [ -n "${PCPROF_OUT:-}" ]; then
	mkdir -p "$PCPROF_OUT"
	cp "$tools/pcs" "$PCPROF_OUT/pcs-$arch-$CLOCK-$d-$rate"
	cp "$tools/kallsyms" "$PCPROF_OUT/kallsyms-$arch-$CLOCK-$d-$rate"
fi
