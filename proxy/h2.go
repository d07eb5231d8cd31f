package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/observe"
	"l7lb/strview"
	"l7lb/tracing"
)

// HTTP/2 from clients is served by golang.org/x/net/http2's server, which
// does the framing, HPACK, flow control, stream states and its own
// defences (see frameGuard for the ones added here); each stream is
// handed to serveStream, an adapter that turns it into the proxy's own
// request form and serves it with the same engine decisions and the same
// field rules (fieldsink.go) as an HTTP/1.x request. HTTP/1.x stays on the
// raw fast path.

// h2conn is the HTTP/2 state of a client connection.
type h2conn struct {
	base *http.Server // x/net's server per connection: its Shutdown is this connection's GOAWAY

	// Shutdown asks for a graceful close (GOAWAY, streams in flight
	// completed) once the server has registered the connection, which
	// it has when it first writes.
	started, stopping atomic.Bool
	once              sync.Once

	// handlers counts the streams being served: x/net's ServeConn
	// returns without waiting for them, and the connection is not done
	// before they are (Shutdown waits for it). A sync.WaitGroup would
	// not do: a handler x/net started may begin after the wait did.
	mu       sync.Mutex
	handlers int
	idle     chan struct{} // closed when handlers drops to 0, while waited for
}

func (h *h2conn) enter() {
	h.mu.Lock()
	h.handlers++
	h.mu.Unlock()
}

func (h *h2conn) leave() {
	h.mu.Lock()
	if h.handlers--; h.handlers == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
	h.mu.Unlock()
}

// wait waits for the handlers running.
func (h *h2conn) wait() {
	h.mu.Lock()
	if h.handlers == 0 {
		h.mu.Unlock()
		return
	}
	idle := make(chan struct{})
	h.idle = idle
	h.mu.Unlock()
	<-idle
}

// shutdown starts the graceful close of the connection, now or as soon as
// the server serves it.
func (h *h2conn) shutdown() {
	h.stopping.Store(true)
	if h.started.Load() {
		h.once.Do(func() { go h.base.Shutdown(context.Background()) })
	}
}

// wrote is called at each write of the server, the first one after the
// server registered the connection.
func (h *h2conn) wrote() {
	if h.started.Load() {
		return
	}
	h.started.Store(true)
	if h.stopping.Load() {
		h.shutdown()
	}
}

// startedConn tells an h2conn of the server's writes, and tells the
// client the frame size the guard holds it to rather than the server's
// (see frameGuard).
type startedConn struct {
	net.Conn
	h       *h2conn
	settled bool // the server's first SETTINGS frame went out
}

func (c *startedConn) Write(p []byte) (int, error) {
	c.h.wrote()
	if !c.settled {
		c.settled = true
		advertiseFrameSize(p)
	}
	// Let the goroutines that are ready run first: handlers with a
	// response in hand pass their frames to the connection's goroutine
	// meanwhile, which queues them for its next write. Under load many
	// responses then share a write (and a TLS record) rather than taking
	// one or two each, as an event loop writes once per round; with
	// nothing ready it returns at once.
	runtime.Gosched()
	return c.Conn.Write(p)
}

// advertiseFrameSize sets SETTINGS_MAX_FRAME_SIZE to maxFrameSize in the
// SETTINGS frame that starts p: the server's first write, its preface.
func advertiseFrameSize(p []byte) {
	if len(p) < 9 || p[3] != frameSettings || p[4]&flagAck != 0 {
		return
	}
	n := int(p[0])<<16 | int(p[1])<<8 | int(p[2])
	for i := 9; i+6 <= min(len(p), 9+n); i += 6 {
		if binary.BigEndian.Uint16(p[i:]) == uint16(http2.SettingMaxFrameSize) {
			binary.BigEndian.PutUint32(p[i+2:], maxFrameSize)
		}
	}
}

