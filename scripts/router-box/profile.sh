#!/usr/bin/env bash
# profile.sh ARCH [RATE]: where knockd-go's CPU goes in a router-box guest
# under RATE first knocks a second (default 200) from never-repeating
# spoofed sources, with a legitimate knock every 2 s: knockd-go-prof (the
# shipped daemon built with -tags knockd_profile) runs alone with bench.sh's
# door, writes a CPU profile of SECS seconds after a warm-up of WARM, and
# the script prints:
#   - the daemon's threads, user and system CPU ms and context switches
#     (per thread) over the profile;
#   - the collector's trace (GODEBUG=gctrace), and the scheduler's with
#     PROFILE_GODEBUG=schedtrace=MS (it keeps the runtime's monitor thread
#     from sleeping: the idle wake-ups are then its);
#   - the profile's heaviest functions (go tool pprof -top), flat and
#     cumulative, and the shares of the runtime, of softfloat, of atomics
#     and of the daemon's own packages.
# The profile file is kept under build/router-box/ARCH/profile/.
#
# Before the flood, the threads' context switches over PROFILE_IDLE seconds
# (default 30) with nothing coming.
#
# Environment: PROFILE_SECS (default 60), PROFILE_WARM (10), PROFILE_CLOCK
# (icount or tcg; default icount: -icount shift=1,sleep=on), PROFILE_GODEBUG
# (added to the daemon's GODEBUG), PROFILE_ENV (more VAR=value words for the
# daemon), PROFILE_SYSCALLS=1 (also count the daemon's system calls over
# the profile, per thread, from the guest kernel's raw_syscalls tracepoint;
# the tracing costs the guest CPU of its own).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/router-box/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || rb_die "needs root (network namespaces)"
arch=${1:?usage: profile.sh ARCH [RATE]}
rate=${2:-200}
SECS=${PROFILE_SECS:-60} WARM=${PROFILE_WARM:-10} IDLE=${PROFILE_IDLE:-30} CLOCK=${PROFILE_CLOCK:-icount}
tools=$(mktemp -d)
trap 'box_stop; rm -rf "$tools"' EXIT
(cd "$RB_ROOT" && CGO_ENABLED=0 go build -o "$tools/boxserve" ./src/tools/boxserve &&
	CGO_ENABLED=0 go build -o "$tools/floodgen" ./src/tools/floodgen)
WAN=192.0.2.1 A=192.0.2.100 WANMAC=52:54:00:00:00:01
out=$RB_OUT/$arch/profile
mkdir -p "$out"

extra=()
[ "$CLOCK" = tcg ] || extra=(-icount "shift=1,sleep=on")
box_start "$arch" "${extra[@]}"
trap 'box_stop; rm -rf "$tools"' EXIT # box_start set its own, box_stop alone
g "[ -x /usr/sbin/knockd-go-prof ]" || rb_die "no knockd-go-prof in the $arch image: run make router-box"
godebug="gctrace=1${PROFILE_GODEBUG:+,$PROFILE_GODEBUG}"
g "(env GODEBUG=$godebug KNOCKD_GO_CPUPROFILE=/tmp/cpu.prof KNOCKD_GO_PROFILE_DELAY=$((IDLE + WARM + 2)) KNOCKD_GO_PROFILE_SECS=$SECS ${PROFILE_ENV:-} knockd-go-prof -i wan -c /etc/box/bench-go.conf >/tmp/kgo.log 2>&1 &)"
g "sleep 2"
g "pidof knockd-go-prof" >/dev/null || rb_die "knockd-go-prof did not start: $(g 'cat /tmp/kgo.log')"

# threads: "pid/tid name voluntary nonvoluntary utime stime" per thread of
# every knockd-go-prof process (the daemon and its spawner).
threads() {
	g "for t in \$(for p in \$(pidof knockd-go-prof); do echo /proc/\$p/task/*; done); do echo \"\$(echo \$t | cut -d/ -f3)/\${t##*/} \$(awk '/^Name/ {print \$2}' \$t/status)" \
		"\$(awk '/^voluntary_ctxt/ {print \$2}' \$t/status) \$(awk '/^nonvoluntary_ctxt/ {print \$2}' \$t/status)" \
		"\$(awk '{print \$14, \$15}' \$t/stat)\"; done"
}

# Idle first: which threads wake up when nothing comes. The waits are the
# guest's: the profile's delay is counted on its clock.
i0=$(threads)
G_TIMEOUT=$((IDLE * 3 + 60)) g "sleep $IDLE"
i1=$(threads)
# shellcheck disable=SC2016 # expanded by the guest's shell
mem=$(g 'for p in $(pidof knockd-go-prof); do echo "$p $(cat /proc/$p/comm): $(grep -E "^(Rss|Pss|Pss_Anon|Pss_File|Pss_Shmem|Private_Clean|Private_Dirty|Shared_Clean):" /proc/$p/smaps_rollup | tr -s " \n" " ")"; done')

ip netns exec "$BOX_C" "$tools/floodgen" -dev wan0 -dstmac "$WANMAC" -dst "$WAN" -port 7000 -rate "$rate" \
	-n $((rate * (SECS + WARM + 10))) -sources $((rate * (SECS + WARM + 10))) -src 11.0.0.1 >/dev/null 2>&1 &
fl=$!
G_TIMEOUT=$((WARM * 3 + 60)) g "sleep $WARM"
t0=$(threads)
T=/sys/kernel/tracing
if [ -n "${PROFILE_SYSCALLS:-}" ]; then
	# Every thread of the daemon and its spawner (the tracepoint's pid
	# is the thread's).
	g "[ -e $T/trace ] || mount -t tracefs nodev $T; echo 0 >$T/tracing_on; echo 4096 >$T/buffer_size_kb; echo >$T/trace;" \
		"ls /proc/\$(pidof knockd-go-prof | sed 's/ /\/task \/proc\//g')/task | grep '^[0-9]' | tr '\n' ' ' >$T/set_event_pid;" \
		"echo 1 >$T/events/raw_syscalls/sys_enter/enable; echo 1 >$T/tracing_on"
