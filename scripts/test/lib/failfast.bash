# shellcheck shell=bash
# Fail-fast check bookkeeping for the shell tests in scripts/test whose later
# checks build on earlier ones (cross builds, unpacked packages). A test sets
# suite=NAME, sources this file from the repository root, reports each check
# with ok (or fail, which ends the test) and ends with all_passed. It also
# provides $tmp, a directory removed on exit.
#
#	suite=my-test
#	# shellcheck source=scripts/test/lib/failfast.bash
#	. scripts/test/lib/failfast.bash

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
# ok DESC: count a passed check and print "ok: DESC".
ok() { passed=$((passed + 1)); echo "ok: $*"; }
# fail DESC: print "FAIL: DESC" and the summary, and end the test.
fail() {
	echo "FAIL: $*" >&2
	echo "${suite:?}: $passed passed, 1 failed"
	exit 1
}
# all_passed: print the summary of a test that reached its end.
all_passed() { echo "${suite:?}: $passed passed, 0 failed"; }
