package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadResult is what a load generator reports of one run. Latencies are in
// milliseconds, NaN when the tool gave none (no request completed).
type loadResult struct {
	requests int64 // completed with any status
	rps      float64
	p50, p99 float64
	// errors counts answers that are not 2xx or 3xx, and socket errors,
	// failed and timed-out streams.
	errors int64
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+(\S+)`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads the output of `wrk --latency`.
func parseWrk(out string) (loadResult, error) {
	r := loadResult{p50: math.NaN(), p99: math.NaN()}
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk output has no \"N requests in\" line")
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	m = wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk output has no Requests/sec line")
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		ms, err := wrkDuration(m[2])
		if err != nil {
			return r, fmt.Errorf("wrk %s%% latency: %v", m[1], err)
		}
		if m[1] == "50" {
			r.p50 = ms
		} else {
			r.p99 = ms
		}
	}
	if r.requests > 0 && (math.IsNaN(r.p50) || math.IsNaN(r.p99)) {
		return r, fmt.Errorf("wrk output has no 50%% and 99%% latency lines (run it with --latency)")
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.errors += n
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.errors += n
		}
	}
	return r, nil
}

// wrkDuration converts wrk's "456.00us", "1.23ms", "1.02s" or "1.50m" to
// milliseconds.
func wrkDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"m", 60e3}, {"s", 1e3}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %v", s, err)
			}
			return v * u.ms, nil
		}
	}
	return 0, fmt.Errorf("duration %q: no unit (us, ms, s, m)", s)
}

var (
	h2Finished = regexp.MustCompile(`(?m)^finished in \S+, ([0-9.]+) req/s`)
	h2Requests = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// parseH2load reads h2load's summary. Its requests are the ones done (any
// status); its errors the failed (errored included) and timed-out ones and
// the 4xx and 5xx answers. h2load prints no percentiles: those come from
// its --log-file ([latencyPercentiles]).
func parseH2load(out string) (loadResult, error) {
	r := loadResult{p50: math.NaN(), p99: math.NaN()}
	m := h2Finished.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("h2load output has no \"finished in\" line")
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	m = h2Requests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("h2load output has no \"requests:\" line")
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	r.requests = n(m[3])
	r.errors = n(m[5]) + n(m[7])
	m = h2Status.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("h2load output has no \"status codes:\" line")
	}
	r.errors += n(m[3]) + n(m[4])
	return r, nil
}

// h2loadRun runs h2load (through command, which pins it) against url for
// d with conns connections of streams streams each (each sending rps
// requests per second; 0 for as fast as streams end), and reads its summary
// and its latencies. The latencies come from a log of this run alone, in
// dir: h2load appends to an existing --log-file, so a log kept from run to
// run would mix every earlier run (warm-ups and other proxies) into the
// percentiles.
func h2loadRun(command func(name string, args ...string) *exec.Cmd, dir, url string, conns, streams, rps int, d time.Duration) (loadResult, error) {
	log, err := os.CreateTemp(dir, "h2load-*.log")
	if err != nil {
		return loadResult{}, err
	}
	defer os.Remove(log.Name())
	defer log.Close()
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-m" + strconv.Itoa(streams), "-D", strconv.Itoa(secs), "--log-file=" + log.Name()}
	if rps > 0 {
		args = append(args, "--rps="+strconv.Itoa(rps))
	}
	cmd := command("h2load", append(args, url)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("%s: %v\n%s", url, err, out)
	}
	r, err := parseH2load(string(out))
	if err != nil {
		return r, fmt.Errorf("%v\n%s", err, out)
	}
	r.p50, r.p99, err = latencyPercentiles(log)
	return r, err
}

// latencyPercentiles reads an h2load --log-file (start µs, status, duration
// µs, tab-separated) and returns the 50th and 99th percentiles of the
// durations of the streams that completed, in milliseconds (NaN without
// any).
func latencyPercentiles(log io.Reader) (p50, p99 float64, err error) {
	var durs []float64
	sc := bufio.NewScanner(log)
	for line := 1; sc.Scan(); line++ {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 {
			return 0, 0, fmt.Errorf("h2load log line %d: %d columns, want 3", line, len(f))
		}
		if f[1] == "-1" { // a failed stream, counted in the summary
			continue
		}
		us, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("h2load log line %d: duration: %v", line, err)
		}
		durs = append(durs, us/1e3)
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	slices.Sort(durs)
	return percentile(durs, 50), percentile(durs, 99), nil
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of sorted
// values: the smallest value with at least p% of the values at or below
// it, as wrk's HdrHistogram reports. NaN for no values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
