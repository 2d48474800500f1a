# See https://tech.davis-hansson.com/p/make/
SHELL := bash
.DELETE_ON_ERROR:
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --warn-undefined-variables
MAKEFLAGS += --no-builtin-rules
MAKEFLAGS += --no-print-directory

TMP := .tmp
BIN := $(abspath $(TMP)/bin)
BUF_VERSION := v1.61.0
BUF := $(BIN)/buf
BENCH ?= .
BENCHTIME ?= 1s
FUZZTIME ?= 30s
ADDR ?= 127.0.0.1:8080
SOAK_RUNS ?= 20000
PHONES ?= 100
SCENARIO ?= all
RECORDS ?= 100000
PROTO ?= h2c
LOAD_FLAGS ?=

.PHONY: help
help: ## Describe useful make targets
	@grep -E '^[a-zA-Z_-]+:.*?## .*$$' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "%-16s %s\n", $$1, $$2}'

.PHONY: run
run: ## Serve a seeded demo on ./data/shiftsync.db at ADDR (default 127.0.0.1:8080) and print commands to enrol, push and pull
	go run ./server/cmd/shiftsyncd serve -db ./data/shiftsync.db -addr $(ADDR) -dev

.PHONY: demo
demo: ## Three phones log the transition incidents offline, sync in another order, show the result
	bash mobile-contract/demo.sh

.PHONY: test
test: ## Run every test with the race detector, then the 500 seeds of the convergence property test without it
	go test -race -cover -timeout 30m ./...
	go test -count=1 -run '^TestConvergence$$' ./mobile-contract/replica/

.PHONY: test-short
test-short: ## Run the fast tests (inner loop)
	go test -short ./...

.PHONY: soak
soak: ## Run the convergence property test for SOAK_RUNS seeded runs (default 20000)
	go test -run='^TestConvergence$$' -timeout=0 ./mobile-contract/replica -args -convergence.runs=$(SOAK_RUNS)

.PHONY: bench
bench: ## Run benchmarks (BENCH=regexp, BENCHTIME=1s)
	go test -run='^$$' -bench='$(BENCH)' -benchtime=$(BENCHTIME) -benchmem ./...

.PHONY: load
load: ## Load a real shiftsyncd on loopback (SCENARIO=storm,push,fresh-pull PHONES=100 RECORDS=100000 PROTO=h2c|http1); figures beside baselines of the same run
	@mkdir -p $(BIN)
	go build -o $(BIN)/shiftsyncd ./server/cmd/shiftsyncd
	go run ./server/cmd/shiftsyncload -shiftsyncd $(BIN)/shiftsyncd -scenario $(SCENARIO) -phones $(PHONES) -records $(RECORDS) \
	  $(if $(filter http1,$(PROTO)),-http1,) $(LOAD_FLAGS)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each
	@for pkg in $$(go list ./...); do \
	  for target in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target"; \
	    go test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

.PHONY: generate
generate: $(BUF) ## Regenerate the Go code from syncproto/
	cd syncproto && $(BUF) generate

.PHONY: checkgenerate
checkgenerate: generate ## Fail if the committed generated code is stale
	@if [ -n "$$(git status --porcelain syncproto)" ]; then \
	  git status --porcelain syncproto; echo "generated code is stale: run make generate and commit"; exit 1; fi

.PHONY: lint
lint: $(BUF) ## Check formatting, vet the Go code and lint the protos
	@unformatted=$$(gofmt -l server syncproto mobile-contract migrations); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	cd syncproto && $(BUF) lint && $(BUF) format -d --exit-code

.PHONY: breaking
breaking: $(BUF) ## Check the protos for breaking changes against main
	$(BUF) breaking syncproto --against '.git#branch=main,subdir=syncproto'

.PHONY: check
check: lint test checkgenerate breaking ## Everything CI runs

.PHONY: clean
clean: ## Remove build output, tools and the local database
	rm -rf $(TMP) ./data

$(BUF):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
