// Command routegen generates large route configurations and measures how
// l7lb copes with them: compile time, routing throughput and memory, for
// the Maelstrom node and for the engine of `l7lb serve`.
//
//	go run ./tools/routegen -routes 10000 [-regex 10] [-serve] > routes.json
//	go run ./tools/routegen -sweep 4,1000,10000,100000 [-proxy] [-rounds 3] -bin ./l7lb
//
// The mix (gen.go): 40% segment prefixes (/sN/*), 20% exact hosts
// (hN.example.com, /api/*), 20% wildcard hosts with a prefix and a rewrite
// (*.wN.example.net, /app/*, strip_prefix /app), 20% exact paths
// (/eN/status); -regex R turns R of them, spread evenly, into regex routes
// (~^/rN/[0-9]+$). Requests are spread evenly over all routes, each one
// checked to reach its route (the node: status 200, as nothing else
// matches and there are no default servers).
//
// Each size is measured in a fresh process, so that the RSS figures are
// its own: the engine in a child routegen (-measure-engine), the node as
// the binary -bin started with --config and GOMAXPROCS=1.
//
// Times are CPU times (user and system, all threads), not wall times: the
// machine is shared, and a wall clock would count the other processes.
//
//   - engine: compile is instance.Compile (parse, decode, engine, the
//     file's hash), the whole path of `l7lb serve` at start and on every
//     reload; parse is the parse and decode alone; engine is the engine's
//     compilation alone (route table, routes and their pools:
//     engine.Replace). Throughput is decisions per second on
//     one goroutine (Route then Done, as the proxy does), heap/route the
//     live heap the compiled configuration holds, divided by the routes.
//   - node: compile is the CPU time of the process up to its init_ok (the
//     runtime's start, the file read, decoded and compiled, then compiled
//     again for init's servers; /proc's 10 ms ticks); throughput is
//     requests per CPU second from init_ok to the last reply; RSS is the
//     child's peak (VmHWM) before its input ends.
//   - proxy (with -proxy): `l7lb serve` (-bin) alone on -proxy-core, the
//     requests (-conns keep-alive connections, one request at a time on
//     each) and its eight servers in a routegen child on -load-core;
//     compile is its CPU time until it accepts a connection, throughput
//     requests per CPU second of the proxy (user and system: most of it
//     is the kernel's TCP), scrape the size of its /metrics afterwards.
//
// Throughput is also given as a ratio to the smallest size measured in
// the same round, the figure to compare across machines; with -rounds,
// the sweep is run that many times and ends with each size's median.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/instance"
	"l7lb/tools/procfs"
	"l7lb/tools/routeset"
	"l7lb/tools/stats"
)

// measurement is one face at one size.
type measurement struct {
	Face     string  `json:"face"`
	Routes   int     `json:"routes"`
	Regex    int     `json:"regex"`
	ParseMs  float64 `json:"parse_ms,omitempty"`
	EngineMs float64 `json:"engine_ms,omitempty"`
	Compile  float64 `json:"compile_ms"`
	PerSec   float64 `json:"per_sec"`
	RSSMiB   float64 `json:"rss_mib"`
	HeapByte float64 `json:"heap_per_route,omitempty"`
	// ScrapeKiB is the size of the proxy's /metrics after the requests.
	ScrapeKiB float64 `json:"scrape_kib,omitempty"`
}

