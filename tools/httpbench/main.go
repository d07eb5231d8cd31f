// Command httpbench measures `l7lb serve` side by side with HAProxy and
// nginx on real HTTP (issue 3 and issue 8, "Speed"), and writes the
// "HTTP proxy" section of BENCHMARKS.md.
//
//	go run ./tools/httpbench [-l7lb NAME=BINARY[@CASES]]... [-cases plain,https,handshake,h2]
//
// Layout on a 2-core machine:
//
//   - core 0: the proxy under test, alone (GOMAXPROCS=1, nbthread 1,
//     worker_processes 1);
//   - core 1: the load generator and the backend, one nginx worker serving
//     "ok\n" on two ports, so that round robin really alternates.
//
// On this machine the load generator plus the backend cost about as much
// CPU per request as the proxy, so with the fastest proxies both cores are
// near saturation and req/s is bounded by core 1 as much as by the proxy:
// CPU time per request, not req/s, is the figure to compare.
//
// Every case runs each proxy in turn (start, warm-up, measured run, stop),
// twice in alternating order (l7lb haproxy nginx, then nginx haproxy l7lb),
// so that drift on a noisy machine favours none. Before each measured run
// the harness waits (up to -quiet-wait) for a second in which other
// processes use less than a fifth of a core; a run during which processes
// outside the benchmark took more than -noisy % of a core is measured again
// (-retries, within -budget), keeping the quietest.
//
// CPU per request is the proxy's utime+stime (its process and every
// descendant, from /proc/PID/stat) over the measured run divided by the
// requests the load generator completed. Loopback TCP work done in the
// proxy's context is part of its system time, so kernel cost counts too,
// for all three alike.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"l7lb/tools/procfs"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[httpbench] "+format+"\n", args...)
}

// options are the command's flags.
type options struct {
	l7lbs        l7lbFlags
	peers        []string // "haproxy", "nginx"
	cases        []benchCase
	duration     time.Duration
	warmup       time.Duration
	conns        int
	streams      int
	h2rps        int     // h2load --rps: each connection's requests per second in the h2 case; 0 for a closed loop
	rate         float64 // the h2rate case's requests per second
	runs         int
	quietWait    time.Duration
	noisyPct     float64
	retries      int
	budget       time.Duration
	nice         int
	proxyCore    int
	loadCore     int
	markdown     string
	note         string
	syscalls     bool
	l7lbFromTree bool
}

// l7lbSpec is one l7lb binary to measure: its name in the tables, its
// path and the cases it runs (nil: all).
type l7lbSpec struct {
	name  string
	bin   string
	cases map[string]bool
}

type l7lbFlags []l7lbSpec

func (f *l7lbFlags) String() string { return "" }

// Set parses NAME=BINARY or NAME=BINARY@CASE,CASE.
func (f *l7lbFlags) Set(v string) error {
	s, err := parseL7lbSpec(v)
	if err != nil {
		return err
	}
	for _, o := range *f {
		if o.name == s.name {
			return fmt.Errorf("-l7lb %s given twice", s.name)
		}
	}
	*f = append(*f, s)
	return nil
}

func parseL7lbSpec(v string) (l7lbSpec, error) {
	name, bin, ok := strings.Cut(v, "=")
	if !ok || name == "" || bin == "" {
		return l7lbSpec{}, fmt.Errorf("-l7lb %q: want NAME=BINARY or NAME=BINARY@CASES", v)
	}
	if name == "haproxy" || name == "nginx" || strings.ContainsAny(name, " |") {
		return l7lbSpec{}, fmt.Errorf("-l7lb %q: name %q is taken or holds a space or |", v, name)
	}
	s := l7lbSpec{name: name, bin: bin}
	if path, list, ok := strings.Cut(bin, "@"); ok {
		s.bin = path
		cs, err := parseCases(list)
		if err != nil {
			return s, fmt.Errorf("-l7lb %q: %v", v, err)
		}
		s.cases = map[string]bool{}
		for _, c := range cs {
			s.cases[c.id] = true
		}
	}
	return s, nil
}

