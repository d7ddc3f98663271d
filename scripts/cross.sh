#!/usr/bin/env bash
# cross.sh: build static, stripped knockd and knock binaries for router
# targets, and the knock client for desktop systems.
#
# Usage:
#   scripts/cross.sh [OUTDIR]        build into OUTDIR/<target>/ (default dist/bin)
#   scripts/cross.sh --version       print the version that would be embedded
#   scripts/cross.sh --targets       print the router targets, one per line
#   scripts/cross.sh --gcflags T     print the -gcflags value of target T's binaries
#   scripts/cross.sh --ldflags T     print the -ldflags value of target T's binaries (without -X)
#   scripts/cross.sh --overlay T     print the -overlay flag of target T's binaries (runtime_overlay;
#                                    nothing for a target whose Go runtime needs none)
#   scripts/cross.sh --fw4-tags      print the build tags of knockd-fw4
#   scripts/cross.sh --fw4-full-tags print the build tags of knockd-fw4-full
#   scripts/cross.sh --fw4-ldx       print the -X assignment of knockd-fw4 (feature.Fuller)
#   scripts/cross.sh --pkg-version ipk|apk [RELEASE]
#                                    print the .ipk or .apk version (see pkg_version)
#
# Each router target gets three knockd binaries: knockd, with every firewall
# backend and every feature (Entware, DD-WRT, Tomato, Debian), and the two of
# the OpenWrt feed, for firewall4, built with the knockd_noiptables tag (no
# iptables backend; docs/size.md): knockd-fw4, the package knockd-go, also
# without SPA, rotating knocks, mail and the doctor (knockd_nospa
# knockd_norotate knockd_nomail knockd_nodoctor: within the flash budget of
# 8 MB routers), and knockd-fw4-full, the package knockd-go-full, with
# every feature.
#
# Router binaries are built with CGO_ENABLED=0 -trimpath -gcflags=all=-l
# -ldflags='-s -w', and -R=0x1000 on MIPS (docs/size.md: why, and what each
# flag saves). Desktop clients get -ldflags='-s -w' only.
#
# Environment:
#   TARGETS          router targets to build (default: all of mips mipsle arm7 arm5 arm64 amd64)
#   CLIENT_TARGETS   desktop client targets (default: darwin-arm64 darwin-amd64 windows-amd64;
#                    set to "" to skip)
#   VERSION          version string to embed (default: from git describe, see below)
#   LEGACY_GOTOOLCHAIN  Go toolchain for the arm5 target (default go1.23.12; "local"
#                    uses the default toolchain). Go >= 1.24 needs Linux >= 3.2, and the
#                    arm5 binary is the one for FreshTomato ARM and Entware armv7-2.6,
#                    which run Linux 2.6.36.
#   ROUTER_GOTOOLCHAIN  Go toolchain for every router target (default: the local one,
#                    arm5 excepted). go1.23.12 gives binaries about 10% smaller than
#                    Go 1.26 and is the Go of the OpenWrt 24.10 SDK.
#   KNOCKD_GO_SRC    source tree to build (default: the repository holding this script)
#   GO_OVERLAY_DIR   where runtime_overlay keeps its corrected runtime files (default
#                    build/go-overlay in the repository; one directory per Go version)
#   FW4_OMIT         the feature tags of knockd-fw4 (features left out, src/internal/feature;
#                    default "knockd_nospa knockd_norotate knockd_nomail knockd_nodoctor", as the feed
#                    Makefile's knockd-go; "" builds it with every feature)
#
# Version: VERSION if set; else `git describe --tags --always --dirty` when it names a
# tag; else the VERSION file (or 0.1.0) followed by -<commit count>-g<commit> when git
# knows a commit; else the VERSION file; else 0.1.0.
set -euo pipefail

