package httpmsg

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		typicalHead,
		"GET / HTTP/1.1",
		"GET / HTTP/1.1\nHost: a\n\nbody",
		"GET / HTTP/2.0\r\n\r\n",
		"GET http://h/ HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nA : b\r\n",
		"GET / HTTP/1.1\r\n folded\r\n",
		"GET / HTTP/1.1\r\nX: a\rb\r\n",
		"GET / HTTP/1.1\r\nX: \x00\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n",
		"\r\nGET / HTTP/1.1\r\n",
		"GET / HTTP/1.1\r\n" + headers(MaxHeaders+1),
		" \t\r\n",
	} {
		f.Add(s)
	}
	reasons := []error{ErrBadRequestLine, ErrUnsupportedVersion, ErrInvalidHeaderName,
		ErrSpaceBeforeColon, ErrMissingColon, ErrObsFold, ErrInvalidHeaderValue,
		ErrDuplicateHost, ErrTooManyHeaders, ErrHeadTooLarge, ErrBareCR}

	f.Fuzz(func(t *testing.T, raw string) {
		var h Head
		err := ParseHead(raw, &h)

		// A Head full of another request's fields gives the same answer.
		used := Head{"X", "Y", "Z", make([]Field, 3, 200)}
		used.Fields[0] = Field{"Host", "other"}
		if err2 := ParseHead(raw, &used); !reflect.DeepEqual(err, err2) ||
			(err == nil && !reflect.DeepEqual(h.Fields, used.Fields) && len(h.Fields)+len(used.Fields) > 0) {
			t.Fatalf("reused Head: %v vs %v", err2, err)
		}

		if err != nil {
			var he *HeadError
			if !errors.As(err, &he) {
				t.Fatalf("error %T %v is not a *HeadError", err, err)
			}
			known := false
			for _, r := range reasons {
				known = known || he.Err == r
			}
			if !known || err.Error() == "" {
				t.Fatalf("unknown reason %v", err)
			}
			return
		}

		if !ValidToken(h.Method) {
			t.Errorf("method %q is not a token", h.Method)
		}
		if h.Target == "" || strings.ContainsAny(h.Target, " \r\n") {
			t.Errorf("bad target %q", h.Target)
		}
		if h.Proto != "HTTP/1.1" && h.Proto != "HTTP/1.0" {
			t.Errorf("bad proto %q", h.Proto)
		}
		if len(h.Fields) > MaxHeaders {
			t.Errorf("%d fields", len(h.Fields))
		}
		hosts := 0
		for _, fl := range h.Fields {
			if !ValidToken(fl.Name) {
				t.Errorf("name %q is not a token", fl.Name)
			}
			if !ValidFieldValue(fl.Value) || strings.ContainsAny(fl.Value, "\r\n") {
				t.Errorf("bad value %q", fl.Value)
			}
			if fl.Value != TrimOWS(fl.Value) {
				t.Errorf("untrimmed value %q", fl.Value)
			}
			if strings.EqualFold(fl.Name, "host") {
				hosts++
			}
		}
		if hosts > 1 {
			t.Errorf("%d Host fields", hosts)
		}
		if end := headEnd(raw); end > MaxHeadBytes {
			t.Errorf("accepted a head of %d bytes", end)
		}

		// What was accepted, written back canonically, parses the same.
		var b strings.Builder
		b.WriteString(h.Method + " " + h.Target + " " + h.Proto + "\r\n")
		for _, fl := range h.Fields {
			b.WriteString(fl.Name + ": " + fl.Value + "\r\n")
		}
		b.WriteString("\r\n")
		var h2 Head
		if err := ParseHead(b.String(), &h2); err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if h2.Method != h.Method || h2.Target != h.Target || h2.Proto != h.Proto ||
			len(h2.Fields) != len(h.Fields) || (len(h.Fields) > 0 && !reflect.DeepEqual(h2.Fields, h.Fields)) {
			t.Fatalf("re-parse differs: %+v vs %+v", h2, h)
		}
	})
}

