# crmflow's everyday commands. `make` (or `make help`) lists them.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_\/-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/crmflow with the version and commit stamped in
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/crmflow ./cmd/crmflow

.PHONY: run
run: ## Run every role on the embedded, throwaway Redis (go run ./cmd/crmflow run)
	$(GO) run ./cmd/crmflow run

.PHONY: test
test: ## Run the tests (needs redis-server on PATH, or TEST_REDIS_URL)
	$(GO) test ./...

.PHONY: test/race
test/race: ## Run the tests with the race detector, as CI does
	$(GO) test -race ./...

.PHONY: lint
lint: ## Vet the code (go vet)
	$(GO) vet ./...

.PHONY: bench
bench: ## Run the benchmarks, without the tests
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: bench/ratios
bench/ratios: ## Run crmflow bench on the otherwise idle Redis of REDIS_URL
	$(GO) run ./cmd/crmflow bench --redis "$(REDIS_URL)"

.PHONY: examples
examples: ## Run the testable examples (func ExampleXxx with // Output:)
	$(GO) test -run '^Example' ./...

.PHONY: ci
ci: ## Run what CI runs (.ci/run): install redis-server if missing, vet, race tests
	bash .ci/run
