#!/usr/bin/env bash
# install.sh: install knockd-go the Debian way (make install): the
# programs, the man pages knockd(8) and knock(1), the systemd unit, the
# documentation and, when there is none, /etc/knockd.conf. The router
# packages (ipk, apk) are made by mkipk.sh and mkapk.sh and carry none of
# the man pages or the unit.
#
# Environment: PREFIX (default /usr/local), DESTDIR (a staging root),
# SYSCONFDIR (default /etc), SYSTEMDUNITDIR (default
# $PREFIX/lib/systemd/system). bin/knockd and bin/knock must be built.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
prefix=${PREFIX:-/usr/local}
dest=${DESTDIR:-}
sysconf=${SYSCONFDIR:-/etc}
unitdir=${SYSTEMDUNITDIR:-$prefix/lib/systemd/system}

for b in bin/knockd bin/knock; do
	[ -x "$b" ] || { echo "install.sh: $b is not built (run make)" >&2; exit 1; }
done
man=$(mktemp -d)
trap 'rm -rf "$man"' EXIT
bash scripts/man.sh "$man"

install -d "$dest$prefix/sbin" "$dest$prefix/bin" "$dest$prefix/share/man/man8" "$dest$prefix/share/man/man1" \
	"$dest$unitdir" "$dest$prefix/share/doc/knockd-go" "$dest$sysconf"
install -m 0755 bin/knockd "$dest$prefix/sbin/knockd"
install -m 0755 bin/knock "$dest$prefix/bin/knock"
install -m 0644 "$man/knockd.8" "$dest$prefix/share/man/man8/knockd.8"
install -m 0644 "$man/knock.1" "$dest$prefix/share/man/man1/knock.1"
sed -e "s|@SBINDIR@|$prefix/sbin|g" -e "s|@SYSCONFDIR@|$sysconf|g" scripts/install-files/knockd.service.in >"$man/knockd.service"
install -m 0644 "$man/knockd.service" "$dest$unitdir/knockd.service"
install -m 0644 README.md docs/knockd.conf.example docs/knockd.conf.minimal "$dest$prefix/share/doc/knockd-go/"
# An existing configuration is the admin's: never replaced.
if [ ! -e "$dest$sysconf/knockd.conf" ]; then
	install -m 0600 docs/knockd.conf.minimal "$dest$sysconf/knockd.conf"
fi
echo "installed into ${dest:-/}: $prefix/sbin/knockd, $prefix/bin/knock, man pages, $unitdir/knockd.service"
if [ -z "$dest" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	echo "then: edit $sysconf/knockd.conf, knockd -k, systemctl enable --now knockd"
fi
