#!/usr/bin/env bash
# Runs files/etc/init.d/knockd (the procd init script) under every POSIX sh
# found here (dash, bash --posix, busybox sh) against stand-ins for OpenWrt's
# /etc/rc.common, /lib/functions.sh, /lib/functions/network.sh and
# /lib/functions/procd.sh that record each procd call. The stand-ins live in
# a temporary root passed as IPKG_INSTROOT, the prefix the real rc.common and
# procd.sh use too; nothing outside that root is touched.
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
init="$here/files/etc/init.d/knockd"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=lib/checks.bash
. "$here/scripts/test/lib/checks.bash"

# ---- stand-ins ------------------------------------------------------------

mkroot() { # mkroot DIR: an OpenWrt-like root with the stand-ins
	local r=$1
	mkdir -p "$r/etc/config" "$r/etc/init.d" "$r/lib/functions" "$r/var/run" "$r/bin" "$r/state"
	cp "$init" "$r/etc/init.d/knockd"

	cat >"$r/etc/rc.common" <<'EOF'
# Stand-in for OpenWrt's /etc/rc.common (procd part): sources the helpers and
# the init script, then runs the action like the real one does.
initscript=$1
action=${2:-help}
# busybox sh (a standalone-shell build) runs its own applets before PATH:
# functions come first, so the stand-ins stay in charge.
logger() { "$IPKG_INSTROOT/bin/logger" "$@"; }
pidof() { "$IPKG_INSTROOT/bin/pidof" "$@"; }
. "$IPKG_INSTROOT/lib/functions.sh"
. "$initscript"
[ -n "$USE_PROCD" ] && . "$IPKG_INSTROOT/lib/functions/procd.sh"
rc_procd() {
	procd_open_service "knockd" "$initscript"
	"$@"
	procd_open_trigger
	service_triggers
	procd_close_trigger
	procd_close_service
}
start() { rc_procd start_service; }
stop() { stop_service; procd_kill knockd; }
reload() {
	if type reload_service >/dev/null 2>&1; then reload_service; else start; fi
}
restart() { stop; start; }
"$action"
EOF

	cat >"$r/lib/functions.sh" <<'EOF'
# Stand-in for OpenWrt's /lib/functions.sh config helpers. Config files are
# read as uci export writes them, which is valid shell: config/option/list
# become function calls, as in the real uci_load.
config() {
	CONFIG_NUM_SECTIONS=$((CONFIG_NUM_SECTIONS + 1))
	CONFIG_SECTION=${2:-cfg$CONFIG_NUM_SECTIONS}
	CONFIG_SECTIONS="$CONFIG_SECTIONS $CONFIG_SECTION"
	eval "CONFIG_${CONFIG_SECTION}_TYPE=\$1"
}
option() { eval "CONFIG_${CONFIG_SECTION}_$1=\$2"; }
list() {
	eval "CONFIG_${CONFIG_SECTION}_$1=\"\${CONFIG_${CONFIG_SECTION}_$1:+\$CONFIG_${CONFIG_SECTION}_$1 }\$2\""
}
config_load() {
	for __s in $CONFIG_SECTIONS; do
		for __v in $(set | sed -n "s/^\(CONFIG_${__s}_[A-Za-z0-9_]*\)=.*/\1/p"); do unset "$__v"; done
	done
	CONFIG_SECTIONS=""
	CONFIG_NUM_SECTIONS=0
	echo "config_load $1" >>"$IPKG_INSTROOT/calls"
	[ -f "$IPKG_INSTROOT/etc/config/$1" ] && . "$IPKG_INSTROOT/etc/config/$1"
	return 0
}
config_get() {
	case "$3" in
	"") eval "echo \"\${CONFIG_$1_$2:-}\"" ;;
	*) eval "$1=\${CONFIG_$2_$3:-\${4:-}}" ;;
	esac
}
config_get_bool() {
	local __v
	config_get __v "$2" "$3" "${4:-}"
	case "$__v" in
	1|on|true|yes|enabled) __v=1 ;;
	0|off|false|no|disabled) __v=0 ;;
	*) __v=${4:-0} ;;
	esac
	eval "$1=\$__v"
}
config_foreach() {
	local __f=$1 __t=$2 __s __st
	for __s in $CONFIG_SECTIONS; do
		config_get __st "$__s" TYPE
		[ "$__st" = "$__t" ] && "$__f" "$__s"
	done
	return 0
}
EOF

	cat >"$r/lib/functions/network.sh" <<'EOF'
