package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"l7lb/h2server"
)

// The defences of the HTTP/2 server (package h2server) through the proxy,
// with its configuration, each driven with raw frames (x/net's Framer on
// a plain connection to an h2c listener).

// h2raw is a raw HTTP/2 client connection.
type h2raw struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
	mu  sync.Mutex // writes
	// The server's first SETTINGS.
	settings map[http2.SettingID]uint32
}

// dialH2 opens an HTTP/2 connection with prior knowledge to e (an h2c
// listener) and exchanges SETTINGS.
func dialH2(t *testing.T, e *env) *h2raw {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	h := &h2raw{t: t, c: c, fr: http2.NewFramer(c, c), settings: map[http2.SettingID]uint32{}}
	h.enc = hpack.NewEncoder(&h.buf)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	if _, err := io.WriteString(c, preface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := h.fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	sf.ForeachSetting(func(s http2.Setting) error { h.settings[s.ID] = s.Val; return nil })
	h.fr.WriteSettingsAck()
	return h
}

// block encodes a request's header block: the pseudo-fields of GET path
// on authority, then fields (name, value, ...).
func (h *h2raw) block(method, path string, fields ...string) []byte {
	h.buf.Reset()
	all := append([]string{":method", method, ":scheme", "http", ":authority", "example.test", ":path", path}, fields...)
	for i := 0; i+1 < len(all); i += 2 {
		h.enc.WriteField(hpack.HeaderField{Name: all[i], Value: all[i+1]})
	}
	return bytes.Clone(h.buf.Bytes())
}

// request sends a GET without body on stream id.
func (h *h2raw) request(id uint32, path string, fields ...string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.block("GET", path, fields...), EndStream: true, EndHeaders: true})
}

// result is what the client saw of the connection.
type h2result struct {
	status  map[uint32]string        // :status by stream
	resets  map[uint32]http2.ErrCode // RST_STREAM by stream
	goAway  *http2.GoAwayFrame       // nil when none came
	goAways int
	closed  bool // the connection ended (EOF or reset)
}

// read reads frames until the connection ends or wait passes, or stop
// says it has seen enough, acknowledging nothing.
func (h *h2raw) read(wait time.Duration, stop func(*h2result) bool) *h2result {
	res := &h2result{status: map[uint32]string{}, resets: map[uint32]http2.ErrCode{}}
	h.c.SetReadDeadline(time.Now().Add(wait))
	defer h.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for stop == nil || !stop(res) {
		f, err := h.fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				res.closed = true
			}
			return res
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if s := f.PseudoValue("status"); s != "" {
				res.status[f.StreamID] = s
			}
		case *http2.RSTStreamFrame:
			res.resets[f.StreamID] = f.ErrCode
		case *http2.GoAwayFrame:
			g := *f
			res.goAway = &g
			res.goAways++
		}
	}
	return res
}

func goAwayCode(r *h2result) string {
	if r.goAway == nil {
		return "none"
	}
	return r.goAway.ErrCode.String()
}

// h2env is a proxy with an h2c listener in front of a backend answering
// "ok".
func h2env(t *testing.T, doc string) (*env, *recordingBackend) {
	b := newRecordingBackend(t, nil, false, nil)
	return setupWith(t, offSticky+doc, map[string]string{"s1": b.url}, edgeOptions{listener: ListenerOptions{H2C: true}}), b
}

