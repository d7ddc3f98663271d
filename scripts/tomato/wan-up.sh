#!/bin/sh
# knockd-go: paste into Administration -> Scripts -> WAN Up.
# (Re)starts knockd when the WAN device changed or knockd is not running.
[ -x /jffs/etc/knockd.sh ] && /jffs/etc/knockd.sh wanup
