package router

import (
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// headers is a HeaderLookup over lower-case header names.
type headers map[string][]string

func (h headers) HasHeader(name, value string) bool {
	for _, v := range h[strings.ToLower(name)] {
		if v == value {
			return true
		}
	}
	return false
}

func mustCompile(t testing.TB, specs []Spec) *Table {
	t.Helper()
	tab, err := Compile(specs)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tab
}

func TestPathPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"/login", []string{"/login"}, []string{"/login/", "/logins", "/", "/log", "/x/login"}},
		{"/", []string{"/", "/x", "/x/y/"}, nil},
		{"/api/", []string{"/api/", "/api/x", "/api/x/y"}, []string{"/api", "/apiary", "/ap"}},
		{"/api/*", []string{"/api", "/api/", "/api/x/y"}, []string{"/apiary", "/ap", "/", "/x/api"}},
		{"", []string{"/", "/a", "/a/b/"}, nil},
		{"/*", []string{"/", "/a", "/a/b/"}, nil},
		{"/api/v*", []string{"/api/v", "/api/v1", "/api/v1/x", "/api/vv/"}, []string{"/api/", "/api/x", "/api"}},
		{"/api/v*/users", []string{"/api/v2/users", "/api/v/users", "/api/v2.1/users"},
			[]string{"/api/v2/x/users", "/api/v2/users/1", "/api/w2/users", "/api/v2/users/", "/api/v2/usersx"}},
		{"/api/v*/users/*", []string{"/api/v2/users", "/api/v2/users/", "/api/v2/users/7/x"},
			[]string{"/api/v2/usersx", "/api/v2", "/api/v2/x/users"}},
		{"/f/*.tar.*", []string{"/f/a.tar.gz", "/f/.tar.", "/f/a.tar.gz.tar.bz2"},
			[]string{"/f/a.tar", "/f/x/a.tar.gz", "/f/a.tgz"}},
		{"/*.png", []string{"/x.png", "/.png"}, []string{"/a/x.png", "/x.png/", "/x.jpg"}},
		{"/a/*/c", []string{"/a/b/c", "/a/bb/c"}, []string{"/a/b/d/c", "/a/b/c/", "/a/c"}},
		{"/a*b*", []string{"/ab", "/axbc/d/e", "/ab/"}, []string{"/ax/b", "/a", "/b"}},
		{"/a*b*c", []string{"/abc", "/axbyc", "/abcbc"}, []string{"/abcx", "/ac", "/ab/c"}},
		{"/v*/", []string{"/v1/", "/v/"}, []string{"/v1/x", "/v1"}},
		{"/caf%C3%A9/*", []string{"/caf%C3%A9", "/caf%C3%A9/x"}, []string{"/café"}},
		{"~^/u/[0-9]+$", []string{"/u/1", "/u/123"}, []string{"/u/x", "/u/12/a", "/u/"}},
		{"~/u/[0-9]+", []string{"/u/1"}, []string{"/x/u/1", "/u/1x"}},
		{"~/a|/b", []string{"/a", "/b"}, []string{"/ab", "/xb", "/a/"}},
		{"~(?i)/A", []string{"/a", "/A"}, []string{"/ab"}},
	}
	for _, tt := range tests {
		tab := mustCompile(t, []Spec{{Path: tt.pattern}})
		for _, p := range tt.match {
			if got := tab.Match(&Request{Path: p}); got != 0 {
				t.Errorf("pattern %q, path %q: got %d, want a match", tt.pattern, p, got)
			}
		}
		for _, p := range tt.noMatch {
			if got := tab.Match(&Request{Path: p}); got != -1 {
				t.Errorf("pattern %q, path %q: got %d, want no match", tt.pattern, p, got)
			}
		}
	}
}