// replayConn is a connection whose first bytes were read already (the
// preface of HTTP/2 with prior knowledge): they are read again first.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// h2ListOverhead is what x/net's server adds to http.Server's
// MaxHeaderBytes for its SETTINGS_MAX_HEADER_LIST_SIZE (32 bytes for ten
// fields): taken off, the decoded header list may be exactly
// max_header_bytes, beyond which the request gets 431.
const h2ListOverhead = 10 * 32

// serveHTTP2 serves the connection as HTTP/2 until the client, the idle
// timeout or Shutdown ends it.
func (c *clientConn) serveHTTP2() {
	p, snap := c.p, c.p.cur.Load()
	conn := c.tc.Conn // the TLS connection, or the raw one for h2c
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		conn = &replayConn{Conn: conn, buf: bytes.Clone(b)}
	}
	h := &h2conn{base: &http.Server{
		MaxHeaderBytes: max(snap.l.MaxHeaderBytes-h2ListOverhead, 1),
		ErrorLog:       p.h2log,
	}}
	srv := &http2.Server{
		MaxConcurrentStreams: uint32(snap.l.MaxConcurrentStreams),
		// What the guard hands the server: frames of the client's up
		// to RFC 9113's initial 16 KiB (as HAProxy and nginx keep), a
		// header block joined into one frame (see frameGuard).
		MaxReadFrameSize: uint32(coalescedFrameSize(snap.l.MaxHeaderBytes)),
		IdleTimeout:      snap.t.Idle,
		// A client that reads nothing for this long is cut off, as an
		// HTTP/1.1 client whose writes stall.
		WriteByteTimeout: snap.t.Idle,
		CountError:       func(string) { p.count(errHTTP2) },
	}
	if err := http2.ConfigureServer(h.base, srv); err != nil {
		p.logf("proxy: http2: %v", err)
		return
	}
	// The deadlines of the HTTP/1.x wait for the first bytes are done
	// with: the guard sets its own, x/net's server the rest.
	c.raw.SetWriteDeadline(time.Time{})
	tc, _ := c.tc.Conn.(*tls.Conn)
	guarded := newFrameGuard(&startedConn{Conn: conn, h: h}, tc, snap.t.ReadHeader, snap.l.MaxHeaderBytes, func() { p.count(errHTTP2) })
	c.mu.Lock()
	c.h2 = h
	if c.stopping() {
		// Accepted as the proxy (or its listener) stops: GOAWAY as soon
		// as the server speaks, the streams it has read served, as an
		// HTTP/1.x connection's first request is (firstRequestGrace).
		h.shutdown()
	}
	c.mu.Unlock()
	srv.ServeConn(guarded, &http2.ServeConnOpts{
		BaseConfig: h.base,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.enter()
			defer h.leave()
			c.serveStream(w, r)
		}),
	})
	// The streams' contexts are cancelled now: their handlers end soon.
	h.wait()
}

// newH2Log returns the log of x/net's server: connection errors, which
// misbehaving clients cause and the http2 error count counts, are not
// logged; anything else (a panic) is.
func newH2Log(logf func(string, ...any)) *log.Logger {
	return log.New(logWriter(func(line string) {
		if strings.HasPrefix(line, "http2: server connection error") || strings.HasPrefix(line, "http2: server: error reading preface") ||
			strings.HasPrefix(line, "http2: received GOAWAY") || strings.HasPrefix(line, "http2: server closing client connection") {
			return
		}
		logf("proxy: %s", strings.TrimSuffix(line, "\n"))
	}), "", 0)
}

type logWriter func(string)

func (w logWriter) Write(p []byte) (int, error) {
	w(string(p))
	return len(p), nil
}

