#!/usr/bin/env bash
# bench.sh [ARCH...]: knockd-go and Debian's knockd 0.8 side by side in the
# router-box guests (make bench-router; make router-box first), one after
# the other in the same boot, each alone on the guest's WAN, each with a
# door (7000,8000,9000) whose command answers the knocker with a TCP
# connection. Each guest boots twice: with TCG's clock and with an
# instruction-counted one (-icount shift=1,sleep=on). Figures, per daemon:
#   idle: CPU ms and wake-ups (context switches) a minute, RSS and PSS
#   R first knocks/s (R = 20, 200, 2000) from never-repeating spoofed
#     sources for SECS seconds after a warm-up of WARM seconds, a legitimate
#     knock every 2 s meanwhile: the guest's CPU ms (every task, interrupts
#     and softirqs included) above the same traffic with no daemon, the
#     daemon's own processes' CPU ms (clock ticks, and the scheduler's
#     run time: see guest/procstat), and knocks opened; and how many
#     seconds the guest's clock counted a host second meanwhile. The
#     traffic is paced by the host's clock; under -icount (shift=1,
#     sleep=on) the guest's clock ran 13 times as fast as the host's on
#     an idle guest: there each host second's packets meet 13 of the
#     guest's seconds of timers (a daemon's, the runtime's, the kernel's).
#   quiet knock -> command latency (median, max ms; host clock)
#   a churn of 100k sources at 2000 a second: RSS and PSS after, and 30 s
#     later once its sources have expired (RSS of the daemon's main process
#     alone beside the sum, whose program file is counted once per
#     process); MemAvailable before the daemon starts, once it runs, after
#     the churn and 30 s later
#   the highest flood the emulated NIC carries for SECS seconds: its rate,
#     and legitimate knocks opened (TCG's clock only: see run)
# Ratios are knockd-go / knockd 0.8: emulated time is not real time, the
# ratio in the same guest and run is the figure to read. The guest's CPU
# is the figure to compare: under a flood the kernel's receive work runs
# in softirqs charged to whichever task the tick finds running, so a
# daemon's own ticks depend on when it is awake, not only on what it does.
#
# Under -icount, QEMU 7.2 (Debian 12's) stopped the guest in three of five
# boots with floods, during or after one (the full-rate one, or the 2,000/s
# rate with no daemon): QEMU's main loop waited for its global lock, which
# the vCPU thread, spinning in the clock's warp and kick code at a whole
# host core, never let go of; no console, no network, for ten minutes and
# more. QEMU 10.0 (bookworm-backports) ran the whole boot. Unpacked from
# its packages beside the system's QEMU, with bookworm-backports in a
# sources.list of its own (apt-get's Dir::Etc::SourceList), it is used
# through BOX_QEMU:
#   apt-get download qemu-system-mips/bookworm-backports \
#     qemu-system-common/bookworm-backports qemu-system-data/bookworm-backports
#   for f in qemu-system-*.deb; do dpkg-deb -x "$f" /opt/qemu10; done
#   BOX_QEMU=/opt/qemu10/usr/bin/qemu-system-mipsel BENCH_CLOCKS=icount make bench-router
#
# Environment: BENCH_SECS (default 60), BENCH_WARM (10), BENCH_IDLE (60),
# BENCH_CLOCKS ("tcg icount"), BOX_QEMU (lib.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/router-box/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || rb_die "needs root (network namespaces)"
arches=${*:-mipsel armhf}
SECS=${BENCH_SECS:-60} WARM=${BENCH_WARM:-10} IDLE=${BENCH_IDLE:-60}
CLOCKS=${BENCH_CLOCKS:-tcg icount}
tools=$(mktemp -d)
# cur is the boot under way ("ARCH CLOCK"): should it end early (the
# guest stops answering under a flood), what it measured is printed.
cur=""
on_exit() {
	if [ -n "$cur" ]; then
		echo "bench-router: $cur: the boot ended early; what it measured:"
		# shellcheck disable=SC2086 # ARCH CLOCK
		table $cur
	fi
	box_stop
	rm -rf "$tools"
}
trap on_exit EXIT
(cd "$RB_ROOT" && CGO_ENABLED=0 go build -o "$tools/boxserve" ./src/tools/boxserve &&
	CGO_ENABLED=0 go build -o "$tools/floodgen" ./src/tools/floodgen)
WAN=192.0.2.1 A=192.0.2.100 WANMAC=52:54:00:00:00:01
declare -A R

