#!/usr/bin/env bash
# Tests scripts/ddwrt (knockd.startup, knockd.wanup, knockd.firewall) in a
# temporary root (KNOCKD_ROOT) laid out like a DD-WRT router with JFFS, with
# a stand-in `nvram` on PATH and a stand-in knockd that records its argv and,
# with -d, runs a small background "daemon" that writes the pid file and
# records the signals it gets (lib/router-standins.bash, shared with
# tomato-scripts.sh). Only processes this test starts are signalled.
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
mkdir -p "$R/jffs/etc/config"
cp "$here/scripts/ddwrt/knockd.startup" "$here/scripts/ddwrt/knockd.wanup" \
	"$here/scripts/ddwrt/knockd.firewall" "$R/jffs/etc/config/"
standins_setup

hook() { # hook NAME [ARG]: run a DD-WRT hook script like DD-WRT does
	"$R/jffs/etc/config/knockd.$1" "${@:2}" >"$tmp/out" 2>&1
}

# ---- boot: knockd.startup without arguments --------------------------------------
nvram_set wan_proto=dhcp wan_iface=vlan2 wan_ifname=vlan2
check "startup: exit 0" hook startup
check "startup: knockd $(want vlan2)" test "$(last_argv)" = "$(want vlan2)"
check "startup: the JFFS binary is used" grep -q "^argv $R/jffs/usr/sbin/knockd " "$LOG"
check "startup: daemon running, pid file written" alive
check "startup: state records vlan2" test "$(cat "$R/var/run/knockd.wan")" = vlan2
hook startup || true
check "startup again: no second knockd" test "$(argvs)" = 1
check "startup again: says already running" grep -q "already running" "$tmp/out"

# ---- firewall rebuilt: SIGUSR2 --------------------------------------------------------
check "firewall hook: exit 0" hook firewall
check "firewall hook: daemon got SIGUSR2" wait_for USR2
check "firewall hook: no restart" test "$(argvs)" = 1

# ---- WAN up ---------------------------------------------------------------------------
check "wanup, same device: exit 0" hook wanup
check "wanup, same device: no restart" test "$(argvs)" = 1
old=$(pid)
nvram_set wan_proto=pppoe wan_iface=vlan2 wan_ifname=vlan2
check "wanup, PPPoE: exit 0" hook wanup
check "wanup, PPPoE: old daemon got SIGTERM" wait_for TERM
check "wanup, PPPoE: old daemon gone" gone "$old"
check "wanup, PPPoE: knockd $(want ppp0)" test "$(last_argv)" = "$(want ppp0)"
check "wanup, PPPoE: new daemon running" alive
nvram_set wan_proto=pppoe wan_iface=ppp1 wan_ifname=vlan2 pppd_pppifname=ppp1
hook wanup || true
check "wanup, pppd_pppifname ppp1: -i ppp1" test "$(last_argv)" = "$(want ppp1)"
nvram_set wan_proto=dhcp wan_iface= wan_ifname=eth1
hook wanup || true
check "wanup, DHCP, wan_iface empty: falls back to wan_ifname eth1" test "$(last_argv)" = "$(want eth1)"

# ---- Entware config and binary ------------------------------------------------------------
mkdir -p "$R/opt/etc" "$R/opt/sbin"
cp "$R/jffs/etc/knockd.conf" "$R/opt/etc/knockd.conf"
cp "$tmp/knockd" "$tmp/knockd-daemon" "$R/opt/sbin/"
check "restart with Entware: exit 0" hook startup restart
check "Entware: -c /opt/etc/knockd.conf" test "$(last_argv)" = "$(want eth1 "$R/opt/etc/knockd.conf")"
check "Entware: /opt/sbin/knockd used" grep -q "^argv $R/opt/sbin/knockd " <(grep '^argv' "$LOG" | tail -1)
rm -rf "$R/opt"

# ---- status, stop ------------------------------------------------------------------------
check "status: running" hook startup status
check "status names the device" grep -q "on eth1" "$tmp/out"
p=$(pid)
check "stop: exit 0" hook startup stop
check "stop: daemon gone" gone "$p"
check "stop: pid file and state removed" test ! -e "$R/var/run/knockd.pid" -a ! -e "$R/var/run/knockd.wan"
check "status: not running (exit 1)" bash -c '! "$1" status >/dev/null' _ "$R/jffs/etc/config/knockd.startup"
check "firewall hook without knockd: exit 0, nothing started" bash -c '"$1" firewall && [ "$(grep -c ^argv "$2")" = "$3" ]' \
	_ "$R/jffs/etc/config/knockd.firewall" "$LOG" "$(argvs)"

# ---- wanup when knockd is not running: starts it ------------------------------------------
nvram_set wan_proto=static wan_iface=vlan2
check "wanup, not running: exit 0" hook wanup
check "wanup, not running: started on vlan2" test "$(last_argv)" = "$(want vlan2)"
hook startup stop || true

# ---- a stale pid file naming another process is not trusted --------------------------------
sleep 30 &
sleeper=$!
echo "$sleeper" >"$R/var/run/knockd.pid"
n=$(argvs)
check "stale pid file: start proceeds" hook startup
check "stale pid file: knockd started" test "$(argvs)" = $((n + 1))
check "stale pid file: the other process was not signalled" running "$sleeper"
hook startup stop || true
kill "$sleeper" 2>/dev/null || true
sleeper=""

# ---- settings and errors ------------------------------------------------------------------
printf 'KNOCKD_WAN=wg0\nKNOCKD_ARGS="-4 -v"\n' >"$R/jffs/etc/knockd.env"
hook startup || true
check "knockd.env: KNOCKD_WAN and KNOCKD_ARGS" test "$(last_argv)" = "$(want wg0) -4 -v"
hook startup stop || true
rm -f "$R/jffs/etc/knockd.env"
nvram_set wan_proto=dhcp
check "no WAN device: exit 1" bash -c '! "$1" >/dev/null 2>&1' _ "$R/jffs/etc/config/knockd.startup"
check "no WAN device: message" bash -c '"$1" 2>&1 | grep -q "no WAN device"' _ "$R/jffs/etc/config/knockd.startup"
nvram_set wan_iface=vlan2
mv "$R/jffs/etc/knockd.conf" "$R/jffs/etc/knockd.conf.off"
check "no knockd.conf: exit 1 and message" bash -c '! "$1" 2>"$2" && grep -q "no configuration" "$2"' _ "$R/jffs/etc/config/knockd.startup" "$tmp/err"
mv "$R/jffs/etc/knockd.conf.off" "$R/jffs/etc/knockd.conf"
check "unknown action: exit 2" bash -c '"$1" frobnicate 2>/dev/null; [ $? = 2 ]' _ "$R/jffs/etc/config/knockd.startup"
check "no stand-in daemon left" test ! -e "$R/var/run/knockd.pid"

if command -v shellcheck >/dev/null 2>&1; then
	check "shellcheck scripts/ddwrt" shellcheck "$here"/scripts/ddwrt/knockd.*
fi
summary
