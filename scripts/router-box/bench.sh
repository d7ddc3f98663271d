#!/usr/bin/env bash
# bench.sh [ARCH...]: knockd-go and Debian's knockd 0.8 side by side in the
# router-box guests (make bench-router; make router-box first), both running
# in the same guest at once, both listening on the guest's WAN, each with a
# door (7000,8000,9000) whose command answers the knocker with a TCP
# connection. Each guest boots twice: with TCG's clock and with an
# instruction-counted one (-icount shift=1,sleep=on). Figures:
#   idle: CPU ms and wake-ups (context switches) a minute, RSS
#   R first knocks/s (R = 20, 200, 2000) from never-repeating spoofed
#     sources for SECS seconds after a warm-up of WARM seconds, a legitimate
#     knock every 2 s meanwhile: CPU ms, and knocks opened
#   quiet knock -> command latency (median, max ms; host clock)
#   a churn of 100k sources at 2000 a second: RSS after; MemAvailable
#     before the daemons start and after the churn
#   the highest flood the emulated NIC carries for SECS seconds: its rate,
#     and legitimate knocks opened
# Ratios are knockd-go / knockd 0.8: emulated time is not real time, the
# ratio in the same guest and run is the figure to read.
#
# Environment: BENCH_SECS (default 60), BENCH_WARM (10), BENCH_IDLE (60),
# BENCH_CLOCKS ("tcg icount").
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/router-box/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || rb_die "needs root (network namespaces)"
arches=${*:-mipsel armhf}
SECS=${BENCH_SECS:-60} WARM=${BENCH_WARM:-10} IDLE=${BENCH_IDLE:-60}
CLOCKS=${BENCH_CLOCKS:-tcg icount}
tools=$(mktemp -d)
trap 'box_stop; rm -rf "$tools"' EXIT
(cd "$RB_ROOT" && CGO_ENABLED=0 go build -o "$tools/boxserve" ./src/tools/boxserve &&
	CGO_ENABLED=0 go build -o "$tools/floodgen" ./src/tools/floodgen)
WAN=192.0.2.1 A=192.0.2.100 WANMAC=52:54:00:00:00:01
declare -A R

inC() { ip netns exec "$BOX_C" "$@"; }
# stat: "ticks_go rss_go sw_go ticks_08 rss_08 sw_08"
pstat() { g "sh /etc/box/procstat knockd-go knockd" | awk '{printf "%s %s %s ", $2, $3, $4} END {print ""}'; }
memavail() { g "awk '/MemAvailable/ {print \$2}' /proc/meminfo"; }
rxpkts() { g "cat /sys/class/net/wan/statistics/rx_packets"; }
flood() { # RATE N SRC SECS; run it in a subshell or in the background: it
	# execs. It stops after SECS seconds at most: at full rate the sender
	# waits for the tap, which the guest empties at its own pace (slowly
	# with -icount).
	exec ip netns exec "$BOX_C" "$tools/floodgen" -dev wan0 -dstmac "$WANMAC" -dst "$WAN" -port 7000 -rate "$1" -n "$2" -sources "$2" -src "$3" -for "$4s" >/dev/null 2>&1
}
# knocks SECS EVERY: "sent_go opened_go med_go max_go opened_08 med_08 max_08"
knocks() {
	inC "$tools/boxserve" knocks "$A" "$WAN" 7000,8000,9000 "$2" "$1" 5551 5552 |
		awk '{s = $3; o[NR] = $5; m[NR] = $7; x[NR] = $9} END {print s, o[1], m[1], x[1], o[2], m[2], x[2]}'
}