// stream is an HTTP/2 request being served: what a clientConn keeps for
// its HTTP/1.x request, per stream, reused through a pool.
type stream struct {
	c       *clientConn
	snap    *snapshot // the configuration it is served in
	trusted bool      // its client is a trusted proxy of snap
	w       http.ResponseWriter
	r       *http.Request
	req     request
	ereq    engine.Request
	d       engine.Decision
	resp    response
	id      uint64 // the X-Request-Id generated; 0 when it had one
	failed  []string
	server  string
	status  int
	start   time.Time
	sent    countingWriter // the response body, counted
	body    countingReader // the request body, counted
	keys    []string
	fields  []httpmsg.Field
	buf     []byte // a response head from an HTTP/1.1 server, which resp aliases
	// What the metrics, the access log and the tracer need of it.
	routed  bool          // d holds its decision
	connect time.Duration // dialing the server connection used; -1 for none
	waited  time.Duration // from the request sent to the response head; -1 for none
	retries int           // attempts after the first
	span    *tracing.Span // nil unless traced
	x       observe.Exchange
	// abort resets the stream once served: its response was cut short.
	abort   bool
	out     *bufio.Writer // a response body on its way to the client, kept
	flusher flushWriter   // what out writes to
}

var streams = sync.Pool{New: func() any { return new(stream) }}

// countingWriter counts the bytes written to w.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	return n, err
}

func (cr *countingReader) Close() error { return cr.r.Close() }

// serveStream serves one HTTP/2 request. It reads it into the proxy's
// request form (fields in name order, as a header map keeps no other),
// answers ACME challenges and redirects as the listener says, routes it
// and forwards it to a server over HTTP/1.1 or HTTP/2.
func (c *clientConn) serveStream(w http.ResponseWriter, r *http.Request) {
	p := c.p
	st := streams.Get().(*stream)
	st.c, st.w, st.r, st.start = c, w, r, time.Now()
	st.snap = p.cur.Load()
	st.trusted = trustedAddr(st.snap.trusted, c.raw.RemoteAddr())
	st.sent = countingWriter{w: w}
	if r.Body != nil {
		st.body = countingReader{r: r.Body}
		r.Body = &st.body
	}
	st.id, st.server, st.status, st.abort = 0, "", 0, false
	st.routed, st.connect, st.waited, st.retries = false, -1, -1, 0
	st.d.Route, st.d.Sticky = "", engine.StickyNone
	defer func() {
		st.finish()
		st.c, st.snap, st.w, st.r, st.sent.w, st.body.r = nil, nil, nil, nil, nil, nil
		clear(st.fields)
		st.req.head = httpmsg.Head{}
		st.ereq = engine.Request{}
		streams.Put(st)
	}()
	p.stats.requests.Add(1)

	if r.Method == http.MethodConnect {
		st.reject(501, errBadRequest, "CONNECT is not served")
		return
	}
	if status, msg := st.readRequest(); status != 0 {
		kind := errBadRequest
		if status == 431 {
			kind = errHeaderSize
		}
		st.reject(status, kind, msg)
		return
	}
	if c.ln.edge {
		if status, field, value, body, ok := c.edgeResponse(&st.req); ok {
			if field != "" {
				w.Header().Set(field, value)
			}
			st.respond(status, "text/plain", body)
			return
		}
	}
	rq := &st.req
	st.ereq = engine.Request{Method: rq.head.Method, Target: rq.head.Target, Host: rq.host, Headers: &rq.view}
	p.eng.RouteIn(st.snap.view, &st.ereq, &st.d)
	st.routed = true
	switch st.d.Status {
	case 200:
		st.forward()
		p.eng.Done(&st.d)
		if st.abort {
			// The client learns that the response was cut short
			// from a reset stream.
			panic(http.ErrAbortHandler)
		}
	case 404:
		st.reject(404, errNoRoute, "")
	case 503:
		st.reject(503, errNoServer, "")
	default:
		st.reject(400, errBadRequest, st.d.Error)
	}
}

