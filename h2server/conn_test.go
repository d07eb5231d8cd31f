package h2server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"l7lb/httpmsg"
)

// handlerFunc serves a stream with a function.
type handlerFunc func(*Stream)

func (f handlerFunc) ServeH2(s *Stream) { f(s) }

// event is a frame the client received, its payload copied.
type event struct {
	typ    http2.FrameType
	id     uint32
	end    bool
	data   string
	fields []hpack.HeaderField
	code   http2.ErrCode
	last   uint32 // GOAWAY's last stream
	incr   uint32 // WINDOW_UPDATE's
}

func (e event) field(name string) string {
	for _, f := range e.fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// client is a raw HTTP/2 client of a Conn over net.Pipe.
type client struct {
	t      *testing.T
	nc     net.Conn
	conn   *Conn
	mu     sync.Mutex // writes
	fr     *http2.Framer
	enc    *hpack.Encoder
	blk    bytes.Buffer
	events chan event
	closed chan struct{} // the server closed the connection
	served chan struct{} // Serve returned
}

func testConfig() Config {
	return Config{MaxConcurrentStreams: 100, MaxHeaderListSize: 16 << 10, HeaderTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
}

func dial(t *testing.T, cfg Config, h Handler, settings ...http2.Setting) *client {
	a, b := net.Pipe()
	c := &client{t: t, nc: a, events: make(chan event, 10000), closed: make(chan struct{}), served: make(chan struct{})}
	c.conn = NewConn(b, bufio.NewReader(b), cfg, h)
	go func() {
		c.conn.Serve()
		close(c.served)
	}()
	c.fr = http2.NewFramer(a, a)
	c.enc = hpack.NewEncoder(&c.blk)
	go c.read()
	t.Cleanup(func() {
		a.Close()
		select {
		case <-c.served:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after the client closed")
		}
	})
	io.WriteString(a, http2.ClientPreface)
	c.fr.WriteSettings(settings...)
	return c
}

func (c *client) read() {
	defer close(c.closed)
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		e := event{typ: f.Header().Type, id: f.Header().StreamID}
		switch f := f.(type) {
		case *http2.HeadersFrame:
			e.end = f.StreamEnded()
			e.fields, err = dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				c.t.Errorf("response block: %v", err)
			}
		case *http2.DataFrame:
			e.end, e.data = f.StreamEnded(), string(f.Data())
		case *http2.RSTStreamFrame:
			e.code = f.ErrCode
		case *http2.GoAwayFrame:
			e.code, e.last = f.ErrCode, f.LastStreamID
		case *http2.WindowUpdateFrame:
			e.incr = f.Increment
		}
		// SETTINGS go unacknowledged: the server does not wait for it,
		// and a write here could wait on one of the test's.
		c.events <- e
	}
}

// block encodes a request's header block.
func (c *client) block(method, path string, fields ...string) []byte {
	c.blk.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":method", Value: method})
	c.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "https"})
	c.enc.WriteField(hpack.HeaderField{Name: ":authority", Value: "example.com"})
	c.enc.WriteField(hpack.HeaderField{Name: ":path", Value: path})
	for i := 0; i+1 < len(fields); i += 2 {
		c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(c.blk.Bytes())
}

func (c *client) headers(id uint32, blk []byte, end bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndStream: end, EndHeaders: true})
}

func (c *client) get(id uint32, path string, fields ...string) error {
	return c.headers(id, c.block("GET", path, fields...), true)
}

// until reads events until stop says so or wait passes, and returns
// them; closed reports the connection closed.
func (c *client) until(wait time.Duration, stop func(event) bool) (evs []event, closed bool) {
	timeout := time.After(wait)
	for {
		select {
		case e := <-c.events:
			evs = append(evs, e)
			if stop != nil && stop(e) {
				return evs, false
			}
		case <-c.closed:
			for {
				select {
				case e := <-c.events:
					evs = append(evs, e)
				default:
					return evs, true
				}
			}
		case <-timeout:
			return evs, false
		}
	}
}

func find(evs []event, typ http2.FrameType, id uint32) (event, bool) {
	for _, e := range evs {
		if e.typ == typ && e.id == id {
			return e, true
		}
	}
	return event{}, false
}

func isGoAway(e event) bool { return e.typ == http2.FrameGoAway }

// echoPath answers 200 with the path as body.
var echoPath = handlerFunc(func(s *Stream) {
	s.WriteHeader(200, []httpmsg.Field{{Name: "Content-Type", Value: "text/plain"}})
	s.End([]byte(s.Path()), nil)
})

