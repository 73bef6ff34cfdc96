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

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help build unit e2e test demo bench vet lint setup clean docs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/bottle
	$(GO) build $(GOFLAGS_TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/bottle

vet: ## go vet, with the build tags
	$(GO) vet $(GOFLAGS_TAGS) ./...
	$(GO) vet -tags "$(TAGS) e2e" ./...

lint: ## staticcheck, with the build tags
	$(GO) run $(STATICCHECK) -tags "$(TAGS) e2e" ./...

unit: ## unit tests (no Podman needed)
	$(GO) test $(GOFLAGS_TAGS) ./...

docs: ## write docs/commands.md and the man pages anew from the CLI's definitions
	$(GO) test $(GOFLAGS_TAGS) ./cmd/bottle -run '^TestReferenceIsCurrent$$' -update

setup: ## install Podman and its helpers if missing (as root), fix host quirks
	./hack/setup-host.sh

e2e: build ## end-to-end tests against real Podman, rootful and rootless
	./hack/e2e.sh

test: vet lint unit e2e ## everything: vet, staticcheck, unit tests, end-to-end tests

demo: setup build ## run a bottle with the built-in shell profile on a locally built image
	./hack/demo.sh

bench: setup build ## time bottle start against podman run, as a ratio
	./hack/bench.sh

clean: ## remove build output
	rm -rf bin
