#!/usr/bin/env bash
# feeds-real.sh: the packages and signed feeds of scripts/mkfeed.sh, checked
# with OpenWrt's own package tools built from their sources: apk-tools 3
# (apk), opkg-lede (opkg-cl), usign, and uci when present.
#
# Two feeds are built (versions v1.2.3-4-g... and v1.2.3-5-g..., x86_64 and a
# noarch LuCI-style package) with throwaway keys. Then, in empty roots:
#   apk:  apk add from the signed index (key in ROOT/etc/apk/keys, a line in
#         ROOT/etc/apk/repositories.d) with --initdb, files land and the
#         maintainer scripts run in the root as apk runs them (chroot, the
#         root's /bin/sh); apk upgrade keeps a changed /etc/config/knockd;
#         apk add knockd-go-full takes knockd-go's place (the variant with
#         every feature: it provides knockd-go, so the LuCI app stays);
#         apk del removes every file of ours and its post-deinstall removes
#         firewall.knockd from ROOT/etc/config/firewall (real uci in the root);
#   opkg: update with check_signature (usign -V against ROOT/etc/opkg/keys),
#         install, upgrade (changed conffile kept), knockd-go-full refused
#         beside knockd-go (Conflicts) and installed in its place once it is
#         removed, the LuCI app's dependency met by its Provides, remove
#         (postrm removes firewall.knockd with real uci, in the offline root);
# and: apk verify and apk mkndx agree with apkpack, usign and the Go usign
# make the same signatures, and a tampered or foreign-signed index or
# package is refused by apk and opkg.
#
# The tools are found in OPENWRT_TOOLS (a prefix with bin/apk, bin/opkg-cl,
# bin/usign, bin/uci and their lib/), else through apk on PATH. Without them,
# or without root (apk --initdb, chroot), it prints "SKIP: <reason>" and exits
# 0. No network and no SDK are needed; the roots' /bin/sh is a static busybox.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
suite="feeds-real"

skip() {
	echo "SKIP: $suite: $*"
	exit 0
}

tools=${OPENWRT_TOOLS:-}
if [ -z "$tools" ] && p=$(command -v apk 2>/dev/null); then
	tools=$(cd "$(dirname "$p")/.." && pwd)
fi
[ -n "$tools" ] || skip "OpenWrt tools not found: set OPENWRT_TOOLS to the prefix holding bin/apk, bin/opkg-cl and bin/usign (apk-tools 3, opkg-lede, usign built from source)"
for t in apk opkg-cl usign; do
	[ -x "$tools/bin/$t" ] || skip "no $tools/bin/$t (OPENWRT_TOOLS=$tools)"
done
export LD_LIBRARY_PATH="$tools/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
APK=$tools/bin/apk OPKG=$tools/bin/opkg-cl RUSIGN=$tools/bin/usign
"$APK" --version 2>/dev/null | grep -q '^apk-tools 3\.' || skip "$APK is not apk-tools 3"
[ "$(id -u)" = 0 ] || skip "needs root (apk --initdb and the chroot in which apk runs maintainer scripts)"
busybox=$(command -v busybox 2>/dev/null || true)
if [ -z "$busybox" ] || ! file -L "$busybox" | grep -q 'statically linked'; then
	skip "no static busybox for the roots' /bin/sh (Debian: busybox-static)"
fi
uci=""
[ -x "$tools/bin/uci" ] && uci=$tools/bin/uci

