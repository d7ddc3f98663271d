#!/usr/bin/env bash
# ipk-install.sh: build every .ipk with scripts/mkipk.sh, check the container,
# control fields and binaries (ELF class, byte order, machine, static, Go build
# settings per architecture), check that builds are reproducible, then install
# packages into empty roots with scripts/install-ipk.sh and check the layout,
# modes, opkg state, conffile handling and that postinst ran against the root
# (IPKG_INSTROOT) without touching the host. Then, without apk-tools or
# OpenWrt's usign: build the .apk files (scripts/mkapk.sh) and the signed
# feeds (scripts/mkfeed.sh) and read them back with the project's own tools
# (apkpack, usign): every .apk holds the files of its .ipk plus OpenWrt's
# /lib/apk/packages files and scripts, signatures verify and tampering is
# caught. scripts/test/feeds-real.sh does the same with the real tools.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
suite="ipk-install"
# shellcheck source=scripts/test/lib/failfast.bash
. scripts/test/lib/failfast.bash
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then ok "$d"; else fail "$d"; fi
}
strict() { [ "${KNOCKD_GO_STRICT:-}" = 1 ]; }

version=1.2.3-4-gabcdef0
pkgver=1.2.3+4.gabcdef0-1
epoch=1700000000
export SOURCE_DATE_EPOCH=$epoch
# One maintainer for every package (and the feed Makefile of make dist).
export MAINTAINER="Test Maintainer <maintainer@example.org>"

# A synthetic overlay, so that init script, UCI config and nftables include are
# checked whatever files/ holds today. Source modes are deliberately sloppy.
ov=$tmp/files
mkdir -p "$ov/etc/init.d" "$ov/etc/config" "$ov/usr/share/nftables.d/table-post"
printf '#!/bin/sh /etc/rc.common\nSTART=95\nSTOP=10\nUSE_PROCD=1\n' >"$ov/etc/init.d/knockd"
printf "config knockd 'global'\n\toption enabled '0'\n" >"$ov/etc/config/knockd"
printf 'set knockd_v4 { type ipv4_addr; flags timeout; }\n' >"$ov/usr/share/nftables.d/table-post/20-knockd.nft"
echo "not shipped" >"$ov/README.md"
chmod 0644 "$ov/etc/init.d/knockd"
chmod 0666 "$ov/etc/config/knockd"

# A synthetic LuCI app for the architecture-independent package hook.
luci=$tmp/luci-app-test
mkdir -p "$luci/htdocs/luci-static/resources/view/knockd" "$luci/root/usr/share/rpcd/acl.d" "$luci/root/usr/libexec/rpcd"
echo "'use strict';" >"$luci/htdocs/luci-static/resources/view/knockd/doors.js"
echo '{}' >"$luci/root/usr/share/rpcd/acl.d/luci-app-test.json"
printf '#!/bin/sh
echo {}
' >"$luci/root/usr/libexec/rpcd/luci.test"
chmod 0755 "$luci/root/usr/libexec/rpcd/luci.test"
export NOARCH_PACKAGES="luci-app-test|$luci|luci-base, knockd-go|LuCI support for knockd-go (test)"

echo "== building packages"
VERSION=$version FILES_DIR=$ov scripts/mkipk.sh "$tmp/pk" "$tmp/bin"
# Rebuild a sample (the same code makes every package) from a fresh copy of the
# binaries and the overlay: the bytes must not change.
cp -a "$tmp/bin" "$tmp/bin2"
cp -a "$ov" "$tmp/files2"
touch "$tmp/files2/etc/config/knockd" "$tmp/bin2/mips/knockd"
VERSION=$version FILES_DIR=$tmp/files2 OPENWRT_ARCHS="mips_24kc x86_64" ENTWARE_ARCHS="armv7-2.6" \
	scripts/mkipk.sh "$tmp/pk2" "$tmp/bin2" >/dev/null
