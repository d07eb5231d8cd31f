# l7lb — see README.md. Every target works on a fresh machine with Go.
GO       ?= go
BIN      := ./l7lb
# An execution count, not a duration: Go 1.26's fuzzer can fail a target
# with "context deadline exceeded" when a duration ends while a worker is
# busy (golang/go#75804, fixed in Go 1.27), a false failure CI cannot have.
FUZZTIME ?= 100000x

.PHONY: build run test check fuzz bins bench bench-http demo fleet-demo clean

# Every build, test and benchmark here (and the go commands they run) uses
# Go's runtime with two small patches applied with the go command's
# -overlay (tools/runtimepatch, docs/runtime.md): the Linux poller hands
# over the goroutines one epoll_wait readied in the kernel's order (the
# stock one, last first, was most of the proxy's p99 under load above
# HAProxy's), and sysmon keeps its pace when a system call ends its deep
# sleep (the stock one polls every 20 µs from each burst of requests on,
# on the proxy's own core). It also prints an -ldflags that names the
# patches in the binary (`l7lb version`: runtime=...). With a toolchain
# whose files it does not know, it warns and the build is a stock one.
RUNTIME_OVERLAY := $(shell $(GO) run ./tools/runtimepatch -go $(GO) -dir $(CURDIR)/.cache/runtimepatch)
export GOFLAGS := $(strip $(GOFLAGS) $(RUNTIME_OVERLAY))

# -buildvcs=auto: this kind of machine sets GOFLAGS=-buildvcs=false, which
# would leave `l7lb version` without the git revision of a checkout.
build:
	$(GO) build -buildvcs=auto -o $(BIN) .

# Pipe the project's copy of the seed case through the node.
run: build
	$(BIN) < testdata/path-based-routing.in.jsonl

# Everything but the benchmarks: formatting, a tidy go.mod, vet, unit,
# golden and race tests, then a short run of every fuzz target.
test: check fuzz

check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

# The helper programs tests run (Pebble, ...), at the versions
# tools/bins/go.mod pins, into .cache/bin. Tests build a missing one
# themselves (package testbin); CI builds them all first.
bins:
	cd tools/bins && GOFLAGS='-mod=readonly -buildvcs=false' $(GO) build -o ../../.cache/bin/ tool

# End-to-end node throughput (1,000,000 mixed requests, one core), the
# per-decision micro-benchmarks, the route-count sweep (compile time,
# throughput and memory at 4, 1,000, 10,000 and 100,000 routes, and 1,000
# regex routes, for the node, serve's engine and l7lb serve end to end,
# three rounds with each size's median ratio) and the balancing simulation.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./engine ./lbnode ./router
	$(GO) run ./tools/nodebench -bin $(BIN) -n 1000000
	$(GO) run ./tools/routegen -sweep 4,1000,10000,100000 -proxy -rounds 3 -bin $(BIN)
	$(GO) run ./tools/balancesim

# l7lb serve beside HAProxy and nginx on real HTTP/1.1, HTTPS, full TLS
# handshakes and HTTP/2 (wrk, h2load, pinned cores); installs what is
# missing of wrk, nghttp2-client, haproxy and nginx with apt and rewrites the
# "HTTP proxy" section of BENCHMARKS.md. About 8 minutes on a quiet machine;
# noisy runs are measured again, within a bound of about 20 minutes.
# L7LB_BIN=path measures that binary instead of building the working tree;
# BENCH_HTTP_FLAGS passes more flags (go run ./tools/httpbench -h).
bench-http:
	$(GO) run ./tools/httpbench $(if $(L7LB_BIN),-l7lb l7lb=$(L7LB_BIN)) $(BENCH_HTTP_FLAGS)

# Three demo backends behind the proxy; prints curl commands to try.
demo: build
	$(BIN) demo

# Three etcd members, two backends and three instances of one fleet on
# loopback (docs/fleet.md); Ctrl-C stops them all.
fleet-demo: build bins
	bash scripts/fleet-demo.sh

clean:
	rm -f $(BIN)