root=${KNOCKD_GO_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ldvar=github.com/knockd-go/knockd-go/src/internal/version.Version
all_targets="mips mipsle arm7 arm5 arm64 amd64"
default_clients="darwin-arm64 darwin-amd64 windows-amd64"
# fw4_tags: the build tags of knockd-fw4, the OpenWrt feed's knockd-go;
# fw4_full_tags those of knockd-fw4-full, its knockd-go-full. The feed
# Makefile's GO_PKG_TAGS of each variant are the same (scripts/test/feed-makefile.sh).
fw4_omit=${FW4_OMIT-knockd_nospa knockd_norotate knockd_nomail knockd_nodoctor}
fw4_tags="knockd_noiptables${fw4_omit:+ $fw4_omit}"
fw4_full_tags=knockd_noiptables
# knockd-fw4 names the package that has what it leaves out (its refusals
# say so); the feed Makefile sets the same for knockd-go.
fw4_ldx=github.com/knockd-go/knockd-go/src/internal/feature.Fuller=knockd-go-full

die() { echo "cross.sh: $*" >&2; exit 1; }

base_version() {
	local v=""
	if [ -s "$root/VERSION" ]; then
		v=$(head -n 1 "$root/VERSION" | tr -d ' \t\r')
	fi
	echo "${v:-0.1.0}"
}

compute_version() {
	if [ -n "${VERSION:-}" ]; then
		echo "$VERSION"
		return
	fi
	local n h
	if git -C "$root" describe --tags --abbrev=0 >/dev/null 2>&1; then
		git -C "$root" describe --tags --always --dirty
	elif n=$(git -C "$root" rev-list --count HEAD 2>/dev/null) &&
		h=$(git -C "$root" describe --always --dirty 2>/dev/null) && [ -n "$h" ]; then
		# No tag yet: the commit count orders builds, as git describe's
		# "-N-gHASH" does after a tag.
		echo "$(base_version)-$n-g$h"
	else
		base_version
	fi
}

# pkg_version ipk|apk RELEASE: the package version of the embedded one, the
# same for both formats (the one place mkipk.sh and mkapk.sh take it from),
# ordered by the commit count after the tag (or since the first commit):
#   v1.2.0             ipk 1.2.0-R               apk 1.2.0-rR
#   v1.2.0-3-gabc1234  ipk 1.2.0+3.gabc1234-R    apk 1.2.0_p3-rR
#   (dirty trees add .dirty to the ipk version; apk has no place for it)
# Both are valid and ordered under opkg's and apk-tools' comparison rules
# (src/internal/pkgver checks them; scripts/test/pkg-versions-real.sh with
# the tools themselves).
pkg_version() {
	local kind=$1 release=$2 v base n="" rest
	v=$(compute_version)
	v=${v#v}
	base=$(printf '%s' "$v" | sed -n 's/^\([0-9][0-9]*\(\.[0-9][0-9]*\)*\).*/\1/p')
	[ -n "$base" ] || base=0.0.0
	n=$(printf '%s' "$v" | sed -n 's/^[0-9.]*-\([0-9][0-9]*\)-g[0-9a-f]*.*/\1/p')
	case "$kind" in
	apk) echo "$base${n:+_p$n}-r$release" ;;
	ipk)
		rest=""
		if [ -n "$n" ]; then
			rest=$(printf '%s' "$v" | sed -n 's/^[0-9.]*-[0-9]*-\(g[0-9a-f]*\).*/\1/p')
			rest="+$n.$rest"
		fi
		case "$v" in *-dirty) rest="${rest:-+}${rest:+.}dirty" ;; esac
		echo "$base$rest-$release"
		;;
	*) die "pkg_version: want ipk or apk" ;;
	esac
}

# target_env TARGET prints the GOOS/GOARCH/... assignments for a target.
target_env() {
	case "$1" in
	mips) echo "GOOS=linux GOARCH=mips GOMIPS=softfloat" ;;
	mipsle) echo "GOOS=linux GOARCH=mipsle GOMIPS=softfloat" ;;
	arm7) echo "GOOS=linux GOARCH=arm GOARM=7" ;;
	arm5) echo "GOOS=linux GOARCH=arm GOARM=5" ;;
	arm64) echo "GOOS=linux GOARCH=arm64 GOARM64=v8.0" ;;
	amd64) echo "GOOS=linux GOARCH=amd64 GOAMD64=v1" ;;
	darwin-arm64) echo "GOOS=darwin GOARCH=arm64" ;;
	darwin-amd64) echo "GOOS=darwin GOARCH=amd64 GOAMD64=v1" ;;
	windows-amd64) echo "GOOS=windows GOARCH=amd64 GOAMD64=v1" ;;
	*) return 1 ;;
	esac
}

