#!/usr/bin/env bash
# Static checks of the LuCI app(s) in openwrt-feed/luci/ that need no
# OpenWrt tools and no LuCI checkout (the browser test is luci-browser.sh):
# each view compiles as luci.js loads it (node --check) and requires only
# LuCI modules listed in scripts/test/luci/modules.txt, whose packages the
# Makefile depends on; JSON files parse; menu.d and acl.d agree with the
# views (scripts/test/luci/check-app.js). The helper scripts under
# scripts/test/luci/ pass node --check too.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)

if ! command -v node >/dev/null; then
	echo "SKIP: node is not installed (Debian: apt-get install nodejs; scripts/deps.sh does)"
	exit 0
fi

fails=0
for app in "$here"/openwrt-feed/luci/luci-app-*/; do
	echo "-- ${app#"$here"/}"
	node "$here/scripts/test/luci/check-app.js" "$here/scripts/test/luci/modules.txt" "$app" || fails=$((fails + 1))
done

echo "-- scripts/test/luci"
for f in "$here"/scripts/test/luci/*.js "$here"/scripts/test/luci/*.mjs; do
	[ -e "$f" ] || continue
	if node --check "$f"; then echo "ok   node --check ${f#"$here"/}"; else echo "FAIL node --check ${f#"$here"/}"; fails=$((fails + 1)); fi
done

[ "$fails" -eq 0 ]
