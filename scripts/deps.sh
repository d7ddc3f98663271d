#!/usr/bin/env bash
# Installs what the tests, the demo and the benchmark need on Debian 12:
# the real knock tools, firewalls, qemu-user, fwknop, node (the LuCI app's
# checks) and the Go 1.23 toolchain (through the Go module proxy).
# Idempotent; quick when all is there.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have knockd || need+=(knockd)
have iptables-legacy || need+=(iptables)
have nft || need+=(nftables)
have qemu-mips-static || need+=(qemu-user-static)
have fwknop || need+=(fwknop-client)
have fwknopd || need+=(fwknop-server)
have shellcheck || need+=(shellcheck)
have mksquashfs || need+=(squashfs-tools)
have tcpdump || need+=(tcpdump)
have strace || need+=(strace)    # the MIPS runtime's sleeps (scripts/test/qemu-cross.sh)
have ip || need+=(iproute2)
have file || need+=(file)
have gcc || need+=(gcc)
have musl-gcc || need+=(musl-tools)
have bc || need+=(bc)
# The router-in-a-box guests (scripts/router-box): qemu-system, and what
# builds their images from Debian packages.
have qemu-system-mipsel || need+=(qemu-system-mips)
have qemu-system-arm || need+=(qemu-system-arm)
have cpio || need+=(cpio)
have depmod || need+=(kmod)
have node || need+=(nodejs)
have groff || need+=(groff-base)      # make install's man pages, rendered by scripts/test/install.sh
have col || need+=(bsdextrautils)
[ -e /usr/include/stdio.h ] && [ -n "$(find /usr/lib -name libc.a -print -quit 2>/dev/null)" ] || need+=(libc6-dev)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
fi

# Debian's knockd package enables a service on install; it must not run here.
if have systemctl && systemctl is-active --quiet knockd 2>/dev/null; then
  systemctl stop knockd || true
fi
if have systemctl && systemctl is-active --quiet fwknop-server 2>/dev/null; then
  systemctl stop fwknop-server || true
fi

# The OpenWrt 24.10 SDK builds with Go 1.23: make sure that toolchain is here.
GOTOOLCHAIN=go1.23.12 go version >/dev/null

# The linters of make test (make lint), pinned, from the Go module proxy into
# GOPATH/bin (outside the repository); skipped when that version is there.
gobin="$(go env GOPATH)/bin"
golint() { # binary module version package
  if ! go version -m "$gobin/$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3[[:space:]]"; then
    echo "deps: installing $1 ($2 $3)"
    GOBIN="$gobin" go install "$4@$3"
  fi
}
golint staticcheck honnef.co/go/tools v0.8.2 honnef.co/go/tools/cmd/staticcheck
golint deadcode golang.org/x/tools v0.52.0 golang.org/x/tools/cmd/deadcode