func TestRequestAndResponse(t *testing.T) {
	got := make(chan *Stream, 1)
	c := dial(t, testConfig(), handlerFunc(func(s *Stream) {
		body, err := io.ReadAll(s)
		if err != nil || string(body) != "ping" {
			t.Errorf("body %q, %v", body, err)
		}
		got <- s
		s.WriteHeader(201, []httpmsg.Field{{Name: "X-Reply", Value: "yes"}})
		s.Write([]byte("po"))
		s.End([]byte("ng"), []httpmsg.Field{{Name: "Grpc-Status", Value: "0"}})
	}))
	c.headers(1, c.block("POST", "/a?b", "cookie", "a=1", "x-one", "1", "cookie", "b=2", "content-length", "4"), false)
	c.mu.Lock()
	c.fr.WriteData(1, false, []byte("pi"))
	c.fr.WriteData(1, false, []byte("ng"))
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block("", "")[:0], EndStream: true, EndHeaders: true})
	c.mu.Unlock()
	evs, _ := c.until(5*time.Second, func(e event) bool { return e.id == 1 && e.end })
	s := <-got
	if s.Method() != "POST" || s.Path() != "/a?b" || s.Authority() != "example.com" || s.Scheme() != "https" || s.ContentLength() != 4 {
		t.Errorf("request %s %s %s %s %d", s.Method(), s.Scheme(), s.Authority(), s.Path(), s.ContentLength())
	}
	want := []httpmsg.Field{{Name: "cookie", Value: "a=1; b=2"}, {Name: "x-one", Value: "1"}, {Name: "content-length", Value: "4"}}
	if len(s.Fields()) != len(want) {
		t.Fatalf("fields %v, want %v", s.Fields(), want)
	}
	for i := range want {
		if s.Fields()[i] != want[i] {
			t.Errorf("fields %v, want %v", s.Fields(), want)
		}
	}
	var frames []string
	for _, e := range evs {
		if e.id != 1 {
			continue
		}
		switch e.typ {
		case http2.FrameHeaders:
			frames = append(frames, "HEADERS :status="+e.field(":status")+" x-reply="+e.field("x-reply")+" grpc-status="+e.field("grpc-status")+" end="+strconv.FormatBool(e.end))
		case http2.FrameData:
			frames = append(frames, "DATA "+e.data+" end="+strconv.FormatBool(e.end))
		}
	}
	wantFrames := []string{"HEADERS :status=201 x-reply=yes grpc-status= end=false", "DATA po end=false", "DATA ng end=false", "HEADERS :status= x-reply= grpc-status=0 end=true"}
	if strings.Join(frames, "|") != strings.Join(wantFrames, "|") {
		t.Errorf("frames\n%q\nwant\n%q", frames, wantFrames)
	}
}

