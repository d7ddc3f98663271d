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
#   make size     binary and package sizes against the size budget (a tier of make test)
#   make dist     the reproducible source tarball and the OpenWrt feed with its PKG_HASH
#   make install  the programs, man pages and systemd unit (PREFIX=/usr/local, DESTDIR)
#
# Packages and the feed of make dist take their Maintainer from MAINTAINER
# ("Name <email>"; default: git config user.name and user.email).
#   make router-box  MIPS and ARM qemu-system guests from Debian packages (build/router-box)
#   make test-router the seed scenario inside both guests; bench-router: figures there

GO        ?= go
export GOFLAGS   := -buildvcs=false
export CGO_ENABLED := 0
GO123     ?= go1.23.12
export VERSION ?= $(shell bash scripts/cross.sh --version)
LDFLAGS   := -s -w -X github.com/knockd-go/knockd-go/src/internal/version.Version=$(VERSION)
PKGS      := ./src/...
FEED_KEYS ?= dist/keys

.PHONY: all build install demo test test-static test-go test-race test-go123 test-scripts test-size deps bench cross ipk apk packages feed-keys size dist clean fuzz router-box test-router test-router-smoke bench-router

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/knockd ./src/cmd/knockd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/knock ./src/cmd/knock

deps:
	bash scripts/deps.sh

PREFIX    ?= /usr/local
install: build
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) bash scripts/install.sh

demo: deps build
	bash scripts/demo.sh

