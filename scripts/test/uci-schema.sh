#!/usr/bin/env bash
# Checks the UCI schema of /etc/config/knockd against the daemon: the shipped
# files/etc/config/knockd, its commented examples once enabled, and a file
# using every option its header documents must pass `knockd -k -u FILE`
# (check the configuration and exit), and a misspelt option must fail it.
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
conf="$here/files/etc/config/knockd"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=lib/checks.bash
. "$here/scripts/test/lib/checks.bash"

(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$tmp/knockd" ./src/cmd/knockd)
knockd_ok() { "$tmp/knockd" -k -u "$1" >"$tmp/out" 2>&1 || { sed 's/^/     /' "$tmp/out"; return 1; }; }
knockd_fails() { ! "$tmp/knockd" -k -u "$1" >"$tmp/out" 2>&1; }

# ---- the shipped file ------------------------------------------------------------
check "shipped config: knockd -k -u accepts it" knockd_ok "$conf"
check "shipped config: config knockd 'global'" grep -qx "config knockd 'global'" "$conf"
check "shipped config: disabled (option enabled '0')" grep -qxP "\toption enabled '0'" "$conf"
check "shipped config: listens on wan and wan6" grep -qzP "\tlist interface 'wan'\n\tlist interface 'wan6'\n" "$conf"

# ---- its examples, uncommented --------------------------------------------------------
key=$(head -c 32 /dev/urandom | base64)
hmac=$(head -c 64 /dev/urandom | base64 | tr -d '\n')
sed -e 's/^#config /config /' -e 's/^#\t/\t/' -e "s/option enabled '0'/option enabled '1'/" \
	-e "s|option spa_key_base64 '.*'|option spa_key_base64 '$key'|" \
	-e "s|option spa_hmac_key_base64 '.*'|option spa_hmac_key_base64 '$hmac'|" "$conf" >"$tmp/examples"
check "examples: two doors uncommented" test "$(grep -c '^config door' "$tmp/examples")" = 2
check "examples: knockd -k -u accepts them" knockd_ok "$tmp/examples"

# ---- every documented option ------------------------------------------------------------
printf '7000:tcp,8000:udp\n' >"$tmp/otp"
cat >"$tmp/all" <<EOF
config knockd 'global'
	option enabled '1'
	option interface 'wan'
	option use_syslog '1'
	option logfile '$tmp/knockd.log'
	option firewall 'none'
	option sendmail '/usr/sbin/sendmail'
	option mail_from 'router@example.com'
	option max_attempts '1000'
	option max_children '16'
	option pidfile '$tmp/knockd.pid'
	option sendmail_user 'nobody'
	option command_user 'root'
	option notify_interval '300'
	option notify_per_hour '5'
	option spa_replay_file '$tmp/spa-replay'
	option control_socket '$tmp/knockd.sock'

config door 'all'
	list interface 'wan'
	option sequence '7000,8000:udp,9000'
	option seq_timeout '15'
	option tcpflags 'syn,!ack'
	option start_command 'logger open %IP%'
	option stop_command 'logger close %IP%'
	option cmd_timeout '20'
	option start_command_6 'logger open6 %IP%'
	option stop_command_6 'logger close6 %IP%'
	option target '192.0.2.1'
	option duplicate_knocks 'strict'
	option cooldown '5'
	option enabled '1'
	list open 'tcp/22'
	list open 'udp/51820'
	list forward 'tcp/3389->192.168.1.10:3389'
	option open_duration '30'
	list wake 'aa:bb:cc:dd:ee:ff'
	option wake_interface 'br-lan'
	option wake_password '11:22:33:44:55:66'
	list notify 'admin@example.com'

config door 'otp'
	option one_time_sequences '$tmp/otp'

config door 'spa'
	option spa '1'
	option spa_port '62201'
	option spa_key '$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')'
	option spa_hmac_key_base64 '$hmac'
	option spa_hmac_digest 'sha256'
	option spa_max_age '120'
	option spa_allow_nat '0'
	option spa_allow_commands '0'
	option spa_allow_any_source '0'
	option spa_max_timeout '600'
	list open 'tcp/22'

config door 'spa64'
	option spa '1'
	option spa_key_base64 '$key'
	option spa_hmac_key '$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')'
	list open 'tcp/443'

config door 'rotating'
	option sequence_secret '$(head -c 20 /dev/urandom | base32)'
	option sequence_length '5'
	option sequence_step '60'
	option sequence_ports '20000-30000'
	option sequence_protocol 'udp'
	list open 'tcp/22'
EOF
# The option names the header of files/etc/config/knockd documents.
documented=$(sed -n 's/^#   \(list \)\{0,1\}\([a-z_0-9]*\)\( \/ \([a-z_0-9]*\)\)\{0,1\}.*/\2 \4/p' "$conf" | tr ' ' '\n' | grep . | sort -u)
check "the header documents at least 35 options ($(echo "$documented" | wc -l))" test "$(echo "$documented" | wc -l)" -ge 35
missing=""
for o in $documented; do
	grep -qP "^\t(option|list) $o " "$tmp/all" || missing="$missing $o"
done
check "the sample uses every documented option${missing:+ (missing:$missing)}" test -z "$missing"
check "every documented option: knockd -k -u accepts them" knockd_ok "$tmp/all"

sed "s/option cooldown '5'/option cooldwn '5'/" "$tmp/all" >"$tmp/typo"
check "a misspelt option (cooldwn) is rejected" knockd_fails "$tmp/typo"
line=$(grep -n cooldwn "$tmp/typo" | cut -d: -f1)
check "the error names line $line" grep -q ":$line\b" "$tmp/out"
sed "s/option firewall 'none'/option firewall 'pf'/" "$tmp/all" >"$tmp/badfw"
check "firewall 'pf' is rejected" knockd_fails "$tmp/badfw"

summary
