#!/usr/bin/env bash
# make install into a DESTDIR: the programs, the man pages made from
# --help (they render without a groff warning and hold every option of
# --help), the systemd unit (systemd-analyze verify when systemd is there),
# the documentation, /etc/knockd.conf once (never replaced); the router
# packages carry neither the unit nor the man pages.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
# shellcheck source=scripts/test/lib/checks.bash
. "$here/scripts/test/lib/checks.bash"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root

if ! make --no-print-directory install DESTDIR="$dest" PREFIX=/usr >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	fail "make install DESTDIR=… PREFIX=/usr"
	summary
	exit 1
fi
pass "make install DESTDIR=… PREFIX=/usr"
for f in usr/sbin/knockd usr/bin/knock; do
	check "$f installed, executable" test -x "$dest/$f"
done
for f in usr/share/man/man8/knockd.8 usr/share/man/man1/knock.1 usr/lib/systemd/system/knockd.service \
	usr/share/doc/knockd-go/knockd.conf.example etc/knockd.conf; do
	check "$f installed" test -s "$dest/$f"
done
check "/etc/knockd.conf is mode 600" test "$(stat -c %a "$dest/etc/knockd.conf")" = 600
check "the installed /etc/knockd.conf passes knockd -k" "$dest/usr/sbin/knockd" -k -c "$dest/etc/knockd.conf"

# The man pages: rendered without warnings, every option of --help in them.
for page in usr/share/man/man8/knockd.8:knockd usr/share/man/man1/knock.1:knock; do
	file=$dest/${page%%:*} prog=${page##*:}
	if command -v groff >/dev/null; then
		warn=$(groff -man -Tutf8 -ww -z "$file" 2>&1)
		check "$prog's man page renders without a groff warning" test -z "$warn"
		groff -man -Tutf8 "$file" 2>/dev/null | col -b >"$tmp/$prog.txt"
		missing=""
		for opt in $("$dest/usr/$( [ "$prog" = knockd ] && echo sbin || echo bin)/$prog" --help | grep -oE -- '(^|[ ,])--?[A-Za-z0-9][-A-Za-z0-9]*' | tr -d ' ,' | sort -u); do
			grep -qF -- "$opt" "$tmp/$prog.txt" || missing="$missing $opt"
		done
		check "$prog's man page names every option of $prog --help${missing:+ (missing:$missing)}" test -z "$missing"
	else
		echo "SKIP: groff is not installed (Debian: groff-base): man pages not rendered"
	fi
done
check "the unit runs the installed knockd" grep -q '^ExecStart=/usr/sbin/knockd -c /etc/knockd.conf' "$dest/usr/lib/systemd/system/knockd.service"
if command -v systemd-analyze >/dev/null && [ -d /run/systemd/system ]; then
	sed "s|/usr/sbin/knockd|$dest/usr/sbin/knockd|g" "$dest/usr/lib/systemd/system/knockd.service" >"$tmp/knockd.service"
	check "systemd-analyze verify accepts the unit" systemd-analyze verify "$tmp/knockd.service"
else
	echo "SKIP: systemd is not running here: the unit is not verified by systemd-analyze"
fi

# Installed again: the admin's configuration stays.
echo "# mine" >>"$dest/etc/knockd.conf"
make --no-print-directory install DESTDIR="$dest" PREFIX=/usr >/dev/null 2>&1
check "a second install keeps the admin's /etc/knockd.conf" grep -q '^# mine$' "$dest/etc/knockd.conf"

# The router packages carry neither.
check "the router packages carry no systemd unit or man page" \
	sh -c '! grep -nE "systemd|share/man|man\.sh|install\.sh" scripts/mkipk.sh scripts/mkapk.sh scripts/mkfeed.sh'

summary
