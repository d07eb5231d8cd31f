package httpmsg

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// headers returns n lines "X-Hn: v\r\n".
func headers(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("X-H" + strconv.Itoa(i) + ": v\r\n")
	}
	return b.String()
}

// padded returns a head of exactly size bytes, ending in "\r\n\r\n", whose
// one header's value fills the gap.
func padded(size int) string {
	const start, name, end = "GET / HTTP/1.1\r\n", "X-Pad: ", "\r\n\r\n"
	return start + name + strings.Repeat("a", size-len(start)-len(name)-len(end)) + end
}

func TestParseHeadAccepts(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Head
	}{
		{"request line only", "GET / HTTP/1.1",
			Head{Method: "GET", Target: "/", Proto: "HTTP/1.1"}},
		{"request line and CRLF", "GET / HTTP/1.1\r\n",
			Head{Method: "GET", Target: "/", Proto: "HTTP/1.1"}},
		{"CRLF head", "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
			Head{"GET", "/a?b=1", "HTTP/1.1", []Field{{"Host", "x"}, {"Accept", "*/*"}}}},
		{"LF head", "GET / HTTP/1.1\nHost: x\nA: b\n\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"Host", "x"}, {"A", "b"}}}},
		{"mixed line endings", "GET / HTTP/1.1\nHost: x\r\nA: b\n\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"Host", "x"}, {"A", "b"}}}},
		{"last line without terminator", "GET / HTTP/1.1\r\nHost: x",
			Head{"GET", "/", "HTTP/1.1", []Field{{"Host", "x"}}}},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n",
			Head{Method: "GET", Target: "/", Proto: "HTTP/1.0"}},
		{"extension method", "M-SEARCH * HTTP/1.1\r\n\r\n",
			Head{Method: "M-SEARCH", Target: "*", Proto: "HTTP/1.1"}},
		{"lower-case method is a token", "get / HTTP/1.1",
			Head{Method: "get", Target: "/", Proto: "HTTP/1.1"}},
		{"absolute-form", "GET http://Shop.Example.com:8080/x?y HTTP/1.1",
			Head{Method: "GET", Target: "http://Shop.Example.com:8080/x?y", Proto: "HTTP/1.1"}},
		{"authority-form", "CONNECT h:443 HTTP/1.1",
			Head{Method: "CONNECT", Target: "h:443", Proto: "HTTP/1.1"}},
		{"target with control byte left to the path check", "GET /a\x01\x7fb HTTP/1.1",
			Head{Method: "GET", Target: "/a\x01\x7fb", Proto: "HTTP/1.1"}},
		{"target with tab left to the path check", "GET /a\tb HTTP/1.1",
			Head{Method: "GET", Target: "/a\tb", Proto: "HTTP/1.1"}},
		{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1",
			Head{Method: "GET", Target: "/caf\xc3\xa9", Proto: "HTTP/1.1"}},
		{"value trimmed of SP and HTAB", "GET / HTTP/1.1\r\nX: \t a \t b \t\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"X", "a \t b"}}}},
		{"no space after colon", "GET / HTTP/1.1\r\nX:a\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"X", "a"}}}},
		{"empty value", "GET / HTTP/1.1\r\nX:\r\nY: \t\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"X", ""}, {"Y", ""}}}},
		{"colon in value", "GET / HTTP/1.1\r\nHost: h:80\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"Host", "h:80"}}}},
		{"obs-text in value", "GET / HTTP/1.1\r\nX: caf\xc3\xa9 \xff\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"X", "caf\xc3\xa9 \xff"}}}},
		{"every tchar in a name", "GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"!#$%&'*+-.^_`|~09azAZ", "v"}}}},
		{"repeated fields kept in order", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\na: 3\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"A", "1"}, {"B", "2"}, {"a", "3"}}}},
		{"anything after the empty line ignored",
			"GET / HTTP/1.1\r\nHost: x\r\n\r\nHost: y\r\n\x00 bare\rCR\r\n",
			Head{"GET", "/", "HTTP/1.1", []Field{{"Host", "x"}}}},
		{"LF empty line ends the head", "GET / HTTP/1.1\nA: 1\n\n\nB: 2",
			Head{"GET", "/", "HTTP/1.1", []Field{{"A", "1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Head
			if err := ParseHead(tt.raw, &h); err != nil {
				t.Fatalf("ParseHead(%q) = %v", tt.raw, err)
			}
			if len(h.Fields) == 0 {
				h.Fields = nil
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("ParseHead(%q) =\n%+v, want\n%+v", tt.raw, h, tt.want)
			}
		})
	}
}

func TestParseHeadLimitsAccept(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		fields int
	}{
		{"exactly 100 headers", "GET / HTTP/1.1\r\n" + headers(MaxHeaders) + "\r\n", MaxHeaders},
		{"exactly 100 headers, one Host", "GET / HTTP/1.1\r\nHost: h\r\n" + headers(MaxHeaders-1), MaxHeaders},
		{"head of exactly 65536 bytes", padded(MaxHeadBytes), 1},
		{"head of 65536 bytes without its empty line", strings.TrimSuffix(padded(MaxHeadBytes+2), "\r\n"), 1},
		{"LF-ended head of 65536 bytes", strings.TrimSuffix(padded(MaxHeadBytes+2), "\r\n\r\n") + "\n\n", 1},
		{"small head, large body", "GET / HTTP/1.1\r\nA: b\r\n\r\n" + strings.Repeat("x", 2*MaxHeadBytes), 1},
		{"small LF head, large body", "GET / HTTP/1.1\nA: b\n\n" + strings.Repeat("x", 2*MaxHeadBytes), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Head
			if err := ParseHead(tt.raw, &h); err != nil {
				t.Fatalf("ParseHead(%d bytes) = %v", len(tt.raw), err)
			}
			if len(h.Fields) != tt.fields {
				t.Errorf("got %d fields, want %d", len(h.Fields), tt.fields)
			}
		})
	}
}

func TestParseHeadRejects(t *testing.T) {
	const rl = "GET / HTTP/1.1\r\n"
	tests := []struct {
		name string
		raw  string
		want string
	}{
		// Request line.
		{"empty", "", "bad request line"},
		{"space only", " ", "bad request line"},
		{"whitespace only", " \t\r\n \n", "bad request line"},
		{"CR only", "\r", "bad request line"},
		{"CRLF only", "\r\n", "bad request line"},
		{"LF only", "\n", "bad request line"},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\n\r\n", "bad request line"},
		{"leading LF", "\nGET / HTTP/1.1\r\n\r\n", "bad request line"},
		{"one part", "GET", "bad request line"},
		{"two parts", "GET /", "bad request line"},
		{"four parts", "GET / HTTP/1.1 x", "bad request line"},
		{"trailing space", "GET / HTTP/1.1 ", "bad request line"},
		{"leading space", " GET / HTTP/1.1", "bad request line"},
		{"double space", "GET  / HTTP/1.1", "bad request line"},
		{"empty target", "GET  HTTP/1.1", "bad request line"},
		{"tab separator", "GET\t/\tHTTP/1.1", "bad request line"},
		{"method not a token", "G(T / HTTP/1.1", "bad request line"},
		{"method with non-ASCII", "G\xc3\x89T / HTTP/1.1", "bad request line"},
		{"empty method", " / HTTP/1.1", "bad request line"},
		{"lower-case version", "GET / http/1.1", "unsupported version http/1.1"},
		{"version without minor", "GET / HTTP/2", "unsupported version HTTP/2"},
		{"two-digit minor", "GET / HTTP/1.10", "unsupported version HTTP/1.10"},
		{"other protocol", "GET / HTTPS/1.1", "unsupported version HTTPS/1.1"},
		{"version with a letter", "GET / HTTP/1.x", "unsupported version HTTP/1.x"},
		{"version with trailing tab", "GET / HTTP/1.1\t", "unsupported version HTTP/1.1\t"},
		{"not a version at all", "GET / FOO", "unsupported version FOO"},
		{"empty version", "GET / ", "bad request line"},
		{"bad method beats bad version", "G(T / HTTP/2.0", "bad request line"},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", "unsupported version HTTP/2.0"},
		{"HTTP/0.9", "GET / HTTP/0.9", "unsupported version HTTP/0.9"},
		{"HTTP/1.2", "GET / HTTP/1.2", "unsupported version HTTP/1.2"},
		{"HTTP/3.0", "GET / HTTP/3.0", "unsupported version HTTP/3.0"},

		// Header names.
		{"name with @", rl + "Bad@Name: x\r\n", "invalid header name at line 2"},
		{"name with (", rl + "Na(me: x\r\n", "invalid header name at line 2"},
		{"name with inner space", rl + "Bad Name: x\r\n", "invalid header name at line 2"},
		{"name with NUL", rl + "A\x00: x\r\n", "invalid header name at line 2"},
		{"non-ASCII name", rl + "\xc3\xbc: x\r\n", "invalid header name at line 2"},
		{"empty name", rl + ": x\r\n", "invalid header name at line 2"},
		{"colon only", rl + ":\r\n", "invalid header name at line 2"},
		{"invalid name on line 4", rl + "A: 1\r\nB: 2\r\n{}: 3\r\n", "invalid header name at line 4"},

		// Whitespace before colon.
		{"space before colon", rl + "Host : x\r\n", "whitespace before colon at line 2"},
		{"tab before colon", rl + "Host\t: x\r\n", "whitespace before colon at line 2"},
		{"bad name and space before colon", rl + "Bad Name : x\r\n", "whitespace before colon at line 2"},
		{"space before colon on line 3", rl + "A: 1\nContent-Length : 5\n", "whitespace before colon at line 3"},

		// Missing colon.
		{"no colon", rl + "NoColon\r\n", "missing colon at line 2"},
		{"no colon, spaces", rl + "X-A x\r\n", "missing colon at line 2"},
		{"no colon, last line unterminated", rl + "A: 1\r\nB", "missing colon at line 3"},

		// obs-fold.
		{"fold with space", rl + "A: 1\r\n continued\r\n", "obs-fold at line 3"},
		{"fold with tab", rl + "A: 1\r\n\tcontinued\r\n", "obs-fold at line 3"},
		{"space right after request line", rl + " Host: x\r\n", "obs-fold at line 2"},
		{"whitespace-only line", rl + "A: 1\r\n \r\n\r\n", "obs-fold at line 3"},

		// Values.
		{"NUL in value", rl + "X: a\x00b\r\n", "invalid header value at line 2"},
		{"SOH in value", rl + "X: \x01\r\n", "invalid header value at line 2"},
		{"VT in value", rl + "X: a\vb\r\n", "invalid header value at line 2"},
		{"US in value", rl + "X: a\x1fb\r\n", "invalid header value at line 2"},
		{"DEL in value", rl + "X: a\x7fb\r\n", "invalid header value at line 2"},
		{"ESC at the end of a value", rl + "A: 1\nX: a\x1b\n", "invalid header value at line 3"},

		// Host.
		{"two Host", rl + "Host: a\r\nHost: b\r\n", "more than one Host"},
		{"two equal Host", rl + "Host: a\r\nHost: a\r\n", "more than one Host"},
		{"Host in other case", rl + "Host: a\r\nhOST: b\r\n", "more than one Host"},
		{"two empty Host", rl + "host:\r\nHOST:\r\n", "more than one Host"},
		{"two Host apart", rl + "Host: a\r\nX: 1\r\nY: 2\r\nHost: a\r\n", "more than one Host"},

		// Limits.
		{"101 headers", rl + headers(MaxHeaders+1) + "\r\n", "more than 100 headers"},
		{"101 headers, last unterminated", rl + headers(MaxHeaders) + "X: y", "more than 100 headers"},
		{"head of 65537 bytes", padded(MaxHeadBytes + 1), "head larger than 65536 bytes"},
		{"no empty line, 65537 bytes", strings.TrimSuffix(padded(MaxHeadBytes+3), "\r\n"), "head larger than 65536 bytes"},
		{"no empty line, huge", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 1<<20), "head larger than 65536 bytes"},
		{"empty line just past the limit", strings.TrimSuffix(padded(MaxHeadBytes+3), "\r\n\r\n") + "\n\n", "head larger than 65536 bytes"},

		// Bare CR.
		{"CR inside request line", "GET / HTTP/1.1\rHost: x\r\n", "bare CR at line 1"},
		{"CR in method", "G\rET / HTTP/1.1\r\n", "bare CR at line 1"},
		{"CR in target", "GET /a\rb HTTP/1.1\r\n", "bare CR at line 1"},
		{"CR at end of raw after request line", "GET / HTTP/1.1\r", "bare CR at line 1"},
		{"CR after version", "GET / HTTP/1.1\r\r\n", "bare CR at line 1"},
		{"CR CR LF after version 2.0", "GET / HTTP/2.0\r\r\n", "bare CR at line 1"},
		{"CR in value", rl + "X: a\rb\r\n", "bare CR at line 2"},
		{"CR CR LF after a value", rl + "X: a\r\r\n", "bare CR at line 2"},
		{"CR at end of raw after a value", rl + "X: a\r", "bare CR at line 2"},
		{"CR in name", rl + "Ho\rst: x\r\n", "bare CR at line 2"},
		{"CR before colon", rl + "Host\r: x\r\n", "bare CR at line 2"},
		{"CR in a line without colon", rl + "A\rB\r\n", "bare CR at line 2"},
		{"CR starting a folded line", rl + "A: 1\r\n \rx\r\n", "bare CR at line 3"},
		{"lone CR instead of the empty line", rl + "A: 1\r\n\r", "bare CR at line 3"},
		{"CR line numbering across LF lines", "GET / HTTP/1.1\nA: 1\nB: 2\r\nC: \r3\n", "bare CR at line 4"},

		// Precedence: the first problem in reading order, size first.
		{"first error wins", rl + "Bad Name: x\r\nHost: a\r\nHost: b\r\n", "invalid header name at line 2"},
		{"duplicate Host before a later bad line", rl + "Host: a\r\nHost: b\r\n: x\r\n", "more than one Host"},
		{"size checked before the request line", "BAD" + strings.Repeat("a", MaxHeadBytes), "head larger than 65536 bytes"},
		{"101st header validated before being counted", rl + headers(MaxHeaders) + "Bad Name: x\r\n", "invalid header name at line 102"},
		{"duplicate Host past 100 headers", rl + "Host: a\r\n" + headers(MaxHeaders-1) + "Host: b\r\n", "more than one Host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Head
			err := ParseHead(tt.raw, &h)
			if err == nil {
				t.Fatalf("ParseHead(%.80q) = nil, want %q", tt.raw, tt.want)
			}
			if _, ok := err.(*HeadError); !ok {
				t.Errorf("ParseHead(%.80q) error is %T, want *HeadError", tt.raw, err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("ParseHead(%.80q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestHeadError(t *testing.T) {
	// The texts are docs/protocol.md's "raw" reasons without "raw: ".
	tests := []struct {
		err  *HeadError
		want string
	}{
		{&HeadError{Err: ErrBadRequestLine}, "bad request line"},
		{&HeadError{Err: ErrUnsupportedVersion, Version: "HTTP/2.0"}, "unsupported version HTTP/2.0"},
		{&HeadError{Err: ErrInvalidHeaderName, Line: 2}, "invalid header name at line 2"},
		{&HeadError{Err: ErrSpaceBeforeColon, Line: 3}, "whitespace before colon at line 3"},
		{&HeadError{Err: ErrMissingColon, Line: 4}, "missing colon at line 4"},
		{&HeadError{Err: ErrObsFold, Line: 5}, "obs-fold at line 5"},
		{&HeadError{Err: ErrInvalidHeaderValue, Line: 6}, "invalid header value at line 6"},
		{&HeadError{Err: ErrDuplicateHost}, "more than one Host"},
		{&HeadError{Err: ErrTooManyHeaders}, "more than 100 headers"},
		{&HeadError{Err: ErrHeadTooLarge}, "head larger than 65536 bytes"},
		{&HeadError{Err: ErrBareCR, Line: 101}, "bare CR at line 101"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, tt.err.Err) {
			t.Errorf("errors.Is(%q, its reason) = false", tt.want)
		}
	}

	var h Head
	err := ParseHead("GET / HTTP/1.1\r\nA: 1\r\nB : 2\r\n", &h)
	var he *HeadError
	if !errors.As(err, &he) || he.Err != ErrSpaceBeforeColon || he.Line != 3 {
		t.Errorf("ParseHead error = %#v, want ErrSpaceBeforeColon at line 3", err)
	}
	err = ParseHead("GET / HTTP/1.9", &h)
	if !errors.As(err, &he) || he.Err != ErrUnsupportedVersion || he.Version != "HTTP/1.9" || he.Line != 0 {
		t.Errorf("ParseHead error = %#v, want ErrUnsupportedVersion HTTP/1.9", err)
	}
}

func TestParseHeadReuse(t *testing.T) {
	var h Head
	big := "POST /big HTTP/1.1\r\nHost: a\r\n" + headers(20) + "\r\n"
	if err := ParseHead(big, &h); err != nil {
		t.Fatal(err)
	}
	c := cap(h.Fields)
	if err := ParseHead("GET /small HTTP/1.0\nB: 2\n", &h); err != nil {
		t.Fatal(err)
	}
	want := Head{"GET", "/small", "HTTP/1.0", []Field{{"B", "2"}}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("after reuse got %+v, want %+v", h, want)
	}
	if cap(h.Fields) != c {
		t.Errorf("capacity changed from %d to %d", c, cap(h.Fields))
	}
	// Slots past the length must not keep the previous raw alive.
	for i, f := range h.Fields[1:cap(h.Fields)] {
		if f != (Field{}) {
			t.Fatalf("stale field %d: %+v", i+1, f)
		}
	}
	// A failed parse resets what it had filled in, too.
	if err := ParseHead("GET / HTTP/1.1\r\nA: 1\r\nBad Name: 2\r\n", &h); err == nil {
		t.Fatal("want an error")
	}
	if err := ParseHead("PUT /p HTTP/1.1", &h); err != nil || len(h.Fields) != 0 || h.Method != "PUT" {
		t.Errorf("after a failed parse: %+v, %v", h, err)
	}
}

func TestParseHeadAllocs(t *testing.T) {
	var h Head
	raw := typicalHead
	if err := ParseHead(raw, &h); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseHead(raw, &h); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseHead with a reused Head: %v allocs, want 0", n)
	}
}

func TestValidToken(t *testing.T) {
	for _, s := range []string{"GET", "get", "M-SEARCH", "x", "!#$%&'*+-.^_`|~", "0123456789", "AZaz"} {
		if !ValidToken(s) {
			t.Errorf("ValidToken(%q) = false", s)
		}
	}
	for _, s := range []string{"", " ", "a b", "a:b", "a\tb", "(", ")", ",", "/", ";", "<", "=", ">", "?", "@",
		"[", "\\", "]", "{", "}", "\"", "\x00", "\x7f", "\x80", "\xc3\xa9", "GET\r"} {
		if ValidToken(s) {
			t.Errorf("ValidToken(%q) = true", s)
		}
	}
	// Exactly the RFC 9110 tchars.
	const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for c := range 256 {
		if got, want := ValidToken(string([]byte{byte(c)})), strings.IndexByte(tchars, byte(c)) >= 0; got != want {
			t.Errorf("ValidToken(%q) = %v, want %v", byte(c), got, want)
		}
	}
}

func TestValidFieldValue(t *testing.T) {
	for _, s := range []string{"", "a", "a b", "a\tb", "\t", " x ", "caf\xc3\xa9", "\x80\xff", "~!\"#"} {
		if !ValidFieldValue(s) {
			t.Errorf("ValidFieldValue(%q) = false", s)
		}
	}
	for _, s := range []string{"\x00", "a\rb", "a\nb", "\x01", "\x1f", "\x7f", "a\x0b", "x\x1b[0m"} {
		if ValidFieldValue(s) {
			t.Errorf("ValidFieldValue(%q) = true", s)
		}
	}
	// Every byte at every position of a word-sized scan and its tail.
	for c := range 256 {
		want := c >= 0x20 && c != 0x7f || c == '\t'
		for pos := range 17 {
			b := []byte(strings.Repeat("a", 17))
			b[pos] = byte(c)
			if got := ValidFieldValue(string(b)); got != want {
				t.Fatalf("ValidFieldValue(%q) = %v, want %v", b, got, want)
			}
		}
	}
}
