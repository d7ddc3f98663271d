#!/usr/bin/env bash
# size.sh: binary and package sizes of knockd-go against the size budget.
#
# Usage: scripts/size.sh
#
# Builds knockd, knock and the floor program (src/internal/tools/sizefloor:
# only the fixed dependencies with fmt, os/exec and os/signal) with
# scripts/cross.sh's flags (as releases and packages are built), for mipsle, mips (GOMIPS=softfloat),
# arm7 (GOARM=7), arm64 and amd64, with Go 1.23 (the OpenWrt 24.10 SDK's)
# and with the default Go; packs each knockd with scripts/mkipk.sh; and
# prints one table:
#
#   knockd, knock, floor   file bytes
#   knockd-floor           what knockd weighs above the floor
#   ipk                    the OpenWrt knockd-go .ipk for that architecture
#   apk                    the .apk from DIST/apk/<arch>/ when scripts/mkapk.sh
#                          has made one (-: none; it is not rebuilt here)
#   verdict                PASS or FAIL against the targets: knockd for mipsle
#                          <= 3,500,000 bytes with Go >= 1.24 and <= 3,200,000
#                          with Go 1.23; every package <= 1,200,000 bytes
#
# Exits 1 when a row fails. The build cache is used; builds run in parallel.
#
# Environment:
#   GO123        the older toolchain (default go1.23.12, fetched by the go command)
#   SIZE_TARGETS cross.sh targets (default: mipsle mips arm7 arm64 amd64)
#   SIZE_KEEP    a directory to keep the binaries and packages in
#   DIST         where to look for apk/ (default: dist/ of the repository)
#   VERSION      version to embed (default: as cross.sh computes it)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
die() { echo "size.sh: $*" >&2; exit 1; }
case "${1:-}" in -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;; "") ;; *) die "usage: size.sh" ;; esac

go123=${GO123:-go1.23.12}
targets=${SIZE_TARGETS:-mipsle mips arm7 arm64 amd64}
dist=${DIST:-$root/dist}
max_mipsle_new=3500000
max_mipsle_123=3200000
max_pkg=1200000
command -v go >/dev/null || die "go not found in PATH"
VERSION=${VERSION:-$("$here/cross.sh" --version)}
export VERSION

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

# target_env TARGET: the GOOS/GOARCH/... of a cross.sh target, as cross.sh
# sets them, for the floor program.
target_env() {
	case "$1" in
	mips) echo "GOOS=linux GOARCH=mips GOMIPS=softfloat" ;;
	mipsle) echo "GOOS=linux GOARCH=mipsle GOMIPS=softfloat" ;;
	arm7) echo "GOOS=linux GOARCH=arm GOARM=7" ;;
	arm5) echo "GOOS=linux GOARCH=arm GOARM=5" ;;
	arm64) echo "GOOS=linux GOARCH=arm64 GOARM64=v8.0" ;;
	amd64) echo "GOOS=linux GOARCH=amd64 GOAMD64=v1" ;;
	*) return 1 ;;
	esac
}

# ipk architecture of a cross.sh target (mkipk.sh maps it back).
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

# Per toolchain: cross.sh builds knockd and knock (release flags), the floor
# is built with the same flags, mkipk.sh packs. The two toolchains run side
# by side; each logs to its own file, shown only on failure.
build_tc() {
	local tc=$1 d=$work/$1 t envs archs=""
	mkdir -p "$d/bin"
	TARGETS="$targets" CLIENT_TARGETS="" ROUTER_GOTOOLCHAIN=$tc "$here/cross.sh" "$d/bin"
	for t in $targets; do
		envs=$(target_env "$t")
		# shellcheck disable=SC2086 # envs is a list of VAR=value words
		(cd "$root" && env CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN="$tc" $envs \
			go build -trimpath -buildvcs=false -gcflags="$("$here/cross.sh" --gcflags "$t")" \
			-ldflags "$("$here/cross.sh" --ldflags "$t")" \
			-o "$d/bin/$t/sizefloor" ./src/internal/tools/sizefloor)
		archs="$archs $(ipk_arch "$t")"
	done
	OPENWRT_ARCHS="${archs# }" ENTWARE_ARCHS="" "$here/mkipk.sh" "$d/pkg" "$d/bin"
}

for t in $targets; do
	target_env "$t" >/dev/null || die "unknown target $t"
done

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
# first FILE-GLOB: the first existing match, or nothing.
first() { local f; for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 0; }

fails=0
fmt='%-7s %-9s %10s %10s %10s %13s %10s %10s  %s\n'
# shellcheck disable=SC2059 # fmt is the table's format
printf "$fmt" target go knockd knock floor knockd-floor ipk apk verdict
for t in $targets; do
	for tc in $tcs; do
		d=$work/$tc
		v=$(gover "$tc")
		kd=$(size "$d/bin/$t/knockd")
		kn=$(size "$d/bin/$t/knock")
		fl=$(size "$d/bin/$t/sizefloor")
		a=$(ipk_arch "$t")
		ipk=$(size "$(first "$d/pkg/openwrt/knockd-go_"*"_$a.ipk")")
		apk=$(size "$(first "$dist/apk/$a/knockd-go-"*.apk)")
		verdict=PASS why=""
		if [ "$t" = mipsle ]; then
			max=$max_mipsle_new
			case "$v" in go1.2[0-3] | go1.2[0-3].*) max=$max_mipsle_123 ;; esac
			if [ "$kd" -gt "$max" ]; then verdict=FAIL why=" knockd > $max"; fi
		fi
		for p in "$ipk" "$apk"; do
			if [ "$p" != - ] && [ "$p" -gt "$max_pkg" ]; then verdict=FAIL why="$why package > $max_pkg"; fi
		done
		[ "$verdict" = PASS ] || fails=$((fails + 1))
		# shellcheck disable=SC2059
		printf "$fmt" "$t" "$v" "$kd" "$kn" "$fl" "$((kd - fl))" "$ipk" "$apk" "$verdict$why"
	done
done
[ "$fails" -eq 0 ]
