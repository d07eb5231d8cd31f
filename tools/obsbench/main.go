// Command obsbench measures what observability costs `l7lb serve` per
// proxied request: the same build with its access log off and on (each
// format, to a file), and optionally another build (-before, such as main
// before this work) with its log off, all in one run.
//
//	go build -o /tmp/l7lb-after . && git stash ... && go build -o /tmp/l7lb-before .
//	taskset -c 1 go run ./tools/obsbench -after /tmp/l7lb-after -before /tmp/l7lb-before -rounds 8
//
// Each round starts every variant in turn (the order rotates from round to
// round), alone on CPU 0 with GOMAXPROCS=1, in front of two HTTP backends
// that this process serves; wrk (on the CPUs this process may use: run it
// under taskset -c 1) sends keep-alive GETs for a warm-up, then for the
// measured run. The figure is the proxy's CPU time (utime+stime from
// /proc/PID/stat) over the requests wrk completed. The machine is shared:
// ratios are taken per round, between variants measured seconds apart,
// and the report gives the median over the rounds.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"l7lb/tools/loopback"
	"l7lb/tools/procfs"
	"l7lb/tools/stats"
)

// variant is one way of running a proxy.
type variant struct {
	name string
	bin  string
	log  string // access log format to a file; "" for off
}

// sample is one measured run of a variant.
type sample struct {
	cpuPerReq float64 // µs
	rps       float64
}

func main() {
	after := flag.String("after", "", "the l7lb binary measured with its access log off and on (required)")
	before := flag.String("before", "", "another l7lb binary measured with its access log off, as the reference of the metrics' cost (optional)")
	rounds := flag.Int("rounds", 8, "rounds: every variant once per round")
	duration := flag.Duration("duration", 5*time.Second, "measured wrk run per variant and round (whole seconds)")
	warmup := flag.Duration("warmup", time.Second, "wrk warm-up before each measured run (whole seconds)")
	conns := flag.Int("conns", 50, "wrk connections")
	formats := flag.String("formats", "text,json,common", "access log formats measured")
	flag.Parse()
	if *after == "" {
		fmt.Fprintln(os.Stderr, "obsbench: -after is required")
		os.Exit(2)
	}
	if allowed := cpusAllowed(); strings.HasPrefix(allowed, "0") {
		fmt.Fprintf(os.Stderr, "obsbench: warning: this process may run on CPUs %s; run it under taskset -c 1 so that load and backends stay off the proxy's CPU 0\n", allowed)
	}

	var variants []variant
	if *before != "" {
		variants = append(variants, variant{"before, log off", *before, ""})
	}
	variants = append(variants, variant{"after, log off", *after, ""})
	for _, f := range strings.Split(*formats, ",") {
		variants = append(variants, variant{"after, log " + f, *after, f})
	}

	backends := []string{startBackend(), startBackend()}
	dir, err := os.MkdirTemp("", "obsbench")
	check(err)
	defer os.RemoveAll(dir)

	samples := make([][]sample, len(variants)) // by variant, by round
	for r := range *rounds {
		for k := range variants {
			i := (k + r) % len(variants)
			s, err := measure(variants[i], backends, dir, *conns, *warmup, *duration)
			check(err)
			samples[i] = append(samples[i], s)
			fmt.Fprintf(os.Stderr, "round %d %-16s %8.0f req/s %6.2f µs/req\n", r+1, variants[i].name, s.rps, s.cpuPerReq)
		}
	}
	report(os.Stdout, variants, samples)
}