inC() { ip netns exec "$BOX_C" "$@"; }
# pstat NAME: "ticks rss_kB switches pss_kB run_ms main_rss_kB
# main_anon_kB" of NAME's processes (guest/procstat).
pstat() { g "sh /etc/box/procstat $1" | awk '{print $2, $3, $4, $5, $6, $7, $8}'; }
# gcpu: the guest's busy CPU ticks, every CPU: user, nice, system, irq,
# softirq, steal.
gcpu() { g "head -n 1 /proc/stat" | awk '{print $2 + $3 + $4 + $7 + $8 + $9}'; }
memavail() { g "awk '/MemAvailable/ {print \$2}' /proc/meminfo"; }
rxpkts() { g "cat /sys/class/net/wan/statistics/rx_packets"; }
# clocks: "GUEST HOST", the guest's uptime and the host's monotonic time
# (seconds): under -icount the guest's clock is not the host's.
clocks() { echo "$(g "cut -d' ' -f1 /proc/uptime") $(awk '{print $1}' /proc/uptime)"; }
# pace T0 T1: the guest's seconds a host second between two clocks lines.
pace() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); if (y[2] > x[2]) printf "%.2f", (y[1] - x[1]) / (y[2] - x[2]); else print "-" }'
}
flood() { # RATE N SRC SECS; run it in a subshell or in the background: it
	# execs. It stops after SECS seconds at most: at full rate the sender
	# waits for the tap, which the guest empties at its own pace (slowly
	# with -icount).
	exec ip netns exec "$BOX_C" "$tools/floodgen" -dev wan0 -dstmac "$WANMAC" -dst "$WAN" -port 7000 -rate "$1" -n "$2" -sources "$2" -src "$3" -for "$4s" >/dev/null 2>&1
}
# knocks SECS EVERY D: "sent opened median max" for daemon D (go: the
# answers on 5551, 08: on 5552).
knocks() {
	local f=2
	[ "$3" = 08 ] && f=3
	inC "$tools/boxserve" knocks "$A" "$WAN" 7000,8000,9000 "$2" "$1" 5551 5552 |
		awk -v f="$f" '{s = $3; o[NR] = $5; m[NR] = $7; x[NR] = $9} END {i = f - 1; print s, o[i], m[i], x[i]}'
}
# The daemons: their program names and how each starts in the guest.
declare -A NAME=([go]=knockd-go [08]=knockd)
declare -A START=([go]="knockd-go -i wan -c /etc/box/bench-go.conf >/tmp/kgo.log 2>&1" [08]="knockd -i wan -c /etc/box/bench-08.conf >/dev/null 2>&1")
# stopd D: SIGTERM, then SIGKILL after 10 s.
stopd() {
	g "killall ${NAME[$1]} 2>/dev/null; i=0; while pidof ${NAME[$1]} >/dev/null && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done; killall -9 ${NAME[$1]} 2>/dev/null; true" >/dev/null
}
# rates K D PREFIX: the three rates; with D "none" only the guest's CPU.
rates() {
	local k=$1 d=$2 p=$3 r i=1 c0 c1 s0 s1 kn fl t0 t1
	for r in 20 200 2000; do
		flood "$r" $((r * (SECS + WARM + 5))) "$p$i.0.0.1" $((SECS + WARM + 10)) &
		fl=$!
		sleep "$WARM"
		c0=$(gcpu)
		t0=$(clocks)
		[ "$d" = none ] || read -ra s0 <<<"$(pstat "${NAME[$d]}")"
		read -ra kn <<<"$(knocks "$SECS" 2s "$d")"
		t1=$(clocks)
		c1=$(gcpu)
		[ "$d" = none ] || read -ra s1 <<<"$(pstat "${NAME[$d]}")"
		kill "$fl" 2>/dev/null || true
		wait "$fl" 2>/dev/null || true
		R[$k,r${r}_guest_$d]=$(((c1 - c0) * 10))
		R[$k,r${r}_pace_$d]=$(pace "$t0" "$t1")
		if [ "$d" != none ]; then
			local base=${R[$k,r${r}_guest_none]} mine=${R[$k,r${r}_guest_$d]}
			R[$k,r${r}_cpu_$d]=$((mine - base))
			R[$k,r${r}_own_$d]=$(((s1[0] - s0[0]) * 10))
			R[$k,r${r}_run_$d]=$((s1[4] - s0[4]))
			R[$k,r${r}_open_$d]="${kn[1]}/${kn[0]}"
		fi
		i=$((i + 1))
	done
}

