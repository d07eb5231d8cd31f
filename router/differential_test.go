package router

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
)

// This file checks the index against refMatch, the straightforward
// matcher that tries every route, on large random tables: thousands of
// routes drawn from a small vocabulary, so that many overlap at every
// level of the index (hosts, segments, parts of segments, regexes).

// picker draws choices: from a random source, or from a fuzzer's bytes
// (0 once they run out).
type picker struct {
	rng  *rand.Rand
	data []byte
}

func (p *picker) pick(n int) int {
	if p.rng != nil {
		return p.rng.IntN(n)
	}
	if len(p.data) == 0 {
		return 0
	}
	b := int(p.data[0])
	p.data = p.data[1:]
	return b % n
}

func (p *picker) from(words []string) string { return words[p.pick(len(words))] }

var (
	// A segment spelled as a host: hosts and segments share the index's
	// table, told apart by their parents.
	diffSegs  = []string{"a", "b", "ab", "v1", "v2", "api", "x.png", "7", "A", "a.example.com"}
	diffParts = []string{"", "a", "v", "ap", "x.", "7"}
	// Hosts and suffixes longer than a slot holds inline (kidInline), and
	// some that differ from them only past it.
	diffHosts = []string{"a.example.com", "b.example.com", "*.example.com", "*.a.example.com", "x.a.example.com", "*.com", "A.Example.com.", "*.b.example.com",
		"shop.eu-west.customers.example.com", "*.eu-west.customers.example.com", "*.eu-east.customers.example.com"}
	diffReqHosts = []string{"", "a.example.com", "b.example.com", "x.a.example.com", "y.x.a.example.com", "example.com", "z.b.example.com", "other.org",
		"shop.eu-west.customers.example.com", "shop.eu-west.customers.example.org", "cart.eu-east.customers.example.com", "eu-west.customers.example.com"}
	diffRegexes   = []string{`[0-9]+`, `v[12]/.*`, `.*\.png`, `(a|b)+`, `[^/]*`, `A`}
	diffMethods   = [][]string{nil, {"GET"}, {"POST", "PUT"}}
	diffHdrConds  = [][]Header{nil, {{"X-A", "1"}}, {{"x-a", "1"}, {"X-B", "2"}}}
	diffReqHdrs   = []HeaderLookup{nil, headers{"x-a": {"1"}}, headers{"x-a": {"0", "1"}, "x-b": {"2"}}}
	diffReqMethod = []string{"GET", "POST", "DELETE"}
)

// diffPath returns a normalized path of up to four segments.
func diffPath(p *picker) string {
	var b strings.Builder
	for range 1 + p.pick(4) {
		b.WriteString("/" + p.from(diffSegs))
	}
	if p.pick(4) == 0 {
		b.WriteString("/")
	}
	return b.String()
}

// diffPattern returns a path pattern of any kind.
func diffPattern(p *picker) string {
	base := ""
	for range p.pick(4) {
		base += "/" + p.from(diffSegs)
	}
	switch p.pick(10) {
	case 0:
		return ""
	case 1, 2: // exact
		if base == "" {
			return "/" + p.from(diffSegs)
		}
		return base
	case 3: // plain prefix ending in /
		return base + "/"
	case 4, 5: // segment prefix
		return base + "/*"
	case 6: // a * within the last segment, maybe more after it
		return base + "/" + p.from(diffParts) + "*" + []string{"", "/*", "/b", ".png"}[p.pick(4)]
	case 7: // a plain prefix within a segment
		return base + "/" + p.from(diffParts) + "*"
	default: // regex, with or without a literal prefix
		pre := []string{"", "^", "(?i)"}[p.pick(3)]
		return "~" + pre + base + "/" + p.from(diffParts) + p.from(diffRegexes)
	}
}

// diffSpecs returns n random specs.
func diffSpecs(p *picker, n int) []Spec {
	specs := make([]Spec, n)
	for i := range specs {
		s := &specs[i]
		for range p.pick(3) {
			s.Hosts = append(s.Hosts, p.from(diffHosts))
		}
		s.Path = diffPattern(p)
		s.Methods = diffMethods[p.pick(len(diffMethods))]
		s.Headers = diffHdrConds[p.pick(len(diffHdrConds))]
	}
	return specs
}

func diffRequest(p *picker) Request {
	return Request{
		Host:    p.from(diffReqHosts),
		Path:    diffPath(p),
		Method:  p.from(diffReqMethod),
		Headers: diffReqHdrs[p.pick(len(diffReqHdrs))],
	}
}

// checkAgainstReference compiles specs and compares Match with refMatch
// on the requests.
func checkAgainstReference(t *testing.T, specs []Spec, reqs []Request) {
	t.Helper()
	tab, err := Compile(specs)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	for i, r := range reqs {
		// Prefetching, a few requests ahead as a frontend does, changes
		// nothing.
		if i+2 < len(reqs) {
			tab.Prefetch(reqs[i+2].Host, reqs[i+2].Path)
		}
		if got, want := tab.Match(&r), refMatch(specs, &r); got != want {
			t.Fatalf("%d specs, request %+v: got %d, want %d (spec got %+v, spec want %+v)",
				len(specs), r, got, want, specAt(specs, got), specAt(specs, want))
		}
	}
}

func specAt(specs []Spec, i int) any {
	if i < 0 {
		return nil
	}
	return specs[i]
}

// TestMatchDifferential compares Match with refMatch on random tables of
// up to 3,000 routes and random requests.
func TestMatchDifferential(t *testing.T) {
	sizes := []int{1, 10, 100, 1000, 3000}
	if testing.Short() {
		sizes = sizes[:4]
	}
	for _, n := range sizes {
		for seed := range uint64(4) {
			p := &picker{rng: rand.New(rand.NewPCG(uint64(n), seed))}
			specs := diffSpecs(p, n)
			reqs := make([]Request, 300)
			for i := range reqs {
				reqs[i] = diffRequest(p)
			}
			checkAgainstReference(t, specs, reqs)
		}
	}
}

// TestMatchDifferentialManyHosts compares Match with refMatch on issue
// 13's mix (scaleSpecs): thousands of distinct exact hosts and wildcard
// suffixes in the kidTable, with requests that reach their routes and
// requests that cross them (a host with another route's path, a host
// without its first label).
func TestMatchDifferentialManyHosts(t *testing.T) {
	specs, reqs := scaleSpecs(3000, 30)
	reqs = reqs[:1000]
	for i, r := range reqs {
		reqs = append(reqs, Request{Host: r.Host, Path: reqs[(i*7+3)%len(reqs)].Path, Method: "GET"})
		if _, parent, ok := strings.Cut(r.Host, "."); ok {
			reqs = append(reqs, Request{Host: parent, Path: r.Path, Method: "GET"})
		}
	}
	checkAgainstReference(t, specs, reqs)
}

// FuzzMatchDifferential builds a table and requests from the fuzzer's
// bytes and compares Match with refMatch.
func FuzzMatchDifferential(f *testing.F) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 7))
		b := make([]byte, 400)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(uint16(seed*5+1), b)
	}
	f.Add(uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, n uint16, data []byte) {
		// The first bytes say how many requests; the rest draws the
		// routes, then the requests.
		reqs := 16
		if len(data) >= 2 {
			reqs = 1 + int(binary.LittleEndian.Uint16(data))%64
			data = data[2:]
		}
		p := &picker{data: data}
		specs := diffSpecs(p, int(n%200))
		rs := make([]Request, reqs)
		for i := range rs {
			rs[i] = diffRequest(p)
		}
		checkAgainstReference(t, specs, rs)
	})
}