func TestHosts(t *testing.T) {
	tests := []struct {
		hosts   []string
		match   []string
		noMatch []string
	}{
		{[]string{"shop.example.com"}, []string{"shop.example.com"},
			[]string{"x.shop.example.com", "example.com", "", "shop.example.co"}},
		{[]string{"Shop.Example.COM."}, []string{"shop.example.com"}, []string{"Shop.Example.COM."}},
		{[]string{"*.example.com"}, []string{"a.example.com", "a.b.example.com"},
			[]string{"example.com", "xexample.com", ".example.com", "", "a.example.com.x"}},
		{[]string{"*.com"}, []string{"a.com", "a.b.com"}, []string{"com", "a.org"}},
		{[]string{"[::1]"}, []string{"[::1]"}, []string{"::1"}},
		{[]string{"::1"}, []string{"::1"}, []string{"[::1]"}},
		{[]string{"a.example.com", "*.b.example.com", "a.example.com"},
			[]string{"a.example.com", "x.b.example.com"}, []string{"b.example.com", "x.example.com"}},
		{nil, []string{"", "a.example.com", "localhost"}, nil},
	}
	for _, tt := range tests {
		tab := mustCompile(t, []Spec{{Hosts: tt.hosts, Path: "/"}})
		for _, h := range tt.match {
			if got := tab.Match(&Request{Host: h, Path: "/"}); got != 0 {
				t.Errorf("hosts %q, host %q: got %d, want a match", tt.hosts, h, got)
			}
		}
		for _, h := range tt.noMatch {
			if got := tab.Match(&Request{Host: h, Path: "/"}); got != -1 {
				t.Errorf("hosts %q, host %q: got %d, want no match", tt.hosts, h, got)
			}
		}
	}
}

