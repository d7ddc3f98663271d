#!/usr/bin/env bash
# latency-trace.sh [N]: where the time between a knock and its command goes.
# knockd-go (this tree, as root: the daemon and its spawner) listens on a
# veth device in a network namespace of its own; N (default 10) knock
# sequences come from a peer namespace; the kernel's tracepoints (perf)
# time each last knock's way: the packet on the device, the daemon's
# thread woken from epoll, the packet read (recvmmsg), the request to the
# spawner (sendmsg), the spawner's read (recvmsg), its fork (clone), the
# command's execve, the new program loaded (execve returns) and running
# (its first openat: the file it stamps). Prints one line a knock (µs from
# the packet) and the medians. LT_GAP (seconds, default 0.3) is the pause
# after each knock's command (make bench's latency rows wait 2 s). perf
# adds a few µs a traced event; the bench (make bench) has the untraced
# figure.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "latency-trace: needs root (network namespaces, perf)" >&2; exit 1; }
command -v perf >/dev/null || { echo "latency-trace: needs perf (Debian: linux-perf)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "latency-trace: needs gcc" >&2; exit 1; }
n=${1:-10}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
w=$(mktemp -d)
R=klt$$-r G=klt$$-g
cleanup() {
	pkill -f "$w/knockd" 2>/dev/null || true
	ip netns del "$R" 2>/dev/null || true
	ip netns del "$G" 2>/dev/null || true
	rm -rf "$w"
}
trap cleanup EXIT
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$w/knockd" ./src/cmd/knockd &&
	CGO_ENABLED=0 go build -o "$w/knock" ./src/cmd/knock)
cat >"$w/stamp.c" <<'C'
#include <stdio.h>
int main(int c, char **v) { FILE *f = fopen(v[1], "w"); if (f) fclose(f); return 0; }
C
gcc -O2 -static -o "$w/stamp" "$w/stamp.c"
ip netns add "$R"
ip netns add "$G"
ip -n "$R" link add wan0 type veth peer name gen0 netns "$G"
ip -n "$R" addr add 192.0.2.1/24 dev wan0
ip -n "$G" addr add 192.0.2.2/24 dev gen0
for ns in "$R" "$G"; do ip -n "$ns" link set lo up; done
ip -n "$R" link set wan0 up
ip -n "$G" link set gen0 up
cat >"$w/knockd.conf" <<C
[options]
    firewall = none
[lat]
    sequence    = 7000,8000,9000
    seq_timeout = 5
    tcpflags    = syn
    command     = $w/stamp $w/flag
C
ip netns exec "$R" "$w/knockd" -i wan0 -c "$w/knockd.conf" --socket "$w/ctl" >"$w/log" 2>&1 &
for _ in $(seq 50); do [ -S "$w/ctl" ] && break; sleep 0.1; done
daemon=$(pgrep -f "^$w/knockd -i" | head -n1)
spawner=$(pgrep -f "^$w/knockd spawner" | head -n1)
if [ -z "$daemon" ] || [ -z "$spawner" ]; then
	cat "$w/log" >&2
	exit 1
fi
perf record -q -a -o "$w/perf.data" -e net:netif_receive_skb -e syscalls:sys_exit_epoll_pwait \
	-e syscalls:sys_enter_recvmmsg -e syscalls:sys_enter_sendmsg -e syscalls:sys_enter_recvmsg \
	-e syscalls:sys_enter_clone -e syscalls:sys_enter_execve -e syscalls:sys_exit_execve \
	-e syscalls:sys_enter_openat >/dev/null 2>&1 &
perf=$!
sleep 1
# The first command also probes pidfd support (one more fork): left out.
for _ in $(seq $((n + 1))); do
	rm -f "$w/flag"
	ip netns exec "$G" "$w/knock" -d 50 192.0.2.1 7000 8000 9000
	for _ in $(seq 100); do [ -e "$w/flag" ] && break; sleep 0.01; done
	sleep "${LT_GAP:-0.3}"
done
kill -INT "$perf"
wait "$perf" 2>/dev/null || true
perf script -i "$w/perf.data" -F pid,time,event,trace 2>/dev/null |
	awk -v D="$daemon" -v S="$spawner" '
	function us(t) { return sprintf("%6.0f", (t - rx) * 1e6) }
	{ pid = $1; t = $2 + 0; ev = $3 }
	ev ~ /netif_receive_skb/ && /dev=wan0/ { rx = t; ep = rm = sm = sr = cl = 0; next }
	pid == D && ev ~ /sys_exit_epoll_pwait/ && $NF != "0x0" && rx && !ep { ep = t; next }
	pid == D && ev ~ /sys_enter_recvmmsg/ && ep && !rm { rm = t; next }
	pid == D && ev ~ /sys_enter_sendmsg/ && rm && !sm { sm = t; next }
	pid == S && ev ~ /sys_enter_recvmsg/ && sm && !sr { sr = t; next }
	pid == S && ev ~ /sys_enter_clone/ && sr { cl = t; next }
	ev ~ /sys_enter_execve/ && pid != D && pid != S && cl && rx && t - cl < 0.05 { ex = t; cp = pid; next }
	ev ~ /sys_exit_execve/ && pid == cp && ex && !ed { ed = t; next }
	ev ~ /sys_enter_openat/ && pid == cp && ed {
		k++
		if (k > 1) {
			printf "knock %2d: daemon woken %s, packet read %s, request sent %s, spawner read %s, fork %s, exec %s, exec done %s, command running %s µs\n", k - 1, us(ep), us(rm), us(sm), us(sr), us(cl), us(ex), us(ed), us(t)
			print us(ep), us(rm), us(sm), us(sr), us(cl), us(ex), us(ed), us(t) > "/dev/stderr"
		}
		rx = ep = rm = sm = sr = cl = ex = ed = cp = 0
	}' 2>"$w/rows"
for c in 1 2 3 4 5 6 7 8; do sort -n -k"$c","$c" "$w/rows" | awk -v c="$c" '{a[NR] = $c} END {printf "%s ", a[int((NR + 1) / 2)]}'; done |
	awk '{printf "median (µs from the packet on the device): daemon woken %s, packet read %s, request sent %s, spawner read %s, fork %s, exec %s, exec done %s, command running %s\n", $1, $2, $3, $4, $5, $6, $7, $8}'
