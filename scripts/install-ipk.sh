#!/usr/bin/env bash
# install-ipk.sh: install an .ipk into a root directory the way opkg does, for
# tests and for preparing firmware trees. Not a package manager: no downloads,
# no removal, dependencies are only checked against what is already recorded.
#
# Usage: scripts/install-ipk.sh [-a ARCH]... [-d ADMINDIR] [-n] IPK ROOT
#   -a ARCH      accepted architecture (repeatable; "all" and "noarch" are always
#                accepted). Without -a any architecture is accepted, as opkg does
#                for a package without an Architecture field.
#   -d ADMINDIR  opkg state directory inside ROOT (default usr/lib/opkg, or
#                opt/lib/opkg for Entware packages whose files all live in /opt)
#   -n           do not run maintainer scripts
#
# Steps, in opkg's order: unpack the outer archive (gzip'd tar; opkg reads only
# ustar/GNU headers), read and check the control fields, check the architecture,
# dependencies and conflicts, run preinst, unpack data.tar.gz into ROOT keeping a
# changed conffile and putting the new one next to it as <file>-opkg, record
# ADMINDIR/info/<pkg>.{list,control,conffiles,postinst,prerm} and the status
# entry, then run postinst "configure" with IPKG_INSTROOT=ROOT as OpenWrt's
# image builder does for offline roots (PKG_ROOT=ROOT, PKG_UPGRADE=0/1).
set -euo pipefail

die() { echo "install-ipk.sh: $*" >&2; exit 1; }

archs=() admin="" noscripts=""
while getopts "a:d:nh" o; do
	case "$o" in
	a) archs+=("$OPTARG") ;;
	d) admin=$OPTARG ;;
	n) noscripts=1 ;;
	h) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) die "usage: install-ipk.sh [-a ARCH]... [-d ADMINDIR] [-n] IPK ROOT" ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || die "usage: install-ipk.sh [-a ARCH]... [-d ADMINDIR] [-n] IPK ROOT"
ipk=$1
[ -f "$ipk" ] || die "$ipk: no such file"
mkdir -p "$2"
root=$(cd "$2" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check_tar FILE: every header must be one opkg-lede's reader understands
# (magic "ustar" or zeroes, known type flags; no pax headers), no member may
# escape the root, and no device nodes.
check_tar() {
	local f=$1 off=0 total name size type magic blocks
	total=$(wc -c <"$f")
	while [ $((off + 512)) -le "$total" ]; do
		name=$(dd if="$f" bs=512 skip=$((off / 512)) count=1 2>/dev/null | head -c 100 | tr -d '\0')
		if [ -z "$name" ]; then
			break # end-of-archive block
		fi
		size=$(dd if="$f" bs=1 skip=$((off + 124)) count=12 2>/dev/null | tr -d '\0 ')
		type=$(dd if="$f" bs=1 skip=$((off + 156)) count=1 2>/dev/null | tr '\0' '0')
		magic=$(dd if="$f" bs=1 skip=$((off + 257)) count=5 2>/dev/null | tr '\0' '-')
		case "$magic" in ustar | -----) ;; *) die "$name: tar header magic '$magic' unknown to opkg" ;; esac
		case "$type" in
		0 | 1 | 2 | 5 | L | K) ;;
		x | g) die "$name: pax header (typeflag $type): build with --format=gnu" ;;
		*) die "$name: tar typeflag '$type' not allowed in a package" ;;
		esac
		case "/$name/" in */../*) die "$name: path leaves the root" ;; esac
		blocks=$(((8#${size:-0} + 511) / 512))
		off=$((off + 512 + blocks * 512))
	done
}

# Outer archive. opkg finds members by name, with or without "./".
gzip -dc "$ipk" >"$tmp/outer.tar" || die "$ipk: not a gzip'd tar (an ar-format .ipk is not read by opkg-lede)"
check_tar "$tmp/outer.tar"
mkdir "$tmp/outer"
tar -xf "$tmp/outer.tar" -C "$tmp/outer"
for m in debian-binary control.tar.gz data.tar.gz; do
	[ -f "$tmp/outer/$m" ] || die "$ipk: member $m missing"
done
[ "$(cat "$tmp/outer/debian-binary")" = "2.0" ] || die "$ipk: debian-binary is not 2.0"

mkdir "$tmp/control" "$tmp/data"
gzip -dc "$tmp/outer/control.tar.gz" >"$tmp/control.tar"
gzip -dc "$tmp/outer/data.tar.gz" >"$tmp/data.tar"
check_tar "$tmp/control.tar"
check_tar "$tmp/data.tar"
tar -xf "$tmp/control.tar" -C "$tmp/control"
tar -xf "$tmp/data.tar" -C "$tmp/data"

ctl=$tmp/control/control
[ -f "$ctl" ] || die "$ipk: control.tar.gz has no control file"
field() { sed -n "s/^$1: *//p" "$ctl" | head -n 1; }
pkg=$(field Package) ver=$(field Version) arch=$(field Architecture)
[ -n "$pkg" ] || die "$ipk: no Package field"
[ -n "$ver" ] || die "$ipk: no Version field"
case "$pkg" in *[!a-zA-Z0-9_.+-]*) die "$pkg: bad package name" ;; esac
isize=$(field Installed-Size)
if [ -n "$isize" ] && [ "$isize" != "$(wc -c <"$tmp/data.tar")" ]; then
	echo "install-ipk.sh: warning: Installed-Size $isize is not the data size" >&2
