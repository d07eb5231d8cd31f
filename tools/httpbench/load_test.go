package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

const wrkOutput = `Running 10s test @ http://127.0.0.1:21234/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   793.04us  300.12us  12.34ms   90.00%
    Req/Sec    56.41k     1.23k   60.00k    70.00%
  Latency Distribution
     50%  790.00us
     75%  850.00us
     90%    1.00ms
     99%    1.84ms
  564141 requests in 10.00s, 80.00MB read
  Socket errors: connect 0, read 12, write 3, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  56414.10
Transfer/sec:      8.00MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := loadResult{requests: 564141, rps: 56414.10, p50: 0.79, p99: 1.84, errors: 5 + 12 + 3 + 1}
	if r.requests != want.requests || r.rps != want.rps || !near(r.p50, want.p50) || !near(r.p99, want.p99) || r.errors != want.errors {
		t.Errorf("got %+v, want %+v", r, want)
	}
}

func TestParseWrkClean(t *testing.T) {
	// No error lines at all: zero errors. Latencies in seconds.
	out := strings.NewReplacer("  Socket errors: connect 0, read 12, write 3, timeout 1\n", "",
		"  Non-2xx or 3xx responses: 5\n", "", "1.84ms", "1.02s").Replace(wrkOutput)
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.errors != 0 || !near(r.p99, 1020) {
		t.Errorf("got %+v, want 0 errors and p99 1020 ms", r)
	}
}

func TestParseWrkErrors(t *testing.T) {
	for name, out := range map[string]string{
		"empty":      "",
		"no rps":     strings.Replace(wrkOutput, "Requests/sec:", "Reqs:", 1),
		"no latency": strings.Replace(strings.Replace(wrkOutput, "50%", "51%", 1), "99%", "98%", 1),
		"bad unit":   strings.Replace(wrkOutput, "1.84ms", "1.84xs", 1),
	} {
		if r, err := parseWrk(out); err == nil {
			t.Errorf("%s: got %+v, want an error", name, r)
		}
	}
}

func TestWrkDuration(t *testing.T) {
	for in, want := range map[string]float64{"456.00us": 0.456, "1.23ms": 1.23, "1.02s": 1020, "1.50m": 90000} {
		got, err := wrkDuration(in)
		if err != nil || !near(got, want) {
			t.Errorf("wrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"12", "ms", "1.2h"} {
		if got, err := wrkDuration(in); err == nil {
			t.Errorf("wrkDuration(%q) = %v, want an error", in, got)
		}
	}
}

const h2loadOutput = `starting benchmark...
spawning thread #0: 50 total client(s). Timing-based test with 0s of warm-up time and 10s of main duration for measurements.
Warm-up phase is over for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 10.00s, 34567.80 req/s, 1.23MB/s
requests: 345700 total, 346178 started, 345690 done, 345678 succeeded, 12 failed, 2 errored, 3 timeout
status codes: 345670 2xx, 4 3xx, 6 4xx, 7 5xx
traffic: 12.34MB (12939264) total, 1.23MB (1293926) headers (space savings 95.00%), 1.01MB (1037070) data
                     min         max         mean         sd        +/- sd
time for request:      123us     12.34ms      1.23ms       456us    78.90%
time for connect:     1.2ms      3.4ms       2.1ms       0.5ms    60.00%
time to 1st byte:     3.4ms      5.6ms       4.1ms       0.5ms    60.00%
req/s           :     600.12      800.34      691.35       40.12    70.00%
`

func TestParseH2load(t *testing.T) {
	r, err := parseH2load(h2loadOutput)
	if err != nil {
		t.Fatal(err)
	}
	// done requests; failed (errored among them) + timeout + 4xx + 5xx.
	if r.requests != 345690 || r.rps != 34567.80 || r.errors != 12+3+6+7 {
		t.Errorf("got %+v", r)
	}
	if !math.IsNaN(r.p50) || !math.IsNaN(r.p99) {
		t.Errorf("percentiles %v %v, want NaN until the log is read", r.p50, r.p99)
	}
	for name, out := range map[string]string{
		"no finished": strings.Replace(h2loadOutput, "finished in", "ended in", 1),
		"no requests": strings.Replace(h2loadOutput, "requests: ", "reqs: ", 1),
		"no status":   strings.Replace(h2loadOutput, "status codes:", "codes:", 1),
	} {
		if r, err := parseH2load(out); err == nil {
			t.Errorf("%s: got %+v, want an error", name, r)
		}
	}
}

func TestLatencyPercentiles(t *testing.T) {
	var b strings.Builder
	// 100 streams of 1..100 ms, out of order, and a failed one that
	// does not count.
	for i := 100; i >= 1; i-- {
		b.WriteString("1733300000000000\t200\t" + strconv.Itoa(i*1000) + "\n")
	}
	b.WriteString("1733300000000000\t-1\t999999999\n")
	p50, p99, err := latencyPercentiles(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if p50 != 50 || p99 != 99 {
		t.Errorf("p50 %v p99 %v, want 50 and 99", p50, p99)
	}
	if _, _, err := latencyPercentiles(strings.NewReader("1\t200\n")); err == nil {
		t.Error("two columns: want an error")
	}
	if _, _, err := latencyPercentiles(strings.NewReader("1\t200\tx\n")); err == nil {
		t.Error("a duration that is no number: want an error")
	}
	p50, _, err = latencyPercentiles(strings.NewReader(""))
	if err != nil || !math.IsNaN(p50) {
		t.Errorf("empty log: %v, %v; want NaN", p50, err)
	}
}

func TestPercentile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]float64{50: 5, 90: 9, 99: 10, 100: 10, 1: 1, 10: 1, 11: 2} {
		if got := percentile(s, p); got != want {
			t.Errorf("percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if got := percentile([]float64{7}, 99); got != 7 {
		t.Errorf("one value: %v", got)
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("no values: want NaN")
	}
}

func TestParseSClient(t *testing.T) {
	out := `Can't use SSL_get_servername
CONNECTION ESTABLISHED
Protocol version: TLSv1.3
Ciphersuite: TLS_AES_128_GCM_SHA256
Peer certificate: CN = bench
Server Temp Key: X25519, 253 bits
DONE
`
	if got := parseSClient(out); got != "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519" {
		t.Errorf("got %q", got)
	}
	if got := parseSClient("connect: Connection refused\n"); got != "? ? ?" {
		t.Errorf("refused: got %q", got)
	}
}

func TestHandshakeSummary(t *testing.T) {
	r, err := parseHandshakeSummary([]byte(`{"requests":2000,"errors":1,"seconds":4,"p50_ms":1.5,"p99_ms":9}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 2000 || r.errors != 1 || r.rps != 500 || r.p50 != 1.5 || r.p99 != 9 {
		t.Errorf("got %+v", r)
	}
	if _, err := parseHandshakeSummary([]byte("panic: boom")); err == nil {
		t.Error("not JSON: want an error")
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestParsePerfStat(t *testing.T) {
	out := "# started on Fri Dec  4 20:30:00 2026\n\n302600,,raw_syscalls:sys_enter,4008499877,100.00,,\n"
	if n, err := parsePerfStat(out, "raw_syscalls:sys_enter"); err != nil || n != 302600 {
		t.Errorf("got %d, %v", n, err)
	}
	if _, err := parsePerfStat("<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n", "raw_syscalls:sys_enter"); err == nil {
		t.Error("not counted: want an error")
	}
	if _, err := parsePerfStat(out, "cycles"); err == nil {
		t.Error("another event: want an error")
	}
}
