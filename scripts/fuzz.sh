#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for FUZZTIME each (default
# 30s) and prints the executions per target. Targets are discovered with
# `go test -list '^Fuzz'`, so new ones are picked up without editing this
# script. A failing target leaves its crasher in the package's
# testdata/fuzz/<Target>/ (keep it: it becomes a regression test).
#
#   scripts/fuzz.sh                  every package under ./src
#   scripts/fuzz.sh ./src/internal/decode     only these packages
#   FUZZTIME=2m scripts/fuzz.sh      longer runs (any -fuzztime value)
#
# FUZZMINTIME (default 10s) bounds the minimization of each new interesting
# input; Go's default of 60s can eat a whole short run.
#
# Exit status: 0 when every target ran clean, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMINTIME=${FUZZMINTIME:-10s}
if [ "$#" -gt 0 ]; then
	pkgs=("$@")
else
	pkgs=(./src/...)
fi

mapfile -t packages < <("$GO" list "${pkgs[@]}")
if [ "${#packages[@]}" -eq 0 ]; then
	echo "fuzz: no packages" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

failed=0
ran=0
summary=()
for pkg in "${packages[@]}"; do
	if ! targets=$("$GO" test -list '^Fuzz' "$pkg" 2>"$log"); then
		echo "fuzz: $pkg: cannot list tests:" >&2
		cat "$log" >&2
		summary+=("$(printf '%-50s %-22s %s' "$pkg" "-" "BUILD FAILED")")
		failed=1
		continue
	fi
	for target in $(printf '%s\n' "$targets" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($FUZZTIME)"
		status=ok
		if ! "$GO" test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime="$FUZZMINTIME" "$pkg" >"$log" 2>&1; then
			status=FAILED
			failed=1
			cat "$log"
		fi
		ran=$((ran + 1))
		last=$(grep 'execs:' "$log" | tail -n 1)
		execs=$(printf '%s\n' "$last" | sed -n 's/.*execs: \([0-9]*\).*/\1/p')
		interesting=$(printf '%s\n' "$last" | sed -n 's/.*new interesting: \([0-9]*\).*/\1/p')
		line=$(printf '%-50s %-22s %12s execs  %4s new  %s' "$pkg" "$target" "${execs:-?}" "${interesting:-?}" "$status")
		echo "$line"
		summary+=("$line")
	done
done

echo
echo "== fuzz summary (FUZZTIME=$FUZZTIME, $ran targets)"
printf '%s\n' "${summary[@]}"
if [ "$ran" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
exit "$failed"