// TestH2RapidReset (CVE-2023-44487): a client that resets every stream it
// opens is cut off with GOAWAY ENHANCE_YOUR_CALM after a bounded number of
// them; one that resets a minority of its streams is not.
func TestH2RapidReset(t *testing.T) {
	e, b := h2env(t, "")
	h := dialH2(t, e)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range uint32(2000) {
			id := 2*i + 1
			if h.request(id, "/") != nil {
				return // cut off
			}
			h.mu.Lock()
			err := h.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			h.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	res := h.read(10*time.Second, func(r *h2result) bool { return r.goAway != nil })
	h.c.Close()
	wg.Wait()
	if res.goAway == nil || res.goAway.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %s, want ENHANCE_YOUR_CALM", goAwayCode(res))
	}
	if last := res.goAway.LastStreamID; last > 2*2*h2server.MaxResets+50 {
		t.Errorf("cut off only after stream %d", last)
	}
	t.Logf("cut off at stream %d; %d requests reached the server", res.goAway.LastStreamID, b.count())
	if e.p.Stats().Errors["http2"] == 0 {
		t.Error("no http2 error counted")
	}

	// A client that completes most of its streams may reset some.
	h = dialH2(t, e)
	// In rounds of half max_concurrent_streams: a stream answered may
	// not be closed yet on the server's side.
	const round = h2server.MaxResets / 2
	for r := range uint32(3 * h2server.MaxResets / round) {
		for i := range uint32(round) {
			h.request(2*(r*round+i)+1, "/")
		}
		done := h.read(10*time.Second, func(res *h2result) bool { return len(res.status)+len(res.resets) == round || res.goAway != nil })
		if len(done.status) != round || len(done.resets) != 0 {
			t.Fatalf("round %d: %d answers, resets %v, GOAWAY %s", r, len(done.status), done.resets, goAwayCode(done))
		}
	}
	for i := range uint32(h2server.MaxResets + 20) {
		id := 2*(3*h2server.MaxResets+i) + 1
		h.request(id, "/")
		h.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	h.request(2*(4*h2server.MaxResets+20)+1, "/last")
	res = h.read(10*time.Second, func(r *h2result) bool { return r.status[2*(4*h2server.MaxResets+20)+1] != "" || r.goAway != nil })
	if res.goAway != nil || res.status[2*(4*h2server.MaxResets+20)+1] != "200" {
		t.Errorf("a client resetting a minority of its streams: GOAWAY %s, last %q", goAwayCode(res), res.status[2*(4*h2server.MaxResets+20)+1])
	}
}

// TestH2ContinuationFlood (CVE-2024-27316): a header block spread over
// more CONTINUATION frames than any real client uses, empty ones or not,
// closes the connection before any request is made of it.
func TestH2ContinuationFlood(t *testing.T) {
	e, b := h2env(t, "")
	for _, empty := range []bool{true, false} {
		h := dialH2(t, e)
		var fields []string
		for i := range 400 {
			fields = append(fields, "x-f"+itoa(i), "v")
		}
		blk := h.block("GET", "/", fields...)
		go func() {
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:8]})
			for i := 8; i < len(blk); i += 8 {
				frag := blk[i:min(i+8, len(blk))]
				if empty {
					frag = nil
				}
				if h.fr.WriteContinuation(1, !empty && i+8 >= len(blk), frag) != nil {
					return
				}
			}
		}()
		res := h.read(10*time.Second, func(r *h2result) bool { return r.goAway != nil })
		if res.goAway == nil || res.status[1] != "" {
			t.Errorf("empty %v: GOAWAY %s, status %q", empty, goAwayCode(res), res.status[1])
		}
	}
	if b.count() != 0 {
		t.Errorf("%d requests reached the server", b.count())
	}
}

// headersSplit sends a header block on stream id in frames of at most
// size bytes: HEADERS, then CONTINUATIONs.
func (h *h2raw) headersSplit(id uint32, blk []byte, size int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := blk[:min(size, len(blk))]
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: true, EndHeaders: len(first) == len(blk)})
	for i := len(first); i < len(blk); i += size {
		frag := blk[i:min(i+size, len(blk))]
		if h.fr.WriteContinuation(id, i+size >= len(blk), frag) != nil {
			return
		}
	}
}

