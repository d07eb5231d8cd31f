package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pattern is the content of the large transfers: a random block of a
// length that is no power of two, repeated. It costs nothing to generate
// (a copy), yet a lost, doubled or reordered buffer changes the checksum,
// because buffer boundaries never line up with block boundaries.
type pattern struct {
	block []byte
	pos   int64
	n     int64 // bytes left
}

var (
	blockOnce sync.Once
	block     []byte
)

func newPattern(n int64) *pattern {
	blockOnce.Do(func() {
		block = make([]byte, 1<<20+7)
		rand.Read(block)
	})
	return &pattern{block: block, n: n}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	total := 0
	for len(b) > 0 {
		off := int(p.pos % int64(len(p.block)))
		k := copy(b, p.block[off:])
		b = b[k:]
		p.pos += int64(k)
		total += k
	}
	p.n -= int64(total)
	return total, nil
}

// patternSum returns the SHA-256 of newPattern(n)'s content.
func patternSum(n int64) string {
	h := sha256.New()
	io.Copy(h, newPattern(n))
	return hex.EncodeToString(h.Sum(nil))
}

// rssKiB returns the resident set size of process pid, from /proc.
func rssKiB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// rssSampler records the highest RSS of a process until stopped.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	max  int64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb, err := rssKiB(pid); err == nil && kb > s.max {
				s.max = kb
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the highest RSS seen, in KiB.
func (s *rssSampler) Stop() int64 {
	close(s.stop)
	<-s.done
	return s.max
}

