#!/usr/bin/env bash
# feed-keys.sh: make the signing keys of the package feeds, once.
#
# Usage: scripts/feed-keys.sh [DIR]    (default: $FEED_KEYS, else dist/keys)
#
# Writes what is missing (an existing key is never replaced):
#   DIR/usign.sec  DIR/usign.pub              opkg feeds: usign (Ed25519), signs Packages
#   DIR/apk-private.pem  DIR/apk-public.pem   apk feeds: EC P-256, signs packages.adb and .apk
# and prints the public keys' names. DIR is made mode 0700; keep it out of
# git and off the web server, and publish only usign.pub and apk-public.pem
# (scripts/mkfeed.sh copies them into the feed). Keys are made by the tools
# in src/tools (usign, apkpack), so neither OpenWrt's usign nor
# OpenSSL is needed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${KNOCKD_GO_SRC:-$(cd "$here/.." && pwd)}
die() { echo "feed-keys.sh: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/pkgtools.bash
. "$here/lib/pkgtools.bash"
case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; esac

dir=${1:-${FEED_KEYS:-$root/dist/keys}}
mkdir -p "$dir"
chmod 0700 "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build_pkgtools "$work"

# pair NAME1 NAME2: both halves of a key or neither.
pair() {
	if [ -e "$dir/$1" ] && [ -e "$dir/$2" ]; then return 0; fi
	if [ -e "$dir/$1" ] || [ -e "$dir/$2" ]; then
		die "$dir has only one of $1 and $2; restore the other or remove both"
	fi
	return 1
}

if ! pair usign.sec usign.pub; then
	"$USIGN" -G -s "$dir/usign.sec" -p "$dir/usign.pub" -c "knockd-go feed key"
	echo "feed-keys.sh: new usign key $dir/usign.pub"
fi
if ! pair apk-private.pem apk-public.pem; then
	"$APKPACK" genkey --private "$dir/apk-private.pem" --public "$dir/apk-public.pem"
	echo "feed-keys.sh: new apk key $dir/apk-public.pem"
fi
chmod 0600 "$dir/usign.sec" "$dir/apk-private.pem"
echo "feed-keys.sh: $dir: usign key $("$USIGN" -F -p "$dir/usign.pub"), apk key apk-public.pem"