n=0
for f in "$tmp"/pk2/openwrt/*.ipk "$tmp"/pk2/entware/*.ipk; do
	cmp -s "$f" "$tmp/pk/${f#"$tmp/pk2/"}" || fail "$(basename "$f") differs between two builds"
	n=$((n + 1))
done
[ "$n" = 9 ] || fail "reproducibility check compared $n packages, want 9 (with the noarch one)"
ok "two builds give byte-identical packages ($n compared)"
for m in "knockd-go developers" "Name <no-address>" ""; do
	if MAINTAINER=$m GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME=$tmp \
		VERSION=$version OPENWRT_ARCHS=x86_64 ENTWARE_ARCHS="" scripts/mkipk.sh "$tmp/pkbad" "$tmp/bin" >/dev/null 2>"$tmp/bad.log" ||
		! grep -q "set MAINTAINER='Name <email>'" "$tmp/bad.log"; then
		cat "$tmp/bad.log"
		fail "MAINTAINER='$m' (no git identity) accepted, or refused without saying how to set it"
	fi
done
ok "a maintainer not in 'Name <email>' form is refused, naming MAINTAINER"

# ---- helpers ---------------------------------------------------------------

# elf_info FILE prints "class byteorder machine interp": class 32/64,
# byteorder LE/BE, e_machine number, interp yes/no (a PT_INTERP header).
elf_info() {
	local f=$1 h class data machine phoff phent phnum i ptype
	read -r -a h < <(od -An -tu1 -v -N64 "$f" | tr -s ' \n' '  ')
	[ "${h[0]}.${h[1]}.${h[2]}.${h[3]}" = "127.69.76.70" ] || { echo "not-elf"; return; }
	class=${h[4]} data=${h[5]}
	num() { # num OFFSET LEN from the header bytes, in the file's byte order
		local o=$1 n=$2 v=0 k
		for ((k = 0; k < n; k++)); do
			if [ "$data" = 1 ]; then v=$((v + h[o + k] * (1 << (8 * k)))); else v=$(((v << 8) + h[o + k])); fi
		done
		echo "$v"
	}
	machine=$(num 18 2)
	if [ "$class" = 1 ]; then
		phoff=$(num 28 4) phent=$(num 42 2) phnum=$(num 44 2)
	else
		phoff=$(num 32 8) phent=$(num 54 2) phnum=$(num 56 2)
	fi
	local interp=no
	for ((i = 0; i < phnum; i++)); do
		read -r -a p < <(od -An -tu1 -v -j $((phoff + i * phent)) -N4 "$f")
		if [ "$data" = 1 ]; then
			ptype=$((p[0] | p[1] << 8 | p[2] << 16 | p[3] << 24))
		else
			ptype=$((p[3] | p[2] << 8 | p[1] << 16 | p[0] << 24))
		fi
		[ "$ptype" = 3 ] && interp=yes # PT_INTERP
	done
	echo "$([ "$class" = 1 ] && echo 32 || echo 64) $([ "$data" = 1 ] && echo LE || echo BE) $machine $interp"
}

# expect_elf ARCH: the ELF identity and Go build settings a binary must have.
expect_elf() {
	case "$1" in
	mips_* | mips-*) echo "32 BE 8 no|GOARCH=mips GOMIPS=softfloat" ;;
	mipsel_* | mipsel-*) echo "32 LE 8 no|GOARCH=mipsle GOMIPS=softfloat" ;;
	arm_cortex-a7_neon-vfpv4 | armv7-3.2) echo "32 LE 40 no|GOARCH=arm GOARM=7" ;;
	arm_cortex-a9 | armv7-2.6 | armv5-3.2) echo "32 LE 40 no|GOARCH=arm GOARM=5" ;;
	aarch64_* | aarch64-*) echo "64 LE 183 no|GOARCH=arm64" ;;
	x86_64 | x64-*) echo "64 LE 62 no|GOARCH=amd64" ;;
	*) echo "unknown" ;;
	esac
}

# tar_headers FILE: all headers GNU/ustar (no pax), owner 0:0, mtime = epoch.
tar_headers() {
	local f=$1 off=0 total name size type magic uid gid mtime
	total=$(wc -c <"$f")
	while [ $((off + 512)) -le "$total" ]; do
		name=$(dd if="$f" bs=512 skip=$((off / 512)) count=1 2>/dev/null | head -c 100 | tr -d '\0')
		[ -n "$name" ] || return 0
		field() { dd if="$f" bs=1 skip=$((off + $1)) count="$2" 2>/dev/null | tr -d '\0 '; }
		size=$(field 124 12) type=$(field 156 1) magic=$(field 257 6)
		uid=$(field 108 8) gid=$(field 116 8) mtime=$(field 136 12)
		[ "$magic" = ustar ] || { echo "$name: magic '$magic'"; return 1; }
		case "$type" in 0 | 2 | 5 | L) ;; *) echo "$name: typeflag '$type'"; return 1 ;; esac
		if [ $((8#$uid)) != 0 ] || [ $((8#$gid)) != 0 ]; then
			echo "$name: owner $uid:$gid"
			return 1
		fi
		[ $((8#$mtime)) = "$epoch" ] || { echo "$name: mtime $((8#$mtime))"; return 1; }
		off=$((off + 512 + (8#$size + 511) / 512 * 512))
	done
}

mode_of() { stat -c %a "$1"; }

# ---- every package ---------------------------------------------------------

# shellcheck disable=SC2016 # the text of the generated scripts
openwrt_postinst='#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@'
# shellcheck disable=SC2016
openwrt_prerm='#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@'

# The postrm of openwrt-feed/net/knockd-go/Makefile, as make expands it.
sed -n '/^define Package\/knockd-go\/postrm$/,/^endef$/p' openwrt-feed/net/knockd-go/Makefile |
	sed '1d;$d; s/\$\$/$/g' >"$tmp/feed-postrm"
grep -q 'uci .*delete firewall.knockd' "$tmp/feed-postrm" || fail "feed Makefile: no postrm removing firewall.knockd"
# Its conffiles: the one answer the .ipk, the .apk and sysupgrade follow.
feed_conffiles=$(sed -n '/^define Package\/knockd-go\/conffiles$/,/^endef$/p' openwrt-feed/net/knockd-go/Makefile | sed '1d;$d')

# The tags and -X of the feed's daemons (go version -m: comma-separated).
fw4_tags=$(scripts/cross.sh --fw4-tags | tr ' ' ,)
fw4_full_tags=$(scripts/cross.sh --fw4-full-tags | tr ' ' ,)
fw4_ldx=$(scripts/cross.sh --fw4-ldx)
count=0
for f in "$tmp"/pk/openwrt/*.ipk "$tmp"/pk/entware/*.ipk; do
	[ "${f%_all.ipk}" = "$f" ] || continue # the noarch package: below
	base=$(basename "$f" .ipk)
	flavour=$(basename "$(dirname "$f")")
	IFS=_ read -r name ver arch <<<"$base"
	u=$tmp/u/$flavour/$base
	mkdir -p "$u/control" "$u/data"
	gzip -dc "$f" >"$u/outer.tar"
	[ "$(tar -tf "$u/outer.tar" | tr '\n' ' ')" = "./debian-binary ./data.tar.gz ./control.tar.gz " ] ||
		fail "$base: outer members $(tar -tf "$u/outer.tar" | tr '\n' ' ')"
	tar -xf "$u/outer.tar" -C "$u"
	[ "$(cat "$u/debian-binary")" = 2.0 ] || fail "$base: debian-binary"
	gzip -dc "$u/data.tar.gz" >"$u/data.tar"
	gzip -dc "$u/control.tar.gz" >"$u/control.tar"
	for t in outer data control; do
		msg=$(tar_headers "$u/$t.tar") || fail "$base: $t tar: $msg"
	done
	tar -xf "$u/data.tar" -C "$u/data"
	tar -xf "$u/control.tar" -C "$u/control"
	c=$u/control/control
	get() { sed -n "s/^$1: //p" "$c"; }
	[ "$(get Package)" = "$name" ] || fail "$base: Package $(get Package)"
	[ "$(get Version)" = "$pkgver" ] || fail "$base: Version $(get Version), want $pkgver"
	[ "$ver" = "$pkgver" ] || fail "$base: file name version $ver"
	[ "$(get Architecture)" = "$arch" ] || fail "$base: Architecture $(get Architecture)"
	[ "$(get Installed-Size)" = "$(wc -c <"$u/data.tar")" ] || fail "$base: Installed-Size"
	[ "$(get SourceDateEpoch)" = "$epoch" ] || fail "$base: SourceDateEpoch"
	[ "$(get Section)" = net ] || fail "$base: Section"
	for k in Description Source; do
		[ -n "$(get $k)" ] || fail "$base: no $k"
	done
	[ "$(get Maintainer)" = "$MAINTAINER" ] || fail "$base: Maintainer '$(get Maintainer)', want MAINTAINER's '$MAINTAINER'"
	grep -q '^Depends:' "$c" && fail "$base: a static binary needs no Depends"
	grep -q '^ .*Static Go binary\.$' "$c" || fail "$base: Description continuation lines"

	case "$flavour/$name" in
	openwrt/knockd-go | openwrt/knockd-go-full) bin=usr/sbin/knockd ;;
	openwrt/knock-go) bin=usr/bin/knock ;;
	entware/knockd-go) bin=opt/sbin/knockd ;;
	entware/knock-go) bin=opt/bin/knock ;;
	*) fail "$base: unexpected package" ;;
	esac
	[ -f "$u/data/$bin" ] || fail "$base: no /$bin"
	[ "$(mode_of "$u/data/$bin")" = 755 ] || fail "$base: /$bin mode $(mode_of "$u/data/$bin")"
	want=$(expect_elf "$arch")
	got=$(elf_info "$u/data/$bin")
	[ "$got" = "${want%%|*}" ] || fail "$base: /$bin is ELF '$got', want '${want%%|*}' (class order machine interp)"
	bi=$(go version -m "$u/data/$bin")
	for kv in ${want#*|} CGO_ENABLED=0; do
		grep -q "build[[:space:]]$kv\$" <<<"$bi" || fail "$base: /$bin not built with $kv"
	done
	grep -qaF -- "$version" "$u/data/$bin" || fail "$base: version $version not embedded"
	case "$flavour/$name" in
	openwrt/knockd-go)
		grep -q "build[[:space:]]-tags=$fw4_tags\$" <<<"$bi" || fail "$base: OpenWrt's knockd-go not built with -tags $fw4_tags"
		# -trimpath leaves -ldflags out of the build information: the value.
		grep -qaF -- "${fw4_ldx#*=}" "$u/data/$bin" || fail "$base: OpenWrt's knockd-go does not name ${fw4_ldx#*=} (-X $fw4_ldx)"
		[ "$(get Conflicts)" = knockd ] || fail "$base: Conflicts '$(get Conflicts)', want the feed Makefile's knockd"
		[ -z "$(get Provides)" ] || fail "$base: Provides '$(get Provides)'"
		;;
	openwrt/knockd-go-full)
		grep -q "build[[:space:]]-tags=$fw4_full_tags\$" <<<"$bi" || fail "$base: OpenWrt's knockd-go-full not built with -tags $fw4_full_tags"
		! grep -qaF -- "${fw4_ldx#*=}" "$u/data/$bin" || fail "$base: knockd-go-full names another package"
		[ "$(get Conflicts)" = "knockd, knockd-go" ] || fail "$base: Conflicts '$(get Conflicts)', want the feed Makefile's knockd, knockd-go"
		[ "$(get Provides)" = knockd-go ] || fail "$base: Provides '$(get Provides)', want knockd-go"
		;;
	entware/knockd-go) ! grep -q "build[[:space:]]-tags=" <<<"$bi" || fail "$base: Entware's knockd built with tags (it needs the iptables backend)" ;;
	esac

	if [ "$flavour" = openwrt ]; then
		[ "$(cat "$u/control/postinst")" = "$openwrt_postinst" ] || fail "$base: postinst text"
		[ "$(cat "$u/control/prerm")" = "$openwrt_prerm" ] || fail "$base: prerm text"
		[ "$(mode_of "$u/control/postinst")" = 755 ] || fail "$base: postinst mode"
	else
		[ ! -e "$u/control/postinst" ] || fail "$base: Entware packages have no postinst"
	fi
	if [ -f "$u/control/conffiles" ]; then
		while read -r cf; do
			[ -f "$u/data$cf" ] || fail "$base: conffile $cf not in data"
		done <"$u/control/conffiles"
	fi
	case "$flavour/$name" in
	openwrt/knockd-go | openwrt/knockd-go-full)
		[ "$(cat "$u/control/conffiles")" = "$feed_conffiles" ] || fail "$base: conffiles are not the feed Makefile's"
		[ ! -e "$u/data/lib/upgrade/keep.d/$name" ] ||
			fail "$base: a keep.d file (every feed conffile is shipped and listed in conffiles)"
		[ ! -e "$u/data/etc/knockd.conf" ] || fail "$base: /etc/knockd.conf shipped (OpenWrt reads /etc/config/knockd)"
		cmp -s "$u/control/postrm" "$tmp/feed-postrm" || fail "$base: postrm is not the feed Makefile's"
		[ "$(mode_of "$u/control/postrm")" = 755 ] || fail "$base: postrm mode"
		[ "$(mode_of "$u/data/etc/init.d/knockd")" = 755 ] || fail "$base: init script mode"
		[ "$(mode_of "$u/data/etc/config/knockd")" = 600 ] || fail "$base: UCI config mode"
		[ "$(mode_of "$u/data/usr/share/nftables.d/table-post/20-knockd.nft")" = 644 ] || fail "$base: nft include mode"
		[ ! -e "$u/data/README.md" ] || fail "$base: README.md shipped"
		# default_postinst creates the daemon's user (the feed's USERID).
		[ "$(get Require-User)" = knockd:knockd ] || fail "$base: Require-User is not the feed Makefile's USERID knockd:knockd"
		;;
	entware/knockd-go)
		[ "$(cat "$u/control/conffiles")" = /opt/etc/knockd.conf ] || fail "$base: conffiles"
		[ "$(mode_of "$u/data/opt/etc/init.d/S05knockd")" = 755 ] || fail "$base: S05knockd mode"
		[ "$(mode_of "$u/data/opt/etc/knockd.conf")" = 600 ] || fail "$base: knockd.conf mode"
		cmp -s "$u/data/opt/etc/knockd.conf" scripts/entware/knockd.conf || fail "$base: sample config"
		;;
	esac
	[ -z "$(cd "$u/data" && find . -type f ! -path './usr/*' ! -path './etc/*' ! -path './opt/*' ! -path './lib/upgrade/keep.d/*')" ] ||
		fail "$base: files outside /usr, /etc, /opt, /lib/upgrade/keep.d"
	[ "$name" = knockd-go ] || [ "$name" = knockd-go-full ] || [ ! -e "$u/control/postrm" ] ||
		fail "$base: only knockd-go and knockd-go-full have a postrm"
	count=$((count + 1))
done
# OpenWrt: knockd-go, knockd-go-full and knock-go for 6 architectures;
# Entware: knockd-go and knock-go for 7.
[ "$count" = 32 ] || fail "expected 32 packages, found $count"
ok "$count packages: container, headers (GNU, 0:0, mtime), control fields, ELF identity, static, GOARCH/GOMIPS/GOARM, scripts, conffiles, modes"

# ---- the architecture-independent package (NOARCH_PACKAGES) ------------------

na=$tmp/pk/openwrt/luci-app-test_${pkgver}_all.ipk
check "noarch package built as <name>_<version>_all.ipk" test -f "$na"
u=$tmp/u/noarch
mkdir -p "$u/control" "$u/data"
tar -xzOf "$na" ./control.tar.gz | tar -xzf - -C "$u/control"
tar -xzOf "$na" ./data.tar.gz | tar -xzf - -C "$u/data"
get() { sed -n "s/^$1: //p" "$u/control/control"; }
check "noarch: Architecture: all" test "$(get Architecture)" = all
check "noarch: Depends from the list entry" test "$(get Depends)" = "luci-base, knockd-go"
check "noarch: htdocs/ installed to /www" test -f "$u/data/www/luci-static/resources/view/knockd/doors.js"
check "noarch: root/ installed to /" test -f "$u/data/usr/share/rpcd/acl.d/luci-app-test.json"
check "noarch: rpcd plugin stays executable" test "$(mode_of "$u/data/usr/libexec/rpcd/luci.test")" = 755
check "noarch: OpenWrt's postinst and prerm" test "$(cat "$u/control/postinst")" = "$openwrt_postinst" -a "$(cat "$u/control/prerm")" = "$openwrt_prerm"
check "noarch: a LuCI app gets luci.mk's postinst (rpcd reload)" grep -q 'killall -HUP rpcd' "$u/control/postinst-pkg"

# ---- postrm: firewall.knockd goes with the package, not with an upgrade -------

pr=$tmp/postrm-root
mkdir -p "$pr/etc/config" "$tmp/ucibin"
cat >"$tmp/ucibin/uci" <<'EOF'
#!/bin/sh
# stand-in uci: logs its arguments; "get firewall.knockd.path" answers the include
echo "uci $*" >>"$UCI_LOG"
case " $* " in *" get firewall.knockd.path "*) echo /usr/share/knockd/firewall.include ;; esac
exit 0
EOF
chmod 0755 "$tmp/ucibin/uci"
run_postrm() { # run_postrm ROOT ARGS...: as opkg runs it for an offline root
	local root=$1
	shift
	: >"$tmp/uci.log"
	PATH="$tmp/ucibin:$PATH" UCI_LOG=$tmp/uci.log IPKG_INSTROOT=$root sh "$tmp/feed-postrm" "$@"
}
run_postrm "$pr" upgrade 1.2.3
check "postrm upgrade: uci not called" test ! -s "$tmp/uci.log"
run_postrm "$pr" remove
check "postrm remove: deletes firewall.knockd in the root's config" grep -qx "uci -q -c $pr/etc/config -t $pr/tmp/.uci delete firewall.knockd" "$tmp/uci.log"
check "postrm remove: commits firewall" grep -qx "uci -q -c $pr/etc/config -t $pr/tmp/.uci commit firewall" "$tmp/uci.log"
mkdir -p "$pr/usr/share/knockd"
: >"$pr/usr/share/knockd/firewall.include"
run_postrm "$pr" remove
check "postrm, include script still there (another version installed): uci not called" test ! -s "$tmp/uci.log"
: >"$tmp/uci.log"
PATH="$tmp/ucibin:$PATH" UCI_LOG=$tmp/uci.log sh "$tmp/feed-postrm" 1.2.3_p4-r1 # apk's post-deinstall on the router
check "post-deinstall on a live system: plain uci (no -c)" grep -qx "uci -q delete firewall.knockd" "$tmp/uci.log"

# ---- the real files/ tree is shipped as it is --------------------------------

files=${KNOCKD_GO_SRC:-$PWD}/files
VERSION=$version OPENWRT_ARCHS=x86_64 ENTWARE_ARCHS="" scripts/mkipk.sh "$tmp/real" "$tmp/bin" >/dev/null
real_ipk=$tmp/real/openwrt/knockd-go_${pkgver}_x86_64.ipk
mkdir -p "$tmp/real/u"
tar -xzOf "$real_ipk" ./data.tar.gz | tar -xzf - -C "$tmp/real/u"
n=0
if [ -d "$files" ]; then
	while IFS= read -r -d '' p; do
		p=${p#./}
		[ -f "$tmp/real/u/$p" ] || fail "files/$p not shipped"
		cmp -s "$files/$p" "$tmp/real/u/$p" || fail "files/$p changed on the way"
		case "$p" in etc/init.d/* | usr/libexec/rpcd/*)
			[ "$(mode_of "$tmp/real/u/$p")" = 755 ] || fail "/$p not 0755" ;;
		esac
		n=$((n + 1))
	done < <(cd "$files" && find . -mindepth 2 -type f ! -path './.*' -print0)
fi
ok "all $n files under files/ are in knockd-go at their path"
if [ -f "$tmp/real/u/etc/config/knockd" ]; then
	rr=$tmp/root-real
	scripts/install-ipk.sh -a x86_64 "$real_ipk" "$rr" >/dev/null
	check "the shipped daemon accepts the shipped /etc/config/knockd" \
		"$rr/usr/sbin/knockd" -u "$rr/etc/config/knockd" -k
fi

# ---- install: OpenWrt ------------------------------------------------------

host_before=$(ls -d /etc/rc.d/S*knockd /etc/init.d/knockd /etc/config/knockd /tmp/postinst.log 2>/dev/null || true)

# A root with a stand-in /lib/functions.sh and /etc/rc.common that behave like
# OpenWrt's for an offline root: default_postinst enables the package's init
# scripts through "$root/etc/rc.common <script> enable", which creates
# $IPKG_INSTROOT/etc/rc.d/S<START><name> and K<STOP><name>.
r=$tmp/root-openwrt
mkdir -p "$r/lib" "$r/etc" "$r/tmp"
cat >"$r/lib/functions.sh" <<'EOF'
default_postinst() {
	local root="${IPKG_INSTROOT}" pkgname filelist i
	pkgname=$(basename "${1%.*}")
	filelist="/usr/lib/opkg/info/${pkgname}.list"
	echo "postinst pkg=$pkgname root=$root upgrade=$PKG_UPGRADE args=$2" >>"$root/tmp/postinst.log"
	for i in $(grep -s "^/etc/init.d/" "$root$filelist"); do
		/bin/sh "$root/etc/rc.common" "$root$i" enable
	done
}
default_prerm() {
	echo "prerm pkg=$(basename "${1%.*}") root=${IPKG_INSTROOT}" >>"${IPKG_INSTROOT}/tmp/postinst.log"
}
EOF
cat >"$r/etc/rc.common" <<'EOF'
initscript=$1
name=$(basename "$initscript")
START=$(sed -n 's/^START=//p' "$initscript")
STOP=$(sed -n 's/^STOP=//p' "$initscript")
[ "$2" = enable ] || exit 1
mkdir -p "$IPKG_INSTROOT/etc/rc.d"
[ -n "$START" ] && ln -sf "../init.d/$name" "$IPKG_INSTROOT/etc/rc.d/S${START}${name}"
[ -n "$STOP" ] && ln -sf "../init.d/$name" "$IPKG_INSTROOT/etc/rc.d/K${STOP}${name}"
exit 0
EOF

ipk=$tmp/pk/openwrt/knockd-go_${pkgver}_x86_64.ipk
if scripts/install-ipk.sh -a mips_24kc "$ipk" "$tmp/wrong" >/dev/null 2>&1; then
	fail "installer accepted an x86_64 package for mips_24kc"
fi
ok "installer refuses a package for another architecture"

scripts/install-ipk.sh -a x86_64 "$ipk" "$r"
check "daemon installed 0755" test "$(mode_of "$r/usr/sbin/knockd")" = 755
check "init script installed 0755" test "$(mode_of "$r/etc/init.d/knockd")" = 755
check "UCI config installed 0600" test "$(mode_of "$r/etc/config/knockd")" = 600
check "nftables include installed" test -f "$r/usr/share/nftables.d/table-post/20-knockd.nft"
check "file list recorded" grep -qx /usr/sbin/knockd "$r/usr/lib/opkg/info/knockd-go.list"
check "control and scripts recorded" test -x "$r/usr/lib/opkg/info/knockd-go.postinst" -a -x "$r/usr/lib/opkg/info/knockd-go.prerm" -a -f "$r/usr/lib/opkg/info/knockd-go.control"
check "status says installed" grep -q '^Status: install user installed$' "$r/usr/lib/opkg/status"
check "conffile recorded with its checksum" grep -qx " /etc/config/knockd $(md5sum <"$r/etc/config/knockd" | cut -d' ' -f1)" "$r/usr/lib/opkg/status"
check "postinst ran default_postinst with IPKG_INSTROOT=root" grep -qx "postinst pkg=knockd-go root=$r upgrade=0 args=configure" "$r/tmp/postinst.log"
check "init script enabled inside the root (S95)" test "$(readlink "$r/etc/rc.d/S95knockd")" = ../init.d/knockd
check "init script enabled inside the root (K10)" test "$(readlink "$r/etc/rc.d/K10knockd")" = ../init.d/knockd
out=$("$r/usr/sbin/knockd" -V 2>&1 || true)
check "installed daemon runs: '$out'" test "${out#"knockd $version"}" != "$out"

# The user edits the config, then the same package is installed again.
echo "# mine" >>"$r/etc/config/knockd"
scripts/install-ipk.sh -a x86_64 "$ipk" "$r" >/dev/null
check "changed conffile kept" grep -qx "# mine" "$r/etc/config/knockd"
check "new conffile put at -opkg" cmp -s "$r/etc/config/knockd-opkg" "$ov/etc/config/knockd"
check "reinstall runs postinst as an upgrade" grep -qx "postinst pkg=knockd-go root=$r upgrade=1 args=configure" "$r/tmp/postinst.log"
check "one status entry per package" test "$(grep -c '^Package: knockd-go$' "$r/usr/lib/opkg/status")" = 1

# postinst honours IPKG_NO_SCRIPT, and does nothing without functions.sh.
: >"$r/tmp/postinst.log"
IPKG_NO_SCRIPT=1 IPKG_INSTROOT=$r sh "$r/usr/lib/opkg/info/knockd-go.postinst" configure
check "IPKG_NO_SCRIPT=1 skips default_postinst" test ! -s "$r/tmp/postinst.log"
r2=$tmp/root-bare
scripts/install-ipk.sh "$ipk" "$r2" >/dev/null
check "without lib/functions.sh postinst is a no-op" test ! -e "$r2/etc/rc.d" -a ! -e "$r2/tmp/postinst.log"

scripts/install-ipk.sh -a x86_64 "$tmp/pk/openwrt/knock-go_${pkgver}_x86_64.ipk" "$r" >/dev/null
out=$("$r/usr/bin/knock" -V 2>&1 || true)
check "client installed and runs: '$out'" test "${out#"knock $version"}" != "$out"
check "two packages in the status file" test "$(grep -c '^Package: ' "$r/usr/lib/opkg/status")" = 2

host_after=$(ls -d /etc/rc.d/S*knockd /etc/init.d/knockd /etc/config/knockd /tmp/postinst.log 2>/dev/null || true)
check "host untouched (no rc.d link, init script, config or log outside the roots)" test "$host_before" = "$host_after"

# ---- install: Entware ------------------------------------------------------

e=$tmp/root-entware
scripts/install-ipk.sh -a x64-3.2 "$tmp/pk/entware/knockd-go_${pkgver}_x64-3.2.ipk" "$e"
check "Entware state in /opt/lib/opkg" test -f "$e/opt/lib/opkg/status" -a ! -e "$e/usr"
check "Entware daemon, service script and config" test "$(mode_of "$e/opt/sbin/knockd")$(mode_of "$e/opt/etc/init.d/S05knockd")$(mode_of "$e/opt/etc/knockd.conf")" = 755755600
check "Entware conffile recorded" grep -q '^ /opt/etc/knockd.conf ' "$e/opt/lib/opkg/status"
check "Entware prerm recorded" test -x "$e/opt/lib/opkg/info/knockd-go.prerm"
check "Entware prerm does nothing in an offline root" env IPKG_INSTROOT="$e" sh "$e/opt/lib/opkg/info/knockd-go.prerm"
check "S05knockd is an rc.func script" grep -q '^\. /opt/etc/init.d/rc.func$' "$e/opt/etc/init.d/S05knockd"
# Run it against a stand-in rc.func that prints what it was given.
mkdir -p "$tmp/rcf"
sed "s|/opt/etc/init.d/rc.func|$tmp/rcf/rc.func|" "$e/opt/etc/init.d/S05knockd" >"$tmp/rcf/S05"
# shellcheck disable=SC2016 # expanded by the stand-in, not here
printf 'echo "ENABLED=$ENABLED PROCS=$PROCS ARGS=$ARGS"\n' >"$tmp/rcf/rc.func"
PATH=/usr/bin:/bin sh "$tmp/rcf/S05" start >"$tmp/rcf/out"
check "S05knockd hands rc.func the daemon and its arguments" grep -qx "ENABLED=yes PROCS=knockd ARGS=-d -i eth0 -c /opt/etc/knockd.conf" "$tmp/rcf/out"

# ---- .apk (OpenWrt 25.12) and the signed feeds, read back with our own tools ----

echo "== apk packages and feeds"
apkver=1.2.3_p4-r1
root=$PWD
# shellcheck source=scripts/lib/pkgtools.bash
. scripts/lib/pkgtools.bash
build_pkgtools "$tmp/tools"
scripts/feed-keys.sh "$tmp/keys" >/dev/null
scripts/feed-keys.sh "$tmp/keys2" >/dev/null
pub=$tmp/keys/apk-public.pem
IPK_DIR=$tmp/pk/openwrt APK_SIGN_KEY=$tmp/keys/apk-private.pem VERSION=$version \
	scripts/mkapk.sh "$tmp/pk" "$tmp/bin" >"$tmp/mkapk.log" || { cat "$tmp/mkapk.log"; fail "mkapk.sh"; }

# list_tree DIR: "path mode type [target]" of everything under DIR.
list_tree() { (cd "$1" && find . -mindepth 1 -printf '%P %m %y %l\n' | LC_ALL=C sort); }
# post-install and pre-deinstall as package-pack.mk writes them for PKG.
# shellcheck disable=SC2016 # the text of the generated scripts
apk_postinst() {
	printf '%s\n' '#!/bin/sh' '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0' '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0' \
		'. ${IPKG_INSTROOT}/lib/functions.sh' 'export root="${IPKG_INSTROOT}"' "export pkgname=\"$1\"" 'add_group_and_user' 'default_postinst'
}
# shellcheck disable=SC2016
apk_prerm() {
	printf '%s\n' '#!/bin/sh' '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0' '. ${IPKG_INSTROOT}/lib/functions.sh' \
		'export root="${IPKG_INSTROOT}"' "export pkgname=\"$1\"" 'default_prerm'
}

n=0
for ipk in "$tmp"/pk/openwrt/*.ipk; do
	IFS=_ read -r name _ arch <<<"$(basename "$ipk" .ipk)"
	[ "$arch" = all ] && arch=noarch
	apkf=$tmp/pk/apk/$arch/$name-$apkver.apk
	[ -f "$apkf" ] || fail "no $apkf for $(basename "$ipk")"
	"$APKPACK" verify --key "$pub" "$apkf" >/dev/null || fail "$name ($arch): signature or data does not verify"
	if "$APKPACK" verify --key "$tmp/keys2/apk-public.pem" "$apkf" >/dev/null 2>&1; then
		fail "$name ($arch): verified with another key"
	fi
	x=$tmp/ax/$arch-$name
	mkdir -p "$x/ipk" "$x/scripts" "$x/control"
	"$APKPACK" extract --key "$pub" --scripts "$x/scripts" "$apkf" "$x/apk" || fail "$name ($arch): extract"
	tar -xzOf "$ipk" ./data.tar.gz | tar -xzf - -C "$x/ipk"
	tar -xzOf "$ipk" ./control.tar.gz | tar -xzf - -C "$x/control"
	# Same files, modes and links as the .ipk, plus /lib/apk/packages.
	list_tree "$x/ipk" >"$tmp/tree.ipk"
	list_tree "$x/apk" | grep -v '^lib/apk\( \|/\)' >"$tmp/tree.apk"
	grep -q '^lib ' "$tmp/tree.ipk" || sed -i '/^lib /d' "$tmp/tree.apk"
	diff "$tmp/tree.ipk" "$tmp/tree.apk" >"$tmp/tree.diff" ||
		{ cat "$tmp/tree.diff"; fail "$name ($arch): .apk tree differs from the .ipk's"; }
	m=$x/apk/lib/apk/packages
	(cd "$x/ipk" && find . \( -type f -o -type l \) | sed 's|^\.||' | LC_ALL=C sort) >"$tmp/list.want"
	cmp -s "$m/$name.list" "$tmp/list.want" || fail "$name ($arch): $name.list is not the package's files and links"
	if [ -f "$x/control/conffiles" ]; then
		cmp -s "$m/$name.conffiles" "$x/control/conffiles" || fail "$name ($arch): .conffiles"
		while read -r cf sum; do
			[ "$(sha256sum <"$x/apk$cf" | cut -d' ' -f1)" = "$sum" ] || fail "$name ($arch): .conffiles_static $cf"
		done <"$m/$name.conffiles_static"
		[ -s "$m/$name.conffiles_static" ] || fail "$name ($arch): empty .conffiles_static"
	else
		[ ! -e "$m/$name.conffiles" ] || fail "$name ($arch): .conffiles without conffiles"
	fi
	# The users default_postinst creates: the .ipk's Require-User.
	ru=$(sed -n 's/^Require-User: //p' "$x/control/control")
	if [ -n "$ru" ]; then
		[ "$(cat "$m/$name.rusers" 2>/dev/null)" = "$ru" ] || fail "$name ($arch): .rusers is not the .ipk's Require-User"
	else
		[ ! -e "$m/$name.rusers" ] || fail "$name ($arch): .rusers without Require-User"
	fi
	mv "$m" "$x/packages"
	rmdir "$x/apk/lib/apk" && { rmdir "$x/apk/lib" 2>/dev/null || true; }
	diff -r "$x/ipk" "$x/apk" >/dev/null || fail "$name ($arch): file contents differ from the .ipk's"
	# Scripts of package-pack.mk.
	want=$(apk_postinst "$name")
	[ -f "$x/control/postinst-pkg" ] && want="$want"$'\n'$(sed '/^[[:space:]]*#!/d' "$x/control/postinst-pkg")
	[ "$(cat "$x/scripts/post-install")" = "$want" ] || fail "$name ($arch): post-install text"
	[ "$(cat "$x/scripts/post-upgrade")" = "$(printf '#!/bin/sh\nexport PKG_UPGRADE=1\n')"$'\n'"$(sed 1d "$x/scripts/post-install")" ] ||
		fail "$name ($arch): post-upgrade text"
	[ "$(cat "$x/scripts/pre-deinstall")" = "$(apk_prerm "$name")" ] || fail "$name ($arch): pre-deinstall text"
	if [ "$name" = knockd-go ] || [ "$name" = knockd-go-full ]; then
		cmp -s "$x/scripts/post-deinstall" "$tmp/feed-postrm" || fail "$name ($arch): post-deinstall is not the feed's postrm"
	else
		[ ! -e "$x/scripts/post-deinstall" ] || fail "$name ($arch): unexpected post-deinstall"
	fi
	"$APKPACK" dump "$apkf" >"$x/dump"
	grep -qx "package: $name $apkver $arch" "$x/dump" || fail "$name ($arch): name, version, arch: $(head -1 "$x/dump")"
	# knockd-go-full provides knockd-go (versioned: one of the two is
	# installed); knockd-go, the default variant, is the preferred provider.
	case $name in
	knockd-go-full) want="knockd-go=$apkver $name-any" ;; # sorted, as apk stores them
	*) want="$name-any" ;;
	esac
	grep -qx "  provides: $want" "$x/dump" || fail "$name ($arch): provides '$(sed -n 's/^  provides: //p' "$x/dump")', want '$want'"
	case $name in
	knockd-go) grep -qx "  provider-priority: 100" "$x/dump" || fail "$name ($arch): no provider-priority 100 (the default variant)" ;;
	*) ! grep -q "provider-priority" "$x/dump" || fail "$name ($arch): a provider-priority" ;;
	esac
	grep -qx "  license: MIT" "$x/dump" || fail "$name ($arch): license"
	grep -qxF "  maintainer: $MAINTAINER" "$x/dump" || fail "$name ($arch): maintainer is not MAINTAINER's"
	case $name in
	luci-app-test) want="knockd-go luci-base" ;; # sorted, as apk stores them
	*) want="" ;;
	esac
	[ "$(sed -n 's/^  depends: //p' "$x/dump")" = "$want" ] || fail "$name ($arch): depends"
	grep -q '^file /usr/sbin/knockd 0755 root:root [0-9]* 1700000000 ' "$x/dump" || [ "${name#knockd-go}" = "$name" ] ||
		fail "$name ($arch): daemon mode, owner or mtime (SOURCE_DATE_EPOCH)"
	n=$((n + 1))
done
[ "$n" = 19 ] || fail "checked $n .apk, want 19 (6 architectures x 3 + 1 noarch)"
ok "$n .apk: signed, data verified, same files and modes as the .ipk, .list/.conffiles/.conffiles_static, package-pack.mk's scripts, info fields"

# Reproducible apart from the signature: the databases of a rebuild match.
IPK_DIR=$tmp/pk2/openwrt APK_SIGN_KEY=$tmp/keys/apk-private.pem VERSION=$version \
	scripts/mkapk.sh "$tmp/pk2" "$tmp/bin2" >/dev/null
n=0
for f in "$tmp"/pk2/apk/*/*.apk; do
	a=$("$APKPACK" dump "$f" | sed -n 's/^database: //p')
	b=$("$APKPACK" dump "$tmp/pk/${f#"$tmp/pk2/"}" | sed -n 's/^database: //p')
	if [ -z "$a" ] || [ "$a" != "$b" ]; then
		fail "$(basename "$f"): database differs between two builds"
	fi
	n=$((n + 1))