// TestHeadOnlyResponse: a response without a body is one HEADERS frame
// with END_STREAM, as gRPC's Trailers-Only responses must be.
func TestHeadOnlyResponse(t *testing.T) {
	c := dial(t, testConfig(), handlerFunc(func(s *Stream) {
		s.WriteHeader(200, []httpmsg.Field{{Name: "grpc-status", Value: "5"}})
		s.End(nil, nil)
	}))
	c.get(1, "/")
	evs, _ := c.until(5*time.Second, func(e event) bool { return e.id == 1 && e.end })
	var n int
	for _, e := range evs {
		if e.id == 1 {
			n++
			if e.typ != http2.FrameHeaders || !e.end || e.field("grpc-status") != "5" {
				t.Errorf("frame %+v", e)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d frames on stream 1, want 1", n)
	}
}

// TestResponseFlowControl: the response's DATA waits for the client's
// window.
func TestResponseFlowControl(t *testing.T) {
	body := strings.Repeat("x", 100)
	c := dial(t, testConfig(), handlerFunc(func(s *Stream) {
		s.WriteHeader(200, nil)
		s.End([]byte(body), nil)
	}), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	c.get(1, "/")
	evs, _ := c.until(500*time.Millisecond, nil)
	got := ""
	for _, e := range evs {
		got += e.data
	}
	if got != body[:10] {
		t.Fatalf("before WINDOW_UPDATE: %q, want 10 bytes", got)
	}
	c.mu.Lock()
	c.fr.WriteWindowUpdate(1, 90)
	c.mu.Unlock()
	evs, _ = c.until(5*time.Second, func(e event) bool { return e.id == 1 && e.end })
	for _, e := range evs {
		got += e.data
	}
	if got != body {
		t.Errorf("body %q", got)
	}
}

// TestRequestFlowControl: a body larger than the initial windows arrives
// whole as the handler reads it; a client sending beyond its window
// gets FLOW_CONTROL_ERROR.
func TestRequestFlowControl(t *testing.T) {
	const size = 3 * streamWindow
	var got int64
	done := make(chan struct{})
	c := dial(t, testConfig(), handlerFunc(func(s *Stream) {
		defer close(done)
		got, _ = io.Copy(io.Discard, s)
		s.WriteHeader(200, nil)
		s.End(nil, nil)
	}))
	c.headers(1, c.block("POST", "/"), false)
	// Send as the windows allow: the stream's is streamWindow once the
	// client has our SETTINGS, the connection's connWindow.
	stream, conn := int64(streamWindow), int64(connWindow)
	chunk := make([]byte, 16<<10)
	for sent := int64(0); sent < size; {
		for stream < int64(len(chunk)) || conn < int64(len(chunk)) {
			e := <-c.events
			if e.typ == http2.FrameWindowUpdate {
				if e.id == 0 {
					conn += int64(e.incr)
				} else {
					stream += int64(e.incr)
				}
			}
		}
		c.mu.Lock()
		c.fr.WriteData(1, sent+int64(len(chunk)) >= size, chunk)
		c.mu.Unlock()
		sent += int64(len(chunk))
		stream -= int64(len(chunk))
		conn -= int64(len(chunk))
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not get the whole body")
	}
	if got != size {
		t.Errorf("read %d bytes, want %d", got, size)
	}

	// Beyond the stream's window: a stream error.
	block := make(chan struct{})
	defer close(block)
	c = dial(t, testConfig(), handlerFunc(func(s *Stream) { <-block }))
	c.headers(1, c.block("POST", "/"), false)
	for range streamWindow/len(chunk) + 1 {
		c.mu.Lock()
		c.fr.WriteData(1, false, chunk)
		c.mu.Unlock()
	}
	evs, _ := c.until(5*time.Second, func(e event) bool { return e.typ == http2.FrameRSTStream })
	if e, ok := find(evs, http2.FrameRSTStream, 1); !ok || e.code != http2.ErrCodeFlowControl {
		t.Errorf("beyond the window: %+v", e)
	}
}

// TestStreamContext: a stream the client resets ends its context, and
// its AfterFuncs run.
func TestStreamContext(t *testing.T) {
	ended := make(chan error, 1)
	after := make(chan struct{})
	c := dial(t, testConfig(), handlerFunc(func(s *Stream) {
		context.AfterFunc(s, func() { close(after) })
		stop := context.AfterFunc(s, func() { t.Error("a stopped AfterFunc ran") })
		stop()
		ctx, cancel := context.WithCancel(s)
		defer cancel()
		<-ctx.Done()
		ended <- s.Err()
	}))
	c.headers(1, c.block("POST", "/"), false)
	time.Sleep(50 * time.Millisecond)
	c.mu.Lock()
	c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	c.mu.Unlock()
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Errorf("Err %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reset did not end the stream's context")
	}
	select {
	case <-after:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc did not run")
	}
}

// TestRapidReset (CVE-2023-44487): a client resetting streams as fast as
// it opens them is cut off with ENHANCE_YOUR_CALM; one resetting a
// minority of its streams is not.
func TestRapidReset(t *testing.T) {
	c := dial(t, testConfig(), handlerFunc(func(s *Stream) { <-s.Done() }))
	go func() {
		for i := range uint32(2000) {
			if c.get(2*i+1, "/") != nil {
				return
			}
			c.mu.Lock()
			err := c.fr.WriteRSTStream(2*i+1, http2.ErrCodeCancel)
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	evs, _ := c.until(10*time.Second, isGoAway)
	e, ok := find(evs, http2.FrameGoAway, 0)
	if !ok || e.code != http2.ErrCodeEnhanceYourCalm || e.last > 2*(2*MaxResets+10) {
		t.Errorf("GOAWAY %+v", e)
	}

	c2 := dial(t, testConfig(), echoPath)
	id := uint32(1)
	for range 3 * MaxResets {
		c2.get(id, "/")
		id += 2
		c2.until(5*time.Second, func(e event) bool { return e.end })
	}
	for range MaxResets + 20 {
		c2.headers(id, c2.block("POST", "/"), false)
		c2.mu.Lock()
		c2.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		c2.mu.Unlock()
		id += 2
	}
	c2.get(id, "/last")
	evs, _ = c2.until(5*time.Second, func(e event) bool { return e.id == id && e.end || isGoAway(e) })
	if _, ok := find(evs, http2.FrameGoAway, 0); ok {
		t.Error("a client resetting a minority of its streams was cut off")
	}
	if e, ok := find(evs, http2.FrameData, id); !ok || e.data != "/last" {
		t.Errorf("last stream: %+v", e)
	}
}

// TestContinuationFlood (CVE-2024-27316): a header block in more
// CONTINUATION frames than any real client sends closes the connection
// before a handler runs.
func TestContinuationFlood(t *testing.T) {
	called := false
	c := dial(t, testConfig(), handlerFunc(func(*Stream) { called = true }))
	blk := c.block("GET", "/", "x-a", strings.Repeat("a", 400))
	c.mu.Lock()
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:4]})
	for i := 4; i < len(blk); i += 4 {
		if c.fr.WriteContinuation(1, i+4 >= len(blk), blk[i:min(i+4, len(blk))]) != nil {
			break
		}
	}
	c.mu.Unlock()
	evs, closed := c.until(5*time.Second, nil)
	e, ok := find(evs, http2.FrameGoAway, 0)
	if !ok || e.code != http2.ErrCodeEnhanceYourCalm || !closed || called {
		t.Errorf("GOAWAY %+v, closed %v, handler called %v", e, closed, called)
	}
}

// TestHPACKBomb: a small block decoding to a header list over the limit
// reaches the handler as HeaderTooLarge (for a 431), and the HPACK table
// stays in step for the next request.
func TestHPACKBomb(t *testing.T) {
	cfg := testConfig()
	c := dial(t, cfg, handlerFunc(func(s *Stream) {
		status := 200
		if s.HeaderTooLarge() {
			status = 431
		}
		size := 0
		for _, f := range s.Fields() {
			size += len(f.Name) + len(f.Value) + 32
		}
		if size > cfg.MaxHeaderListSize {
			t.Errorf("%d bytes of fields past the limit", size)
		}
		s.WriteHeader(status, nil)
		s.End(nil, nil)
	}))
	big := strings.Repeat("b", 3000)
	c.get(1, "/seed", "x-bomb", big)
	var bomb []string
	for range 100 {
		bomb = append(bomb, "x-bomb", big)
	}
	blk := c.block("GET", "/bomb", bomb...)
	if len(blk) > 200 {
		t.Fatalf("a %d-byte block is no bomb", len(blk))
	}
	c.headers(3, blk, true)
	c.get(5, "/after", "x-bomb", big)
	ended := 0
	evs, _ := c.until(5*time.Second, func(e event) bool {
		if e.end {
			ended++
		}
		return ended == 3
	})
	for id, want := range map[uint32]string{1: "200", 3: "431", 5: "200"} {
		if e, _ := find(evs, http2.FrameHeaders, id); e.field(":status") != want {
			t.Errorf("stream %d: status %q, want %s", id, e.field(":status"), want)
		}
	}
}

// TestControlFloods: a few PING, SETTINGS and PRIORITY frames are
// answered; floods of them close the connection with ENHANCE_YOUR_CALM.
func TestControlFloods(t *testing.T) {
	for name, send := range map[string]func(*http2.Framer) error{
		"PING":     func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{1}) },
		"SETTINGS": func(fr *http2.Framer) error { return fr.WriteSettings() },
		"PRIORITY": func(fr *http2.Framer) error { return fr.WritePriority(3, http2.PriorityParam{Weight: 1}) },
	} {
		c := dial(t, testConfig(), echoPath)
		c.mu.Lock()
		for range 10 {
			send(c.fr)
		}
		c.mu.Unlock()
		c.get(1, "/few")
		evs, _ := c.until(5*time.Second, func(e event) bool { return e.id == 1 && e.end || isGoAway(e) })
		if e, ok := find(evs, http2.FrameData, 1); !ok || e.data != "/few" {
			t.Errorf("10 %s frames: %+v", name, evs)
		}
		go func() {
			for range 5000 {
				c.mu.Lock()
				err := send(c.fr)
				c.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		evs, _ = c.until(10*time.Second, isGoAway)
		if e, ok := find(evs, http2.FrameGoAway, 0); !ok || e.code != http2.ErrCodeEnhanceYourCalm {
			t.Errorf("a %s flood: GOAWAY %+v", name, e)
		}
	}
}

// TestMaxConcurrentStreams: streams beyond the limit are refused while
// the others are in flight, which then complete.
func TestMaxConcurrentStreams(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConcurrentStreams = 2
	release := make(chan struct{})
	c := dial(t, cfg, handlerFunc(func(s *Stream) {
		<-release
		echoPath.ServeH2(s)
	}))
	for _, id := range []uint32{1, 3, 5} {
		c.get(id, "/")
	}
	evs, _ := c.until(5*time.Second, func(e event) bool { return e.typ == http2.FrameRSTStream })
	if e, ok := find(evs, http2.FrameRSTStream, 5); !ok || e.code != http2.ErrCodeRefusedStream {
		t.Fatalf("stream 5: %+v", evs)
	}
	close(release)
	ended := 0
	evs, _ = c.until(5*time.Second, func(e event) bool {
		if e.end {
			ended++
		}
		return ended == 2
	})
	for _, id := range []uint32{1, 3} {
		if _, ok := find(evs, http2.FrameData, id); !ok {
			t.Errorf("stream %d not answered", id)
		}
	}

	// A client that keeps opening streams beyond the limit is cut off,
	// as one resetting them is.
	hold := make(chan struct{})
	defer close(hold)
	c = dial(t, cfg, handlerFunc(func(*Stream) { <-hold }))
	go func() {
		for i := range uint32(1000) {
			if c.get(2*i+1, "/") != nil {
				return
			}
		}
	}()
	evs, _ = c.until(10*time.Second, isGoAway)
	if e, ok := find(evs, http2.FrameGoAway, 0); !ok || e.code != http2.ErrCodeEnhanceYourCalm || e.last > 2*(2*MaxResets+10) {
		t.Errorf("streams beyond the limit without end: GOAWAY %+v", e)
	}
}

// TestIdleTimeout: a connection without streams for IdleTimeout gets
// GOAWAY NO_ERROR and is closed.
func TestIdleTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	c := dial(t, cfg, echoPath)
	c.get(1, "/")
	start := time.Now()
	evs, closed := c.until(5*time.Second, nil)
	e, ok := find(evs, http2.FrameGoAway, 0)
	if !ok || e.code != http2.ErrCodeNo || e.last != 1 || !closed {
		t.Errorf("GOAWAY %+v, closed %v", e, closed)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("closed after %v", d)
	}
}

