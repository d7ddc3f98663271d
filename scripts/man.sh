#!/usr/bin/env bash
# man.sh OUTDIR: the man pages knockd(8) and knock(1), made from the
# programs' --help (bin/knockd, bin/knock: run `make` first) by
# src/tools/manpage, so that the pages say what --help says.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:?usage: man.sh OUTDIR}
mkdir -p "$out"
version=$(bin/knockd -V | awk '{print $2}')
go build -o bin/manpage ./src/tools/manpage

bin/knockd --help | bin/manpage -name knockd -section 8 -version "$version" \
	-title "port-knock daemon, firewall opener and fwknop SPA server" \
	-desc "knockd listens on network devices for knock sequences (TCP SYNs or UDP datagrams to a series of ports), rotating knocks and fwknop single packet authorization packets. When a door's sequence arrives from an address, it runs the door's commands, opens or forwards ports on the firewall (iptables or OpenWrt's fw4) for that address alone, wakes LAN hosts and mails the admin. A knockd.conf that works with knockd 0.8 works here.

Every directive is described in knockd.conf.example, installed with the documentation. knockd -k checks a configuration: every error, with its file, line and field." \
	-files "/etc/knockd.conf: the configuration (-c);/etc/config/knockd: the UCI configuration on OpenWrt (-u);/var/run/knockd.sock: the control socket of status and revoke;/var/run/knockd.pid: the pid file of -d;/etc/default/knockd: KNOCKD_OPTS, the options of the systemd unit" \
	-see "knock(1), fwknop(8), iptables(8), systemctl(1)" >"$out/knockd.8"

bin/knock --help | bin/manpage -name knock -section 1 -version "$version" \
	-title "port-knock client, rotating knocks and fwknop SPA packets" \
	-desc "knock sends a knock sequence to a host: one TCP SYN or one UDP datagram to each port in turn, as knockd 0.8's knock does. It checks the whole sequence before it sends anything. It also knocks the current sequence of a rotating door and sends fwknop single packet authorization packets." \
	-see "knockd(8), fwknop(8)" >"$out/knock.1"