# run ARCH CLOCK: one boot, every figure for both daemons.
run() {
	local arch=$1 clock=$2 k=$1,$2 s0 s1 kn extra=() i r
	[ "$clock" = tcg ] || extra=(-icount "shift=1,sleep=on")
	box_start "$arch" "${extra[@]}"
	R[$k,mem0]=$(memavail)
	g "(knockd-go -i wan -c /etc/box/bench-go.conf >/tmp/kgo.log 2>&1 &)"
	sleep "$WARM"
	R[$k,mem_go]=$(memavail)
	g "(knockd -i wan -c /etc/box/bench-08.conf >/dev/null 2>&1 &)"
	sleep "$WARM"
	R[$k,mem_both]=$(memavail)
	g "pidof knockd-go && pidof knockd" >/dev/null || rb_die "$arch: the daemons did not start: $(g 'cat /tmp/kgo.log /tmp/k08.log')"
	# Idle.
	read -ra s0 <<<"$(pstat)"
	sleep "$IDLE"
	read -ra s1 <<<"$(pstat)"
	R[$k,idle_cpu_go]=$(((s1[0] - s0[0]) * 10)) R[$k,idle_cpu_08]=$(((s1[3] - s0[3]) * 10))
	R[$k,idle_wake_go]=$(((s1[2] - s0[2]) * 60 / IDLE)) R[$k,idle_wake_08]=$(((s1[5] - s0[5]) * 60 / IDLE))
	R[$k,idle_rss_go]=${s1[1]} R[$k,idle_rss_08]=${s1[4]}
	# Quiet latency.
	read -ra kn <<<"$(knocks 20 1s)"
	R[$k,lat_go]="${kn[2]}/${kn[3]}" R[$k,lat_08]="${kn[5]}/${kn[6]}"
	R[$k,lat_med_go]=${kn[2]} R[$k,lat_med_08]=${kn[5]}
	# Low rates, never-repeating sources.
	i=1
	for r in 20 200 2000; do
		flood "$r" $((r * (SECS + WARM + 5))) "1$i.0.0.1" $((SECS + WARM + 10)) &
		local fl=$!
		sleep "$WARM"
		read -ra s0 <<<"$(pstat)"
		read -ra kn <<<"$(knocks "$SECS" 2s)"
		read -ra s1 <<<"$(pstat)"
		kill "$fl" 2>/dev/null || true
		wait "$fl" 2>/dev/null || true
		R[$k,r${r}_cpu_go]=$(((s1[0] - s0[0]) * 10)) R[$k,r${r}_cpu_08]=$(((s1[3] - s0[3]) * 10))
		R[$k,r${r}_open_go]="${kn[1]}/${kn[0]}" R[$k,r${r}_open_08]="${kn[4]}/${kn[0]}"
		i=$((i + 1))
	done
	# Churn: 100k sources at 2000 a second (at full rate the tap drops
	# what the guest has not taken: a burst of 100k packets reached the
	# guest as ~5k), 60 s at most; the row says how many arrived.
	local c0
	c0=$(rxpkts)
	(flood 2000 100000 20.0.0.1 60) || true
	sleep 2
	R[$k,churn_rx]=$(($(rxpkts) - c0))
	read -ra s1 <<<"$(pstat)"
	R[$k,churn_rss_go]=${s1[1]} R[$k,churn_rss_08]=${s1[4]}
	R[$k,mem1]=$(memavail)
	# The highest flood the NIC carries, legitimate knocks meanwhile.
	local p0 p1
	p0=$(rxpkts)
	flood 0 100000000 30.0.0.1 $((SECS + 10)) &
	local fl=$!
	read -ra kn <<<"$(knocks "$SECS" 2s)"
	kill "$fl" 2>/dev/null || true
	wait "$fl" 2>/dev/null || true
	p1=$(rxpkts)
	R[$k,max_pps]=$(((p1 - p0) / SECS))
	R[$k,max_open_go]="${kn[1]}/${kn[0]}" R[$k,max_open_08]="${kn[4]}/${kn[0]}"
	R[$k,log_go]=$(g "tail -n 3 /tmp/kgo.log")
	# Did both daemons live through it (the kernel's OOM killer, a crash)?
	R[$k,alive]=$(g "echo knockd-go: \$(pidof knockd-go || echo gone), knockd 0.8: \$(pidof knockd || echo gone);" \
		"dmesg | grep -iE 'out of memory|killed process|oom' | tail -n 3")
	box_stop
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "" && a != "-") printf "%.2f", a / b; else print "-" }'
}
row() { # LABEL KEY(no suffix) CLOCKS...
	local label=$1 key=$2 k line
	line=$(printf '%-44s' "$label")
	for k in "${keys[@]}"; do
		local go=${R[$k,${key}_go]:--} o8=${R[$k,${key}_08]:--}
		line+=$(printf ' | %8s %8s %5s' "$go" "$o8" "$(ratio "${go%%/*}" "${o8%%/*}")")
	done
	echo "$line"
}

for arch in $arches; do
	for clock in $CLOCKS; do
		echo "bench-router: $arch, clock $clock (SECS=$SECS WARM=$WARM IDLE=$IDLE)"
		run "$arch" "$clock"
	done
done

for arch in $arches; do
	keys=()
	hdr=$(printf '%-44s' "$arch ($(head -c 200 "$RB_OUT/$arch/qemu.args" | tr '\n' ' '))")
	for clock in $CLOCKS; do
		keys+=("$arch,$clock")
		hdr+=$(printf ' | %-24s' "clock $clock: go 0.8 ratio")
	done
	echo
	echo "$hdr"
	row "idle: CPU ms over ${IDLE} s" idle_cpu
	row "idle: wake-ups/min" idle_wake
	row "idle: RSS kB" idle_rss
	row "knock->command latency median/max ms" lat
	for r in 20 200 2000; do
		row "$r first knocks/s, ${SECS} s: CPU ms" "r${r}_cpu"
		row "  legitimate knocks opened" "r${r}_open"
	done
	row "RSS kB after a 100k-source churn" churn_rss
	for k in "${keys[@]}"; do
		echo "  ${k#*,}: MemAvailable kB: ${R[$k,mem0]} before; $((R[$k,mem0] - R[$k,mem_go])) less once knockd-go runs, $((R[$k,mem_go] - R[$k,mem_both])) less again once knockd 0.8 does; ${R[$k,mem1]} after the churn ($((R[$k,mem0] - R[$k,mem1])) below the start, both daemons); churn: ${R[$k,churn_rx]} packets reached the guest's WAN; highest flood ${R[$k,max_pps]} pps"
	done
	row "highest flood: legitimate knocks opened" max_open
	for k in "${keys[@]}"; do
		echo "  ${k#*,}: at the end, pids ${R[$k,alive]}"
		echo "  ${k#*,}: knockd-go's last log lines: ${R[$k,log_go]//$'\n'/ | }"
	done
done