fi

if [ -n "$arch" ] && [ ${#archs[@]} -gt 0 ]; then
	ok=""
	for a in "${archs[@]}" all noarch; do
		[ "$a" = "$arch" ] && ok=1
	done
	[ -n "$ok" ] || die "$pkg: architecture $arch is not one of: ${archs[*]} all noarch"
fi

if [ -z "$admin" ]; then
	admin=usr/lib/opkg
	if [ -d "$tmp/data/opt" ] && [ -z "$(cd "$tmp/data" && find . -mindepth 1 -maxdepth 1 ! -name opt)" ]; then
		admin=opt/lib/opkg
	fi
fi
admin=${admin#/}
info=$root/$admin/info
status=$root/$admin/status
mkdir -p "$info"
touch "$status"

installed() { # installed NAME: is NAME recorded as installed?
	awk -v p="$1" '/^Package: /{n=$2} /^Status: .* installed$/{if (n==p) f=1} END{exit !f}' "$status"
}
names() { # names "a (>= 1), b | c": one package name per line
	sed 's/[,|]/\n/g' | sed 's/(.*//; s/[[:space:]]//g' | grep -v '^$' || true
}
while read -r d; do
	installed "$d" || die "$pkg: dependency $d is not installed"
done < <(field Depends | names)
while read -r c; do
	[ "$c" = "$pkg" ] && continue
	if installed "$c"; then die "$pkg: conflicts with installed package $c"; fi
done < <(field Conflicts | names)

upgrade=0
installed "$pkg" && upgrade=1

run_script() { # run_script NAME ARG: run a maintainer script like rootfs.mk does
	local s=$1
	[ -z "$noscripts" ] || return 0
	[ -f "$s" ] || return 0
	local instroot=$root
	[ "$root" = / ] && instroot=""
	echo "install-ipk.sh: running $(basename "$s") $2"
	IPKG_INSTROOT=$instroot PKG_ROOT=${instroot:-/} PKG_UPGRADE=$upgrade \
		sh "$s" "$2" || die "$pkg: $(basename "$s") failed"
}

run_script "$tmp/control/preinst" "$([ "$upgrade" = 1 ] && echo upgrade || echo install)"

# Unpack. Directories keep the mode of an existing directory (opkg does not
# touch "./"); a conffile the user changed stays and the new one goes to -opkg.
conffiles=()
if [ -f "$tmp/control/conffiles" ]; then
	while read -r c; do
		[ -n "$c" ] && conffiles+=("$c")
	done <"$tmp/control/conffiles"
fi
is_conffile() {
	local c
	for c in "${conffiles[@]}"; do [ "$c" = "$1" ] && return 0; done
	return 1
}
: >"$tmp/list"
while IFS= read -r -d '' p; do
	rel=${p#./}
	src=$tmp/data/$rel dst=$root/$rel
	if [ -d "$src" ] && [ ! -L "$src" ]; then
		if [ ! -d "$dst" ]; then
			mkdir -p "$dst"
			chmod "$(stat -c %a "$src")" "$dst"
		fi
		continue
	fi
	echo "/$rel" >>"$tmp/list"
	if is_conffile "/$rel" && [ -e "$dst" ] && ! cmp -s "$src" "$dst"; then
		echo "install-ipk.sh: keeping changed /$rel; new version at /$rel-opkg"
		cp -a "$src" "$dst-opkg"
		continue
	fi
	rm -f "$dst"
	cp -a "$src" "$dst"
done < <(cd "$tmp/data" && find . -mindepth 1 -print0 | sort -z)

# State, as opkg keeps it.
cp "$tmp/list" "$info/$pkg.list"
for f in "$tmp"/control/*; do
	cp -p "$f" "$info/$pkg.$(basename "$f")"
done
{
	awk -v p="$pkg" 'BEGIN{RS=""; ORS="\n\n"} $0 !~ ("(^|\n)Package: " p "\n")' "$status"
	echo "Package: $pkg"
	echo "Version: $ver"
	d=$(field Depends)
	[ -n "$d" ] && echo "Depends: $d"
	echo "Status: install user installed"
	[ -n "$arch" ] && echo "Architecture: $arch"
	if [ ${#conffiles[@]} -gt 0 ]; then
		echo "Conffiles:"
		for c in "${conffiles[@]}"; do
			[ -f "$root$c" ] && echo " $c $(md5sum <"$root$c" | cut -d' ' -f1)"
		done
	fi
	echo "Installed-Time: ${SOURCE_DATE_EPOCH:-$(date +%s)}"
	echo
} >"$tmp/status"
cp "$tmp/status" "$status"

run_script "$info/$pkg.postinst" configure
echo "install-ipk.sh: installed $pkg $ver ($arch) into $root"
