#!/usr/bin/env bash
# size.sh: binary and package sizes of knockd-go against the size budget.
#
# Usage: scripts/size.sh [--save]
#
# Builds, with scripts/cross.sh (exactly as `make cross`, `make packages` and
# the feed build them), knockd (every firewall backend) and knockd-fw4 (the
# OpenWrt feed's knockd-go: no iptables backend, and without SPA, rotating
# knocks, mail and the doctor) and knockd-fw4-full (its knockd-go-full) for
# mipsle, mips (GOMIPS=softfloat), arm7 (GOARM=7), arm5 (GOARM=5) and arm64,
# with Go 1.23 (the OpenWrt 24.10 SDK's) and with the default Go; packs the
# OpenWrt knockd-go and knockd-go-full .ipk (scripts/mkipk.sh) and .apk
# (scripts/mkapk.sh, signed with a throw-away key) of each target's feed
# architecture; prints one table and checks the budgets (docs/size.md):
#
#   knockd-go .ipk and .apk, mipsel_24kc and mips_24kc          <= 1,200,000 B
#   the same, arm_cortex-a7_neon-vfpv4, arm_cortex-a9,
#   aarch64_cortex-a53                                         <= 1,300,000 B
#   knockd-fw4, mipsle          <= 3,600,000 B (Go >= 1.24), 3,300,000 (Go 1.23)
#   knockd (iptables builds: Entware, DD-WRT, Tomato, Debian), mipsle:
#                               the last row of docs/size.md's table
#                               "Budget of the iptables builds" (a higher limit
#                               needs a row saying what bought it)
#
# A second table, not checked, gives knockd-go-full's packages and its
# knockd-fw4-full: every feature, for routers with more flash (docs/size.md).
#
# When a row fails it prints which parts grew: `sizeof -build -diff` of the
# mipsle knockd-fw4 against the per-package listing saved in
# scripts/size/parts-<go>.txt when the budget last held. --save rewrites
# those listings (after docs/size.md says what the growth bought).
# Exits 1 when a row fails; the last line counts the rows ("size: N passed,
# M failed": make test's tier test-size, through testsum). The build cache is
# used; builds run in parallel.
#
# Environment:
#   GO123        the older toolchain (default go1.23.12, fetched by the go command)
#   SIZE_TARGETS cross.sh targets (default: mipsle mips arm7 arm5 arm64)
#   SIZE_KEEP    a directory to keep the binaries and packages in
#   FW4_OMIT     the feature tags of knockd-fw4 (cross.sh; default: the feed's)
#   VERSION      version to embed (default: as cross.sh computes it)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
die() { echo "size.sh: $*" >&2; exit 1; }
save=""
case "${1:-}" in
-h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
--save) save=1 ;;
"") ;;
*) die "usage: size.sh [--save]" ;;
esac

go123=${GO123:-go1.23.12}
targets=${SIZE_TARGETS:-mipsle mips arm7 arm5 arm64}
max_fw4_new=3600000
max_fw4_123=3300000
max_pkg_mips=1200000
max_pkg_arm=1300000
command -v go >/dev/null || die "go not found in PATH"
VERSION=${VERSION:-$("$here/cross.sh" --version)}
export VERSION
# The Maintainer field's length is part of a package's size: a fixed one
# unless MAINTAINER is set.
export MAINTAINER=${MAINTAINER:-knockd-go size check <size@example.org>}

# The iptables builds' limits: the last row of docs/size.md's table under
# "## Budget of the iptables builds": | since | Go 1.26 | Go 1.23 | what bought it |
read -r max_ipt_new max_ipt_123 < <(awk -F'|' '
	/^## / { on = ($0 ~ /^## Budget of the iptables builds/) ; next }
	on && NF >= 6 && $3 ~ /[0-9]/ {
		a = $3; b = $4; r = $5; gsub(/[ ,]/, "", a); gsub(/[ ,]/, "", b); gsub(/^ +| +$/, "", r)
		if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && r != "") last = a " " b
	}
	END { print last }' "$root/docs/size.md")
