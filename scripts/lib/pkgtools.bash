# shellcheck shell=bash
# Helpers shared by the packaging scripts (mkipk.sh, mkapk.sh, mkfeed.sh,
# feed-keys.sh). Sourced with root set to the repository.
#
#	feed_makefile PKG        the feed Makefile defining PKG (openwrt-feed/*/PKG/Makefile)
#	feed_define MK NAME      the text of "define NAME" in MK, as make expands it
#	feed_field MK PKG FIELD  a field (PROVIDES, CONFLICTS ...) of package PKG in MK
#	build_pkgtools DIR       go build apkpack and usign into DIR; sets APKPACK and USIGN
#	                         (already set APKPACK / USIGN are kept)
#	pkg_maintainer           the packages' Maintainer (MAINTAINER, else git config)

: "${root:?pkgtools.bash: set root to the repository first}"

# feed_makefile PKG: print the Makefile under openwrt-feed/ whose directory
# is named PKG; nothing when there is none.
feed_makefile() {
	local m
	for m in "$root"/openwrt-feed/*/"$1"/Makefile "$root"/openwrt-feed/*/*/"$1"/Makefile; do
		[ -f "$m" ] && { echo "$m"; return 0; }
	done
	return 0
}

# feed_define MAKEFILE NAME: print the body of "define NAME ... endef" with
# make's "$$" turned into "$"; NAME may also be another's alias, a line
# "NAME = $(OTHER)" (a variant's install recipe, conffiles or scripts are
# its default's). Other make references ($(VAR), ${VAR}) would need make
# itself, so they are an error. Prints nothing if NAME is not defined.
feed_define() {
	local mk=$1 name=$2 body alias
	[ -f "$mk" ] || return 0
	alias=$(awk -v name="$name" '
		index($0, name " = $(") == 1 && $0 ~ /\)$/ { s = substr($0, length(name) + 6); print substr(s, 1, length(s) - 1); exit }' "$mk")
	if [ -n "$alias" ]; then
		feed_define "$mk" "$alias"
		return
	fi
	body=$(awk -v name="$name" '
		$0 == "define " name { on = 1; next }
		on && $0 == "endef" { exit }
		on { print }' "$mk")
	[ -n "$body" ] || return 0
	if printf '%s\n' "$body" | sed 's/\$\$//g' | grep -q '\$[({]'; then
		echo "pkgtools: $mk: $name uses make variables; only \$\$ escapes are supported" >&2
		return 1
	fi
	printf '%s\n' "$body" | sed 's/\$\$/$/g'
}

# feed_userid MK NAME: the USERID of package NAME in the feed Makefile MK
# (package-pack.mk's Require-User), or nothing.
feed_userid() { feed_field "$1" "$2" USERID; }

# feed_field MK NAME FIELD: FIELD (USERID, PROVIDES, CONFLICTS, VARIANT,
# DEFAULT_VARIANT ...) of package NAME in the feed Makefile MK, as set in
# its "define Package/NAME" with FIELD:=, or nothing.
feed_field() {
	[ -f "$1" ] || return 0
	awk -v name="$2" -v field="$3" '
		$0 == "define Package/" name { on = 1; next }
		on && $0 == "endef" { exit }
		on && sub("^[ \t]*" field ":=", "") { print }' "$1"
}

# build_pkgtools DIR: build the Go packaging tools (standard library only)
# once per run.
build_pkgtools() {
	local dir=$1
	mkdir -p "$dir"
	if [ -z "${APKPACK:-}" ]; then
		(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$dir/apkpack" ./src/tools/apkpack) || return 1
		APKPACK=$dir/apkpack
	fi
	if [ -z "${USIGN:-}" ]; then
		(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$dir/usign" ./src/tools/usign) || return 1
		USIGN=$dir/usign
	fi
	export APKPACK USIGN
}

# pkg_maintainer: the Maintainer of every package and of the feed Makefile
# that `make dist` writes, in openwrt/packages' "Name <email>" form: MAINTAINER
# if set, else git config user.name and user.email. An error when neither
# gives that form.
pkg_maintainer() {
	local m=${MAINTAINER:-} n e
	if [ -z "$m" ]; then
		n=$(git -C "$root" config user.name 2>/dev/null || true)
		e=$(git -C "$root" config user.email 2>/dev/null || true)
		[ -n "$n" ] && [ -n "$e" ] && m="$n <$e>"
	fi
	if ! printf '%s\n' "$m" | grep -Eqx '[^<>]*[^<> ] <[^<> @]+@[^<> @]+>'; then
		echo "pkgtools: maintainer '${m}': set MAINTAINER='Name <email>' (or git config user.name and user.email)" >&2
		return 1
	fi
	printf '%s\n' "$m"
}