func TestConditions(t *testing.T) {
	spec := Spec{
		Path:    "/",
		Methods: []string{"GET", "HEAD"},
		Headers: []Header{{"X-Env", "prod"}, {"x-team", "a"}},
	}
	ok := headers{"x-env": {"dev", "prod"}, "x-team": {"a"}}
	tests := []struct {
		name string
		req  Request
		want int
	}{
		{"all hold", Request{Path: "/", Method: "GET", Headers: ok}, 0},
		{"second method", Request{Path: "/", Method: "HEAD", Headers: ok}, 0},
		{"method case", Request{Path: "/", Method: "get", Headers: ok}, -1},
		{"other method", Request{Path: "/", Method: "POST", Headers: ok}, -1},
		{"header missing", Request{Path: "/", Method: "GET", Headers: headers{"x-env": {"prod"}}}, -1},
		{"header value differs", Request{Path: "/", Method: "GET", Headers: headers{"x-env": {"Prod"}, "x-team": {"a"}}}, -1},
		{"no headers", Request{Path: "/", Method: "GET"}, -1},
	}
	tab := mustCompile(t, []Spec{spec})
	for _, tt := range tests {
		if got := tab.Match(&tt.req); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}

	// Without conditions, any method and any (or no) headers match.
	tab = mustCompile(t, []Spec{{Path: "/"}})
	if got := tab.Match(&Request{Path: "/", Method: "PATCH"}); got != 0 {
		t.Errorf("no conditions: got %d, want 0", got)
	}
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestPrecedence(t *testing.T) {
	get := func(path string) Request { return Request{Host: "a.shop.example.com", Path: path, Method: "GET"} }
	tests := []struct {
		name  string
		specs []Spec
		req   Request
		want  int // index of the winner in specs, whatever their order
	}{
		{
			name: "exact host beats wildcard and no host, whatever the path",
			specs: []Spec{
				{Path: "/x", Methods: []string{"GET"}},
				{Hosts: []string{"*.shop.example.com"}, Path: "/x"},
				{Hosts: []string{"a.shop.example.com"}, Path: "~.*"},
			},
			req: get("/x"), want: 2,
		},
		{
			name: "longer wildcard suffix beats shorter",
			specs: []Spec{
				{Hosts: []string{"*.example.com"}, Path: "/x"},
				{Hosts: []string{"*.shop.example.com"}, Path: "/"},
				{Hosts: []string{"*.com"}, Path: "/x", Methods: []string{"GET"}},
			},
			req: get("/x"), want: 1,
		},
		{
			name: "wildcard beats no host",
			specs: []Spec{
				{Path: "/x", Methods: []string{"GET"}},
				{Hosts: []string{"*.com"}, Path: "~/x"},
			},
			req: get("/x"), want: 1,
		},
		{
			name: "a route ranks by the host entry that matched",
			specs: []Spec{
				{Hosts: []string{"*.example.com", "a.shop.example.com"}, Path: "/"},
				{Hosts: []string{"*.shop.example.com"}, Path: "/x"},
			},
			req: get("/x"), want: 0,
		},
		{
			name: "same host entry rank: the path decides",
			specs: []Spec{
				{Hosts: []string{"*.example.com", "b.shop.example.com"}, Path: "/"},
				{Hosts: []string{"*.example.com"}, Path: "/x"},
			},
			req: get("/x"), want: 1,
		},
		{
			name: "exact path beats every prefix",
			specs: []Spec{
				{Path: "/api/v1/users/*", Methods: []string{"GET"}},
				{Path: "/api/v1/users"},
				{Path: "/api/v1/user*"},
				{Path: "~/api/v1/users", Methods: []string{"GET"}},
			},
			req: get("/api/v1/users"), want: 1,
		},
		{
			name: "longer literal prefix beats shorter",
			specs: []Spec{
				{Path: "/"},
				{Path: "/api/", Methods: []string{"GET"}},
				{Path: "/api/v*/users"},
				{Path: "/api/*"},
				{Path: "/a*"},
			},
			req: get("/api/v2/users"), want: 2,
		},
		{
			name: "segment prefix ranks by its literal prefix, trailing slash included",
			specs: []Spec{
				{Path: "/ap*", Methods: []string{"GET"}},
				{Path: "/api/*"},
				{Path: "/"},
			},
			req: get("/api"), want: 1,
		},
		{
			name: "exact path beats a segment prefix on its own path",
			specs: []Spec{
				{Path: "/api/*", Methods: []string{"GET"}},
				{Path: "/api"},
			},
			req: get("/api"), want: 1,
		},
		{
			name: "shortest prefix beats regex",
			specs: []Spec{
				{Path: "~/api/.*", Methods: []string{"GET"}, Headers: []Header{{"X-A", "1"}}},
				{Path: "/"},
			},
			req: get("/api/x"), want: 1,
		},
		{
			name: "more conditions win on equal paths",
			specs: []Spec{
				{Path: "/api/*"},
				{Path: "/api/*", Methods: []string{"GET"}},
				{Path: "/api/", Headers: []Header{{"X-A", "1"}, {"X-B", "2"}}},
				{Path: "/api/", Headers: []Header{{"X-A", "1"}}},
			},
			req: Request{Path: "/api/x", Method: "GET", Headers: headers{"x-a": {"1"}, "x-b": {"2"}}}, want: 2,
		},
		{
			name: "conditions that fail fall through to the next",
			specs: []Spec{
				{Path: "/api/*"},
				{Path: "/api/*", Methods: []string{"POST"}},
				{Path: "/api/*", Headers: []Header{{"X-A", "2"}}},
			},
			req: Request{Path: "/api/x", Method: "GET", Headers: headers{"x-a": {"1"}}}, want: 0,
		},
		{
			name: "more conditions among regexes",
			specs: []Spec{
				{Path: "~/a.*"},
				{Path: "~/ab", Methods: []string{"GET"}},
			},
			req: get("/ab"), want: 1,
		},
		{
			name: "precedence after a failed better host",
			specs: []Spec{
				{Hosts: []string{"a.shop.example.com"}, Path: "/y"},
				{Hosts: []string{"*.example.com"}, Path: "/"},
				{Path: "/x"},
			},
			req: get("/x"), want: 1,
		},
	}
	for _, tt := range tests {
		for _, perm := range permutations(len(tt.specs)) {
			specs := make([]Spec, len(perm))
			for i, j := range perm {
				specs[i] = tt.specs[j]
			}
			got := mustCompile(t, specs).Match(&tt.req)
			if got < 0 || perm[got] != tt.want {
				t.Errorf("%s: order %v: got spec %d, want spec %d", tt.name, perm, got, tt.want)
				break
			}
		}
	}
}

func TestEarlierRouteWinsTies(t *testing.T) {
	tests := []struct {
		path  string
		specs []Spec
	}{
		{"/a/b", []Spec{{Path: "/a/*"}, {Path: "/a/*"}}},
		{"/a/b", []Spec{{Path: "/a/*"}, {Path: "/a/"}}},
		{"/a/b", []Spec{{Path: "/a/"}, {Path: "/a/*"}}},
		{"/a", []Spec{{Path: "/a"}, {Path: "/a"}}},
		{"/a/b", []Spec{{Path: "~/a/.*"}, {Path: "~/a/b"}}},
		{"/a/b", []Spec{
			{Hosts: []string{"a.x.com"}, Methods: []string{"GET"}},
			{Hosts: []string{"a.x.com"}, Headers: []Header{{"X-A", "1"}}},
		}},
		{"/a/b", []Spec{{Hosts: []string{"*.x.com", "a.x.com"}}, {Hosts: []string{"a.x.com"}}}},
	}
	for _, tt := range tests {
		req := Request{Host: "a.x.com", Path: tt.path, Method: "GET", Headers: headers{"x-a": {"1"}}}
		if got := mustCompile(t, tt.specs).Match(&req); got != 0 {
			t.Errorf("%+v: got %d, want 0", tt.specs, got)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	const wildcard = "wildcard only as the first label (*.example.com)"
	tests := []struct {
		spec  Spec
		field string
		msg   string
	}{
		{Spec{Path: "api"}, "path", "must start with / or ~"},
		{Spec{Path: "*"}, "path", "must start with / or ~"},
		{Spec{Path: "/a/**"}, "path", "** is not supported"},
		{Spec{Path: "/**/x"}, "path", "** is not supported"},
		{Spec{Path: "/a//b"}, "path", "not a normalized path"},
		{Spec{Path: "//"}, "path", "not a normalized path"},
		{Spec{Path: "/a/./b"}, "path", "not a normalized path"},
		{Spec{Path: "/a/../b"}, "path", "not a normalized path"},
		{Spec{Path: "/a/.."}, "path", "not a normalized path"},
		{Spec{Path: "/."}, "path", "not a normalized path"},
		{Spec{Path: "/a//*"}, "path", "not a normalized path"},
		{Spec{Path: "/a b"}, "path", "not a normalized path"},
		{Spec{Path: "/a?b"}, "path", "not a normalized path"},
		{Spec{Path: "/a#b"}, "path", "not a normalized path"},
		{Spec{Path: "/a%2f"}, "path", "not a normalized path"},
		{Spec{Path: "/a%7E"}, "path", "not a normalized path"},
		{Spec{Path: "/a%2"}, "path", "not a normalized path"},
		{Spec{Path: "~("}, "path", "bad regex: error parsing regexp: missing closing ): `(`"},
		{Spec{Path: "~a)"}, "path", "bad regex: error parsing regexp: unexpected ): `a)`"},
		{Spec{Path: `~\`}, "path", "bad regex: error parsing regexp: trailing backslash at end of expression: ``"},
		{Spec{Hosts: []string{"a.com", ""}}, "hosts[1]", "must not be empty"},
		{Spec{Hosts: []string{"a.*.com"}}, "hosts[0]", wildcard},
		{Spec{Hosts: []string{"*"}}, "hosts[0]", wildcard},
		{Spec{Hosts: []string{"*."}}, "hosts[0]", wildcard},
		{Spec{Hosts: []string{"*example.com"}}, "hosts[0]", wildcard},
		{Spec{Hosts: []string{"*.*.example.com"}}, "hosts[0]", wildcard},
		{Spec{Hosts: []string{"example.*"}}, "hosts[0]", wildcard},
		{Spec{Hosts: []string{"."}}, "hosts[0]", "invalid host"},
		{Spec{Hosts: []string{"a..com"}}, "hosts[0]", "invalid host"},
		{Spec{Hosts: []string{".a.com"}}, "hosts[0]", "invalid host"},
		{Spec{Hosts: []string{"*..com"}}, "hosts[0]", "invalid host"},
		{Spec{Hosts: []string{"a com"}}, "hosts[0]", "invalid host"},
		{Spec{Hosts: []string{"a.com/x"}}, "hosts[0]", "invalid host"},
		{Spec{Hosts: []string{"u@a.com"}}, "hosts[0]", "invalid host"},
		{Spec{Hosts: []string{"a.com:8080"}}, "hosts[0]", "must not have a port"},
		{Spec{Hosts: []string{"*.a.com:"}}, "hosts[0]", "must not have a port"},
		{Spec{Hosts: []string{"[::1]:80"}}, "hosts[0]", "must not have a port"},
		{Spec{Methods: []string{"GET", ""}}, "methods[1]", "invalid method"},
		{Spec{Methods: []string{"GE T"}}, "methods[0]", "invalid method"},
		{Spec{Headers: []Header{{"X-Env", "a"}, {"X Env", "b"}}}, "headers.X Env", "invalid header name"},
		{Spec{Headers: []Header{{"", "a"}}}, "headers.", "invalid header name"},
		{Spec{Headers: []Header{{"X:", "a"}}}, "headers.X:", "invalid header name"},
		// The first invalid field is reported.
		{Spec{Hosts: []string{""}, Path: "x", Methods: []string{""}}, "hosts[0]", "must not be empty"},
		{Spec{Path: "x", Methods: []string{""}}, "path", "must start with / or ~"},
	}
	for _, tt := range tests {
		specs := []Spec{{Path: "/ok"}, tt.spec, {Path: "bad"}}
		_, err := Compile(specs)
		var se *SpecError
		if !errors.As(err, &se) {
			t.Errorf("%+v: got %v, want a *SpecError", tt.spec, err)
			continue
		}
		if se.Index != 1 || se.Field != tt.field || se.Msg != tt.msg {
			t.Errorf("%+v: got {%d %q %q}, want {1 %q %q}", tt.spec, se.Index, se.Field, se.Msg, tt.field, tt.msg)
		}
	}

	_, err := Compile([]Spec{{Path: "/"}, {}, {Path: "x"}})
	if want := "router: spec 2: path: must start with / or ~"; err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}

func TestEmptyTables(t *testing.T) {
	req := &Request{Host: "a.com", Path: "/"}
	var nilTable *Table
	if got := nilTable.Match(req); got != -1 {
		t.Errorf("nil table: got %d, want -1", got)
	}
	nilTable.Prefetch(req.Host, req.Path)
	mustCompile(t, nil).Prefetch(req.Host, req.Path)
	for _, p := range []string{"", "x", "//", "/a//b/", "/a/b/c/d/e"} {
		mustCompile(t, []Spec{{Hosts: []string{"*.com", "a.com"}, Path: "/a/*"}, {Path: "/a/b"}}).Prefetch("b.a.com", p)
	}
	if got := mustCompile(t, nil).Match(req); got != -1 {
		t.Errorf("no specs: got %d, want -1", got)
	}
	// Only host routes: a request for another host finds no host-less group.
	if got := mustCompile(t, []Spec{{Hosts: []string{"b.com"}}}).Match(req); got != -1 {
		t.Errorf("other host: got %d, want -1", got)
	}
}

func TestUsesHeaders(t *testing.T) {
	var nilTable *Table
	if nilTable.UsesHeaders() {
		t.Error("nil table uses headers")
	}
	tests := []struct {
		specs []Spec
		want  bool
	}{
		{nil, false},
		{[]Spec{{Path: "/a"}, {Hosts: []string{"a.com"}, Methods: []string{"GET"}}}, false},
		{[]Spec{{Path: "/a"}, {Hosts: []string{"a.com"}, Headers: []Header{{"X-A", "1"}}}}, true},
		{[]Spec{{Path: "~^/a$", Headers: []Header{{"X-A", "1"}}}}, true},
	}
	for _, tt := range tests {
		if got := mustCompile(t, tt.specs).UsesHeaders(); got != tt.want {
			t.Errorf("%+v: UsesHeaders() = %v, want %v", tt.specs, got, tt.want)
		}
	}
}

// TestSpecsNotRetained checks that a caller may reuse its specs after
// Compile.
func TestSpecsNotRetained(t *testing.T) {
	specs := []Spec{{Path: "/", Methods: []string{"GET"}}}
	tab := mustCompile(t, specs)
	specs[0].Methods[0] = "POST"
	if got := tab.Match(&Request{Path: "/", Method: "GET"}); got != 0 {
		t.Errorf("got %d, want 0", got)
	}
}

// TestKidSlotSize checks that a kidTable slot fills one cache line, so that
// a probe that hits its first slot loads one line.
func TestKidSlotSize(t *testing.T) {
	if n := unsafe.Sizeof(kidSlot{}); n != 64 {
		t.Fatalf("kidSlot is %d bytes, want 64", n)
	}
}

// TestKidTableLongSegments checks segments longer than a slot holds inline:
// they differ only past the inline bytes, or in length.
func TestKidTableLongSegments(t *testing.T) {
	long := "/" + strings.Repeat("s", kidInline+5)
	specs := []Spec{{Path: long + "a"}, {Path: long + "b/*"}, {Path: long}, {Path: "/*"}}
	tb, err := Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		long + "a": 0, long + "b/x": 1, long: 2, long + "c": 3, long + "b": 1, long[:len(long)-1]: 3,
	} {
		if got := tb.Match(&Request{Path: path, Method: "GET"}); got != want {
			t.Errorf("Match(%q) = %d, want %d", path, got, want)
		}
	}
}
