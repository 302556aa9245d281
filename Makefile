# wedge — warehouse edge agent. The two commands that matter: `make demo` and `make test`.
GO      ?= go
PKGS    ?= ./...
BIN     ?= bin/wedge
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X wedge/agent/version.Version=$(VERSION)

.PHONY: all build demo test test-pg test-short vet fmt bench bench-goals clean deb rpm windows

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./agent/cmd/wedge

# Everything embedded: MQTT broker, hub, two agents, simulated scanners and printers, order generator.
demo: build
	./$(BIN) demo $(ARGS)

# Every test, with the race detector. Tests needing mosquitto, socat, chromium or zbarimg fail under
# CI when those are missing (.ci/run installs them) and skip with a message elsewhere.
# The e2e package runs once more with the hub's state in PostgreSQL (a representative subset, on the
# TLS+ACL broker with signing like the rest): happy path, outage, crash, forgery, settings.
# PostgreSQL is started by the tests (internal/testpg); missing, it fails under CI and skips elsewhere.
E2E_PG_SUBSET ?= ^(TestHappyPath|TestOutage|TestCrash|TestForgedAcksAndEntries|TestSettingsFileWinsOverHubCommand)$$
test: vet
	$(GO) test -race -count=1 -timeout 40m $(PKGS)
	WEDGE_E2E_STORE=postgres $(GO) test -race -count=1 -timeout 30m -run '$(E2E_PG_SUBSET)' ./agent/e2e/

# The whole e2e package with the hub's state in PostgreSQL (docs/HUB-STORE.md).
test-pg:
	WEDGE_E2E_STORE=postgres $(GO) test -race -count=1 -timeout 60m ./agent/e2e/

test-short:
	$(GO) test -short -count=1 $(PKGS)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet $(PKGS)

fmt:
	gofmt -w .

# Benchmarks (see docs/BENCHMARKS.md for results and the machine they ran on). One package at a
# time (-p 1): they measure fsync latency and CPU, and parallel packages would disturb each other.
# Package micro-benchmarks run for Go's default 1 s; the cross-component ones in bench/ are
# fixed workloads (47,000 entries, 1,000,000-entry backlog, hub ingest on PostgreSQL, the order
# trace), run once each, three times: tens of minutes on a 2-core machine once the trace data is
# loaded (its first load is longer, see TRACE_N).
# Only packages that have benchmarks (so a package mid-edit elsewhere in the tree cannot stop the run).
BENCH_PKGS ?= $(shell grep -rl --include='*_test.go' '^func Benchmark' . | xargs -r -n1 dirname | sort -u | grep -v '^./bench$$')
# The order-trace benchmark runs on TRACE_N orders in PostgreSQL (the central console's goal is
# stated for 10,000,000): the first run loads them with COPY into a cluster kept in
# $$TMPDIR/wedge-bench-trace (about 30 min and 40 GiB on the machine of docs/BENCHMARKS.md), later
# runs reuse it. `make bench TRACE_N=100000` for a quick run.
TRACE_N ?= 10000000
# Both runs' output is kept in $(BENCH_OUT) (gitignored) and the run ends with the table of the
# performance goals made from it by bench/cmd/goals (medians over the counts; docs/BENCHMARKS.md,
# "The goals table"), also when a benchmark failed; the target fails afterwards in that case.
# `make bench-goals` prints the table again from an existing $(BENCH_OUT).
BENCH_OUT ?= bench.out
bench:
	@rm -f $(BENCH_OUT) $(BENCH_OUT).failed
	($(GO) test -p 1 -run '^$$' -bench . -benchmem -timeout 30m $(BENCH_PKGS) || touch $(BENCH_OUT).failed) 2>&1 | tee -a $(BENCH_OUT)
	(WEDGE_BENCH_TRACE_N=$(TRACE_N) $(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -count 3 -timeout 4h ./bench || touch $(BENCH_OUT).failed) 2>&1 | tee -a $(BENCH_OUT)
	@$(MAKE) --no-print-directory bench-goals
	@if [ -e $(BENCH_OUT).failed ]; then rm -f $(BENCH_OUT).failed; echo "a benchmark failed: see $(BENCH_OUT)"; exit 1; fi

bench-goals:
	$(GO) run ./bench/cmd/goals < $(BENCH_OUT)

clean:
	rm -rf bin dist

# Linux packages in dist/ (wedge_<version>_<arch>.deb / .rpm) from the one spec packaging/nfpm.yaml:
# packaging/cmd/mkpkg builds the release binary (cgo, PIE, stripped) and packs it with nfpm.
# No dpkg-deb or rpmbuild needed; see docs/PACKAGING.md.
deb rpm:
	$(GO) run ./packaging/cmd/mkpkg -format $@ -version $(VERSION)

# Windows: wedge.exe cross-built with cgo through MinGW-w64 (gcc-mingw-w64-x86-64) and an MSI built
# with wixl (msitools) in dist/wedge_<version>_amd64.msi. With SIGN_CERT and SIGN_KEY (PEM) both
# are Authenticode-signed with osslsigncode (and verified against SIGN_CA when given).
windows:
	$(GO) run ./packaging/cmd/mkpkg -format msi -version $(VERSION) \
		$(if $(SIGN_CERT),-sign-cert $(SIGN_CERT) -sign-key $(SIGN_KEY)) $(if $(SIGN_CA),-sign-ca $(SIGN_CA))
