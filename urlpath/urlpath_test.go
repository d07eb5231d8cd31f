package urlpath

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		// Already normal: returned as is.
		{"/", "/"},
		{"/a", "/a"},
		{"/a/", "/a/"},
		{"/api/v1/users/42", "/api/v1/users/42"},
		{"/a%2Fb", "/a%2Fb"},
		{"/%C3%A9", "/%C3%A9"},
		{"/é/ü", "/é/ü"},
		{"/.a/..b/...", "/.a/..b/..."},
		{"/a.", "/a."},
		{"/a?b", "/a?b"}, // Normalize sees a path; Split removes queries first
		// Examples from the contract.
		{"/web/../api/x", "/api/x"},
		{"/a/%2e%2E/b", "/b"},
		{"/a/b/..", "/a/"},
		{"/a/./b/.", "/a/b/"},
		{"//a///b", "/a/b"},
		{"/../..", "/"},
		{"/%7euser/%2f", "/~user/%2F"},
		{"/a%41", "/aA"},
		// Decoding.
		{"/%41%5a%61%7A%30%39%2D%2E%5F%7E", "/AZaz09-._~"},
		{"/%2f%3a%3A%c3%a9%25", "/%2F%3A%3A%C3%A9%25"},
		{"/%252e", "/%252e"}, // "%25" is '%': stays encoded, "2e" is literal
		{"/%00%20%7f", "/%00%20%7F"},
		// Slashes.
		{"//", "/"},
		{"///", "/"},
		{"/a//", "/a/"},
		{"/a//b//", "/a/b/"},
		// Dot-segments.
		{"/.", "/"},
		{"/..", "/"},
		{"/./", "/"},
		{"/../", "/"},
		{"/a/.", "/a/"},
		{"/a/..", "/"},
		{"/a/../", "/"},
		{"/a/b/../c", "/a/c"},
		{"/a/b/../../c", "/c"},
		{"/a/b/../../../../c", "/c"},
		{"/a/./b", "/a/b"},
		{"/a/b/./../c/", "/a/c/"},
		{"/a/.b/c", "/a/.b/c"},
		{"/a/b../c", "/a/b../c"},
		{"/a/.../c", "/a/.../c"},
		{"/%2e", "/"},
		{"/%2E%2e", "/"},
		{"/a/.%2e/b", "/b"},
		{"/a/%2e./b", "/b"},
		{"/a/%2e%2e%2e/b", "/a/.../b"},
		{"/a/%2e/b", "/a/b"},
		{"/a/%2ex", "/a/.x"},
		{"/a/%2F../b", "/a/%2F../b"}, // %2F is not a separator: "%2F.." is no dot-segment
		{"/a/%2F/../b", "/a/b"},      // the "%2F" segment is popped
		// Mixed.
		{"/A/./B//%63/../%64%2f/", "/A/B/d%2F/"},
		{"//..//.//a", "/a"},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
		kind Kind
	}{
		{"", "must start with /", NoLeadingSlash},
		{"a/b", "must start with /", NoLeadingSlash},
		{"%2F", "must start with /", NoLeadingSlash},
		{"*", "must start with /", NoLeadingSlash},
		{"/a b", "invalid byte 0x20 at offset 2", InvalidByte},
		{"/a\x00", "invalid byte 0x00 at offset 2", InvalidByte},
		{"/\x1f", "invalid byte 0x1F at offset 1", InvalidByte},
		{"/a\x7f", "invalid byte 0x7F at offset 2", InvalidByte},
		{"/\t", "invalid byte 0x09 at offset 1", InvalidByte},
		{"/a/../\n", "invalid byte 0x0A at offset 6", InvalidByte},
		{"/%", "invalid percent-encoding at offset 1", InvalidEscape},
		{"/%4", "invalid percent-encoding at offset 1", InvalidEscape},
		{"/ab%", "invalid percent-encoding at offset 3", InvalidEscape},
		{"/%zz", "invalid percent-encoding at offset 1", InvalidEscape},
		{"/%4g", "invalid percent-encoding at offset 1", InvalidEscape},
		{"/%g4", "invalid percent-encoding at offset 1", InvalidEscape},
		{"/a%2", "invalid percent-encoding at offset 2", InvalidEscape},
		{"/%%41", "invalid percent-encoding at offset 1", InvalidEscape},
		{"/%41%", "invalid percent-encoding at offset 4", InvalidEscape},
		// The first offending byte wins, even after work was found.
		{"//a/../%x b", "invalid percent-encoding at offset 7", InvalidEscape},
		{"/a/..// %", "invalid byte 0x20 at offset 7", InvalidByte},
		// A '%' in an escape's hex position is itself invalid.
		{"/%%", "invalid percent-encoding at offset 1", InvalidEscape},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Normalize(%q) = %q, %v; want *Error %q", tt.in, got, err, tt.want)
			continue
		}
		if got != "" || e.Error() != tt.want || e.Kind != tt.kind {
			t.Errorf("Normalize(%q) = %q, %q (kind %d); want %q (kind %d)", tt.in, got, e, e.Kind, tt.want, tt.kind)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct{ in, path, query string }{
		{"", "", ""},
		{"/", "/", ""},
		{"/a/b", "/a/b", ""},
		{"/a?x=1", "/a", "?x=1"},
		{"/a?", "/a", "?"},
		{"/a?a=1&b=2", "/a", "?a=1&b=2"},
		{"/a#frag", "/a", ""},
		{"/a#frag?x", "/a", ""},
		{"/a?x=1#frag", "/a", "?x=1"},
		{"/a?x=1#", "/a", "?x=1"},
		{"/a?#x", "/a", "?"},
		{"/a?x?y", "/a", "?x?y"},
		{"?x", "", "?x"},
		{"#x", "", ""},
	}
	for _, tt := range tests {
		path, query := Split(tt.in)
		if path != tt.path || query != tt.query {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.in, path, query, tt.path, tt.query)
		}
	}
}

