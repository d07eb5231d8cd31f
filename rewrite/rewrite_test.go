package rewrite

import (
	"strings"
	"testing"

	"l7lb/urlpath"
)

// must is to the constructors what regexp.MustCompile is to regexp.Compile.
func must(r *Rule, err error) *Rule {
	if err != nil {
		panic(err)
	}
	return r
}

// queries are re-attached to every case of TestApply.
var queries = []string{"", "?", "?a=1&b=2"}

func TestApply(t *testing.T) {
	type tc struct{ in, want string }
	tests := []struct {
		rule  *Rule
		cases []tc
	}{
		{must(StripPrefix("/api")), []tc{
			{"/api", "/"},
			{"/api/", "/"},
			{"/api/users", "/users"},
			{"/api/users/", "/users/"},
			{"/api/api/x", "/api/x"},
			{"/apiary", "/apiary"},
			{"/apiary/x", "/apiary/x"},
			{"/ap", "/ap"},
			{"/", "/"},
			{"/web/api", "/web/api"},
		}},
		{must(StripPrefix("/api/")), []tc{
			{"/api", "/"},
			{"/api/", "/"},
			{"/api/users", "/users"},
			{"/apiary", "/apiary"},
		}},
		{must(StripPrefix("/a/b")), []tc{
			{"/a/b/c", "/c"},
			{"/a/b", "/"},
			{"/a/bc", "/a/bc"},
			{"/a", "/a"},
		}},
		{must(StripPrefix("/")), []tc{
			{"/", "/"},
			{"/api/users", "/api/users"},
			{"/x/", "/x/"},
		}},
		{must(ReplacePrefix("/api", "/v2")), []tc{
			{"/api/users", "/v2/users"},
			{"/api", "/v2"},
			{"/api/", "/v2/"},
			{"/apiary", "/apiary"},
			{"/", "/"},
		}},
		{must(ReplacePrefix("/api/", "/v2/")), []tc{
			{"/api/users", "/v2/users"},
			{"/api", "/v2"},
			{"/api/", "/v2/"},
		}},
		{must(ReplacePrefix("/api", "/")), []tc{
			{"/api/users", "/users"},
			{"/api", "/"},
			{"/api/", "/"},
			{"/apix", "/apix"},
		}},
		{must(ReplacePrefix("/", "/x")), []tc{
			{"/users", "/x/users"},
			{"/", "/x/"},
			{"/x", "/x/x"},
		}},
		{must(ReplacePrefix("/", "/x/")), []tc{
			{"/users", "/x/users"},
			{"/", "/x/"},
		}},
		{must(ReplacePrefix("/", "/")), []tc{
			{"/users", "/users"},
			{"/", "/"},
		}},
		{must(ReplacePrefix("/a/b", "/c")), []tc{
			{"/a/b/d", "/c/d"},
			{"/a/bd", "/a/bd"},
			{"/a/c", "/a/c"},
		}},
		{must(Regex(`^/u/(\d+)$`, "/users/$1")), []tc{
			{"/u/42", "/users/42"},
			{"/u/42/x", "/u/42/x"},
			{"/u/", "/u/"},
		}},
		{must(Regex(`^/(?P<v>v\d+)/(?P<rest>.*)$`, "/${rest}/${v}")), []tc{
			{"/v1/users", "/users/v1"},
			{"/v1/", "/v1"}, // "/" + "" + "/v1" merged
			{"/x/users", "/x/users"},
		}},
		{must(Regex(`a`, "b")), []tc{
			{"/aaa", "/baa"},
			{"/xyz", "/xyz"},
		}},
		{must(Regex(`^/old/`, "new/")), []tc{
			{"/old/x", "/new/x"},
			{"/older", "/older"},
		}},
		{must(Regex(`^/(\w+)`, "//$1//")), []tc{
			{"/a/b", "/a/b"},
			{"/a", "/a/"},
		}},
		{must(Regex(`^.*$`, "")), []tc{
			{"/a/b", "/"},
			{"/", "/"},
		}},
		{must(Regex(`/b`, "")), []tc{
			{"/a/b/c", "/a/c"},
			{"/b", "/"},
		}},
		{must(Regex(`^/x`, "/$9$zz")), []tc{
			{"/x/y", "/y"},
		}},
		{must(Regex(`^/x`, "/$$")), []tc{
			{"/x", "/$"},
		}},
		{must(ReplacePath("/x")), []tc{
			{"/", "/x"},
			{"/a/b/c", "/x"},
			{"/x", "/x"},
		}},
		{must(ReplacePath("/x/")), []tc{
			{"/a", "/x/"},
		}},
		{must(ReplacePath("/")), []tc{
			{"/a/b", "/"},
		}},
	}
	for _, tt := range tests {
		r := tt.rule
		for _, c := range tt.cases {
			for _, q := range queries {
				want := c.want + q
				if got := r.Apply(c.in, q); got != want {
					t.Errorf("%s: Apply(%q, %q) = %q; want %q", tt.rule, c.in, q, got, want)
				}
				dst := []byte("prefix:")
				if got := r.AppendApply(dst, c.in, q); string(got) != "prefix:"+want {
					t.Errorf("%s: AppendApply(%q, %q, %q) = %q; want %q", tt.rule, dst, c.in, q, got, "prefix:"+want)
				}
			}
		}
	}
}