// TestH2HPACKBomb: a small header block that decodes to a header list far
// over the limit (one large field in the HPACK table, referenced again
// and again, a byte each) is answered 431, and the connection goes on; so
// is one of literal fields spread over several frames. A single field
// longer than the whole limit (the decoder refuses the string), or a block
// beyond twice the limit, closes the connection.
func TestH2HPACKBomb(t *testing.T) {
	e, b := h2env(t, `, "limits": {"max_header_bytes": 65536}`)
	h := dialH2(t, e)
	if got := h.settings[http2.SettingMaxHeaderListSize]; got != 65536 {
		t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE %d, want 65536", got)
	}
	if got := h.settings[http2.SettingMaxFrameSize]; got != 0 && got != 16384 {
		t.Errorf("SETTINGS_MAX_FRAME_SIZE %d, want 16384", got)
	}
	big := strings.Repeat("b", 3900)
	h.request(1, "/seed", "x-bomb", big) // into the table
	bomb := []string{}
	for range 200 {
		bomb = append(bomb, "x-bomb", big)
	}
	blk := h.block("GET", "/bomb", bomb...)
	if len(blk) > 400 {
		t.Fatalf("the bomb's block is %d bytes: not a bomb", len(blk))
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: blk, EndStream: true, EndHeaders: true})
	h.request(5, "/after")
	res := h.read(10*time.Second, func(r *h2result) bool { return len(r.status) == 3 || r.goAway != nil })
	for id, s := range map[uint32]string{1: "200", 3: "431", 5: "200"} {
		if res.status[id] != s {
			t.Errorf("stream %d: status %q, want %s (GOAWAY %s)", id, res.status[id], s, goAwayCode(res))
		}
	}
	if n := b.count(); n != 2 {
		t.Errorf("%d requests reached the server, want 2", n)
	}

	// Over the limit in literal fields spread over frames: 431, as in
	// HTTP/1.1, and the connection goes on (its HPACK table in step).
	var many []string
	for i := range 20 {
		many = append(many, "x-big-"+itoa(i), strings.Repeat("c", 4000))
	}
	h = dialH2(t, e)
	h.request(1, "/seed", "x-seed", "s") // into the table
	h.headersSplit(3, h.block("GET", "/big", many...), 16384)
	h.request(5, "/after", "x-seed", "s") // from the table
	res = h.read(10*time.Second, func(r *h2result) bool { return len(r.status) == 3 || r.goAway != nil })
	for id, s := range map[uint32]string{1: "200", 3: "431", 5: "200"} {
		if res.status[id] != s {
			t.Errorf("a header list over the limit in CONTINUATION frames, stream %d: status %q, want %s (GOAWAY %s)", id, res.status[id], s, goAwayCode(res))
		}
	}

	// A single field longer than the whole limit (the decoder refuses
	// the string), or a block beyond twice the limit, closes the
	// connection.
	for _, tt := range []struct {
		name   string
		fields []string
	}{
		{"one field over the limit", []string{"x-big", strings.Repeat("c", 70000)}},
		{"a block beyond twice the limit", func() (f []string) {
			for i := range 40 {
				f = append(f, "x-huge-"+itoa(i), strings.Repeat("~", 6000))
			}
			return f
		}()},
	} {
		h := dialH2(t, e)
		h.headersSplit(1, h.block("GET", "/big", tt.fields...), 16384)
		res := h.read(10*time.Second, nil)
		if res.goAway == nil || !res.closed || res.status[1] != "" {
			t.Errorf("%s: GOAWAY %s, closed %v, status %q", tt.name, goAwayCode(res), res.closed, res.status[1])
		}
	}
	if n := b.count(); n != 4 {
		t.Errorf("%d requests reached the server, want 4", n)
	}

	// A frame larger than the 16 KiB the client was told is a
	// FRAME_SIZE_ERROR, whatever the server would read.
	h = dialH2(t, e)
	h.fr.WriteData(1, false, make([]byte, 20000))
	res = h.read(10*time.Second, nil)
	if res.goAway == nil || res.goAway.ErrCode != http2.ErrCodeFrameSize {
		t.Errorf("a 20000-byte frame: GOAWAY %s", goAwayCode(res))
	}
}

// TestH2MalformedRequests: RFC 9113 8.2.2's connection-specific fields,
// and TE other than trailers, close the connection with PROTOCOL_ERROR;
// a SETTINGS frame that names a setting twice is taken (the last value
// wins) (h2spec 8.1.2.2 and 6.5.3).
func TestH2MalformedRequests(t *testing.T) {
	e, b := h2env(t, "")
	for _, fields := range [][]string{{"connection", "keep-alive"}, {"upgrade", "h2c"}, {"transfer-encoding", "chunked"}, {"te", "gzip"}} {
		h := dialH2(t, e)
		h.request(1, "/fine", "te", "trailers")
		first := h.read(5*time.Second, func(r *h2result) bool { return r.status[1] != "" })
		h.request(3, "/bad", fields...)
		res := h.read(5*time.Second, nil)
		res.status[1] = first.status[1]
		if res.status[1] != "200" || res.goAway == nil || res.goAway.ErrCode != http2.ErrCodeProtocol || !res.closed {
			t.Errorf("%v: status %q, GOAWAY %s, closed %v", fields, res.status[1], goAwayCode(res), res.closed)
		}
	}
	if n := b.count(); n != 4 {
		t.Errorf("%d requests reached the server, want the 4 good ones", n)
	}
	h := dialH2(t, e)
	h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	h.request(1, "/")
	res := h.read(5*time.Second, func(r *h2result) bool { return r.status[1] != "" || r.goAway != nil })
	if res.status[1] != "200" || res.goAway != nil {
		t.Errorf("SETTINGS with a repeated setting: status %q, GOAWAY %s", res.status[1], goAwayCode(res))
	}
}

// TestH2ControlFloods: SETTINGS and PING frames sent without end (each of
// which makes the server answer) close the connection with
// ENHANCE_YOUR_CALM; a few are fine.
func TestH2ControlFloods(t *testing.T) {
	e, _ := h2env(t, "")
	for _, tt := range []struct {
		name string
		send func(*http2.Framer) error
	}{
		{"SETTINGS", func(fr *http2.Framer) error {
			return fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
		}},
		{"PING", func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{1}) }},
		{"PRIORITY", func(fr *http2.Framer) error {
			return fr.WritePriority(1, http2.PriorityParam{StreamDep: 0, Weight: 1})
		}},
		{"empty DATA", func(fr *http2.Framer) error { return fr.WriteData(1, false, nil) }},
	} {
		h := dialH2(t, e)
		if tt.name == "empty DATA" {
			h.mu.Lock()
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.block("POST", "/"), EndHeaders: true})
			h.mu.Unlock()
		}
		for range 10 {
			tt.send(h.fr)
		}
		h.request(3, "/few")
		res := h.read(5*time.Second, func(r *h2result) bool { return r.status[3] != "" || r.goAway != nil })
		if res.status[3] != "200" || res.goAway != nil {
			t.Errorf("10 %s frames: status %q, GOAWAY %s", tt.name, res.status[3], goAwayCode(res))
		}
		go func() {
			for range 5000 {
				if tt.send(h.fr) != nil {
					return
				}
			}
		}()
		res = h.read(10*time.Second, func(r *h2result) bool { return r.goAway != nil })
		if res.goAway == nil || res.goAway.ErrCode != http2.ErrCodeEnhanceYourCalm {
			t.Errorf("a %s flood: GOAWAY %s, want ENHANCE_YOUR_CALM", tt.name, goAwayCode(res))
		}
	}
}

