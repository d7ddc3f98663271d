#!/bin/sh
# knockd-go: paste into Administration -> Scripts -> Init.
# Starts knockd once JFFS (or the USB disk) is mounted; the WAN Up script
# moves it to the right device when the WAN comes up.
(
	i=0
	while [ ! -x /jffs/etc/knockd.sh ] && [ "$i" -lt 60 ]; do
		sleep 2
		i=$((i + 1))
	done
	[ -x /jffs/etc/knockd.sh ] && /jffs/etc/knockd.sh start
) >/dev/null 2>&1 &
