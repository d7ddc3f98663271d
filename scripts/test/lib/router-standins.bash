# shellcheck shell=bash
# Stand-ins shared by the DD-WRT and Tomato script tests (ddwrt-scripts.sh,
# tomato-scripts.sh). Sourced once tmp names a fresh temporary directory; it
# sets R, the router root the scripts get as KNOCKD_ROOT, LOG, where the
# stand-in knockd records its argv (and its daemon the signals it gets), and
# NV, the stand-in nvram's KEY=VALUE file. The test creates its own
# directories and copies its scripts into $R/jffs, then calls standins_setup,
# which writes the stand-ins (`nvram` and `logger` on PATH, knockd and
# knockd-daemon in $tmp and $R/jffs/usr/sbin) and exports the environment they
# read. Only processes the test starts are signalled: standins_cleanup (the
# EXIT trap) stops the stand-in daemon named by the pid file and $sleeper.

: "${tmp:?router-standins.bash: set tmp to a temporary directory first}"
R="$tmp/root"
LOG="$tmp/knockd.log"
NV="$tmp/nvram"

standins_cleanup() {
	# Stop the stand-in daemon if a check left it running (pid from our file).
	if [ -r "$R/var/run/knockd.pid" ]; then
		p=$(cat "$R/var/run/knockd.pid")
		[[ $p =~ ^[0-9]+$ ]] && grep -q knockd-daemon "/proc/$p/cmdline" 2>/dev/null && kill "$p" 2>/dev/null
	fi
	[ -n "${sleeper:-}" ] && kill "$sleeper" 2>/dev/null
	rm -rf "$tmp"
}

standins_setup() {
	mkdir -p "$R/jffs/etc" "$R/jffs/usr/sbin" "$R/var/run" "$R/tmp" "$tmp/bin"
	printf '[options]\n\tUseSyslog\n[ssh]\n\tSequence = 7000,8000,9000\n' >"$R/jffs/etc/knockd.conf"

	cat >"$tmp/bin/nvram" <<'EOS'
#!/bin/sh
# stand-in for the firmware's nvram: "nvram get KEY" from $NVRAM_FILE (KEY=VALUE)
[ "$1" = get ] || exit 1
sed -n "s/^$2=//p" "$NVRAM_FILE"
EOS
	cat >"$tmp/bin/logger" <<'EOS'
#!/bin/sh
echo "logger $*" >>"$KNOCKD_TEST_LOG.syslog"
EOS
	cat >"$tmp/knockd" <<'EOS'
#!/bin/sh
# stand-in knockd: records argv; -d starts a background daemon writing -p
echo "argv $0 $*" >>"$KNOCKD_TEST_LOG"
daemon=0
pidfile=/var/run/knockd.pid
while [ $# -gt 0 ]; do
	case $1 in -d) daemon=1 ;; -p) shift; pidfile=$1 ;; esac
	shift
done
[ "$daemon" = 1 ] || exit 0
rm -f "$pidfile"
/bin/sh "$(dirname "$0")/knockd-daemon" "$KNOCKD_TEST_LOG" "$pidfile" </dev/null >/dev/null 2>&1 &
# like a real daemon, return once the pid file is there (the daemon writes it
# after its signal handlers are set)
i=0
while [ ! -s "$pidfile" ] && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
EOS
	cat >"$tmp/knockd-daemon" <<'EOS'
#!/bin/sh
# the stand-in daemon: records SIGHUP, SIGUSR2 and SIGTERM, lives at most 60 s
log=$1 pidfile=$2
trap 'echo HUP >>"$log"' HUP
trap 'echo USR2 >>"$log"' USR2
trap 'echo TERM >>"$log"; rm -f "$pidfile"; exit 0' TERM
echo $$ >"$pidfile"
i=0
while [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
EOS
	chmod +x "$tmp/bin/nvram" "$tmp/bin/logger" "$tmp/knockd" "$tmp/knockd-daemon"
	cp "$tmp/knockd" "$tmp/knockd-daemon" "$R/jffs/usr/sbin/"

	: >"$LOG"
	export NVRAM_FILE="$NV" KNOCKD_TEST_LOG="$LOG" KNOCKD_ROOT="$R"
	export PATH="$tmp/bin:/usr/bin:/bin"
}

# nvram_set KEY=VALUE...: replace the stand-in nvram's contents.
nvram_set() { printf '%s\n' "$@" >"$NV"; }
# argvs: how many times the stand-in knockd was run.
argvs() { grep -c '^argv' "$LOG" || true; }
# last_argv: the arguments of its last run.
last_argv() { grep '^argv' "$LOG" | tail -1 | cut -d' ' -f3-; }
pid() { cat "$R/var/run/knockd.pid" 2>/dev/null; }
# running PID: the process exists and is not a zombie (init may reap late)
running() { kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }
alive() { local p; p=$(pid) && [ -n "$p" ] && running "$p"; }
gone() { ! running "$1"; }
# wait_for PATTERN: the log gets a line matching PATTERN within 3 s
wait_for() {
	for _ in $(seq 30); do
		grep -qx "$1" "$LOG" && return 0
		sleep 0.1
	done
	return 1
}
want() { # want WAN: argv of the last start, as the script builds it
	echo "-d -i $1 -c ${2:-$R/jffs/etc/knockd.conf} -p $R/var/run/knockd.pid"
}