# Stand-in for /lib/functions/network.sh: state/devices holds
# "<network> <l3 device>" for every network that is up.
network_flush_cache() { echo "network_flush_cache" >>"$IPKG_INSTROOT/calls"; }
network_get_device() {
	local __d
	__d=$(awk -v n="$2" '$1 == n { print $2 }' "$IPKG_INSTROOT/state/devices" 2>/dev/null)
	eval "$1=\$__d"
	[ -n "$__d" ]
}
EOF

	cat >"$r/lib/functions/procd.sh" <<'EOF'
# Stand-in for /lib/functions/procd.sh: every call is recorded, one per line,
# arguments separated by "|".
procd_rec() {
	local IFS='|'
	echo "$*" >>"$IPKG_INSTROOT/procd.log"
}
procd_open_service() { procd_rec procd_open_service "$@"; }
procd_close_service() { procd_rec procd_close_service "$@"; }
procd_open_instance() { procd_rec procd_open_instance "$@"; }
procd_close_instance() { procd_rec procd_close_instance "$@"; }
procd_set_param() { procd_rec procd_set_param "$@"; }
procd_append_param() { procd_rec procd_append_param "$@"; }
procd_open_trigger() { procd_rec procd_open_trigger "$@"; }
procd_close_trigger() { procd_rec procd_close_trigger "$@"; }
procd_add_reload_trigger() { procd_rec procd_add_reload_trigger "$@"; }
procd_add_reload_interface_trigger() { procd_rec procd_add_reload_interface_trigger "$@"; }
procd_add_interface_trigger() { procd_rec procd_add_interface_trigger "$@"; }
procd_send_signal() { procd_rec procd_send_signal "$@"; }
procd_kill() { procd_rec procd_kill "$@"; }
procd_running() { [ -f "$IPKG_INSTROOT/state/running" ]; }
# procd.sh of OpenWrt 19.07 and older has no procd_running.
[ -f "$IPKG_INSTROOT/state/old_procd" ] && unset -f procd_running
EOF

	cat >"$r/bin/logger" <<'EOF'
#!/bin/sh
echo "logger $*" >>"$IPKG_INSTROOT/calls"
EOF
	cat >"$r/bin/pidof" <<'EOF'
#!/bin/sh
echo "pidof $*" >>"$IPKG_INSTROOT/calls"
[ "$1" = knockd ] && [ -f "$IPKG_INSTROOT/state/running" ] && echo 4242
EOF
	chmod +x "$r/bin/logger" "$r/bin/pidof"

	cat >"$r/etc/config/network" <<'EOF'
config interface 'loopback'
	option device 'lo'
	option proto 'static'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'

config interface 'wan'
	option device 'eth0.2'
	option proto 'dhcp'

config interface 'wwan'
	option proto 'dhcp'
EOF
}

knockd_conf() { # knockd_conf ROOT ENABLED INTERFACE [DOORS]
	local r=$1 enabled=$2 iface=$3 doors=${4:-1}
	{
		printf "config knockd 'global'\n\toption enabled '%s'\n\toption interface '%s'\n\toption use_syslog '1'\n" "$enabled" "$iface"
		if [ "$doors" -ge 1 ]; then
			printf "\nconfig door 'ssh'\n\toption sequence '7000,8000,9000'\n\tlist open 'tcp/22'\n"
		fi
		if [ "$doors" -ge 2 ]; then
			printf "\nconfig door 'off'\n\toption enabled '0'\n\toption sequence '1,2,3'\n"
		fi
	} >"$r/etc/config/knockd"
}