func main() {
	routes := flag.Int("routes", -1, "print a configuration of `N` routes (JSON) and exit")
	regex := flag.Int("regex", 0, "with -routes: how many of them are regex routes")
	serve := flag.Bool("serve", false, "with -routes: the schema of l7lb serve (servers map, listen), not the node's")
	sweep := flag.String("sweep", "", "measure these route counts (comma-separated), e.g. 4,1000,10000,100000")
	sweepRegex := flag.Int("sweep-regex", 10, "regex routes in each size of the sweep (fewer when the size is smaller than 100 times it)")
	regexCase := flag.Int("regex-case", 1000, "after the sweep, measure a configuration of `N` routes that are all regex routes (0: none)")
	bin := flag.String("bin", "./l7lb", "node binary (empty: measure the engine only)")
	n := flag.Int("n", 300000, "requests per measurement")
	timeout := flag.Duration("timeout", 5*time.Minute, "limit of each measurement")
	rounds := flag.Int("rounds", 1, "with -sweep: run the sweep `R` times and end with each size's median ratio (the machine's noise moves one run's ratio by ±0.2)")
	measureEngine := flag.Int("measure-engine", -1, "(internal) measure the engine at `N` routes, print one JSON line")
	proxy := flag.Bool("proxy", false, "with -sweep: also measure `l7lb serve` (-bin) end to end, alone on -proxy-core, with the requests and its servers on -load-core")
	proxyCore := flag.Int("proxy-core", 0, "with -proxy: the proxy's core")
	loadCore := flag.Int("load-core", 1, "with -proxy: the core of the requests and the servers")
	conns := flag.Int("conns", 50, "with -proxy: keep-alive connections, one request at a time on each")
	measureProxy := flag.Int("measure-proxy", -1, "(internal) measure the proxy at `N` routes, print one JSON line")
	cpuProfile := flag.String("cpuprofile", "", "with -measure-engine: write a CPU profile of compile and routing to `FILE`")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal("%v", err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	switch {
	case *measureEngine >= 0:
		m, err := measureEngineOnce(*measureEngine, *regex, *n)
		if err != nil {
			pprof.StopCPUProfile()
			fatal("%v", err)
		}
		json.NewEncoder(os.Stdout).Encode(m)
	case *measureProxy >= 0:
		m, err := measureProxyOnce(proxyOptions{*bin, *proxyCore, *loadCore, *conns}, *measureProxy, *regex, *n, *timeout)
		if err != nil {
			fatal("%v", err)
		}
		json.NewEncoder(os.Stdout).Encode(m)
	case *routes >= 0:
		os.Stdout.Write(routeset.Generate(*routes, *regex).AppendJSON(nil, *serve))
	case *sweep != "":
		var sizes []int
		for f := range strings.SplitSeq(*sweep, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 1 {
				fatal("-sweep: bad size %q", f)
			}
			sizes = append(sizes, v)
		}
		if *rounds < 1 {
			fatal("-rounds: want at least 1")
		}
		var po *proxyOptions
		if *proxy {
			if *bin == "" {
				fatal("-proxy needs -bin")
			}
			po = &proxyOptions{*bin, *proxyCore, *loadCore, *conns}
		}
		runSweep(sizes, *sweepRegex, *regexCase, *bin, po, *n, *rounds, *timeout)
	default:
		flag.Usage()
		os.Exit(2)
	}
}

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "routegen: "+format+"\n", a...)
	os.Exit(1)
}

type sizeCase struct{ routes, regex int }