# shellcheck source=scripts/test/lib/failfast.bash
. scripts/test/lib/failfast.bash
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then ok "$d"; else fail "$d"; fi
}
not() { ! "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
version_is() { "$1" -V 2>&1 | grep -q "$2"; }
# spa_conf FILE: a knockd.conf with an SPA door (knockd-go leaves SPA out,
# knockd-go-full has it).
spa_conf() {
	printf '%s\n' '[options]' '    firewall = none' '[spa]' '    spa = yes' \
		'    spa_key_base64 = MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=' \
		'    spa_hmac_key_base64 = MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==' \
		'    command = /bin/true' >"$1"
}
# refuses_spa KNOCKD: knockd -k refuses the SPA door, naming knockd-go-full.
refuses_spa() { ! "$1" -k -c "$tmp/spa.conf" >"$tmp/k.log" 2>&1 && grep -q 'spa: SPA (fwknop): not in this build (built with the tag knockd_nospa; the package knockd-go-full has it)' "$tmp/k.log"; }
accepts_spa() { "$1" -k -c "$tmp/spa.conf" >"$tmp/k.log" 2>&1 || { cat "$tmp/k.log"; false; }; }
refuse() { # refuse DESCRIPTION COMMAND...: the command must fail
	local d=$1
	shift
	if "$@" >"$tmp/refused.log" 2>&1; then
		cat "$tmp/refused.log"
		fail "$d"
	fi
	ok "$d ($(grep -v '^Collected errors' "$tmp/refused.log" | grep -m1 -iE 'error|fail|untrusted|mismatch|unknown|bad' | tr -s ' \t' ' ' | cut -c1-100))"
}
echo "tools: $tools ($("$APK" --version | head -1); uci: ${uci:-none})"
# shellcheck source=scripts/lib/pkgtools.bash
. scripts/lib/pkgtools.bash
build_pkgtools "$tmp/tools"

# ---- two feeds -------------------------------------------------------------

# The real LuCI app; luci-base and luci-lib-uqr are not in these feeds, so
# it depends on knockd-go only here.
export OPENWRT_ARCHS=x86_64 ENTWARE_ARCHS="" SOURCE_DATE_EPOCH=1700000000
export MAINTAINER="Test Maintainer <maintainer@example.org>"
export NOARCH_PACKAGES="luci-app-knockd-go|openwrt-feed/luci/luci-app-knockd-go|knockd-go|LuCI support for knockd-go (port knocking and SPA)"
export FEED_KEYS=$tmp/keys
echo "== building feeds v1 and v2"
VERSION=v1.2.3-4-gabcdef0 scripts/mkfeed.sh "$tmp/v1" "$tmp/bin1" >/dev/null 2>"$tmp/build.log" || { cat "$tmp/build.log"; fail "mkfeed v1"; }
VERSION=v1.2.3-5-g1234567 scripts/mkfeed.sh "$tmp/v2" "$tmp/bin2" >/dev/null 2>"$tmp/build.log" || { cat "$tmp/build.log"; fail "mkfeed v2"; }
v1=$tmp/v1/feed v2=$tmp/v2/feed
fp=$("$RUSIGN" -F -p "$v1/keys/knockd-go.usign.pub")
ok "feeds built, usign key $fp"

# ---- keys and signatures -----------------------------------------------------

check "usign -F names the published key file ($fp)" test -f "$v1/keys/$fp"
for v in v1 v2; do
	d=$tmp/$v/feed/openwrt/x86_64
	check "usign -V: the $v feed's Packages.sig verifies with the key directory" \
		"$RUSIGN" -V -q -m "$d/Packages" -P "$v1/keys" -x "$d/Packages.sig"
done
"$RUSIGN" -S -m "$v1/openwrt/x86_64/Packages" -s "$tmp/keys/usign.sec" -x "$tmp/real.sig"
check "usign -S with the Go tool's secret key gives the Go tool's signature, byte for byte" \
	cmp -s "$tmp/real.sig" "$v1/openwrt/x86_64/Packages.sig"
cp "$v1/openwrt/x86_64/Packages" "$tmp/Packages.bad"
sed -i 's/^Size: \([0-9]*\)$/Size: 1\1/' "$tmp/Packages.bad"
refuse "usign -V refuses a changed Packages" "$RUSIGN" -V -m "$tmp/Packages.bad" -P "$v1/keys" -x "$v1/openwrt/x86_64/Packages.sig"

keydir=$v1/keys # holds knockd-go.pem
for f in "$v1"/apk/x86_64/*.apk "$v1/apk/x86_64/packages.adb"; do
	check "apk verify $(basename "$f")" quiet "$APK" verify --keys-dir "$keydir" "$f"
done
"$APK" adbdump --keys-dir "$keydir" "$v1/apk/x86_64/packages.adb" >"$tmp/adbdump" 2>&1 || true
check "apk adbdump reads packages.adb" grep -q "name: knockd-go" "$tmp/adbdump"
mkdir -p "$tmp/ndx"
cp "$v1"/apk/x86_64/*.apk "$tmp/ndx/"
(cd "$tmp/ndx" && "$APK" mkndx --keys-dir "$keydir" --sign-key "$tmp/keys/apk-private.pem" \
	--description "knockd-go x86_64" --output real.adb ./*.apk >/dev/null)
db_of() { "$APKPACK" dump "$1" | sed -n 's/^database: //p' | head -1; }
check "apk mkndx (signing with our key) writes the same index database as apkpack mkndx" \
	test "$(db_of "$tmp/ndx/real.adb")" = "$(db_of "$v1/apk/x86_64/packages.adb")"
check "apkpack verifies the index apk signed" quiet "$APKPACK" verify --keys-dir "$keydir" "$tmp/ndx/real.adb"

# ---- a root with a shell, the OpenWrt functions stand-in, uci, a firewall ----

# copy_with_libs ROOT BIN DEST: BIN into ROOT at DEST with the libraries and
# loader ldd lists at their own paths, so that it runs inside a chroot.
copy_with_libs() {
	local r=$1 bin=$2 dest=$3 l
	mkdir -p "$r$(dirname "$dest")"
	cp -L "$bin" "$r$dest"
	for l in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$r$(dirname "$l")"
		cp -L "$l" "$r$l"
	done
}

# make_root ROOT: /bin/sh (busybox), lib/functions.sh, etc/config/firewall with
# the include the package's uci-defaults registers, and uci.
make_root() {
	local r=$1 a
	mkdir -p "$r/bin" "$r/sbin" "$r/lib" "$r/tmp" "$r/etc/config"
	cp "$busybox" "$r/bin/busybox"
	for a in sh cat grep sed rm mkdir ln basename dirname; do ln -s busybox "$r/bin/$a"; done
	# Stand-ins for OpenWrt's default_postinst / default_prerm: they record
	# how they were called, in the root's /tmp.
	cat >"$r/lib/functions.sh" <<'EOF'
add_group_and_user() { echo "add_group_and_user $pkgname" >>"${IPKG_INSTROOT}/tmp/scripts.log"; }
default_postinst() {
	[ -z "$pkgname" ] && pkgname=$(basename "${1%.*}")
	list="${IPKG_INSTROOT}/lib/apk/packages/$pkgname.list"
	[ -f "$list" ] || list="${IPKG_INSTROOT}/usr/lib/opkg/info/$pkgname.list"
	echo "default_postinst $pkgname upgrade=${PKG_UPGRADE:-0} files=$(grep -c . "$list")" >>"${IPKG_INSTROOT}/tmp/scripts.log"
	# As base-files' on a running system (apk runs the scripts in the
	# root): the package's uci-defaults run now and are removed; in an
	# offline root (opkg's here) they wait for the first boot.
	if [ -z "${IPKG_INSTROOT}" ] && [ -x /sbin/uci ]; then
		for i in $(grep "^/etc/uci-defaults/" "$list"); do
			( [ -f "$i" ] && cd "$(dirname "$i")" && . "$i" ) && rm -f "$i"
		done
		uci commit
	fi
}
default_prerm() {
	[ -z "$pkgname" ] && pkgname=$(basename "${1%.*}")
	echo "default_prerm $pkgname" >>"${IPKG_INSTROOT}/tmp/scripts.log"
}
EOF
	printf "config defaults\n\toption input 'REJECT'\n\n" >"$r/etc/config/firewall"
	printf "config include 'knockd'\n\toption type 'script'\n\toption path '/usr/share/knockd/firewall.include'\n" >>"$r/etc/config/firewall"
	if [ -n "$uci" ]; then
		copy_with_libs "$r" "$uci" /usr/libexec/test/uci
		for l in $(ldd "$uci" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
			ln -sf "$l" "$r/lib/$(basename "$l")"
		done
		ln -s /usr/libexec/test/uci "$r/sbin/uci"
	fi
}
logged() { grep -qx "$2" "$1/tmp/scripts.log"; }
has_knockd_include() { grep -q "^config include 'knockd'" "$1/etc/config/firewall"; }
has_defaults() { grep -q "^config defaults" "$1/etc/config/firewall"; }
host_uci_before=$(ls -la /tmp/.uci 2>/dev/null || true)
host_log_before=$(ls -la /tmp/scripts.log 2>/dev/null || true)

# ---- apk ---------------------------------------------------------------------

echo "== apk"
A=$tmp/apkroot
make_root "$A"
mkdir -p "$A/etc/apk/keys" "$A/etc/apk/repositories.d"
cp "$v1/keys/knockd-go.pem" "$A/etc/apk/keys/"
echo "$v1/apk/x86_64/packages.adb" >"$A/etc/apk/repositories.d/knockd-go.list"
apk_root() { "$APK" --root "$A" --no-cache "$@"; }
apk_root --initdb --arch x86_64 add knockd-go knock-go luci-app-knockd-go >"$tmp/apk.log" 2>&1 || { cat "$tmp/apk.log"; fail "apk add"; }
ok "apk add knockd-go knock-go luci-app-knockd-go from the signed index"
apk_root list --installed >"$tmp/apk.list" 2>&1
for p in knockd-go knock-go luci-app-knockd-go; do
	check "apk list --installed: $p-1.2.3_p4-r1" grep -q "^$p-1.2.3_p4-r1 " "$tmp/apk.list"
done
if [ -n "$uci" ]; then
	check "apk: post-install ran /etc/uci-defaults/90-knockd and removed it (base-files' default_postinst)" \
		test ! -e "$A/etc/uci-defaults/90-knockd"
else
	check "apk: /etc/uci-defaults/90-knockd installed" test -e "$A/etc/uci-defaults/90-knockd"
fi
for f in usr/sbin/knockd usr/bin/knock etc/init.d/knockd etc/config/knockd \
	usr/share/knockd/firewall.include lib/apk/packages/knockd-go.list lib/apk/packages/knockd-go.conffiles \
	usr/libexec/rpcd/knockd usr/share/rpcd/acl.d/knockd-go.json \
	www/luci-static/resources/view/knockd/doors.js www/luci-static/resources/view/knockd/status.js \
	usr/share/luci/menu.d/luci-app-knockd-go.json usr/share/rpcd/acl.d/luci-app-knockd-go.json; do
	check "apk: /$f installed" test -e "$A/$f"
done
check "apk: /etc/config/knockd mode 0600" test "$(stat -c %a "$A/etc/config/knockd")" = 600
check "apk: installed daemon runs (knockd -V)" version_is "$A/usr/sbin/knockd" v1.2.3-4-gabcdef0
check "apk: post-install ran default_postinst in the root, with the .list" logged "$A" "default_postinst knockd-go upgrade=0 files=$(grep -c . "$A/lib/apk/packages/knockd-go.list")"
check "apk: post-install ran add_group_and_user" logged "$A" "add_group_and_user knockd-go"
check "apk: noarch package's post-install ran" logged "$A" "default_postinst luci-app-knockd-go upgrade=0 files=4"

echo "# mine" >>"$A/etc/config/knockd"
echo "$v2/apk/x86_64/packages.adb" >"$A/etc/apk/repositories.d/knockd-go.list"
apk_root upgrade >"$tmp/apk.log" 2>&1 || { cat "$tmp/apk.log"; fail "apk upgrade"; }
ok "apk upgrade to the v2 feed"
check "apk upgrade: daemon is v2" version_is "$A/usr/sbin/knockd" v1.2.3-5-g1234567
check "apk upgrade: changed /etc/config/knockd kept" grep -qx "# mine" "$A/etc/config/knockd"
check "apk upgrade: the package's version next to it (.apk-new)" test -f "$A/etc/config/knockd.apk-new"
check "apk upgrade: post-upgrade ran with PKG_UPGRADE=1" logged "$A" "default_postinst knockd-go upgrade=1 files=$(grep -c . "$A/lib/apk/packages/knockd-go.list")"
check "apk upgrade: no deinstall script ran" not grep -q default_prerm "$A/tmp/scripts.log"
check "apk upgrade: firewall.knockd still there" has_knockd_include "$A"

# knockd-go-full in knockd-go's place.
spa_conf "$tmp/spa.conf"
check "apk: knockd-go's daemon refuses an SPA door, naming knockd-go-full" refuses_spa "$A/usr/sbin/knockd"
cp "$A/lib/apk/packages/knockd-go.list" "$tmp/knockd-go.list"
apk_root add knockd-go-full >"$tmp/apk.log" 2>&1 || { cat "$tmp/apk.log"; fail "apk add knockd-go-full"; }
ok "apk add knockd-go-full"
apk_root list --installed >"$tmp/apk.list" 2>&1
check "apk: knockd-go-full-1.2.3_p5-r1 installed" grep -q "^knockd-go-full-1.2.3_p5-r1 " "$tmp/apk.list"
check "apk: knockd-go no longer installed (knockd-go-full provides it)" not grep -q "^knockd-go-1" "$tmp/apk.list"
check "apk: the LuCI app stays (its dependency on knockd-go met)" grep -q "^luci-app-knockd-go-1.2.3_p5-r1 " "$tmp/apk.list"
check "apk: knockd-go-full's daemon takes the SPA door" accepts_spa "$A/usr/sbin/knockd"
check "apk: knockd-go-full's daemon is v2" version_is "$A/usr/sbin/knockd" v1.2.3-5-g1234567
check "apk: the changed /etc/config/knockd kept" grep -qx "# mine" "$A/etc/config/knockd"
check "apk: knockd-go-full has knockd-go's files" cmp -s <(grep -v '^/lib/apk/packages/' "$tmp/knockd-go.list") \
	<(grep -v '^/lib/apk/packages/' "$A/lib/apk/packages/knockd-go-full.list")
if [ -n "$uci" ]; then
	# knockd-go's post-deinstall ran with its include script gone and
	# removed firewall.knockd; knockd-go-full's post-install, after it, ran
	# the uci-defaults script that registers it again.
	check "apk: firewall.knockd registered again by knockd-go-full's uci-defaults" has_knockd_include "$A"
fi

ours=$(cat "$A"/lib/apk/packages/*.list)
# The world still names knockd-go (added first), which knockd-go-full
# provides: both names go, or apk installs knockd-go again.
apk_root del knockd-go knockd-go-full knock-go luci-app-knockd-go >"$tmp/apk.log" 2>&1 || { cat "$tmp/apk.log"; fail "apk del"; }
ok "apk del knockd-go knockd-go-full knock-go luci-app-knockd-go"
check "apk del: pre-deinstall ran default_prerm" logged "$A" "default_prerm knockd-go-full"
left=""
for f in $ours; do
	[ -e "$A$f" ] || [ -L "$A$f" ] || continue
	[ "$f" = /etc/config/knockd ] && grep -qx "# mine" "$A$f" && continue # the user's, kept by apk
	left="$left $f"
done
check "apk del: no file of ours left (the changed /etc/config/knockd is the user's)${left:+: $left}" test -z "$left"
check "apk del: no .apk-new left" test ! -e "$A/etc/config/knockd.apk-new"
if [ -n "$uci" ]; then
	check "apk del: post-deinstall removed firewall.knockd (uci in the root)" not grep -q knockd "$A/etc/config/firewall"
	check "apk del: other firewall sections kept" has_defaults "$A"
else
	echo "skip: firewall.knockd removal under apk (no $tools/bin/uci)"
fi

# Refusals: an index signed by another key, a package the index does not
# describe, a corrupted index.
FEED_KEYS=$tmp/keys2 scripts/feed-keys.sh "$tmp/keys2" >/dev/null
bad=$tmp/bad-apk
cp -a "$v1/apk/x86_64" "$bad"
(cd "$bad" && "$APKPACK" mkndx --sign-key "$tmp/keys2/apk-private.pem" --output packages.adb ./*.apk)
B=$tmp/apkbad
mkdir -p "$B/etc/apk/keys" "$B/etc/apk/repositories.d"
cp "$v1/keys/knockd-go.pem" "$B/etc/apk/keys/"
echo "$bad/packages.adb" >"$B/etc/apk/repositories.d/knockd-go.list"
refuse "apk add refuses an index signed by an unknown key" "$APK" --root "$B" --no-cache --initdb --arch x86_64 add knock-go
check "apk verify refuses that index" not quiet "$APK" verify --keys-dir "$keydir" "$bad/packages.adb"
cp -a "$v1/apk/x86_64/." "$bad/"
cp "$v2/apk/x86_64/knock-go-1.2.3_p5-r1.apk" "$bad/knock-go-1.2.3_p4-r1.apk"
refuse "apk add refuses a package that does not match the index" "$APK" --root "$B" --no-cache --initdb --arch x86_64 add knock-go
check "apkpack verify catches it too" not quiet "$APKPACK" verify --keys-dir "$keydir" "$bad/packages.adb"
cp "$v1/apk/x86_64/knock-go-1.2.3_p4-r1.apk" "$bad/"
size=$(wc -c <"$bad/packages.adb")
printf '\377' | dd of="$bad/packages.adb" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
refuse "apk add refuses a corrupted index" "$APK" --root "$B" --no-cache --initdb --arch x86_64 add knock-go
check "no package got into the refusing root" test ! -e "$B/usr/bin/knock"
refuse "apk verify refuses a package signed by an unknown key" "$APK" verify --keys-dir "$tmp/keys2" "$v1/apk/x86_64/knock-go-1.2.3_p4-r1.apk"

# ---- opkg --------------------------------------------------------------------

echo "== opkg"
O=$tmp/opkgroot
make_root "$O"
mkdir -p "$O/etc/opkg/keys" "$O/var/lock" "$O/usr/lib/opkg"
cp "$v1/keys/$fp" "$O/etc/opkg/keys/" # what "opkg-key add knockd-go.usign.pub" does
mkdir -p "$tmp/hostbin"
# OpenWrt's opkg-key verify, checking against the offline root's keys.
cat >"$tmp/hostbin/opkg-key" <<EOF
#!/bin/sh
[ "\$1" = verify ] || exit 1
( zcat "\$3" 2>/dev/null || cat "\$3" ) | "$RUSIGN" -V -P "$O/etc/opkg/keys" -q -x "\$2" -m -
EOF
chmod 0755 "$tmp/hostbin/opkg-key"
if [ -n "$uci" ]; then
	# The postrm runs on the host in an offline root (IPKG_INSTROOT): uci from PATH.
	printf '#!/bin/sh\nexec "%s" "$@"\n' "$uci" >"$tmp/hostbin/uci"
	chmod 0755 "$tmp/hostbin/uci"
fi
opkg_conf() { # opkg_conf FEEDDIR
	printf '%s\n' "dest root /" "lists_dir ext /var/opkg-lists" "arch all 1" "arch noarch 1" "arch x86_64 10" \
		"option check_signature 1" "option verify_program $tmp/hostbin/opkg-key" "src/gz knockd_go file://$1" >"$tmp/opkg.conf"
}
opkg_root() { PATH="$tmp/hostbin:$PATH" IPKG_INSTROOT=$O "$OPKG" -f "$tmp/opkg.conf" -o "$O" --offline-root "$O" --force-postinstall "$@"; }

opkg_conf "$v1/openwrt/x86_64"
opkg_root update >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg update"; }
check "opkg update: signature check passed" grep -q "Signature check passed" "$tmp/opkg.log"
opkg_root install knockd-go knock-go luci-app-knockd-go >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg install"; }
ok "opkg install knockd-go knock-go luci-app-knockd-go (check_signature on)"
check "opkg: no /lib/upgrade/keep.d/knockd-go (the one conffile is in conffiles)" test ! -e "$O/lib/upgrade/keep.d/knockd-go"
for f in usr/sbin/knockd usr/bin/knock etc/init.d/knockd etc/config/knockd \
	usr/libexec/rpcd/knockd usr/share/rpcd/acl.d/knockd-go.json \
	www/luci-static/resources/view/knockd/doors.js www/luci-static/resources/view/knockd/status.js \
	usr/share/luci/menu.d/luci-app-knockd-go.json usr/share/rpcd/acl.d/luci-app-knockd-go.json; do
	check "opkg: /$f installed" test -e "$O/$f"
done
check "opkg: installed daemon runs (knockd -V)" version_is "$O/usr/sbin/knockd" v1.2.3-4-gabcdef0
check "opkg: postinst ran default_postinst in the offline root" logged "$O" "default_postinst knockd-go upgrade=0 files=$(grep -c . "$O/usr/lib/opkg/info/knockd-go.list")"
check "opkg: conffile recorded" grep -q '^ /etc/config/knockd ' "$O/usr/lib/opkg/status"

echo "# mine" >>"$O/etc/config/knockd"
opkg_conf "$v2/openwrt/x86_64"
opkg_root update >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg update v2"; }
opkg_root upgrade knockd-go knock-go luci-app-knockd-go >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg upgrade"; }
ok "opkg upgrade to the v2 feed"
check "opkg upgrade: daemon is v2" version_is "$O/usr/sbin/knockd" v1.2.3-5-g1234567
check "opkg upgrade: changed conffile kept" grep -qx "# mine" "$O/etc/config/knockd"
check "opkg upgrade: the package's version next to it (-opkg)" test -f "$O/etc/config/knockd-opkg"
check "opkg upgrade: postinst ran with PKG_UPGRADE=1" logged "$O" "default_postinst knockd-go upgrade=1 files=$(grep -c . "$O/usr/lib/opkg/info/knockd-go.list")"
check "opkg upgrade: postrm upgrade left firewall.knockd" has_knockd_include "$O"

# knockd-go-full in knockd-go's place: refused beside it (Conflicts), then
# installed once knockd-go is removed (the LuCI app kept: --force-depends),
# as docs/packages.md says.
check "opkg: knockd-go's daemon refuses an SPA door, naming knockd-go-full" refuses_spa "$O/usr/sbin/knockd"
refuse "opkg install knockd-go-full refuses while knockd-go is installed" opkg_root install knockd-go-full
check "opkg names the conflict" grep -qi "conflict" "$tmp/refused.log"
ours=$(cat "$O"/usr/lib/opkg/info/*.list)
opkg_root remove --force-depends knockd-go >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg remove --force-depends knockd-go"; }
opkg_root install knockd-go-full >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg install knockd-go-full"; }
ok "opkg remove --force-depends knockd-go, opkg install knockd-go-full"
opkg_root list-installed >"$tmp/opkg.list" 2>&1
check "opkg: knockd-go-full installed" grep -q "^knockd-go-full - " "$tmp/opkg.list"
check "opkg: the LuCI app stays installed" grep -q "^luci-app-knockd-go - " "$tmp/opkg.list"
opkg_root install luci-app-knockd-go >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg install luci-app-knockd-go beside knockd-go-full"; }
opkg_root list-installed >"$tmp/opkg.list" 2>&1
check "opkg: the LuCI app's dependency is met by knockd-go-full (no knockd-go pulled in)" not grep -q "^knockd-go - " "$tmp/opkg.list"
check "opkg: knockd-go-full's daemon takes the SPA door" accepts_spa "$O/usr/sbin/knockd"
check "opkg: the changed conffile kept" grep -qx "# mine" "$O/etc/config/knockd"
check "opkg: knockd-go-full's /etc/uci-defaults/90-knockd waits for the first boot" test -f "$O/etc/uci-defaults/90-knockd"
if [ -n "$uci" ]; then
	# knockd-go's postrm removed firewall.knockd (its include script was
	# gone); the uci-defaults script registers it again when it runs.
	chroot "$O" /bin/sh /etc/uci-defaults/90-knockd
	check "opkg: that script registers firewall.knockd again" has_knockd_include "$O"
fi

ours="$ours $(cat "$O"/usr/lib/opkg/info/*.list)"
opkg_root remove luci-app-knockd-go knock-go >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg remove luci-app-knockd-go knock-go"; }
opkg_root remove knockd-go-full >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg remove knockd-go-full"; }
ok "opkg remove (the LuCI app and client, then the daemon)"
check "opkg remove: prerm ran default_prerm" logged "$O" "default_prerm knockd-go-full"
left=""
for f in $ours; do
	[ -e "$O$f" ] || [ -L "$O$f" ] || continue
	[ "$f" = /etc/config/knockd ] && grep -qx "# mine" "$O$f" && continue # kept by opkg: changed by the user
	left="$left $f"
done
check "opkg remove: no file of ours left (the changed conffile is the user's)${left:+: $left}" test -z "$left"
check "opkg remove: package state gone" test ! -e "$O/usr/lib/opkg/info/knockd-go-full.list"
if [ -n "$uci" ]; then
	check "opkg remove: postrm removed firewall.knockd in the offline root (real uci)" not grep -q knockd "$O/etc/config/firewall"
	check "opkg remove: other firewall sections kept" has_defaults "$O"
	check "opkg remove: uci's change files stayed in the offline root" test "$(ls -la /tmp/.uci 2>/dev/null || true)" = "$host_uci_before"
else
	echo "skip: firewall.knockd removal under opkg (no $tools/bin/uci)"
fi

# Refusals: Packages changed after signing, a feed signed by another key, a
# package whose checksum does not match Packages.
bad=$tmp/bad-opkg
cp -a "$v1/openwrt/x86_64" "$bad"
sed -i 's/^Description: Port-knocking daemon/Description: Evil daemon/' "$bad/Packages"
gzip -9nc "$bad/Packages" >"$bad/Packages.gz"
opkg_conf "$bad"
opkg_root update >"$tmp/opkg.log" 2>&1 || true
check "opkg update: a changed Packages fails the signature check" grep -q "Signature check failed" "$tmp/opkg.log"
refuse "opkg install then has no package list to install from" opkg_root install knock-go
cp -a "$v1/openwrt/x86_64/." "$bad/"
"$USIGN" -S -m "$bad/Packages" -s "$tmp/keys2/usign.sec" -x "$bad/Packages.sig"
opkg_root update >"$tmp/opkg.log" 2>&1 || true
check "opkg update: a feed signed by another key fails the signature check" grep -q "Signature check failed" "$tmp/opkg.log"
cp -a "$v1/openwrt/x86_64/." "$bad/"
cp "$v2/openwrt/x86_64/knock-go_1.2.3+5.g1234567-1_x86_64.ipk" "$bad/knock-go_1.2.3+4.gabcdef0-1_x86_64.ipk"
opkg_root update >"$tmp/opkg.log" 2>&1 || { cat "$tmp/opkg.log"; fail "opkg update of the swapped-package feed"; }
refuse "opkg install refuses a package whose SHA256sum does not match Packages" opkg_root install knock-go
check "no package got into the root" test ! -e "$O/usr/bin/knock"
check "the maintainer scripts wrote nothing on the host" test "$(ls -la /tmp/scripts.log 2>/dev/null || true)" = "$host_log_before"

all_passed
