#!/usr/bin/env bash
# apt.sh ARCH STATEDIR apt-get|apt-cache ARGS...: run apt for a foreign
# Debian architecture against a private state (lists, cache, sources) in
# STATEDIR. The host's dpkg architectures and apt lists are untouched.
set -euo pipefail
arch=$1 tool=$3
mkdir -p "$2"
state=$(cd "$2" && pwd)
shift 3
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/parts" "$state/prefs"
touch "$state/status"
if [ ! -s "$state/sources.list" ]; then
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	cat >"$state/sources.list" <<SRC
deb [arch=$arch signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb [arch=$arch signed-by=$keyring] http://deb.debian.org/debian bookworm-updates main
deb [arch=$arch signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
SRC
fi
exec "$tool" -q \
	-o Debug::NoLocking=1 \
	-o APT::Architecture="$arch" -o APT::Architectures="$arch" \
	-o Dir::State="$state" -o Dir::State::Lists="$state/lists" -o Dir::State::status="$state/status" \
	-o Dir::Cache="$state/cache" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
	-o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts="$state/parts" \
	-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$state/prefs" \
	"$@"
