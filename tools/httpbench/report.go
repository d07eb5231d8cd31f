package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// results holds every measurement of an invocation.
type results struct {
	o       *options
	proxies []proxyEntry
	byKey   map[string]measurement // case|proxy|run
	skip    map[string]string      // case|proxy → why the binary cannot serve it
	tls     map[string]string      // case|proxy → negotiated parameters
}

func newResults(o *options) *results {
	r := &results{o: o, byKey: map[string]measurement{}, skip: map[string]string{}, tls: map[string]string{}}
	for i := range o.l7lbs {
		r.proxies = append(r.proxies, proxyEntry{name: o.l7lbs[i].name, l7lb: &o.l7lbs[i]})
	}
	for _, name := range o.peers {
		r.proxies = append(r.proxies, proxyEntry{name: name})
	}
	return r
}

// order is the proxies in the order of run r: as listed in odd runs,
// reversed in even ones.
func (r *results) order(run int) []proxyEntry {
	out := append([]proxyEntry(nil), r.proxies...)
	if run%2 == 0 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

func key(c benchCase, proxy string) string { return c.id + "|" + proxy }

func (r *results) set(c benchCase, proxy string, run int, m measurement) {
	r.byKey[fmt.Sprintf("%s|%d", key(c, proxy), run)] = m
}

func (r *results) get(c benchCase, proxy string, run int) (measurement, bool) {
	m, ok := r.byKey[fmt.Sprintf("%s|%d", key(c, proxy), run)]
	return m, ok
}

func (r *results) setUnsupported(c benchCase, proxy, why string) { r.skip[key(c, proxy)] = why }
func (r *results) unsupported(c benchCase, proxy string) string  { return r.skip[key(c, proxy)] }
func (r *results) setTLS(c benchCase, proxy, facts string)       { r.tls[key(c, proxy)] = facts }

// row is one line of a case's table: a run or the average of the runs.
type row struct {
	proxy, run string
	m          measurement
}

// caseReport is one case's table and ratios.
type caseReport struct {
	c      benchCase
	rows   []row
	ratios []ratioRow
	tls    []string // proxy: parameters
	skips  []string // proxy: why not measured
}

type ratioRow struct {
	label                 string
	cpu, user, p99, rps   float64
	target, targetVerdict string
}

type report struct {
	o     *options
	cases []caseReport
}

// mean averages the runs that have a figure; errors and requests are
// totals, so that one error in one run is never rounded away.
func mean(ms []measurement) measurement {
	var out measurement
	avg := func(get func(measurement) float64) float64 {
		s, n := 0.0, 0
		for _, m := range ms {
			if v := get(m); !math.IsNaN(v) {
				s += v
				n++
			}
		}
		if n == 0 {
			return math.NaN()
		}
		return s / float64(n)
	}
	out.rps = avg(func(m measurement) float64 { return m.rps })
	out.p50 = avg(func(m measurement) float64 { return m.p50 })
	out.p99 = avg(func(m measurement) float64 { return m.p99 })
	out.cpu = avg(func(m measurement) float64 { return m.cpu })
	out.user = avg(func(m measurement) float64 { return m.user })
	out.busy = avg(func(m measurement) float64 { return m.busy })
	out.other = avg(func(m measurement) float64 { return m.other })
	out.syscalls = avg(func(m measurement) float64 { return m.syscalls })
	for _, m := range ms {
		out.errors += m.errors
		out.requests += m.requests
	}
	return out
}

// ratio is a/b, NaN when either is missing or b is 0.
func ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// targets are issue 8's: CPU per request and p99 at most HAProxy's on the
// keep-alive cases, CPU per handshake at most 1.3 times HAProxy's.
func target(c benchCase) (cpuMax, p99Max float64) {
	if c.closeEach {
		return 1.3, math.Inf(1)
	}
	return 1.0, 1.0
}

func (r *results) report() report {
	rep := report{o: r.o}
	for _, c := range r.o.cases {
		cr := caseReport{c: c}
		avgs := map[string]measurement{}
		for run := 1; run <= r.o.runs; run++ {
			for _, p := range r.order(run) {
				if !p.runs(c) {
					continue
				}
				if why := r.unsupported(c, p.name); why != "" {
					continue
				}
				if m, ok := r.get(c, p.name, run); ok {
					cr.rows = append(cr.rows, row{proxy: p.name, run: fmt.Sprint(run), m: m})
				}
			}
		}
		for _, p := range r.proxies {
			if !p.runs(c) {
				continue
			}
			if why := r.unsupported(c, p.name); why != "" {
				cr.skips = append(cr.skips, fmt.Sprintf("%s: not supported by this binary (%s)", p.name, why))
				continue
			}
			var ms []measurement
			for run := 1; run <= r.o.runs; run++ {
				if m, ok := r.get(c, p.name, run); ok {
					ms = append(ms, m)
				}
			}
			if len(ms) == 0 {
				continue
			}
			avgs[p.name] = mean(ms)
			cr.rows = append(cr.rows, row{proxy: p.name, run: "avg", m: avgs[p.name]})
			if t := r.tls[key(c, p.name)]; t != "" {
				cr.tls = append(cr.tls, p.name+": "+t)
			}
		}
		var first string
		for _, p := range r.proxies {
			a, ok := avgs[p.name]
			if p.l7lb == nil || !ok {
				continue
			}
			refs := []string{"haproxy", "nginx"}
			if first != "" {
				refs = append(refs, first)
			} else {
				first = p.name
			}
			for _, ref := range refs {
				b, ok := avgs[ref]
				if !ok {
					continue
				}
				rr := ratioRow{
					label: p.name + " / " + ref,
					cpu:   ratio(a.cpu, b.cpu), user: ratio(a.user, b.user),
					p99: ratio(a.p99, b.p99), rps: ratio(a.rps, b.rps),
				}
				if ref == "haproxy" {
					rr.target, rr.targetVerdict = verdict(c, rr, a.errors)
				}
				cr.ratios = append(cr.ratios, rr)
			}
		}
		rep.cases = append(rep.cases, cr)
	}
	return rep
}

// verdict checks issue 8's target for the case against HAProxy's averages.
func verdict(c benchCase, rr ratioRow, errs int64) (string, string) {
	cpuMax, p99Max := target(c)
	t := fmt.Sprintf("CPU/req ≤ %.1f×", cpuMax)
	if !math.IsInf(p99Max, 1) {
		t += fmt.Sprintf(", p99 ≤ %.1f×", p99Max)
	}
	t += ", no errors"
	ok := rr.cpu <= cpuMax && (math.IsInf(p99Max, 1) || rr.p99 <= p99Max) && errs == 0
	if ok {
		return t, "met"
	}
	return t, "not met"
}

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func (rw row) cells(syscalls bool) []string {
	m := rw.m
	c := []string{rw.proxy, rw.run, num(m.rps, 0), num(m.p50, 3), num(m.p99, 3), fmt.Sprint(m.errors),
		num(m.cpu, 2), num(m.user, 2), num(m.busy, 0) + "%", num(m.other, 0) + "%"}
	if syscalls {
		c = append(c, num(m.syscalls, 2))
	}
	return c
}

func tableHead(syscalls bool) []string {
	h := []string{"proxy", "run", "req/s", "p50 ms", "p99 ms", "errors", "CPU µs/req", "of which user", "proxy core", "other load"}
	if syscalls {
		h = append(h, "syscalls/req")
	}
	return h
}

func (rep report) text() string {
	var b strings.Builder
	for _, cr := range rep.cases {
		fmt.Fprintf(&b, "\n== %s\n", cr.c.title)
		format := "%-10s %-4s %8s %8s %8s %7s %11s %13s %11s %11s"
		if rep.o.syscalls {
			format += " %13s"
		}
		fmt.Fprintf(&b, format+"\n", anys(tableHead(rep.o.syscalls))...)
		for _, rw := range cr.rows {
			fmt.Fprintf(&b, format+"\n", anys(rw.cells(rep.o.syscalls))...)
		}
		for _, rr := range cr.ratios {
			fmt.Fprintf(&b, "%-22s CPU/req %s  user %s  p99 %s  req/s %s", rr.label, num(rr.cpu, 2), num(rr.user, 2), num(rr.p99, 2), num(rr.rps, 2))
			if rr.target != "" {
				fmt.Fprintf(&b, "  (target %s: %s)", rr.target, rr.targetVerdict)
			}
			b.WriteString("\n")
		}
		for _, s := range append(cr.tls, cr.skips...) {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	return b.String()
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// facts describes the machine, the tools and the binaries, for the section.
func (b *bench) facts() []string {
	first := func(name string, args ...string) string {
		out, _ := exec.Command(name, args...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	cpu := "?"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(info)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	osName := "?"
	if rel, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.Lines(string(rel)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	facts := []string{
		fmt.Sprintf("Machine: %d cores (%s), Linux %s, %s", runtime.NumCPU(), cpu, strings.TrimSpace(first("uname", "-r")), osName),
		strings.Join([]string{
			"Go " + word(first("go", "version"), 2),
			"HAProxy " + word(first("haproxy", "-v"), 2),
			strings.TrimPrefix(first("nginx", "-v"), "nginx version: "),
			"wrk " + word(first("wrk", "-v"), 1),
			"h2load " + word(first("h2load", "--version"), 1),
			"OpenSSL " + word(first("openssl", "version"), 1),
		}, ", "),
	}
	for _, s := range b.o.l7lbs {
		what := "the binary " + s.bin
		if b.o.l7lbFromTree {
			what = "built from the working tree"
		}
		// The binary's own account of its build (revision, whether the
		// tree was modified, runtime patches), true of the binary measured
		// where the tree may have changed since.
		facts = append(facts, fmt.Sprintf("%s: %s, `%s`", s.name, what, first(s.bin, "version")))
	}
	return facts
}

// word returns the i-th space-separated word of s (from 0), or "?".
func word(s string, i int) string {
	if f := strings.Fields(s); i < len(f) {
		return f[i]
	}
	return "?"
}

// markdown renders the "## HTTP proxy" section.
func (rep report) markdown(facts []string) string {
	o := rep.o
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("## HTTP proxy")
	p("")
	p("Made by `make bench-http` (`go run ./tools/httpbench`) on %s.", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	if o.note != "" {
		p("")
		p("%s", o.note)
	}
	p("")
	p("Each l7lb binary (`l7lb serve`, GOMAXPROCS=1), HAProxy (nbthread 1) and nginx")
	p("(worker_processes 1) with equivalent round-robin configs over two backend ports,")
	p("keep-alive to the backends (up to %d idle connections per server: l7lb", idlePool)
	p("`limits.max_idle_per_server`, nginx `keepalive` %d for the two; HAProxy has no limit),", 2*idlePool)
	p("the same forwarding fields to the backend (l7lb's defaults: X-Forwarded-For, -Host,")
	p("-Proto, Forwarded, X-Real-IP, X-Request-Id, Via; Via on responses too),")
	p("no access log, one at a time, each pinned to core %d;", o.proxyCore)
	p("the load generator and the backend (one nginx worker returning a 3-byte body) pinned")
	p("to core %d. Every case runs %d times in alternating order, each run after a %v", o.loadCore, o.runs, o.warmup)
	p("warm-up, measured over %v with %d client connections. CPU µs/req is the proxy's", o.duration, o.conns)
	p("utime+stime over the measured run (all threads and worker processes) divided by the")
	p("requests completed; \"of which user\" is its user-space part (the rest is kernel time,")
	p("mostly TCP on loopback). \"proxy core\" is the proxy's CPU time over wall time (near")
	p("100%%: the proxy was the bottleneck); \"other load\" is CPU time taken during the run by")
	p("processes outside the benchmark (100%% = one core). A run with other load above %.0f%% is", o.noisyPct)
	p("measured again (up to %d times), keeping the quietest. Errors are non-2xx/3xx answers,", o.retries)
	p("socket errors and failed streams (avg rows: the total).")
	if o.syscalls {
		p("syscalls/req: the proxy's system calls (every process and thread) over the measured")
		p("run, counted by `perf stat -e raw_syscalls:sys_enter`, divided by the requests.")
	}
	p("")
	p("TLS: a self-signed ECDSA P-256 certificate generated at start, TLS 1.3 only, h2 and")
	p("http/1.1 by ALPN, TLS_AES_128_GCM_SHA256 on all three (the suite Go's server chooses;")
	p("the peers are set to it, since OpenSSL's order would give them the costlier AES-256).")
	p("X25519 is pinned on all three: l7lb `tls.curves: [x25519]`, HAProxy `curves X25519`,")
	p("nginx `ssl_ecdh_curve X25519` (an l7lb binary from before `tls.curves` offers Go's")
	p("defaults; wrk and h2load, OpenSSL 3.0, offer no hybrid group, so they negotiate X25519")
	p("with it too). Go's defaults put the hybrid post-quantum X25519MLKEM768 first, which a")
	p("client offering it (current browsers, Go) gets; it costs more per handshake than")
	p("X25519 (a 1,184-byte ML-KEM-768 key share to encapsulate, a larger ServerHello).")
	p("The group negotiated with OpenSSL's client is listed under each table.")
	p("")
	p("Load generators: plain and https `wrk -t1 -c%d --latency`; handshake: the harness's", o.conns)
	p("own client (`httpbench handshake-client`, pinned to core %d): every request on a new", o.loadCore)
	p("connection with a full TLS 1.3 handshake (no session cache, X25519 its only key share),")
	p("`Connection: close`, latency from connect to the end of the response. wrk cannot")
	p("measure full handshakes: it keeps a connection's TLS session across reconnections,")
	p("so with `Connection: close` nearly every handshake is resumed (948 of 949 against")
	rps := ""
	if o.h2rps > 0 {
		rps = fmt.Sprintf(" --rps=%d", o.h2rps)
	}
	p("nginx), skipping the certificate signature. h2: `h2load -t1 -c%d -m%d%s`, p50 and p99", o.conns, o.streams, rps)
	p("from its per-request `--log-file`. h2rate: the harness's own client (`httpbench")
	p("h2rate-client`), open loop: %d connections send %.0f requests/s between them on a", o.conns, o.rate)
	p("schedule, each request in its own frame and TLS record, whatever the answers do; a")
	p("request's latency runs from the moment the client woke to send it to the end of its")
	p("response (one that finds %d in flight on its connection waits, and the wait counts).", h2rateStreams)
	p("")
	for _, f := range facts {
		p("- %s", f)
	}
	for _, cr := range rep.cases {
		p("")
		p("### %s", cr.c.title)
		p("")
		if len(cr.rows) > 0 {
			head := tableHead(o.syscalls)
			p("| %s |", strings.Join(head, " | "))
			p("|---|---|%s", strings.Repeat("--:|", len(head)-2))
			for _, rw := range cr.rows {
				cells := rw.cells(o.syscalls)
				if rw.run == "avg" {
					cells[0], cells[1] = "**"+cells[0]+"**", "**avg**"
				}
				p("| %s |", strings.Join(cells, " | "))
			}
		}
		if len(cr.ratios) > 0 {
			p("")
			p("| ratio (averages) | CPU/req | user CPU/req | p99 | req/s | issue 8 target |")
			p("|---|--:|--:|--:|--:|---|")
			for _, rr := range cr.ratios {
				t := ""
				if rr.target != "" {
					t = rr.target + ": " + rr.targetVerdict
				}
				p("| %s | %s | %s | %s | %s | %s |", rr.label, num(rr.cpu, 2), num(rr.user, 2), num(rr.p99, 2), num(rr.rps, 2), t)
			}
		}
		if len(cr.tls) > 0 || len(cr.skips) > 0 {
			p("")
			for _, s := range cr.tls {
				p("- negotiated with OpenSSL's client, %s", s)
			}
			for _, s := range cr.skips {
				p("- %s", s)
			}
		}
	}
	p("")
	return b.String()
}

// replaceSection replaces the "## HTTP proxy" section of doc (up to the
// next "## " heading) with sect, or appends sect; the rest is kept.
func replaceSection(doc, sect string) string {
	var out strings.Builder
	skip, done := false, false
	for line := range strings.Lines(doc) {
		trimmed := strings.TrimRight(line, " \t\r\n")
		if trimmed == "## HTTP proxy" {
			out.WriteString(sect)
			skip, done = true, true
			continue
		}
		if skip && strings.HasPrefix(line, "## ") {
			skip = false
		}
		if !skip {
			out.WriteString(line)
		}
	}
	if !done {
		s := out.String()
		if s != "" && !strings.HasSuffix(s, "\n\n") {
			if !strings.HasSuffix(s, "\n") {
				out.WriteString("\n")
			}
			out.WriteString("\n")
		}
		out.WriteString(sect)
	}
	return out.String()
}

const newBenchmarksFile = `# Benchmarks

Measured figures for l7lb, each with the command that produced it. Numbers come
from a shared 2-core machine, so compare rows of one run rather than across runs.

`

func writeSection(path, sect string) error {
	doc, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		doc, err = []byte(newBenchmarksFile), nil
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(replaceSection(string(doc), sect)), 0o644)
}