// headEnd is a slow, obviously correct length of the head in raw: up to and
// including its first empty line, or all of raw.
func headEnd(raw string) int {
	pos := 0
	for pos < len(raw) {
		nl := strings.IndexByte(raw[pos:], '\n')
		if nl < 0 {
			return len(raw)
		}
		line := raw[pos : pos+nl]
		pos += nl + 1
		if line == "" || line == "\r" {
			return pos
		}
	}
	return len(raw)
}

func FuzzCookieValue(f *testing.F) {
	for _, s := range [][2]string{
		{"a=1; b=2", "b"},
		{`session_id="lb-1"; backend=s2`, "session_id"},
		{" a = 1 ;; =x; c", "c"},
		{"a=1; a=2", "a"},
		{"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, header, name string) {
		v, ok := CookieValue(header, name)
		if ok && !strings.Contains(header, v) {
			t.Fatalf("value %q is not from the header", v)
		}

		// CookieValue is the first non-empty match of EachCookie.
		var names, values []string
		var first string
		found := false
		EachCookie(header, func(n, v string) bool {
			if n == "" || n != TrimOWS(n) || strings.Contains(n, ";") || strings.Contains(v, ";") {
				t.Fatalf("bad pair %q=%q", n, v)
			}
			if n == name && v != "" && !found {
				first, found = v, true
			}
			names, values = append(names, n), append(values, v)
			return true
		})
		if ok != found || v != first {
			t.Fatalf("CookieValue = %q, %v; EachCookie's first = %q, %v", v, ok, first, found)
		}

		// Where net/http keeps every pair, it reads them as we do, except
		// that it keeps OWS between "=" and an unquoted value, which we drop.
		// Its trimming also eats CR and LF, which a parsed Cookie field never
		// holds.
		if strings.ContainsAny(header, "\r\n") {
			return
		}
		r := http.Request{Header: http.Header{"Cookie": {header}}}
		std := r.Cookies()
		if len(std) != len(names) {
			return // net/http dropped a pair it deems invalid
		}
		for i, c := range std {
			want := c.Value
			if !c.Quoted {
				want = TrimOWS(want)
			}
			if c.Name != names[i] || want != values[i] {
				t.Fatalf("pair %d: net/http %q=%q, we %q=%q", i, c.Name, c.Value, names[i], values[i])
			}
		}
	})
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"Shop.Example.COM.:8080", "[::1]:80", "[::1]", "::1", "a:1.", "", "x..:", "shop.example.com", "@z["} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n := NormalizeHost(h)
		if slow := normalizeHost(h); n != slow {
			t.Fatalf("NormalizeHost(%q) = %q; without the fast path, %q", h, n, slow)
		}
		if again := NormalizeHost(n); again != n {
			t.Fatalf("NormalizeHost(%q) = %q, then %q", h, n, again)
		}
		if strings.HasSuffix(n, ".") {
			t.Fatalf("NormalizeHost(%q) = %q ends in a dot", h, n)
		}
		lower := []byte(h)
		for i, c := range lower {
			lower[i] = lowerASCII(c)
		}
		if !strings.HasPrefix(string(lower), n) {
			t.Fatalf("NormalizeHost(%q) = %q is not a lowered prefix", h, n)
		}
	})
}

// FuzzValidHost: a host ValidHost accepts is one net/url reads back as the
// host of an http URL, whole; and RequestHost never names a host
// ValidHost refuses.
func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"a.example:80", "[::1]:8080", "[v1.x]", "a%41", "a b", "[::1", "u@a", ":80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidHost(s) && s != "" {
			u, err := url.Parse("http://" + s + "/")
			if err != nil || u.Host != s {
				t.Fatalf("ValidHost(%q), but net/url reads %v, %v", s, u, err)
			}
		}
		if host, err := RequestHost("http://"+s+"/p", "a"); err == nil && !ValidHost(host) {
			t.Fatalf("RequestHost gave %q", host)
		}
	})
}
