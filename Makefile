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
RACE_PKGS    := ./pkg/state/... ./pkg/registry/... ./pkg/commands/...

export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: all build test unit race lint tools docs demo clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hull ./cmd/hull

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

unit: tools
	HULL_REQUIRE_S3=1 $(GO) test -count=1 ./...

race: tools
	HULL_REQUIRE_S3=1 $(GO) test -count=1 -race $(RACE_PKGS)

## test: what CI runs (.ci/run) and what the README tells you to run.
test: lint unit race

## docs: regenerate docs/cli from the command tree.
docs:
	$(GO) test ./pkg/commands -run TestCLIDocsAreCurrent -update

## demo: build hull and write a 1 control-plane + 2 node local cluster spec.
demo: build
	./tests/demo.sh

clean:
	rm -rf bin
