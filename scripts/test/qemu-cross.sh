#!/usr/bin/env bash
# qemu-cross.sh: run the cross-built knockd and knock under qemu-user on the
# CPUs of real routers, and the -short Go test suites on big-endian MIPS and
# on ARM.
#
# The CPU models have no FPU where the routers have none: MIPS 24Kc (ath79,
# ramips) catches a binary built without GOMIPS=softfloat, and the XScale
# pxa270 (Kirkwood-class ARMv5, no VFP) catches one built with GOARM=7; both
# die with SIGILL there.
#
# qemu is called directly (go test -exec), so binfmt_misc is not needed; tests
# that run their own binary again use KNOCKD_GO_TEST_EXEC (the emulator).
#
# Environment:
#   KNOCKD_CHECK_FLAG   the daemon's "check the config and exit" flag (default -k)
#   QEMU_TEST_PKGS      packages for the Go suites (default ./src/...)
#   QEMU_TEST_ARCHES    Go suites to run (default "mips arm"; "" to skip)
#   QEMU_TEST_TIMEOUT   go test -timeout per package (default 180s)
#   QEMU_TEST_SKIP_BE   go test -skip pattern for big-endian MIPS (default
#                       ^TestRawErrors$: qemu-user mistranslates netlink for
#                       big-endian guests, so net.InterfaceByName fails there
#                       with "parsenetlinkrouteattr: invalid argument"; real
#                       kernels are fine)
#   KNOCKD_GO_STRICT=1  a missing qemu fails instead of skipping
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
suite="qemu-cross"
# shellcheck source=scripts/test/lib/failfast.bash
. scripts/test/lib/failfast.bash

checkflag=${KNOCKD_CHECK_FLAG:--k}
pkgs=${QEMU_TEST_PKGS:-./src/...}
arches=${QEMU_TEST_ARCHES-mips arm}
ttimeout=${QEMU_TEST_TIMEOUT:-180s}
skip_be=${QEMU_TEST_SKIP_BE-^TestRawErrors\$}
version=9.8.7-qemu

# target -> "qemu binary|CPU model"
declare -A emu=(
	[mips]="qemu-mips-static|24Kc"
	[mipsle]="qemu-mipsel-static|24Kc"
	[arm7]="qemu-arm-static|cortex-a7"
	[arm5]="qemu-arm-static|pxa270"
	[arm64]="qemu-aarch64-static|cortex-a53"
)
targets="mips mipsle arm7 arm5 arm64"

for t in $targets; do
	q=${emu[$t]%%|*}
	if ! command -v "$q" >/dev/null; then
		if [ "${KNOCKD_GO_STRICT:-}" = 1 ]; then
			fail "$q not installed (Debian package qemu-user-static)"
		fi
		echo "SKIP: $q not installed (Debian package qemu-user-static)"
		exit 0
	fi
done

start=$(date +%s)
VERSION=$version TARGETS=$targets CLIENT_TARGETS="" scripts/cross.sh "$tmp/bin"
echo "cross build: $(($(date +%s) - start)) s"

cat >"$tmp/bad.conf" <<'EOF'
[options]
	UseSyslog
[broken]
	Sequence = 7000,8000,70000
	Command  = true
EOF

start=$(date +%s)
for t in $targets; do
	q=${emu[$t]%%|*} cpu=${emu[$t]#*|}
	run() { QEMU_CPU=$cpu timeout 60 "$q" "$@"; }
	out=$(run "$tmp/bin/$t/knockd" -V 2>&1) || fail "$t: knockd -V under $q -cpu $cpu: $out"
	case "$out" in "knockd $version"*) ;; *) fail "$t: knockd -V printed '$out'" ;; esac
	out=$(run "$tmp/bin/$t/knock" -V 2>&1) || fail "$t: knock -V under $q -cpu $cpu: $out"
	case "$out" in "knock $version"*) ;; *) fail "$t: knock -V printed '$out'" ;; esac
	out=$(run "$tmp/bin/$t/knockd" -h 2>&1) || true
	case "$out" in *sage*) ;; *) fail "$t: knockd -h printed no usage: $out" ;; esac
	out=$(run "$tmp/bin/$t/knockd" -c scripts/entware/knockd.conf "$checkflag" 2>&1) ||
		fail "$t: knockd $checkflag rejected scripts/entware/knockd.conf: $out"
	if out=$(run "$tmp/bin/$t/knockd" -c "$tmp/bad.conf" "$checkflag" 2>&1); then
		fail "$t: knockd $checkflag accepted a config with port 70000: $out"
	fi
	ok "$t: knockd and knock run on $cpu ($q): -V, -h, config check accepts the sample and rejects a bad port"
