#!/usr/bin/env bash
# openwrt-tools.sh: build OpenWrt's own programs and files for the real-tool
# test tiers (fw4-real.sh, feeds-real.sh, pkg-versions-real.sh,
# openwrt-real.sh, luci-browser.sh) into a prefix, from their upstream
# sources at the commits of scripts/openwrt-tools.commits, so anyone with
# those sources gets the same tools.
#
# Usage: scripts/openwrt-tools.sh SOURCES PREFIX
#
# SOURCES/NAME is a git checkout of each NAME of openwrt-tools.commits at its
# commit (checked; a checkout at another commit is refused). PREFIX gets:
#   bin/ ucode ubus uci usign opkg-cl apk jshn jsonfilter uhttpd,
#   sbin/ ubusd procd udebugd, lib/ their libraries (programs find them
#   through their RUNPATH), uhttpd's ubus and ucode handlers
#   (uhttpd_ubus.so, uhttpd_ucode.so) and ucode's modules (fs, uci, ubus,
#   uloop, ...);
#   openwrt-root/ OpenWrt's files at their OpenWrt paths: firewall4's
#   (sbin/fw4, usr/share/firewall4, usr/share/ucode/fw4.uc), rpcd
#   (sbin/rpcd, looking for its plugins in /usr/libexec/rpcd and its ACLs
#   in /usr/share/rpcd/acl.d, where unauthenticated.json is), the shell
#   library (etc/rc.common, lib/functions.sh, lib/functions/{network,
#   procd,service,system}.sh, lib/config/uci.sh, usr/share/libubox/jshn.sh,
#   sbin/reload_config), sbin/uci -> /usr/bin/uci (uci.sh calls /sbin/uci),
#   lib/libsetlbf.so (procd's), empty etc/init.d and etc/rc.d;
#   share/openwrt-defaults/config/firewall (firewall4's stock configuration);
#   luci/ luci-base's files as a router has them installed (docs/luci.md):
#   www/luci-static (luci-base, luci-lib-uqr, luci-theme-bootstrap) and root/
#   (luci-base's etc/config/luci, usr/share/{acl.d,luci/menu.d,rpcd/acl.d});
#   node/node_modules/playwright-core for luci-browser.sh, when npm is here
#   (else: npm install --prefix PREFIX/node playwright-core@1.65.2).
# Then: OPENWRT_TOOLS=PREFIX bash scripts/test/fw4-real.sh (and the others).
# PREFIX must not be under /tmp or /run: owrt-ns (openwrt-real.sh,
# luci-browser.sh) mounts fresh ones, and the programs' RUNPATH names PREFIX.
#
# Needs git, a C compiler (cc), cmake, meson, ninja, pkg-config and the -dev
# packages of json-c, openssl, zlib, zstd and libcrypt (Debian: git gcc
# cmake meson ninja-build pkg-config libjson-c-dev libssl-dev zlib1g-dev
# libzstd-dev libcrypt-dev; scripts/deps.sh does not install them; CI has no
# OpenWrt tools and the tiers print SKIP there); npm for playwright-core.
# On a C library without strlcpy (glibc before 2.38, as Debian 12's), procd
# is linked with a small strlcpy this script writes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "openwrt-tools.sh: $*" >&2; exit 1; }
case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; esac
[ $# -eq 2 ] || die "usage: openwrt-tools.sh SOURCES PREFIX"
src=$(cd "$1" && pwd) || die "no directory $1"
mkdir -p "$2"
P=$(cd "$2" && pwd -P)
case "$P/" in
/tmp/* | /run/* | /var/run/*) die "PREFIX $P is under /tmp or /run, which owrt-ns (openwrt-real.sh, luci-browser.sh) mounts afresh: choose another" ;;
esac
cc=${CC:-cc}
for t in cmake meson ninja pkg-config git "$cc"; do command -v "$t" >/dev/null || die "needs $t"; done

# Every source at its listed commit.
while read -r name repo commit; do
	case "$name" in '' | '#'*) continue ;; esac
	[ -d "$src/$name/.git" ] || die "no git checkout $src/$name (git clone $repo $src/$name && git -C $src/$name checkout $commit)"
	have=$(git -C "$src/$name" rev-parse HEAD)
	[ "$have" = "$commit" ] || die "$src/$name is at $have, want $commit ($repo)"
done <"$here/openwrt-tools.commits"

build=$P/.build
rm -rf "$build"
mkdir -p "$build" "$P/bin" "$P/sbin" "$P/lib"
export PKG_CONFIG_PATH=$P/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
cflags="-I$P/include -Wno-error"
ldflags="-L$P/lib -Wl,-rpath,$P/lib"
# The cmake builds' compiles run through this: -Wno-error after the flags
# the sources add themselves (-Werror, set for their developers' compiler:
# a newer one's warnings, e.g. procd's format-overflow, must not stop them).
printf '#!/bin/sh\nexec "$@" -Wno-error\n' >"$build/no-werror"
chmod 0755 "$build/no-werror"

# cmake_build NAME [CMAKE OPTIONS...]: configure, build and install one
# source out of tree (options given later win). From the environment:
# srcdir (default SOURCES/NAME), xcflags and xldflags (added to the
# compiler's and linker's flags), destdir (DESTDIR of the install).
cmake_build() {
	local name=$1 dir=${srcdir:-$src/$1} bdir=$build/$1
	shift
	echo "== $name"
	# An in-tree build (jsonpath's generated parser): the copy is the build directory.
	[ "$dir" = "$src/$name" ] || bdir=$dir
	cmake -S "$dir" -B "$bdir" -G Ninja -DCMAKE_INSTALL_PREFIX="$P" -DCMAKE_INSTALL_LIBDIR=lib \
		-DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$P" -DCMAKE_INSTALL_RPATH="$P/lib" \
		-DCMAKE_C_COMPILER_LAUNCHER="$build/no-werror" \
		-DCMAKE_C_FLAGS="$cflags${xcflags:+ $xcflags}" -DCMAKE_EXE_LINKER_FLAGS="$ldflags${xldflags:+ $xldflags}" \
		-DCMAKE_SHARED_LINKER_FLAGS="$ldflags" -DCMAKE_MODULE_LINKER_FLAGS="$ldflags" "$@" >"$build/$name.log" 2>&1 ||
		{ tail -30 "$build/$name.log"; die "$name: cmake failed"; }
	DESTDIR=${destdir:-} ninja -C "$bdir" install >>"$build/$name.log" 2>&1 ||
		{ tail -30 "$build/$name.log"; die "$name: build failed"; }
}

cmake_build libubox -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF -DABIVERSION=
cmake_build ubus -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
cmake_build uci -DBUILD_LUA=OFF
# ucode: the modules firewall4, the netifd stub and luci-browser.sh's LuCI
# stand-in need; fw4's own module is found in /usr/share/ucode, where
# OpenWrt puts it.
cmake_build ucode -DUBUS_SUPPORT=ON -DUCI_SUPPORT=ON -DULOOP_SUPPORT=ON -DFS_SUPPORT=ON \
	-DRTNL_SUPPORT=OFF -DNL80211_SUPPORT=OFF -DDIGEST_SUPPORT=OFF -DDIGEST_SUPPORT_EXTENDED=OFF \
	-DZLIB_SUPPORT=OFF -DDEBUG_SUPPORT=OFF \
	-DLIB_SEARCH_PATH="$P/lib/ucode/*.so:$P/share/ucode/*.uc:/usr/share/ucode/*.uc:./*.so:./*.uc"
cmake_build usign
cmake_build opkg-lede -DBUILD_TESTS=OFF -DPATH_SPEC="/usr/sbin:/usr/bin:/sbin:/bin"

echo "== apk-tools"
(cd "$src/apk-tools" && meson setup "$build/apk-tools" --prefix="$P" --libdir=lib \
	-Ddocs=disabled -Dlua=disabled -Dpython=disabled -Dtests=disabled -Dhelp=disabled \
	-Dc_args="$cflags" -Dc_link_args="$ldflags" >"$build/apk-tools.log" 2>&1) ||
	{ tail -30 "$build/apk-tools.log"; die "apk-tools: meson setup failed"; }
ninja -C "$build/apk-tools" install >>"$build/apk-tools.log" 2>&1 || { tail -30 "$build/apk-tools.log"; die "apk-tools: build failed"; }

# udebug: procd links libudebug.
cmake_build udebug
# jsonpath, installed as OpenWrt does: /usr/bin/jsonfilter. Its build
# generates the parser in the source directory: built in a copy.
cp -R "$src/jsonpath" "$build/jsonpath-src"
rm -rf "$build/jsonpath-src/.git"
srcdir=$build/jsonpath-src cmake_build jsonpath
mv "$P/bin/jsonpath" "$P/bin/jsonfilter"

# procd as OpenWrt's default package (no ujail, seccomp or utrace). It uses
# strlcpy, which glibc has only since 2.38: a C library without it gets
# one, declared to procd's sources and linked into its programs.
compat_cflags="" compat_ldflags=""
printf '#include <string.h>\nint main(void) { char b[2]; return (int)strlcpy(b, "x", sizeof(b)); }\n' >"$build/has-strlcpy.c"
if ! "$cc" -Werror=implicit-function-declaration -o "$build/has-strlcpy" "$build/has-strlcpy.c" >/dev/null 2>&1; then
	mkdir -p "$build/compat"
	printf '#include <stddef.h>\nsize_t strlcpy(char *dst, const char *src, size_t size);\n' >"$build/compat/strlcpy.h"
	cat >"$build/compat/strlcpy.c" <<'EOF'
#include <string.h>
#include "strlcpy.h"

/* Copy src into dst of size bytes, always terminated when size > 0;
 * returns strlen(src), as the BSDs' and glibc 2.38's strlcpy. */
size_t strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
EOF
	"$cc" -O2 -fPIC -c -o "$build/compat/strlcpy.o" "$build/compat/strlcpy.c" || die "procd: cannot compile the strlcpy shim"
	compat_cflags="-include $build/compat/strlcpy.h"
	compat_ldflags=$build/compat/strlcpy.o
fi
xcflags=$compat_cflags xldflags=$compat_ldflags cmake_build procd -DJAIL_SUPPORT=OFF -DSECCOMP_SUPPORT=OFF -DUTRACE_SUPPORT=OFF
# Only procd runs here (not init, udevtrigger, askfirst, upgraded: owrt-ns
# would put them on PATH).
rm -f "$P/sbin/init" "$P/sbin/udevtrigger" "$P/sbin/askfirst" "$P/sbin/upgraded"

# rpcd: its plugin (/usr/libexec/rpcd), ACL (/usr/share/rpcd/acl.d) and
# library directories are its install prefix, /usr on OpenWrt; installed
# into a staging directory, then at OpenWrt's path /sbin/rpcd. No plugin
# libraries (file, rpc-sys, iwinfo, ucode: the tiers' plugins are
# executables).
rm -rf "$build/rpcd-root"
destdir=$build/rpcd-root cmake_build rpcd -DCMAKE_INSTALL_PREFIX=/usr \
	-DFILE_SUPPORT=OFF -DIWINFO_SUPPORT=OFF -DRPCSYS_SUPPORT=OFF -DUCODE_SUPPORT=OFF
# uhttpd with its ubus (/ubus JSON-RPC) and ucode handlers, no TLS or Lua.
cmake_build uhttpd -DTLS_SUPPORT=OFF -DLUA_SUPPORT=OFF -DUBUS_SUPPORT=ON -DUCODE_SUPPORT=ON

# ubusd is a daemon: OpenWrt installs it in sbin.
[ ! -x "$P/bin/ubusd" ] || mv "$P/bin/ubusd" "$P/sbin/ubusd"

# ---- openwrt-root: OpenWrt's files at their paths on a router -----------------
echo "== openwrt-root"
O=$P/openwrt-root
ow=$src/openwrt/package
rm -rf "$O"
mkdir -p "$O/sbin" "$O/etc/init.d" "$O/etc/rc.d" "$O/lib/functions" "$O/lib/config" \
	"$O/usr/share/ucode" "$O/usr/share/libubox" "$O/usr/share/rpcd/acl.d" "$P/share/openwrt-defaults/config"
# firewall4
install -m 0755 "$src/firewall4/root/sbin/fw4" "$O/sbin/fw4"
cp -R "$src/firewall4/root/usr/share/firewall4" "$O/usr/share/"
cp "$src/firewall4/root/usr/share/ucode/fw4.uc" "$O/usr/share/ucode/fw4.uc"
cp "$src/firewall4/root/etc/config/firewall" "$P/share/openwrt-defaults/config/firewall"
# base-files' shell library, procd's and uci's shell files, libubox's jshn.sh
install -m 0755 "$ow/base-files/files/etc/rc.common" "$O/etc/rc.common"
cp "$ow/base-files/files/lib/functions.sh" "$O/lib/functions.sh"
for f in network service system; do
	cp "$ow/base-files/files/lib/functions/$f.sh" "$O/lib/functions/$f.sh"
done
cp "$ow/system/procd/files/procd.sh" "$O/lib/functions/procd.sh"
install -m 0755 "$ow/system/procd/files/reload_config" "$O/sbin/reload_config"
cp "$ow/system/uci/files/lib/config/uci.sh" "$O/lib/config/uci.sh"
cp "$P/share/libubox/jshn.sh" "$O/usr/share/libubox/jshn.sh"
ln -s /usr/bin/uci "$O/sbin/uci"
# procd's line-buffering preload for the instances' stdout and stderr
cp "$P/lib/libsetlbf.so" "$O/lib/libsetlbf.so"
# rpcd
install -m 0755 "$build/rpcd-root/usr/sbin/rpcd" "$O/sbin/rpcd"
cp "$src/rpcd/unauthenticated.json" "$O/usr/share/rpcd/acl.d/unauthenticated.json"

# ---- luci: luci-base's files as installed on a router (docs/luci.md) ---------
echo "== luci"
L=$P/luci
lu=$src/luci
rm -rf "$L"
mkdir -p "$L/www" "$L/root/etc/config"
cp -R "$lu/modules/luci-base/htdocs/luci-static" "$L/www/"
cp -R "$lu/libs/luci-lib-uqr/htdocs/luci-static/." "$L/www/luci-static/"
cp -R "$lu/themes/luci-theme-bootstrap/htdocs/luci-static/." "$L/www/luci-static/"
cp "$lu/modules/luci-base/root/etc/config/luci" "$L/root/etc/config/"
cp -R "$lu/modules/luci-base/root/usr" "$L/root/"
# luci-base's rpcd ucode plugin needs LuCI's C module, which is not here.
rm -rf "$L/root/usr/share/rpcd/ucode"

for f in bin/ucode bin/ubus bin/uci bin/usign bin/opkg-cl bin/apk bin/jshn bin/jsonfilter bin/uhttpd \
	sbin/ubusd sbin/procd lib/ucode/fs.so lib/ucode/uci.so lib/ucode/ubus.so lib/ucode/uloop.so \
	lib/uhttpd_ubus.so lib/uhttpd_ucode.so openwrt-root/sbin/fw4 openwrt-root/sbin/rpcd \
	openwrt-root/etc/rc.common openwrt-root/lib/functions/procd.sh openwrt-root/lib/functions/network.sh \
	luci/www/luci-static/resources/luci.js luci/www/luci-static/resources/uqr.js \
	luci/www/luci-static/bootstrap/cascade.css luci/root/usr/share/luci/menu.d/luci-base.json; do
	[ -e "$P/$f" ] || die "missing $P/$f after the build"
done
rm -rf "$build"

# ---- playwright-core for luci-browser.sh (not OpenWrt's; from npm) -----------
pw=playwright-core@1.65.2
if command -v npm >/dev/null; then
	echo "== $pw (npm)"
	mkdir -p "$P/node"
	npm install --prefix "$P/node" --no-audit --no-fund --loglevel=error "$pw" >/dev/null ||
		echo "openwrt-tools.sh: npm install failed; luci-browser.sh needs: npm install --prefix $P/node $pw" >&2
else
	echo "openwrt-tools.sh: no npm; luci-browser.sh needs: npm install --prefix $P/node $pw" >&2
fi
echo "openwrt-tools.sh: $P ready (OPENWRT_TOOLS=$P)"
