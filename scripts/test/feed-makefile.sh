#!/usr/bin/env bash
# Checks openwrt-feed/net/knockd-go/Makefile without an OpenWrt SDK.
#
# A real "make package/knockd-go/compile" needs the SDK (toolchain, Go from
# the packages feed), which this test does not download. Instead GNU make
# evaluates the Makefile against small stand-ins for $(TOPDIR)/rules.mk,
# $(INCLUDE_DIR)/package.mk and the packages feed's golang-package.mk, and
# runs the package install recipes into a temporary directory, with the
# repository as PKG_BUILD_DIR (what USE_SOURCE_DIR gives) and placeholder
# binaries. Checked: required variables, the Go package paths against the
# source tree, every installed file exists with OpenWrt's modes, everything
# under files/ is installed, conffiles, and the postrm script.
# shellcheck source-path=SCRIPTDIR # lib/*.bash below, wherever shellcheck runs from
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
# FEED_MAKEFILE: another copy to check (scripts/test/dist.sh checks the one
# make dist writes).
mk=${FEED_MAKEFILE:-$here/openwrt-feed/net/knockd-go/Makefile}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=lib/checks.bash
. "$here/scripts/test/lib/checks.bash"

command -v make >/dev/null || { echo "FAIL GNU make is needed"; exit 1; }

# ---- stand-in SDK ----------------------------------------------------------
sdk="$tmp/sdk"
mkdir -p "$sdk/include" "$sdk/feeds/packages/lang/golang" "$tmp/bin" "$tmp/ipkg"

cat >"$sdk/rules.mk" <<'EOF'
# stand-in for the SDK's rules.mk
INCLUDE_DIR:=$(TOPDIR)/include
BUILD_DIR:=$(TOPDIR)/build_dir
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
LN:=ln -sf
EOF