# run ARCH CLOCK: one boot: the traffic with no daemon, then each daemon
# alone.
run() {
	local arch=$1 clock=$2 k=$1,$2 s0 s1 kn extra=() d m0 c0 p0 p1 fl pre=2
	# Under the instruction-counted clock a flood's backlog keeps the
	# guest's console waiting for minutes: 10 of them before giving up.
	local G_TIMEOUT=${G_TIMEOUT:-120}
	if [ "$clock" != tcg ]; then
		extra=(-icount "shift=1,sleep=on")
		G_TIMEOUT=600
	fi
	box_start "$arch" "${extra[@]}"
	trap on_exit EXIT # box_start set its own, box_stop alone
	rates "$k" none 1
	for d in go 08; do
		echo "bench-router: $k: ${NAME[$d]}" >&2
		m0=$(memavail)
		R[$k,mem0_$d]=$m0
		g "(${START[$d]} &)"
		sleep "$WARM"
		R[$k,memrun_$d]=$((m0 - $(memavail)))
		g "pidof ${NAME[$d]}" >/dev/null || rb_die "$arch: ${NAME[$d]} did not start: $(g 'cat /tmp/kgo.log')"
		# Idle.
		read -ra s0 <<<"$(pstat "${NAME[$d]}")"
		sleep "$IDLE"
		read -ra s1 <<<"$(pstat "${NAME[$d]}")"
		R[$k,idle_cpu_$d]=$(((s1[0] - s0[0]) * 10))
		R[$k,idle_wake_$d]=$(((s1[2] - s0[2]) * 60 / IDLE))
		R[$k,idle_rss_$d]=${s1[1]} R[$k,idle_pss_$d]=${s1[3]}
		R[$k,idle_mrss_$d]=${s1[5]} R[$k,idle_manon_$d]=${s1[6]}
		# Quiet latency.
		read -ra kn <<<"$(knocks 20 1s "$d")"
		R[$k,lat_$d]="${kn[2]}/${kn[3]}"
		# Low rates, never-repeating sources.
		rates "$k" "$d" "$pre"
		echo "bench-router: $k: ${NAME[$d]}: rates done, churn" >&2
		# Churn: 100k sources at 2000 a second (at full rate the tap
		# drops what the guest has not taken: a burst of 100k packets
		# reached the guest as ~5k), 60 s at most; the line says how
		# many arrived.
		c0=$(rxpkts)
		(flood 2000 100000 "${pre}9.0.0.1" 60) || true
		sleep 2
		R[$k,churn_rx_$d]=$(($(rxpkts) - c0))
		read -ra s1 <<<"$(pstat "${NAME[$d]}")"
		R[$k,churn_rss_$d]=${s1[1]} R[$k,churn_pss_$d]=${s1[3]}
		R[$k,churn_mrss_$d]=${s1[5]} R[$k,churn_manon_$d]=${s1[6]}
		R[$k,memchurn_$d]=$((m0 - $(memavail)))
		# And once the churn's sources have expired: what is given back.
		sleep 30
		read -ra s1 <<<"$(pstat "${NAME[$d]}")"
		R[$k,late_rss_$d]=${s1[1]} R[$k,late_mrss_$d]=${s1[5]} R[$k,late_manon_$d]=${s1[6]}
		R[$k,memlate_$d]=$((m0 - $(memavail)))
		# The highest flood the NIC carries, legitimate knocks meanwhile:
		# with TCG's clock only. Under -icount the emulator's speed, not
		# the NIC, bounds it; and with Debian 12's QEMU 7.2 a flood into
		# the tap can stop the guest for good (see the header).
		if [ "$clock" = tcg ]; then
			echo "bench-router: $k: ${NAME[$d]}: churn done, highest flood" >&2
			p0=$(rxpkts)
			flood 0 100000000 "${pre}8.0.0.1" $((SECS + 10)) &
			fl=$!
			read -ra kn <<<"$(knocks "$SECS" 2s "$d")"
			kill "$fl" 2>/dev/null || true
			wait "$fl" 2>/dev/null || true
			p1=$(rxpkts)
			R[$k,max_pps_$d]=$(((p1 - p0) / SECS))
			R[$k,max_open_$d]="${kn[1]}/${kn[0]}"
		fi
		[ "$d" = go ] && R[$k,log_go]=$(g "tail -n 3 /tmp/kgo-lines.log")
		# Did it live through it (the kernel's OOM killer, a crash)?
		R[$k,alive_$d]=$(g "echo ${NAME[$d]}: \$(pidof ${NAME[$d]} || echo gone);" \
			"dmesg | grep -iE 'out of memory|killed process|oom' | tail -n 3")
		stopd "$d"
		pre=3
	done
	box_stop
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "" && a != "-") printf "%.2f", a / b; else print "-" }'
}
row() { # LABEL KEY(no suffix) [none]: knockd-go, knockd 0.8, ratio per
	# clock; with "none" the one figure measured with no daemon.
	local label=$1 key=$2 k line go o8
	line=$(printf '%-44s' "$label")
	for k in "${keys[@]}"; do
		if [ "${3:-}" = none ]; then
			line+=$(printf ' | %24s' "${R[$k,${key}_none]:--}")
			continue
		fi
		go=${R[$k,${key}_go]:--} o8=${R[$k,${key}_08]:--}
		line+=$(printf ' | %8s %8s %5s' "$go" "$o8" "$(ratio "${go%%/*}" "${o8%%/*}")")
	done
	echo "$line"
}

# table ARCH CLOCK...: the table of ARCH's boots with those clocks.
table() {
	local arch=$1 clock k r
	shift
	keys=()
	hdr=$(printf '%-44s' "$arch ($(head -c 200 "$RB_OUT/$arch/qemu.args" | tr '\n' ' '))")
	for clock; do
		keys+=("$arch,$clock")
		hdr+=$(printf ' | %-24s' "clock $clock: go 0.8 ratio")
	done
	echo
	echo "$hdr"
	row "idle: CPU ms over ${IDLE} s" idle_cpu
	row "idle: wake-ups/min" idle_wake
	row "idle: RSS kB (sum of its processes)" idle_rss
	row "idle: PSS kB (shared pages once)" idle_pss
	row "  main process alone: RSS kB" idle_mrss
	row "    of which anonymous kB" idle_manon
	row "knock->command latency median/max ms" lat
	for r in 20 200 2000; do
		row "$r first knocks/s, ${SECS} s: guest CPU ms" "r${r}_cpu"
		row "  its own processes' CPU ms" "r${r}_own"
		row "  the same, scheduler's run time ms" "r${r}_run"
		row "  legitimate knocks opened" "r${r}_open"
		row "  no daemon: guest CPU ms" "r${r}_guest" none
		row "  guest clock: seconds a host second" "r${r}_pace"
	done
	row "RSS kB after a 100k-source churn" churn_rss
	row "PSS kB after a 100k-source churn" churn_pss
	row "  main process alone: RSS kB" churn_mrss
	row "    of which anonymous kB" churn_manon
	row "RSS kB 30 s after the churn" late_rss
	row "  main process alone: RSS kB" late_mrss
	row "    of which anonymous kB" late_manon
	row "MemAvailable kB less once it runs" memrun
	row "MemAvailable kB less after the churn" memchurn
	row "MemAvailable kB less 30 s after the churn" memlate
	row "churn: packets that reached the WAN" churn_rx
	row "highest flood: pps on the WAN" max_pps
	row "highest flood: legitimate knocks opened" max_open
	for k in "${keys[@]}"; do
		echo "  ${k#*,}: MemAvailable kB before knockd-go started: ${R[$k,mem0_go]:-?}, before knockd 0.8 started: ${R[$k,mem0_08]:-?}"
		echo "  ${k#*,}: at the end, pids ${R[$k,alive_go]:-?}; ${R[$k,alive_08]:-?}"
		echo "  ${k#*,}: knockd-go's last log lines: ${R[$k,log_go]//$'\n'/ | }"
	done
}

# Each boot's figures as soon as it ends (a long run stopped half-way
# keeps what it measured), then each architecture's boots side by side.
for arch in $arches; do
	for clock in $CLOCKS; do
		echo "bench-router: $arch, clock $clock (SECS=$SECS WARM=$WARM IDLE=$IDLE)"
		cur="$arch $clock"
		run "$arch" "$clock"
		cur=""
		table "$arch" "$clock"
	done
done
echo
echo "bench-router: every boot"
for arch in $arches; do
	# shellcheck disable=SC2086 # CLOCKS is a list
	table "$arch" $CLOCKS
done