func TestNilRule(t *testing.T) {
	var r *Rule
	if got := r.Apply("/a/b", "?x"); got != "/a/b?x" {
		t.Errorf("nil Apply = %q", got)
	}
	if got := r.AppendApply(nil, "/a/b", "?x"); string(got) != "/a/b?x" {
		t.Errorf("nil AppendApply = %q", got)
	}
	if got := r.String(); got != "none" {
		t.Errorf("nil String = %q", got)
	}
}

func TestConstructorErrors(t *testing.T) {
	type ctor struct {
		name string
		f    func(string) (*Rule, error)
	}
	ctors := []ctor{
		{"StripPrefix", StripPrefix},
		{"ReplacePrefix.from", func(p string) (*Rule, error) { return ReplacePrefix(p, "/ok") }},
		{"ReplacePrefix.to", func(p string) (*Rule, error) { return ReplacePrefix("/ok", p) }},
		{"ReplacePath", ReplacePath},
	}
	tests := []struct{ in, want string }{
		{"", "must start with /"},
		{"api", "must start with /"},
		{"?a", "must start with /"},
		{"/api?x=1", "must not contain ? or #"},
		{"/api#x", "must not contain ? or #"},
		{"/api/?", "must not contain ? or #"},
		{"//api", "must be a normalized path"},
		{"/api//", "must be a normalized path"},
		{"/a/../b", "must be a normalized path"},
		{"/a/.", "must be a normalized path"},
		{"/%7eu", "must be a normalized path"},
		{"/%2f", "must be a normalized path"},
		{"/a b", "invalid byte 0x20 at offset 2"},
		{"/a%zz", "invalid percent-encoding at offset 2"},
	}
	for _, c := range ctors {
		for _, tt := range tests {
			r, err := c.f(tt.in)
			if err == nil || err.Error() != tt.want || r != nil {
				t.Errorf("%s(%q) = %v, %v; want error %q", c.name, tt.in, r, err, tt.want)
			}
		}
		for _, ok := range []string{"/", "/api", "/api/", "/a/b", "/%2F", "/~u", "/é"} {
			if _, err := c.f(ok); err != nil {
				t.Errorf("%s(%q): %v", c.name, ok, err)
			}
		}
	}

	_, err := Regex(`(`, "/x")
	if err == nil || err.Error() != "error parsing regexp: missing closing ): `(`" {
		t.Errorf("Regex(`(`): %v", err)
	}
	if _, err := Regex(`\1`, "/x"); err == nil {
		t.Errorf("Regex(`\\1`) accepted a backreference")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		rule *Rule
		want string
	}{
		{must(StripPrefix("/api/")), `strip_prefix "/api/"`},
		{must(ReplacePrefix("/api", "/v2")), `replace_prefix "/api" -> "/v2"`},
		{must(Regex(`^/u/(\d+)$`, "/users/$1")), `regex "^/u/(\\d+)$" -> "/users/$1"`},
		{must(ReplacePath("/x")), `replace_path "/x"`},
	}
	for _, tt := range tests {
		if got := tt.rule.String(); got != tt.want {
			t.Errorf("String() = %s; want %s", got, tt.want)
		}
	}
}

func TestAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumented build")
	}
	rules := []*Rule{
		must(StripPrefix("/api")),
		must(ReplacePrefix("/api", "/v2")),
		must(ReplacePath("/x")),
	}
	dst := make([]byte, 0, 64)
	for _, r := range rules {
		n := testing.AllocsPerRun(100, func() {
			dst = r.AppendApply(dst[:0], "/api/users/42", "?a=1&b=2")
		})
		if n != 0 {
			t.Errorf("%v: AppendApply: %v allocs; want 0", r, n)
		}
	}
	strip := rules[0]
	if n := testing.AllocsPerRun(100, func() { strip.Apply("/api/users/42", "") }); n != 0 {
		t.Errorf("%v: Apply without query: %v allocs; want 0", strip, n)
	}
}

// TestConcurrent lets the race detector check that a Rule is safe for
// concurrent use.
func TestConcurrent(t *testing.T) {
	rules := []*Rule{
		must(StripPrefix("/api")),
		must(Regex(`^/u/(\d+)$`, "/users/$1")),
	}
	done := make(chan bool)
	for range 4 {
		go func() {
			for i := range 100 {
				for _, r := range rules {
					r.Apply("/u/"+string(rune('0'+i%10)), "?q")
					r.AppendApply(nil, "/api/x", "")
				}
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add("/api/users", "?a=1&b=2", uint8(0), "/api", "/v2")
	f.Add("/api", "?", uint8(1), "/api/", "/")
	f.Add("/", "", uint8(1), "/", "/x")
	f.Add("/u/42", "", uint8(2), `^/u/(\d+)$`, "/users/$1")
	f.Add("/a/b", "?x", uint8(2), `.*`, "")
	f.Add("/a/b", "?x", uint8(2), `b`, "//$0//")
	f.Add("/a", "", uint8(3), "/x/", "")
	f.Fuzz(func(t *testing.T, path, query string, k uint8, a, b string) {
		// Rules apply to normalized paths and queries as urlpath splits them.
		path, err := urlpath.Normalize(path)
		if err != nil {
			return
		}
		if i := strings.IndexByte(query, '#'); i >= 0 {
			query = query[:i]
		}
		if query != "" && query[0] != '?' {
			query = "?" + query
		}
		// Random strings are rarely valid prefixes: normalize them, and
		// let bit 2 of k pick a prefix of the path itself so that prefix
		// rules match often.
		if k%4 != 2 {
			clean := func(s string) string {
				s = strings.NewReplacer("?", "q", "#", "h").Replace(s)
				if n, err := urlpath.Normalize("/" + s); err == nil {
					return n
				}
				return s
			}
			a, b = clean(a), clean(b)
			if k&4 != 0 {
				a = path[:max(1, strings.LastIndexByte(path, '/'))]
			}
		}
		var r *Rule
		switch k % 4 {
		case 0:
			r, err = StripPrefix(a)
		case 1:
			r, err = ReplacePrefix(a, b)
		case 2:
			r, err = Regex(a, b)
		case 3:
			r, err = ReplacePath(a)
		}
		if err != nil {
			if r != nil {
				t.Fatalf("rule %d(%q, %q): a rule and an error", k%4, a, b)
			}
			return
		}
		got := r.Apply(path, query)
		appended := string(r.AppendApply([]byte("x"), path, query))
		if appended != "x"+got {
			t.Fatalf("%v: AppendApply(%q, %q) = %q; Apply gives %q", r, path, query, appended, got)
		}
		if !strings.HasSuffix(got, query) {
			t.Fatalf("%v: Apply(%q, %q) = %q lost the query", r, path, query, got)
		}
		p := got[:len(got)-len(query)]
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
			t.Fatalf("%v: Apply(%q, %q) = %q: path %q is not well-formed", r, path, query, got, p)
		}
		// A prefix rule keeps a normalized path normalized, since it only
		// moves whole segments around.
		if r.kind != regex {
			if n, err := urlpath.Normalize(p); err != nil || n != p {
				t.Fatalf("%v: Apply(%q, %q) = %q: path is not normalized", r, path, query, got)
			}
		}
	})
}

func BenchmarkStripPrefix(b *testing.B) {
	r := must(StripPrefix("/api"))
	dst := make([]byte, 0, 64)
	b.Run("AppendApply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = r.AppendApply(dst[:0], "/api/users/12345/profile", "?a=1&b=2")
		}
	})
	b.Run("Apply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Apply("/api/users/12345/profile", "?a=1&b=2")
		}
	})
}

func BenchmarkRegex(b *testing.B) {
	r := must(Regex(`^/u/(\d+)$`, "/users/$1"))
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = r.AppendApply(dst[:0], "/u/12345", "?a=1")
	}
}