# run ROOT SHELL ACTION: run the init script action like rc.common does.
run() {
	local r=$1 sh=$2 action=$3
	: >"$r/procd.log"
	: >"$r/calls"
	# shellcheck disable=SC2086 # $sh may be "bash --posix"
	env -i PATH="$r/bin:/usr/bin:/bin" IPKG_INSTROOT="$r" $sh "$r/etc/rc.common" "$r/etc/init.d/knockd" "$action" \
		>"$r/out" 2>&1 || { echo "exit status $? from $sh $action:"; cat "$r/out"; return 1; }
}

has() { grep -qxF -- "$2" "$1/procd.log"; }
hasnt() { ! grep -qF -- "$2" "$1/procd.log"; }

# ---- shells ----------------------------------------------------------------

shells=()
command -v dash >/dev/null 2>&1 && shells+=("dash")
command -v bash >/dev/null 2>&1 && shells+=("bash --posix")
if command -v busybox >/dev/null 2>&1 && busybox sh -c true 2>/dev/null; then
	shells+=("busybox sh")
fi
[ "${#shells[@]}" -ge 1 ] || { echo "FAIL no POSIX shell found"; exit 1; }
echo "shells: ${shells[*]}"

cmd='procd_set_param|command|/usr/sbin/knockd|-u|/etc/config/knockd|-i'

instances() { grep -c '^procd_open_instance' "$1/procd.log" || true; }
state() { cat "$1/var/run/knockd.instance" 2>/dev/null || true; }

# Each case: set up the root, run one action, test the recorded calls.
case_wan_up() {
	knockd_conf "$r" 1 wan
	echo "wan eth0.2" >"$r/state/devices"
	run "$r" "$sh" start || return 1
	has "$r" "$cmd|eth0.2" && has "$r" "procd_set_param|netdev|eth0.2" &&
		[ "$(instances "$r")" = 1 ] && has "$r" "procd_close_instance"
}
case_respawn() { has "$r" "procd_set_param|respawn"; }
case_syslog() { has "$r" "procd_set_param|stdout|1" && has "$r" "procd_set_param|stderr|1"; }
case_triggers() {
	has "$r" "procd_add_reload_trigger|knockd" && has "$r" "procd_add_reload_interface_trigger|wan"
}
case_state() { [ "$(state "$r")" = "wan eth0.2" ]; }
case_pppoe() {
	echo "wan pppoe-wan" >"$r/state/devices"
	run "$r" "$sh" start && has "$r" "$cmd|pppoe-wan" && has "$r" "procd_set_param|netdev|pppoe-wan"
}
case_disabled() {
	knockd_conf "$r" 0 wan
	run "$r" "$sh" start && hasnt "$r" procd_open_instance && has "$r" "procd_add_reload_trigger|knockd" &&
		has "$r" "procd_add_reload_interface_trigger|wan" && [ -z "$(state "$r")" ]
}
case_wan_down() {
	knockd_conf "$r" 1 wan
	: >"$r/state/devices"
	run "$r" "$sh" start && hasnt "$r" procd_open_instance && has "$r" "procd_add_reload_interface_trigger|wan" &&
		grep -q "network wan is not up, waiting" "$r/calls"
}
case_wwan_down() {
	knockd_conf "$r" 1 wwan
	run "$r" "$sh" start && hasnt "$r" procd_open_instance && has "$r" "procd_add_reload_interface_trigger|wwan"
}
case_device_name() {
	knockd_conf "$r" 1 eth1
	run "$r" "$sh" start && has "$r" "$cmd|eth1" && has "$r" "procd_set_param|netdev|eth1"
}
case_no_doors() {
	knockd_conf "$r" 1 wan 0
	echo "wan eth0.2" >"$r/state/devices"
	run "$r" "$sh" start && hasnt "$r" procd_open_instance && grep -q "no door configured" "$r/calls"
}
case_door_off() {
	knockd_conf "$r" 1 wan 2
	run "$r" "$sh" start && has "$r" "$cmd|eth0.2"
}
case_reload_same() {
	knockd_conf "$r" 1 wan
	echo "wan eth0.2" >"$r/state/devices"
	run "$r" "$sh" start || return 1
	touch "$r/state/running"
	run "$r" "$sh" reload && has "$r" "procd_send_signal|knockd|*|HUP" && hasnt "$r" procd_open_instance &&
		hasnt "$r" procd_open_service
}
case_reload_changed() {
	echo "wan pppoe-wan" >"$r/state/devices"
	run "$r" "$sh" reload && has "$r" "$cmd|pppoe-wan" && hasnt "$r" procd_send_signal &&
		[ "$(state "$r")" = "wan pppoe-wan" ]
}
case_reload_down() {
	: >"$r/state/devices"
	run "$r" "$sh" reload && [ ! -s "$r/procd.log" ] && [ "$(state "$r")" = "wan pppoe-wan" ]
}
case_reload_disabled() {
	echo "wan pppoe-wan" >"$r/state/devices"
	knockd_conf "$r" 0 wan
	run "$r" "$sh" reload && has "$r" "procd_open_service|knockd|$r/etc/init.d/knockd" &&
		hasnt "$r" procd_open_instance && hasnt "$r" procd_send_signal
}
case_reload_stopped() {
	rm -f "$r/state/running"
	knockd_conf "$r" 1 wan
	run "$r" "$sh" reload && has "$r" "$cmd|pppoe-wan"
}
case_old_procd() {
	knockd_conf "$r" 1 wan
	echo "wan eth0.2" >"$r/state/devices"
	run "$r" "$sh" start || return 1
	touch "$r/state/running" "$r/state/old_procd"
	run "$r" "$sh" reload || return 1
	rm -f "$r/state/old_procd"
	has "$r" "procd_send_signal|knockd|*|HUP" && grep -qx "pidof knockd" "$r/calls"
}
case_stop() {
	run "$r" "$sh" stop && has "$r" "procd_kill|knockd" && [ -z "$(state "$r")" ]
}