// readRequest reads the stream's request into st.req, and returns the
// status and reason for one the proxy refuses (0 for none).
func (st *stream) readRequest() (int, string) {
	r, rq := st.r, &st.req
	st.keys = st.keys[:0]
	for k := range r.Header {
		st.keys = append(st.keys, k)
	}
	slices.Sort(st.keys)
	fields := st.fields[:0]
	for _, k := range st.keys {
		for _, v := range r.Header[k] {
			fields = append(fields, httpmsg.Field{Name: k, Value: v})
		}
	}
	// x/net's server takes the trailers a client announces out of the
	// header map: they are announced again, for an HTTP/1.1 server.
	if len(r.Trailer) > 0 {
		names := make([]string, 0, len(r.Trailer))
		for k := range r.Trailer {
			names = append(names, k)
		}
		slices.Sort(names)
		fields = append(fields, httpmsg.Field{Name: "Trailer", Value: strings.Join(names, ", ")})
	}
	st.fields = fields
	if len(fields) > st.snap.l.MaxHeaders {
		return 431, ""
	}
	rq.head = httpmsg.Head{Method: r.Method, Target: r.RequestURI, Proto: "HTTP/2.0", Fields: fields}
	if err := rq.scan(fields); err != nil {
		return 400, err.Error()
	}
	rq.view.Fields = fields
	host, err := httpmsg.RequestHost(r.RequestURI, r.Host)
	if err != nil {
		return 400, err.Error()
	}
	rq.http11, rq.keepAlive, rq.host = true, true, host
	rq.length = r.ContentLength
	switch {
	case r.ContentLength == 0:
		rq.body = bodyNone
	case r.ContentLength > 0:
		rq.body = bodyLength
	default:
		rq.body = bodyChunked // of unknown length: chunked to an HTTP/1.1 server
	}
	// HTTP/2 has no Expect dance with the proxy in the middle: x/net's
	// server sends 100 Continue when the body is first read.
	rq.expect = false
	return 0, ""
}

// reject answers the stream with status and a short plain-text body, as
// clientConn.reject does.
func (st *stream) reject(status int, kind errKind, detail string) {
	st.c.p.count(kind)
	_, body := statusText(status)
	if detail != "" {
		body += ": " + detail
	}
	st.respond(status, "text/plain; charset=utf-8", body+"\n")
}

// respond answers the stream itself with status and body.
func (st *stream) respond(status int, contentType, body string) {
	h := st.w.Header()
	h.Set("Content-Type", contentType)
	if st.c.ln.HSTS != "" {
		h.Set("Strict-Transport-Security", st.c.ln.HSTS)
	}
	h.Set("Content-Length", itoa(len(body)))
	st.w.WriteHeader(status)
	st.status = status
	if st.r.Method != http.MethodHead {
		io.WriteString(&st.sent, body)
	}
}

// forward sends the routed request to its server and relays the
// response, trying other servers of the route as retrier says.
func (st *stream) forward() {
	p, d, rq := st.c.p, &st.d, &st.req
	st.failed = st.failed[:0]
	if !rq.hasID {
		st.id = p.ids.Add(1)
	}
	if st.snap.obs.tracer != nil {
		st.startSpan()
	}
	connect, timeout := st.snap.timeouts(d.Config)
	t := retrier{p: p, snap: st.snap, d: d, failed: &st.failed}
	for {
		st.retries, st.connect = t.retries, -1
		st.server = d.Server
		b := st.snap.backend(d)
		res, err := resUnreachable, errUnknownServer
		switch {
		case b == nil:
		case b.usesH2():
			res, err = st.exchangeH2(b, timeout)
			if err == errSpeaksHTTP1 {
				continue
			}
		default:
			res, err = st.exchangeH1(b, connect, timeout, t.fresh)
		}
		if res == resOK {
			return
		}
		again, status, kind, detail := t.after(res, err, rq.idempotent())
		if again {
			continue
		}
		if status == 0 {
			p.count(kind)
			return
		}
		st.reject(status, kind, detail)
		return
	}
}

