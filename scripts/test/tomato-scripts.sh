#!/usr/bin/env bash
# Tests scripts/tomato: knockd.sh and the three snippets for Administration ->
# Scripts (Init, WAN Up, Firewall) in a temporary root (KNOCKD_ROOT) laid out
# like a Tomato router with JFFS, with a stand-in `nvram` on PATH and a
# stand-in knockd that records its argv and, with -d, runs a small background
# "daemon" that writes the pid file and records the signals it gets. Only
# processes this test starts are signalled.
# shellcheck disable=SC2016 # bash -c '...' snippets read their own "$1"
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
R="$tmp/root"
LOG="$tmp/knockd.log"
NV="$tmp/nvram"

cleanup() {
	# Stop the stand-in daemon if a check left it running (pid from our file).
	if [ -r "$R/var/run/knockd.pid" ]; then
		p=$(cat "$R/var/run/knockd.pid")
		[[ $p =~ ^[0-9]+$ ]] && grep -q knockd-daemon "/proc/$p/cmdline" 2>/dev/null && kill "$p" 2>/dev/null
	fi
	[ -n "${sleeper:-}" ] && kill "$sleeper" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
checks=0
pass() { checks=$((checks + 1)); echo "ok   $*"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL $*"; }
check() {
	local desc=$1
	shift
	if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# ---- stand-ins ----------------------------------------------------------------
mkdir -p "$R/jffs/etc" "$R/jffs/usr/sbin" "$R/var/run" "$R/tmp" "$tmp/bin" "$tmp/gui"
cp "$here/scripts/tomato/knockd.sh" "$R/jffs/etc/knockd.sh"
# The GUI snippets name /jffs/etc/knockd.sh; here that is inside the root.
for s in init wan-up firewall; do
	sed "s|/jffs/|$R/jffs/|g" "$here/scripts/tomato/$s.sh" >"$tmp/gui/$s"
done
printf '[options]\n\tUseSyslog\n[ssh]\n\tSequence = 7000,8000,9000\n' >"$R/jffs/etc/knockd.conf"

cat >"$tmp/bin/nvram" <<'EOF'
#!/bin/sh
# stand-in for the firmware's nvram: "nvram get KEY" from $NVRAM_FILE (KEY=VALUE)
[ "$1" = get ] || exit 1
sed -n "s/^$2=//p" "$NVRAM_FILE"
EOF
cat >"$tmp/bin/logger" <<'EOF'
#!/bin/sh
echo "logger $*" >>"$KNOCKD_TEST_LOG.syslog"
EOF
cat >"$tmp/knockd" <<'EOF'
#!/bin/sh
# stand-in knockd: records argv; -d starts a background daemon writing -p
echo "argv $0 $*" >>"$KNOCKD_TEST_LOG"
daemon=0
pidfile=/var/run/knockd.pid
while [ $# -gt 0 ]; do
	case $1 in -d) daemon=1 ;; -p) shift; pidfile=$1 ;; esac
	shift
done
[ "$daemon" = 1 ] || exit 0
/bin/sh "$(dirname "$0")/knockd-daemon" "$KNOCKD_TEST_LOG" "$pidfile" </dev/null >/dev/null 2>&1 &
echo $! >"$pidfile"
EOF
cat >"$tmp/knockd-daemon" <<'EOF'
#!/bin/sh
# the stand-in daemon: records SIGHUP and SIGTERM, lives at most 60 s
log=$1 pidfile=$2
trap 'echo HUP >>"$log"' HUP
trap 'echo TERM >>"$log"; rm -f "$pidfile"; exit 0' TERM
i=0
while [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
EOF
chmod +x "$tmp/bin/nvram" "$tmp/bin/logger" "$tmp/knockd" "$tmp/knockd-daemon"
cp "$tmp/knockd" "$tmp/knockd-daemon" "$R/jffs/usr/sbin/"

nvram_set() { printf '%s\n' "$@" >"$NV"; }
: >"$LOG"
export NVRAM_FILE="$NV" KNOCKD_TEST_LOG="$LOG" KNOCKD_ROOT="$R"
export PATH="$tmp/bin:/usr/bin:/bin"

gui() { # gui NAME: run an Administration -> Scripts snippet as Tomato does (sh)
	sh "$tmp/gui/$1" >"$tmp/out" 2>&1
}
ctl() { "$R/jffs/etc/knockd.sh" "$@" >"$tmp/out" 2>&1; }
argvs() { grep -c '^argv' "$LOG" || true; }
last_argv() { grep '^argv' "$LOG" | tail -1 | cut -d' ' -f3-; }
pid() { cat "$R/var/run/knockd.pid" 2>/dev/null; }
# running PID: the process exists and is not a zombie (init may reap late)
running() { kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }
alive() { local p; p=$(pid) && [ -n "$p" ] && running "$p"; }
gone() { ! running "$1"; }
# wait_for PATTERN: the log gets a line matching PATTERN within 3 s
wait_for() {
	for _ in $(seq 30); do
		grep -qx "$1" "$LOG" && return 0
		sleep 0.1
	done
	return 1
}
want() { # want WAN: argv of the last start, as the script builds it
	echo "-d -i $1 -c ${2:-$R/jffs/etc/knockd.conf} -p $R/var/run/knockd.pid"
}

# ---- the control script is the DD-WRT one with another header -------------------
body() { sed -n '/^ROOT=/,$p' "$1"; }
check "knockd.sh has the same code as scripts/ddwrt/knockd.startup" \
	cmp -s <(body "$here/scripts/tomato/knockd.sh") <(body "$here/scripts/ddwrt/knockd.startup")

# ---- Init: waits for /jffs, then starts -------------------------------------------
nvram_set wan_proto=dhcp wan_iface=vlan2 wan_ifname=vlan2
chmod -x "$R/jffs/etc/knockd.sh" # JFFS not mounted yet
check "Init snippet returns at once" gui init
sleep 0.5
check "Init: nothing started before /jffs is there" test "$(argvs)" = 0
chmod +x "$R/jffs/etc/knockd.sh"
for _ in $(seq 60); do [ "$(argvs)" = 1 ] && alive && break; sleep 0.1; done
check "Init: started once knockd.sh appeared" test "$(argvs)" = 1
check "Init: knockd $(want vlan2)" test "$(last_argv)" = "$(want vlan2)"
check "Init: daemon running" alive

# ---- Firewall: SIGHUP ---------------------------------------------------------------
check "Firewall snippet: exit 0" gui firewall
check "Firewall: daemon got SIGHUP" wait_for HUP
check "Firewall: no restart" test "$(argvs)" = 1

# ---- WAN Up -----------------------------------------------------------------------------
check "WAN Up, same device: exit 0" gui wan-up
check "WAN Up, same device: no restart" test "$(argvs)" = 1
old=$(pid)
nvram_set wan_proto=pppoe wan_iface=ppp0 wan_ifname=vlan2
check "WAN Up, PPPoE: exit 0" gui wan-up
check "WAN Up, PPPoE: old daemon got SIGTERM" wait_for TERM
check "WAN Up, PPPoE: old daemon gone" gone "$old"
check "WAN Up, PPPoE: knockd $(want ppp0)" test "$(last_argv)" = "$(want ppp0)"
nvram_set wan_proto=ppp3g wan_iface= wan_ifname=
gui wan-up || true
check "WAN Up, 3G (ppp3g): still ppp0, no restart" test "$(argvs)" = 2
nvram_set wan_proto=dhcp wan_iface=eth0 wan_ifname=eth0
gui wan-up || true
check "WAN Up, DHCP on eth0: -i eth0" test "$(last_argv)" = "$(want eth0)"
check "WAN Up, DHCP: daemon running" alive

# ---- Entware --------------------------------------------------------------------------------
mkdir -p "$R/opt/etc"
cp "$R/jffs/etc/knockd.conf" "$R/opt/etc/knockd.conf"
check "restart with Entware config: exit 0" ctl restart
check "Entware: -c /opt/etc/knockd.conf" test "$(last_argv)" = "$(want eth0 "$R/opt/etc/knockd.conf")"
rm -rf "$R/opt"

# ---- stop, and snippets without knockd.sh ----------------------------------------------------
p=$(pid)
check "stop: exit 0" ctl stop
check "stop: daemon gone, pid file removed" bash -c '! kill -0 "$1" 2>/dev/null || [ "$(sed "s/.*) //" "/proc/$1/stat" | cut -c1)" = Z ]' _ "$p"
check "stop: no pid file" test ! -e "$R/var/run/knockd.pid"
mv "$R/jffs/etc/knockd.sh" "$R/jffs/etc/knockd.sh.off"
n=$(argvs)
gui wan-up || true
gui firewall || true
check "snippets without knockd.sh: silent" test ! -s "$tmp/out"
check "snippets without knockd.sh: nothing started" test "$(argvs)" = "$n"
mv "$R/jffs/etc/knockd.sh.off" "$R/jffs/etc/knockd.sh"

if command -v shellcheck >/dev/null 2>&1; then
	check "shellcheck scripts/tomato" shellcheck "$here"/scripts/tomato/*.sh
fi
echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
