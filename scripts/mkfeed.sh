#!/usr/bin/env bash
# mkfeed.sh: build every package and lay out signed package feeds, ready to
# be served over HTTP(S), without the OpenWrt SDK.
#
# Usage: scripts/mkfeed.sh OUTDIR [BINDIR]
#
# Writes OUTDIR/feed/ (removed and made again on every run):
#   openwrt/<arch>/   OpenWrt <= 24.10 (opkg): <name>_<version>_<arch>.ipk, the
#                     Architecture: all packages, Packages, Packages.gz, Packages.sig
#   entware/<arch>/   Entware (opkg): the same for Entware's architectures
#   apk/<arch>/       OpenWrt >= 25.12 (apk): <name>-<version>.apk, the noarch
#                     packages, packages.adb (the index apk mkndx would write)
#   keys/             the public keys: knockd-go.pem (apk, for /etc/apk/keys/),
#                     knockd-go.usign.pub and the same file named by its
#                     fingerprint (for /etc/opkg/keys/)
# and prints every package's size against the 1.2 MB goal.
#
# Packages is OpenWrt's index format (each package's control file plus
# Filename, Size, SHA256sum, as scripts/ipkg-make-index.sh writes it);
# Packages.sig is a usign signature of Packages, which opkg checks with
# check_signature against the key in /etc/opkg/keys. packages.adb is signed
# with the apk key; the .apk files are signed too, and the index records the
# SHA-256 of each package's database, which apk checks on download.
#
# Environment:
#   FEED_KEYS   key directory (default OUTDIR/keys); scripts/feed-keys.sh makes
#               the keys there when they are missing
#   PKG_DIR     use the packages in PKG_DIR/openwrt/, PKG_DIR/entware/ and
#               PKG_DIR/apk/<arch>/ (what mkipk.sh and mkapk.sh write) instead of
#               building them
#   USIGN       usign binary (default: the one built from src/tools/usign;
#               OpenWrt's usign works the same)
#   SIZE_LIMIT  size goal per package in bytes (default 1200000), reported only
# and those of mkipk.sh and mkapk.sh (OPENWRT_ARCHS, ENTWARE_ARCHS,
# NOARCH_PACKAGES, VERSION, PKG_RELEASE, SOURCE_DATE_EPOCH, FILES_DIR).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${KNOCKD_GO_SRC:-$(cd "$here/.." && pwd)}
die() { echo "mkfeed.sh: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/pkgtools.bash
. "$here/lib/pkgtools.bash"
case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; esac
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	die "usage: mkfeed.sh OUTDIR [BINDIR]"
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
bindir=${2:-$out/bin}
keys=${FEED_KEYS:-$out/keys}
limit=${SIZE_LIMIT:-1200000}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build_pkgtools "$work/tools"
FEED_KEYS=$keys "$here/feed-keys.sh" "$keys" >/dev/null
keys=$(cd "$keys" && pwd)

pk=${PKG_DIR:-}
if [ -z "$pk" ]; then
	pk=$work/pk
	"$here/mkipk.sh" "$pk" "$bindir" >/dev/null
	IPK_DIR=$pk/openwrt APK_SIGN_KEY=$keys/apk-private.pem "$here/mkapk.sh" "$pk" "$bindir" >/dev/null
fi
if [ ! -d "$pk/openwrt" ] || [ ! -d "$pk/apk" ]; then
	die "$pk: no openwrt/ and apk/ package directories"
fi
ipks=$pk
apks=$pk/apk

feed=$out/feed
rm -rf "$feed"
mkdir -p "$feed/keys"

# packages_index DIR: Packages, Packages.gz and Packages.sig for the .ipk in DIR.
packages_index() {
	local d=$1 ipk
	for ipk in "$d"/*.ipk; do
		tar -xzOf "$ipk" ./control.tar.gz | tar -xzOf - ./control |
			sed -e "s/^Description:/Filename: $(basename "$ipk")\\
Size: $(wc -c <"$ipk" | tr -d ' ')\\
SHA256sum: $(sha256sum "$ipk" | cut -d' ' -f1)\\
Description:/"
		echo ""
	done >"$d/Packages"
	gzip -9nc "$d/Packages" >"$d/Packages.gz"
	"$USIGN" -S -m "$d/Packages" -s "$keys/usign.sec" -x "$d/Packages.sig"
}

# opkg feeds: one directory per architecture, with the "all" packages in each.
for flavour in openwrt entware; do
	[ -d "$ipks/$flavour" ] || continue
	for ipk in "$ipks/$flavour"/*.ipk; do
		[ -e "$ipk" ] || continue
		# <name>_<version>_<arch>.ipk: names and versions hold no "_", arches may
		IFS=_ read -r _ _ arch <<<"$(basename "$ipk" .ipk)"
		[ "$arch" = all ] && continue
		mkdir -p "$feed/$flavour/$arch"
		cp "$ipk" "$feed/$flavour/$arch/"
	done
	for d in "$feed/$flavour"/*/; do
		[ -d "$d" ] || continue
		for ipk in "$ipks/$flavour"/*_all.ipk; do
			[ -e "$ipk" ] && cp "$ipk" "$d"
		done
		packages_index "${d%/}"
	done
done

# apk feeds: the same, noarch packages in each architecture's index.
for d in "$apks"/*/; do
	arch=$(basename "$d")
	[ "$arch" = noarch ] && continue
	mkdir -p "$feed/apk/$arch"
	cp "$d"/*.apk "$feed/apk/$arch/"
	if [ -d "$apks/noarch" ]; then
		cp "$apks"/noarch/*.apk "$feed/apk/$arch/"
	fi
	(cd "$feed/apk/$arch" && "$APKPACK" mkndx --output packages.adb --sign-key "$keys/apk-private.pem" \
		--description "knockd-go $arch" ./*.apk) || die "apk/$arch: mkndx failed"
done

cp "$keys/apk-public.pem" "$feed/keys/knockd-go.pem"
cp "$keys/usign.pub" "$feed/keys/knockd-go.usign.pub"
cp "$keys/usign.pub" "$feed/keys/$("$USIGN" -F -p "$keys/usign.pub")"

# Sizes against the goal (reported; the binaries are made smaller elsewhere).
over=0 total=0
echo "package sizes (goal: at most $limit bytes each):"
while IFS= read -r f; do
	size=$(wc -c <"$f" | tr -d ' ')
	total=$((total + 1))
	mark=ok
	if [ "$size" -gt "$limit" ]; then
		mark="OVER by $((size - limit))"
		over=$((over + 1))
	fi
	printf '  %-64s %9d  %s\n' "${f#"$feed"/}" "$size" "$mark"
done < <(find "$feed" \( -name '*.ipk' -o -name '*.apk' \) | LC_ALL=C sort)
echo "mkfeed.sh: $total packages in $feed, $over over $limit bytes"