[ -n "${max_ipt_123:-}" ] || die "docs/size.md: no row with limits and a reason under \"## Budget of the iptables builds\""

if [ -n "${SIZE_KEEP:-}" ]; then
	mkdir -p "$SIZE_KEEP"
	work=$(cd "$SIZE_KEEP" && pwd)
else
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
fi

# The toolchains: "local" is the default Go.
tcs="$go123 local"
gover() { (cd "$root" && GOTOOLCHAIN=$1 go env GOVERSION); }
for tc in $tcs; do
	gover "$tc" >/dev/null 2>&1 || die "toolchain $tc unavailable"
done
# go1.26.8 -> go1.26
gominor() { echo "$1" | sed -n 's/^\(go[0-9]*\.[0-9]*\).*/\1/p'; }

# OpenWrt feed architecture of a cross.sh target (mkipk.sh maps it back).
ipk_arch() {
	case "$1" in
	mips) echo mips_24kc ;;
	mipsle) echo mipsel_24kc ;;
	arm7) echo arm_cortex-a7_neon-vfpv4 ;;
	arm5) echo arm_cortex-a9 ;;
	arm64) echo aarch64_cortex-a53 ;;
	amd64) echo x86_64 ;;
	*) return 1 ;;
	esac
}
pkg_budget() {
	case "$1" in
	mips | mipsle) echo "$max_pkg_mips" ;;
	arm7 | arm5 | arm64) echo "$max_pkg_arm" ;;
	*) echo - ;;
	esac
}
for t in $targets; do
	ipk_arch "$t" >/dev/null || die "unknown target $t"
done

# One throw-away apk signing key: the shipped .apk files are signed.
# shellcheck source=scripts/lib/pkgtools.bash
. "$here/lib/pkgtools.bash"
build_pkgtools "$work/tools" >/dev/null
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/tools/sizeof" ./src/tools/sizeof)
"$APKPACK" genkey --private "$work/tools/apk-private.pem" --public "$work/tools/apk-public.pem"

# Per toolchain: cross.sh builds knockd, knockd-fw4(-full) and knock; mkipk.sh and
# mkapk.sh pack them. The two toolchains run side by side; each logs to its
# own file, shown only on failure.
build_tc() {
	local tc=$1 d=$work/$1 t archs=""
	mkdir -p "$d/bin"
	TARGETS="$targets" CLIENT_TARGETS="" ROUTER_GOTOOLCHAIN=$tc LEGACY_GOTOOLCHAIN=$tc "$here/cross.sh" "$d/bin"
	for t in $targets; do archs="$archs $(ipk_arch "$t")"; done
	OPENWRT_ARCHS="${archs# }" ENTWARE_ARCHS="" NOARCH_PACKAGES="" "$here/mkipk.sh" "$d/pkg" "$d/bin"
	OPENWRT_ARCHS="${archs# }" IPK_DIR=$d/pkg/openwrt APK_SIGN_KEY=$work/tools/apk-private.pem \
		"$here/mkapk.sh" "$d/pkg" "$d/bin"
}

pids=()
for tc in $tcs; do
	build_tc "$tc" >"$work/$tc.log" 2>&1 &
	pids+=($!)
done
i=0
for tc in $tcs; do
	if ! wait "${pids[$i]}"; then
		cat "$work/$tc.log" >&2
		die "building with $tc failed"
	fi
	i=$((i + 1))
done

size() { if [ -f "$1" ]; then wc -c <"$1"; else echo -; fi; }
first() { local f; for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 0; }

