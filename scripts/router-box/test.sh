#!/usr/bin/env bash
# test.sh [--smoke] [ARCH...]: the seed scenario inside the router-box guests
# (make test-router; make router-box first). ARCH: mipsel, armhf (default both).
#
# In each guest, for the iptables and the fw4-style nftables firewall:
# telnet-style knocks (three SYNs per port) from the client's namespace for
# 04,04,04,2012,2012,2012,03,03,03 (the wake-on-LAN packet seen on the LAN
# tap, the admin mailed) and 02,02,02,01,01,01,2010,2010,2010 (tcp/1723
# forwarded to the LAN host for the knocker only, closed after 20 s, mailed);
# the mail goes through the guest's msmtp (/etc/msmtprc, 0600 root) to an
# SMTP sink on the client side. Then an SPA packet from Debian's fwknop
# client and a rotating knock from `knock --secret-file`.
#
# --smoke: the MIPS guest, iptables, one knock that opens a DNAT grant and
# mails (what CI runs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/router-box/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || rb_die "needs root (network namespaces)"
smoke=0
if [ "${1:-}" = --smoke ]; then
	smoke=1
	shift
fi
arches=${*:-mipsel armhf}
[ "$smoke" = 0 ] || arches=${*:-mipsel}
for t in fwknop knock tcpdump; do
	command -v "$t" >/dev/null || rb_die "$t not found (bash scripts/deps.sh)"
done

tools=$(mktemp -d)
trap 'box_stop; rm -rf "$tools"' EXIT
(cd "$RB_ROOT" && CGO_ENABLED=0 go build -o "$tools/boxserve" ./src/tools/boxserve &&
	CGO_ENABLED=0 go build -o "$tools/knock" ./src/cmd/knock)

WAN=192.0.2.1 A=192.0.2.100 B=192.0.2.101 LAPTOP=00:81:52:6b:3d:ae
SPA_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
SPA_HMAC=aG1hYy1rZXlobWFjLWtleWhtYWMta2V5aG1hYy1rZXlobWFjLWtleWhtYWMta2V5aG1hYy1rZXlobWFjLWtleQ==
ROT_SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
fails=0
pass() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
	g "tail -n 5 /tmp/kd.log" | sed 's/^/     guest: /' || true
}
inC() { ip netns exec "$BOX_C" "$@"; }
inL() { ip netns exec "$BOX_L" "$@"; }
dialC() { inC "$tools/boxserve" dial "$1" "$2" 2>/dev/null; }

# guest_log_has TEXT [SECONDS]: the daemon's log shows TEXT.
guest_log_has() {
	local _
	for _ in $(seq $((${2:-30} * 2))); do
		g "grep -qF '$1' /tmp/kd.log" >/dev/null && return 0
		sleep 0.5
	done
	return 1
}

# mail_has DIR TEXT [SECONDS]: a message in DIR holds TEXT.
mail_has() {
	local _
	for _ in $(seq $((${3:-60} * 2))); do
		grep -qsF "$2" "$1"/mail-* && return 0
		sleep 0.5
	done
	return 1
}

firewall_setup() {
	case "$1" in
	iptables)
		g "iptables -P INPUT DROP && iptables -P FORWARD DROP &&
			iptables -A INPUT -i lo -j ACCEPT && iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT &&
			iptables -A INPUT -i lan -j ACCEPT &&
			iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && iptables -A FORWARD -i lan -j ACCEPT &&
			iptables -t nat -A POSTROUTING -o wan -j MASQUERADE"
		;;
	fw4) g "nft -f /etc/box/fw4.nft" ;;
	esac
}

firewall_reset() {
	g "iptables -F; iptables -X; iptables -t nat -F; iptables -t nat -X; iptables -P INPUT ACCEPT; iptables -P FORWARD ACCEPT;
		nft delete table inet fw4 2>/dev/null; true" >/dev/null
}