done
[ "$n" = 7 ] || fail "apk reproducibility check compared $n packages, want 7"
ok "two builds give identical .apk databases ($n compared; ECDSA signatures differ by design)"

# The feeds.
FEED_KEYS=$tmp/keys PKG_DIR=$tmp/pk scripts/mkfeed.sh "$tmp/out" >"$tmp/mkfeed.log" || { cat "$tmp/mkfeed.log"; fail "mkfeed.sh"; }
feed=$tmp/out/feed
fp=$("$USIGN" -F -p "$tmp/keys/usign.pub")
check "feed keys: knockd-go.pem is the apk public key" cmp -s "$feed/keys/knockd-go.pem" "$pub"
check "feed keys: the usign key, also under its fingerprint $fp" cmp -s "$feed/keys/$fp" "$tmp/keys/usign.pub"
check "no private key in the feed" test -z "$(grep -rl 'PRIVATE KEY\|private key' "$feed" || true)"
check "every package's size reported" test "$(grep -c '^  [a-z]*/.*[0-9]  \(ok\|OVER\)' "$tmp/mkfeed.log")" = "$(find "$feed" -name '*.ipk' -o -name '*.apk' | wc -l)"
n=0
for d in "$feed"/openwrt/* "$feed"/entware/*; do
	a=$(basename "$d")
	"$USIGN" -V -q -m "$d/Packages" -P "$feed/keys" -x "$d/Packages.sig" || fail "$a: Packages.sig does not verify"
	cmp -s <(gzip -dc "$d/Packages.gz") "$d/Packages" || fail "$a: Packages.gz is not Packages"
	for ipk in "$d"/*.ipk; do
		b=$(basename "$ipk")
		stanza=$(awk -v f="Filename: $b" '$0 == f { on = 1 } on && /^$/ { exit } on' "$d/Packages")
		[ -n "$stanza" ] || fail "$a: $b not in Packages"
		grep -qx "Size: $(wc -c <"$ipk")" <<<"$stanza" || fail "$a: $b: Size"
		grep -qx "SHA256sum: $(sha256sum "$ipk" | cut -d' ' -f1)" <<<"$stanza" || fail "$a: $b: SHA256sum"
	done
	[ "$(grep -c '^Package: ' "$d/Packages")" = "$(find "$d" -name '*.ipk' | wc -l)" ] || fail "$a: Packages entries"
	n=$((n + 1))
done
[ "$n" = 13 ] || fail "$n opkg feeds, want 13"
check "opkg feeds hold the Architecture: all package" test -f "$feed/openwrt/mips_24kc/luci-app-test_${pkgver}_all.ipk"
check "Entware feeds do not" test -z "$(find "$feed/entware" -name '*_all.ipk')"
ok "$n opkg feeds: Packages.sig verifies (usign), Packages.gz, Size and SHA256sum of every package"
cp "$feed/openwrt/x86_64/Packages" "$tmp/Packages.bad"
sed -i 's/^Version: .*/Version: 9.9.9-1/' "$tmp/Packages.bad"
if "$USIGN" -V -q -m "$tmp/Packages.bad" -P "$feed/keys" -x "$feed/openwrt/x86_64/Packages.sig"; then
	fail "a changed Packages verified"