func parseCases(list string) ([]benchCase, error) {
	var out []benchCase
	for _, id := range strings.Split(list, ",") {
		found := false
		for _, c := range allCases {
			if c.id == id {
				out = append(out, c)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("case %q: want plain, https, handshake, h2 or h2rate", id)
		}
	}
	return out, nil
}

// parsePeers parses -peers: a comma-separated subset of haproxy and nginx.
func parsePeers(list string) ([]string, error) {
	var out []string
	if list == "" {
		return out, nil
	}
	for _, name := range strings.Split(list, ",") {
		if name != "haproxy" && name != "nginx" {
			return nil, fmt.Errorf("peer %q: want haproxy or nginx", name)
		}
		if slices.Contains(out, name) {
			return nil, fmt.Errorf("peer %q given twice", name)
		}
		out = append(out, name)
	}
	return out, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "h2rate-client" {
		if err := runH2rateClient(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "httpbench h2rate-client:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "handshake-client" {
		if err := runHandshakeClient(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "httpbench handshake-client:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var cases, peers string
	flag.Var(&o.l7lbs, "l7lb", "`NAME=BINARY[@CASES]`: measure this l7lb binary under NAME (repeatable; CASES a comma-separated subset); default: build the working tree as \"l7lb\"")
	flag.StringVar(&cases, "cases", "plain,https,handshake,h2,h2rate", "cases to run: plain (HTTP/1.1), https (TLS keep-alive), handshake (a full TLS handshake per request), h2 (HTTP/2 over TLS, h2load), h2rate (HTTP/2 over TLS at -rate, open loop)")
	flag.StringVar(&peers, "peers", "haproxy,nginx", "the peers measured beside l7lb: haproxy, nginx, both or none (\"\"); fewer make a shorter run, when only l7lb binaries are compared")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each measured run")
	flag.IntVar(&o.conns, "conns", 50, "client connections")
	flag.IntVar(&o.streams, "streams", 10, "concurrent streams per connection in the h2 case (h2load -m)")
	flag.IntVar(&o.h2rps, "h2-rps", 0, "requests per second of each connection in the h2 case (h2load --rps), to measure below saturation; 0: closed loop, the next request as soon as a stream ends")
	flag.Float64Var(&o.rate, "rate", 10000, "requests per second of the h2rate case, over -conns connections (each request on its own: a proxy reads and writes one at a time, at 2–3× its CPU per request under h2load, so that 20,000 keep every proxy here 60–85% busy)")
	flag.IntVar(&o.runs, "runs", 2, "runs of each case, in alternating proxy order")
	flag.DurationVar(&o.quietWait, "quiet-wait", 30*time.Second, "wait at most this for a quiet second before each measured run (0: do not wait)")
	flag.Float64Var(&o.noisyPct, "noisy", 25, "a run during which other processes took more than this % of a core is noisy")
	flag.IntVar(&o.retries, "retries", 2, "noisy runs are measured again up to this many times, keeping the quietest")
	flag.DurationVar(&o.budget, "budget", 20*time.Minute, "after this much measuring, no more waiting or retrying")
	flag.IntVar(&o.nice, "nice", 0, "nice value of the benchmark's processes (negative: priority over the rest of a shared machine)")
	flag.IntVar(&o.proxyCore, "proxy-core", 0, "core of the proxy under test")
	flag.IntVar(&o.loadCore, "load-core", 1, "core of the load generator and the backend")
	flag.StringVar(&o.markdown, "md", "BENCHMARKS.md", "file whose \"## HTTP proxy\" section is rewritten (empty: none)")
	flag.BoolVar(&o.syscalls, "syscalls", false, "count the proxy's system calls per request with perf stat (adds a little cost to every system call, so best a run of its own)")
	flag.StringVar(&o.note, "note", "", "a sentence added to the section (e.g. how busy the machine was)")
	flag.Parse()
	if flag.NArg() > 0 {
		logf("unexpected arguments: %v", flag.Args())
		os.Exit(2)
	}
	var err error
	if o.cases, err = parseCases(cases); err != nil {
		logf("-cases: %v", err)
		os.Exit(2)
	}
	if o.peers, err = parsePeers(peers); err != nil {
		logf("-peers: %v", err)
		os.Exit(2)
	}
	if err := run(&o); err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
}

// bench is one invocation's state.
type bench struct {
	o       *options
	tmp     string
	cert    certFiles
	self    string // this executable, for the handshake client
	backend *process
	b1, b2  int
	end     time.Time // of the budget
	results *results
	ctx     context.Context
}

func run(o *options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if runtime.NumCPU() < 2 {
		logf("warning: fewer than 2 cores; proxy and load share a core")
	}
	if err := installTools(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "l7lb-httpbench.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bench{o: o, tmp: tmp, ctx: ctx}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if len(o.l7lbs) == 0 {
		o.l7lbFromTree = true
		s := l7lbSpec{name: "l7lb", bin: filepath.Join(tmp, "l7lb")}
		logf("building l7lb from the working tree")
		// -buildvcs=auto: stamped with the revision even where GOFLAGS
		// says -buildvcs=false (the Makefile's build does the same).
		cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=auto", "-o", s.bin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
		o.l7lbs = append(o.l7lbs, s)
	}
	for _, s := range o.l7lbs {
		if _, err := os.Stat(s.bin); err != nil {
			return fmt.Errorf("-l7lb %s: %v", s.name, err)
		}
	}
	if b.cert, err = writeCert(tmp); err != nil {
		return fmt.Errorf("certificate: %v", err)
	}
	if err := b.startBackend(); err != nil {
		return err
	}
	defer b.backend.stop()
	b.results = newResults(o)
	b.end = time.Now().Add(o.budget)
	for _, c := range o.cases {
		for r := 1; r <= o.runs; r++ {
			for _, p := range b.results.order(r) {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := b.benchOne(c, p, r); err != nil {
					return err
				}
			}
		}
	}
	rep := b.results.report()
	fmt.Print(rep.text())
	if o.markdown != "" {
		sect := rep.markdown(b.facts())
		if err := writeSection(o.markdown, sect); err != nil {
			return err
		}
		logf("wrote the HTTP proxy section of %s", o.markdown)
	}
	return nil
}

// installTools installs what is missing of wrk, h2load, haproxy, nginx,
// taskset and openssl from Debian. Whether or not the packages start their
// system service, it is never used: every instance here has its own config
// and ports.
func installTools() error {
	var missing []string
	for _, t := range []struct{ cmd, pkg string }{
		{"wrk", "wrk"}, {"h2load", "nghttp2-client"}, {"haproxy", "haproxy"},
		{"nginx", "nginx"}, {"taskset", "util-linux"}, {"openssl", "openssl"},
	} {
		if _, err := exec.LookPath(t.cmd); err != nil {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	logf("installing %s with apt-get", strings.Join(missing, " "))
	if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %v\n%s", err, out)
	}
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-qq"}, missing...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %s: %v\n%s", strings.Join(missing, " "), err, out)
	}
	return nil
}

// process is a long-lived child: a proxy or the backend.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// pinned returns a command running argv on core, with the -nice value
// (nice and taskset exec, so the process keeps the command's pid).
func (b *bench) pinned(ctx context.Context, core int, argv ...string) *exec.Cmd {
	args := []string{"-c", strconv.Itoa(core)}
	name := "taskset"
	if b.o.nice != 0 {
		name = "nice"
		args = append([]string{"-n", strconv.Itoa(b.o.nice), "taskset"}, args...)
	}
	if ctx == nil {
		return exec.Command(name, append(args, argv...)...)
	}
	return exec.CommandContext(ctx, name, append(args, argv...)...)
}

// start starts a long-lived process in its own process group, its output
// into logPath.
func (b *bench) start(name string, core int, logPath string, env []string, argv ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := b.pinned(nil, core, argv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process's group (nginx's worker too), and
// SIGKILL after 5 seconds.
func (p *process) stop() {
	if p == nil || p.exited() {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-3):], " | ")
}

// freePort returns a loopback port nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitPort waits until port accepts connections, failing early when p exits.
func waitPort(p *process, port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited (%s): %s", p.cmd.ProcessState, p.tail())
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("did not listen on 127.0.0.1:%d within %v: %s", port, within, p.tail())
}

// httpCheck makes one GET and wants "200" with the body "ok\n": a proxy
// that listens but routes nowhere is caught before a measured run only
// counts errors. On TLS it offers alpn and returns the negotiated protocol.
func httpCheck(port int, tlsOn bool, alpn string) (string, error) {
	raw, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	var c net.Conn = raw
	proto := ""
	if tlsOn {
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "bench", NextProtos: []string{alpn}})
		if err := tc.Handshake(); err != nil {
			return "", fmt.Errorf("TLS handshake: %v", err)
		}
		proto = tc.ConnectionState().NegotiatedProtocol
		if alpn == "h2" {
			// The h2 check stops at ALPN: h2load's own errors tell the rest.
			return proto, nil
		}
		c = tc
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"); err != nil {
		return proto, err
	}
	resp, err := io.ReadAll(c)
	if err != nil && len(resp) == 0 {
		return proto, err
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) && !bytes.HasPrefix(resp, []byte("HTTP/1.0 200 ")) ||
		!bytes.HasSuffix(resp, []byte("\r\n\r\nok\n")) {
		return proto, fmt.Errorf("GET / answered %.60q, want 200 ok", resp)
	}
	return proto, nil
}

