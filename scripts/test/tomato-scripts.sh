#!/usr/bin/env bash
# Tests scripts/tomato: knockd.sh and the three snippets for Administration ->
# Scripts (Init, WAN Up, Firewall) in a temporary root (KNOCKD_ROOT) laid out
# like a Tomato router with JFFS, with a stand-in `nvram` on PATH and a
# stand-in knockd that records its argv and, with -d, runs a small background
# "daemon" that writes the pid file and records the signals it gets
# (lib/router-standins.bash, shared with ddwrt-scripts.sh). Only processes
# this test starts are signalled.
# shellcheck disable=SC2016 # bash -c '...' snippets read their own "$1"
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib/checks.bash
. "$here/scripts/test/lib/checks.bash"
tmp=$(mktemp -d)
# shellcheck source=lib/router-standins.bash
. "$here/scripts/test/lib/router-standins.bash"
trap standins_cleanup EXIT

# ---- stand-ins ----------------------------------------------------------------
mkdir -p "$R/jffs/etc" "$tmp/gui"
cp "$here/scripts/tomato/knockd.sh" "$R/jffs/etc/knockd.sh"
# The GUI snippets name /jffs/etc/knockd.sh; here that is inside the root.
for s in init wan-up firewall; do
	sed "s|/jffs/|$R/jffs/|g" "$here/scripts/tomato/$s.sh" >"$tmp/gui/$s"
done
standins_setup

gui() { # gui NAME: run an Administration -> Scripts snippet as Tomato does (sh)
	sh "$tmp/gui/$1" >"$tmp/out" 2>&1
}
ctl() { "$R/jffs/etc/knockd.sh" "$@" >"$tmp/out" 2>&1; }

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

# ---- Firewall: SIGUSR2 --------------------------------------------------------------
check "Firewall snippet: exit 0" gui firewall
check "Firewall: daemon got SIGUSR2" wait_for USR2
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
summary