func TestSplitNormal(t *testing.T) {
	tests := []struct {
		in          string
		path, query string
		ok          bool
	}{
		{"/", "/", "", true},
		{"/a/b", "/a/b", "", true},
		{"/a/b/", "/a/b/", "", true},
		{"/a.b/c..d/e.", "/a.b/c..d/e.", "", true},
		{"/é/ü", "/é/ü", "", true},
		{"/a?x=1", "/a", "?x=1", true},
		{"/a?", "/a", "?", true},
		{"/?a//b/../%zz", "/", "?a//b/../%zz", true},
		{"/a?x?y", "/a", "?x?y", true},
		{"/a?x b", "/a", "?x b", true}, // the query is validated apart
		// What needs Split and Normalize, or is rejected by them.
		{"", "", "", false},
		{"a", "", "", false},
		{"?x", "", "", false},
		{"//", "", "", false},
		{"/a//b", "", "", false},
		{"/.", "", "", false},
		{"/a/..", "", "", false},
		{"/a/./b", "", "", false},
		{"/a/.b", "", "", false}, // normal, but not worth the fast path's while
		{"/a/.?x", "", "", false},
		{"/a%41", "", "", false},
		{"/a%2F", "", "", false},
		{"/a b", "", "", false},
		{"/a\x7f", "", "", false},
		{"/a#f", "", "", false},
		{"/a?x#f", "", "", false},
	}
	for _, tt := range tests {
		path, query, ok := SplitNormal(tt.in)
		if path != tt.path || query != tt.query || ok != tt.ok {
			t.Errorf("SplitNormal(%q) = %q, %q, %v; want %q, %q, %v", tt.in, path, query, ok, tt.path, tt.query, tt.ok)
		}
		checkSplitNormal(t, tt.in)
	}
}

// checkSplitNormal checks that SplitNormal agrees with Split and Normalize
// when it takes target.
func checkSplitNormal(t *testing.T, target string) {
	t.Helper()
	path, query, ok := SplitNormal(target)
	if !ok {
		return
	}
	wantPath, wantQuery := Split(target)
	norm, err := Normalize(wantPath)
	if path != wantPath || query != wantQuery || err != nil || norm != path {
		t.Fatalf("SplitNormal(%q) = %q, %q; Split gives %q, %q and Normalize %q, %v",
			target, path, query, wantPath, wantQuery, norm, err)
	}
}

func TestValidateQuery(t *testing.T) {
	for _, q := range []string{"", "?", "?a=1&b=2", "?%zz", "?é=ü", "?a/b?c"} {
		if err := ValidateQuery(q); err != nil {
			t.Errorf("ValidateQuery(%q) = %v; want nil", q, err)
		}
	}
	tests := []struct{ in, want string }{
		{"?a b", "invalid byte 0x20 at offset 2"},
		{"?\x00", "invalid byte 0x00 at offset 1"},
		{"?a=1\x7f", "invalid byte 0x7F at offset 4"},
		{"?a=\r\n", "invalid byte 0x0D at offset 3"},
	}
	for _, tt := range tests {
		err := ValidateQuery(tt.in)
		var e *Error
		if !errors.As(err, &e) || e.Error() != tt.want || e.Kind != InvalidByte {
			t.Errorf("ValidateQuery(%q) = %v; want %q", tt.in, err, tt.want)
		}
	}
}

func TestAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumented build")
	}
	tests := []struct {
		in   string
		want float64
	}{
		{"/api/v1/users/12345/profile", 0},
		{"/a%2Fb/%C3%A9/", 0},
		{"/api//v1/./users/%2e%2e/12345/%7eprofile", 1},
		{"/" + strings.Repeat("a/", 100) + "..", 2}, // more segments than the stack buffer
	}
	for _, tt := range tests {
		n := testing.AllocsPerRun(100, func() {
			if _, err := Normalize(tt.in); err != nil {
				t.Fatal(err)
			}
		})
		if n > tt.want {
			t.Errorf("Normalize(%q): %v allocs; want %v", tt.in, n, tt.want)
		}
	}
	for _, target := range []string{"/a?b=1#c", "/a#b"} {
		if n := testing.AllocsPerRun(100, func() { Split(target) }); n != 0 {
			t.Errorf("Split(%q): %v allocs; want 0", target, n)
		}
	}
}

// reference is a deliberately naive Normalize used to cross-check the real
// one: validate, decode each '/'-separated segment, then resolve dots with a
// stack.
func reference(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", &Error{Kind: NoLeadingSlash}
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c < 0x20 || c == ' ' || c == 0x7F {
			return "", &Error{Kind: InvalidByte, Offset: i, Byte: c}
		}
		if c == '%' {
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return "", &Error{Kind: InvalidEscape, Offset: i}
			}
			i += 2
		}
	}
	parts := strings.Split(path[1:], "/")
	var out []string
	for i, p := range parts {
		var d strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] != '%' {
				d.WriteByte(p[j])
				continue
			}
			c := unhex(p[j+1])<<4 | unhex(p[j+2])
			if unreserved(c) {
				d.WriteByte(c)
			} else {
				d.WriteString("%" + strings.ToUpper(p[j+1:j+3]))
			}
			j += 2
		}
		seg := d.String()
		last := i == len(parts)-1
		switch seg {
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			fallthrough
		case ".", "":
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/"), nil
}

func isHex(c byte) bool { return unhex(c) != 0xFF }

// checkNormal reports why s is not in normal form, or "" if it is.
func checkNormal(s string) string {
	switch {
	case !strings.HasPrefix(s, "/"):
		return "does not start with /"
	case strings.Contains(s, "//"):
		return "holds //"
	case strings.Contains(s, "/./"), strings.HasSuffix(s, "/."):
		return "holds a . segment"
	case strings.Contains(s, "/../"), strings.HasSuffix(s, "/.."):
		return "holds a .. segment"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == ' ' || c == 0x7F {
			return "holds an invalid byte"
		}
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "holds an invalid escape"
		}
		if strings.ContainsAny(s[i+1:i+3], "abcdef") {
			return "holds a lower-case escape"
		}
		if unreserved(unhex(s[i+1])<<4 | unhex(s[i+2])) {
			return "holds an escaped unreserved byte"
		}
		i += 2
	}
	return ""
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"/", "//", "/a/b/c", "/web/../api/x", "/a/%2e%2E/b", "/a/b/..", "/a/./b/.",
		"//a///b", "/../..", "/%7euser/%2f", "/a%41", "/a b", "/%", "/%zz", "a",
		"/%2e%2e/%2E/x/", "/é/%c3%a9", "/a/%2F/../b", "", "/a\x7f",
		"/a?b", "/a/b?x=1#f", "/a#f", "/a/.?x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// The input as a target: the fast path must agree with the slow one.
		checkSplitNormal(t, in)
		got, err := Normalize(in)
		want, wantErr := reference(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Normalize(%q): error %T, want *Error", in, err)
			}
			var we *Error
			if !errors.As(wantErr, &we) || *e != *we {
				t.Fatalf("Normalize(%q) = %v; reference says %v", in, err, wantErr)
			}
			if got != "" {
				t.Fatalf("Normalize(%q) = %q with an error", in, got)
			}
			return
		}
		if wantErr != nil {
			t.Fatalf("Normalize(%q) = %q; reference says %v", in, got, wantErr)
		}
		if got != want {
			t.Fatalf("Normalize(%q) = %q; reference says %q", in, got, want)
		}
		if why := checkNormal(got); why != "" {
			t.Fatalf("Normalize(%q) = %q, which %s", in, got, why)
		}
		if len(got) > len(in) {
			t.Fatalf("Normalize(%q) = %q, longer than its input", in, got)
		}
		again, err := Normalize(got)
		if err != nil || again != got {
			t.Fatalf("Normalize(Normalize(%q)) = %q, %v; want %q", in, again, err, got)
		}
		// A normal input comes back as is.
		if checkNormal(in) == "" && got != in {
			t.Fatalf("Normalize(%q) = %q; the input was already normal", in, got)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	for _, bb := range []struct{ name, path string }{
		{"Normal", "/api/v1/users/12345/profile"},
		{"Work", "/api//v1/./users/%2e%2e/12345/%7eprofile"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.path)))
			for b.Loop() {
				if _, err := Normalize(bb.path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