func runSweep(sizes []int, sweepRegex, regexCase int, bin string, po *proxyOptions, n, rounds int, timeout time.Duration) {
	var cases []sizeCase
	for _, s := range sizes {
		cases = append(cases, sizeCase{s, min(sweepRegex, s/100)})
	}
	if regexCase > 0 {
		cases = append(cases, sizeCase{regexCase, regexCase})
	}
	self, err := os.Executable()
	if err != nil {
		fatal("%v", err)
	}
	fmt.Printf("routegen: %d requests per case, %d round(s), GOMAXPROCS=1, %s/%s, %d CPUs\n", n, rounds, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Printf("%-6s %8s %6s %9s %10s %11s %12s %7s %9s %11s %10s\n", "face", "routes", "regex", "parse ms", "engine ms", "compile ms", "req/s", "ratio", "RSS MiB", "heap B/route", "scrape KiB")
	var sum summary
	for range rounds {
		// Each round has its own base: a ratio compares two measurements
		// of the same round, as near in time as the sweep allows.
		base := map[string]float64{}
		for _, c := range cases {
			var ms []measurement
			m, err := engineChild(self, c, n, timeout)
			if err != nil {
				fatal("engine, %d routes: %v", c.routes, err)
			}
			ms = append(ms, m)
			if bin != "" {
				m, err := measureNode(bin, c, n, timeout)
				if err != nil {
					fatal("node, %d routes: %v", c.routes, err)
				}
				ms = append(ms, m)
			}
			if po != nil {
				m, err := proxyChild(self, *po, c, n, timeout)
				if err != nil {
					fatal("proxy, %d routes: %v", c.routes, err)
				}
				ms = append(ms, m)
			}
			for _, m := range ms {
				if _, ok := base[m.Face]; !ok {
					base[m.Face] = m.PerSec
				}
				ratio := m.PerSec / base[m.Face]
				sum.add(m, ratio)
				parse, eng, heap, scrape := "", "", "", ""
				if m.ParseMs > 0 {
					parse = strconv.FormatFloat(m.ParseMs, 'f', 1, 64)
				}
				if m.EngineMs > 0 {
					eng = strconv.FormatFloat(m.EngineMs, 'f', 1, 64)
				}
				if m.HeapByte > 0 {
					heap = strconv.FormatFloat(m.HeapByte, 'f', 0, 64)
				}
				if m.ScrapeKiB > 0 {
					scrape = strconv.FormatFloat(m.ScrapeKiB, 'f', 0, 64)
				}
				fmt.Printf("%-6s %8d %6d %9s %10s %11.1f %12.0f %7.2f %9.1f %11s %10s\n", m.Face, m.Routes, m.Regex, parse, eng, m.Compile, m.PerSec, ratio, m.RSSMiB, heap, scrape)
			}
		}
	}
	if rounds > 1 {
		sum.print(os.Stdout)
	}
}

// summary gathers every round's measurements of each face and size.
type summary struct {
	keys []sizeKey
	of   map[sizeKey]*samples
}

type sizeKey struct {
	face          string
	routes, regex int
}

type samples struct{ compile, perSec, ratio []float64 }

func (s *summary) add(m measurement, ratio float64) {
	k := sizeKey{m.Face, m.Routes, m.Regex}
	if s.of == nil {
		s.of = map[sizeKey]*samples{}
	}
	v := s.of[k]
	if v == nil {
		v = &samples{}
		s.of[k] = v
		s.keys = append(s.keys, k)
	}
	v.compile = append(v.compile, m.Compile)
	v.perSec = append(v.perSec, m.PerSec)
	v.ratio = append(v.ratio, ratio)
}

// print writes each face and size's medians, and its ratios' range and
// how many rounds reached 0.7 (issue 13's target at 100,000 routes).
func (s *summary) print(w io.Writer) {
	fmt.Fprintf(w, "\nmedians over the rounds:\n%-6s %8s %6s %11s %12s %7s %11s %9s\n", "face", "routes", "regex", "compile ms", "req/s", "ratio", "ratio range", "ratio≥0.7")
	for _, k := range s.keys {
		v := s.of[k]
		reached := 0
		for _, r := range v.ratio {
			if r >= 0.7 {
				reached++
			}
		}
		fmt.Fprintf(w, "%-6s %8d %6d %11.1f %12.0f %7.2f %5.2f–%-5.2f %6d/%d\n", k.face, k.routes, k.regex, stats.Median(v.compile), stats.Median(v.perSec), stats.Median(v.ratio), slices.Min(v.ratio), slices.Max(v.ratio), reached, len(v.ratio))
	}
}

// engineChild runs measureEngineOnce in a fresh routegen process.
func engineChild(self string, c sizeCase, n int, timeout time.Duration) (measurement, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-measure-engine", strconv.Itoa(c.routes), "-regex", strconv.Itoa(c.regex), "-n", strconv.Itoa(n))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return measureChild(cmd)
}

// measureChild runs cmd, a routegen child that prints one measurement as
// JSON, and decodes it.
func measureChild(cmd *exec.Cmd) (measurement, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return measurement{}, err
	}
	var m measurement
	return m, json.Unmarshal(out, &m)
}