# Every tier runs (one failing does not stop the others) and counts its
# tests into $(COUNTS); the last line is the totals over every tier.
TESTSUM   := bin/testsum
COUNTS    := bin/test-counts
# The packages whose allocation tests (testing.AllocsPerRun) run again as
# the routers' binaries are built, with -gcflags=all=-l: without inlining
# a value the compiler kept on the stack may escape.
NOINLINE_PKGS := ./src/internal/logx/ ./src/internal/daemon/ ./src/internal/match/ ./src/internal/decode/ ./src/internal/pktbuild/
RACE_PKGS ?= ./src/internal/match ./src/internal/daemon ./src/internal/firewall
SCRIPT_TESTS ?= $(sort $(wildcard scripts/test/*.sh))

test: deps $(TESTSUM)
	@rm -rf $(COUNTS) && mkdir -p $(COUNTS)
	@st=0; \
	$(TESTSUM) step $(COUNTS)/static "make test-static" -- $(MAKE) --no-print-directory test-static || st=1; \
	$(MAKE) --no-print-directory -k test-go test-race test-go123 test-scripts test-size test-router-smoke || st=1; \
	echo "== totals over every tier"; $(TESTSUM) total $(COUNTS); exit $$st

$(TESTSUM): $(wildcard src/tools/testsum/*.go)
	$(GO) build -o $@ ./src/tools/testsum

test-static:
	@echo "== gofmt, go vet"
	@bad=$$(gofmt -l src); if [ -n "$$bad" ]; then echo "not gofmt-formatted:"; echo "$$bad"; exit 1; fi
	$(GO) vet $(PKGS)
	@echo "== the OpenWrt feed's knockd-go and knockd-go-full build without the iptables backend"
	$(GO) build -tags "$$(bash scripts/cross.sh --fw4-tags)" -o /dev/null ./src/cmd/knockd
	$(GO) build -tags "$$(bash scripts/cross.sh --fw4-full-tags)" -o /dev/null ./src/cmd/knockd
	@echo "== the client builds, and its tests compile, for macOS and Windows"
	GOOS=darwin $(GO) vet ./src/cmd/knock
	GOOS=windows $(GO) vet ./src/cmd/knock
	GOOS=darwin GOARCH=arm64 $(GO) test -c -o /dev/null ./src/cmd/knock
	GOOS=windows GOARCH=amd64 $(GO) test -c -o /dev/null ./src/cmd/knock
	@echo "== shellcheck"
	shellcheck -x $$(git ls-files '*.sh' 'scripts/*' 'files/etc/init.d/*' | grep -v '\.md$$' | grep -v '\.conf$$' | sort -u | while read -r f; do head -c 64 "$$f" | grep -q '^#!.*sh' && echo "$$f"; done)
	$(MAKE) --no-print-directory lint

# staticcheck and deadcode (pinned, installed by scripts/deps.sh): no findings,
# no function the programs cannot reach.
.PHONY: lint
lint:
	@echo "== staticcheck, deadcode"
	"$$($(GO) env GOPATH)/bin/staticcheck" $(PKGS)
	@dead=$$("$$($(GO) env GOPATH)/bin/deadcode" ./src/cmd/... ./src/tools/...) || exit 1; \
	if [ -n "$$dead" ]; then echo "deadcode: unreachable functions:"; echo "$$dead"; exit 1; fi

test-go: $(TESTSUM)
	@echo "== go test (pure and privileged tiers)"
	@mkdir -p $(COUNTS)
	KNOCKD_GO_STRICT=1 $(TESTSUM) go $(COUNTS)/go -- $(GO) test -json -count=1 -timeout 20m $(PKGS)
	@echo "== allocation tests built as the routers' binaries are (no inlining)"
	$(TESTSUM) go $(COUNTS)/noinline -- $(GO) test -json -count=1 -gcflags=all=-l -run 'Alloc|DeferLine|WithoutSinks' $(NOINLINE_PKGS)

test-race: $(TESTSUM)
	@echo "== race detector under a concurrent knock load"
	@mkdir -p $(COUNTS)
	CGO_ENABLED=1 KNOCKD_GO_STRICT=1 $(TESTSUM) go $(COUNTS)/race -- $(GO) test -json -race -count=1 -timeout 10m $(RACE_PKGS)

test-go123: $(TESTSUM)
	@echo "== pure tests with Go 1.23 (the OpenWrt SDK's Go)"
	@mkdir -p $(COUNTS)
	GOTOOLCHAIN=$(GO123) $(GO) vet $(PKGS)
	GOTOOLCHAIN=$(GO123) $(TESTSUM) go $(COUNTS)/go123 -- $(GO) test -json -short -count=1 -timeout 10m $(PKGS)

test-scripts: $(TESTSUM)
	@echo "== script tests"
	@mkdir -p $(COUNTS)
	@st=0; for t in $(SCRIPT_TESTS); do [ -e "$$t" ] || continue; echo "-- $$t"; \
		$(TESTSUM) script $(COUNTS)/script-$$(basename "$$t" .sh) -- bash "$$t" || st=1; done; exit $$st

fuzz:
	bash scripts/fuzz.sh

bench: deps
	bash scripts/bench.sh

cross:
	bash scripts/cross.sh dist/bin

router-box: deps
	bash scripts/router-box/build.sh

test-router: router-box
	bash scripts/router-box/test.sh

# The MIPS guest boots, one knock opens a DNAT grant and mails (make test).
# The smoke of the router box (boot MIPS, a knock opens, a DNAT grant, a
# mail), part of make test: about a minute once the image is built.
test-router-smoke: $(TESTSUM)
	@echo "== router box smoke (qemu-system-mipsel, malta 24Kc, 64 MB)"
	@mkdir -p $(COUNTS)
	bash scripts/router-box/build.sh mipsel
	$(TESTSUM) script $(COUNTS)/router-smoke -- bash scripts/router-box/test.sh --smoke

bench-router: router-box
	bash scripts/router-box/bench.sh

ipk:
	bash scripts/mkipk.sh dist

apk: feed-keys
	APK_SIGN_KEY=$(FEED_KEYS)/apk-private.pem bash scripts/mkapk.sh dist

size:
	@echo "== sizes against the budget (docs/size.md)"
	bash scripts/size.sh

# make size as a tier of make test (one check per target and Go version; a
# budget missed fails it, with the sizeof table of the parts that grew).
test-size: $(TESTSUM)
	@echo "== sizes against the budget (docs/size.md)"
	@mkdir -p $(COUNTS)
	$(TESTSUM) script $(COUNTS)/size -- bash scripts/size.sh

dist:
	bash scripts/dist.sh dist

packages: feed-keys
	FEED_KEYS=$(FEED_KEYS) bash scripts/mkfeed.sh dist

feed-keys:
	bash scripts/feed-keys.sh $(FEED_KEYS)

# dist/keys holds the feeds' private keys: clean keeps it.
clean:
	rm -rf bin
	[ ! -d dist ] || find dist -mindepth 1 -maxdepth 1 ! -name keys -exec rm -rf {} +
