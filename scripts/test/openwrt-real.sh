#!/usr/bin/env bash
# openwrt-real.sh: the init script, UCI and the rpcd plugin under OpenWrt's
# own userland built from source: procd, ubusd, rpcd, uci, jsonfilter, fw4
# and the shell library (rc.common, functions.sh, procd.sh, network.sh),
# with netifd stood in for by the tools' netifd stub (network.interface over
# ubus). Everything runs in an OpenWrt-shaped mount, PID and network
# namespace (owrt-ns -p -n -t): the "WAN" is a veth pair whose other end
# sits in a child network namespace, from which the knock client knocks.
# procd's interface triggers fire on netifd's notification to its
# subscribers (procd watches network.interface), not on the
# "network.interface" broadcast event; the stub sends neither, so the test
# hands procd that notification's event itself (ubus call service event).
#
# What it shows, each a check:
#   - /usr/share/knockd/firewall.include is registered by uci-defaults (real
#     uci) and run by fw4; with no daemon it says nothing and succeeds;
#   - enable makes the rc.d links; start: procd runs
#     "/usr/sbin/knockd -u /etc/config/knockd -i wan=<dev>", the daemon
#     keeps only its capabilities, a knock from the peer runs a door's
#     start_command; a door on wan6, which is down, waits for it and stops
#     nothing else;
#   - rpcd runs the package's plugin: "ubus call knockd status" names the
#     doors, then the door opened and the grant;
#   - uci set + commit + reload_config: SIGHUP (same pid), the new sequence
#     opens, the old one does not; a change of the command (another device
#     in "interface") and disabling make procd restart or stop it;
#   - kill -9: procd respawns it and knocks work again; a broken door: the
#     SIGHUP keeps the running configuration, a restart makes knockd exit
#     at once until procd gives up; fixed, reload_config brings it back;
#   - wan moves to another device (netifd stub, then the interface event
#     procd's trigger listens to): restarted on the new device, knocks there
#     work and on the old one do not; wan down: daemon kept (same pid); all
#     networks down at start: nothing runs until they come up, then the
#     door on wan6 opens there too;
#   - fw4 restart empties knockd's set, the include sends SIGUSR2, the
#     daemon logs it and the grant is back;
#   - stop: no knockd left; disable removes the links.
#
# Needs root, ip (veth), nsenter, unshare, nft and go, and OpenWrt's tools:
# OPENWRT_TOOLS names their prefix (sbin/procd, openwrt-root/, ...; built
# from the sources of scripts/openwrt-tools.commits by
# scripts/openwrt-tools.sh SOURCES PREFIX); owrt-ns and the netifd stub are
# scripts/test/lib/owrt-ns and netifd-stub.uc. Without them it prints
# "SKIP: openwrt-real: <reason>" and succeeds.
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

suite=openwrt-real
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
self=$here/scripts/test/openwrt-real.sh

skip() {
	echo "SKIP: $suite: $*"
	exit 0
}

# ---- outside: tools, build, the router's files ------------------------------