// TestH2MaxConcurrentStreams: the server announces
// limits.max_concurrent_streams and refuses a stream beyond it while the
// others are in flight, which then complete.
func TestH2MaxConcurrentStreams(t *testing.T) {
	release := make(chan struct{})
	b := newRecordingBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "ok")
	})
	e := setupWith(t, offSticky+`, "limits": {"max_concurrent_streams": 3}`, map[string]string{"s1": b.url}, edgeOptions{listener: ListenerOptions{H2C: true}})
	h := dialH2(t, e)
	if got := h.settings[http2.SettingMaxConcurrentStreams]; got != 3 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d, want 3", got)
	}
	for _, id := range []uint32{1, 3, 5, 7} {
		h.request(id, "/")
	}
	res := h.read(5*time.Second, func(r *h2result) bool { return len(r.resets) > 0 })
	if _, ok := res.resets[7]; !ok || len(res.resets) != 1 {
		t.Fatalf("resets %v, want stream 7's", res.resets)
	}
	close(release)
	res = h.read(5*time.Second, func(r *h2result) bool { return len(r.status) == 3 })
	for _, id := range []uint32{1, 3, 5} {
		if res.status[id] != "200" {
			t.Errorf("stream %d: status %q", id, res.status[id])
		}
	}
}

// TestH2IdleTimeout: an idle connection gets GOAWAY and is closed.
func TestH2IdleTimeout(t *testing.T) {
	e, _ := h2env(t, `, "timeouts": {"idle": "300ms"}`)
	h := dialH2(t, e)
	h.request(1, "/")
	start := time.Now()
	res := h.read(5*time.Second, nil)
	if res.status[1] != "200" || res.goAway == nil || res.goAway.ErrCode != http2.ErrCodeNo || !res.closed {
		t.Errorf("status %q, GOAWAY %s, closed %v", res.status[1], goAwayCode(res), res.closed)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("closed after %v, want about 300ms", d)
	}
}

// TestH2Shutdown: Shutdown sends GOAWAY and lets the streams in flight
// complete before it closes the connection.
func TestH2Shutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	b := newRecordingBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "slow")
	})
	e := setupWith(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{listener: ListenerOptions{H2C: true}})
	h := dialH2(t, e)
	h.request(1, "/slow")
	<-started
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- e.p.Shutdown(ctx)
	}()
	res := h.read(5*time.Second, func(r *h2result) bool { return r.goAway != nil })
	if res.goAway == nil || res.goAway.ErrCode != http2.ErrCodeNo || res.status[1] != "" {
		t.Fatalf("GOAWAY %s, status %q: want GOAWAY NO_ERROR while stream 1 is in flight", goAwayCode(res), res.status[1])
	}
	res = h.read(5*time.Second, nil)
	if res.status[1] != "200" || !res.closed {
		t.Errorf("after GOAWAY: status %q, closed %v; want 200, then closed", res.status[1], res.closed)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestH2HeaderBlockTimeout: a header block left unfinished is cut off at
// the read-header timeout, as an HTTP/1.1 head is; so is a connection
// that sends no preface after the TLS handshake.
func TestH2HeaderBlockTimeout(t *testing.T) {
	e, _ := h2env(t, `, "timeouts": {"read_header": "300ms"}`)
	h := dialH2(t, e)
	blk := h.block("GET", "/", "x-a", "b")
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:5]})
	start := time.Now()
	res := h.read(5*time.Second, nil)
	if !res.closed || time.Since(start) > 3*time.Second {
		t.Errorf("unfinished header block: closed %v after %v", res.closed, time.Since(start))
	}

	b := newRecordingBackend(t, nil, false, nil)
	et, roots := tlsEnv(t, offSticky+`, "timeouts": {"read_header": "300ms"}`, map[string]string{"s1": b.url}, edgeOptions{})
	c := et.dialTLS(roots, "h2")
	start = time.Now()
	if !closedConn(c, 3*time.Second) {
		t.Error("a TLS h2 connection without a preface was kept")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v", d)
	}
}