// tlsFacts asks openssl s_client (the OpenSSL that wrk and h2load use) for
// the protocol, cipher suite and key-exchange group a proxy negotiates
// with an OpenSSL client that offers its default groups.
func tlsFacts(port int) string {
	cmd := exec.Command("openssl", "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", port), "-servername", "bench", "-brief")
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput()
	return parseSClient(string(out))
}

// parseSClient condenses `openssl s_client -brief` output to "TLSv1.3
// TLS_AES_256_GCM_SHA384 X25519"; "?" for what it does not say.
func parseSClient(out string) string {
	var proto, suite, group = "?", "?", "?"
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		switch k {
		case "Protocol version":
			proto = v
		case "Ciphersuite":
			suite = v
		case "Server Temp Key":
			group, _, _ = strings.Cut(v, ",")
		}
	}
	return proto + " " + suite + " " + group
}

func (b *bench) startBackend() error {
	var err error
	if b.b1, err = freePort(); err != nil {
		return err
	}
	if b.b2, err = freePort(); err != nil {
		return err
	}
	d := filepath.Join(b.tmp, "backend")
	if err := os.MkdirAll(filepath.Join(d, "logs"), 0o755); err != nil {
		return err
	}
	conf := filepath.Join(d, "nginx.conf")
	if err := os.WriteFile(conf, []byte(backendConfig(d, b.b1, b.b2)), 0o644); err != nil {
		return err
	}
	b.backend, err = b.start("backend", b.o.loadCore, filepath.Join(d, "stderr.log"), nil, "nginx", "-p", d, "-c", conf)
	if err != nil {
		return err
	}
	for _, port := range []int{b.b1, b.b2} {
		if err := waitPort(b.backend, port, 10*time.Second); err != nil {
			b.backend.stop()
			return fmt.Errorf("backend nginx: %v", err)
		}
		if _, err := httpCheck(port, false, ""); err != nil {
			b.backend.stop()
			return fmt.Errorf("backend nginx: %v", err)
		}
	}
	logf("backend: nginx on 127.0.0.1:%d and :%d (core %d)", b.b1, b.b2, b.o.loadCore)
	return nil
}

