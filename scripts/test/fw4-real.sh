#!/usr/bin/env bash
# fw4-real.sh: knockd's fw4 backend against OpenWrt's real firewall4 (the
# ucode scripts, with ucode, ubusd and uci built from source), in a private
# OpenWrt-shaped root and network namespace (scripts/test/lib/owrt-ns):
#
#   internet host (netns "inet")        router (owrt-ns -n)          LAN host (netns "lanhost")
#   192.0.2.10 (A), 192.0.2.11 (B) --- wan0 192.0.2.1                 192.168.1.10, listener :80
#                                       lan0 192.168.1.1 ----------- (default route via the router)
#                                       listeners :22, :2222, knockd
#
# The fixture root holds firewall4's stock /etc/config/firewall, our
# nftables.d include files and firewall.include at their installed paths,
# /etc/config/network and /etc/config/knockd (firewall 'fw4'; door "ssh":
# open tcp/22 and forward tcp/8080 -> 192.168.1.10:80 for 15 s; door "quick":
# open tcp/2222 for 3 s). Our uci-defaults script runs with the real uci and
# adds the include section; netifd is scripts/test/lib/netifd-stub.uc (wan -> wan0,
# lan -> lan0); `nft monitor` time-stamps every ruleset change. Checked:
#   1. fw4 check, start, reload and restart print no warning, only fw4's
#      "Automatically including" notes for our five files;
#   2. before a knock, neither host address reaches :22 nor the forward;
#   3. after the knock from A, A reaches both (the LAN host's listener through
#      the forward), B (a second address of the same host) neither; knockd
#      doctor (knockd-go-full's; knockd-go, the daemon under test, leaves it
#      out and says so) reads fw4's table, finds the door's grants reaching
#      our rules first and the stock wan zone answering the knock ports with
#      resets;
#   4. fw4 reload keeps the elements (nothing to restore); fw4 restart empties
#      the sets and knockd restores them, through the firewall include
#      (SIGUSR2) and, with the include disabled, by itself: how long after
#      fw4 re-created its table is printed;
#   5. the 3 s grant closes on time (element gone, not connectable); the
#      same grant expiring while fw4 is stopped closes without errors and is
#      not back after fw4 start;
#   8. SIGTERM removes every element knockd made;
#   6. knockd (firewall 'auto') started before fw4 created its table, knock,
#      fw4 start: the grant is there right after fw4 start and stays for 5 s
#      (several of knockd's retry and reassert periods); a 3 s grant made
#      meanwhile closes on time before fw4 starts and is not made after;
#   7. kill -9 with that grant open: the kernel still ends it on time and
#      nothing is left;
#   and knockd's log has one line per message.
#
# Needs root, OPENWRT_TOOLS (scripts/openwrt-tools.sh: openwrt-root/sbin/fw4,
# ucode, ubusd, uci, the stock firewall config), nft, ip, python3
# (listeners and a client that binds its source address) and go. Without
# them it prints "SKIP: fw4-real: <reason>" and exits 0.
# shellcheck disable=SC2016 # bash -c '...' snippets read exported variables
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

suite=fw4-real
here=$(cd "$(dirname "$0")/../.." && pwd)
self="$here/scripts/test/fw4-real.sh"

skip() {
	echo "SKIP: $suite: $*"
	exit 0
}

# ---- outside: requirements, build, fixture, then the namespace -------------

