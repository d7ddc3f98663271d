#!/usr/bin/env bash
# Tests the OpenWrt firewall-reload hook: files/etc/uci-defaults/90-knockd
# (registers the firewall include, once) and files/usr/share/knockd/
# firewall.include (sends SIGUSR2 to the pids of knockd: restore grants
# without re-reading the configuration). Both run
# as OpenWrt runs them: uci-defaults sourced in a subshell, the include
# sourced by sh after a config() that refuses UCI (fw3/fw4). `uci`, `ubus` and
# `pidof` are stand-ins; the only process signalled is one this test starts.
# shellcheck disable=SC2016 # sh -c '...' snippets read their own "$1"
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
defaults="$here/files/etc/uci-defaults/90-knockd"
include="$here/files/usr/share/knockd/firewall.include"
tmp=$(mktemp -d)
knockd_pid=""
cleanup() {
	[ -n "$knockd_pid" ] && kill "$knockd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=lib/checks.bash
. "$here/scripts/test/lib/checks.bash"

mkdir -p "$tmp/bin"
cat >"$tmp/bin/uci" <<'EOF'
#!/bin/sh
# stand-in uci: "get" answers from $UCI_GET, "batch" records its input
echo "uci $*" >>"$TEST_LOG"
for a in "$@"; do
	case $a in
	get) printf '%s' "$UCI_GET"; [ -n "$UCI_GET" ]; exit ;;
	batch) sed 's/^[[:space:]]*/batch: /' >>"$TEST_LOG"; exit 0 ;;
	esac
done
EOF
cat >"$tmp/bin/ubus" <<'EOF'
#!/bin/sh
echo "ubus $*" >>"$TEST_LOG"
exit "${UBUS_RC:-0}"
EOF
cat >"$tmp/bin/pidof" <<'EOF'
#!/bin/sh
echo "pidof $*" >>"$TEST_LOG"
[ "$1" = knockd ] && [ -n "$KNOCKD_PIDS" ] && echo "$KNOCKD_PIDS"
EOF
chmod +x "$tmp/bin/"*
export TEST_LOG="$tmp/log" PATH="$tmp/bin:/usr/bin:/bin"

# run_defaults: as /etc/init.d/boot and default_postinst do: ( . ./file )
run_defaults() { : >"$TEST_LOG"; sh -c '( . "$1" )' _ "$defaults"; }
# run_include: as fw3/fw4 run script includes
run_include() {
	: >"$TEST_LOG"
	sh -c 'config() { echo "You cannot use UCI in firewall includes!" >&2; exit 1; }; . "$1"; echo "include returned"' _ "$include" >"$tmp/out" 2>&1
}
logged() { grep -qxF -- "$1" "$TEST_LOG"; }

# ---- uci-defaults ----------------------------------------------------------------
export UCI_GET=""
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/fw4" && chmod +x "$tmp/bin/fw4" # OpenWrt >= 22.03
check "uci-defaults: exits 0 (so it is deleted after running)" run_defaults
for line in "set firewall.knockd=include" "set firewall.knockd.type=script" \
	"set firewall.knockd.path=/usr/share/knockd/firewall.include" \
	"set firewall.knockd.fw4_compatible=1" "commit firewall"; do
	check "uci-defaults: batch: $line" logged "batch: $line"
done
check "uci-defaults: no fw3 options, which fw4 warns about" bash -c '! grep -q "family\|^batch: set firewall.knockd.reload" "$1"' _ "$TEST_LOG"
rm "$tmp/bin/fw4" # fw3
check "uci-defaults, fw3: exits 0" run_defaults
check "uci-defaults, fw3: reload '1'" logged "batch: set firewall.knockd.reload=1"
check "uci-defaults: the include path exists in files/" test -f "$here/files/usr/share/knockd/firewall.include"
export UCI_GET=include
check "uci-defaults, include already there: exits 0" run_defaults
check "uci-defaults, include already there: no batch" bash -c '! grep -q "^batch" "$1"' _ "$TEST_LOG"
export UCI_GET=""

# ---- firewall include ---------------------------------------------------------------
# A knockd (stand-in): SIGUSR2 by pid, with or without procd.
sh -c 'trap "echo USR2 >>\"$1\"" USR2; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done' _ "$tmp/usr2" &
knockd_pid=$!
sleep 0.2
export KNOCKD_PIDS="$knockd_pid"
check "include: sourced, does not exit the firewall's shell" run_include
check "include: returned" grep -qx "include returned" "$tmp/out"
check "include: asked pidof knockd" logged "pidof knockd"
for _ in $(seq 30); do [ -s "$tmp/usr2" ] && break; sleep 0.1; done
check "include: the knockd process got SIGUSR2" grep -qx USR2 "$tmp/usr2"
export KNOCKD_PIDS=""
check "include, no knockd at all: returned" run_include
check "include, no knockd at all: silent" test "$(cat "$tmp/out")" = "include returned"

if command -v shellcheck >/dev/null 2>&1; then
	check "shellcheck uci-defaults and include" shellcheck -s sh "$defaults" "$include"
fi
summary