# scenario ARCH FIREWALL
scenario() {
	local arch=$1 fw=$2 mail t0 magic
	local tag="$arch $fw:"
	mail=$(mktemp -d)
	ip netns exec "$BOX_C" "$tools/boxserve" smtp "$A:2525" "$mail" &
	local sink=$!
	ip netns exec "$BOX_L" "$tools/boxserve" banner 192.168.1.51:1723 vpn-server &
	local vpn=$!
	firewall_setup "$fw"
	g "sed s/FIREWALL/$fw/ /etc/box/seed.conf.in >/tmp/knockd.conf && (knockd-go -i wan -c /tmp/knockd.conf -v >/tmp/kd.log 2>&1 &)"
	guest_log_has "listening" 60 || guest_log_has "wan" 1 || true
	g "sleep 1; cat /tmp/kd.log"
	if ! g "pidof knockd-go >/dev/null"; then
		fail "$tag knockd-go did not start"
		kill "$sink" "$vpn" 2>/dev/null || true
		return
	fi
	pass "$tag knockd-go runs (no nobody in /etc/passwd)"

	if [ "$smoke" = 0 ]; then
		# Wake-on-LAN: the magic packet on the LAN tap, and a mail.
		inL timeout 60 tcpdump -i lan0 -c 1 -nn -xx "ether proto 0x0842 or udp port 9" >"$mail/magic" 2>/dev/null &
		local dump=$!
		sleep 1
		inC knock "$WAN" 04 04 04 2012 2012 2012 03 03 03
		wait "$dump" || true
		magic=$(sed -n 's/^[[:space:]]*0x[0-9a-f]*:[[:space:]]*//p' "$mail/magic" | tr -d ' \n\t')
		local mac=${LAPTOP//:/}
		if grep -q "ffffffffffff$mac$mac$mac$mac" <<<"$magic" &&
			guest_log_has "WOL-Laptop: sent a wake-on-LAN packet to $LAPTOP"; then
			pass "$tag WOL-Laptop knock: magic packet for $LAPTOP on the LAN tap"
		else
			fail "$tag WOL-Laptop: no magic packet for $LAPTOP on the LAN tap: $(cat "$mail/magic")"
		fi
		if mail_has "$mail" "Subject: knockd: door \"WOL-Laptop\" opened for $A"; then
			pass "$tag WOL-Laptop: the admin mailed through msmtp"
		else
			fail "$tag WOL-Laptop: no mail"
		fi
	fi

	# VPN: tcp/1723 forwarded to the LAN host for the knocker only.
	if dialC "$A" "$WAN:1723" >/dev/null; then
		fail "$tag tcp/1723 open before the knock"
	fi
	inC knock "$WAN" 02 02 02 01 01 01 2010 2010 2010
	t0=$SECONDS
	if guest_log_has "$A: enable-VPN: opened forward tcp/1723->192.168.1.51:1723" &&
		[ "$(dialC "$A" "$WAN:1723")" = vpn-server ]; then
		pass "$tag enable-VPN knock: tcp/1723 reaches the LAN host from the knocker"
	else
		fail "$tag enable-VPN: the knocker cannot reach tcp/1723"
	fi
	if dialC "$B" "$WAN:1723" >/dev/null; then
		fail "$tag enable-VPN: another address reaches tcp/1723"
	else
		pass "$tag enable-VPN: another address does not"
	fi
	if mail_has "$mail" "Subject: knockd: door \"enable-VPN\" opened for $A"; then
		pass "$tag enable-VPN: the admin mailed through msmtp"
	else
		fail "$tag enable-VPN: no mail ($(g 'cat /tmp/msmtp.log' | tail -3))"
	fi
	if [ "$smoke" = 0 ]; then
		sleep $((21 - (SECONDS - t0) > 0 ? 21 - (SECONDS - t0) : 0))
		if guest_log_has "$A: enable-VPN: closed" 15 && ! dialC "$A" "$WAN:1723" >/dev/null; then
			pass "$tag enable-VPN: closed after 20 s"
		else
			fail "$tag enable-VPN: still open after 20 s"
		fi

		# SPA from Debian's fwknop client.
		g "sh -c 'while :; do nc -l -p 2222 -e echo router-ssh; done' >/dev/null 2>&1 & echo \$! >/tmp/nc1.pid"
		g "sh -c 'while :; do nc -l -p 2223 -e echo router-rot; done' >/dev/null 2>&1 & echo \$! >/tmp/nc2.pid"
		inC env HOME="$mail" fwknop --no-rc-file --no-save-args -D "$WAN" -A tcp/2222 -a "$A" \
			--key-base64-rijndael "$SPA_KEY" --key-base64-hmac "$SPA_HMAC" >/dev/null
		if guest_log_has "$A: spa: opened tcp/2222" && [ "$(dialC "$A" "$WAN:2222")" = router-ssh ]; then
			pass "$tag fwknop SPA packet opens tcp/2222"
		else
			fail "$tag fwknop SPA packet did not open tcp/2222"
		fi
		# A rotating knock.
		(umask 077 && echo "$ROT_SECRET" >"$mail/secret")
		inC "$tools/knock" --secret-file "$mail/secret" "$WAN" || fail "$tag knock --secret-file failed"
		if guest_log_has "$A: rot: opened tcp/2223" && [ "$(dialC "$A" "$WAN:2223")" = router-rot ]; then
			pass "$tag knock --secret-file (rotating) opens tcp/2223"
		else
			fail "$tag the rotating knock did not open tcp/2223"
		fi
	fi
	# The next firewall's daemon may start only once this one has gone:
	# one daemon per control socket (it refuses to start, naming this one).
	g "kill \$(pidof knockd-go); kill \$(cat /tmp/nc?.pid) 2>/dev/null; kill \$(pidof nc) 2>/dev/null; i=0; while pidof knockd-go >/dev/null && [ \$i -lt 30 ]; do sleep 1; i=\$((i+1)); done; tail -n 30 /tmp/kd.log" >"$mail/kd.log" || true
	if [ "$fails" -gt 0 ]; then
		echo "--- knockd-go's log ($arch $fw)"
		cat "$mail/kd.log"
	fi
	firewall_reset
	kill "$sink" "$vpn" 2>/dev/null || true
	wait "$sink" "$vpn" 2>/dev/null || true
	rm -rf "$mail"
}

for arch in $arches; do
	box_start "$arch"
	# The guest's clock is the host's (SPA and rotating knocks are timed).
	g "date -u -s '$(date -u '+%Y-%m-%d %H:%M:%S')' >/dev/null"
	fws="iptables fw4"
	[ "$smoke" = 0 ] || fws=iptables
	# The bench's process figures (procstat): a resident set is never
	# below the proportional one; a small program's VmRSS was (the kernel's
	# per-thread counters lag before Linux 6.2).
	if [ "$smoke" = 0 ]; then
		read -r _ _ rss _ pss _ <<<"$(g "sleep 30 & sleep 1; sh /etc/box/procstat sleep; kill \$! 2>/dev/null")"
		if [ "${rss:-0}" -gt 0 ] && [ "$rss" -ge "${pss:-0}" ]; then
			pass "$arch: procstat: sleep's RSS $rss kB >= its PSS $pss kB"
		else
			fail "$arch: procstat: sleep's RSS ${rss:-?} kB below its PSS ${pss:-?} kB"
		fi
	fi
	for fw in $fws; do
		scenario "$arch" "$fw"
	done
	box_stop
done
if [ "$fails" -gt 0 ]; then
	echo "router-box: $fails check(s) failed"
	exit 1
fi
echo "router-box: all checks passed ($arches)"