// proxyEntry is one proxy of the tables: an l7lb binary, haproxy or nginx.
type proxyEntry struct {
	name string
	l7lb *l7lbSpec // nil for the peers
}

func (p proxyEntry) runs(c benchCase) bool {
	return p.l7lb == nil || p.l7lb.cases == nil || p.l7lb.cases[c.id]
}

// startProxy writes the proxy's config for case c and starts it on the
// proxy core. unsupported is set (and err nil) when an l7lb binary cannot
// serve the case: it does not start with the case's config or does not
// negotiate h2.
func (b *bench) startProxy(c benchCase, p proxyEntry) (proc *process, port int, facts, unsupported string, err error) {
	if port, err = freePort(); err != nil {
		return
	}
	d := filepath.Join(b.tmp, c.id+"-"+p.name)
	if err = os.MkdirAll(filepath.Join(d, "logs"), 0o755); err != nil {
		return
	}
	var argv, env []string
	var conf string
	switch {
	case p.l7lb != nil:
		conf = filepath.Join(d, "l7lb.yaml")
		if err = os.WriteFile(conf, []byte(l7lbConfig(c, port, b.b1, b.b2, b.cert, true)), 0o644); err != nil {
			return
		}
		if c.tls {
			// A binary from before tls.curves rejects the key: it is
			// measured with Go's default groups (the facts under the
			// table say what OpenSSL's clients negotiated with it).
			out, _ := exec.Command(p.l7lb.bin, "check", "--config", conf).CombinedOutput()
			if bytes.Contains(out, []byte("tls.curves: unknown field")) {
				logf("%s: no tls.curves in this binary; X25519 not pinned", p.name)
				err = os.WriteFile(conf, []byte(l7lbConfig(c, port, b.b1, b.b2, b.cert, false)), 0o644)
			}
		}
		argv = []string{p.l7lb.bin, "serve", "--config", conf}
		// The access log is on by default (a line per request); the
		// peers run without one.
		help, _ := exec.Command(p.l7lb.bin, "serve", "--help").CombinedOutput()
		if bytes.Contains(help, []byte("-access-log")) {
			argv = append(argv, "--access-log=false")
		}
		env = []string{"GOMAXPROCS=1"}
	case p.name == "haproxy":
		conf = filepath.Join(d, "haproxy.cfg")
		err = os.WriteFile(conf, []byte(haproxyConfig(c, port, b.b1, b.b2, b.cert)), 0o644)
		// -db: foreground, one process, no master.
		argv = []string{"haproxy", "-db", "-f", conf}
	default:
		conf = filepath.Join(d, "nginx.conf")
		err = os.WriteFile(conf, []byte(nginxConfig(c, d, port, b.b1, b.b2, b.cert)), 0o644)
		argv = []string{"nginx", "-p", d, "-c", conf}
	}
	if err != nil {
		return
	}
	if proc, err = b.start(p.name, b.o.proxyCore, filepath.Join(d, "stderr.log"), env, argv...); err != nil {
		return
	}
	fail := func(e error) {
		proc.stop()
		proc = nil
		if p.l7lb != nil {
			unsupported, err = e.Error(), nil
		} else {
			err = fmt.Errorf("%s (%s): %v", p.name, c.id, e)
		}
	}
	if e := waitPort(proc, port, 15*time.Second); e != nil {
		fail(e)
		return
	}
	alpn := "http/1.1"
	if c.h2 {
		alpn = "h2"
	}
	proto, e := httpCheck(port, c.tls, alpn)
	if e != nil {
		fail(e)
		return
	}
	if c.h2 && proto != "h2" {
		fail(fmt.Errorf("ALPN h2 not negotiated (got %q)", proto))
		return
	}
	if c.tls {
		facts = tlsFacts(port)
	}
	return
}