// TestShutdown: GOAWAY first, the stream in flight completes, then the
// connection closes.
func TestShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	c := dial(t, testConfig(), handlerFunc(func(s *Stream) {
		close(started)
		<-release
		echoPath.ServeH2(s)
	}))
	c.get(1, "/slow")
	<-started
	c.conn.Shutdown()
	evs, _ := c.until(5*time.Second, isGoAway)
	if e, ok := find(evs, http2.FrameGoAway, 0); !ok || e.code != http2.ErrCodeNo || e.last != 1 {
		t.Fatalf("GOAWAY %+v", e)
	}
	c.get(3, "/late") // after GOAWAY: ignored
	close(release)
	evs, closed := c.until(5*time.Second, nil)
	if e, ok := find(evs, http2.FrameData, 1); !ok || e.data != "/slow" || !closed {
		t.Errorf("after GOAWAY: %+v, closed %v", evs, closed)
	}
	if _, ok := find(evs, http2.FrameHeaders, 3); ok {
		t.Error("a stream opened after GOAWAY was served")
	}
}

// TestHeaderTimeout: a header block left unfinished closes the
// connection at HeaderTimeout.
func TestHeaderTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.HeaderTimeout = 200 * time.Millisecond
	c := dial(t, cfg, echoPath)
	blk := c.block("GET", "/")
	c.mu.Lock()
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:3]})
	c.mu.Unlock()
	start := time.Now()
	if _, closed := c.until(5*time.Second, nil); !closed || time.Since(start) > 3*time.Second {
		t.Errorf("closed %v after %v", closed, time.Since(start))
	}
}

