#!/bin/sh
# knockd-go: paste into Administration -> Scripts -> Firewall.
# The firewall restart dropped knockd's rules; SIGUSR2 makes knockd put them
# back at once.
[ -x /jffs/etc/knockd.sh ] && /jffs/etc/knockd.sh firewall