func (b *bench) benchOne(c benchCase, p proxyEntry, run int) error {
	if !p.runs(c) {
		return nil
	}
	if why := b.results.unsupported(c, p.name); why != "" {
		return nil
	}
	proc, port, facts, unsupported, err := b.startProxy(c, p)
	if err != nil {
		return err
	}
	if unsupported != "" {
		logf("%s: %s not supported by this binary: %s", c.id, p.name, unsupported)
		b.results.setUnsupported(c, p.name, unsupported)
		return nil
	}
	defer proc.stop()
	if facts != "" {
		b.results.setTLS(c, p.name, facts)
	}
	best := -1
	var tries []measurement
	for try := 0; try <= b.o.retries; try++ {
		m, err := b.measure(c, p.name, proc, port)
		if err != nil {
			return err
		}
		logf("%-9s %-8s run %d: %s", c.id, p.name, run, m)
		tries = append(tries, m)
		if best < 0 || m.other < tries[best].other {
			best = try
		}
		if tries[best].other <= b.o.noisyPct {
			break
		}
		if time.Now().After(b.end) {
			logf("time budget spent; not measuring %s again", p.name)
			break
		}
		if try < b.o.retries {
			logf("noisy (other load %.0f%%), measuring %s again", m.other, p.name)
		}
	}
	b.results.set(c, p.name, run, tries[best])
	return nil
}