done
# The FPU-less CPU models are what make the runs above meaningful.
if (QEMU_CPU=pxa270 timeout 60 qemu-arm-static "$tmp/bin/arm7/knockd" -V >/dev/null 2>&1) 2>/dev/null; then
	fail "a GOARM=7 binary ran on pxa270: the ARMv5 check proves nothing"
fi
ok "a GOARM=7 binary dies on pxa270 (no VFP), so the arm5 run above is a real check"
# The Go runtime's usleep on 32-bit MIPS (cross.sh, runtime_overlay):
# every sleep of the runtime's monitor thread, a number of microseconds,
# reaches nanosleep(2) in whole microseconds. The defect handed it the
# microseconds as nanoseconds ({tv_sec=0, tv_nsec=20} for 20 µs).
# qemu-user passes the guest's nanosleep on to the host's, where strace
# sees it.
if command -v strace >/dev/null; then
	for t in mips mipsle; do
		q=${emu[$t]%%|*}
		n=0
		for _ in 1 2 3; do # the monitor sleeps in the first milliseconds of any run
			QEMU_CPU=24Kc timeout 120 strace -f -qq -o "$tmp/strace.$t" -e trace=nanosleep \
				"$q" "$tmp/bin/$t/knockd" -c scripts/entware/knockd.conf "$checkflag" >/dev/null 2>&1 ||
				fail "$t: knockd $checkflag under strace and $q failed"
			n=$(grep -c 'nanosleep({tv_sec=' "$tmp/strace.$t" || true)
			[ "$n" -gt 0 ] && break
		done
		[ "$n" -gt 0 ] || fail "$t: the runtime never slept in 3 runs of knockd $checkflag: nothing checked"
		bad=$(grep 'nanosleep({tv_sec=' "$tmp/strace.$t" | grep -Ev 'tv_nsec=(0|[0-9]*000)}' | head -n 3 || true)
		[ -z "$bad" ] || fail "$t: the Go runtime slept nanoseconds where it meant microseconds (cross.sh runtime_overlay not applied?):
$bad"
		ok "$t: the Go runtime's $n sleeps in knockd $checkflag are whole microseconds (usleep corrected)"
	done
elif [ "${KNOCKD_GO_STRICT:-}" = 1 ]; then
	fail "strace not installed (Debian package strace): the MIPS runtime's sleeps are not checked"
else
	echo "SKIP: strace not installed (Debian package strace): the MIPS runtime's sleeps are not checked"
fi
echo "binary runs: $(($(date +%s) - start)) s"

# The test binaries are built under $gotmp (GOTMPDIR): every process the
# suites leave behind names it on its command line. An emulator hung in a
# fork (below) outlives its test binary, which timed out: reap kills what
# is left once a suite is done, and when the tier ends.
gotmp=$tmp/gotmp
mkdir -p "$gotmp"
reap() { pkill -KILL -f "$gotmp/" 2>/dev/null || true; }
trap 'reap; rm -rf "$tmp"' EXIT
# The check that reap works: a stand-in for a hung emulator, a process
# of its own session whose command line names a test binary under $gotmp.
ln -s "$(command -v sleep)" "$gotmp/hung.test"
(setsid "$gotmp/hung.test" 300 </dev/null >/dev/null 2>&1 &)
for _ in $(seq 50); do pgrep -f "$gotmp/hung.test" >/dev/null && break; sleep 0.1; done
reap
for _ in $(seq 50); do pgrep -f "$gotmp/hung.test" >/dev/null || break; sleep 0.1; done
if pgrep -f "$gotmp/hung.test" >/dev/null; then
	fail "a process left behind by a suite outlives reap"