for sh in "${shells[@]}"; do
	tag="[$sh]"
	r="$tmp/root-${sh// /-}"
	mkroot "$r"
	check "$tag wan up: knockd -u /etc/config/knockd -i eth0.2, netdev, one instance" case_wan_up
	check "$tag respawn set" case_respawn
	check "$tag stdout/stderr to syslog" case_syslog
	check "$tag triggers: config knockd, interface wan" case_triggers
	check "$tag state records 'wan eth0.2'" case_state
	check "$tag PPPoE wan: -i pppoe-wan" case_pppoe
	check "$tag disabled: no instance, triggers kept" case_disabled
	check "$tag wan down: no instance, waits for the interface trigger" case_wan_down
	check "$tag wwan (logical, down): no instance" case_wwan_down
	check "$tag plain device name eth1 used as is" case_device_name
	check "$tag enabled without doors: not started" case_no_doors
	check "$tag a disabled door next to an enabled one: started" case_door_off
	check "$tag reload, same device: SIGHUP, no restart" case_reload_same
	check "$tag reload, device changed: restarted on pppoe-wan" case_reload_changed
	check "$tag reload, network down: daemon kept" case_reload_down
	check "$tag reload, disabled: instance removed" case_reload_disabled
	check "$tag reload, not running: started" case_reload_stopped
	check "$tag reload without procd_running (old procd.sh): pidof knockd, SIGHUP" case_old_procd
	check "$tag stop: procd_kill, state removed" case_stop
done

# The script itself: header and lint.
check "rc.common shebang" grep -qx '#!/bin/sh /etc/rc.common' "$init"
check "START=99" grep -qx 'START=99' "$init"
check "USE_PROCD=1" grep -qx 'USE_PROCD=1' "$init"
if command -v shellcheck >/dev/null 2>&1; then
	check "shellcheck init script" shellcheck "$init"
fi

summary