fi
ok "a changed Packages fails the usign check"
n=0
for d in "$feed"/apk/*; do
	a=$(basename "$d")
	"$APKPACK" verify --keys-dir "$feed/keys" "$d/packages.adb" >/dev/null || fail "apk/$a: index or packages do not verify"
	"$APKPACK" dump "$d/packages.adb" >"$tmp/ndx"
	for p in "knock-go $apkver $a" "knockd-go $apkver $a" "knockd-go-full $apkver $a" "luci-app-test $apkver noarch"; do
		grep -qx "package: $p" "$tmp/ndx" || fail "apk/$a: index lacks $p"
	done
	grep -q '^index: .*4 packages, 1 signatures' "$tmp/ndx" || fail "apk/$a: $(head -1 "$tmp/ndx")"
	n=$((n + 1))
done
[ "$n" = 6 ] || fail "$n apk feeds, want 6"
ok "$n apk feeds: packages.adb signed, lists every package (noarch too) with the identity and size of the file next to it"
bad=$tmp/bad-apk
cp -a "$feed/apk/x86_64" "$bad"
cp "$feed/apk/mips_24kc/knock-go-$apkver.apk" "$bad/knock-go-$apkver.apk"
if "$APKPACK" verify --keys-dir "$feed/keys" "$bad/packages.adb" >/dev/null 2>&1; then
	fail "an index verified with a package it does not describe"
fi
ok "a package swapped behind the index is caught"
(cd "$bad" && cp "$feed/apk/x86_64/knock-go-$apkver.apk" . && "$APKPACK" mkndx --sign-key "$tmp/keys2/apk-private.pem" --output packages.adb ./*.apk)
if "$APKPACK" verify --keys-dir "$feed/keys" "$bad/packages.adb" >/dev/null 2>&1; then
	fail "an index signed by another key verified"
fi
ok "an index signed by another key is refused"

# ---- the sample knockd.conf is valid knockd 0.8 syntax -------------------------

if command -v knockd >/dev/null && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	sed "s|^\(\s*LogFile\s*=\).*|\1 $tmp/knockd.log|" scripts/entware/knockd.conf >"$tmp/knockd.conf"
	set +e
	outp=$(unshare -n sh -c "ip link set lo up && timeout 2 knockd -c '$tmp/knockd.conf' -i lo" 2>&1)
	rc=$?
	set -e
	[ "$rc" = 124 ] || fail "knockd 0.8 rejected the sample config (rc=$rc): $outp"
	ok "knockd 0.8 accepts scripts/entware/knockd.conf"
elif strict; then
	fail "knockd 0.8, root and unshare are needed to check the sample config (KNOCKD_GO_STRICT=1)"
else
	echo "skip: knockd 0.8 sample-config check (needs knockd, root, unshare)"
fi

all_passed
