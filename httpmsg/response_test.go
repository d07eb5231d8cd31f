package httpmsg

import (
	"errors"
	"strings"
	"testing"
)

func TestParseResponseHead(t *testing.T) {
	accepts := []struct {
		raw, proto, reason string
		status             int
		fields             []Field
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HTTP/1.1", "OK", 200, []Field{{"Content-Length", "5"}}},
		{"HTTP/1.0 404 Not Found\nA:  b \nC:\n\n", "HTTP/1.0", "Not Found", 404, []Field{{"A", "b"}, {"C", ""}}},
		{"HTTP/1.1 200\r\n\r\n", "HTTP/1.1", "", 200, nil},
		{"HTTP/1.1 200 \r\n\r\n", "HTTP/1.1", "", 200, nil},
		{"HTTP/1.1 599 \xffx\r\n\r\n", "HTTP/1.1", "\xffx", 599, nil},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "HTTP/1.1", "Continue", 100, nil},
		{"HTTP/1.1 200 OK\r\n" + strings.Repeat("X: 1\r\n", MaxResponseFields) + "\r\n", "HTTP/1.1", "OK", 200, nil},
	}
	var h ResponseHead
	for _, tt := range accepts {
		if err := ParseResponseHead(tt.raw, &h); err != nil {
			t.Errorf("%q: %v", tt.raw, err)
			continue
		}
		if h.Proto != tt.proto || h.Status != tt.status || h.Reason != tt.reason ||
			tt.fields != nil && !equalFields(h.Fields, tt.fields) {
			t.Errorf("%q: %+v", tt.raw, h)
		}
	}
	rejects := []struct {
		raw string
		err error
	}{
		{"", ErrBadStatusLine},
		{"\r\n", ErrBadStatusLine},
		{"HTTP/1.1 99 Low\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.1 600 High\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.1 2000 OK\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.1 200OK\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.1  200 OK\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.2 200 OK\r\n\r\n", ErrBadStatusLine},
		{"HTTP/2 200 OK\r\n\r\n", ErrBadStatusLine},
		{"http/1.1 200 OK\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.1 2x0 OK\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.1 200 O\x01K\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.1 200 O\rK\r\n\r\n", ErrBareCR},
		{"garbage\r\n\r\n", ErrBadStatusLine},
		{"HTTP/1.1 200 OK\r\n: x\r\n\r\n", ErrInvalidHeaderName},
		{"HTTP/1.1 200 OK\r\nBad Field\r\n\r\n", ErrMissingColon},
		{"HTTP/1.1 200 OK\r\nX : y\r\n\r\n", ErrSpaceBeforeColon},
		{"HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n", ErrObsFold},
		{"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", ErrBareCR},
		{"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", ErrInvalidHeaderValue},
		{"HTTP/1.1 200 OK\r\n" + strings.Repeat("X: 1\r\n", MaxResponseFields+1) + "\r\n", ErrTooManyResponseFields},
	}
	for _, tt := range rejects {
		err := ParseResponseHead(tt.raw, &h)
		var he *HeadError
		if !errors.Is(err, tt.err) || !errors.As(err, &he) {
			t.Errorf("%q: error %v, want %v", tt.raw, err, tt.err)
		}
	}
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\n\r\n"
	if n := testing.AllocsPerRun(100, func() { ParseResponseHead(raw, &h) }); n != 0 {
		t.Errorf("%v allocs with a reused head", n)
	}
}

func equalFields(a, b []Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzParseResponseHead: an accepted head has a status in range and fields
// that would be accepted again, written back in canonical form.
func FuzzParseResponseHead(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HTTP/1.0 101 S\nUpgrade: x\n\n", "HTTP/1.1 204\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var h ResponseHead
		if ParseResponseHead(raw, &h) != nil {
			return
		}
		if h.Status < 100 || h.Status > 599 || h.Proto != "HTTP/1.0" && h.Proto != "HTTP/1.1" {
			t.Fatalf("%q: %+v", raw, h)
		}
		var b strings.Builder
		b.WriteString(h.Proto + " " + raw[9:12])
		if h.Reason != "" {
			b.WriteString(" " + h.Reason)
		}
		b.WriteString("\r\n")
		for _, f := range h.Fields {
			if !ValidToken(f.Name) || !ValidFieldValue(f.Value) || f.Value != TrimOWS(f.Value) {
				t.Fatalf("%q: field %q", raw, f)
			}
			b.WriteString(f.Name + ": " + f.Value + "\r\n")
		}
		b.WriteString("\r\n")
		var again ResponseHead
		if err := ParseResponseHead(b.String(), &again); err != nil || again.Status != h.Status ||
			again.Reason != h.Reason || !equalFields(again.Fields, h.Fields) {
			t.Fatalf("%q written back as %q: %v %+v", raw, b.String(), err, again)
		}
	})
}
