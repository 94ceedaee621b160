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

.PHONY: all build host-deps assets test unit race lint tools moto docs demo perf clean

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

## tools: the real servers the tests run against, built from the Go module proxy,
## and moto.
tools: $(VERSITYGW) moto

$(VERSITYGW):
	@mkdir -p $(TOOLS_BIN)
	@echo ">> installing versitygw $(VERSITYGW_VERSION) (S3 server for state-store tests) into $(TOOLS_BIN)"
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

## moto: an independent AWS implementation the aws tests run against besides
## the project's emulator. Machines of this kind have moto $(MOTO_VERSION) in
## their python3; elsewhere it is installed into a virtual environment.
MOTO_VERSION := 5.2.1
MOTO_VENV    := $(HULL_CACHE)/moto-$(MOTO_VERSION)
MOTO_PYTHON  := $(shell python3 -c 'import moto.server, sys; sys.exit(moto.__version__ != "$(MOTO_VERSION)")' 2>/dev/null && echo python3 || echo $(MOTO_VENV)/bin/python3)

moto:
	@if ! $(MOTO_PYTHON) -c 'import moto.server' 2>/dev/null; then \
	  echo ">> installing moto $(MOTO_VERSION) (AWS implementation for the aws tests) into $(MOTO_VENV)"; \
	  command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv; }; \
	  python3 -m venv $(MOTO_VENV) && $(MOTO_VENV)/bin/pip install --quiet "moto[server]==$(MOTO_VERSION)"; \
	fi

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Tests that start local-cloud machines need root, those that run real
# Kubernetes the assets repository, and the aws tests moto; make test
# insists on all three rather than skipping those tests quietly.
TEST_ENV     := HULL_REQUIRE_S3=1 HULL_REQUIRE_ROOT=1 HULL_REQUIRE_ASSETS=1 HULL_REQUIRE_MOTO=1 HULL_MOTO_PYTHON=$(MOTO_PYTHON)
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