fi
ok "a process a suite leaves behind (an emulator hung in a fork) is killed when the suite ends"

# run_suite LOG PKG...: the -short tests of PKG under $q with $envs and
# $skip, their output kept in LOG (shown by the caller: a package hung by
# the emulator, run again, must not print a failure in a passing run).
run_suite() {
	local log=$1 rc=0
	shift
	env CGO_ENABLED=0 GOOS=linux GOTMPDIR="$gotmp" KNOCKD_GO_TEST_EXEC="$q" "${envs[@]}" timeout 900 \
		go test -short -count=1 -timeout "$ttimeout" "${skip[@]}" -exec "$q" "$@" >"$log" 2>&1 || rc=$?
	reap
	return "$rc"
}

# Go test suites, -short: privileged tests skip (testenv.NeedRoot).
for a in $arches; do
	skip=()
	case "$a" in
	mips)
		envs=(GOARCH=mips GOMIPS=softfloat QEMU_CPU=24Kc) q=qemu-mips-static
		[ -n "$skip_be" ] && skip=(-skip "$skip_be")
		;;
	mipsle) envs=(GOARCH=mipsle GOMIPS=softfloat QEMU_CPU=24Kc) q=qemu-mipsel-static ;;
	arm) envs=(GOARCH=arm GOARM=7 QEMU_CPU=cortex-a7) q=qemu-arm-static ;;
	arm64) envs=(GOARCH=arm64 QEMU_CPU=cortex-a53) q=qemu-aarch64-static ;;
	*) fail "unknown QEMU_TEST_ARCHES entry $a" ;;
	esac
	start=$(date +%s)
	echo "== go test -short under $q (${envs[*]}) ${skip[*]}: $pkgs (output when done)"
	# shellcheck disable=SC2086 # pkgs is a list of package patterns
	if run_suite "$tmp/go-$a.log" $pkgs; then
		cat "$tmp/go-$a.log"
	else
		# qemu-user emulates a fork of a multi-threaded program badly: now
		# and then the child hangs inside the emulator before its exec
		# (seen with qemu-arm-static 7.2; the test binary then times out
		# in syscall.forkExec waiting for it). That is the emulator's, not
		# the test's: a package that timed out there runs again (twice at
		# most), and the run says so. Any other failure fails the tier.
		log=$tmp/go-$a.log
		for again in 1 2 3; do
			hung=$(awk '/^panic: test timed out/ {t = 1} t && /syscall\.forkExec/ {h = 1} /^FAIL\t/ {if (t && h) print $2; t = 0; h = 0}' "$log")
			other=$(grep -E '^(--- FAIL|FAIL\t)' "$log" | grep -vF "$(printf '%s\n' $hung | sed 's/^/FAIL\t/')" | grep -v '^FAIL\t*$' || true)
			if [ -z "$hung" ] || [ -n "$other" ] || [ "$again" = 3 ]; then
				# A real failure: every run's whole output.
				cat "$tmp"/go-"$a"*.log
				fail "go test under $q failed (see above)"
			fi
			if [ "$again" = 1 ]; then
				# The packages that passed; the hung one's timeout and
				# stack are the emulator's, out of sight.
				grep -E '^(ok|\?) ' "$tmp/go-$a.log" || true
			fi
			echo "note: $q hung in a fork (an emulator fault, stack in syscall.forkExec): again: $hung"
			log=$tmp/go-$a-again$again.log
			# shellcheck disable=SC2086 # hung is a list of packages
			if run_suite "$log" $hung; then
				cat "$log"
				cat "$log" >> "$tmp/go-$a.log"
				break
			fi
		done
	fi
	n=$(grep -c '^ok ' "$tmp/go-$a.log" || true)
	[ "$n" -gt 0 ] || fail "go test under $q ran no package"
	ok "$a: $n packages pass their -short tests under $q in $(($(date +%s) - start)) s"
done

all_passed