// TestLargeBodies sends 100 MiB up (Content-Length) and down (chunked)
// through the proxy: the checksums match at the other end, and the
// proxy's memory stays flat, which it could not if it buffered a body.
func TestLargeBodies(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to measure the proxy's memory")
	}
	size := int64(100 << 20)
	if testing.Short() {
		size = 16 << 20
	}
	// Memory may grow by buffers and the runtime's slack, never by a body.
	const maxGrowthKiB = 64 << 10

	want := patternSum(size)
	be := newHandlerBackend(t, "big", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload":
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
		case "/download":
			// No Content-Length: net/http sends it chunked.
			w.Header().Set("Content-Type", "application/octet-stream")
			io.Copy(w, newPattern(size))
		default:
			io.WriteString(w, "ok")
		}
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: big, servers: [big]}\n")
	c := newClient(t, false)
	c.Timeout = 2 * time.Minute

	// Idle RSS after a first request, so that pools and buffers exist.
	if r := get(t, c, p.Addr, "", "/warm"); r.Status != 200 {
		t.Fatalf("warm-up: status %d", r.Status)
	}
	idle, err := rssKiB(p.pid())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("upload", func(t *testing.T) {
		s := sampleRSS(p.pid())
		req := request(t, "PUT", p.Addr, "", "/upload", newPattern(size))
		req.ContentLength = size
		start := time.Now()
		r := do(t, c, req)
		peak := s.Stop()
		if r.Status != 200 || r.Body != fmt.Sprintf("%d %s", size, want) {
			t.Fatalf("upload: status %d, backend got %q, want %d bytes with sha256 %s", r.Status, r.Body, size, want)
		}
		t.Logf("upload %d MiB in %v; proxy RSS idle %d KiB, peak %d KiB", size>>20, time.Since(start).Round(time.Millisecond), idle, peak)
		if peak-idle > maxGrowthKiB {
			t.Errorf("proxy RSS grew by %d KiB during the upload (idle %d, peak %d), want < %d: is the body buffered?", peak-idle, idle, peak, maxGrowthKiB)
		}
	})

	t.Run("download", func(t *testing.T) {
		s := sampleRSS(p.pid())
		start := time.Now()
		resp, err := c.Do(request(t, "GET", p.Addr, "", "/download", nil))
		if err != nil {
			s.Stop()
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		peak := s.Stop()
		if err != nil {
			t.Fatalf("download: after %d bytes: %v", n, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); resp.StatusCode != 200 || n != size || got != want {
			t.Fatalf("download: status %d, %d bytes, sha256 %s; want 200, %d, %s", resp.StatusCode, n, got, size, want)
		}
		t.Logf("download %d MiB in %v; proxy RSS idle %d KiB, peak %d KiB", size>>20, time.Since(start).Round(time.Millisecond), idle, peak)
		if peak-idle > maxGrowthKiB {
			t.Errorf("proxy RSS grew by %d KiB during the download (idle %d, peak %d), want < %d: is the body buffered?", peak-idle, idle, peak, maxGrowthKiB)
		}
	})
}

// TestCloseDelimitedResponse checks a response without Content-Length nor
// chunking, whose end is the server closing: the client gets it whole.
func TestCloseDelimitedResponse(t *testing.T) {
	const size = 1<<20 + 123
	want := patternSum(size)
	be := rawBackend(t, "old", func(conn net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Backend: old\r\nConnection: close\r\n\r\n")
		io.Copy(conn, newPattern(size))
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: old, servers: [old]}\n")
	resp, err := newClient(t, false).Do(request(t, "GET", p.Addr, "", "/old", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if got := hex.EncodeToString(h.Sum(nil)); err != nil || n != size || got != want {
		t.Fatalf("got %d bytes (err %v), sha256 %s; want %d, %s", n, err, got, size, want)
	}
}

// rawBackend starts a TCP server called id that hands each connection to
// serve; it stops when the test ends.
func rawBackend(t *testing.T, id string, serve func(net.Conn, *bufio.Reader)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				serve(conn, bufio.NewReader(conn))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return &backend{ID: id, URL: "http://" + ln.Addr().String()}
}

// wsGreeting is an unmasked text frame "hi" the backend sends first.
const wsGreeting = "\x81\x02hi"

// wsGUID is RFC 6455's handshake constant.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsFrame encodes one masked client frame (RFC 6455 section 5.2).
func wsFrame(opcode byte, payload []byte) []byte {
	var f bytes.Buffer
	f.WriteByte(0x80 | opcode) // FIN
	switch n := len(payload); {
	case n < 126:
		f.WriteByte(0x80 | byte(n))
	case n < 1<<16:
		f.WriteByte(0x80 | 126)
		binary.Write(&f, binary.BigEndian, uint16(n))
	default:
		f.WriteByte(0x80 | 127)
		binary.Write(&f, binary.BigEndian, uint64(n))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	f.Write(mask[:])
	for i, b := range payload {
		f.WriteByte(b ^ mask[i%4])
	}
	return f.Bytes()
}

// TestWebSocketEcho upgrades a connection through the proxy to a raw
// backend that answers 101 and echoes every byte, then exchanges frames
// both ways over the tunnel, including bytes sent together with either
// side's handshake.
func TestWebSocketEcho(t *testing.T) {
	var mu sync.Mutex
	var upgradeHdr http.Header
	be := rawBackend(t, "ws", func(conn net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		mu.Lock()
		upgradeHdr = req.Header.Clone()
		mu.Unlock()
		if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
			io.WriteString(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		// The head and a first server frame in one write: the proxy must
		// relay bytes that arrive with the head.
		fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Backend: ws\r\n\r\n%s",
			wsAccept(req.Header.Get("Sec-WebSocket-Key")), wsGreeting)
		// Echo, starting with whatever the reader already buffered.
		io.Copy(conn, br)
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: ws, path: /chat/*, servers: [ws]}\n")

	conn, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's example
	// The handshake and a first frame in one write: the proxy must not
	// lose bytes that come right after the head.
	early := wsFrame(0x1, []byte("early bird"))
	fmt.Fprintf(conn, "GET /chat/room?x=1 HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n%s", key, early)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	if resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %d, headers %v; want 101 with Upgrade and the accept key", resp.StatusCode, resp.Header)
	}
	mu.Lock()
	h := upgradeHdr
	mu.Unlock()
	if !strings.Contains(strings.ToLower(h.Get("Connection")), "upgrade") || h.Get("Sec-WebSocket-Key") != key {
		t.Errorf("backend handshake headers %v: want Connection: Upgrade and the client's key", h)
	}

	first := make([]byte, len(wsGreeting)+len(early))
	if _, err := io.ReadFull(br, first); err != nil || string(first) != wsGreeting+string(early) {
		t.Fatalf("after the handshake got %q (%v), want the server's greeting then the echo of the early frame", first, err)
	}

	big := make([]byte, 200<<10)
	rand.Read(big)
	for i, msg := range [][]byte{[]byte("hello"), []byte(strings.Repeat("é", 100)), big} {
		frame := wsFrame(0x2, msg)
		if _, err := conn.Write(frame); err != nil {
			t.Fatalf("message %d: write: %v", i, err)
		}
		echo := make([]byte, len(frame))
		if _, err := io.ReadFull(br, echo); err != nil {
			t.Fatalf("message %d: reading the echo: %v", i, err)
		}
		if !bytes.Equal(echo, frame) {
			t.Fatalf("message %d: echo differs from what was sent", i)
		}
	}
	conn.Write(wsFrame(0x8, []byte{0x03, 0xe8})) // close, 1000
}

// TestTrailers sends a chunked request with a trailer and gets a chunked
// response with a trailer: both reach the other side.
func TestTrailers(t *testing.T) {
	be := newHandlerBackend(t, "tr", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body) // trailers are read with the body's end
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Trailer", "X-Resp-Sum")
		w.Header().Set("X-Got-Req-Sum", r.Trailer.Get("X-Req-Sum"))
		w.Header().Set("X-Got-TE", strings.Join(r.TransferEncoding, ","))
		w.WriteHeader(200)
		w.Write(body)
		w.(http.Flusher).Flush()
		sum := sha256.Sum256(body)
		w.Header().Set("X-Resp-Sum", hex.EncodeToString(sum[:]))
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: tr, servers: [tr]}\n")

	body := strings.Repeat("trailer test body. ", 5000)
	req := request(t, "POST", p.Addr, "", "/t", io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1 // chunked: trailers need it
	req.Trailer = http.Header{"X-Req-Sum": {"req-sum-42"}}
	resp, err := newClient(t, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(got) != body {
		t.Fatalf("status %d, body of %d bytes; want 200 and the %d bytes sent", resp.StatusCode, len(got), len(body))
	}
	if v := resp.Header.Get("X-Got-TE"); v != "chunked" {
		t.Errorf("the backend got Transfer-Encoding %q, want chunked (the request trailer needs it)", v)
	}
	if v := resp.Header.Get("X-Got-Req-Sum"); v != "req-sum-42" {
		t.Errorf("the backend got request trailer X-Req-Sum %q, want req-sum-42", v)
	}
	sum := sha256.Sum256([]byte(body))
	if v := resp.Trailer.Get("X-Resp-Sum"); v != hex.EncodeToString(sum[:]) {
		t.Errorf("response trailer X-Resp-Sum %q, want %x (trailers %v)", v, sum, resp.Trailer)
	}
}

// TestExpectContinue sends a request with Expect: 100-continue: the client
// gets the interim 100 (not its own timeout) and the backend the body. A
// backend that refuses without reading gets its answer to the client.
func TestExpectContinue(t *testing.T) {
	be := newHandlerBackend(t, "ec", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: ec, servers: [ec]}\n")
	c := newClient(t, false)
	// Long enough that a proxy swallowing the 100 shows as a slow request.
	const expectWait = 8 * time.Second
	c.Transport.(*http.Transport).ExpectContinueTimeout = expectWait

	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	sum := sha256.Sum256(body)
	var got100 bool
	trace := &httptrace.ClientTrace{Got100Continue: func() { got100 = true }}
	req := request(t, "POST", p.Addr, "", "/upload", bytes.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	start := time.Now()
	r := do(t, c, req)
	elapsed := time.Since(start)
	if want := fmt.Sprintf("%d %x", len(body), sum); r.Status != 200 || r.Body != want {
		t.Fatalf("status %d, backend got %q; want 200 and %q", r.Status, r.Body, want)
	}
	if !got100 || elapsed >= expectWait {
		t.Errorf("100 Continue received: %v, request took %v: the client should not wait for its own timeout", got100, elapsed)
	}

	req = request(t, "POST", p.Addr, "", "/refuse", bytes.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	if r := do(t, c, req); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("refused upload: status %d, want 413", r.Status)
	}
}