# gcflags TARGET, ldflags TARGET print the compiler and linker flags of a
# target's binaries. Router binaries: no inlining (-l), about 9% smaller,
# the packet path as fast within noise. MIPS: segments aligned to 4 KiB
# pages instead of 64 KiB, which removes up to ~128 KiB of zero padding from
# the file; 32-bit MIPS router kernels use 4 KiB pages.
gcflags() {
	case "$1" in darwin-* | windows-*) ;; *) echo "all=-l" ;; esac
}
ldflags() {
	case "$1" in
	mips | mipsle) echo "-s -w -R=0x1000" ;;
	*) echo "-s -w" ;;
	esac
}

# runtime_overlay TARGET prints the path of a `go build -overlay` file for
# TARGET's binaries, made for the toolchain GOTOOLCHAIN names (the default
# one when unset), or nothing when its runtime needs none.
#
# On 32-bit MIPS Linux (mips, mipsle) runtime.usleep hands nanosleep(2)
# the microseconds it was given as nanoseconds: usleep(20) sleeps 20 ns.
# Go 1.23 and 1.26 have it (sys_linux_mipsx.s), as ppc64 (golang/go#56374)
# and s390x (golang/go#71714) had. The runtime's monitor thread (sysmon),
# which while the program runs checks on it every 20 µs, backing off to
# every 10 ms, so checks every 20 ns to 10 µs: on a router's one core,
# dozens of thread switches and clock readings (system calls on 32-bit
# MIPS) each time the daemon or its spawner works. The overlay replaces
# that file with one whose usleep converts the remainder of the seconds
# to nanoseconds, and only when the file holds the defect as the released
# toolchains spell it: a toolchain with it fixed, or changed, builds as is.
runtime_overlay() {
	case "$1" in mips | mipsle) ;; *) return 0 ;; esac
	local goroot gov dir src fixed
	goroot=$(cd "$root" && go env GOROOT) || return 1
	gov=$(cd "$root" && go env GOVERSION) || return 1
	dir=${GO_OVERLAY_DIR:-$root/build/go-overlay}/$gov
	src=$goroot/src/runtime/sys_linux_mipsx.s
	if [ ! -s "$dir/overlay.json" ] || ! grep -qF "\"$src\"" "$dir/overlay.json"; then
		[ -r "$src" ] || return 0
		mkdir -p "$dir"
		fixed=$(mktemp "$dir/sys_linux_mipsx.s.XXXXXX")
		# In usleep: after LO (seconds) is stored, take HI (the remaining
		# microseconds) times 1000 as the nanoseconds, where the defect
		# takes the microseconds less the seconds times 1000.
		if ! awk '
			/^TEXT runtime·usleep\(SB\)/ { in_usleep = 1 }
			in_usleep && !done && $0 == "\tMOVW\t$1000, R4" {
				if ((getline a) <= 0 || a != "\tMULU\tR3, R4") exit 1
				if ((getline b) <= 0 || b != "\tMOVW\tLO, R4") exit 1
				if ((getline c) <= 0 || c != "\tSUBU\tR4, R5") exit 1
				print "\tMOVW\tHI, R5\t// microseconds past the seconds"
				print "\tMOVW\t$1000, R4"
				print "\tMULU\tR5, R4"
				print "\tMOVW\tLO, R5\t// in nanoseconds"
				done = 1
				next
			}
			in_usleep && /^\tRET/ { in_usleep = 0 }
			{ print }
			END { exit done ? 0 : 1 }' "$src" >"$fixed"; then
			rm -f "$fixed"
			return 0 # not the defect as known: nothing to correct
		fi
		mv -f "$fixed" "$dir/sys_linux_mipsx.s"
		printf '{"Replace":{"%s":"%s"}}\n' "$src" "$dir/sys_linux_mipsx.s" >"$dir/overlay.json.new"
		mv -f "$dir/overlay.json.new" "$dir/overlay.json"
	fi
	echo "$dir/overlay.json"
}

case "${1:-}" in
--overlay)
	[ -n "${2:-}" ] || die "$1 needs a target"
	ov=$(runtime_overlay "$2") || die "runtime_overlay $2 failed"
	echo "${ov:+-overlay=$ov}"
	exit 0
	;;
--gcflags | --ldflags)
	[ -n "${2:-}" ] || die "$1 needs a target"
	"${1#--}" "$2"
	exit 0
	;;
--pkg-version)
	pkg_version "${2:-}" "${3:-1}"
	exit 0
	;;
--fw4-tags)
	echo "$fw4_tags"
	exit 0
	;;
--fw4-full-tags)
	echo "$fw4_full_tags"
	exit 0
	;;
--fw4-ldx)
	echo "$fw4_ldx"
	exit 0
	;;