// TestShutdownBeforeStart: a connection told to shut down before it read
// anything (accepted as the proxy stops) serves the streams that came
// with the client's first bytes, then sends GOAWAY and closes.
func TestShutdownBeforeStart(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	conn := NewConn(b, bufio.NewReader(b), testConfig(), echoPath)
	conn.Shutdown()
	served := make(chan struct{})
	go func() {
		conn.Serve()
		close(served)
	}()
	var first bytes.Buffer
	first.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&first, nil)
	fr.WriteSettings()
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/first"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk.Bytes(), EndStream: true, EndHeaders: true})
	go a.Write(first.Bytes()) // one write: the server reads it at once
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	in := http2.NewFramer(nil, a)
	var seen []string
	for {
		f, err := in.ReadFrame()
		if err != nil {
			break
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			seen = append(seen, "DATA "+string(f.Data()))
		case *http2.GoAwayFrame:
			seen = append(seen, "GOAWAY "+f.ErrCode.String()+" "+strconv.Itoa(int(f.LastStreamID)))
		}
	}
	slices.Sort(seen) // GOAWAY may come before the response or after
	if got, want := strings.Join(seen, ", "), "DATA /first, GOAWAY NO_ERROR 1"; got != want {
		t.Errorf("frames %q, want %q", got, want)
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Error("Serve did not return")
	}
}

