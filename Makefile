# knockd-go — build, test and package.
#
#   make          build bin/knockd and bin/knock for this machine
#   make demo     two network namespaces, a real knock opening a real port
#   make test     every test tier (installs the Debian packages it needs)
#   make bench    performance figures against knockd 0.8, same run
#   make cross    static binaries for every router target, with sizes
#   make ipk      OpenWrt (<= 24.10) and Entware .ipk packages
#   make apk      OpenWrt (>= 25.12) .apk packages
#   make packages both, as signed feeds in dist/feed (opkg and apk), with sizes
#   make feed-keys the feeds' signing keys, once (dist/keys or FEED_KEYS; keep private)
#   make size     binary and package sizes against the size budget
#   make router-box  MIPS and ARM qemu-system guests from Debian packages (build/router-box)
#   make test-router the seed scenario inside both guests; bench-router: figures there

GO        ?= go
export GOFLAGS   := -buildvcs=false
export CGO_ENABLED := 0
GO123     ?= go1.23.12
export VERSION ?= $(shell bash scripts/cross.sh --version)
LDFLAGS   := -s -w -X github.com/knockd-go/knockd-go/src/version.Version=$(VERSION)
PKGS      := ./src/...
FEED_KEYS ?= dist/keys

.PHONY: all build demo test test-static test-go test-race test-go123 test-scripts deps bench cross ipk apk packages feed-keys size clean fuzz router-box test-router test-router-smoke bench-router

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/knockd ./src/cmd/knockd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/knock ./src/cmd/knock

deps:
	bash scripts/deps.sh

demo: deps build
	bash scripts/demo.sh

test: deps test-static test-go test-race test-go123 test-scripts test-router-smoke
	@echo "== all tests passed"

test-static:
	@echo "== gofmt, go vet"
	@bad=$$(gofmt -l src); if [ -n "$$bad" ]; then echo "not gofmt-formatted:"; echo "$$bad"; exit 1; fi
	$(GO) vet $(PKGS)
	@echo "== the client builds, and its tests compile, for macOS and Windows"
	GOOS=darwin $(GO) vet ./src/cmd/knock
	GOOS=windows $(GO) vet ./src/cmd/knock
	GOOS=darwin GOARCH=arm64 $(GO) test -c -o /dev/null ./src/cmd/knock
	GOOS=windows GOARCH=amd64 $(GO) test -c -o /dev/null ./src/cmd/knock
	@echo "== shellcheck"
	shellcheck -x $$(git ls-files '*.sh' 'scripts/*' 'files/etc/init.d/*' | grep -v '\.md$$' | grep -v '\.conf$$' | sort -u | while read -r f; do head -c 64 "$$f" | grep -q '^#!.*sh' && echo "$$f"; done)

test-go:
	@echo "== go test (pure and privileged tiers)"
	KNOCKD_GO_STRICT=1 $(GO) test -count=1 -timeout 20m $(PKGS)

test-race:
	@echo "== race detector under a concurrent knock load"
	CGO_ENABLED=1 KNOCKD_GO_STRICT=1 $(GO) test -race -count=1 -timeout 10m ./src/match ./src/daemon ./src/firewall

test-go123:
	@echo "== pure tests with Go 1.23 (the OpenWrt SDK's Go)"
	GOTOOLCHAIN=$(GO123) $(GO) vet $(PKGS)
	GOTOOLCHAIN=$(GO123) $(GO) test -short -count=1 -timeout 10m $(PKGS)

test-scripts:
	@echo "== script tests"
	@set -e; for t in scripts/test/*.sh; do [ -e "$$t" ] || continue; echo "-- $$t"; bash "$$t"; done

fuzz:
	bash scripts/fuzz.sh

bench: deps
	bash scripts/bench.sh

cross:
	bash scripts/cross.sh dist/bin

router-box: deps
	bash scripts/router-box/build.sh

test-router: router-box
	flock -s /tmp/knockd-bench.lock bash scripts/router-box/test.sh

# The MIPS guest boots, one knock opens a DNAT grant and mails (make test).
test-router-smoke:
	bash scripts/router-box/build.sh mipsel
	bash scripts/router-box/test.sh --smoke

bench-router: router-box
	flock -x /tmp/knockd-bench.lock bash scripts/router-box/bench.sh

ipk:
	bash scripts/mkipk.sh dist

apk: feed-keys
	APK_SIGN_KEY=$(FEED_KEYS)/apk-private.pem bash scripts/mkapk.sh dist

size:
	bash scripts/size.sh

packages: feed-keys
	FEED_KEYS=$(FEED_KEYS) bash scripts/mkfeed.sh dist

feed-keys:
	bash scripts/feed-keys.sh $(FEED_KEYS)

# dist/keys holds the feeds' private keys: clean keeps it.
clean:
	rm -rf bin
	[ ! -d dist ] || find dist -mindepth 1 -maxdepth 1 ! -name keys -exec rm -rf {} +
