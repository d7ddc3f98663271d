#!/usr/bin/env bash
# make bench: knockd-go and Debian's knockd 0.8 side by side, same run,
# same namespaces, same generator. Prints one table.
#
# Scenarios (per daemon): idle (CPU, wake-ups, RSS); 1M non-knock packets at
# full rate; first-port flood from 1k/10k/100k spoofed sources at full rate
# with 20 legitimate knock sequences sent during the 100k flood; sustained
# churn of 2000 new sources a second; knock -> command latency (IPv4, IPv6);
# low rates (20, 200 and 2000 first knocks a second from never-repeating
# sources, a legitimate knock every 2 s: CPU and that knock's latency); a
# storm (one address completing a door 10,000 times a second with a raw
# sender, open + notify through a slow sendmail, and a command door:
# memory, goroutines, children, sendmail processes, log lines, and a second
# address's knock on another door meanwhile). knockd-go only: a replayed
# SPA packet at full rate; knocks with slow first gaps under a flood
# larger than max_attempts (slowgap). Then sizes: stripped mipsle binary and ipk.
#
# legit: LEGIT_RUNS (3) runs of a full-rate first-knock flood from 100k
# spoofed sources lasting LEGIT_SECS, 20 legitimate knock sequences sent
# during each: sequences opened, kernel drops and peak RSS (VmHWM) per run.
# spa-legit: a garbage SPA flood at 110 kpps and at full rate, 10
# legitimate SPA packets (the stock fwknop client) sent during each:
# packets accepted by knockd-go and, in its own pass, by fwknopd.
#
# BENCH_QUICK=1 shortens the flood and churn (for a smoke run).
# BENCH_ONLY="flood latency" runs only those scenarios (idle, nonknock,
# flood, legit, churn, latency, rates, storm, spa, spa-legit, spa-replay,
# slowgap, size); the table
# shows "-" for the others.
# BENCH_DAEMONS=knockd-go leaves knockd 0.8 out (for quick iterations).
# BENCH_RATE_SECS and BENCH_LEGIT_SECS set the length of each low-rate
# row (30 s) and of each legit run's flood (25 s).
# KGO_ENV="VAR=value ..." starts knockd-go with those variables (e.g.
# GOMAXPROCS=2, against the one processor it takes by default).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }

QUICK=${BENCH_QUICK:-0}
FLOOD_N=1000000; CHURN_SECS=60; LAT_N=20; RATE_SECS=30; STORM_SECS=60
LEGIT_RUNS=${LEGIT_RUNS:-3}; LEGIT_SECS=25
if [ "$QUICK" = 1 ]; then FLOOD_N=200000; CHURN_SECS=10; LAT_N=5; RATE_SECS=10; STORM_SECS=10; LEGIT_SECS=15; fi
RATE_SECS=${BENCH_RATE_SECS:-$RATE_SECS}; LEGIT_SECS=${BENCH_LEGIT_SECS:-$LEGIT_SECS}
ONLY=${BENCH_ONLY:-idle nonknock flood legit churn latency rates storm spa spa-legit spa-replay slowgap size}
want() { case " $ONLY " in *" $1 "*) return 0;; esac; return 1; }

G=kbench-gen R=kbench-router
RA=192.0.2.1 GA=192.0.2.100 RA6=fd00:b::1 GA6=fd00:b::100
work=$(mktemp -d)
chmod 755 "$work" # the slow sendmail of the storm runs as nobody
DPID=""
cleanup() {
  if [ -n "$DPID" ]; then kill "$DPID" 2>/dev/null || true; fi
  ip netns pids "$R" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$G" 2>/dev/null || true
  ip netns del "$R" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench: building"
# knockd-go as the router builds are made (scripts/cross.sh's flags).
CGO_ENABLED=0 go build -trimpath -gcflags="$(scripts/cross.sh --gcflags amd64)" \
  -ldflags "$(scripts/cross.sh --ldflags amd64)" -o "$work/knockd-go" ./src/cmd/knockd
CGO_ENABLED=0 go build -o "$work/knock" ./src/cmd/knock
CGO_ENABLED=0 go build -o "$work/floodgen" ./src/tools/floodgen
# The door command of the latency test: writes its start time (Unix ns) to
# its argument. It is built static against musl, as every command on an
# OpenWrt router is (busybox, musl): it starts in ~0.3 ms on the development
# VM. A Go one takes ~1 ms, which would hide what the daemons themselves
# take; a static glibc one ~1 ms in a VM, because glibc's start-up reads the
# CPU's cache geometry with dozens of CPUID instructions and each one traps
# to the hypervisor. The glibc build is measured too, in rows of its own.
cat > "$work/stamp.c" <<'C'
#include <stdio.h>
#include <time.h>
int main(int argc, char **argv) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	FILE *f = argc > 1 ? fopen(argv[1], "w") : NULL;
	if (!f) return 1;
	fprintf(f, "%lld%09ld\n", (long long)t.tv_sec, t.tv_nsec);
	return fclose(f) != 0;
}
C
gcc -O2 -static -o "$work/stamp-glibc" "$work/stamp.c"
if command -v musl-gcc >/dev/null 2>&1; then
  STAMP_LIBC=musl
  musl-gcc -O2 -static -o "$work/stamp-musl" "$work/stamp.c"
else
  STAMP_LIBC=glibc
  echo "bench: musl-gcc not found (Debian package musl-tools): the latency command is glibc-static" >&2
  cp "$work/stamp-glibc" "$work/stamp-musl"
fi
use_stamp() { cp "$work/stamp-$1" "$work/stamp.new"; mv -f "$work/stamp.new" "$work/stamp"; }
use_stamp musl
KNOCKD08=$(command -v knockd) || { echo "bench: Debian's knockd is not installed (make deps)" >&2; exit 1; }
TICK=$(getconf CLK_TCK)