// TestResponseHeadEncoding decodes response heads with x/net's HPACK
// decoder: every name of the static table and others, any case, come back
// as they went in (lowercased), and names of the static table are sent by
// index, not spelt out.
func TestResponseHeadEncoding(t *testing.T) {
	var fields []httpmsg.Field
	for name := range staticNames {
		fields = append(fields, httpmsg.Field{Name: name, Value: "v-" + name})
	}
	fields = append(fields,
		httpmsg.Field{Name: "Content-Type", Value: "text/plain"},
		httpmsg.Field{Name: "X-Custom", Value: ""},
		httpmsg.Field{Name: "accept-charsets", Value: "not the static name"},
		httpmsg.Field{Name: "long-" + strings.Repeat("n", 200), Value: strings.Repeat("v", 300)},
	)
	for _, status := range []int{200, 204, 299, 404, 503} {
		block := appendFields(appendStatus(nil, status), fields)
		got, err := hpack.NewDecoder(4096, nil).DecodeFull(block)
		if err != nil {
			t.Fatalf("status %d: %v", status, err)
		}
		want := []hpack.HeaderField{{Name: ":status", Value: strconv.Itoa(status)}}
		for _, f := range fields {
			want = append(want, hpack.HeaderField{Name: strings.ToLower(f.Name), Value: f.Value})
		}
		if !slices.Equal(got, want) {
			t.Fatalf("status %d: decoded\n%v\nwant\n%v", status, got, want)
		}
	}
	// The head nginx answers the benchmarks with: 1 byte for :status, 2 for
	// each name's index, 1 for each value's length, and the values.
	head := []httpmsg.Field{
		{Name: "Server", Value: "nginx/1.22.1"},
		{Name: "Date", Value: "Mon, 07 Dec 2026 03:49:01 GMT"},
		{Name: "Content-Type", Value: "text/plain"},
		{Name: "via", Value: "1.1 l7lb"},
		{Name: "Content-Length", Value: "3"},
	}
	want := 1
	for _, f := range head {
		want += 2 + 1 + len(f.Value)
	}
	if n := len(appendFields(appendStatus(nil, 200), head)); n != want {
		t.Errorf("response head: %d bytes, want %d", n, want)
	}
}

// TestStreamsStartInOrder sends 40 requests in one write, on one P as the
// proxy runs in the benchmarks: their handlers start in the order of the
// streams (each worker hands the next stream on as it starts), where
// handed out by the reader the last started first and the others after
// everything else runnable.
func TestStreamsStartInOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var mu sync.Mutex
	var started []string
	c := dial(t, testConfig(), handlerFunc(func(s *Stream) {
		mu.Lock()
		started = append(started, s.Path())
		mu.Unlock()
		s.WriteHeader(204, nil)
		s.End(nil, nil)
	}))
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	var want []string
	for i := 1; i <= 40; i++ {
		path := "/" + strconv.Itoa(i)
		want = append(want, path)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i - 1), BlockFragment: c.block("GET", path), EndStream: true, EndHeaders: true})
	}
	c.mu.Lock()
	_, err := c.nc.Write(buf.Bytes())
	c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	c.until(5*time.Second, func(e event) bool {
		if e.typ == http2.FrameHeaders {
			answered++
		}
		return answered == len(want)
	})
	if answered != len(want) {
		t.Fatalf("%d of %d streams answered", answered, len(want))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(started, want) {
		t.Errorf("handlers started in the order\n%v\nwant\n%v", started, want)
	}
}
