# hull — build, test and demo. Every target installs what it needs.

SHELL        := /bin/bash
GO           ?= go
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -X github.com/hullproject/hull/pkg/commands.Version=$(VERSION)
HULL_CACHE   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hull
TOOLS_BIN    := $(HULL_CACHE)/bin
VERSITYGW    := $(TOOLS_BIN)/versitygw
VERSITYGW_VERSION := v1.8.0
# Packages with goroutines or cross-process locking run under the race detector too.
RACE_PKGS    := ./pkg/state/... ./pkg/registry/... ./pkg/commands/... ./cloudup/... ./nodeup/... ./pkg/rollingupdate/... ./pkg/etcd/...

export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: all build host-deps assets test unit race lint tools docs demo perf clean

all: build

# hull and nodeup side by side: `hull image build` bakes the nodeup next to it.
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hull ./cmd/hull
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/nodeup ./cmd/nodeup

## host-deps: Debian packages real nodes need on the local cloud (root).
HOST_PACKAGES := iproute2 util-linux iptables containerd runc containernetworking-plugins
host-deps:
	@missing=""; for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo ">> installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

## tools: the real servers the tests run against, built from the Go module proxy.
tools: $(VERSITYGW)

$(VERSITYGW):
	@mkdir -p $(TOOLS_BIN)
	@echo ">> installing versitygw $(VERSITYGW_VERSION) (S3 server for state-store tests) into $(TOOLS_BIN)"
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Tests that start local-cloud machines need root, and those that run real
# Kubernetes need the assets repository; make test insists on both rather
# than skipping those tests quietly.
TEST_ENV     := HULL_REQUIRE_S3=1 HULL_REQUIRE_ROOT=1 HULL_REQUIRE_ASSETS=1
KUBERNETES_VERSION ?= 1.37.2
# tests/cluster's upgrade test starts a cluster at this version and
# upgrades it to KUBERNETES_VERSION.
UPGRADE_FROM_VERSION ?= 1.36.3

## assets: the Kubernetes, etcd and container images the real-cluster tests run
## (built from the Go module proxy and Debian packages; cached).
assets: host-deps build
	./bin/hull assets build --kubernetes-version $(KUBERNETES_VERSION)
	./bin/hull assets build --kubernetes-version $(UPGRADE_FROM_VERSION)

unit: tools assets
	$(TEST_ENV) $(GO) test -count=1 -timeout 40m ./...

race: tools assets
	$(TEST_ENV) $(GO) test -count=1 -race -timeout 30m $(RACE_PKGS)

## perf: measure the figures in docs/performance.md (root).
perf:
	./tests/perf/localcloud.sh

## test: what CI runs (.ci/run) and what the README tells you to run.
test: lint unit race

## docs: regenerate docs/cli from the command tree.
docs:
	$(GO) test ./pkg/commands -run TestCLIDocsAreCurrent -update

## demo: a real 1 control-plane + 2 node local cluster (root).
demo: host-deps build
	./tests/demo.sh

clean:
	rm -rf bin
