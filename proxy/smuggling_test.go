package proxy

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoHandler answers with the method, the target and the body it read.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	io.WriteString(w, r.Method+" "+r.RequestURI+" "+string(body))
}

// statusOf reads one response from br and returns its status, or 0 when
// there is none.
func statusOf(br *bufio.Reader) int {
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// TestFraming sends each request as raw bytes and checks the status and
// that the proxy closes the connection after every error it answers.
func TestFraming(t *testing.T) {
	e := setup(t, offSticky+`, "limits": {"max_headers": 20}`,
		map[string]string{"s1": httpBackend(t, echoHandler)})
	const post = "POST / HTTP/1.1\r\nHost: a\r\n"
	tests := []struct {
		name, raw string
		status    int
	}{
		{"Content-Length and Transfer-Encoding", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding and Content-Length", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
		{"two Content-Lengths", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
		{"Content-Length list of two values", post + "Content-Length: 5, 6\r\n\r\nhello!", 400},
		{"Content-Length with sign", post + "Content-Length: +5\r\n\r\nhello", 400},
		{"negative Content-Length", post + "Content-Length: -5\r\n\r\nhello", 400},
		{"hex Content-Length", post + "Content-Length: 0x5\r\n\r\nhello", 400},
		{"Content-Length with empty element", post + "Content-Length: 5,\r\n\r\nhello", 400},
		{"Content-Length overflow", post + "Content-Length: 99999999999999999999\r\n\r\nhello", 400},
		{"empty Content-Length", post + "Content-Length:\r\n\r\n", 400},
		{"Transfer-Encoding gzip", post + "Transfer-Encoding: gzip\r\n\r\nhello", 400},
		{"Transfer-Encoding gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding chunked twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding with junk", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"whitespace before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n", 400},
		{"bad request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"control byte in path", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"HTTP/3.1", "GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505},
		{"not an HTTP-version", "GET / ICE/1.0\r\nHost: a\r\n\r\n", 400},
		{"lower-case HTTP", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
		{"chunk size not hex", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
		{"negative chunk size", post + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size overflow", post + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size with space", post + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400},
		{"chunk extension with bare CR", post + "Transfer-Encoding: chunked\r\n\r\n5;a=b\rc\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk extension without name", post + "Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size line ending in bare LF", post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400},
		{"chunk data too long", post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", 400},
		{"bad trailer", post + "Transfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n", 400},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: 1\r\n", 20) + "\r\n", 431},

		{"equal Content-Length list", post + "Content-Length: 5, 5\r\n\r\nhello", 200},
		{"equal Content-Lengths", post + "Content-Length: 5\r\nContent-Length: 05\r\n\r\nhello", 200},
		{"Chunked in capitals", post + "Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200},
		{"chunk extensions", post + "Transfer-Encoding: chunked\r\n\r\n5 ; a=b;c=\"x \\\" y\"\r\nhello\r\n0;z\r\n\r\n", 200},
		{"bare LF head", "GET / HTTP/1.1\nHost: a\n\n", 200},
		{"absolute form", "GET http://a/x?y HTTP/1.1\r\nHost: b\r\n\r\n", 200},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200},
		{"19 headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: 1\r\n", 18) + "\r\n", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := e.dial()
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			if got := statusOf(br); got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
			wait := 3 * time.Second
			if tt.status == 200 {
				wait = 200 * time.Millisecond
			}
			if got, want := closedWithin(c, br, wait), tt.status != 200; got != want {
				t.Errorf("connection closed: %v, want %v", got, want)
			}
		})
	}
}

// TestChunkedRequestForwarded checks what a server receives of a chunked
// request: the same chunks without extensions, and the trailers.
func TestChunkedRequestForwarded(t *testing.T) {
	got := make(chan string, 1)
	b := newRawBackend(t, func(c netConn, br *bufio.Reader) {
		head := readWireHead(br)
		var body strings.Builder
		for {
			line, _ := br.ReadString('\n')
			body.WriteString(line)
			if line == "\r\n" || line == "" {
				break
			}
		}
		got <- head + body.String()
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	r := e.roundTrip("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nTE: trailers, deflate\r\n\r\n" +
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n")
	if r.status != 204 {
		t.Fatalf("status %d", r.status)
	}
	forwarded := <-got
	for _, want := range []string{
		"POST /up HTTP/1.1\r\nHost: a\r\n",
		"\r\nTrailer: X-Sum\r\n",
		"\r\nTE: trailers\r\n",
		"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n",
	} {
		if !strings.Contains(forwarded, want) {
			t.Errorf("forwarded request lacks %q:\n%s", want, forwarded)
		}
	}
	if strings.Contains(forwarded, "deflate") {
		t.Errorf("TE forwarded as received:\n%s", forwarded)
	}
}

// TestChunkedResponse relays a chunked response with trailers to an
// HTTP/1.1 client, and decoded, then closed, to an HTTP/1.0 client.
func TestChunkedResponse(t *testing.T) {
	addr := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		for i := range 3 {
			io.WriteString(w, "part"+strconv.Itoa(i)+";")
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Checksum", "42")
	})
	e := setup(t, offSticky, map[string]string{"s1": addr})

	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n")
	r := readResp(t, br, false)
	if r.body != "part0;part1;part2;" || r.trailer.Get("X-Checksum") != "42" {
		t.Errorf("body %q, trailer %v", r.body, r.trailer)
	}
	if closedWithin(c, br, 200*time.Millisecond) {
		t.Error("connection closed after a chunked response")
	}

	c, br = e.dial()
	io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	r = readResp(t, br, false)
	if r.body != "part0;part1;part2;" || r.headers.Get("Transfer-Encoding") != "" {
		t.Errorf("HTTP/1.0: body %q, headers %v", r.body, r.headers)
	}
	if !closedWithin(c, br, 3*time.Second) {
		t.Error("HTTP/1.0 connection left open after a body of unknown length")
	}
}

// TestCloseDelimitedResponse re-frames a body that ends when the server
// closes as chunked, so that the client's connection stays open.
func TestCloseDelimitedResponse(t *testing.T) {
	b := newRawBackend(t, func(c netConn, br *bufio.Reader) {
		readWireHead(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
		time.Sleep(20 * time.Millisecond)
		io.WriteString(c, "the end")
	})
	e := setup(t, offSticky, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	for range 2 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		r := readResp(t, br, false)
		if r.body != "until the end" || r.headers.Get("Transfer-Encoding") != "" {
			t.Fatalf("body %q, headers %v", r.body, r.headers)
		}
	}
}
