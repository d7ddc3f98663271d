#!/usr/bin/env bash
# openwrt-tools.sh: build OpenWrt's own programs for the real-tool test
# tiers (fw4-real.sh, feeds-real.sh, pkg-versions-real.sh) into a prefix,
# from their upstream sources at the commits of scripts/openwrt-tools.commits,
# so anyone with those sources gets the same tools.
#
# Usage: scripts/openwrt-tools.sh SOURCES PREFIX
#
# SOURCES/NAME is a git checkout of each NAME of openwrt-tools.commits at its
# commit (checked; a checkout at another commit is refused). PREFIX gets:
#   bin/ ucode ubus uci usign opkg-cl apk, sbin/ ubusd, lib/ their libraries
#   (programs find them through their RUNPATH) and ucode's modules (fs, uci,
#   ubus, uloop), openwrt-root/ firewall4's files at their OpenWrt paths
#   (sbin/fw4, usr/share/firewall4, usr/share/ucode/fw4.uc),
#   share/openwrt-defaults/config/firewall (firewall4's stock configuration).
# Then: OPENWRT_TOOLS=PREFIX bash scripts/test/fw4-real.sh (and the others).
#
# Needs cmake, meson, ninja, pkg-config and the -dev packages of json-c,
# openssl, zlib, zstd (Debian: scripts/deps.sh does not install them; CI has
# no OpenWrt tools and the tiers print SKIP there).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "openwrt-tools.sh: $*" >&2; exit 1; }
case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; esac
[ $# -eq 2 ] || die "usage: openwrt-tools.sh SOURCES PREFIX"
src=$(cd "$1" && pwd) || die "no directory $1"
mkdir -p "$2"
P=$(cd "$2" && pwd)
for t in cmake meson ninja pkg-config git; do command -v "$t" >/dev/null || die "needs $t"; done

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

# cmake_build NAME [CMAKE OPTIONS...]: configure, build and install one
# source out of tree.
cmake_build() {
	local name=$1
	shift
	echo "== $name"
	cmake -S "$src/$name" -B "$build/$name" -G Ninja -DCMAKE_INSTALL_PREFIX="$P" \
		-DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$P" -DCMAKE_INSTALL_RPATH="$P/lib" \
		-DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
		-DCMAKE_MODULE_LINKER_FLAGS="$ldflags" "$@" >"$build/$name.log" 2>&1 ||
		{ tail -30 "$build/$name.log"; die "$name: cmake failed"; }
	ninja -C "$build/$name" install >>"$build/$name.log" 2>&1 || { tail -30 "$build/$name.log"; die "$name: build failed"; }
}

cmake_build libubox -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF -DABIVERSION=
cmake_build ubus -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
cmake_build uci -DBUILD_LUA=OFF
# ucode: the modules firewall4 and the netifd stand-in need; fw4's own
# module is found in /usr/share/ucode, where OpenWrt puts it.
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

echo "== firewall4"
rm -rf "$P/openwrt-root"
mkdir -p "$P/openwrt-root/sbin" "$P/openwrt-root/usr/share/ucode" "$P/share/openwrt-defaults/config"
cp "$src/firewall4/root/sbin/fw4" "$P/openwrt-root/sbin/fw4"
cp -R "$src/firewall4/root/usr/share/firewall4" "$P/openwrt-root/usr/share/"
cp "$src/firewall4/root/usr/share/ucode/fw4.uc" "$P/openwrt-root/usr/share/ucode/fw4.uc"
cp "$src/firewall4/root/etc/config/firewall" "$P/share/openwrt-defaults/config/firewall"
chmod 0755 "$P/openwrt-root/sbin/fw4"

# ubusd is a daemon: OpenWrt installs it in sbin.
[ ! -x "$P/bin/ubusd" ] || mv "$P/bin/ubusd" "$P/sbin/ubusd"
for f in bin/ucode bin/ubus bin/uci bin/usign bin/opkg-cl bin/apk sbin/ubusd lib/ucode/fs.so lib/ucode/uci.so lib/ucode/ubus.so lib/ucode/uloop.so openwrt-root/sbin/fw4; do
	[ -e "$P/$f" ] || die "missing $P/$f after the build"
done
rm -rf "$build"
echo "openwrt-tools.sh: $P ready (OPENWRT_TOOLS=$P)"