ip netns del "$G" 2>/dev/null || true; ip netns del "$R" 2>/dev/null || true
ip netns add "$G"; ip netns add "$R"
ip link add wan0 netns "$R" type veth peer name gen0 netns "$G"
ip -n "$R" addr add "$RA/8" dev wan0; ip -n "$G" addr add "$GA/8" dev gen0
ip -n "$R" addr add "$RA6/64" dev wan0 nodad; ip -n "$G" addr add "$GA6/64" dev gen0 nodad
for ns in "$R" "$G"; do ip -n "$ns" link set lo up; done
ip -n "$R" link set wan0 up; ip -n "$G" link set gen0 up
# The router must not answer the flood (no RSTs, no neighbour storms).
ip netns exec "$R" sysctl -qw net.ipv4.tcp_syncookies=0 net.ipv4.icmp_ratelimit=0 >/dev/null 2>&1 || true
ip netns exec "$R" sysctl -qw net.core.rmem_max=8388608 net.core.rmem_default=8388608 >/dev/null 2>&1 || true
RMAC=$(ip -n "$R" -br link show wan0 | awk '{print $3}')
# Spoofed sources must not make the router resolve neighbours: static ARP on the router side is not needed
# because the router never replies (no listener, RST rate limited away).
ip netns exec "$R" sysctl -qw net.ipv4.tcp_max_syn_backlog=16 >/dev/null 2>&1 || true
ip netns exec "$R" iptables-legacy -P INPUT DROP 2>/dev/null || ip netns exec "$R" iptables -P INPUT DROP
ip netns exec "$R" ip6tables-legacy -A INPUT -p ipv6-icmp -j ACCEPT 2>/dev/null || ip netns exec "$R" ip6tables -A INPUT -p ipv6-icmp -j ACCEPT
ip netns exec "$R" ip6tables-legacy -P INPUT DROP 2>/dev/null || ip netns exec "$R" ip6tables -P INPUT DROP

cat > "$work/knockd.conf" <<CONF
[options]
    logfile = $work/daemon.log
[door]
    sequence    = 7000,8000,9000
    seq_timeout = 10
    tcpflags    = syn
    command     = $work/stamp $work/flag-%IP%
