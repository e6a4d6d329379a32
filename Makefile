# exmaintd — see README.md. `make test` is the whole test suite; `make ci` is what .ci/run runs.
GO        ?= go
TOOLS     := $(GO) tool -modfile=tools/go.mod
PKGS      := ./...
FUZZTIME  ?= 10s
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: all build test deps unit rules lint fmt-check vet staticcheck golangci fuzz bench scale ci demo mutate mutate-core mutate-exchange mutate-diff flake

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

deps:
	./scripts/deps.sh

# The whole suite: unit and integration tests (race detector on), the promtool rule tests. -parallel 16:
# the exchsim-backed tests mostly wait (on exchsim's timings, on HTTP), so more of them at once than the
# two cores' default keeps the machine busy (steps alone: 453 s at -parallel 2, 299 s at 16; TESTING.md).
test: deps unit rules

unit:
	$(GO) test -race -count=1 -parallel 16 -timeout 30m $(PKGS)

rules:
	@if [ -d monitoring ] && ls monitoring/*_test.yml >/dev/null 2>&1; then \
		promtool check rules monitoring/*rules.yml && promtool test rules monitoring/*_test.yml; \
	else echo "rules: no monitoring/*_test.yml yet"; fi

lint: fmt-check vet staticcheck golangci

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(TOOLS) staticcheck $(PKGS)

golangci:
	$(TOOLS) golangci-lint run $(PKGS)

# A short pass over every fuzz target (the seeds always run as part of `make unit`).
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# exmaintd at scale: an idle daemon at 500 and 2,000 servers, then a parallel window (BENCHMARKS.md).
scale:
	$(GO) run ./cmd/exscale -mode idle
	$(GO) run ./cmd/exscale -mode window

# Mutation testing (gremlins, pinned in tools/mutate/go.mod): plants bugs and checks the tests notice.
# Scores and the survivors' reasons are in TESTING.md; scripts/mutate.sh is the efficacy gate (85 %).
# mutate-core (journal, scheduler, config: ≈ 11 min) runs in `make ci`; mutate-exchange (the client's
# quoting, decoders, faults and transport, whose every mutant reruns the exchsim suite: ≈ 12 min) with `make mutate`.
MUTATE_PKGS ?= journal scheduler config
# exchange's files other than its quoting, decoders, projections, faults, version parsing and transport
# (HTTP status and error classes, the reply limit, dial errors)
MUTATE_EXCHANGE_EXCLUDE := (client|methods|cmdlets|psrp|ops|sealing|kerberos|session|shell|loop|connauth|command|script|doc)\.go
mutate: mutate-core mutate-exchange

# The lines of steps/ and exchange/ changed since the last landed commit (tools/mutate/base): their full
# runs take hours, so CI mutates what a change touches (scripts/mutate-diff.sh; TESTING.md).
MUTATE_BASE ?= $(shell head -1 tools/mutate/base)
mutate-diff:
	GOFLAGS="-count=1 -parallel=16 -skip=TestCrashMatrix" ./scripts/mutate-diff.sh $(MUTATE_BASE) 3 steps --timeout-coefficient 5
	GOFLAGS=-count=1 ./scripts/mutate-diff.sh $(MUTATE_BASE) 4 exchange

mutate-core:
	@for p in $(MUTATE_PKGS); do ./scripts/mutate.sh 85 2 $$p || exit 1; done

# The exchange suite waits on exchsim more than it computes: four workers share two cores well.
mutate-exchange:
	./scripts/mutate.sh 85 4 exchange -E '$(MUTATE_EXCHANGE_EXCLUDE)'

# Repeats the tests a change touched (since the last landed commit, or BASE) N times under the race
# detector: a test that starts exchsim or any server must pass 20 runs before it lands (TESTING.md).
N    ?= 20
BASE ?= $(MUTATE_BASE)
flake:
	./scripts/flake.sh $(BASE) $(N)

demo:
	$(GO) run ./cmd/exmaintd demo

ci: lint test fuzz mutate-core mutate-diff
