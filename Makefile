# otelcol-release. The README's two commands are `make run` and `make test`.
GO      ?= go
BIN     := bin/otelcol-release
# Fuzz time per target for `make fuzz`.
FUZZTIME ?= 60s

.PHONY: run build test test-short generate bench fuzz fmt vet

## run: build the collector and run it on its embedded default config.
run: build
	./$(BIN)

## build: write bin/otelcol-release.
build:
	$(GO) build -o $(BIN) ./cmd/otelcol-release

## test: every test: unit, fuzz seed corpora, and end-to-end tests on the built
## binary, including against real servers (PostgreSQL and Unleash, installed and
## started by .ci/unleash.sh on first use, from Debian's packages and npm) and
## in headless Chromium (Debian's chromium, installed by .ci/chromium.sh).
test: build
	exports=$$(bash .ci/unleash.sh) && eval "$$exports" && \
	browser=$$(bash .ci/chromium.sh) && eval "$$browser" && \
	OTELCOL_RELEASE_BINARY=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 45m ./...

## test-short: unit tests only (end-to-end tests skip under -short).
test-short:
	$(GO) test -short ./...

## generate: regenerate cmd/otelcol-release from builder-config.yaml, and each
## component's internal/metadata, documentation.md, generated tests and README
## status table from its metadata.yaml (mdatagen, pinned in internal/tools/mdatagen).
generate:
	$(GO) run ./internal/tools/distgen
	$(GO) run ./internal/tools/metadatagen
	$(GO) run ./processor/releasecorrelationprocessor/internal/scenario/gencorpus

## bench: the hot-path and throughput benchmarks quoted in docs/benchmarks.md.
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./extension/... ./receiver/... $$($(GO) list ./internal/... | grep -v /internal/e2e)
	OTELCOL_RELEASE_BINARY=$(CURDIR)/$(BIN) $(GO) test -run='^$$' -bench=BenchmarkPipelineCPUPerSpan -benchtime=3000x -count=3 ./internal/e2e/
	OTELCOL_RELEASE_BINARY=$(CURDIR)/$(BIN) $(GO) test -run='^$$' -bench=BenchmarkReceiverEventsPerSecond -benchtime=20000x -count=3 ./internal/e2e/
	exports=$$(bash .ci/unleash.sh) && eval "$$exports" && \
	OTELCOL_RELEASE_BINARY=$(CURDIR)/$(BIN) $(GO) test -run='^$$' -bench=BenchmarkFleetCPUPerSpan -benchtime=3000x -count=3 ./internal/e2e/
	$(GO) test -run='^$$' -bench=BenchmarkConsume -benchmem -benchtime=20000x -count=5 ./processor/releasecorrelationprocessor/
	$(GO) test -run='^$$' -bench=BenchmarkMemoryPerKey -benchtime=1x ./processor/releasecorrelationprocessor/
	$(GO) test -run='^$$' -bench=BenchmarkSteadyStateMemoryPerKey -benchtime=1x -count=2 ./processor/releasecorrelationprocessor/internal/detect/

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list='^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzzing $$pkg $$target for $(FUZZTIME)"; \
	    $(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...