// waitQuiet waits (at most -quiet-wait, and not past the budget) for a
// second in which the machine is nearly idle, so that a burst of someone
// else's work does not land on one proxy's run only.
func (b *bench) waitQuiet() {
	if b.o.quietWait <= 0 {
		return
	}
	start := time.Now()
	for {
		b0, err := readBusyTicks()
		time.Sleep(time.Second)
		b1, err2 := readBusyTicks()
		if err != nil || err2 != nil || b1-b0 < procfs.ClockTicks/5 || time.Now().After(b.end) {
			return
		}
		if time.Since(start) >= b.o.quietWait {
			logf("machine still busy (%d%% of a core) after %v; measuring anyway", (b1-b0)*100/procfs.ClockTicks, b.o.quietWait)
			return
		}
	}
}

// load runs the case's load generator on the load core for d against port.
func (b *bench) load(c benchCase, port int, d time.Duration) (loadResult, error) {
	ctx, cancel := context.WithTimeout(b.ctx, d+2*time.Minute)
	defer cancel()
	scheme := "http"
	if c.tls {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://127.0.0.1:%d/", scheme, port)
	var cmd *exec.Cmd
	switch {
	case c.closeEach:
		cmd = b.pinned(ctx, b.o.loadCore, b.self, "handshake-client", fmt.Sprintf("127.0.0.1:%d", port), strconv.Itoa(b.o.conns), d.String())
	case c.rate:
		cmd = b.pinned(ctx, b.o.loadCore, b.self, "h2rate-client", fmt.Sprintf("127.0.0.1:%d", port), strconv.Itoa(b.o.conns),
			strconv.FormatFloat(b.o.rate, 'f', -1, 64), d.String())
	case c.h2:
		pinned := func(name string, args ...string) *exec.Cmd {
			return b.pinned(ctx, b.o.loadCore, append([]string{name}, args...)...)
		}
		return h2loadRun(pinned, b.tmp, url, b.o.conns, b.o.streams, b.o.h2rps, d)
	default:
		cmd = b.pinned(ctx, b.o.loadCore, "wrk", "-t1", "-c"+strconv.Itoa(b.o.conns), "-d"+d.String(), "--latency", url)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("%s: %v\n%s", cmd.Args[len(cmd.Args)-1], err, out)
	}
	switch {
	case c.closeEach:
		return parseHandshakeSummary(out)
	case c.rate:
		s, err := parseH2rateSummary(out)
		if s.Behind > 0.01 {
			logf("h2rate: the client sent %.1f%% of its requests 2 ms or more late: it did not keep -rate %.0f", 100*s.Behind, b.o.rate)
		}
		if s.Errors > 0 && s.FirstErr != "" {
			logf("h2rate: %d errors, the first: %s", s.Errors, s.FirstErr)
		}
		return s.result(), err
	default:
		r, err := parseWrk(string(out))
		if err != nil {
			return r, fmt.Errorf("%v\n%s", err, out)
		}
		return r, nil
	}
}

// snapshot is the CPU counters around a measured run, in clock ticks.
type snapshot struct {
	at                       time.Time
	proxy, proxyUser         int64
	backend, self, elsewhere int64
}

func (b *bench) snapshot(proxyPID int) (snapshot, error) {
	table, err := processTable()
	if err != nil {
		return snapshot{}, err
	}
	s := snapshot{at: time.Now()}
	s.proxy, s.proxyUser = treeTicks(table, proxyPID)
	s.backend, _ = treeTicks(table, b.backend.cmd.Process.Pid)
	// The harness with its reaped children: the load generator once it
	// has exited.
	s.self = ownTicks(table[os.Getpid()])
	s.elsewhere = allTicks(table) - s.proxy - s.backend - s.self
	return s, nil
}

// measurement is one measured run of one proxy.
type measurement struct {
	loadResult
	cpu, user   float64 // proxy CPU µs per request; NaN without requests
	busy, other float64 // % of one core: the proxy's, and processes' outside the benchmark
	loadCPU     float64 // load generator and backend, µs per request (log only)
	syscalls    float64 // the proxy's system calls per request (-syscalls), else NaN
}

func (m measurement) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %.3f ms, p99 %.3f ms, %d errors, %.2f CPU us/req (user %.2f), proxy core %.0f%%, other load %.0f%%, load+backend %.1f us/req, %.2f syscalls/req",
		m.rps, m.p50, m.p99, m.errors, m.cpu, m.user, m.busy, m.other, m.loadCPU, m.syscalls)
}