// report writes a Markdown table: per variant, the median CPU per request
// and req/s, and the median over the rounds of its ratio to the reference
// ("after, log off") measured in the same round, and to "before, log off".
func report(w io.Writer, variants []variant, samples [][]sample) {
	ref := slices.IndexFunc(variants, func(v variant) bool { return v.name == "after, log off" })
	base := slices.IndexFunc(variants, func(v variant) bool { return v.name == "before, log off" })
	fmt.Fprintf(w, "| variant | median CPU µs/req | median req/s | ratio to after, log off |")
	if base >= 0 {
		fmt.Fprintf(w, " ratio to before, log off |")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "|---|--:|--:|--:|")
	if base >= 0 {
		fmt.Fprintf(w, "--:|")
	}
	fmt.Fprintln(w)
	for i, v := range variants {
		fmt.Fprintf(w, "| %s | %.2f | %.0f | %s |", v.name,
			stats.Median(field(samples[i], func(s sample) float64 { return s.cpuPerReq })),
			stats.Median(field(samples[i], func(s sample) float64 { return s.rps })),
			ratios(samples[i], samples[ref]))
		if base >= 0 {
			fmt.Fprintf(w, " %s |", ratios(samples[i], samples[base]))
		}
		fmt.Fprintln(w)
	}
}

// ratios returns the median and the range of a's CPU per request over b's,
// round by round.
func ratios(a, b []sample) string {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i].cpuPerReq / b[i].cpuPerReq
	}
	return fmt.Sprintf("**%.3f** (%.2f–%.2f)", stats.Median(r), slices.Min(r), slices.Max(r))
}

func field(s []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(s))
	for i := range s {
		out[i] = f(s[i])
	}
	return out
}

// startBackend serves "ok\n" on a loopback port and returns its address.
func startBackend() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	}))
	return ln.Addr().String()
}

// measure starts v on CPU 0, loads it with wrk and returns its CPU per
// request over the measured run.
func measure(v variant, backends []string, dir string, conns int, warmup, duration time.Duration) (sample, error) {
	addr, err := loopback.FreeAddr()
	check(err)
	cfg := fmt.Sprintf("listen: %q\nservers: {s1: \"http://%s\", s2: \"http://%s\"}\nroutes: [{name: all, path: /*, servers: [s1, s2]}]\nsticky: {mode: \"off\"}\n",
		addr, backends[0], backends[1])
	args := []string{"-c", "0", v.bin, "serve", "--config", filepath.Join(dir, "l7lb.yaml")}
	if v.log == "" {
		args = append(args, "--access-log=false")
	} else {
		logFile := filepath.Join(dir, "access.log")
		os.Remove(logFile)
		cfg += fmt.Sprintf("access_log: {format: %s, path: %q}\n", v.log, logFile)
	}
	if err := os.WriteFile(filepath.Join(dir, "l7lb.yaml"), []byte(cfg), 0o644); err != nil {
		return sample{}, err
	}
	cmd := exec.Command("taskset", args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	if err := loopback.WaitListening(addr, 10*time.Second); err != nil {
		return sample{}, fmt.Errorf("%s: %v", v.name, err)
	}
	url := "http://" + addr + "/"
	if _, err := wrk(url, conns, warmup); err != nil {
		return sample{}, err
	}
	t0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	reqs, err := wrk(url, conns, duration)
	if err != nil {
		return sample{}, err
	}
	wall := time.Since(start)
	t1, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	if reqs == 0 {
		return sample{}, fmt.Errorf("%s: no request completed", v.name)
	}
	cpu := (t1 - t0).Seconds()
	return sample{cpuPerReq: cpu * 1e6 / float64(reqs), rps: float64(reqs) / wall.Seconds()}, nil
}

var requestsLine = regexp.MustCompile(`(\d+) requests in`)

// wrk runs wrk against url and returns the requests completed; errors
// (non-2xx answers, socket errors) fail the run.
func wrk(url string, conns int, d time.Duration) (int, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second)) // wrk takes whole seconds
	out, err := exec.Command("wrk", "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		return 0, fmt.Errorf("wrk saw errors:\n%s", out)
	}
	m := requestsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk output:\n%s", out)
	}
	return strconv.Atoi(string(m[1]))
}

// cpuTime returns the CPU time pid has used, user and system.
func cpuTime(pid int) (time.Duration, error) {
	s, err := procfs.ReadStat(pid)
	return s.CPU(), err
}

// cpusAllowed returns this process's Cpus_allowed_list.
func cpusAllowed() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "obsbench:", err)
		os.Exit(1)
	}
}
