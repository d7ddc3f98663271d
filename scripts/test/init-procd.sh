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
EOF

	cat >"$r/bin/logger" <<'EOF'
#!/bin/sh
echo "logger $*" >>"$IPKG_INSTROOT/calls"
EOF
	cat >"$r/bin/ubus" <<'EOF'
#!/bin/sh
echo "ubus $*" >>"$IPKG_INSTROOT/calls"
[ -f "$IPKG_INSTROOT/state/running" ] && cat "$IPKG_INSTROOT/state/command"
exit 0
EOF
	# jsonfilter stand-in: the ubus stand-in already prints the command
	# line one argument a line. An instance procd keeps without a process
	# (state/dead: respawn pending or given up) is not selected by
	# "[@.running=true]", as with the real jsonfilter (nothing, status 1).
	cat >"$r/bin/jsonfilter" <<'EOF'
#!/bin/sh
case "$*" in
*"[@.running=true]"*) [ -f "$IPKG_INSTROOT/state/dead" ] && exit 1 ;;
esac
cat
EOF
	chmod +x "$r/bin/logger" "$r/bin/ubus" "$r/bin/jsonfilter"

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

config interface 'wan6'
	option device '@wan'
	option proto 'dhcpv6'

config interface 'wwan'
	option proto 'dhcp'
EOF
}