--version)
	compute_version
	exit 0
	;;
--targets)
	echo "$all_targets" | tr ' ' '\n'
	exit 0
	;;
-h | --help)
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
	exit 0
	;;
-*) die "unknown option $1" ;;
esac

out=${1:-$root/dist/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(compute_version)
targets=${TARGETS-$all_targets}
clients=${CLIENT_TARGETS-$default_clients}
legacy=${LEGACY_GOTOOLCHAIN:-go1.23.12}
router_tc=${ROUTER_GOTOOLCHAIN:-}
command -v go >/dev/null || die "go not found in PATH"

# go_for TARGET prints the GOTOOLCHAIN value to use (empty: default).
legacy_checked="" legacy_ok=""
go_for() {
	if [ -n "$router_tc" ]; then
		case "$1" in darwin-* | windows-*) ;; *) echo "$router_tc" ;; esac
		return 0
	fi
	[ "$1" = arm5 ] && [ "$legacy" != local ] || return 0
	if [ -z "$legacy_checked" ]; then
		legacy_checked=1
		if (cd "$root" && GOTOOLCHAIN=$legacy go version >/dev/null 2>&1); then
			legacy_ok=1
		else
			echo "cross.sh: warning: toolchain $legacy unavailable; arm5 built with the default Go (needs Linux >= 3.2)" >&2
		fi
	fi
	[ -n "$legacy_ok" ] && echo "$legacy"
	return 0
}

# build TARGET PKG OUTFILE [TAGS [X]]: X, another -X assignment.
build() {
	local t=$1 pkg=$2 outfile=$3 tags=${4:-} x=${5:-} tc envs ov
	envs=$(target_env "$t") || die "unknown target $t"
	tc=$(go_for "$t")
	if [ -n "$tc" ]; then
		ov=$(GOTOOLCHAIN=$tc runtime_overlay "$t") || die "$t: the runtime overlay could not be made"
	else
		ov=$(runtime_overlay "$t") || die "$t: the runtime overlay could not be made"
	fi
	# shellcheck disable=SC2086 # envs is a list of VAR=value words
	(cd "$root" && env CGO_ENABLED=0 GOFLAGS= ${tc:+GOTOOLCHAIN=$tc} $envs \
		go build -trimpath -buildvcs=false ${ov:+-overlay "$ov"} ${tags:+-tags "$tags"} -gcflags="$(gcflags "$t")" \
		-ldflags "$(ldflags "$t") -X $ldvar=$version${x:+ -X $x}" \
		-o "$outfile" "$pkg")
}

gosize() { gzip -9nc "$1" | wc -c; }
size() { wc -c <"$1"; }

echo "knockd-go $version -> $out"
rows=()
for t in $targets; do
	mkdir -p "$out/$t"
	build "$t" ./src/cmd/knockd "$out/$t/knockd"
	build "$t" ./src/cmd/knockd "$out/$t/knockd-fw4" "$fw4_tags" "$fw4_ldx"
	build "$t" ./src/cmd/knockd "$out/$t/knockd-fw4-full" "$fw4_full_tags"
	build "$t" ./src/cmd/knock "$out/$t/knock"
	tc=$(go_for "$t")
	gov=$(cd "$root" && env ${tc:+GOTOOLCHAIN=$tc} go env GOVERSION)
	rows+=("$(printf '%-14s %-42s %-10s %10d %10d %10d %10d %10d' "$t" "$(target_env "$t")" "$gov" \
		"$(size "$out/$t/knockd")" "$(gosize "$out/$t/knockd")" "$(size "$out/$t/knockd-fw4")" \
		"$(size "$out/$t/knockd-fw4-full")" "$(size "$out/$t/knock")")")
done
for t in $clients; do
	exe=knock
	case "$t" in windows-*) exe=knock.exe ;; esac
	mkdir -p "$out/$t"
	build "$t" ./src/cmd/knock "$out/$t/$exe"
	rows+=("$(printf '%-14s %-42s %-10s %10s %10s %10s %10s %10d' "$t" "$(target_env "$t")" \
		"$(cd "$root" && go env GOVERSION)" - - - - "$(size "$out/$t/$exe")")")
done

printf '%-14s %-42s %-10s %10s %10s %10s %10s %10s\n' target env go knockd knockd.gz knockd-fw4 fw4-full knock
for r in "${rows[@]}"; do
	echo "$r"
done