fails=0 rows=0 failed_tcs=""
fmt='%-7s %-9s %10s %10s %10s %10s %10s  %s\n'
# shellcheck disable=SC2059 # fmt is the table's format
printf "$fmt" target go knockd knockd-fw4 knock ipk apk verdict
for t in $targets; do
	for tc in $tcs; do
		d=$work/$tc
		v=$(gover "$tc")
		kd=$(size "$d/bin/$t/knockd")
		kf=$(size "$d/bin/$t/knockd-fw4")
		kn=$(size "$d/bin/$t/knock")
		a=$(ipk_arch "$t")
		ipk=$(size "$(first "$d/pkg/openwrt/knockd-go_"*"_$a.ipk")")
		apk=$(size "$(first "$d/pkg/apk/$a/knockd-go-"[0-9]*.apk)")
		verdict=PASS why=""
		rows=$((rows + 1))
		if [ "$t" = mipsle ]; then
			maxf=$max_fw4_new maxi=$max_ipt_new
			case "$v" in go1.2[0-3] | go1.2[0-3].*) maxf=$max_fw4_123 maxi=$max_ipt_123 ;; esac
			if [ "$kf" -gt "$maxf" ]; then verdict=FAIL why="$why knockd-fw4 > $maxf"; fi
			if [ "$kd" -gt "$maxi" ]; then verdict=FAIL why="$why knockd > $maxi (docs/size.md)"; fi
		fi
		maxp=$(pkg_budget "$t")
		for p in "$ipk" "$apk"; do
			[ "$p" != - ] || { verdict=FAIL why="$why package missing"; continue; }
			if [ "$maxp" != - ] && [ "$p" -gt "$maxp" ]; then verdict=FAIL why="$why package > $maxp"; fi
		done
		if [ "$verdict" = PASS ]; then
			why=" (packages <= $maxp)"
			[ "$t" != mipsle ] || why=" (knockd-fw4 <= $maxf, knockd <= $maxi, packages <= $maxp)"
		else
			fails=$((fails + 1))
			case " $failed_tcs " in *" $tc "*) ;; *) failed_tcs="$failed_tcs $tc" ;; esac
		fi
		# shellcheck disable=SC2059
		printf "$fmt" "$t" "$v" "$kd" "$kf" "$kn" "$ipk" "$apk" "$verdict$why"
	done
done

echo
echo "== not checked: knockd-go-full (every feature, for routers with more flash), knockd-fw4-full"
# shellcheck disable=SC2059
printf "$fmt" target go "" fw4-full "" ipk apk "knockd-go's budget"
for t in $targets; do
	for tc in $tcs; do
		d=$work/$tc
		a=$(ipk_arch "$t")
		ipk=$(size "$(first "$d/pkg/openwrt/knockd-go-full_"*"_$a.ipk")")
		apk=$(size "$(first "$d/pkg/apk/$a/knockd-go-full-"*.apk)")
		# shellcheck disable=SC2059
		printf "$fmt" "$t" "$(gover "$tc")" "" "$(size "$d/bin/$t/knockd-fw4-full")" "" "$ipk" "$apk" "$(pkg_budget "$t")"
	done
done
echo

# sizeof_mipsle TC ARGS...: sizeof -build on the mipsle knockd-fw4 as shipped.
sizeof_mipsle() {
	local tc=$1
	shift
	(cd "$root" && GOTOOLCHAIN=$tc CGO_ENABLED=0 GOOS=linux GOARCH=mipsle GOMIPS=softfloat \
		GOFLAGS="-buildvcs=false -trimpath -tags=$("$here/cross.sh" --fw4-tags | tr " " ,) -gcflags=$("$here/cross.sh" --gcflags mipsle)" \
		"$work/tools/sizeof" -build "$@")
}
for tc in $failed_tcs; do
	l=$here/size/parts-$(gominor "$(gover "$tc")").txt
	echo
	echo "== $(gover "$tc"): which parts grew (mipsle knockd-fw4, alloc bytes, against ${l#"$root"/}):"
	if [ -f "$l" ]; then
		sizeof_mipsle "$tc" -n 25 -diff "$l" ./src/cmd/knockd || true
	else
		sizeof_mipsle "$tc" -n 25 ./src/cmd/knockd || true
	fi
done
if [ -n "$save" ]; then
	mkdir -p "$here/size"
	for tc in $tcs; do
		l=$here/size/parts-$(gominor "$(gover "$tc")").txt
		sizeof_mipsle "$tc" -save "$l" ./src/cmd/knockd
		echo "size.sh: saved ${l#"$root"/}"
	done
fi
# The count of make test's tier (testsum reads "NAME: N passed, M failed").
echo "size: $((rows - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