knockd_conf() { # knockd_conf ROOT ENABLED INTERFACE [DOORS]
	local r=$1 enabled=$2 iface=$3 doors=${4:-1}
	{
		printf "config knockd 'global'\n\toption enabled '%s'\n\toption use_syslog '1'\n" "$enabled"
		for i in $iface; do printf "\tlist interface '%s'\n" "$i"; done
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

cmd='procd_set_param|command|/usr/sbin/knockd|-u|/etc/config/knockd'

instances() { grep -c '^procd_open_instance' "$1/procd.log" || true; }

# Each case: set up the root, run one action, test the recorded calls.
case_wan_up() {
	knockd_conf "$r" 1 "wan wan6"
	printf 'wan eth0.2\nwan6 eth0.2\n' >"$r/state/devices"
	run "$r" "$sh" start || return 1
	has "$r" "$cmd|-i|wan=eth0.2|-i|wan6=eth0.2" && [ "$(instances "$r")" = 1 ] &&
		has "$r" "procd_close_instance" && hasnt "$r" "procd_set_param|netdev"
}
case_file() { has "$r" "procd_set_param|file|/etc/config/knockd"; }
case_respawn() { has "$r" "procd_set_param|respawn"; }
case_syslog() { has "$r" "procd_set_param|stdout|1" && has "$r" "procd_set_param|stderr|1"; }
case_triggers() {
	has "$r" "procd_add_reload_trigger|knockd" && has "$r" "procd_add_reload_interface_trigger|wan" &&
		has "$r" "procd_add_reload_interface_trigger|wan6"
}
case_default_networks() {
	knockd_conf "$r" 1 ""
	printf 'wan pppoe-wan\nwan6 6in4-wan6\n' >"$r/state/devices"
	run "$r" "$sh" start && has "$r" "$cmd|-i|wan=pppoe-wan|-i|wan6=6in4-wan6" &&
		has "$r" "procd_add_reload_interface_trigger|wan6"
}
case_one_down() {
	knockd_conf "$r" 1 "wan wan6"
	echo "wan pppoe-wan" >"$r/state/devices"
	run "$r" "$sh" start && has "$r" "$cmd|-i|wan=pppoe-wan" && [ "$(instances "$r")" = 1 ]
}
case_disabled() {
	knockd_conf "$r" 0 wan
	run "$r" "$sh" start && hasnt "$r" procd_open_instance && has "$r" "procd_add_reload_trigger|knockd" &&
		has "$r" "procd_add_reload_interface_trigger|wan"
}
case_wan_down() {
	knockd_conf "$r" 1 "wan wan6"
	: >"$r/state/devices"
	run "$r" "$sh" start && hasnt "$r" procd_open_instance && has "$r" "procd_add_reload_interface_trigger|wan" &&
		grep -q "networks wan wan6 are not up, waiting" "$r/calls"
}
case_wwan_down() {
	knockd_conf "$r" 1 wwan
	run "$r" "$sh" start && hasnt "$r" procd_open_instance && has "$r" "procd_add_reload_interface_trigger|wwan"
}
case_device_name() {
	knockd_conf "$r" 1 "wan wg0"
	echo "wan eth0.2" >"$r/state/devices"
	run "$r" "$sh" start && has "$r" "$cmd|-i|wan=eth0.2|-i|wg0"
}
case_no_doors() {
	knockd_conf "$r" 1 wan 0
	echo "wan eth0.2" >"$r/state/devices"
	run "$r" "$sh" start && hasnt "$r" procd_open_instance && grep -q "no door configured" "$r/calls"
}
case_door_off() {
	knockd_conf "$r" 1 wan 2
	run "$r" "$sh" start && has "$r" "$cmd|-i|wan=eth0.2"
}
# running ROOT ARGS...: procd's record of the running instance, one
# argument a line, as "ubus call service list | jsonfilter" prints it.
running() {
	local r=$1
	shift
	touch "$r/state/running"
	printf '%s\n' /usr/sbin/knockd -u /etc/config/knockd "$@" >"$r/state/command"
}
case_reload_same() {
	knockd_conf "$r" 1 wan
	echo "wan eth0.2" >"$r/state/devices"
	running "$r" -i wan=eth0.2
	run "$r" "$sh" reload && has "$r" "procd_send_signal|knockd|*|HUP" && hasnt "$r" procd_open_instance &&
		hasnt "$r" procd_open_service && grep -q "ubus call service list" "$r/calls"
}
case_reload_other_net() {
	knockd_conf "$r" 1 "wan wan6"
	printf 'wan eth0.2\nwan6 eth0.2\n' >"$r/state/devices"
	running "$r" -i wan=eth0.2
	run "$r" "$sh" reload && has "$r" "$cmd|-i|wan=eth0.2|-i|wan6=eth0.2" && hasnt "$r" procd_send_signal &&
		has "$r" "procd_set_param|file|/etc/config/knockd"
}
case_reload_changed() {
	knockd_conf "$r" 1 wan
	echo "wan pppoe-wan" >"$r/state/devices"
	running "$r" -i wan=eth0.2
	run "$r" "$sh" reload && has "$r" "$cmd|-i|wan=pppoe-wan" && hasnt "$r" procd_send_signal
}
case_reload_down() {
	knockd_conf "$r" 1 wan
	: >"$r/state/devices"
	running "$r" -i wan=pppoe-wan
	run "$r" "$sh" reload && has "$r" "procd_send_signal|knockd|*|HUP" && hasnt "$r" procd_open_instance
}
case_reload_one_down() {
	knockd_conf "$r" 1 "wan wan6"
	echo "wan6 6in4-wan6" >"$r/state/devices"
	running "$r" -i wan=pppoe-wan -i wan6=6in4-wan6
	run "$r" "$sh" reload && has "$r" "procd_send_signal|knockd|*|HUP" && hasnt "$r" procd_open_instance
}
case_start_down_kept() {
	knockd_conf "$r" 1 wan
	: >"$r/state/devices"
	running "$r" -i wan=pppoe-wan
	run "$r" "$sh" start && has "$r" "$cmd|-i|wan=pppoe-wan"
}
case_reload_removed_net() {
	knockd_conf "$r" 1 wan
	echo "wan eth0.2" >"$r/state/devices"
	running "$r" -i wan=eth0.2 -i wan6=eth0.2
	run "$r" "$sh" reload && has "$r" "$cmd|-i|wan=eth0.2" && hasnt "$r" "wan6=" && hasnt "$r" procd_send_signal
}
case_reload_disabled() {
	knockd_conf "$r" 0 wan
	echo "wan eth0.2" >"$r/state/devices"
	running "$r" -i wan=eth0.2
	run "$r" "$sh" reload && has "$r" "procd_open_service|knockd|$r/etc/init.d/knockd" &&
		hasnt "$r" procd_open_instance && hasnt "$r" procd_send_signal
}
case_reload_dead() {
	knockd_conf "$r" 1 wan
	echo "wan eth0.2" >"$r/state/devices"
	running "$r" -i wan=eth0.2
	touch "$r/state/dead"
	run "$r" "$sh" reload
	local rc=$?
	rm -f "$r/state/dead"
	[ "$rc" = 0 ] && has "$r" "$cmd|-i|wan=eth0.2" && hasnt "$r" procd_send_signal
}
case_reload_stopped() {
	rm -f "$r/state/running" "$r/state/command"
	knockd_conf "$r" 1 wan
	echo "wan eth0.2" >"$r/state/devices"
	run "$r" "$sh" reload && has "$r" "$cmd|-i|wan=eth0.2" && hasnt "$r" procd_send_signal
}
case_stop() {
	run "$r" "$sh" stop && has "$r" "procd_kill|knockd"
}

for sh in "${shells[@]}"; do
	tag="[$sh]"
	r="$tmp/root-${sh// /-}"
	mkroot "$r"
	check "$tag wan+wan6 up: knockd -u /etc/config/knockd -i wan=eth0.2 -i wan6=eth0.2, one instance" case_wan_up
	check "$tag configuration file part of the instance" case_file
	check "$tag respawn set" case_respawn
	check "$tag stdout/stderr to syslog" case_syslog
	check "$tag triggers: config knockd, interfaces wan and wan6" case_triggers
	check "$tag no interface option: wan and wan6" case_default_networks
	check "$tag wan6 down: started on wan alone" case_one_down
	check "$tag disabled: no instance, triggers kept" case_disabled
	check "$tag all networks down: no instance, waits for the interface triggers" case_wan_down
	check "$tag wwan (logical, down): no instance" case_wwan_down
	check "$tag device name wg0 beside a network: -i wg0" case_device_name
	check "$tag enabled without doors: not started" case_no_doors
	check "$tag a disabled door next to an enabled one: started" case_door_off
	check "$tag reload, same command: SIGHUP, no restart" case_reload_same
	check "$tag reload, wan6 came up on the same device: restarted with both" case_reload_other_net
	check "$tag reload, device changed: restarted on pppoe-wan" case_reload_changed
	check "$tag reload, wan down (PPPoE reconnect): daemon kept, SIGHUP" case_reload_down
	check "$tag reload, wan down, wan6 up: daemon kept, SIGHUP" case_reload_one_down
	check "$tag start, wan down, running: same command, procd keeps it" case_start_down_kept
	check "$tag reload, wan6 removed from the list: restarted without it" case_reload_removed_net
	check "$tag reload, disabled: instance removed" case_reload_disabled
	check "$tag reload, procd gave up on the instance (no process): started, no SIGHUP" case_reload_dead
	check "$tag reload, not running: started" case_reload_stopped
	check "$tag stop: procd_kill" case_stop
done

# The script itself: header and lint.
check "rc.common shebang" grep -qx '#!/bin/sh /etc/rc.common' "$init"
check "START=99" grep -qx 'START=99' "$init"
check "USE_PROCD=1" grep -qx 'USE_PROCD=1' "$init"
if command -v shellcheck >/dev/null 2>&1; then
	check "shellcheck init script" shellcheck "$init"
fi

summary
