# shellcheck shell=bash
# Check bookkeeping shared by the shell tests in scripts/test. A test sources
# this file (it is not run on its own; the name does not end in .sh so that
# `make test-scripts` does not take it for a test), reports each check with
# pass, fail or check, and ends with summary, whose status is the test's:
#
#	# shellcheck source=lib/checks.bash
#	. "$here/scripts/test/lib/checks.bash"
#	check "knockd builds" go build ./src/cmd/knockd
#	summary

fails=0
checks=0
# pass DESC: count a check that passed and print "ok   DESC".
pass() { checks=$((checks + 1)); echo "ok   $*"; }
# fail DESC: count a check that failed and print "FAIL DESC".
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL $*"; }
# check DESC COMMAND...: pass when COMMAND succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then pass "$desc"; else fail "$desc"; fi
}
# summary: print "N checks, M failed"; succeeds only when no check failed.
summary() {
	echo "$checks checks, $fails failed"
	[ "$fails" -eq 0 ]
}