cat >"$sdk/include/package.mk" <<'EOF'
# stand-in for include/package.mk: BuildPackage evaluates the package
# definition and makes targets that run its install recipe and print its
# metadata.
PKG_BUILD_DIR?=$(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
.DEFAULT_GOAL:=all
define BuildPackage
$(eval $(call Package/$(1)))
META_$(1):=TITLE=$(TITLE)|SECTION=$(SECTION)|CATEGORY=$(CATEGORY)|DEPENDS=$(DEPENDS)|CONFLICTS=$(CONFLICTS)|PROVIDES=$(PROVIDES)|VARIANT=$(VARIANT)|DEFAULT_VARIANT=$(DEFAULT_VARIANT)|USERID=$(USERID)
$(eval TITLE:=)$(eval CONFLICTS:=)$(eval PROVIDES:=)$(eval VARIANT:=)$(eval DEFAULT_VARIANT:=)$(eval USERID:=)
install-$(1):
	rm -rf $(DESTROOT)/$(1)
	mkdir -p $(DESTROOT)/$(1)
	$$(call Package/$(1)/install,$(DESTROOT)/$(1))
meta-$(1):
	@echo '$$(META_$(1))'
conffiles-$(1):
	@printf '%s\n' $$(strip $$(Package/$(1)/conffiles))
postrm-$(1):
	@$$(file >$(POSTRM_OUT),$$(Package/$(1)/postrm))
	@true
all: install-$(1)
endef
vars:
	@echo 'PKG_NAME=$(PKG_NAME)'
	@echo 'PKG_VERSION=$(PKG_VERSION)'
	@echo 'PKG_RELEASE=$(PKG_RELEASE)'
	@echo 'PKG_SOURCE=$(PKG_SOURCE)'
	@echo 'PKG_HASH=$(PKG_HASH)'
	@echo 'PKG_MAINTAINER=$(PKG_MAINTAINER)'
	@echo 'GO_PKG_TAGS=$(GO_PKG_TAGS)'
	@echo 'PKG_SOURCE_URL=$(PKG_SOURCE_URL)'
	@echo 'PKG_MIRROR_HASH=$(PKG_MIRROR_HASH)'
	@echo 'PKG_BUILD_DEPENDS=$(PKG_BUILD_DEPENDS)'
	@echo 'PKG_BUILD_FLAGS=$(PKG_BUILD_FLAGS)'
	@echo 'GO_PKG=$(GO_PKG)'
	@echo 'GO_PKG_BUILD_PKG=$(GO_PKG_BUILD_PKG)'
	@echo 'GO_PKG_LDFLAGS_X=$(GO_PKG_LDFLAGS_X)'
	@echo 'GO_PKG_GCFLAGS=$(GO_PKG_GCFLAGS)'
	@echo 'GOLANG_INCLUDED=$(GOLANG_INCLUDED)'
EOF

cat >"$sdk/feeds/packages/lang/golang/golang-package.mk" <<'EOF'
# stand-in for the packages feed's lang/golang/golang-package.mk
GOLANG_INCLUDED:=yes
GO_ARCH_DEPENDS:=@(aarch64||arm||i386||i686||loongarch64||mips||mips64||mips64el||mipsel||riscv64||x86_64)
define GoBinPackage
  ifndef Package/$(1)/install
    $$(error $(1): no install recipe)
  endif
endef
EOF

printf '#!/bin/sh\necho knockd\n' >"$tmp/bin/knockd"
printf '#!/bin/sh\necho knock\n' >"$tmp/bin/knock"
chmod 0644 "$tmp/bin/knockd" "$tmp/bin/knock" # INSTALL_BIN must set the mode

mk_run() {
	make --no-print-directory -C "$(dirname "$mk")" TOPDIR="$sdk" PKG_BUILD_DIR="$here" \
		GO_PKG_BUILD_BIN_DIR="$tmp/bin" DESTROOT="$tmp/ipkg" "$@"
}

# ---- variables -------------------------------------------------------------
if ! mk_run vars >"$tmp/vars" 2>"$tmp/err"; then
	cat "$tmp/err"
	fail "make evaluates the Makefile"
	summary
	exit 1
fi
pass "make evaluates the Makefile against the stand-in SDK"
var() { sed -n "s/^$1=//p" "$tmp/vars"; }

for v in PKG_NAME PKG_VERSION PKG_RELEASE PKG_SOURCE PKG_SOURCE_URL PKG_HASH GO_PKG GO_PKG_BUILD_PKG GO_PKG_LDFLAGS_X; do
	check "$v is set ($(var "$v"))" test -n "$(var "$v")"
done
check "no PKG_MIRROR_HASH (a tarball with PKG_HASH instead)" test -z "$(var PKG_MIRROR_HASH)"
check "PKG_HASH is a SHA-256 or, in the template, unknown" grep -Eqx 'PKG_HASH=([0-9a-f]{64}|unknown)' "$tmp/vars"
check "GO_PKG_TAGS builds without the iptables backend (as scripts/cross.sh's knockd-fw4)" \
	test "$(var GO_PKG_TAGS)" = "$(bash "$here/scripts/cross.sh" --fw4-tags)"
check "PKG_NAME is knockd-go" test "$(var PKG_NAME)" = knockd-go
check "PKG_BUILD_DEPENDS has golang/host" grep -q '^PKG_BUILD_DEPENDS=.*golang/host' "$tmp/vars"
check "PKG_BUILD_FLAGS has no-mips16" grep -q '^PKG_BUILD_FLAGS=.*no-mips16' "$tmp/vars"
check "golang-package.mk found through the packages feed" test "$(var GOLANG_INCLUDED)" = yes
# shellcheck disable=SC2016 # literal make syntax
check "includes \$(INCLUDE_DIR)/package.mk" grep -q '^include \$(INCLUDE_DIR)/package.mk' "$mk"
check "includes golang-package.mk (../../lang/golang first)" grep -q '\.\./\.\./lang/golang/golang-package.mk' "$mk"

module=$(sed -n 's/^module //p' "$here/go.mod")
check "GO_PKG equals the go.mod module ($module)" test "$(var GO_PKG)" = "$module"
for p in $(var GO_PKG_BUILD_PKG); do
	dir=${p#"$module"/}
	check "GO_PKG_BUILD_PKG $dir is a directory of the module" test -d "$here/$dir"
done
for want in src/cmd/knockd src/cmd/knock; do
	check "GO_PKG_BUILD_PKG builds $want" grep -q "^GO_PKG_BUILD_PKG=.*$module/$want\( \|$\)" "$tmp/vars"
done
ldx=$(var GO_PKG_LDFLAGS_X)
ldx=${ldx%% *} # the version's; the variants' own follow
ldpkg=${ldx%%=*}
ldvar=${ldpkg##*.}
lddir=${ldpkg%.*}
lddir=${lddir#"$module"/}
check "GO_PKG_LDFLAGS_X sets $ldpkg" test "$ldpkg" = "$module/src/internal/version.Version"
check "$lddir declares var $ldvar" grep -q "^var $ldvar " "$here/$lddir"/*.go
check "version stamped is PKG_VERSION" test "${ldx#*=}" = "$(var PKG_VERSION)"

# The two variants (as dnsmasq and dnsmasq-full): the SDK builds the
# package once per variant with BUILD_VARIANT set; each one's tags and -X
# are scripts/cross.sh's for knockd-fw4 and knockd-fw4-full.
mk_run vars BUILD_VARIANT=basic >"$tmp/vars-basic" 2>&1 || true
mk_run vars BUILD_VARIANT=full >"$tmp/vars-full" 2>&1 || true
not() { ! "$@"; }
vvar() { sed -n "s/^$2=//p" "$tmp/vars-$1"; }
check "variant basic: GO_PKG_TAGS are cross.sh's knockd-fw4's ($(vvar basic GO_PKG_TAGS))" \
	test "$(vvar basic GO_PKG_TAGS)" = "$(bash "$here/scripts/cross.sh" --fw4-tags)"
check "variant basic: GO_PKG_LDFLAGS_X names knockd-go-full (cross.sh --fw4-ldx)" \
	grep -qw -- "$(bash "$here/scripts/cross.sh" --fw4-ldx)" <<<"$(vvar basic GO_PKG_LDFLAGS_X)"
fuller=$(bash "$here/scripts/cross.sh" --fw4-ldx)
fuller=${fuller%%=*}
fdir=${fuller%.*}
fdir=${fdir#"$module"/}
check "$fdir declares var ${fuller##*.}" grep -q "^var ${fuller##*.} " "$here/$fdir"/*.go
check "variant full: GO_PKG_TAGS are cross.sh's knockd-fw4-full's ($(vvar full GO_PKG_TAGS))" \
	test "$(vvar full GO_PKG_TAGS)" = "$(bash "$here/scripts/cross.sh" --fw4-full-tags)"
check "variant full: no feature names another package" not grep -q feature.Fuller <<<"$(vvar full GO_PKG_LDFLAGS_X)"
check "GO_PKG_GCFLAGS is cross.sh's (no inlining in every package)" \
	test "$(var GO_PKG_GCFLAGS)" = "$("$here/scripts/cross.sh" --gcflags mipsle)"

# ---- install recipes ---------------------------------------------------------
if mk_run all >"$tmp/install.log" 2>&1; then
	pass "install recipes run (knockd-go, knockd-go-full, knock-go)"
else
	cat "$tmp/install.log"
	fail "install recipes run"
fi
mode() { stat -c %a "$1" 2>/dev/null || echo missing; }
d="$tmp/ipkg/knockd-go"
check "knockd-go: /usr/sbin/knockd 0755" test "$(mode "$d/usr/sbin/knockd")" = 755
check "knockd-go: /etc/init.d/knockd 0755" test "$(mode "$d/etc/init.d/knockd")" = 755
check "knockd-go: /etc/config/knockd 0600" test "$(mode "$d/etc/config/knockd")" = 600
check "knockd-go: /etc/uci-defaults/90-knockd 0644" test "$(mode "$d/etc/uci-defaults/90-knockd")" = 644
check "knockd-go: /usr/share/knockd/firewall.include 0755" test "$(mode "$d/usr/share/knockd/firewall.include")" = 755
check "knock-go: /usr/bin/knock 0755" test "$(mode "$tmp/ipkg/knock-go/usr/bin/knock")" = 755
check "knock-go holds only the client" test "$(cd "$tmp/ipkg/knock-go" && find . -type f)" = ./usr/bin/knock

# Everything under files/ must reach the package, unchanged.
missing=0
while IFS= read -r f; do
	if ! cmp -s "$here/files/$f" "$d/$f"; then
		echo "     not installed (or changed): files/$f"
		missing=$((missing + 1))
	fi
done < <(cd "$here/files" && find . -type f ! -name '*.md' | sed 's|^\./||' | sort)
while IFS= read -r f; do
	if [ "$(readlink "$here/files/$f")" != "$(readlink "$d/$f" 2>/dev/null)" ]; then
		echo "     symbolic link not installed (or changed): files/$f"
		missing=$((missing + 1))
	fi
done < <(cd "$here/files" && find . -type l | sed 's|^\./||' | sort)
check "every file and link under files/ is installed unchanged" test "$missing" -eq 0
check "rpcd plugin: /usr/libexec/rpcd/knockd 0755" test "$(mode "$d/usr/libexec/rpcd/knockd")" = 755
check "files/usr/share/nftables.d is not empty" test -n "$(find "$here/files/usr/share/nftables.d" -type f 2>/dev/null)"
extra=$(cd "$d" && find . -type f | sed 's|^\./||' | grep -v '^usr/sbin/knockd$' | while read -r f; do [ -f "$here/files/$f" ] || echo "$f"; done)
check "nothing installed that is not in files/ (besides the binary)" test -z "$extra"

# ---- metadata, conffiles, postrm --------------------------------------------
meta=$(mk_run meta-knockd-go)
check "knockd-go has a TITLE" grep -q 'TITLE=[^|]' <<<"$meta"
check "knockd-go DEPENDS on \$(GO_ARCH_DEPENDS)" grep -q 'DEPENDS=@(aarch64||arm' <<<"$meta"
check "knockd-go conflicts with knockd" grep -q 'CONFLICTS=knockd|' <<<"$meta"
check "knockd-go is the default variant, basic" grep -q 'VARIANT=basic|DEFAULT_VARIANT=1|' <<<"$meta"
full=$(mk_run meta-knockd-go-full)
check "knockd-go-full is the variant full" grep -q '|VARIANT=full|DEFAULT_VARIANT=|' <<<"$full"
check "knockd-go-full provides knockd-go" grep -q '|PROVIDES=knockd-go|' <<<"$full"
check "knockd-go-full conflicts with knockd and knockd-go" grep -q '|CONFLICTS=knockd knockd-go|' <<<"$full"
check "knockd-go-full has knockd-go's user" test "${full##*USERID=}" = "${meta##*USERID=}"
check "knock-go is built once, in the variant basic" grep -q '|VARIANT=basic|' <<<"$(mk_run meta-knock-go)"
check "knockd-go-full installs knockd-go's files" diff -r "$d" "$tmp/ipkg/knockd-go-full"
check "knockd-go-full's conffiles are knockd-go's" test "$(mk_run conffiles-knockd-go-full)" = "$(mk_run conffiles-knockd-go)"
check "knock-go conflicts with knock" grep -q 'CONFLICTS=knock|' <<<"$(mk_run meta-knock-go)"
conff=$(mk_run conffiles-knockd-go)
check "conffiles: /etc/config/knockd alone (OpenWrt reads UCI, no /etc/knockd.conf)" test "$conff" = /etc/config/knockd
while read -r cf; do
	check "conffile $cf is installed by Package/knockd-go/install" test -f "$d$cf"
done <<<"$conff"
mk_run postrm-knockd-go POSTRM_OUT="$tmp/postrm"
mk_run postrm-knockd-go-full POSTRM_OUT="$tmp/postrm-full"
check "knockd-go-full's postrm is knockd-go's" cmp -s "$tmp/postrm" "$tmp/postrm-full"
check "postrm starts with #!/bin/sh" test "$(head -1 "$tmp/postrm")" = '#!/bin/sh'
check "postrm parses (sh -n)" sh -n "$tmp/postrm"
if command -v shellcheck >/dev/null 2>&1; then
	check "postrm passes shellcheck" shellcheck -s sh "$tmp/postrm"
fi
# shellcheck disable=SC2016 # $1 belongs to the inner bash
check "no custom postinst/prerm (OpenWrt's default_postinst/default_prerm)" \
	bash -c '! grep -Eq "^define Package/[^/]+/(postinst|prerm)" "$1"' _ "$mk"

echo "note: a real SDK build (make package/knockd-go/compile) is not run here"
summary
