#!/usr/bin/env bash
# make demo: a real knock opening a real port, step by step.
#
# Two network namespaces joined by a veth pair: "router" runs knockd-go on
# its WAN side with a firewall that drops everything, plus an SSH-like
# service on tcp/2222; "laptop" is outside. The laptop cannot connect,
# knocks 7000,8000:udp,9000, connects, and 8 seconds later cannot again.
set -euo pipefail
cd "$(dirname "$0")/.."

R=kdemo-router L=kdemo-laptop
RA=192.0.2.1 LA=192.0.2.100
work=$(mktemp -d)
cleanup() {
  [ -n "${KPID:-}" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
  [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null
  ip netns del "$R" 2>/dev/null || true
  ip netns del "$L" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
try_connect() {
  if ip netns exec "$L" timeout 2 bash -c "exec 3<>/dev/tcp/$RA/2222 && head -n1 <&3" 2>/dev/null; then
    echo "   -> connected"
  else
    echo "   -> no connection (the port looks closed)"
  fi
}

[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 1; }
go build -o "$work/knockd" ./src/cmd/knockd
go build -o "$work/knock" ./src/cmd/knock
go build -o "$work/hello" ./src/tools/hello

step "Two hosts: router ($RA, WAN device wan0) and laptop ($LA)"
ip netns del "$R" 2>/dev/null || true
ip netns del "$L" 2>/dev/null || true
ip netns add "$R"; ip netns add "$L"
ip link add wan0 netns "$R" type veth peer name eth0 netns "$L"
ip -n "$R" addr add "$RA/24" dev wan0; ip -n "$L" addr add "$LA/24" dev eth0
ip -n "$R" link set wan0 up; ip -n "$L" link set eth0 up
ip -n "$R" link set lo up; ip -n "$L" link set lo up

step "Router firewall: drop everything coming in on the WAN (iptables)"
ip netns exec "$R" iptables -P INPUT DROP
ip netns exec "$R" iptables -A INPUT -i lo -j ACCEPT
ip netns exec "$R" iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
ip netns exec "$R" iptables -S INPUT | sed 's/^/   /'

step "A service on the router, tcp/2222"
ip netns exec "$R" "$work/hello" "0.0.0.0:2222" "SSH-2.0-router (hello from behind the knock)" &
SPID=$!

cat > "$work/knockd.conf" <<CONF
[options]
    Interface = wan0
    # the demo's own socket and journal: a knockd-go running on this
    # machine keeps its own
    control_socket  = $work/knockd.sock
    spa_replay_file = $work/replay
[ssh]
    sequence    = 7000,8000:udp,9000
    seq_timeout = 10
    tcpflags    = syn
    open        = tcp/2222
    duration    = 8
CONF
step "knockd-go configuration"
sed 's/^/   /' "$work/knockd.conf"
ip netns exec "$R" "$work/knockd" -c "$work/knockd.conf" -v > "$work/log" 2>&1 &
KPID=$!
for _ in $(seq 50); do grep -q 'starting up' "$work/log" && break; sleep 0.1; done
sleep 0.3

step "Laptop connects to router:2222 before knocking"
try_connect

step "Laptop knocks: knock -v $RA 7000 8000:udp 9000"
ip netns exec "$L" "$work/knock" -v "$RA" 7000 8000:udp 9000 | sed 's/^/   /'
sleep 0.5
echo "   knockd-go log:"
sed 's/^/   | /' "$work/log"
echo "   router's knockd-go chain:"
ip netns exec "$R" iptables -S KNOCKD_INPUT 2>/dev/null | sed 's/^/   /' || true

step "Laptop connects again"
try_connect

step "Waiting for the 8 s grant to expire"
sleep 9
echo "   knockd-go log (tail):"
tail -n 3 "$work/log" | sed 's/^/   | /'
step "Laptop connects once more"
try_connect
echo