outside() {
	local tools=${OPENWRT_TOOLS:-} f c rc=0
	[ -n "$tools" ] || skip "OPENWRT_TOOLS is not set (the prefix of OpenWrt's procd, ubusd, uci, rpcd, fw4, jsonfilter and openwrt-root/, built from source by scripts/openwrt-tools.sh)"
	for f in bin/ucode bin/jsonfilter sbin/procd sbin/ubusd openwrt-root/etc/rc.common \
		openwrt-root/lib/functions/procd.sh openwrt-root/lib/functions/network.sh openwrt-root/sbin/rpcd \
		openwrt-root/sbin/fw4 share/openwrt-defaults/config/firewall; do
		[ -e "$tools/$f" ] || skip "no $tools/$f (OPENWRT_TOOLS=$tools)"
	done
	[ "$(id -u)" = 0 ] || skip "needs root (mount, PID and network namespaces)"
	for c in go ip nsenter unshare nft timeout; do
		command -v "$c" >/dev/null 2>&1 || skip "no $c"
	done
	export OPENWRT_TOOLS=$tools

	T=$(mktemp -d /tmp/openwrt-real.XXXXXX)
	trap 'rm -rf "$T"' EXIT
	local R=$T/root
	echo "== building knockd (as the OpenWrt feed builds it: no iptables backend) and knock"
	mkdir -p "$R/usr/sbin" "$R/etc/config" "$T/bin"
	(cd "$here" && CGO_ENABLED=0 go build -trimpath -tags "$(scripts/cross.sh --fw4-tags)" -ldflags "-X $(scripts/cross.sh --fw4-ldx)" \
		-o "$R/usr/sbin/knockd" ./src/cmd/knockd &&
		CGO_ENABLED=0 go build -trimpath -o "$T/bin/knock" ./src/cmd/knock)

	# The package's files as scripts/mkipk.sh packs them: files/ is an
	# overlay of the router's root; init scripts and programs 0755,
	# /etc/config 0600 (OpenWrt's INSTALL_BIN, INSTALL_CONF).
	(cd "$here/files" && find . -mindepth 1 -maxdepth 1 ! -name '.*' ! -name '*.md' -exec cp -R -p {} "$R/" \;)
	chmod 0755 "$R"/etc/init.d/* "$R/usr/sbin/knockd"
	chmod 0600 "$R"/etc/config/*
	cp "$tools/share/openwrt-defaults/config/firewall" "$R/etc/config/firewall"
	# procd.sh's respawn defaults come from system.@service[0]: respawn
	# after 1 s instead of 5, and give up after the third quick crash
	# instead of the sixth.
	cat >"$R/etc/config/system" <<'EOF'
config system
	option hostname 'OpenWrt'

config service
	option respawn_timeout '1'
	option respawn_retry '2'
EOF
	cat >"$R/etc/config/network" <<'EOF'
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'

config interface 'wan'
	option device 'kd-wan'
	option proto 'dhcp'

config interface 'wan6'
	option device 'kd-wan'
	option proto 'dhcpv6'
EOF

	echo "== in owrt-ns: ubusd, procd, rpcd, fw4, the netifd stub; WAN kd-wan <-> peer"
	timeout 150 "$here/scripts/test/lib/owrt-ns" -p -n -t -b "$T" -l "$T/syslog" -r "$R" -- \
		/bin/bash "$self" --inside "$T" || rc=$?
	if [ "$rc" != 0 ]; then
		echo "-- syslog (procd, knockd, rpcd), last lines"
		tail -n 40 "$T/syslog" 2>/dev/null || true
		echo "-- procd"
		tail -n 20 "$T/procd.log" 2>/dev/null || true
	fi
	echo "$suite: ${SECONDS} s"
	return "$rc"
}

# ---- inside the namespaces -----------------------------------------------------

# waitfor TRIES CMD...: run CMD every 0.1 s until it succeeds, TRIES times at most.
waitfor() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

quiet() { "$@" >/dev/null 2>&1; }
# give_up WHY: end here, the checks that follow would only time out.
give_up() {
	echo "     $*: the checks that follow need it"
	summary || true
	exit 1
}
svc() { ubus call service list '{"name":"knockd"}' 2>/dev/null || true; }
# kpid / kcmd: pid and command line of the knockd instance, as procd says.
kpid() { svc | jsonfilter -e '@.knockd.instances[*].pid' 2>/dev/null || true; }
kcmd() { svc | jsonfilter -e '@.knockd.instances[*].command[*]' 2>/dev/null | paste -sd' ' || true; }
# running_pid: procd's pid of a running instance, and that process runs
# /usr/sbin/knockd under its name (the daemon gives up root's privileges by
# executing itself again through /proc/self/exe, which the kernel names
# "exe"; it takes its name back).
running_pid() {
	local p
	p=$(kpid)
	[ -n "$p" ] && [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = /usr/sbin/knockd ] &&
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = knockd ]
}
new_pid() { local p; p=$(kpid); [ -n "$p" ] && [ "$p" != "$1" ] && running_pid; }
# ready: the daemon's control socket answers, which it opens once it
# captures on its devices (procd knows the pid from the fork on).
ready() { knockd -u /etc/config/knockd status >/dev/null 2>&1; }
started() { running_pid && ready; }
restarted() { new_pid "$1" && ready; }
no_instance() { [ -z "$(kpid)" ]; }
# gave_up: procd's knockd instance is not running and will not be respawned.
gave_up() {
	local st
	st=$(svc)
	[ "$(jsonfilter -s "$st" -e '@.knockd.instances[*].running')" = false ] &&
		! jsonfilter -s "$st" -e '@.knockd.instances[*].respawn' >/dev/null
}
# capset PID SET: a capability set of a process, in hex.
capset() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null || true; }
# caps_dropped PID: the daemon gave up root's capabilities (it does at its
# start, executing itself again once its spawner runs).
caps_dropped() { [ "$(capset "$1" CapEff)" != "$(capset "$1" CapBnd)" ] || [ "$(capset "$1" CapBnd)" = 0000000000003000 ]; }
# caps_ok PID: CapEff, CapPrm and CapBnd are net_admin (12) and net_raw
# (13) alone: 0x3000 (door commands and sendmail are the spawner's).
caps_ok() {
	[ "$(capset "$1" CapEff)" = 0000000000003000 ] && [ "$(capset "$1" CapPrm)" = 0000000000003000 ] &&
		[ "$(capset "$1" CapBnd)" = 0000000000003000 ]
}
nothing_runs() { [ -z "$(pidof knockd)" ]; }
is_cmd() { [ "$(kcmd)" = "$1" ]; }

# opened: how many times the door "cmd" ran its start_command.
opened() { if [ -f "$T/opened" ]; then wc -l <"$T/opened"; else echo 0; fi; }
more_than() { [ "$(opened)" -gt "$1" ]; }
# knock ADDR PORTS...: knock from the peer's network namespace.
knock() { nsenter -t "$peer" -n "$T/bin/knock" "$@" >/dev/null 2>&1; }
# opens ADDR PORTS...: the knock runs the door's command within 5 s.
opens() {
	local n
	n=$(opened)
	knock "$@" && waitfor 50 more_than "$n"
}
# ignored ADDR PORTS...: the knock runs nothing within 0.7 s (a knock
# that opens does so within a few ms here).
ignored() {
	local n
	n=$(opened)
	knock "$@" && sleep 0.7 && [ "$(opened)" = "$n" ]
}
# logged COUNT TEXT: more than COUNT syslog lines of knockd hold TEXT.
logged() { [ "$(logcount "$2")" -gt "$1" ]; }
logcount() { grep -F 'knockd' "$T/syslog" | grep -cF -- "$1" || true; }

# netifd WAN [WAN6]: what the netifd stub says of wan and wan6: each
# up on a device, or "down" (wan6's default); SIGHUP makes it re-read.
netifd() {
	printf '{ "interface": [ %s, %s ] }\n' "$(iface wan "$1")" "$(iface wan6 "${2:-down}")" >"$T/ifaces.json"
	[ -z "${stub:-}" ] || kill -HUP "$stub"
}
iface() { # iface NETWORK DEVICE|down: one interface as "ubus call network.interface dump" has it
	if [ "$2" = down ]; then
		printf '{ "interface": "%s", "up": false, "device": "kd-wan", "data": {} }' "$1"
	else
		printf '{ "interface": "%s", "up": true, "device": "%s", "l3_device": "%s", "data": {} }' "$1" "$2" "$2"
	fi
}
# ifevent TYPE: what procd gets when netifd notifies its subscribers
# (procd watches network.interface) of a change of wan: the event its
# "interface.*" triggers match.
ifevent() { ubus call service event "{\"type\":\"$1\",\"data\":{\"interface\":\"wan\"}}"; }
peer_netns() { [ "$(readlink "/proc/$peer/ns/net")" != "$(readlink /proc/self/ns/net)" ]; }
stub_says() { ubus call network.interface.wan status | grep -q "$1"; }

inside() {
	T=$1
	trap 'echo "FAIL $suite stopped at line $LINENO: $BASH_COMMAND"' ERR
	export PATH=/usr/sbin:/usr/bin:/sbin:/bin
	cd /
	# shellcheck source=lib/checks.bash
	. "$here/scripts/test/lib/checks.bash"

	# -- services, as on a router (netifd stood in for)
	ubusd &
	waitfor 50 test -S /var/run/ubus/ubus.sock || give_up "ubusd does not start"
	netifd kd-wan
	ucode "$here/scripts/test/lib/netifd-stub.uc" "$T/ifaces.json" &
	stub=$!
	procd -S >"$T/procd.log" 2>&1 &
	waitfor 50 ubus -t 1 wait_for service network.interface || give_up "procd or the netifd stub does not register"

	# -- the WAN: kd-wan (here) <-> kd-peer (a child network namespace),
	# later also kd-wan2 <-> kd-peer2.
	unshare -n sleep 600 &
	peer=$!
	waitfor 50 peer_netns || give_up "no network namespace for the peer"
	local i
	for i in "" 2; do
		ip link add "kd-wan$i" type veth peer name "kd-peer$i"
		ip link set "kd-peer$i" netns "$peer"
		ip link set "kd-wan$i" up
	done
	ip addr add 192.0.2.1/24 dev kd-wan
	ip addr add 198.51.100.1/24 dev kd-wan2
	nsenter -t "$peer" -n sh -c 'ip link set lo up && ip link set kd-peer up && ip link set kd-peer2 up &&
		ip addr add 192.0.2.2/24 dev kd-peer && ip addr add 198.51.100.2/24 dev kd-peer2'

	# -- firewall: the package's uci-defaults (real uci), fw4 with its include
	check "uci-defaults/90-knockd, sourced as at boot, with real uci: exit 0" sh -c 'cd /etc/uci-defaults && . ./90-knockd'
	check "it registers firewall.knockd: script include, fw4_compatible, no fw3 reload option" \
		test "$(uci -q get firewall.knockd.type) $(uci -q get firewall.knockd.path) $(uci -q get firewall.knockd.fw4_compatible) $(uci -q get firewall.knockd.reload || echo -)" = \
		"script /usr/share/knockd/firewall.include 1 -"
	local out
	out=$(fw4 -q start 2>&1) || true
	check "fw4 start loads knockd's sets (nftables.d of the package)" quiet nft list set inet fw4 knockd_open4
	check "fw4 start ran the include with no daemon: exit 0, no output" test -z "$out"
	[ -z "$out" ] || echo "$out"
	out=$(sh -c 'exec 1000>&-; . /usr/share/knockd/firewall.include' 2>&1) && rc=0 || rc=$?
	check "the include sourced as fw4 does, no daemon: exit 0, quiet" test "$rc:$out" = "0:"

	# -- rpcd with the package's plugin
	rpcd &
	waitfor 50 ubus -t 1 wait_for session
	check "rpcd runs the package's plugin: ubus object knockd" waitfor 30 ubus list knockd
	check "ubus call knockd status, no daemon: running false" \
		test "$(ubus call knockd status | jsonfilter -e '@.running')" = false

	# -- the configuration: the package's /etc/config/knockd, edited with uci
	uci set knockd.global.enabled=1
	uci set knockd.cmd=door
	uci set knockd.cmd.sequence=7101,7102,7103
	uci set knockd.cmd.seq_timeout=5
	uci set knockd.cmd.start_command="echo %IP% >>$T/opened"
	uci set knockd.ssh=door
	uci set knockd.ssh.sequence=7201,7202,7203
	uci set knockd.ssh.seq_timeout=5
	uci add_list knockd.ssh.open=tcp/22
	uci set knockd.ssh.open_duration=300
	uci set knockd.v6=door
	uci set knockd.v6.sequence=7301,7302,7303
	uci set knockd.v6.seq_timeout=5
	uci add_list knockd.v6.interface=wan6
	uci set knockd.v6.start_command="echo %IP% >>$T/opened6"
	uci commit knockd
	reload_config # records the configurations' checksums, as at boot

	# ---- 1. enable, start, capture
	echo "[$SECONDS s] -- enable, start"
	/etc/init.d/knockd enable
	check "enable: /etc/rc.d/S99knockd and K10knockd" test -L /etc/rc.d/S99knockd -a -L /etc/rc.d/K10knockd
	check "enabled" /etc/init.d/knockd enabled
	/etc/init.d/knockd start
	check "start: procd runs the knockd instance (and it captures: knockd status answers)" waitfor 50 started
	started || give_up "knockd does not run"
	local pid cmd
	pid=$(kpid)
	cmd=$(kcmd)
	echo "     service list: pid $pid, command: $cmd"
	check "the command: /usr/sbin/knockd -u /etc/config/knockd -i wan=kd-wan (wan6 down)" \
		test "$cmd" = "/usr/sbin/knockd -u /etc/config/knockd -i wan=kd-wan"
	check "/etc/init.d/knockd status: running" test "$(/etc/init.d/knockd status)" = running
	check "triggers: config knockd, interfaces wan and wan6" sh -c \
		'ubus call service list "{\"name\":\"knockd\",\"verbose\":true}" | jsonfilter -e "@.knockd.triggers" | tr -d " \n" |
			grep -F "\"config.change\",[\"if\",[\"eq\",\"package\",\"knockd\"]" | grep -F "[\"eq\",\"interface\",\"wan\"]" |
			grep -qF "[\"eq\",\"interface\",\"wan6\"]"'
	check "a knock from the peer (192.0.2.2 -> kd-wan) runs the door's start_command" opens 192.0.2.1 7101 7102 7103
	check "  with %IP% = 192.0.2.2" grep -qx 192.0.2.2 "$T/opened"
	check "door v6 names wan6, which is down: knockd runs anyway and logs that the door waits" \
		logged 0 "door v6: wan6 is not up"
	knock 192.0.2.1 7301 7302 7303
	check "  a knock of door v6 on wan (kd-wan) opens nothing" sh -c "sleep 0.7; [ ! -s '$T/opened6' ]"

	# ---- 7. capabilities
	waitfor 20 caps_dropped "$pid" || true
	echo "     /proc/$pid/status: CapEff: $(capset "$pid" CapEff) (CapBnd $(capset "$pid" CapBnd))"
	check "CapEff, CapPrm and CapBnd are 0x3000: net_raw and net_admin alone" caps_ok "$pid"

	# ---- 8. rpcd
	local st
	st=$(ubus call knockd status 2>&1) || true
	check "ubus call knockd status: running, doors cmd, ssh and v6" \
		test "$(jsonfilter -s "$st" -e '@.running') $(jsonfilter -s "$st" -e '@.doors[*].name' | paste -sd,)" = "true cmd,ssh,v6"
	check "  recent.opened: door cmd for 192.0.2.2" \
		test "$(jsonfilter -s "$st" -e '@.recent.opened[0].door') $(jsonfilter -s "$st" -e '@.recent.opened[0].source')" = "cmd 192.0.2.2"
	knock 192.0.2.1 7201 7202 7203
	check "a knock of door ssh (open tcp/22): 192.0.2.2 . tcp . 22 in fw4's knockd_open4" \
		waitfor 50 sh -c 'nft list set inet fw4 knockd_open4 | grep -q "192.0.2.2 . tcp . 22"'
	st=$(ubus call knockd status 2>&1) || true
	check "ubus call knockd status: the grant of door ssh for 192.0.2.2 (tcp/22)" \
		test "$(jsonfilter -s "$st" -e '@.grants[0].door') $(jsonfilter -s "$st" -e '@.grants[0].source') $(jsonfilter -s "$st" -e '@.grants[0].what')" = "ssh 192.0.2.2 tcp/22"

	# ---- 9. firewall include while the daemon runs
	echo "[$SECONDS s] -- fw4 restart (empties knockd's sets; runs the include)"
	local usr2
	usr2=$(logcount SIGUSR2)
	fw4 restart >/dev/null 2>&1
	check "the include sent SIGUSR2: the daemon logs it" waitfor 30 logged "$usr2" SIGUSR2
	check "the grant is back in knockd_open4" waitfor 30 sh -c 'nft list set inet fw4 knockd_open4 | grep -q "192.0.2.2 . tcp . 22"'
	grep -F SIGUSR2 "$T/syslog" | tail -n 1 | sed 's/^/     syslog: /' || true

	# ---- 2. uci + reload_config: SIGHUP, then a restart
	echo "[$SECONDS s] -- uci set knockd.cmd.sequence, reload_config"
	local hups
	hups=$(logcount "re-reading config file")
	uci set knockd.cmd.sequence=7111,7112,7113
	uci commit knockd
	reload_config
	check "reload_config -> procd's trigger -> reload: the daemon re-reads (SIGHUP)" waitfor 50 logged "$hups" "re-reading config file"
	check "  not restarted (same pid $pid)" test "$(kpid)" = "$pid"
	check "the old sequence no longer opens" ignored 192.0.2.1 7101 7102 7103
	check "the new sequence opens" opens 192.0.2.1 7111 7112 7113

	echo "[$SECONDS s] -- uci: interface += kd-extra (the command changes), another control_socket; reload_config"
	uci add_list knockd.global.interface=kd-extra
	uci set knockd.global.control_socket=/var/run/knockd-other.sock
	uci commit knockd
	reload_config
	check "procd restarts it (new pid)" waitfor 50 restarted "$pid"
	pid=$(kpid)
	check "  with -i wan=kd-wan -i kd-extra" is_cmd "/usr/sbin/knockd -u /etc/config/knockd -i wan=kd-wan -i kd-extra"
	check "ubus call knockd status reaches it on the control_socket of /etc/config/knockd" \
		test "$(ubus call knockd status | jsonfilter -e '@.running')" = true

	echo "[$SECONDS s] -- uci set knockd.global.enabled=0 (kd-extra, control_socket removed), reload_config; enabled=1"
	uci set knockd.global.enabled=0
	uci del_list knockd.global.interface=kd-extra
	uci delete knockd.global.control_socket
	uci commit knockd
	reload_config
	check "disabled: procd stops it" waitfor 50 no_instance
	check "  no knockd process" waitfor 30 nothing_runs
	uci set knockd.global.enabled=1
	uci commit knockd
	reload_config
	check "enabled again: procd starts it with -i wan=kd-wan" waitfor 50 is_cmd "/usr/sbin/knockd -u /etc/config/knockd -i wan=kd-wan"
	waitfor 50 started || true
	pid=$(kpid)

	# ---- 3. respawn
	echo "[$SECONDS s] -- kill -9 $pid"
	kill -9 "$pid" || true
	check "procd respawns it (new pid; respawn delay 1 s here)" waitfor 50 restarted "$pid"
	pid=$(kpid)
	check "knocks work again" opens 192.0.2.1 7111 7112 7113

	# ---- 4. WAN device change
	echo "[$SECONDS s] -- wan moves to kd-wan2 (netifd stub), interface event"
	netifd kd-wan2
	waitfor 30 stub_says kd-wan2 || true
	ifevent interface.update
	check "procd's interface trigger -> reload: restarted (new pid)" waitfor 50 restarted "$pid"
	pid=$(kpid)
	check "  command -i wan=kd-wan2" is_cmd "/usr/sbin/knockd -u /etc/config/knockd -i wan=kd-wan2"
	check "  ubus call knockd status: device kd-wan2" \
		test "$(ubus call knockd status | jsonfilter -e '@.devices[*].name' | paste -sd,)" = kd-wan2
	check "a knock on kd-wan2 (198.51.100.1) opens" opens 198.51.100.1 7111 7112 7113
	check "a knock on kd-wan (192.0.2.1) no longer does" ignored 192.0.2.1 7111 7112 7113

	# ---- a broken configuration: procd gives up; fixed, it is back
	echo "[$SECONDS s] -- a broken door (port 0), reload_config; restart (as at boot): crash loop; fixed, reload_config"
	local bad
	bad=$(logcount "config not reloaded")
	uci set knockd.cmd.sequence=7111,7112,0
	uci commit knockd
	reload_config
	check "SIGHUP with a broken door: knockd keeps its running configuration" waitfor 50 logged "$bad" "config not reloaded"
	check "  same pid" test "$(kpid)" = "$pid"
	/etc/init.d/knockd restart
	check "restarted with it, knockd exits at once, procd gives up after its retries" waitfor 80 gave_up
	uci set knockd.cmd.sequence=7111,7112,7113
	uci commit knockd
	reload_config
	check "the configuration fixed, reload_config brings knockd back" waitfor 50 restarted "$pid"
	pid=$(kpid)
	check "  with -i wan=kd-wan2" is_cmd "/usr/sbin/knockd -u /etc/config/knockd -i wan=kd-wan2"
	check "  knocks open" opens 198.51.100.1 7111 7112 7113

	# ---- 5. wan down
	echo "[$SECONDS s] -- wan down (netifd stub), interface event"
	hups=$(logcount "re-reading config file")
	netifd down
	waitfor 30 sh -c '! ubus call network.interface.wan status | grep -q l3_device' || true
	ifevent interface.down
	check "reload keeps the daemon: SIGHUP" waitfor 50 logged "$hups" "re-reading config file"
	check "  same pid, same command (-i wan=kd-wan2)" test "$(kpid) $(kcmd)" = "$pid /usr/sbin/knockd -u /etc/config/knockd -i wan=kd-wan2"

	# ---- 6. stop, disable
	echo "[$SECONDS s] -- stop, disable"
	/etc/init.d/knockd stop
	check "stop: procd has no instance left" waitfor 50 no_instance
	check "  no knockd process" waitfor 50 nothing_runs
	check "/etc/init.d/knockd status: inactive" test "$(/etc/init.d/knockd status)" = inactive
	check "the grant is gone from knockd_open4" sh -c '! nft list set inet fw4 knockd_open4 | grep -q 192.0.2.2'
	out=$(fw4 -q reload 2>&1) || true
	check "fw4 reload with no daemon: the include is quiet" test -z "$out"
	/etc/init.d/knockd disable
	check "disable removes the rc.d links" sh -c '! ls /etc/rc.d/*knockd' 2>/dev/null
	check "disabled" sh -c '! /etc/init.d/knockd enabled'

	# ---- all networks down at start: waits for the interface trigger
	echo "[$SECONDS s] -- start with wan and wan6 down, then both up (wan6 on kd-wan2)"
	/etc/init.d/knockd start
	check "wan down: start runs nothing" no_instance
	check "  logs that it waits" waitfor 30 grep -q "networks wan wan6 are not up, waiting" "$T/syslog"
	netifd kd-wan kd-wan2
	waitfor 30 stub_says kd-wan || true
	ifevent interface.update
	check "wan up: procd's interface trigger starts it: -i wan=kd-wan -i wan6=kd-wan2" \
		waitfor 50 is_cmd "/usr/sbin/knockd -u /etc/config/knockd -i wan=kd-wan -i wan6=kd-wan2"
	waitfor 50 started || true
	check "  knocks on wan open" opens 192.0.2.1 7111 7112 7113
	knock 198.51.100.1 7301 7302 7303
	check "  door v6 opens on wan6 (kd-wan2) now" waitfor 50 grep -qx 198.51.100.2 "$T/opened6"
	/etc/init.d/knockd stop
	check "stopped" waitfor 50 nothing_runs

	echo "[$SECONDS s]"
	summary
}

if [ "${1:-}" = --inside ]; then
	inside "$2"
else
	outside
fi