fi
kn=$(ip netns exec "$BOX_C" "$tools/boxserve" knocks "$A" "$WAN" 7000,8000,9000 2s "$SECS" 5551)
t1=$(threads)
sc=""
if [ -n "${PROFILE_SYSCALLS:-}" ]; then
	g "echo 0 >$T/tracing_on"
	# "TID NR COUNT" lines; the buffer's loss, if any, in its stats.
	# shellcheck disable=SC2016 # expanded by the guest's awk
	sc=$(g "awk '/sys_enter: NR/ { n = split(\$1, a, \"-\"); for (i = 1; i <= NF; i++) if (\$i == \"NR\") nr = \$(i + 1); c[a[n] \" \" nr]++ }" \
		"END { for (k in c) print k, c[k] }' $T/trace; grep -h overrun $T/per_cpu/cpu*/stats")
fi
kill "$fl" 2>/dev/null || true
wait "$fl" 2>/dev/null || true
g "i=0; while [ ! -s /tmp/cpu.prof.heap ] && [ \$i -lt 60 ]; do sleep 1; i=\$((i + 1)); done; [ -s /tmp/cpu.prof.heap ]" ||
	rb_die "no profile: $(g 'tail -n 5 /tmp/kgo.log')"
sleep 1
g "base64 /tmp/cpu.prof" | base64 -d >"$out/cpu-$CLOCK-$rate.prof"
g "base64 /tmp/cpu.prof.heap" | base64 -d >"$out/heap-$CLOCK-$rate.prof"
log=$(g "cat /tmp/kgo.log")
box_stop

echo "profile.sh: $arch, clock $CLOCK, $rate first knocks/s, $SECS s after $WARM s"
echo "legitimate knocks: $kn"
echo
# per_thread BEFORE AFTER SECS
per_thread() {
	join <(sort <<<"$1") <(sort <<<"$2") | awk -v secs="$3" '
	{ v = $8 - $3; n = $9 - $4; u = ($10 - $5) * 10; s = ($11 - $6) * 10
	  printf "  %-12s %-14s %6d+%-6d %6d %6d\n", $1, $7, v, n, u, s
	  V += v; N += n; U += u; S += s; T++ }
	END { printf "  %d threads: %d+%d switches (%.1f a second), user %d ms, system %d ms\n", T, V, N, (V + N) / secs, U, S }'
}
echo "threads idle for $IDLE s (pid/tid name: context switches voluntary+nonvoluntary, user ms, system ms):"
per_thread "$i0" "$i1" "$IDLE"
echo "memory idle (kB, /proc/PID/smaps_rollup):"
printf '  %s\n' "${mem//$'\n'/$'\n'  }"
echo "threads over the profile:"
per_thread "$t0" "$t1" "$SECS"
if [ -n "$sc" ]; then
	echo "system calls over the profile (thread: calls a second, by system call):"
	case $arch in
	mipsel) zf=zsysnum_linux_mipsle.go ;;
	*) zf=zsysnum_linux_arm.go ;;
	esac
	names=$(awk '$1 ~ /^SYS_/ && $2 == "=" { n = tolower(substr($1, 5)); print $3, n }' \
		"$(cd "$RB_ROOT" && go list -m -f '{{.Dir}}' golang.org/x/sys)/unix/$zf")
	grep overrun <<<"$sc" | sed 's/^/  trace buffer: /' | sort -u
	grep -v overrun <<<"$sc" | awk -v secs="$SECS" -v names="$names" '
		BEGIN { n = split(names, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], f, " "); name[f[1]] = f[2] } }
		{ t[$1] = t[$1] sprintf(" %s %.1f", ($2 in name) ? name[$2] : "nr" $2, $3 / secs); tot[$1] += $3 }
		END { for (k in t) printf "  %-6s %7.1f:%s\n", k, tot[k] / secs, t[k] }' | sort -k2 -rn
fi
echo
echo "scheduler and collector:"
grep -E '^(SCHED|gc )' <<<"$log" | sed 's/^/  /' | tail -n 40
echo
go tool pprof -top -nodecount=40 "$out/cpu-$CLOCK-$rate.prof" 2>/dev/null | sed 's/^/  /'
echo
echo "cumulative:"
go tool pprof -top -cum -nodecount=30 "$out/cpu-$CLOCK-$rate.prof" 2>/dev/null | sed 's/^/  /' | tail -n 30
echo
echo "flat time by part (share of samples):"
go tool pprof -top -nodecount=100000 "$out/cpu-$CLOCK-$rate.prof" 2>/dev/null | awk '
	$1 ~ /s$/ && $2 ~ /%$/ {
		f = $NF; v = $2; sub(/%/, "", v)
		if (f ~ /^runtime\/internal\/atomic|^internal\/runtime\/atomic|^sync\/atomic|Xadd|Cas|atomic/) k = "atomics"
		else if (f ~ /^runtime\.(f(add|sub|mul|div|cmp|int|64|32)|float|fpack|funpack|mullu|sfloat)/) k = "softfloat"
		else if (f ~ /^runtime\.|^internal\/runtime/) k = "runtime (scheduler, timers, GC, syscalls)"
		else if (f ~ /^syscall\.|^golang.org\/x\/sys/) k = "system call wrappers"
		else if (f ~ /knockd-go/) k = "knockd-go"
		else k = "other (standard library)"
		t[k] += v }
	END { for (k in t) printf "  %5.1f%% %s\n", t[k], k }' | sort -rn
