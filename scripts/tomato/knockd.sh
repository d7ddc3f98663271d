#!/bin/sh
# knockd-go on Tomato / FreshTomato: start knockd on the WAN device and keep
# it there.
#
# Install (JFFS enabled under Administration -> JFFS, or a USB disk):
#   /jffs/etc/knockd.sh      this file (chmod +x)
#   /jffs/usr/sbin/knockd    the binary (or Entware's /opt/sbin/knockd)
#   /jffs/etc/knockd.conf    the doors (or Entware's /opt/etc/knockd.conf)
# and in Administration -> Scripts:
#   Init:      see init.sh     (starts knockd once /jffs is mounted)
#   WAN Up:    see wan-up.sh   /jffs/etc/knockd.sh wanup
#   Firewall:  see firewall.sh /jffs/etc/knockd.sh firewall
# Tomato keeps these scripts in nvram (script_init, script_wanup,
# script_fire) and runs them at boot, after the WAN came up, and after each
# firewall restart (which rebuilds the rules with iptables-restore).
#
# Usage: knockd.sh [start|stop|restart|wanup|firewall|status]
#
# Settings, from the environment or /jffs/etc/knockd.env (shell syntax):
#   KNOCKD_WAN   device to listen on (default: from nvram, see knockd_wan)
#   KNOCKD_BIN   the knockd binary       KNOCKD_CONF  the knockd.conf file
#   KNOCKD_ARGS  more knockd options (e.g. -4)

ROOT=${KNOCKD_ROOT:-} # prefix of every path (used by the tests)
# shellcheck disable=SC1091
[ -r "$ROOT/jffs/etc/knockd.env" ] && . "$ROOT/jffs/etc/knockd.env"
PIDFILE=$ROOT/var/run/knockd.pid
STATE=$ROOT/var/run/knockd.wan # not /tmp: a name anyone could put a symbolic link at

log() {
	echo "knockd: $*" >&2
	command -v logger >/dev/null 2>&1 && logger -t knockd "$*"
	return 0
}

# knockd_wan prints the WAN device: KNOCKD_WAN, else for PPP protocols the
# PPP device (pppd_pppifname, default ppp0), else nvram wan_iface (the L3
# device once the WAN is up), else wan_ifname.
knockd_wan() {
	if [ -n "$KNOCKD_WAN" ]; then
		echo "$KNOCKD_WAN"
		return
	fi
	case "$(nvram get wan_proto 2>/dev/null)" in
	pppoe | pptp | l2tp | pppoa | pppoe_dual | 3g | ppp3g)
		kw_dev=$(nvram get pppd_pppifname 2>/dev/null)
		echo "${kw_dev:-ppp0}"
		return
		;;
	esac
	kw_dev=$(nvram get wan_iface 2>/dev/null)
	[ -n "$kw_dev" ] || kw_dev=$(nvram get wan_ifname 2>/dev/null)
	echo "$kw_dev"
}

knockd_bin() {
	if [ -n "$KNOCKD_BIN" ]; then
		echo "$KNOCKD_BIN"
		return
	fi
	for kb in "$ROOT/opt/sbin/knockd" "$ROOT/jffs/usr/sbin/knockd" "$ROOT/jffs/sbin/knockd" \
		"$ROOT/jffs/knockd" "$ROOT/usr/sbin/knockd"; do
		[ -x "$kb" ] && { echo "$kb"; return; }
	done
	command -v knockd
}

knockd_conf() {
	if [ -n "$KNOCKD_CONF" ]; then
		echo "$KNOCKD_CONF"
		return
	fi
	for kc in "$ROOT/opt/etc/knockd.conf" "$ROOT/jffs/etc/knockd.conf" "$ROOT/etc/knockd.conf"; do
		[ -f "$kc" ] && { echo "$kc"; return; }
	done
	echo "$ROOT/jffs/etc/knockd.conf"
}

# knockd_alive PID: the process exists and is not a zombie waiting for init.
knockd_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[ -r "/proc/$1/stat" ] || return 0
	[ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}

# knockd_pid prints the pid of the running knockd, if any.
knockd_pid() {
	[ -r "$PIDFILE" ] || return 1
	read -r kp <"$PIDFILE" || return 1
	case "$kp" in '' | *[!0-9]*) return 1 ;; esac
	knockd_alive "$kp" || return 1
	# A stale pid file may name an unrelated process by now.
	[ -r "/proc/$kp/cmdline" ] && ! tr '\0' ' ' <"/proc/$kp/cmdline" | grep -q knockd && return 1
	echo "$kp"
}

start() {
	if kp=$(knockd_pid); then
		log "already running (pid $kp)"
		return 0
	fi
	wan=$(knockd_wan)
	bin=$(knockd_bin)
	conf=$(knockd_conf)
	if [ -z "$wan" ]; then
		log "no WAN device (nvram wan_iface/wan_ifname empty); set KNOCKD_WAN"
		return 1
	fi
	if [ -z "$bin" ] || [ ! -x "$bin" ]; then
		log "knockd binary not found; set KNOCKD_BIN"
		return 1
	fi
	if [ ! -f "$conf" ]; then
		log "no configuration: $conf"
		return 1
	fi
	# shellcheck disable=SC2086 # KNOCKD_ARGS holds separate options
	"$bin" -d -i "$wan" -c "$conf" -p "$PIDFILE" $KNOCKD_ARGS || {
		log "knockd failed to start on $wan"
		return 1
	}
	echo "$wan" >"$STATE"
	log "started on $wan with $conf"
}

stop() {
	rm -f "$STATE"
	kp=$(knockd_pid) || return 0
	kill "$kp" 2>/dev/null
	# knockd waits for a pending stop command before it exits: give it time.
	n=0
	while knockd_alive "$kp" && [ "$n" -lt 60 ]; do
		# Short steps first (a sleep without fractions waits 1 s instead).
		if [ "$n" -lt 10 ]; then sleep 0.1 2>/dev/null || sleep 1; else sleep 1; fi
		n=$((n + 1))
	done
	knockd_alive "$kp" && kill -9 "$kp" 2>/dev/null
	rm -f "$PIDFILE"
	log "stopped (pid $kp)"
}

# wanup: make sure knockd runs on the current WAN device.
wanup() {
	wan=$(knockd_wan)
	if kp=$(knockd_pid); then
		[ -r "$STATE" ] && read -r was <"$STATE"
		if [ -n "$wan" ] && [ "$wan" = "${was:-}" ]; then
			return 0
		fi
		log "WAN device is now ${wan:-unknown} (was ${was:-unknown}): restarting"
		stop
	fi
	start
}

# firewall: the firewall was rebuilt (iptables-restore); knockd's jumps are
# gone until it re-asserts them, which SIGUSR2 makes it do at once.
firewall() {
	kp=$(knockd_pid) || return 0
	kill -USR2 "$kp"
}

status() {
	if kp=$(knockd_pid); then
		echo "knockd running, pid $kp, on $(cat "$STATE" 2>/dev/null)"
	else
		echo "knockd not running"
		return 1
	fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
restart) stop; start ;;
wanup) wanup ;;
firewall | reload) firewall ;;
status) status ;;
*)
	echo "usage: $0 [start|stop|restart|wanup|firewall|status]" >&2
	exit 2
	;;
esac