// exchangeH1 sends the stream's request to an HTTP/1.1 server and relays
// its response. The body is sent whole before the response is read, as
// for an HTTP/1.1 client; the response-header timeout runs from then.
func (st *stream) exchangeH1(b *backend, connect, timeout time.Duration, fresh bool) (result, error) {
	p, rq, c := st.c.p, &st.req, st.c
	sc, err := b.get(c.shard, connect, fresh)
	if err != nil {
		return resUnreachable, err
	}
	if !sc.reused {
		st.connect = sc.dialTime
	}
	sent := time.Now()
	sc.tc.writeIdle = timeout
	c.writeRequestHead(sc.bw, st.snap, st.trusted, rq, &st.d, st.id, st.span)
	werr := st.sendBody(sc)
	if werr == nil {
		if err := sc.bw.Flush(); err != nil {
			werr = writeError{err}
		}
	}
	if werr != nil && !isWriteError(werr) {
		// The client's body could not be read: its stream is gone.
		b.discard(sc)
		return resClientGone, werr
	}
	// A stream the client resets, or whose connection ends, stops
	// waiting for the server at once.
	stop := context.AfterFunc(st.r.Context(), func() { sc.tc.Conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	sc.tc.readWithin(timeout)
	// Let the goroutines that are ready run before reading the response:
	// under load it has arrived by then, and the read takes it at once
	// rather than failing first (EAGAIN) and parking; with nothing else
	// ready, it returns at once.
	runtime.Gosched()
	for n := 0; ; n++ {
		head, err := readHead(sc.br, st.buf, httpmsg.MaxHeadBytes, &sc.tc, 0)
		st.buf = head
		switch {
		case err == nil:
		case st.r.Context().Err() != nil:
			b.discard(sc)
			return resClientGone, err
		case isTimeout(err):
			b.discard(sc)
			return resTimeout, err
		case len(head) == 0 && err != errHeadTooLarge:
			b.discard(sc)
			if werr != nil {
				err = werr
			}
			if sc.reused && n == 0 {
				return resStale, err
			}
			if !sc.reused {
				p.failure(b, b.id)
			}
			return resBroke, err
		default:
			b.discard(sc)
			return resBadResponse, err
		}
		if err := st.resp.parse(strview.Of(head), rq.head.Method); err != nil {
			b.discard(sc)
			return resBadResponse, err
		}
		if st.resp.head.Status >= 200 {
			break
		}
		if st.resp.head.Status == 101 || n == maxInformational {
			b.discard(sc)
			return resBadResponse, errors.New("unexpected 1xx response")
		}
		// Other 1xx responses stop here: x/net's server sent the
		// client's 100 Continue itself.
	}
	st.waited = time.Since(sent)
	p.success(b)
	p.eng.Responded(&st.d, st.resp.head.Status)
	st.relayH1(sc, werr != nil, stop)
	return resOK, nil
}

// sendBody sends the stream's request body to sc: exactly its
// Content-Length, else chunked, with the client's trailers. Errors of sc
// are writeErrors.
func (st *stream) sendBody(sc *serverConn) error {
	rq := &st.req
	if rq.body == bodyNone {
		return nil
	}
	chunked := rq.body == bodyChunked
	left := rq.length
	big := bigBufs.Get().(*[64 << 10]byte)
	defer bigBufs.Put(big)
	for !chunked && left > 0 || chunked {
		buf := big[:]
		if !chunked {
			buf = buf[:min(left, int64(len(buf)))]
		}
		n, err := st.r.Body.Read(buf)
		if n > 0 {
			if chunked {
				writeHexLine(sc.bw, uint64(n))
			}
			sc.bw.Write(buf[:n])
			if chunked {
				sc.bw.WriteString("\r\n")
			}
			if ferr := sc.bw.Flush(); ferr != nil {
				return writeError{ferr}
			}
			left -= int64(n)
		}
		if err == io.EOF {
			if !chunked && left > 0 {
				return io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return err
		}
	}
	if chunked {
		sc.bw.WriteString("0\r\n")
		writeTrailers(&fieldSink{w: sc.bw}, st.r.Trailer)
		if _, err := sc.bw.WriteString("\r\n"); err != nil {
			return writeError{err}
		}
	}
	return nil
}

// relayH1 sends the client the response of an HTTP/1.1 server whose head
// is in st.resp and whose body follows on sc, then pools sc when the
// exchange ended cleanly and stop kept the stream's end from touching it.
func (st *stream) relayH1(sc *serverConn, bodyUnsent bool, stop func() bool) {
	p, resp, b := st.c.p, &st.resp, sc.be
	h := st.w.Header()
	st.c.writeResponseFields(&fieldSink{h: h}, st.snap, resp, &st.d, resp.body == bodyChunked)
	if resp.hasLength && (resp.body == bodyLength || resp.head.Status >= 200 && resp.head.Status != 204 && resp.head.Status != 304) {
		h.Set("Content-Length", itoa64(resp.length))
	}
	st.w.WriteHeader(resp.head.Status)
	st.status = resp.head.Status
	if st.out == nil {
		st.out = bufio.NewWriterSize(nil, bufSize)
	}
	out := st.out
	st.flusher = flushWriter{w: &st.sent}
	out.Reset(&st.flusher)
	defer out.Reset(nil)
	sc.tc.readIdle = st.snap.t.Idle
	var err error
	switch resp.body {
	case bodyLength:
		err = copyLength(out, sc.br, resp.length)
	case bodyChunked:
		err = copyChunked(out, sc.br, false, httpmsg.MaxHeadBytes, &fieldSink{h: h, trailers: true})
	case bodyClose:
		err = copyUntilClose(out, sc.br, false)
	}
	sc.tc.readIdle = 0
	if err == nil {
		// The body is whole: the end of the handler sends the rest.
		st.flusher.hold = true
		err = out.Flush()
		if err != nil {
			err = writeError{err}
		}
	}
	switch {
	case err != nil:
		b.discard(sc)
		if isWriteError(err) || st.r.Context().Err() != nil {
			p.count(errClientAbort)
		} else {
			p.count(errServerBroke)
			p.logf("proxy: server %s: response body: %v", b.id, err)
			st.abort = true // the client learns of it by a reset stream
		}
	case resp.closes || bodyUnsent || sc.br.Buffered() > 0 || !stop():
		// (A connection whose deadline the stream's end may have
		// moved is not pooled.)
		b.discard(sc)
	default:
		b.put(st.c.shard, sc)
	}
}

// flushWriter writes to an HTTP/2 response and sends what it wrote at
// once: it sits under a bufio.Writer whose flushes are the moments the
// copy would wait for the server. With hold set it only writes: the last
// piece of a body goes out when the handler returns, with END_STREAM, in
// the same flush of x/net's server as the HEADERS frame of a short
// response (one DATA frame fewer, and one exchange fewer between the
// handler and the connection's goroutine, than a flush then the end).
type flushWriter struct {
	w    *countingWriter
	hold bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil && !f.hold {
		err = flush(f.w.w)
	}
	return n, err
}

// flush sends what was written to w: x/net's response writer is an
// http.Flusher with an error (as http.ResponseController would find,
// without allocating one per call).
func flush(w http.ResponseWriter) error {
	if f, ok := w.(interface{ FlushError() error }); ok {
		return f.FlushError()
	}
	return http.NewResponseController(w).Flush()
}

// writeTrailers writes the trailer fields of t that pass (trailerAllowed).
func writeTrailers(s *fieldSink, t http.Header) {
	for _, k := range sortedHeaderKeys(t) {
		if !trailerAllowed(k) {
			continue
		}
		for _, v := range t[k] {
			s.field(k, v)
		}
	}
}

func sortedHeaderKeys(h http.Header) []string {
	if len(h) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
