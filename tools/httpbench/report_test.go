package main

import (
	"math"
	"strings"
	"testing"
)

func TestReplaceSection(t *testing.T) {
	sect := "## HTTP proxy\n\nnew\n\n"
	tests := []struct{ name, doc, want string }{
		{
			name: "middle",
			doc:  "# Benchmarks\n\nintro\n\n## HTTP proxy\n\nold\n| a |\n\n## HTTP proxy: before and after\n\nkept\n",
			want: "# Benchmarks\n\nintro\n\n## HTTP proxy\n\nnew\n\n## HTTP proxy: before and after\n\nkept\n",
		},
		{
			name: "last",
			doc:  "# B\n\n## Node\n\nx\n\n## HTTP proxy\n\nold\n",
			want: "# B\n\n## Node\n\nx\n\n## HTTP proxy\n\nnew\n\n",
		},
		{
			name: "absent",
			doc:  "# B\n\n## Node\n\nx\n",
			want: "# B\n\n## Node\n\nx\n\n## HTTP proxy\n\nnew\n\n",
		},
		{
			name: "absent, no final newline",
			doc:  "# B\n\nx",
			want: "# B\n\nx\n\n## HTTP proxy\n\nnew\n\n",
		},
		{
			// "### " subsections belong to the section; a longer
			// heading starting with the same words is another section.
			name: "subsections",
			doc:  "## HTTP proxy\n\n### case 1\n\nold\n\n### case 2\n\nold\n\n## Maelstrom node\n\nkept\n",
			want: "## HTTP proxy\n\nnew\n\n## Maelstrom node\n\nkept\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replaceSection(tt.doc, sect); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestMeanAndRatio(t *testing.T) {
	nan := math.NaN()
	ms := []measurement{
		{loadResult: loadResult{requests: 100, rps: 10, p50: 1, p99: 4, errors: 1}, cpu: 20, user: 5, busy: 90, other: 2},
		{loadResult: loadResult{requests: 300, rps: 30, p50: 3, p99: 8, errors: 0}, cpu: 30, user: 7, busy: 100, other: 4},
		// A run where nothing completed has no latency or CPU figure: it
		// counts its errors but not in the means.
		{loadResult: loadResult{requests: 0, rps: 0, p50: nan, p99: nan, errors: 50}, cpu: nan, user: nan, busy: 0, other: 0},
	}
	m := mean(ms)
	if m.p99 != 6 || m.cpu != 25 || m.user != 6 || m.errors != 51 || m.requests != 400 || m.p50 != 2 {
		t.Errorf("mean = %+v", m)
	}
	if got := ratio(25, 20); got != 1.25 {
		t.Errorf("ratio = %v", got)
	}
	for _, r := range []float64{ratio(nan, 1), ratio(1, nan), ratio(1, 0)} {
		if !math.IsNaN(r) {
			t.Errorf("ratio with a missing figure = %v, want NaN", r)
		}
	}
	if !math.IsNaN(mean(nil).cpu) {
		t.Error("mean of nothing: want NaN")
	}
}

func TestVerdict(t *testing.T) {
	keepAlive, handshake := allCases[0], allCases[2]
	tests := []struct {
		c    benchCase
		rr   ratioRow
		errs int64
		want string
	}{
		{keepAlive, ratioRow{cpu: 1.0, p99: 0.9}, 0, "met"},
		{keepAlive, ratioRow{cpu: 1.01, p99: 0.9}, 0, "not met"},
		{keepAlive, ratioRow{cpu: 0.9, p99: 1.2}, 0, "not met"},
		{keepAlive, ratioRow{cpu: 0.9, p99: 0.9}, 1, "not met"},
		{keepAlive, ratioRow{cpu: math.NaN(), p99: 0.9}, 0, "not met"},
		{handshake, ratioRow{cpu: 1.3, p99: 5}, 0, "met"}, // p99 has no target there
		{handshake, ratioRow{cpu: 1.31, p99: 0.5}, 0, "not met"},
	}
	for _, tt := range tests {
		if _, got := verdict(tt.c, tt.rr, tt.errs); got != tt.want {
			t.Errorf("%s %+v errors %d: %s, want %s", tt.c.id, tt.rr, tt.errs, got, tt.want)
		}
	}
}

func TestReport(t *testing.T) {
	o := &options{cases: allCases[:2], runs: 2, peers: []string{"haproxy", "nginx"}}
	o.l7lbs = l7lbFlags{{name: "now", bin: "/x"}, {name: "before", bin: "/y", cases: map[string]bool{"plain": true}}}
	r := newResults(o)
	if got := names(r.order(1)); got != "now before haproxy nginx" {
		t.Errorf("run 1 order %q", got)
	}
	if got := names(r.order(2)); got != "nginx haproxy before now" {
		t.Errorf("run 2 order %q", got)
	}
	m := func(cpu, p99 float64) measurement {
		return measurement{loadResult: loadResult{requests: 1000, rps: 100, p50: 1, p99: p99}, cpu: cpu, user: cpu / 4}
	}
	plain, https := allCases[0], allCases[1]
	for run := 1; run <= 2; run++ {
		r.set(plain, "now", run, m(18, 1.5))
		r.set(plain, "before", run, m(20, 2))
		r.set(plain, "haproxy", run, m(20, 1))
		r.set(plain, "nginx", run, m(15, 2))
		r.set(https, "haproxy", run, m(30, 1))
		r.set(https, "nginx", run, m(30, 1))
	}
	r.setUnsupported(https, "now", "listeners[0].tls: not yet supported by serve")
	r.setTLS(https, "haproxy", "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519")
	rep := r.report()
	plainRep := rep.cases[0]
	if len(plainRep.rows) != 8+4 {
		t.Errorf("plain: %d rows, want 8 runs and 4 averages", len(plainRep.rows))
	}
	var labels []string
	for _, rr := range plainRep.ratios {
		labels = append(labels, rr.label)
	}
	if got := strings.Join(labels, ", "); got != "now / haproxy, now / nginx, before / haproxy, before / nginx, before / now" {
		t.Errorf("ratios: %s", got)
	}
	if rr := plainRep.ratios[0]; rr.cpu != 0.9 || rr.p99 != 1.5 || rr.targetVerdict != "not met" {
		t.Errorf("now / haproxy = %+v", rr)
	}
	if rr := plainRep.ratios[4]; !near(rr.cpu, 20.0/18) {
		t.Errorf("before / now = %+v", rr)
	}
	httpsRep := rep.cases[1]
	if len(httpsRep.ratios) != 0 || len(httpsRep.skips) != 1 || !strings.Contains(httpsRep.skips[0], "now: not supported by this binary") {
		t.Errorf("https: ratios %+v, skips %q", httpsRep.ratios, httpsRep.skips)
	}
	md := rep.markdown([]string{"Machine: test"})
	for _, want := range []string{
		"## HTTP proxy\n",
		"### " + plain.title,
		"| **now** | **avg** | 100 | 1.000 | 1.500 | 0 | 18.00 | 4.50 | 0% | 0% |",
		"| now / haproxy | 0.90 | 0.90 | 1.50 | 1.00 | CPU/req ≤ 1.0×, p99 ≤ 1.0×, no errors: not met |",
		"- now: not supported by this binary (listeners[0].tls: not yet supported by serve)",
		"- negotiated with OpenSSL's client, haproxy: TLSv1.3 TLS_AES_128_GCM_SHA256 X25519",
		"- Machine: test",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "before: not supported") {
		t.Error("a binary limited to other cases is reported as unsupported")
	}
}

func names(ps []proxyEntry) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.name)
	}
	return strings.Join(s, " ")
}

func TestParseL7lbSpec(t *testing.T) {
	s, err := parseL7lbSpec("before=/tmp/l7lb-before@plain,h2")
	if err != nil || s.name != "before" || s.bin != "/tmp/l7lb-before" || !s.cases["plain"] || !s.cases["h2"] || len(s.cases) != 2 {
		t.Errorf("got %+v, %v", s, err)
	}
	s, err = parseL7lbSpec("now=./l7lb")
	if err != nil || s.cases != nil || s.bin != "./l7lb" {
		t.Errorf("got %+v, %v", s, err)
	}
	for _, bad := range []string{"", "now", "=x", "now=", "haproxy=/x", "a b=/x", "now=/x@tcp"} {
		if s, err := parseL7lbSpec(bad); err == nil {
			t.Errorf("parseL7lbSpec(%q) = %+v, want an error", bad, s)
		}
	}
}
