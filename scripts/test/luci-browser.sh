#!/usr/bin/env bash
# The LuCI app in a real browser against a real OpenWrt userland.
#
# A router network namespace runs, inside owrt-ns (OpenWrt paths over this
# machine's), ubusd, procd, rpcd, fw4 and uhttpd with its /ubus JSON-RPC
# endpoint; procd runs knockd-go through files/etc/init.d/knockd and
# OpenWrt's rc.common; rpcd runs the knockd binary as its "knockd" plugin
# (/usr/libexec/rpcd/knockd) with the app's ACL file. LuCI's server side is
# stood in for by scripts/test/luci/server.uc (pages, login, menu, apply);
# everything the browser runs is luci-base's own JavaScript and the app's
# views. Debian's chromium, driven by playwright-core
# (scripts/test/luci/scenario.js), logs in, edits the knock sequence of a
# door, does Save & Apply (rpcd commits, procd reloads the daemon), knocks
# the new sequence with bin/knock from a client namespace over a veth pair,
# sees the grant on the Status view, revokes it and sees it go. Then the
# router's knockd becomes the package knockd-go's (built as the feed builds
# it: scripts/cross.sh --fw4-tags and --fw4-ldx, without SPA, rotating knocks,
# the doctor...) and the same browser session checks that the views offer
# only what it has ("ubus call knockd features"), name knockd-go-full, flag
# the doors that use what it lacks and leave their options as they are.
# Screenshots go to dist/test-artifacts/luci-*.png.
#
# Needs, else prints "SKIP: <reason>" and succeeds:
#   OPENWRT_TOOLS   prefix of OpenWrt's tools built from source by
#                   scripts/openwrt-tools.sh: ubusd, procd, rpcd, uhttpd with its ubus
#                   and ucode handlers, fw4, OpenWrt's shell library, luci/ (below)
#                   and, when npm is installed, playwright-core in
#                   $OPENWRT_TOOLS/node/node_modules (without npm there:
#                   npm install --prefix "$OPENWRT_TOOLS/node" playwright-core@1.65.2)
#   LUCI_BASE       luci-base's files from one openwrt/luci commit (default
#                   $OPENWRT_TOOLS/luci, which scripts/openwrt-tools.sh fills from
#                   the luci commit of scripts/openwrt-tools.commits; layout in
#                   docs/luci.md): www/luci-static/
#                   (luci-base, luci-lib-uqr, luci-theme-bootstrap) and root/
#                   (luci-base's: etc/config/luci, usr/share/{luci/menu.d,rpcd/acl.d})
#   /usr/bin/chromium, node, root, nft, ip; and a knockd that answers rpcd's
#   "list" (its ubus API).
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
[ -n "${OPENWRT_TOOLS:-}" ] || { echo "SKIP: OPENWRT_TOOLS not set (the prefix of OpenWrt's tools built from source)"; exit 0; }
tools=$OPENWRT_TOOLS
luci=${LUCI_BASE:-$tools/luci}
chromium=/usr/bin/chromium
nodemods=$tools/node/node_modules

skip() {
	echo "SKIP: $*"
	exit 0
}

[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces)"
for f in bin/uhttpd sbin/ubusd sbin/procd lib/uhttpd_ubus.so lib/uhttpd_ucode.so openwrt-root/sbin/rpcd openwrt-root/sbin/fw4; do
	[ -e "$tools/$f" ] || skip "no $tools/$f (OpenWrt tools built from source; set OPENWRT_TOOLS)"
done
if [ ! -f "$luci/www/luci-static/resources/luci.js" ] || [ ! -f "$luci/root/usr/share/luci/menu.d/luci-base.json" ]; then
	skip "no luci-base files in $luci (set LUCI_BASE; see docs/luci.md)"
fi
[ -x "$chromium" ] || skip "no $chromium (Debian: apt-get install chromium)"
command -v node >/dev/null || skip "no node (Debian: apt-get install nodejs)"
[ -d "$nodemods/playwright-core" ] || skip "no playwright-core in $nodemods (npm install --prefix $tools/node playwright-core)"
for c in ip nft go make; do
	command -v "$c" >/dev/null || skip "no $c"
done

make -s -C "$here" build >/dev/null
knockd=$here/bin/knockd
knock=$here/bin/knock

if ! "$knockd" list 2>/dev/null | grep -q '"status"'; then
	skip "bin/knockd does not answer rpcd's \"list\" (its ubus API is not in this build)"
fi

T=$(mktemp -d /tmp/luci-browser.XXXXXX)
rns=kdrouter$$
cns=kdclient$$
ns_pid=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$?
	: >"$T/stop"
	if [ -n "$ns_pid" ]; then
		for _ in $(seq 50); do kill -0 "$ns_pid" 2>/dev/null || break; sleep 0.1; done
		kill "$ns_pid" 2>/dev/null || true
		wait "$ns_pid" 2>/dev/null || true
	fi
	ip netns del "$rns" 2>/dev/null || true
	ip netns del "$cns" 2>/dev/null || true
	if [ "$rc" != 0 ]; then
		echo "-- router log (syslog: procd, knockd, rpcd)"
		tail -n 60 "$T/syslog" 2>/dev/null || true
		echo "-- router script output"
		tail -n 40 "$T/router.out" 2>/dev/null || true
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