// measureEngineOnce compiles a generated configuration as `l7lb serve`
// does and routes n requests through its engine.
func measureEngineOnce(routes, regex, n int) (measurement, error) {
	rs := routeset.Generate(routes, regex)
	data := rs.AppendJSON(nil, true)
	reqs := rs.Requests(n)
	ereqs := make([]engine.Request, len(reqs))
	for i, q := range reqs {
		ereqs[i] = engine.Request{Method: "GET", Target: q.Target, Host: q.Host}
	}
	m := measurement{Face: "engine", Routes: routes, Regex: min(regex, routes)}

	t0 := cpuNow()
	f, _, err := config.Read("routes.json", data, true)
	if err != nil {
		return m, err
	}
	m.ParseMs = ms(cpuNow() - t0)

	// The engine alone: the route table, the routes and their pools.
	ids := make([]string, len(f.Servers))
	for i, s := range f.Servers {
		ids[i] = s.ID
	}
	e0 := engine.New(nil)
	e0.Measure()
	t0 = cpuNow()
	if _, err := e0.Replace(engine.Update{NodeID: "lb", Servers: ids, Config: &f.Config}); err != nil {
		return m, err
	}
	m.EngineMs = ms(cpuNow() - t0)
	e0, f = nil, nil

	heap0 := liveHeap()
	t0 = cpuNow()
	c, err := instance.Compile(".", "routes.json", data, instance.Env{NodeID: "lb"})
	if err != nil {
		return m, err
	}
	m.Compile = ms(cpuNow() - t0)
	m.HeapByte = float64(liveHeap()-heap0) / float64(max(routes, 1))

	e := c.Engine
	names, _ := e.Names()
	var d engine.Decision
	// A first pass checks every request against its route, a second one
	// is timed.
	for i := range ereqs[:min(len(ereqs), 2*routes+1000)] {
		e.Route(&ereqs[i], &d)
		if d.Status != 200 || d.RouteIndex() < 0 || names[d.RouteIndex()] != routeset.Name(reqs[i].Route) {
			return m, fmt.Errorf("request %+v: status %d, route %q, want %s (%s)", reqs[i], d.Status, d.Route, routeset.Name(reqs[i].Route), d.Error)
		}
		e.Done(&d)
	}
	t0 = cpuNow()
	for i := range ereqs {
		e.Route(&ereqs[i], &d)
		e.Done(&d)
	}
	m.PerSec = float64(len(ereqs)) / (cpuNow() - t0).Seconds()
	m.RSSMiB = float64(procfs.PeakRSS(0)) / 1024
	runtime.KeepAlive(c)
	return m, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuNow is the CPU time this process has used (user and system, every
// thread): the machine is shared, and wall time would count the others.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the CPU time process pid has used, from /proc (in clock
// ticks of 10 ms); -1 where /proc is missing.
func childCPU(pid int) time.Duration {
	s, err := procfs.ReadStat(pid)
	if err != nil {
		return -1
	}
	return s.CPU()
}

func liveHeap() uint64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.HeapAlloc
}

// writeConfig writes data to routes.json in a new temporary directory,
// which the caller removes.
func writeConfig(data []byte) (dir, file string, err error) {
	if dir, err = os.MkdirTemp("", "routegen-"); err != nil {
		return "", "", err
	}
	file = dir + "/routes.json"
	if err := os.WriteFile(file, data, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return dir, file, nil
}

// measureNode starts the node with the configuration as --config, sends
// init and n requests, and times init_ok and the replies.
func measureNode(bin string, c sizeCase, n int, timeout time.Duration) (measurement, error) {
	m := measurement{Face: "node", Routes: c.routes, Regex: min(c.regex, c.routes)}
	rs := routeset.Generate(c.routes, c.regex)
	dir, cfgFile, err := writeConfig(rs.AppendJSON(nil, false))
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)
	var stream bytes.Buffer
	stream.WriteString(`{"src":"c1","dest":"lb","body":{"type":"init","msg_id":1,"node_id":"lb","node_ids":["lb"`)
	for i := range routeset.NumServers {
		stream.WriteString(`,"` + routeset.Server(i) + `"`)
	}
	stream.WriteString("]}}\n")
	initLen := stream.Len()
	for j, q := range rs.Requests(n) {
		stream.WriteString(`{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":`)
		stream.WriteString(strconv.Itoa(j + 2))
		stream.WriteString(`,"method":"GET","path":`)
		p, _ := json.Marshal(q.Target)
		stream.Write(p)
		if q.Host != "" {
			stream.WriteString(`,"headers":{"Host":"` + q.Host + `"}`)
		}
		stream.WriteString("}}\n")
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", cfgFile)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return m, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return m, err
	}
	if err := cmd.Start(); err != nil {
		return m, err
	}
	// init alone first, the requests once init_ok is read: so the CPU
	// time read at init_ok is the start's alone. A failed child shows as
	// missing replies.
	go stdin.Write(stream.Bytes()[:initLen])
	requests := stream.Bytes()[initLen:]
	var initOK, last time.Duration // the child's CPU time
	replies, bad := 0, ""
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		replies++
		if replies == 1 {
			initOK = childCPU(cmd.Process.Pid)
			go stdin.Write(requests)
			if !bytes.Contains(line, []byte(`"init_ok"`)) && bad == "" {
				bad = string(line)
			}
		} else if !bytes.Contains(line, []byte(`"status":200`)) && bad == "" {
			bad = string(line)
		}
		if replies == n+1 {
			last = childCPU(cmd.Process.Pid)
			m.RSSMiB = float64(procfs.PeakRSS(cmd.Process.Pid)) / 1024
			break
		}
	}
	stdin.Close()
	io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return m, fmt.Errorf("timed out after %v with %d replies", timeout, replies)
	case replies != n+1:
		return m, fmt.Errorf("%d replies of %d (%v): %s", replies, n+1, werr, stderr.String())
	case bad != "":
		return m, errors.New("unexpected reply: " + bad)
	}
	if initOK < 0 {
		return m, errors.New("no /proc to read the node's CPU time from")
	}
	m.Compile = ms(initOK)
	m.PerSec = float64(n) / (last - initOK).Seconds()
	return m, nil
}
