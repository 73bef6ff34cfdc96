# Every go command gets the same tags and CGO setting: Podman's bindings need them.
TAGS := remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp
export CGO_ENABLED := 0
GO := go
GOFLAGS_TAGS := -tags "$(TAGS)"
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
# The commit's time, not the clock's: the same tree builds the same binary,
# whose hash tags the sidecar image.
BUILD_DATE := $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
BIN := bin/bottle
# The sidecar binary: what runs in a bottle's containers (docs/internals.md).
SIDECAR_BIN := bin/bottle-sidecar

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
NFPM := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

# make install: where each file goes, as each tool looks for it.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

# make dist and make packages: static binaries and packages in dist/. A
# package's version is the tag's (v1.2.3: 1.2.3), else 0.0.0~git<time>.<commit>.
ARCH ?= $(shell $(GO) env GOARCH)
DIST_ARCHES := amd64 arm64
PACKAGERS ?= deb rpm
PKG_VERSION := $(shell v=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null) && echo "$${v\#v}" | sed 's/-/+/; s/-/./g' || \
	echo "0.0.0~git$$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null).$$(git rev-parse --short=12 HEAD 2>/dev/null)")

.PHONY: help build unit e2e test demo bench vet lint setup clean docs install uninstall dist packages install-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

build: ## build bin/bottle and bin/bottle-sidecar (the same flags: bottle checks they match)
	$(GO) build $(GOFLAGS_TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/bottle
	$(GO) build $(GOFLAGS_TAGS) -ldflags "$(LDFLAGS)" -o $(SIDECAR_BIN) ./cmd/bottle-sidecar

install: ## install bin/bottle and bin/bottle-sidecar (make build first), the man pages and completions under DESTDIR, PREFIX (/usr/local)
	@test -x $(BIN) -a -x $(SIDECAR_BIN) || { echo "install: no $(BIN) or $(SIDECAR_BIN): run make build first" >&2; exit 1; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/bottle
	install -m 755 $(SIDECAR_BIN) $(DESTDIR)$(BINDIR)/bottle-sidecar
	install -m 644 docs/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(BIN) completion bash > $(DESTDIR)$(BASHCOMPDIR)/bottle
	$(BIN) completion zsh > $(DESTDIR)$(ZSHCOMPDIR)/_bottle
	$(BIN) completion fish > $(DESTDIR)$(FISHCOMPDIR)/bottle.fish

uninstall: ## remove what make install put under DESTDIR, PREFIX
	rm -f $(DESTDIR)$(BINDIR)/bottle $(DESTDIR)$(BINDIR)/bottle-sidecar $(DESTDIR)$(BASHCOMPDIR)/bottle $(DESTDIR)$(ZSHCOMPDIR)/_bottle $(DESTDIR)$(FISHCOMPDIR)/bottle.fish
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard docs/man/*.1)))

dist: build ## static binaries (bottle, bottle-sidecar) for linux/amd64 and linux/arm64, .deb and .rpm packages, SHA256SUMS, in dist/
	rm -rf dist
	for a in $(DIST_ARCHES); do $(MAKE) --no-print-directory packages ARCH=$$a || exit 1; done
	rm -rf dist/stage
	cd dist && sha256sum bottle-linux-* bottle-sidecar-linux-* *.deb *.rpm > SHA256SUMS
	@cat dist/SHA256SUMS

packages: build ## the static binaries and the packages (PACKAGERS: deb rpm) for one ARCH (this machine's), in dist/
	GOOS=linux GOARCH=$(ARCH) $(GO) build $(GOFLAGS_TAGS) -ldflags "$(LDFLAGS) -s -w" -o dist/bottle-linux-$(ARCH) ./cmd/bottle
	GOOS=linux GOARCH=$(ARCH) $(GO) build $(GOFLAGS_TAGS) -ldflags "$(LDFLAGS) -s -w" -o dist/bottle-sidecar-linux-$(ARCH) ./cmd/bottle-sidecar
	rm -rf dist/stage && mkdir -p dist/stage/man dist/stage/completions
	cp dist/bottle-linux-$(ARCH) dist/stage/bottle
	cp dist/bottle-sidecar-linux-$(ARCH) dist/stage/bottle-sidecar
	for f in docs/man/*.1; do gzip -9n < $$f > dist/stage/man/$$(basename $$f).gz; done
	$(BIN) completion bash > dist/stage/completions/bottle.bash
	$(BIN) completion zsh > dist/stage/completions/_bottle
	$(BIN) completion fish > dist/stage/completions/bottle.fish
	for p in $(PACKAGERS); do ARCH=$(ARCH) PKG_VERSION=$(PKG_VERSION) $(GO) run $(NFPM) package -f packaging/nfpm.yaml -p $$p -t dist/ || exit 1; done

install-check: ## as root: build and install this machine's .deb, run bottle version, man bottle and each shell's completion from it
	rm -rf dist
	$(MAKE) --no-print-directory packages PACKAGERS=deb
	./hack/install-check.sh

vet: ## go vet, with the build tags
	$(GO) vet $(GOFLAGS_TAGS) ./...
	$(GO) vet -tags "$(TAGS) e2e" ./...

lint: ## staticcheck, with the build tags
	$(GO) run $(STATICCHECK) -tags "$(TAGS) e2e" ./...

unit: ## unit tests (no Podman needed)
	$(GO) test $(GOFLAGS_TAGS) -timeout 20m ./...

docs: ## write docs/commands.md and the man pages anew from the CLI's definitions
	$(GO) test $(GOFLAGS_TAGS) ./cmd/bottle -run '^TestReferenceIsCurrent$$' -update

setup: ## install Podman and its helpers if missing (as root), fix host quirks
	./hack/setup-host.sh

e2e: build ## end-to-end tests against real Podman, rootful and rootless
	./hack/e2e.sh

test: vet lint unit e2e install-check ## everything: vet, staticcheck, unit tests, end-to-end tests, the installed .deb

demo: setup build ## run a bottle with the built-in shell profile on a locally built image
	./hack/demo.sh

bench: setup build ## time bottle start against podman run, as a ratio
	./hack/bench.sh

clean: ## remove build output
	rm -rf bin dist