# knockd as the OpenWrt feed's knockd-go package builds it, for the second
# pass; its features (rpcd's "features" reply) tell the scenario what not to
# offer.
(cd "$here" && CGO_ENABLED=0 go build -trimpath -tags "$(scripts/cross.sh --fw4-tags)" \
	-ldflags "-X $(scripts/cross.sh --fw4-ldx)" -o "$T/knockd-basic" ./src/cmd/knockd)
basic_features=$("$T/knockd-basic" call features </dev/null)
case $basic_features in
*'"spa":'*) ;;
*) echo "FAIL knockd-go's knockd does not answer rpcd's \"features\": $basic_features"; exit 1 ;;
esac

# ---- the router's files (an owrt-ns layer) ---------------------------------
app=$here/openwrt-feed/luci/luci-app-knockd-go
R=$T/root
mkdir -p "$R/etc/config" "$R/etc/init.d" "$R/usr/sbin" "$R/usr/libexec/rpcd" \
	"$T/www"
install -m 0755 "$here/files/etc/init.d/knockd" "$R/etc/init.d/knockd"
install -m 0755 "$knockd" "$R/usr/sbin/knockd"
ln -s /usr/sbin/knockd "$R/usr/libexec/rpcd/knockd"
cp -R "$here/files/usr/share/nftables.d" "$R/usr/share/"
cp -R "$app/root/." "$R/"
cp "$tools/share/openwrt-defaults/config/firewall" "$R/etc/config/firewall"
cp -R "$luci/www/luci-static" "$T/www/"
cp -R "$app/htdocs/." "$T/www/"
cp "$here/scripts/test/luci/server.uc" "$T/server.uc"

# luci.js asks "luci getFeatures" once per session; luci-base answers it with
# an rpcd ucode plugin that needs LuCI's C module, which is not here. This
# stand-in names the firewall the router has.
cat >"$R/usr/libexec/rpcd/luci" <<'EOF'
#!/bin/sh
case $1 in
list) echo '{ "getFeatures": { } }' ;;
call) echo '{ "firewall4": true }' ;;
esac
EOF
chmod 755 "$R/usr/libexec/rpcd/luci"

# A LuCI user with the groups a LuCI admin needs for this app, nothing more
# (password luci-test-password).
cat >"$R/etc/config/rpcd" <<'EOF'
config rpcd
	option socket /var/run/ubus/ubus.sock
	option timeout 30

config login
	option username 'luci-test'
	option password '$1$knockdgo$kAK1y6Jt2mEYC9C0s/9hO.'
	list read 'unauthenticated'
	list read 'luci-base'
	list read 'luci-app-knockd-go'
	list write 'luci-base'
	list write 'luci-app-knockd-go'
EOF

cat >"$R/etc/config/network" <<'EOF'
config interface 'loopback'
	option device 'lo'
	option proto 'static'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'

config interface 'wan'
	option device 'kd-wan'
	option proto 'static'

config interface 'wan6'
	option device 'kd-wan'
	option proto 'dhcpv6'
EOF

# netifd's view (through the stand-in ubus objects): wan is up on kd-wan,
# wan6 is down. The init script resolves the default networks, wan and
# wan6, with OpenWrt's network.sh.
cat >"$T/ifaces.json" <<'EOF'
{ "interface": [
  { "interface": "wan", "up": true, "l3_device": "kd-wan", "device": "kd-wan",
    "ipv4-address": [ { "address": "203.0.113.1", "mask": 24 } ], "ipv6-address": [], "route": [], "data": {} },
  { "interface": "wan6", "up": false, "device": "kd-wan",
    "ipv4-address": [], "ipv6-address": [], "route": [], "data": {} }
] }
EOF

cat >"$R/etc/config/knockd" <<'EOF'
config knockd 'global'
	option enabled '1'
	option use_syslog '1'
	option firewall 'auto'
	option mail_from 'knockd@router.lan'

config door 'ssh'
	option sequence '7000,8000:udp,9000'
	option seq_timeout '10'
	list open 'tcp/22'
	option open_duration '300'

config door 'nas'
	option sequence '2001,2002,2003'
	option seq_timeout '10'
	list wake '00:11:22:33:44:55'
	option wake_interface 'br-lan'