CONF

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
# cpu_ns PID: CPU time of every thread, in nanoseconds (schedstat: exact,
# where /proc/PID/stat counts clock ticks; the low-rate rows need it).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END{printf "%.0f\n", s}'; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
# descendants PID: how many processes run below PID (knockd-go's door
# commands and sendmail are its spawner's children).
descendants() { ps -e -o ppid=,pid= | awk -v root="$1" '{kids[$1] = kids[$1] " " $2} END {n = 0; q[1] = root; h = 1; t = 1; while (h <= t) {m = split(kids[q[h++]], c, " "); for (j = 1; j <= m; j++) {q[++t] = c[j]; n++}}; print n}'; }
wakeups() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches/{s+=$2} END{print s+0}'; }
daemon_pid() {
  # ip netns exec runs the daemon as its child: find it in the namespace
  # (knockd-go's spawner, which lives there too, is not it).
  local p
  for _ in $(seq 50); do
    for p in $(ip netns pids "$R"); do
      tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q ' spawner ' || { echo "$p"; return; }
    done
    sleep 0.1
  done
  return 1
}
start_daemon() { # $1 = knockd-go | knockd08
  : > "$work/daemon.log"; rm -f "$work"/flag-*
  if [ "$1" = knockd-go ]; then
    local kgo_env
    read -ra kgo_env <<<"${KGO_ENV:-}"
    ip netns exec "$R" env "${kgo_env[@]}" "$work/knockd-go" -i wan0 -c "$work/knockd.conf" > "$work/stdout" 2>&1 &
  else
    ip netns exec "$R" "$KNOCKD08" -i wan0 -c "$work/knockd.conf" > "$work/stdout" 2>&1 &
  fi
  DPID=$(daemon_pid)
  for _ in $(seq 50); do grep -q 'starting up\|listening' "$work/daemon.log" "$work/stdout" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  if ! kill -0 "$DPID" 2>/dev/null; then
    echo "bench: $1 did not start:" >&2
    cat "$work/stdout" "$work/daemon.log" >&2
    exit 1
  fi
}
stop_daemon() {
  kill "$DPID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$DPID" 2>/dev/null || true
  DPID=""
  # Its spawner, if any, goes too before the next daemon starts: the next
  # daemon_pid must not find it.
  for _ in $(seq 100); do [ -z "$(ip netns pids "$R")" ] && break; sleep 0.1; done
  sleep 0.3
}
gen() { ip netns exec "$G" "$work/floodgen" -dev gen0 -dstmac "$RMAC" -dst "$RA" "$@"; }
legit_knocks() { # $1 = count; sends sequences from distinct real addresses, prints successes
  send_legit "$1"
  sleep 1
  count_legit "$1"
}
send_legit() { # $1 = count: sequences from 192.0.2.151 on, by the knock client
  local n=$1 i a
  for i in $(seq "$n"); do
    a=192.0.2.$((150 + i))
    ip -n "$G" addr add "$a/32" dev gen0 2>/dev/null || true
    ip -n "$G" route replace "$RA/32" dev gen0 src "$a"
    ip netns exec "$G" "$work/knock" "$RA" 7000 8000 9000 >/dev/null 2>&1 || true
    sleep 0.2
  done
  ip -n "$G" route del "$RA/32" dev gen0 2>/dev/null || true
}
count_legit() { # $1 = count: how many of send_legit's sequences opened
  local n=$1 ok=0 i
  for i in $(seq "$n"); do [ -e "$work/flag-192.0.2.$((150 + i))" ] && ok=$((ok + 1)); done
  echo "$ok"
}
hwm() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{a[NR]=$1} END{ if (NR==0) {print "n/a"; exit}; if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
latency() { # $1 = dst address, $2 = src address; prints the median ms from
  # the last knock leaving the generator to the door's command starting (the
  # command is "stamp FILE", which writes its start time). The generator
  # stays, idle, 0.1 s after the last knock (-linger): a knock comes from
  # another machine, and the generator's exit (a process torn down) took
  # one of the two CPUs while the daemon, its spawner and the command ran
  # (0.5-0.8 ms of the median; the floor has no generator).
  local i f sent started
  for i in $(seq "$LAT_N"); do
    f="$work/flag-$2"; rm -f "$f"
    gen -dst "$1" -src "$2" -port 7000 -n 1 >/dev/null
    gen -dst "$1" -src "$2" -port 8000 -n 1 >/dev/null
    sleep 0.05
    sent=$(gen -dst "$1" -src "$2" -port 9000 -n 1 -linger 0.1s | awk '/^last_ns/{print $2}')
    for _ in $(seq 400); do [ -s "$f" ] && break; sleep 0.005; done
    started=$(cat "$f" 2>/dev/null || true)
    if [ -n "$started" ] && [ -n "$sent" ]; then echo "scale=3; ($started - $sent) / 1000000" | bc; fi
    sleep 0.1
  done | median
}
declare -A RES
bench_one() { # $1 = name
  local n=$1 c0 c1 w0 w1 r0 r1 s
  echo "bench: $n"
  start_daemon "$n"
  if want idle; then
    # The new link settles first (IPv6 DAD and MLD reports in its first
    # seconds raise address events the daemon follows); then 5 s of quiet.
    sleep 3
    c0=$(cpu "$DPID"); w0=$(wakeups "$DPID"); sleep 5; c1=$(cpu "$DPID"); w1=$(wakeups "$DPID")
    RES[$n,idle_cpu]=$(( (c1 - c0) * 1000 / TICK ))
    RES[$n,idle_wake]=$(echo "scale=1; ($w1 - $w0) / 5" | bc)
    RES[$n,idle_rss]=$(rss "$DPID")
  fi
  if want nonknock; then
    c0=$(cpu "$DPID")
    s=$(gen -port 80 -n "$FLOOD_N" -sources 1)
    sleep 1; c1=$(cpu "$DPID")
    RES[$n,nonknock_cpu]=$(( (c1 - c0) * 1000 / TICK ))
    RES[$n,nonknock_rate]=$(echo "$s" | awk '/^sent/{print $(NF-1)}')
  fi
  # spoofed first-port floods, growing source counts
  local srcs
  for srcs in 1000 10000 100000; do
    want flood || break
    stop_daemon; start_daemon "$n"
    r0=$(rss "$DPID"); c0=$(cpu "$DPID")
    if [ "$srcs" = 100000 ]; then
      gen -port 7000 -n "$FLOOD_N" -sources "$srcs" -src 10.0.0.1 > "$work/gen.out" &
      local gp=$!
      sleep 0.2
      RES[$n,legit]=$(legit_knocks 20)
      wait "$gp" || true
    else
      gen -port 7000 -n "$FLOOD_N" -sources "$srcs" -src 10.0.0.1 > "$work/gen.out"
    fi
    sleep 2; c1=$(cpu "$DPID"); r1=$(rss "$DPID")
    RES[$n,flood${srcs}_us]=$(echo "scale=2; ($c1 - $c0) * 1000000 / $TICK / $FLOOD_N" | bc)
    RES[$n,flood${srcs}_rss]=$(( r1 - r0 ))
    RES[$n,flood_rate]=$(awk '/^sent/{print $(NF-1)}' "$work/gen.out")
    if [ "$n" = knockd-go ]; then
      kill -USR1 "$DPID"; sleep 0.3
      RES[$n,flood${srcs}_stats]=$(grep 'stats:' "$work/daemon.log" | tail -n1 | sed 's/.*stats: //')
    fi
  done
  if want legit; then # legitimate knocks during a full-rate flood, LEGIT_RUNS times
    local ok drops during peak=0 h gp
    RES[$n,legit_runs]="" RES[$n,legit_drops]="" RES[$n,legit_during]=""
    for _ in $(seq "$LEGIT_RUNS"); do
      stop_daemon; start_daemon "$n"
      gen -port 7000 -n 1000000000 -for "${LEGIT_SECS}s" -sources 100000 -src 10.0.0.1 > "$work/gen.out" &
      gp=$!
      sleep 0.5
      send_legit 20
      # were all 20 sent while the flood still ran?
      if kill -0 "$gp" 2>/dev/null; then during=yes; else during=no; fi
      wait "$gp" || true
      sleep 1
      ok=$(count_legit 20)
      h=$(hwm "$DPID"); [ "$h" -gt "$peak" ] && peak=$h
      RES[$n,legit_rate]=$(awk '/^sent/{print $(NF-1)}' "$work/gen.out")
      RES[$n,legit_runs]="${RES[$n,legit_runs]} $ok/20"
      RES[$n,legit_during]="${RES[$n,legit_during]} $during"
      if [ "$n" = knockd-go ]; then
        kill -USR1 "$DPID"; sleep 0.3
        drops=$(grep 'stats:' "$work/daemon.log" | tail -n1 | sed -n 's/.*kernel drops \([0-9]*\).*/\1/p')
        RES[$n,legit_drops]="${RES[$n,legit_drops]} ${drops:-?}"
      fi
    done
    RES[$n,legit_hwm]=$peak
  fi
  if want churn; then # 2000 new sources a second
    stop_daemon; start_daemon "$n"
    r0=$(rss "$DPID")
    gen -port 7000 -n $((2000 * CHURN_SECS)) -sources $((2000 * CHURN_SECS)) -rate 2000 -src 11.0.0.1 > /dev/null &
    local gp=$! samples=""
    for i in $(seq 1 "$CHURN_SECS"); do
      sleep 1
      if [ $((i % (CHURN_SECS / 6 > 0 ? CHURN_SECS / 6 : 1))) = 0 ]; then samples="$samples $(( $(rss "$DPID") / 1024 ))"; fi
    done
    wait "$gp" || true
    RES[$n,churn]="$(( r0 / 1024 )) ->$samples MiB"
  fi
  if want latency; then
    stop_daemon; start_daemon "$n"
    use_stamp musl
    RES[$n,lat4]=$(latency "$RA" "$GA")
    RES[$n,lat6]=$(latency "$RA6" "$GA6")
    use_stamp glibc
    RES[$n,lat4g]=$(latency "$RA" "$GA")
    RES[$n,lat6g]=$(latency "$RA6" "$GA6")
    use_stamp musl
  fi
  if want rates; then
    local r
    for r in 20 200 2000; do
      stop_daemon; start_daemon "$n"
      sleep 2
      c0=$(cpu_ns "$DPID"); w0=$(wakeups "$DPID")
      gen -port 7000 -n $((r * RATE_SECS)) -sources $((r * RATE_SECS)) -rate "$r" -src 12.$((r % 200)).0.1 > /dev/null &
      local gp=$!
      RES[$n,rate${r}_lat]=$(LAT_N=$((RATE_SECS / 2)) latency_every 2 "$RA" "$GA")
      wait "$gp" || true
      c1=$(cpu_ns "$DPID"); w1=$(wakeups "$DPID")
      RES[$n,rate${r}_cpu]=$(( (c1 - c0) / 1000000 ))
      RES[$n,rate${r}_wake]=$(( (w1 - w0) / RATE_SECS ))
    done
  fi
  if want storm; then storm "$n"; fi
  stop_daemon
}

# latency_every S DST SRC: knocks LAT_N times, S seconds apart, from SRC
# and prints the median knock -> command latency (ms).
latency_every() {
  local i f sent started
  for i in $(seq "$LAT_N"); do
    f="$work/flag-$3"; rm -f "$f"
    gen -dst "$2" -src "$3" -port 7000 -n 1 >/dev/null
    gen -dst "$2" -src "$3" -port 8000 -n 1 >/dev/null
    sent=$(gen -dst "$2" -src "$3" -port 9000 -n 1 -linger 0.1s | awk '/^last_ns/{print $2}')
    for _ in $(seq 200); do [ -s "$f" ] && break; sleep 0.005; done
    started=$(cat "$f" 2>/dev/null || true)
    if [ -n "$started" ] && [ -n "$sent" ]; then echo "scale=3; ($started - $sent) / 1000000" | bc; fi
    sleep "$1"
  done | median
}

# storm NAME: one address completes the storm door (open tcp/22 for 30 s
# and a mail through a sendmail that takes 2 s) 10,000 times a second,
# another the cmd door (a command that takes 2 s) as often, for
# STORM_SECS; meanwhile a second address knocks on the other door.
storm() {
  local n=$1 r0 rmax=0 kids=0 mails=0 rss k m gp1 gp2 lines i t
  cat > "$work/slow" <<'SH'
#!/bin/sh
cat >/dev/null
sleep 2
SH
  chmod 755 "$work/slow"
  if [ "$n" = knockd-go ]; then
    cat > "$work/storm.conf" <<CONF
[options]
    logfile = $work/daemon.log
    firewall = iptables-legacy
    sendmail = $work/slow
[storm]
    sequence = 7000,8000,9000
    open = tcp/22
    duration = 30
    notify = admin@example.com
[cmd]
    sequence = 7100,8100,9100
    command = $work/slow %IP%
[other]
    sequence = 6000,6100
    command = $work/stamp $work/flag-%IP%
CONF
  else # knockd 0.8 forks a command per success, without bound: with the
    # slow mail script it would fork-bomb the machine, so its doors run true
    cat > "$work/storm.conf" <<CONF
[options]
    logfile = $work/daemon.log
[storm]
    sequence = 7000,8000,9000
    command = /bin/true %IP%
[cmd]
    sequence = 7100,8100,9100
    command = /bin/true %IP%
[other]
    sequence = 6000,6100
    command = $work/stamp $work/flag-%IP%
CONF
  fi
  cp "$work/knockd.conf" "$work/knockd.conf.knock"
  cp "$work/storm.conf" "$work/knockd.conf"
  stop_daemon; start_daemon "$n"
  r0=$(rss "$DPID")
  gen -ports 7000,8000,9000 -n $((30000 * STORM_SECS)) -rate 30000 -src 13.0.0.1 > /dev/null &
  gp1=$!
  gen -ports 7100,8100,9100 -n $((30000 * STORM_SECS)) -rate 30000 -src 13.0.1.1 > /dev/null &
  gp2=$!
  local lat="" f sent started
  t=$(date +%s)
  while kill -0 "$gp1" 2>/dev/null; do
    k=$(descendants "$DPID"); [ "${k:-0}" -gt "$kids" ] && kids=$k
    m=$(pgrep -c -f "^/bin/sh $work/slow -i" 2>/dev/null || true); [ "${m:-0}" -gt "$mails" ] && mails=$m # sendmail's -i
    rss=$(rss "$DPID" 2>/dev/null || echo 0); [ "$rss" -gt "$rmax" ] && rmax=$rss
    if [ $(( $(date +%s) - t )) -ge 3 ]; then # the other door, every 3 s
      t=$(date +%s)
      f="$work/flag-$GA"; rm -f "$f"
      gen -dst "$RA" -src "$GA" -port 6000 -n 1 >/dev/null
      sent=$(gen -dst "$RA" -src "$GA" -port 6100 -n 1 | awk '/^last_ns/{print $2}')
      for i in $(seq 100); do [ -s "$f" ] && break; sleep 0.005; done
      started=$(cat "$f" 2>/dev/null || true)
      if [ -n "$started" ]; then lat="$lat $(echo "scale=3; ($started - $sent) / 1000000" | bc)"; else lat="$lat 999"; fi
    fi
    sleep 0.2
  done
  wait "$gp1" "$gp2" || true
  if [ "$n" = knockd-go ]; then
    kill -USR1 "$DPID"; sleep 0.3
    RES[$n,storm_stats]=$(grep 'stats:' "$work/daemon.log" | tail -n1 | sed 's/.*stats: //')
    RES[$n,storm_goroutines]=$(echo "${RES[$n,storm_stats]}" | sed -n 's/.*goroutines \([0-9]*\).*/\1/p')
  fi
  lines=$(grep -c ': storm:\|storm: ' "$work/daemon.log" || true)
  RES[$n,storm_rss]=$(( rmax - r0 ))
  RES[$n,storm_kids]=$kids
  RES[$n,storm_mails]=$mails
  RES[$n,storm_lines]=$(echo "scale=1; $lines / $STORM_SECS" | bc)
  RES[$n,storm_lat]=$(for x in $lat; do echo "$x"; done | sort -n | tail -n1)
  RES[$n,storm_threads]=$(awk '/^Threads/{print $2}' "/proc/$DPID/status" 2>/dev/null || echo -)
  stop_daemon
  cp "$work/knockd.conf.knock" "$work/knockd.conf"
}

for d in ${BENCH_DAEMONS:-knockd-go knockd08}; do bench_one "$d"; done

# SPA (knockd-go only; knockd 0.8 has none): garbage at full rate to the
# SPA port costs one HMAC per packet, never a decryption.
SPA_US="" SPA_STATS=""
if want spa; then
  echo "bench: SPA garbage flood"
  cat > "$work/spa.conf" <<CONF
[options]
    logfile = $work/daemon.log
    firewall = none
[spa]
    spa = yes
    spa_key = bench-key
    spa_hmac_key = bench-hmac-key
    start_command = true
CONF
  cp "$work/knockd.conf" "$work/knockd.conf.knock"
  cp "$work/spa.conf" "$work/knockd.conf"
  start_daemon knockd-go
  garbage="+$(head -c 300 /dev/zero | tr '\0' 'A' | head -c 224)"
  c0=$(cpu "$DPID")
  gen -proto udp -port 62201 -n "$((FLOOD_N / 5))" -sources 1000 -payload "$garbage" > "$work/gen.out"
  sleep 1; c1=$(cpu "$DPID")
  kill -USR1 "$DPID"; sleep 0.3
  SPA_STATS=$(grep 'stats:' "$work/daemon.log" | tail -n1 | sed 's/.*stats: //')
  SPA_US=$(echo "scale=2; ($c1 - $c0) * 1000000 / $TICK / ($FLOOD_N / 5)" | bc)
  stop_daemon
  cp "$work/knockd.conf.knock" "$work/knockd.conf"
fi

# SPA packets from the stock fwknop client during a garbage SPA flood, at
# 110 kpps and at full rate: accepted by knockd-go, and in a pass of its
# own by fwknopd (libpcap on the same device). Each of the 10 comes from
# its own address and is made just before its run.
declare -A SPAL
spa_legit() { # $1 = knockd-go | fwknopd, $2 = rate (0: full); sets SPAL[$1,$2]
  local who=$1 rate=$2 i gp before after ok=0
  for i in $(seq 10); do
    ip netns exec "$G" fwknop --no-rc-file -A tcp/22 -a "192.0.2.$((160 + i))" -D "$RA" --key-base64-rijndael "$SK" \
      --key-base64-hmac "$SH" --use-hmac -B "$work/spa$i.pkt" --test >/dev/null 2>&1 || true
  done
  rm -f "$work"/fwk.*
  if [ "$who" = knockd-go ]; then
    start_daemon knockd-go
    kill -USR1 "$DPID"; sleep 0.3
    before=$(grep 'stats:' "$work/daemon.log" | tail -n1 | sed -n 's/.*SPA accepted \([0-9]*\).*/\1/p')
  else
    ip netns exec "$R" fwknopd -f -c "$work/fwknopd.conf" -a "$work/access.conf" -d "$work/digest.cache" \
      -p "$work/fwk-run/pid" -r "$work/fwk-run" > "$work/fwknopd.out" 2>&1 &
    DPID=$(daemon_pid)
    sleep 2
  fi
  gen -proto udp -port 62201 -n 1000000000 -for 7s -sources 1000 -rate "$rate" -payload "$garbage" > "$work/gen.out" &
  gp=$!
  sleep 1
  for i in $(seq 10); do
    gen -proto udp -port 62201 -src "192.0.2.$((160 + i))" -n 1 -payloadfile "$work/spa$i.pkt" >/dev/null
    sleep 0.4
  done
  wait "$gp" || true
  sleep 1
  SPAL[rate,$rate]=$(awk '/^sent/{print $(NF-1)}' "$work/gen.out")
  if [ "$who" = knockd-go ]; then
    kill -USR1 "$DPID"; sleep 0.3
    after=$(grep 'stats:' "$work/daemon.log" | tail -n1 | sed -n 's/.*SPA accepted \([0-9]*\).*/\1/p')
    ok=$(( ${after:-0} - ${before:-0} ))
    SPAL[stats,$rate]=$(grep 'stats:' "$work/daemon.log" | tail -n1 | sed 's/.*stats: //')
  else
    for i in $(seq 10); do [ -e "$work/fwk.192.0.2.$((160 + i))" ] && ok=$((ok + 1)); done
  fi
  stop_daemon
  SPAL[$who,$rate]=$ok
}
if want spa-legit; then
  if command -v fwknop >/dev/null 2>&1; then
    echo "bench: SPA packets during a garbage flood"
    SK=$(head -c 32 /dev/urandom | base64 -w0) SH=$(head -c 64 /dev/urandom | base64 -w0)
    garbage="+$(head -c 300 /dev/zero | tr '\0' 'A' | head -c 224)"
    cat > "$work/spal.conf" <<CONF
[options]
    logfile = $work/daemon.log
    firewall = none
[spa]
    spa = yes
    spa_key_base64 = $SK
    spa_hmac_key_base64 = $SH
    start_command = true
    spa_allow_commands = no
    open = tcp/22
CONF
    printf 'PCAP_INTF wan0;\n' > "$work/fwknopd.conf"
    # shellcheck disable=SC2016 # $IP is fwknopd's, not the shell's
    printf 'SOURCE ANY\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nOPEN_PORTS tcp/22\nREQUIRE_SOURCE_ADDRESS Y\nCMD_CYCLE_OPEN /usr/bin/touch %s/fwk.$IP\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 5\n' \
      "$SK" "$SH" "$work" > "$work/access.conf"
    mkdir -p "$work/fwk-run"; chmod 700 "$work/fwk-run"
    cp "$work/knockd.conf" "$work/knockd.conf.knock"
    cp "$work/spal.conf" "$work/knockd.conf"
    for rate in 110000 0; do
      spa_legit knockd-go "$rate"
      if command -v fwknopd >/dev/null 2>&1 && [ "${BENCH_DAEMONS:-knockd-go knockd08}" != knockd-go ]; then spa_legit fwknopd "$rate"; fi
    done
    cp "$work/knockd.conf.knock" "$work/knockd.conf"
  else
    echo "SKIP: spa-legit: the fwknop client is not installed (make deps)" >&2
  fi
fi

# SPA replay (knockd-go only): one packet from the stock fwknop client is
# accepted, then sent again at full rate from the same address; another
# door's knock meanwhile must still open.
REPLAY_LINES="" REPLAY_OTHER="" REPLAY_STATS=""
if want spa-replay && command -v fwknop >/dev/null 2>&1; then
  echo "bench: SPA replay"
  K=$(head -c 32 /dev/urandom | base64 -w0) H=$(head -c 64 /dev/urandom | base64 -w0)
  cat > "$work/replay.conf" <<CONF
[options]
    logfile = $work/daemon.log
    firewall = none
[spa]
    spa = yes
    spa_key_base64 = $K
    spa_hmac_key_base64 = $H
    start_command = true
    spa_allow_commands = no
    open = tcp/22
[other]
    sequence = 6000,6100
    command = $work/stamp $work/flag-%IP%
CONF
  cp "$work/knockd.conf" "$work/knockd.conf.knock"
  cp "$work/replay.conf" "$work/knockd.conf"
  start_daemon knockd-go
  ip netns exec "$G" fwknop --no-rc-file -A tcp/22 -a "$GA" -D "$RA" --key-base64-rijndael "$K" --key-base64-hmac "$H" --use-hmac \
    -B "$work/spa.pkt" --test >/dev/null 2>&1 || true
  if [ -s "$work/spa.pkt" ]; then
    gen -proto udp -port 62201 -src "$GA" -n 1 -payloadfile "$work/spa.pkt" >/dev/null
    sleep 1
    l0=$(grep -c ': spa: \|] spa replays: ' "$work/daemon.log" || true)
    gen -proto udp -port 62201 -src "$GA" -n "$((FLOOD_N / 2))" -payloadfile "$work/spa.pkt" > "$work/gen.out" &
    gp=$!
    sleep 1
    rm -f "$work/flag-192.0.2.151"
    ip -n "$G" addr add 192.0.2.151/32 dev gen0 2>/dev/null || true
    ip -n "$G" route replace "$RA/32" dev gen0 src 192.0.2.151
    ip netns exec "$G" "$work/knock" "$RA" 6000 6100 >/dev/null 2>&1 || true
    ip -n "$G" route del "$RA/32" dev gen0 2>/dev/null || true
    wait "$gp" || true
    secs=$(sed -n 's/^sent [0-9]* packets in \([0-9.]*\)s.*/\1/p' "$work/gen.out")
    sleep 1.2
    l1=$(grep -c ': spa: \|] spa replays: ' "$work/daemon.log" || true)
    REPLAY_LINES=$(echo "scale=1; ($l1 - $l0) / ($secs + 1.2)" | bc)
    [ -e "$work/flag-192.0.2.151" ] && REPLAY_OTHER=yes || REPLAY_OTHER=no
    kill -USR1 "$DPID"; sleep 0.3
    REPLAY_STATS=$(grep 'stats:' "$work/daemon.log" | tail -n1 | sed 's/.*stats: //')
  else
    echo "bench: fwknop did not write a packet; SPA replay skipped" >&2
  fi
  stop_daemon
  cp "$work/knockd.conf.knock" "$work/knockd.conf"
fi

# slowgap (knockd-go only): the bound of max_attempts. A flood of first
# knocks from SLOW_R new sources a second (2 x SLOW_N addresses in turn,
# so none stays in the table) with max_attempts SLOW_N keeps a first knock
# SLOW_N/SLOW_R s (2 s): a knock whose second port comes 0.5 s after the
# first opens, 4 s after does not; one past its first port survives the
# flood (its third port 5 s after its second).
SLOW_N=4096 SLOW_R=2048 SLOW_05="" SLOW_4="" SLOW_LATE=""
slow_knock() { # $1 = last octet, $2 = first gap (ms), $3 = second gap (s); prints yes/no
  local a=192.0.2.$1
  ip -n "$G" addr add "$a/32" dev gen0 2>/dev/null || true
  ip -n "$G" route replace "$RA/32" dev gen0 src "$a"
  ip netns exec "$G" "$work/knock" -d "$2" "$RA" 7000 8000 >/dev/null 2>&1 || true
  sleep "$3"
  ip netns exec "$G" "$work/knock" "$RA" 9000 >/dev/null 2>&1 || true
  ip -n "$G" route del "$RA/32" dev gen0 2>/dev/null || true
  sleep 0.5
  if [ -e "$work/flag-$a" ]; then echo yes; else echo no; fi
}
if want slowgap; then
  cp "$work/knockd.conf" "$work/knockd.conf.knock"
  sed -e "s/^\[options\]/[options]\n    max_attempts = $SLOW_N/" -e 's/seq_timeout = 10/seq_timeout = 20/' \
    "$work/knockd.conf.knock" > "$work/knockd.conf"
  start_daemon knockd-go
  gen -port 7000 -n $((SLOW_R * 20)) -sources $((2 * SLOW_N)) -rate "$SLOW_R" -src 13.0.0.1 > /dev/null &
  slow_gen=$!
  sleep 3
  SLOW_05=$(slow_knock 161 500 0)
  SLOW_4=$(slow_knock 162 4000 0)
  SLOW_LATE=$(slow_knock 163 300 5)
  wait "$slow_gen" || true
  stop_daemon
  cp "$work/knockd.conf.knock" "$work/knockd.conf"
fi

# The floor under the latency rows: a Go program starting the same command
# after 100 ms idle, as the daemon does. The lowest of three medians: a
# floor, not a typical figure.
floor() { # $1 = command; prints ms
  local i
  for i in 1 2 3; do "$work/floodgen" -execfloor "$LAT_N" "$1" "$work/floor" | awk '/^execfloor_ms/{print $2}'; done | sort -n | head -n1
}
EXEC_FLOOR="" EXEC_FLOOR_G=""
if want latency; then
  use_stamp musl
  EXEC_FLOOR=$(floor "$work/stamp")
  EXEC_FLOOR_G=$(floor "$work/stamp-glibc")
fi

# sizes
SIZE_MIPSLE="" SIZE_IPK="" SIZE_08=""
if want size; then
  ov=$(scripts/cross.sh --overlay mipsle) # the MIPS runtime's usleep, as cross.sh builds
  CGO_ENABLED=0 GOOS=linux GOARCH=mipsle GOMIPS=softfloat go build -trimpath ${ov:+"$ov"} -gcflags="$(scripts/cross.sh --gcflags mipsle)" \
    -ldflags "$(scripts/cross.sh --ldflags mipsle)" -o "$work/knockd.mipsle" ./src/cmd/knockd
  SIZE_MIPSLE=$(stat -c %s "$work/knockd.mipsle")
  SIZE_IPK="n/a"
  if bash scripts/mkipk.sh "$work/ipk" >/dev/null 2>&1; then
    f=$(find "$work/ipk" -name 'knockd-go_*mipsel_24kc*.ipk' | head -n1)
    [ -n "$f" ] && SIZE_IPK=$(stat -c %s "$f")
  fi
  SIZE_08=$(stat -c %s "$KNOCKD08")
fi

ratio() { # a b -> a/b
  if [ -z "$1" ] || [ -z "$2" ] || [ "$2" = 0 ] || [ "$2" = n/a ] || [ "$1" = n/a ]; then echo "-"; else echo "scale=2; $1 / $2" | bc; fi
}
row() { printf '| %-46s | %-22s | %-22s | %-8s |\n' "$1" "${2:--}" "${3:--}" "$4"; }
echo
echo "knockd-go vs knockd 0.8, measured now in network namespaces ($(nproc) cores, generator at ${RES[knockd-go,flood_rate]:-?} pps)"
echo
row scenario knockd-go "knockd 0.8" "ratio"
row "----" "----" "----" "----"
row "idle: CPU over 5 s (ms)" "${RES[knockd-go,idle_cpu]:-}" "${RES[knockd08,idle_cpu]:-}" "-"
row "idle: thread wake-ups per second" "${RES[knockd-go,idle_wake]:-}" "${RES[knockd08,idle_wake]:-}" "-"
row "idle: RSS (KiB)" "${RES[knockd-go,idle_rss]:-}" "${RES[knockd08,idle_rss]:-}" "$(ratio "${RES[knockd-go,idle_rss]:-}" "${RES[knockd08,idle_rss]:-}")"
row "$FLOOD_N non-knock packets: CPU (ms)" "${RES[knockd-go,nonknock_cpu]:-}" "${RES[knockd08,nonknock_cpu]:-}" "-"
for s in 1000 10000 100000; do
  row "first-port flood, $s sources: CPU µs/packet sent" "${RES[knockd-go,flood${s}_us]:-}" "${RES[knockd08,flood${s}_us]:-}" "$(ratio "${RES[knockd-go,flood${s}_us]:-}" "${RES[knockd08,flood${s}_us]:-}")"
  row "first-port flood, $s sources: RSS growth (KiB)" "${RES[knockd-go,flood${s}_rss]:-}" "${RES[knockd08,flood${s}_rss]:-}" "-"
done
for s in 1000 10000 100000; do
  row "kernel drops, $s-source flood (of packets sent)" "$(echo "${RES[knockd-go,flood${s}_stats]:-}" | sed -n 's/.*kernel drops \([0-9]*\).*/\1/p')" "-" "-"
done
row "legitimate sequences opened during 100k flood" "${RES[knockd-go,legit]:+${RES[knockd-go,legit]:-}/20}" "${RES[knockd08,legit]:+${RES[knockd08,legit]:-}/20}" "-"
row "legit: 20 knocks during ${LEGIT_SECS} s full-rate flood, per run" "${RES[knockd-go,legit_runs]:-}" "${RES[knockd08,legit_runs]:-}" "-"
row "  kernel drops per run" "${RES[knockd-go,legit_drops]:-}" "-" "-"
row "  all knocks sent while the flood ran" "${RES[knockd-go,legit_during]:-}" "${RES[knockd08,legit_during]:-}" "-"
row "  generator rate (pps)" "${RES[knockd-go,legit_rate]:-}" "${RES[knockd08,legit_rate]:-}" "-"
row "  peak RSS, VmHWM (KiB)" "${RES[knockd-go,legit_hwm]:-}" "${RES[knockd08,legit_hwm]:-}" "-"
row "churn 2000 new sources/s, ${CHURN_SECS} s: RSS" "${RES[knockd-go,churn]:-}" "${RES[knockd08,churn]:-}" "-"
row "latency knock -> command ($STAMP_LIBC-static), IPv4 (median ms)" "${RES[knockd-go,lat4]:-}" "${RES[knockd08,lat4]:-}" "$(ratio "${RES[knockd-go,lat4]:-}" "${RES[knockd08,lat4]:-}")"
row "latency knock -> command ($STAMP_LIBC-static), IPv6 (median ms)" "${RES[knockd-go,lat6]:-}" "${RES[knockd08,lat6]:-}" "$(ratio "${RES[knockd-go,lat6]:-}" "${RES[knockd08,lat6]:-}")"
row "  floor: Go os/exec start of that command (ms)" "$EXEC_FLOOR" "-" "-"
row "latency, glibc-static command, IPv4 (median ms)" "${RES[knockd-go,lat4g]:-}" "${RES[knockd08,lat4g]:-}" "$(ratio "${RES[knockd-go,lat4g]:-}" "${RES[knockd08,lat4g]:-}")"
row "latency, glibc-static command, IPv6 (median ms)" "${RES[knockd-go,lat6g]:-}" "${RES[knockd08,lat6g]:-}" "$(ratio "${RES[knockd-go,lat6g]:-}" "${RES[knockd08,lat6g]:-}")"
row "  floor: Go os/exec start of that command (ms)" "$EXEC_FLOOR_G" "-" "-"
for r in 20 200 2000; do
  row "$r first knocks/s, ${RATE_SECS} s: CPU (ms)" "${RES[knockd-go,rate${r}_cpu]:-}" "${RES[knockd08,rate${r}_cpu]:-}" "$(ratio "${RES[knockd-go,rate${r}_cpu]:-}" "${RES[knockd08,rate${r}_cpu]:-}")"
  row "  context switches a second" "${RES[knockd-go,rate${r}_wake]:-}" "${RES[knockd08,rate${r}_wake]:-}" "-"
  row "  legitimate knock meanwhile: latency (median ms)" "${RES[knockd-go,rate${r}_lat]:-}" "${RES[knockd08,rate${r}_lat]:-}" "$(ratio "${RES[knockd-go,rate${r}_lat]:-}" "${RES[knockd08,rate${r}_lat]:-}")"
done
row "storm 2 doors x 10,000 successes/s, ${STORM_SECS} s: RSS growth (KiB)" "${RES[knockd-go,storm_rss]:-}" "${RES[knockd08,storm_rss]:-}" "-"
row "  processes below the daemon at most / sendmail at most" "${RES[knockd-go,storm_kids]:-}/${RES[knockd-go,storm_mails]:-}" "${RES[knockd08,storm_kids]:-}/-" "-"
row "  goroutines / threads at the end" "${RES[knockd-go,storm_goroutines]:-}/${RES[knockd-go,storm_threads]:-}" "-/${RES[knockd08,storm_threads]:-}" "-"
row "  log lines/s of the stormed door" "${RES[knockd-go,storm_lines]:-}" "${RES[knockd08,storm_lines]:-}" "-"
row "  another door's knock meanwhile: latency (worst ms)" "${RES[knockd-go,storm_lat]:-}" "${RES[knockd08,storm_lat]:-}" "-"
row "SPA: 225-byte garbage flood, CPU µs/packet" "$SPA_US" "-" "-"
row "SPA legit/10 during garbage flood at ${SPAL[rate,110000]:-110k} pps" "${SPAL[knockd-go,110000]:-}" "${SPAL[fwknopd,110000]:+fwknopd ${SPAL[fwknopd,110000]}}" "-"
row "SPA legit/10 during garbage flood at ${SPAL[rate,0]:-full} pps" "${SPAL[knockd-go,0]:-}" "${SPAL[fwknopd,0]:+fwknopd ${SPAL[fwknopd,0]}}" "-"
row "SPA: one packet replayed at full rate: log lines/s" "$REPLAY_LINES" "-" "-"
row "  another door opened meanwhile" "$REPLAY_OTHER" "-" "-"
row "first gap 0.5 s, $SLOW_R new sources/s, max_attempts $SLOW_N: opened" "$SLOW_05" "-" "-"
row "  first gap 4 s (past max_attempts/R = 2 s): opened" "$SLOW_4" "-" "-"
row "  first gap 0.3 s, then 5 s: opened" "$SLOW_LATE" "-" "-"
row "binary (mipsle, stripped / Debian amd64) bytes" "$SIZE_MIPSLE" "$SIZE_08" "-"
row "ipk (mipsel_24kc) bytes" "$SIZE_IPK" "-" "-"
echo
for s in 1000 10000 100000; do echo "knockd-go counters after the $s-source flood: ${RES[knockd-go,flood${s}_stats]:-}"; done
echo "knockd-go counters after the SPA garbage flood: ${SPA_STATS:-}"
echo "knockd-go counters after the storm: ${RES[knockd-go,storm_stats]:-}"
echo "knockd-go counters after the SPA replay: ${REPLAY_STATS:-}"
echo "knockd-go counters after the SPA flood with legitimate packets (110 kpps / full): ${SPAL[stats,110000]:-} / ${SPAL[stats,0]:-}"
