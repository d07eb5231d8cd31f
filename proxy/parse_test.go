package proxy

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCopyChunked(t *testing.T) {
	const in = "3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-A: 1\r\nConnection: x\r\n\r\nnext"
	tests := []struct {
		reframe bool
		want    string
	}{
		{true, "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-A: 1\r\n\r\n"},
		{false, "abc0123456789abcdef"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		src := bufio.NewReader(strings.NewReader(in))
		dst := bufio.NewWriter(&out)
		if err := copyChunked(dst, src, tt.reframe, 1024, sinkIf(tt.reframe, dst)); err != nil {
			t.Fatal(err)
		}
		dst.Flush()
		rest, _ := io.ReadAll(src)
		if out.String() != tt.want || string(rest) != "next" {
			t.Errorf("reframe=%v: %q, rest %q", tt.reframe, out.String(), rest)
		}
	}
	for _, bad := range []string{"3\r\nabc", "3\r\nabcd\r\n", "3\r\nabc\n0\r\n\r\n", "0\r\nX-A: 1\n\r\n", "0\r\n" + strings.Repeat("X: 1\r\n", 200) + "\r\n"} {
		err := copyChunked(bufio.NewWriter(io.Discard), bufio.NewReader(strings.NewReader(bad)), true, 1024, nil)
		if err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCopyLengthLarge(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	var out bytes.Buffer
	src := bufio.NewReaderSize(bytes.NewReader(append(data, "next"...)), bufSize)
	dst := bufio.NewWriterSize(&out, bufSize)
	if err := copyLength(dst, src, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	dst.Flush()
	rest, _ := io.ReadAll(src)
	if !bytes.Equal(out.Bytes(), data) || string(rest) != "next" {
		t.Errorf("copied %d bytes, rest %q", out.Len(), rest)
	}
	if err := copyLength(dst, bufio.NewReader(strings.NewReader("abc")), 5); err != io.ErrUnexpectedEOF {
		t.Errorf("short body: %v", err)
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		raw, method string
		status      int
		body        bodyKind
		closes      bool
		err         bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", 200, bodyLength, false, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", 200, bodyNone, false, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", 200, bodyNone, false, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", 200, bodyChunked, false, false},
		{"HTTP/1.1 200 OK\r\n\r\n", "GET", 200, bodyClose, true, false},
		{"HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, bodyNone, false, false},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET", 304, bodyNone, false, false},
		{"HTTP/1.1 100 Continue\r\n\r\n", "PUT", 100, bodyNone, false, false},
		{"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", "GET", 200, bodyLength, false, false},
		{"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n", "GET", 200, bodyLength, false, false},
		{"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", "GET", 200, bodyLength, true, false},
		{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", "GET", 200, bodyLength, false, false},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", "GET", 200, bodyLength, true, false},
		{"HTTP/1.1 200 OK\nContent-Length: 1\n\n", "GET", 200, bodyLength, false, false},
		{"HTTP/1.1 99 Low\r\n\r\n", "GET", 0, 0, false, true},
		{"HTTP/1.1 200OK\r\n\r\n", "GET", 0, 0, false, true},
		{"HTTP/1.2 200 OK\r\n\r\n", "GET", 0, 0, false, true},
		{"HTTP/1.1 200 O\x01K\r\n\r\n", "GET", 0, 0, false, true},
		{"HTTP/1.1 200 OK\r\n: x\r\n\r\n", "GET", 0, 0, false, true},
	}
	var r response
	for _, tt := range tests {
		err := r.parse(tt.raw, tt.method)
		if (err != nil) != tt.err {
			t.Errorf("%q: error %v", tt.raw, err)
			continue
		}
		if err == nil && (r.head.Status != tt.status || r.body != tt.body || r.closes != tt.closes) {
			t.Errorf("%q: status %d body %d closes %v; want %d %d %v", tt.raw, r.head.Status, r.body, r.closes, tt.status, tt.body, tt.closes)
		}
	}
}

func TestReadHead(t *testing.T) {
	tests := []struct {
		in, head string
		err      error
	}{
		{"GET / HTTP/1.1\r\nA: b\r\n\r\nbody", "GET / HTTP/1.1\r\nA: b\r\n\r\n", nil},
		{"GET / HTTP/1.1\nA: b\n\nbody", "GET / HTTP/1.1\nA: b\n\n", nil},
		{"GET / HTTP/1.1\r\nA: b\n\r\nbody", "GET / HTTP/1.1\r\nA: b\n\r\n", nil},
		{"\r\nGET", "\r\n", nil},
		{"GET / HTTP/1.1\r\nA: b\r\n", "", io.ErrUnexpectedEOF},
		{"", "", io.EOF},
		{"GET / HTTP/1.1\r\nA: " + strings.Repeat("b", 200) + "\r\n\r\n", "", errHeadTooLarge},
	}
	for _, tt := range tests {
		// A one-byte reader makes every line span reads.
		br := bufio.NewReaderSize(&oneByte{strings.NewReader(tt.in)}, 16)
		head, err := readHead(br, nil, 100, &timedConn{}, 0)
		if err != tt.err || err == nil && string(head) != tt.head {
			t.Errorf("%q: %q, %v", tt.in, head, err)
		}
	}
}

type oneByte struct{ r io.Reader }

func (o *oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:min(1, len(p))]) }

func TestNextDeadline(t *testing.T) {
	const d = 64 * time.Second
	at, set := nextDeadline(time.Time{}, d)
	if !set || time.Until(at) < d-time.Second {
		t.Fatalf("first deadline %v, %v", at, set)
	}
	if _, set := nextDeadline(at, d); set {
		t.Error("deadline moved within tolerance")
	}
	if _, set := nextDeadline(at.Add(-2*time.Second), d); !set {
		t.Error("stale deadline kept")
	}
	if _, set := nextDeadline(at.Add(time.Hour), d); !set {
		t.Error("later deadline kept")
	}
	if _, set := nextDeadline(at, 0); !set {
		t.Error("deadline not removed")
	}
}

func FuzzChunked(f *testing.F) {
	for _, s := range []string{"3\r\nabc\r\n0\r\n\r\n", "5;a=\"b\"\r\nhello\r\n0\r\nX: y\r\n\r\n", "0\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		dst := bufio.NewWriter(&out)
		if copyChunked(dst, bufio.NewReader(strings.NewReader(in)), true, 4096, &fieldSink{w: dst}) != nil {
			return
		}
		dst.Flush()
		// What the proxy writes is valid chunked coding with the same data.
		var a, b bytes.Buffer
		da, db := bufio.NewWriter(&a), bufio.NewWriter(&b)
		if err := copyChunked(da, bufio.NewReader(strings.NewReader(in)), false, 4096, nil); err != nil {
			t.Fatal(err)
		}
		if err := copyChunked(db, bufio.NewReader(&out), false, 4096, nil); err != nil {
			t.Fatalf("re-framed body %q: %v", out.String(), err)
		}
		da.Flush()
		db.Flush()
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("data %q became %q", a.Bytes(), b.Bytes())
		}
	})
}

func FuzzResponseHead(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HTTP/1.0 101 S\nUpgrade: x\n\n"} {
		f.Add(s, "GET")
	}
	f.Fuzz(func(t *testing.T, raw, method string) {
		var r response
		if !strings.HasSuffix(raw, "\n") {
			return // readHead hands over whole lines only
		}
		if err := r.parse(raw, method); err != nil {
			return
		}
		if r.head.Status < 100 || r.head.Status > 599 || r.hasLength && r.length < 0 || r.chunked && r.hasLength {
			t.Fatalf("%q: %+v", raw, r)
		}
	})
}

// sinkIf is a trailer sink on w when reframing, as the proxy passes.
func sinkIf(reframe bool, w *bufio.Writer) *fieldSink {
	if reframe {
		return &fieldSink{w: w}
	}
	return nil
}
