package router

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// This file checks the compiled matcher against a slow reference written
// straight from docs/protocol.md: every route is tried, and the winner is
// the smallest precedence key.

// refGlobRow returns, for each j, whether s[:j] matches p, where a * matches
// any bytes but "/".
func refGlobRow(p, s string) []bool {
	row := make([]bool, len(s)+1)
	row[0] = true
	for i := 0; i < len(p); i++ {
		next := make([]bool, len(s)+1)
		for j := 0; j <= len(s); j++ {
			if p[i] == '*' {
				next[j] = row[j] || j > 0 && next[j-1] && s[j-1] != '/'
			} else {
				next[j] = j > 0 && row[j-1] && s[j-1] == p[i]
			}
		}
		row = next
	}
	return row
}

// refPathMatch reports whether the non-regex pattern p matches path s.
func refPathMatch(p, s string) bool {
	if p == "" {
		p = "/*"
	}
	switch {
	case !strings.Contains(p, "*") && strings.HasSuffix(p, "/"):
		return strings.HasPrefix(s, p)
	case !strings.Contains(p, "*"):
		return s == p
	case strings.HasSuffix(p, "/*"):
		// This, or this followed by "/" and anything.
		for j, ok := range refGlobRow(p[:len(p)-2], s) {
			if ok && (j == len(s) || s[j] == '/') {
				return true
			}
		}
		return false
	case strings.HasSuffix(p, "*"):
		// The final * matches the rest, "/" included.
		return slices.Contains(refGlobRow(p[:len(p)-1], s), true)
	}
	return refGlobRow(p, s)[len(s)]
}

// refHostRank returns how well the host entries of a route match host:
// 0 for no hosts, 1+len(suffix) for a wildcard, and a rank above every
// wildcard for an exact host. ok is false when no entry matches.
func refHostRank(hosts []string, host string) (rank int, ok bool) {
	if len(hosts) == 0 {
		return 0, true
	}
	for _, h := range hosts {
		h = strings.TrimRight(strings.ToLower(h), ".")
		r := -1
		if suffix, wild := strings.CutPrefix(h, "*"); wild {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				r = 1 + len(suffix)
			}
		} else if h == host {
			r = 1 << 30
		}
		if r > rank {
			rank, ok = r, true
		}
	}
	return rank, ok
}

// refRegexps caches the anchored regexps of refMatch: large tables repeat
// them over many requests.
var refRegexps sync.Map // expression → *regexp.Regexp

func refRegexp(expr string) *regexp.Regexp {
	if re, ok := refRegexps.Load(expr); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile("^(?:" + expr + ")$")
	refRegexps.Store(expr, re)
	return re
}

// refMatch is Table.Match done the slow way.
func refMatch(specs []Spec, r *Request) int {
	best, bestKey := -1, []int(nil)
	for i, s := range specs {
		hostRank, ok := refHostRank(s.Hosts, r.Host)
		if !ok {
			continue
		}
		p := s.Path
		var class, lit int // class: 0 exact, 1 prefix, 2 regex
		switch {
		case strings.HasPrefix(p, "~"):
			class = 2
			// The regexp package is the reference for regexes.
			if !refRegexp(p[1:]).MatchString(r.Path) {
				continue
			}
		case !refPathMatch(p, r.Path):
			continue
		case p == "":
			class, lit = 1, 1
		case !strings.Contains(p, "*") && !strings.HasSuffix(p, "/"):
			class = 0
		default:
			class, lit = 1, strings.IndexByte(p+"*", '*')
		}
		if len(s.Methods) > 0 && !slices.Contains(s.Methods, r.Method) {
			continue
		}
		conds := len(s.Headers)
		if len(s.Methods) > 0 {
			conds++
		}
		hdrOK := true
		for _, h := range s.Headers {
			hdrOK = hdrOK && r.Headers != nil && r.Headers.HasHeader(h.Name, h.Value)
		}
		if !hdrOK {
			continue
		}
		key := []int{-hostRank, class, -lit, -conds, i}
		if best < 0 || slices.Compare(key, bestKey) < 0 {
			best, bestKey = i, key
		}
	}
	return best
}

