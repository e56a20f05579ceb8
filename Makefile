# chatstate build and test targets. `make help` lists them.
GO        ?= go
BIN       := bin
DATA      ?= ./data
PKGS      := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets with a one-line description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the chatstated binary into ./bin
	$(GO) build -o $(BIN)/chatstated ./cmd/chatstated

.PHONY: run
run: build ## Build and start a single node on 127.0.0.1:8080 with data under ./data
	mkdir -p $(DATA)/n1
	$(BIN)/chatstated --id n1 --data $(DATA)/n1 --http 127.0.0.1:8080 --raft 127.0.0.1:8089

.PHONY: cluster
cluster: build ## Start a local three-node cluster in the foreground (HTTP 8080-8082, Raft 8089-8091)
	CHATSTATED=$(BIN)/chatstated DATA=$(DATA) scripts/cluster.sh

.PHONY: test
test: ## Run every test with the race detector
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

.PHONY: test-short
test-short: ## Run the tests without the race detector (faster local loop)
	$(GO) test -count=1 $(PKGS)

.PHONY: bench
# chatbench starts three chatstated nodes on loopback, loads the 1,000,000-
# chat dataset through the API, and runs W1, W2, R1 and M1 beside the fsync
# floor and bare Raft: about 15 minutes and several GB of memory. Results go
# to ./bench-results (results.json, report.html). BENCHFLAGS adds flags, e.g.
# BENCHFLAGS='--nodes 1' or BENCHFLAGS='--addrs 10.0.0.1:8080'.
BENCHFLAGS ?=
bench: build ## Run chatbench's standard suite (3 local nodes, 1,000,000 chats) into ./bench-results
	$(GO) build -o $(BIN)/chatbench ./bench/cmd/chatbench
	$(BIN)/chatbench --chatstated $(BIN)/chatstated --out bench-results $(BENCHFLAGS)

.PHONY: bench-quick
bench-quick: build ## Run chatbench's whole suite at 1% scale with 2 s phases (about a minute)
	$(GO) build -o $(BIN)/chatbench ./bench/cmd/chatbench
	$(BIN)/chatbench --quick --chatstated $(BIN)/chatstated --out bench-results $(BENCHFLAGS)

.PHONY: bench-fsm
# The latency benchmarks need many samples for their percentiles, so they
# run for a time, not a count; the whole run takes 10-15 minutes and several
# GB of memory at scale 1.0. CHATSTATE_BENCH_SCALE=0.05 shrinks the dataset.
bench-fsm: ## Run the state-machine benchmarks on the 1,000,000-chat dataset
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 60m ./fsm/

.PHONY: bench-failover
bench-failover: ## Time to recover after a leader SIGKILL: 20 kills on a local three-node cluster (CHATSTATE_BENCH_RAFT=fast: test timings)
	$(GO) test -run '^$$' -bench BenchmarkFailover -benchtime 20x -timeout 30m ./cluster/

.PHONY: fuzz
fuzz: ## Fuzz every decoder and encoder (commands, snapshots, HTTP requests, JSON, MessagePack, SSE) for 20 seconds each
	$(GO) test -run '^$$' -fuzz FuzzDecodeCommand -fuzztime 20s ./fsm/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRequest -fuzztime 20s ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzParseJSON -fuzztime 20s ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzRestore -fuzztime 20s ./fsm/
	$(GO) test -run '^$$' -fuzz FuzzSSEParser -fuzztime 20s ./client/
	$(GO) test -run '^$$' -fuzz FuzzDecodeMsgpack -fuzztime 20s ./client/
	$(GO) test -run '^$$' -fuzz FuzzParseTime -fuzztime 20s ./client/
	$(GO) test -run '^$$' -fuzz FuzzAppendJSONString -fuzztime 20s ./client/
	$(GO) test -run '^$$' -fuzz FuzzAppendJSONString -fuzztime 20s ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecord -fuzztime 20s ./node/snapstore/

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## Remove build output (keeps ./data)
	rm -rf $(BIN)