outer() {
	local tools=${OPENWRT_TOOLS:-} f t py
	[ -n "$tools" ] || skip "OPENWRT_TOOLS not set (a prefix with OpenWrt's firewall4, ucode, ubusd and uci: scripts/openwrt-tools.sh)"
	for f in bin/ucode bin/uci sbin/ubusd openwrt-root/sbin/fw4 share/openwrt-defaults/config/firewall; do
		[ -e "$tools/$f" ] || skip "no $tools/$f (OPENWRT_TOOLS=$tools)"
	done
	[ "$(id -u)" = 0 ] || skip "needs root (namespaces, overlayfs, nftables)"
	for t in nft ip go; do
		command -v "$t" >/dev/null 2>&1 || skip "no $t"
	done
	py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || skip "no python3 (listeners and client)"

	local start=$SECONDS
	tmp=$(mktemp -d /tmp/fw4-real.XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
	local r=$tmp/root
	mkdir -p "$r/etc/config" "$r/etc/uci-defaults" "$r/usr/sbin" "$r/usr/share" "$tmp/bin"

	echo "== building knockd as the OpenWrt feed's knockd-go and knockd-go-full (no iptables backend) and knock"
	(cd "$here" && CGO_ENABLED=0 go build -tags "$(scripts/cross.sh --fw4-tags)" -ldflags "-X $(scripts/cross.sh --fw4-ldx)" \
		-o "$tmp/bin/" ./src/cmd/knockd && CGO_ENABLED=0 go build -o "$tmp/bin/" ./src/cmd/knock)
	mv "$tmp/bin/knockd" "$r/usr/sbin/knockd"
	# knockd-go-full's daemon, for the doctor (section 3b), which knockd-go leaves out.
	(cd "$here" && CGO_ENABLED=0 go build -tags "$(scripts/cross.sh --fw4-full-tags)" -o "$r/usr/sbin/knockd-full" ./src/cmd/knockd)

	cp "$tools/share/openwrt-defaults/config/firewall" "$r/etc/config/firewall"
	cp "$here/files/etc/uci-defaults/90-knockd" "$r/etc/uci-defaults/"
	cp -r "$here/files/usr/share/nftables.d" "$here/files/usr/share/knockd" "$r/usr/share/"
	cat >"$r/etc/config/network" <<'EOF'
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config interface 'lan'
	option device 'lan0'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'

config interface 'wan'
	option device 'wan0'
	option proto 'static'
	option ipaddr '192.0.2.1'
	option netmask '255.255.255.0'
EOF
	cat >"$r/etc/config/knockd" <<'EOF'
config knockd 'global'
	option enabled '1'
	list interface 'wan'
	option firewall 'fw4'
	option use_syslog '0'
	option control_socket ''
	option spa_replay_file ''

config door 'ssh'
	option sequence '7000,8000,9000'
	option seq_timeout '5'
	option tcpflags 'syn'
	list open 'tcp/22'
	list forward 'tcp/8080->192.168.1.10:80'
	option open_duration '15'

config door 'quick'
	option sequence '7100,8100,9100'
	option seq_timeout '5'
	option tcpflags 'syn'
	list open 'tcp/2222'
	option open_duration '3'
EOF
	cat >"$tmp/ifaces.json" <<'EOF'
{ "interface": [
  { "interface": "lan", "up": true, "device": "lan0", "l3_device": "lan0",
    "ipv4-address": [ { "address": "192.168.1.1", "mask": 24 } ], "ipv6-address": [],
    "route": [], "data": {} },
  { "interface": "wan", "up": true, "device": "wan0", "l3_device": "wan0",
    "ipv4-address": [ { "address": "192.0.2.1", "mask": 24 } ], "ipv6-address": [],
    "route": [ { "target": "0.0.0.0", "mask": 0, "nexthop": "192.0.2.254" } ], "data": {} }
] }
EOF
	# A stand-in process named knockd that records each SIGUSR2: proof that
	# fw4 ran our include and that the include signals knockd.
	mkdir -p "$tmp/bin/sentinel"
	cat >"$tmp/bin/sentinel/knockd" <<'EOF'
#!/bin/bash
trap 'echo "$EPOCHREALTIME" >>"$1"' USR2
for ((i = 0; i < 1500; i++)); do sleep 0.2 & wait $!; done
EOF
	chmod +x "$tmp/bin/sentinel/knockd"
	cat >"$tmp/bin/tcp.py" <<'EOF'
# tcp.py serve NAME PORT...    accept on each port, answer "NAME:PORT from PEER"
# tcp.py connect SRC DST PORT  connect from SRC (1 s), print the answer; 1 if refused
# tcp.py probe SRC DST PORT SECONDS  connect every 0.1 s for SECONDS, print
#                                    the failures and a count; 1 if any failed
import socket, sys, threading, time

def serve(name, ports):
    socks = []
    for p in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", p))
        s.listen(16)
        socks.append((s, p))
    def loop(s, p):
        while True:
            c, a = s.accept()
            try:
                c.sendall(("%s:%d from %s\n" % (name, p, a[0])).encode())
            except OSError:
                pass
            c.close()
    for s, p in socks:
        threading.Thread(target=loop, args=(s, p), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()

def connect(src, dst, port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        print(s.recv(200).decode().strip())
        return 0
    except OSError as e:
        print("%s -> %s:%d: %s" % (src, dst, port, e), file=sys.stderr)
        return 1

def probe(src, dst, port, secs):
    t0 = time.monotonic()
    n = bad = 0
    while time.monotonic() - t0 < secs and n < 1000:
        n += 1
        s = socket.socket()
        s.settimeout(1)
        try:
            s.bind((src, 0))
            s.connect((dst, port))
            s.recv(200)
        except OSError as e:
            bad += 1
            print("failed %.3f s after the start: %s" % (time.monotonic() - t0, e), flush=True)
        s.close()
        time.sleep(0.1)
    print("%d connections, %d failed" % (n, bad), flush=True)
    return 1 if bad or n < 5 else 0

if sys.argv[1] == "serve":
    serve(sys.argv[2], [int(p) for p in sys.argv[3:]])
elif sys.argv[1] == "probe":
    sys.exit(probe(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
else:
    sys.exit(connect(sys.argv[2], sys.argv[3], int(sys.argv[4])))
EOF

	local rc=0
	OWRT_NETIFD_STUB="$here/scripts/test/lib/netifd-stub.uc" PY="$py" TMPD="$tmp" \
		"$here/scripts/test/lib/owrt-ns" -p -n -t -b "$tmp" -r "$r" -- /bin/bash "$self" --inner || rc=$?
	echo "== $suite: $((SECONDS - start)) s"
	return "$rc"
}

# ---- inside the namespace: the router --------------------------------------

# now_ms: wall clock in milliseconds.
now_ms() {
	local t=$EPOCHREALTIME
	t=${t/[.,]/}
	echo $((t / 1000))
}
# secs MS: milliseconds as seconds, "1.234".
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
# since T0: seconds since the now_ms value T0.
since() { secs $(($(now_ms) - $1)); }
# until_ms MS CMD...: run CMD every 0.1 s until it succeeds, at most MS ms
# (and 300 tries).
until_ms() {
	local limit=$1 t0 i
	shift
	t0=$(now_ms)
	for ((i = 0; i < 300; i++)); do
		"$@" && return 0
		[ $(($(now_ms) - t0)) -lt "$limit" ] || return 1
		sleep 0.1
	done
	return 1
}
# sleep_until T: sleep until the now_ms value T (at most 30 s).
sleep_until() {
	local d=$(($1 - $(now_ms)))
	[ "$d" -gt 0 ] || return 0
	[ "$d" -le 30000 ] || d=30000
	sleep "$(secs "$d")"
}

# snap: one line per non-empty set of ours, "knockd_open4: ELEMENT, ...",
# from one listing of table inet fw4 (nothing when the table is missing).
snap() {
	nft list table inet fw4 2>/dev/null | tr -d '\n\t' | sed 's/\(set\|map\) knockd_/\n&/g' |
		sed -n 's/^\(set\|map\) \(knockd_[a-z0-9]*\) {.*elements = {\([^}]*\)}.*/\2: \3/p' |
		sed 's/  */ /g; s/: /: /; s/ *$//'
}
# show_sets LABEL: print the non-empty sets.
show_sets() {
	local out
	echo "   -- sets $1:"
	if ! nft list table inet fw4 >/dev/null 2>&1; then
		echo "      (no table inet fw4)"
		return
	fi
	out=$(snap)
	if [ -n "$out" ]; then echo "      ${out//$'\n'/$'\n'      }"; else echo "      (all empty)"; fi
}
# in_snap SNAP SET TEXT: SET holds an element containing TEXT.
in_snap() { grep "^$2: " <<<"$1" | grep -qF -- "$3"; }
all_empty() { [ -z "$(snap)" ]; }
# ssh_elems: the three elements of door ssh for A.
ssh_elems() {
	local s
	s=$(snap)
	in_snap "$s" knockd_open4 "$A . tcp . 22 " && in_snap "$s" knockd_dnat4 "$A . tcp . 8080 " &&
		in_snap "$s" knockd_fwd4 "$A . 192.168.1.10 . tcp . 80 "
}
quick_elem() { in_snap "$(snap)" knockd_open4 "$A . tcp . 2222 "; }
no_quick_elem() { ! quick_elem; }

# reach SRC PORT EXPECT: SRC (in inet) connects to the router's PORT and
# gets an answer starting with EXPECT.
reach() {
	local out
	out=$(ip netns exec inet "$PY" -I -S "$TMPD/bin/tcp.py" connect "$1" "$R" "$2" 2>/dev/null) || return 1
	case $out in "$3"*) return 0 ;; esac
	echo "   unexpected answer from $R:$2: $out"
	return 1
}
blocked() { ! reach "$@"; }
# a_reaches_both: A gets the router's :22 and, through the forward, the LAN
# host's :80.
a_reaches_both() { reach "$A" 22 "router:22 from $A" && reach "$A" 8080 "lanhost:80 from $A"; }
# granted: door ssh's elements are there and A gets through.
granted() { ssh_elems && reach "$A" 22 "router:22 from $A"; }
knock() { ip netns exec inet "$TMPD/bin/knock" "$R" "$@" >/dev/null; }

# fw4_run NAME ARGS...: run fw4, keep its output in $TMPD/NAME.out, print it
# indented; fails when fw4 fails.
fw4_run() {
	local name=$1 rc=0
	shift
	fw4 "$@" >"$TMPD/$name.out" 2>&1 || rc=$?
	sed 's/^/   | /' "$TMPD/$name.out"
	return "$rc"
}
# fw4_quiet NAME [all]: fw4's output holds no warning or error, only fw4's
# "Automatically including" notes for our files ("all": all five of them).
fw4_quiet() {
	local f=$TMPD/$1.out p
	if grep -iE 'warn|not supported|error|fail|ignoring|invalid' "$f"; then return 1; fi
	if grep '^\[!\]' "$f" | grep -v "^\[!\] Automatically including '/usr/share/nftables.d/"; then return 1; fi
	[ "${2:-}" = all ] || return 0
	for p in table-pre chain-pre/input chain-pre/forward chain-pre/dstnat chain-pre/srcnat; do
		grep -qF "Automatically including '/usr/share/nftables.d/$p/30-knockd-go.nft'" "$f" || {
			echo "   $p/30-knockd-go.nft not included"
			return 1
		}
	done
}
logged() { grep -qF -- "$2" "$1"; }
count() { grep -cF -- "$2" "$1" || true; }
more_than() { [ "$(count "$1" "$2")" -gt "$3" ]; }
# one_line_log LOG: every line of knockd's log is a message of its own
# (a door event, "firewall...", "warning: ...", start and stop), none the
# continuation of a message that spans lines.
one_line_log() {
	! grep -vE '^([0-9a-f.:]+: |firewall|warning: |starting up|shutting down|re-asserting firewall rules)' "$1"
}

# usr2s: how many SIGUSR2 the sentinel got.
usr2s() { if [ -f "$TMPD/usr2.log" ]; then wc -l <"$TMPD/usr2.log"; else echo 0; fi; }
# usr2_latency: from the sentinel's last SIGUSR2 to the next element added
# to knockd_open4 (monitor log), "0.123" (empty when there is none).
usr2_latency() {
	local t
	t=$(tail -1 "$TMPD/usr2.log")
	awk -v t0="$t" '$1 >= t0 && /add element inet fw4 knockd_open4 / { printf "%.3f\n", $1 - t0; exit }' "$TMPD/monitor.log"
}
# restore_latency T0: from the monitor log, the time from the first
# "add table inet fw4" after the now_ms value T0 to the first element added
# to knockd_open4 after it, "0.123" (empty when either is missing).
restore_latency() {
	awk -v t0="$1" '
		{ t = $1 * 1000 }
		t < t0 { next }
		!tab && /add table inet fw4/ { tab = t; next }
		tab && /add element inet fw4 knockd_open4 / { printf "%.3f\n", (t - tab) / 1000; exit }
	' "$TMPD/monitor.log"
}

inner() {
	export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
	# shellcheck source=lib/checks.bash
	. "$here/scripts/test/lib/checks.bash"
	trap 'echo "FAIL setup: line $LINENO: $BASH_COMMAND"' ERR
	export R=192.0.2.1 A=192.0.2.10 B=192.0.2.11 PY TMPD

	echo "== router: namespaces, veths, ubusd, netifd stub, listeners"
	ip netns add inet
	ip netns add lanhost
	ip link add wan0 type veth peer name eth0 netns inet
	ip link add lan0 type veth peer name eth0 netns lanhost
	ip addr add "$R/24" dev wan0
	ip addr add 192.168.1.1/24 dev lan0
	ip link set wan0 up
	ip link set lan0 up
	echo 1 >/proc/sys/net/ipv4/ip_forward
	ip -n inet addr add "$A/24" dev eth0
	ip -n inet addr add "$B/24" dev eth0
	ip -n inet link set eth0 up
	ip -n lanhost addr add 192.168.1.10/24 dev eth0
	ip -n lanhost link set eth0 up
	ip -n lanhost route add default via 192.168.1.1
	ubusd &
	until_ms 3000 test -S /var/run/ubus/ubus.sock
	ucode "$OWRT_NETIFD_STUB" "$TMPD/ifaces.json" &
	until_ms 3000 ubus -t 1 list network.interface.wan >/dev/null 2>&1
	"$PY" -I -S "$TMPD/bin/tcp.py" serve router 22 2222 >"$TMPD/router-listen.out" &
	ip netns exec lanhost "$PY" -I -S "$TMPD/bin/tcp.py" serve lanhost 80 >"$TMPD/lan-listen.out" &
	until_ms 3000 grep -q ready "$TMPD/router-listen.out"
	until_ms 3000 grep -q ready "$TMPD/lan-listen.out"
	# Every nftables change, time-stamped as it happens (restore latencies).
	local sb=""
	command -v stdbuf >/dev/null && sb="stdbuf -oL"
	$sb nft monitor 2>&1 | while IFS= read -r l; do echo "$EPOCHREALTIME $l"; done >"$TMPD/monitor.log" &

	echo "== 1. uci-defaults with the real uci, fw4 check and fw4 start"
	sh -c '( . /etc/uci-defaults/90-knockd )'
	uci show firewall.knockd | sed 's/^/   | /'
	check "uci-defaults added the include section (type script, our path, fw4_compatible 1)" \
		test "$(uci -q get firewall.knockd).$(uci -q get firewall.knockd.type).$(uci -q get firewall.knockd.path).$(uci -q get firewall.knockd.fw4_compatible)" \
		= "include.script./usr/share/knockd/firewall.include.1"
	check "uci-defaults set none of fw3's options (reload, family)" \
		test -z "$(uci -q get firewall.knockd.reload)$(uci -q get firewall.knockd.family)"
	check "fw4 check passes" fw4_run check check
	check "fw4 check: no warning, our five include files included" fw4_quiet check all
	check "fw4 start succeeds" fw4_run start start
	check "fw4 start: no warning, our five include files included" fw4_quiet start all
	check "fw4 maps wan to wan0 (netifd stub)" bash -c 'nft list chain inet fw4 input | grep -q "iifname \"wan0\" jump input_wan"'
	check "our rule comes right after fw4's loopback rule in its input chain" \
		bash -c 'nft list chain inet fw4 input | grep -A2 "hook input" | grep -q "knockd-go: open4"'
	local s
	for s in knockd_open4 knockd_open6 knockd_dnat4 knockd_dnat6 knockd_fwd4 knockd_fwd6 knockd_masq4 knockd_masq6; do
		check "set $s declared in table inet fw4" bash -c "nft list table inet fw4 | grep -Eq '(set|map) $s \\{'"
	done

	echo "== knockd (firewall 'fw4') on wan0"
	local log1=$TMPD/knockd1.log pid1
	/usr/sbin/knockd -u /etc/config/knockd -i wan=wan0 -v >"$log1" 2>&1 &
	pid1=$!
	check "knockd starts" until_ms 3000 logged "$log1" "starting up"
	sleep 0.3
	check "knockd is still running" kill -0 "$pid1"

	echo "== 2. before knocking"
	check "the router's listener answers locally (:22)" bash -c '"$PY" -I -S "$TMPD/bin/tcp.py" connect 127.0.0.1 127.0.0.1 22 | grep -q "^router:22"'
	check "the LAN host's listener answers the router (:80)" bash -c '"$PY" -I -S "$TMPD/bin/tcp.py" connect 192.168.1.1 192.168.1.10 80 | grep -q "^lanhost:80"'
	check "A cannot reach tcp/22" blocked "$A" 22 router
	check "A cannot reach the forward tcp/8080" blocked "$A" 8080 lanhost
	check "B cannot reach tcp/22" blocked "$B" 22 router
	show_sets "before the knock"

	echo "== 3. knock door ssh from A"
	knock 7000 8000 9000
	check "the grant's elements appear (open, dnat, forward)" until_ms 3000 ssh_elems
	show_sets "after the knock"
	check "A reaches tcp/22 on the router" reach "$A" 22 "router:22 from $A"
	check "A reaches the LAN host through the forward (8080 -> 192.168.1.10:80)" reach "$A" 8080 "lanhost:80 from $A"
	check "B still cannot reach tcp/22" blocked "$B" 22 router
	check "B still cannot reach the forward" blocked "$B" 8080 lanhost

	echo "== 3b. knockd doctor (knockd-go-full's) under the real firewall4 (stock wan zone: input REJECT)"
	local doc l rc=0
	doc=$(/usr/sbin/knockd -u /etc/config/knockd -i wan=wan0 doctor 2>&1) || rc=$?
	check "knockd-go has no doctor and names knockd-go-full (exit 2)" \
		test "$rc:$doc" = "2:knockd: doctor: not in this build (built with the tag knockd_nodoctor; the package knockd-go-full has it)"
	rc=0
	doc=$(/usr/sbin/knockd-full -u /etc/config/knockd -i wan=wan0 doctor 2>&1) || rc=$?
	while IFS= read -r l; do echo "   | $l"; done <<<"$doc"
	check "doctor exits 1 (a problem found)" test "$rc" -eq 1
	check "doctor reads fw4's table" grep -qF "ok      firewall    firewall fw4: table inet fw4 read" <<<"$doc"
	check "doctor: door ssh's grants reach knockd-go's rules first" grep -qF "ok      rule order  door ssh: tcp/22, forward tcp/8080->192.168.1.10:80 reaches knockd's rules first" <<<"$doc"
	check "doctor: the stock wan zone betrays door ssh's knock ports (TCP reset)" grep -qF "PROBLEM knock ports door ssh: tcp/7000 tcp/8000 tcp/9000 on wan0: rejected by \`meta l4proto tcp reject with tcp reset" <<<"$doc"

	echo "== 4. fw4 reload and fw4 restart"
	local restored0 t0 t1 lat sig0 sentinel
	"$TMPD/bin/sentinel/knockd" "$TMPD/usr2.log" &
	sentinel=$!
	restored0=$(count "$log1" "restored")
	sig0=$(usr2s)
	check "fw4 reload succeeds" fw4_run reload reload
	check "fw4 reload: no warning" fw4_quiet reload
	check "fw4 reload ran our include: SIGUSR2 to the processes named knockd" until_ms 1000 test "$(usr2s)" -gt "$sig0"
	check "after fw4 reload the elements are still listed" ssh_elems
	check "after fw4 reload A still reaches tcp/22 and the forward" a_reaches_both
	sleep 0.3
	check "fw4 reload kept the sets: knockd had nothing to restore" test "$(count "$log1" "restored")" = "$restored0"
	show_sets "after fw4 reload"

	knock 7000 8000 9000 # extends the grant to 15 s from now
	sleep 0.3
	sig0=$(usr2s)
	t0=$(now_ms)
	check "fw4 restart succeeds" fw4_run restart restart
	t1=$(now_ms)
	check "fw4 restart: no warning" fw4_quiet restart
	check "fw4 restart ran our include: SIGUSR2 to the processes named knockd" until_ms 1000 test "$(usr2s)" -gt "$sig0"
	if until_ms 5000 ssh_elems; then
		lat=$(restore_latency "$t0")
		pass "fw4 restart: grant restored ${lat:-?} s after fw4 re-created its table, $(usr2_latency) s after the include's SIGUSR2 (fw4 restart took $(secs $((t1 - t0))) s)"
	else
		fail "fw4 restart: grant not restored within 5 s"
	fi
	check "knockd logged the restore (the restart had emptied the sets)" until_ms 1000 more_than "$log1" "restored" "$restored0"
	check "after fw4 restart A reaches tcp/22 and the forward again" a_reaches_both
	check "after fw4 restart B still cannot" blocked "$B" 22 router
	show_sets "after fw4 restart"

	echo "   (our include disabled: knockd's own check must notice)"
	uci set firewall.knockd.enabled=0
	uci commit firewall
	knock 7000 8000 9000
	sleep 0.3
	restored0=$(count "$log1" "restored")
	sig0=$(usr2s)
	t0=$(now_ms)
	check "fw4 restart with our include disabled succeeds" fw4_run restart-noinc restart
	sleep 0.3
	check "no SIGUSR2 this time" test "$(usr2s)" = "$sig0"
	if until_ms 5000 ssh_elems; then
		lat=$(restore_latency "$t0")
		pass "fw4 restart, include disabled: knockd restored the grant by itself ${lat:-?} s after fw4 re-created its table"
	else
		fail "fw4 restart, include disabled: grant not restored within 5 s"
	fi
	check "knockd logged that restore too" until_ms 1000 more_than "$log1" "restored" "$restored0"
	check "after that, A reaches tcp/22 and the forward" a_reaches_both
	uci delete firewall.knockd.enabled
	uci commit firewall
	kill "$sentinel"
	wait "$sentinel" 2>/dev/null || true

	echo "== 5. door quick: a 3 s grant ends on time"
	local t_q gone=""
	knock 7100 8100 9100
	t_q=$(now_ms)
	check "the quick grant appears, with a 3 s timeout" until_ms 3000 bash -c 'nft list set inet fw4 knockd_open4 | grep -q "$A . tcp . 2222 timeout 3s "'
	check "A reaches tcp/2222" reach "$A" 2222 router
	sleep_until $((t_q + 1500))
	check "1.5 s later it is still there" bash -c 'quick_elem && reach "$A" 2222 router'
	if until_ms 3500 no_quick_elem; then gone=$(since "$t_q"); fi
	if [ -n "$gone" ]; then pass "the 3 s grant's element is gone $gone s after the knock"; else fail "the 3 s grant's element is still there $(since "$t_q") s after the knock"; fi
	sleep_until $((t_q + 4500))
	check "4.5 s after the knock A cannot reach tcp/2222" blocked "$A" 2222 router
	check "knockd logged the close" until_ms 1000 logged "$log1" "quick: closed tcp/2222"
	local closed0
	closed0=$(count "$log1" "quick: closed tcp/2222")
	show_sets "after the quick grant expired"

	echo "   (the same grant, expiring while fw4 is stopped)"
	knock 7100 8100 9100
	t_q=$(now_ms)
	check "the quick grant appears" until_ms 3000 quick_elem
	check "fw4 stop" fw4_run stop-q stop
	sleep_until $((t_q + 4500))
	check "knockd logged the close while fw4 was stopped" more_than "$log1" "quick: closed tcp/2222" "$closed0"
	check "knockd did not keep failing to remove it (no table, nothing to remove)" bash -c '! grep "removing expired grant" "$1"' _ "$log1"
	check "fw4 start" fw4_run start-q start
	check "after fw4 start the expired grant is not back" until_ms 1000 bash -c 'nft list table inet fw4 >/dev/null && ! quick_elem'
	check "A cannot reach tcp/2222" blocked "$A" 2222 router
	show_sets "after fw4 start"

	echo "== 8. SIGTERM"
	knock 7000 8000 9000
	check "the ssh grant is open before SIGTERM" until_ms 2000 granted
	kill -TERM "$pid1"
	local i
	for ((i = 0; i < 50; i++)); do kill -0 "$pid1" 2>/dev/null || break; sleep 0.1; done
	check "knockd exits within 5 s of SIGTERM" bash -c "! kill -0 $pid1 2>/dev/null"
	wait "$pid1" || true
	show_sets "after SIGTERM"
	check "SIGTERM removed every element knockd made" all_empty
	check "A cannot reach tcp/22 any more" blocked "$A" 22 router
	check "A cannot reach the forward any more" blocked "$A" 8080 lanhost
	check "knockd's log: one line per message" one_line_log "$log1"

	echo "== 6. knockd (firewall 'auto') started before fw4: knock, then fw4 start"
	uci set knockd.global.firewall=auto
	uci commit knockd
	check "fw4 stop" fw4_run stop stop
	check "table inet fw4 is gone" bash -c '! nft list table inet fw4 >/dev/null 2>&1'
	local log2=$TMPD/knockd2.log pid2 t_b t_start t_seen misses=0 samples=0
	/usr/sbin/knockd -u /etc/config/knockd -i wan=wan0 -v >"$log2" 2>&1 &
	pid2=$!
	check "knockd waits for the firewall" until_ms 3000 logged "$log2" "not ready"
	knock 7100 8100 9100
	t_q=$(now_ms)
	check "door quick opens (OPEN SESAME) while fw4 has no table" until_ms 3000 logged "$log2" "quick: OPEN SESAME"
	gone=""
	if until_ms 4500 logged "$log2" "quick: closed tcp/2222"; then gone=$(since "$t_q"); fi
	if [ -n "$gone" ]; then pass "that 3 s grant is closed on time, $gone s after the knock"; else fail "that 3 s grant is not closed $(since "$t_q") s after the knock"; fi
	knock 7000 8000 9000
	t_b=$(now_ms)
	check "door ssh opens (OPEN SESAME) while fw4 has no table" until_ms 3000 logged "$log2" "ssh: OPEN SESAME"
	sleep 0.5
	t_start=$(now_ms)
	check "fw4 start succeeds" fw4_run start2 start
	check "fw4 start: no warning" fw4_quiet start2
	if until_ms 2000 ssh_elems; then
		t_seen=$(now_ms)
		lat=$(restore_latency "$t_start")
		pass "the grant is in the sets ${lat:-?} s after fw4 created its table"
	else
		t_seen=$(now_ms)
		fail "the grant is not in the sets 2 s after fw4 start"
	fi
	show_sets "right after fw4 start"
	check "the ended 3 s grant is not made" no_quick_elem
	# For 5 s (two of knockd's firewall retries and reassert checks) the
	# elements never go and A keeps getting through.
	local probe_pid probe_rc=0
	ip netns exec inet "$PY" -I -S "$TMPD/bin/tcp.py" probe "$A" "$R" 22 5 >"$TMPD/probe.out" 2>&1 &
	probe_pid=$!
	while [ $(($(now_ms) - t_seen)) -lt 5000 ] && [ "$samples" -lt 200 ]; do
		samples=$((samples + 1))
		if ! ssh_elems; then
			misses=$((misses + 1))
			echo "   missing $(since "$t_start") s after fw4 start began"
			show_sets "then"
		fi
		sleep 0.05
	done
	wait "$probe_pid" || probe_rc=$?
	check "the elements stayed for 5 s after fw4 start ($samples listings, $misses without them)" test "$misses" = 0 -a "$samples" -ge 5
	check "A got through all that time ($(tail -1 "$TMPD/probe.out"))" test "$probe_rc" = 0
	grep '^failed' "$TMPD/probe.out" | sed 's/^/   /' || true
	check "A reaches the forward" reach "$A" 8080 "lanhost:80 from $A"
	check "B cannot reach tcp/22" blocked "$B" 22 router

	echo "== 7. kill -9 with the grant open"
	kill -KILL "$pid2"
	wait "$pid2" 2>/dev/null || true
	check "right after kill -9 the grant is still there" granted
	sleep_until $((t_b + 12500))
	check "12.5 s after the knock (15 s grant) it is still there" granted
	show_sets "12.5 s after the knock, knockd dead"
	gone=""
	if until_ms 5000 all_empty; then gone=$(since "$t_b"); fi
	if [ -n "$gone" ]; then pass "the kernel removed the elements $gone s after the knock"; else fail "elements still there $(since "$t_b") s after the knock"; fi
	sleep_until $((t_b + 16000))
	show_sets "16 s after the knock"
	check "16 s after the knock nothing is left in our sets" all_empty
	check "A cannot reach tcp/22" blocked "$A" 22 router
	check "A cannot reach the forward" blocked "$A" 8080 lanhost
	check "knockd's log: one line per message" one_line_log "$log2"

	echo "== knockd logs"
	sed 's/^/   1| /' "$log1"
	sed 's/^/   2| /' "$log2"
	trap - ERR
	summary
}

if [ "${1:-}" = --inner ]; then
	export -f now_ms secs since until_ms snap in_snap ssh_elems quick_elem reach granted
	inner
else
	outer
fi