// TestMatchReference compares Match with refMatch on random tables built
// from a small vocabulary, so that routes overlap a lot.
func TestMatchReference(t *testing.T) {
	var (
		hosts = []string{"a.example.com", "b.example.com", "*.example.com", "*.a.example.com",
			"x.a.example.com", "*.com", "A.Example.com."}
		paths = []string{"", "/", "/a", "/a/", "/a/*", "/a/b", "/a/b/", "/a/*/c", "/a/b*", "/a*",
			"/*", "/a/b/*", "/a*/b/*", "/a/*.c", "~/a/.*", "~^/a/b$", "/ab", "/ab/*", "/a/b/c",
			"/*/c", "/a*c", "/a/b*/*"}
		methods  = [][]string{nil, {"GET"}, {"POST", "PUT"}}
		hdrConds = [][]Header{nil, {{"X-A", "1"}}, {{"x-a", "1"}, {"X-B", "2"}}}

		reqHosts = []string{"", "a.example.com", "b.example.com", "x.a.example.com",
			"y.x.a.example.com", "example.com", "other.com"}
		reqPaths = []string{"/", "/a", "/a/", "/a/b", "/a/b/", "/a/b/c", "/a/x/c", "/ab", "/abc/b/d",
			"/a/b.c", "/x/c", "/a/bc", "/a/bc/d", "/ac", "/abc"}
		reqMethods = []string{"GET", "POST", "DELETE"}
		reqHeaders = []HeaderLookup{nil, headers{"x-a": {"1"}}, headers{"x-a": {"0", "1"}, "x-b": {"2"}}}
	)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(n int) int { return rng.IntN(n) }
	for range 300 {
		specs := make([]Spec, 1+pick(12))
		for i := range specs {
			s := &specs[i]
			for range pick(3) {
				s.Hosts = append(s.Hosts, hosts[pick(len(hosts))])
			}
			s.Path = paths[pick(len(paths))]
			s.Methods = methods[pick(len(methods))]
			s.Headers = hdrConds[pick(len(hdrConds))]
		}
		tab := mustCompile(t, specs)
		for range 100 {
			r := Request{
				Host:    reqHosts[pick(len(reqHosts))],
				Path:    reqPaths[pick(len(reqPaths))],
				Method:  reqMethods[pick(len(reqMethods))],
				Headers: reqHeaders[pick(len(reqHeaders))],
			}
			got, want := tab.Match(&r), refMatch(specs, &r)
			if got != want {
				t.Fatalf("specs %+v\nrequest %+v: got %d, want %d", specs, r, got, want)
			}
			if !tab.UsesHeaders() {
				r.Headers = nil
				if got := tab.Match(&r); got != want {
					t.Fatalf("specs %+v\nrequest %+v without headers: got %d, want %d", specs, r, got, want)
				}
			}
		}
	}
}

// normalizePath makes a normalized path of s: the bytes normalization
// rejects, splits off or decodes ("%") are dropped, repeated slashes merged
// and dot-segments removed.
func normalizePath(s string) string {
	s = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '%' {
			return -1
		}
		return r
	}, s)
	var segs []string
	for seg := range strings.SplitSeq(s, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	p := "/" + strings.Join(segs, "/")
	if p != "/" && (strings.HasSuffix(s, "/") || strings.HasSuffix(s, "/.") || strings.HasSuffix(s, "/..")) {
		p += "/"
	}
	return p
}

// FuzzPathPattern compiles arbitrary patterns; Compile and Match must never
// panic, and a compiled non-regex pattern must agree with refPathMatch on
// paths made up from the inputs: as given, normalized, and the pattern with
// its *s filled in, so that matches are common.
func FuzzPathPattern(f *testing.F) {
	for _, p := range []string{"", "/", "/login", "/api/", "/api/*", "/api/v*", "/api/v*/users",
		"/api/v*/users/*", "/f/*.tar.*", "/a*b*", "/*/x/*", "/v*/", "~^/u/[0-9]+$", "~(", "api", "/a/**", "/a//b"} {
		f.Add(p, "/api/v1/users/7", "x")
	}
	f.Add("/a*b*c/*", "/abc/d", "b")
	f.Add("/*", "", "")
	f.Fuzz(func(t *testing.T, pattern, path, fill string) {
		tab, err := Compile([]Spec{{Path: pattern}})
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) || se.Index != 0 || se.Field != "path" || se.Msg == "" {
				t.Fatalf("pattern %q: bad error %#v", pattern, err)
			}
			return
		}
		filled := strings.ReplaceAll(pattern, "*", fill)
		for _, p := range []string{
			path, normalizePath(path),
			filled, normalizePath(filled),
			normalizePath(filled + "/" + path),
		} {
			got := tab.Match(&Request{Path: p})
			if strings.HasPrefix(pattern, "~") {
				continue // regexes are the regexp package's business
			}
			if want := refPathMatch(pattern, p); (got == 0) != want || got < -1 || got > 0 {
				t.Errorf("pattern %q, path %q: Match = %d, reference says %v", pattern, p, got, want)
			}
		}
	})
}