// measure makes a warm-up and a measured run against the running proxy.
func (b *bench) measure(c benchCase, name string, proc *process, port int) (measurement, error) {
	b.waitQuiet()
	if _, err := b.load(c, port, b.o.warmup); err != nil {
		logf("warning: warm-up of %s: %v", name, err)
	}
	var counter *syscallCounter
	var err error
	if b.o.syscalls {
		if counter, err = b.countSyscalls(proc.cmd.Process.Pid); err != nil {
			return measurement{}, err
		}
	}
	s0, err := b.snapshot(proc.cmd.Process.Pid)
	if err != nil {
		return measurement{}, err
	}
	r, err := b.load(c, port, b.o.duration)
	if err != nil {
		counter.stop()
		return measurement{}, fmt.Errorf("%s against %s: %v", c.id, name, err)
	}
	s1, err := b.snapshot(proc.cmd.Process.Pid)
	if err != nil {
		return measurement{}, err
	}
	calls := counter.stop()
	if proc.exited() {
		logf("warning: %s exited during the run: %s", name, proc.tail())
	}
	if r.requests == 0 {
		// Nothing completed (a starved machine, or a proxy that hangs):
		// keep the row, without latency or CPU, every connection failed.
		logf("warning: no request completed through %s (%s)", name, c.id)
		r.errors = max(r.errors, int64(b.o.conns))
	}
	m := cpuFigures(r, s0, s1)
	m.syscalls = math.NaN()
	if calls >= 0 && r.requests > 0 {
		m.syscalls = float64(calls) / float64(r.requests)
	}
	return m, nil
}

// cpuFigures turns two snapshots around a run into per-request figures.
func cpuFigures(r loadResult, s0, s1 snapshot) measurement {
	m := measurement{loadResult: r, syscalls: math.NaN()}
	wall := s1.at.Sub(s0.at).Seconds()
	ticks := func(d int64) float64 { return float64(d) / procfs.ClockTicks } // seconds
	perReq := func(d int64) float64 {
		if r.requests == 0 {
			return math.NaN()
		}
		return ticks(d) * 1e6 / float64(r.requests)
	}
	m.cpu = perReq(s1.proxy - s0.proxy)
	m.user = perReq(s1.proxyUser - s0.proxyUser)
	m.loadCPU = perReq(s1.backend - s0.backend + s1.self - s0.self)
	if wall > 0 {
		m.busy = ticks(s1.proxy-s0.proxy) * 100 / wall
		m.other = max(0, ticks(s1.elsewhere-s0.elsewhere)*100/wall)
	}
	return m
}