config door 'vpn'
	option spa '1'
	option spa_key_base64 'wDTSaHJuqY2SX6qMEPRAoC3nDwfQRWFYM+X7dD+sR1o='
	option spa_hmac_key_base64 'Cl6hMZ6CzNl/Q2N6LE/4J+SDm4AOdaf/fdxdKa0W+hgRVbjYEw5jyaWYTw9ukbG2Ebbu2jQkqVBDbnAJRJKk7Q=='
	list open 'tcp/1194'
	option open_duration '60'

config door 'admin'
	option sequence_secret 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
	option sequence_ports '20000-29999'
	list open 'tcp/443'
	option open_duration '60'
EOF
rotating_uri=$("$knockd" -u "$R/etc/config/knockd" --show-secret-uri admin)

# What the router does inside owrt-ns; it holds until $T/stop appears.
cat >"$T/router.sh" <<'EOF'
T=$1
netifd_stub=$2
waitfor() { # waitfor WHAT CMD...: retry CMD for 10 s
	what=$1; shift
	for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "router: $what did not come up"; exit 1
}
ubusd &
waitfor ubusd test -S /var/run/ubus/ubus.sock
ucode "$netifd_stub" "$T/ifaces.json" &
waitfor "netifd stand-in" ubus -t 1 wait_for network.interface.wan
procd -S &
waitfor procd ubus -t 1 wait_for service
rpcd &
waitfor rpcd ubus -t 1 wait_for session
fw4 -q start || { echo "router: fw4 start failed"; exit 1; }
printf '%s\n' '0 00:11:22:33:44:55 192.168.1.10 nas *' '0 66:77:88:99:aa:bb 192.168.1.20 laptop *' >/tmp/dhcp.leases
/etc/init.d/knockd enable
/etc/init.d/knockd start
reload_config # records the configs' checksums, as at boot
uhttpd -f -p 127.0.0.1:8080 -h "$T/www" -u /ubus -o /cgi-bin/luci -O "$T/server.uc" &
waitfor uhttpd curl -s -o /dev/null http://127.0.0.1:8080/
waitfor "knockd (procd instance)" sh -c 'ubus call service list "{\"name\":\"knockd\"}" | grep -q "\"running\": true"'
: >"$T/ready"
while [ ! -e "$T/stop" ]; do
	if [ -e "$T/basic" ] && [ ! -e "$T/basic.done" ]; then
		# The package knockd-go's knockd in place of the full one: rpcd
		# runs its plugin afresh for each call. (A new file renamed over
		# the old: the old may be running.)
		cp "$T/knockd-basic" /usr/sbin/knockd.new && mv /usr/sbin/knockd.new /usr/sbin/knockd && : >"$T/basic.done"
	fi
	sleep 0.2
done
/etc/init.d/knockd stop
EOF

# ---- networks: router <-> client over a veth pair ---------------------------
ip netns add "$rns"
ip netns add "$cns"
ip -n "$rns" link set lo up
ip -n "$cns" link set lo up
ip link add kd-wan netns "$rns" type veth peer name kd-cli netns "$cns"
ip -n "$rns" addr add 203.0.113.1/24 dev kd-wan
ip -n "$cns" addr add 203.0.113.7/24 dev kd-cli
ip -n "$rns" link set kd-wan up
ip -n "$cns" link set kd-cli up

ip netns exec "$rns" "$here/scripts/test/lib/owrt-ns" -p -t -b "$T" -d "$T/state" -l "$T/syslog" -r "$R" -r "$luci/root" -- \
	/bin/sh "$T/router.sh" "$T" "$here/scripts/test/lib/netifd-stub.uc" >"$T/router.out" 2>&1 &
ns_pid=$!

for _ in $(seq 150); do
	[ -e "$T/ready" ] && break
	kill -0 "$ns_pid" 2>/dev/null || { echo "FAIL the router did not start"; exit 1; }
	sleep 0.2
done
[ -e "$T/ready" ] || { echo "FAIL the router did not start within 30 s"; exit 1; }

# What the scenario runs to have the router install knockd-go's knockd.
cat >"$T/install-basic.sh" <<EOF
: >"$T/basic"
for _ in \$(seq 100); do [ -e "$T/basic.done" ] && exit 0; sleep 0.1; done
echo "the router did not install knockd-go's knockd within 10 s" >&2
exit 1
EOF

# ---- the browser --------------------------------------------------------------
mkdir -p "$here/dist/test-artifacts"
rm -f "$here"/dist/test-artifacts/luci-*.png
ip netns exec "$rns" env NODE_PATH="$nodemods" node "$here/scripts/test/luci/scenario.js" \
	--url http://127.0.0.1:8080/cgi-bin/luci --user luci-test --password luci-test-password \
	--chromium "$chromium" --profile "$T/chromium" --artifacts "$here/dist/test-artifacts" \
	--state "$T/state" --knock "ip netns exec $cns $knock 203.0.113.1" --router-ns "$rns" \
	--modules "$here/scripts/test/luci/modules.txt" --rotating-uri "$rotating_uri" \
	--install-basic "sh $T/install-basic.sh" --basic-features "$basic_features"
