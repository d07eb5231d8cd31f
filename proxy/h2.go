package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"l7lb/engine"
	"l7lb/h2server"
	"l7lb/httpmsg"
	"l7lb/observe"
	"l7lb/strview"
	"l7lb/tracing"
)

// HTTP/2 from clients is served by package h2server: framing, HPACK,
// flow control, stream states and the protocol's defences. Each stream is
// handed to serveStream, which reads its fields into the proxy's own
// request form and serves it with the same engine decisions and the same
// field rules (fieldsink.go) as an HTTP/1.x request. HTTP/1.x stays on the
// raw fast path.

// serveHTTP2 serves the connection as HTTP/2 until the client, the idle
// timeout or Shutdown ends it.
func (c *clientConn) serveHTTP2() {
	p, snap := c.p, c.p.cur.Load()
	// The deadlines of the HTTP/1.x wait for the first bytes are done
	// with: the server sets its own.
	c.raw.SetWriteDeadline(time.Time{})
	h := h2server.NewConn(c.tc.Conn, c.br, h2server.Config{
		MaxConcurrentStreams: snap.l.MaxConcurrentStreams,
		MaxHeaderListSize:    snap.l.MaxHeaderBytes,
		IdleTimeout:          snap.t.Idle,
		HeaderTimeout:        snap.t.ReadHeader,
		// A client that reads nothing for this long is cut off, as an
		// HTTP/1.1 client whose writes stall.
		WriteTimeout: snap.t.Idle,
		CountError:   func() { p.count(errHTTP2) },
		Logf:         p.logf,
	}, c)
	c.mu.Lock()
	c.h2 = h
	if c.stopping() {
		// Accepted as the proxy (or its listener) stops: GOAWAY once the
		// streams it has read are taken, which are served, as an
		// HTTP/1.x connection's first request is (firstRequestGrace).
		h.Shutdown()
	}
	c.mu.Unlock()
	h.Serve()
}

// ServeH2 serves one stream of the connection.
func (c *clientConn) ServeH2(s *h2server.Stream) { c.serveStream(s) }

// stream is an HTTP/2 request being served: what a clientConn keeps for
// its HTTP/1.x request, per stream, reused through a pool.
type stream struct {
	c        *clientConn
	snap     *snapshot // the configuration it is served in
	trusted  bool      // its client is a trusted proxy of snap
	s        *h2server.Stream
	req      request
	ereq     engine.Request
	d        engine.Decision
	resp     response
	id       uint64 // the X-Request-Id generated; 0 when it had one
	failed   []string
	server   string
	status   int // sent; 0 before the response head
	start    time.Time
	sent     countingWriter  // the response body, counted
	body     countingReader  // the request body, counted
	fields   []httpmsg.Field // the head of an HTTP/2 server's response
	hdr      []httpmsg.Field // the response head for the client
	trailers []httpmsg.Field // the response trailers for the client
	last     []byte          // the end of the body, held to go with END_STREAM
	length   [20]byte        // the text of the response's Content-Length (see contentLength)
	date     dateCache       // the text of the response's Date, when the server sent none
	buf      []byte          // a response head from an HTTP/1.1 server, which resp aliases
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
	w io.Writer
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	return n, err
}

// serveStream serves one HTTP/2 request. It reads it into the proxy's
// request form (the same field view as an HTTP/1.x request's), answers
// ACME challenges and redirects as the listener says, routes it and
// forwards it to a server over HTTP/1.1 or HTTP/2.
func (c *clientConn) serveStream(s *h2server.Stream) {
	p := c.p
	st := streams.Get().(*stream)
	st.c, st.s, st.start = c, s, time.Now()
	st.snap = p.cur.Load()
	st.trusted = trustedAddr(st.snap.trusted, c.raw.RemoteAddr())
	st.sent = countingWriter{w: s}
	st.body = countingReader{r: s}
	st.hdr, st.trailers, st.last = st.hdr[:0], st.trailers[:0], st.last[:0]
	st.id, st.server, st.status, st.abort = 0, "", 0, false
	st.routed, st.connect, st.waited, st.retries = false, -1, -1, 0
	st.d.Route, st.d.Sticky = "", engine.StickyNone
	defer func() {
		st.finish()
		st.c, st.snap, st.s, st.sent.w, st.body.r = nil, nil, nil, nil, nil
		clear(st.fields)
		clear(st.hdr)
		clear(st.trailers)
		st.req.head = httpmsg.Head{}
		st.req.view.Fields = nil
		st.ereq = engine.Request{}
		streams.Put(st)
	}()
	defer st.end()
	p.stats.requests.Add(1)

	if s.Method() == http.MethodConnect {
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
				st.hdr = append(st.hdr, httpmsg.Field{Name: field, Value: value})
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
	case 404:
		st.reject(404, errNoRoute, "")
	case 503:
		st.reject(503, errNoServer, "")
	default:
		st.reject(400, errBadRequest, st.d.Error)
	}
}

// end ends the response: its held last piece and its trailers go with
// END_STREAM; a response cut short, or never begun, resets the stream.
func (st *stream) end() {
	if st.abort || st.status == 0 {
		st.s.Reset()
		return
	}
	if st.s.End(st.last, st.trailers) == nil {
		st.sent.n += int64(len(st.last))
	}
}

// contentLength returns a Content-Length field of n, its text in
// st.length: valid until the next call, the head is encoded before.
func (st *stream) contentLength(n int64) httpmsg.Field {
	return httpmsg.Field{Name: "content-length", Value: strview.Of(strconv.AppendInt(st.length[:0], n, 10))}
}

// readRequest reads the stream's request into st.req, and returns the
// status and reason for one the proxy refuses (0 for none).
func (st *stream) readRequest() (int, string) {
	s, rq := st.s, &st.req
	fields := s.Fields()
	if s.HeaderTooLarge() || len(fields) > st.snap.l.MaxHeaders {
		return 431, ""
	}
	rq.head = httpmsg.Head{Method: s.Method(), Target: s.Path(), Proto: "HTTP/2.0", Fields: fields}
	if err := rq.scan(fields); err != nil {
		return 400, err.Error()
	}
	rq.view.Fields = fields
	authority := s.Authority()
	if authority == "" {
		authority, _ = rq.view.Header("host")
	}
	host, err := httpmsg.RequestHost(s.Path(), authority)
	if err != nil {
		return 400, err.Error()
	}
	rq.http11, rq.keepAlive, rq.host = true, true, host
	rq.length = s.ContentLength()
	switch {
	case rq.length == 0:
		rq.body = bodyNone
	case rq.length > 0:
		rq.body = bodyLength
	default:
		rq.body = bodyChunked // of unknown length: chunked to an HTTP/1.1 server
	}
	// HTTP/2 has no Expect dance with the proxy in the middle: the
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

// respond answers the stream itself with status and body, after the
// fields st.hdr holds already.
func (st *stream) respond(status int, contentType, body string) {
	hdr := append(st.hdr, httpmsg.Field{Name: "content-type", Value: contentType})
	if st.c.ln.HSTS != "" {
		hdr = append(hdr, httpmsg.Field{Name: "strict-transport-security", Value: st.c.ln.HSTS})
	}
	hdr = append(hdr, st.contentLength(int64(len(body))))
	st.hdr = hdr
	st.s.WriteHeader(status, hdr)
	st.status = status
	if st.s.Method() != http.MethodHead {
		st.last = append(st.last[:0], body...)
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
	t := retrier{p: p, snap: st.snap, d: d, failed: &st.failed, cut: &st.c.cut}
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
	if werr != nil && !isWriteError(werr) {
		// The client's body could not be read: its stream is gone.
		b.discard(sc)
		return resClientGone, werr
	}
	// A stream the client resets, or whose connection ends, stops
	// waiting for the server at once.
	stop := st.s.AfterFunc(func() { sc.tc.Conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	sc.tc.readWithin(timeout)
	if werr == nil {
		if err := sc.tc.flushAwaitRead(sc.bw, sc.br); err != nil {
			werr = writeError{err}
		}
	}
	for n := 0; ; n++ {
		head, err := readHead(sc.br, st.buf, httpmsg.MaxHeadBytes, &sc.tc, 0)
		st.buf = head
		switch {
		case err == nil:
		case st.s.Err() != nil:
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
		// Other 1xx responses stop here: h2server sent the
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
		n, err := st.body.Read(buf)
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
		writeTrailerFields(&fieldSink{w: sc.bw}, st.s.Trailers())
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
	hdr := st.hdr[:0]
	st.c.writeResponseFields(&fieldSink{l: &hdr, date: &st.date}, st.snap, resp, &st.d, resp.body == bodyChunked)
	if resp.hasLength && (resp.body == bodyLength || resp.head.Status >= 200 && resp.head.Status != 204 && resp.head.Status != 304) {
		hdr = append(hdr, st.contentLength(resp.length))
	}
	st.hdr = hdr
	st.s.WriteHeader(resp.head.Status, hdr)
	st.status = resp.head.Status
	if st.out == nil {
		st.out = bufio.NewWriterSize(nil, bufSize)
	}
	out := st.out
	st.flusher = flushWriter{st: st}
	out.Reset(&st.flusher)
	defer out.Reset(nil)
	sc.tc.readIdle = st.snap.t.Idle
	var err error
	switch resp.body {
	case bodyLength:
		err = copyLength(out, sc.br, resp.length)
	case bodyChunked:
		err = copyChunked(out, sc.br, false, httpmsg.MaxHeadBytes, &fieldSink{l: &st.trailers, trailers: true})
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
		if isWriteError(err) || st.s.Err() != nil {
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

// flushWriter writes to an HTTP/2 stream, which sends what it is given
// at once: it sits under a bufio.Writer whose flushes are the moments the
// copy would wait for the server. With hold set it keeps what it is given
// instead: the last piece of a body, which goes out with END_STREAM (one
// DATA frame fewer than the piece and then an empty one).
type flushWriter struct {
	st   *stream
	hold bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	if f.hold {
		f.st.last = append(f.st.last[:0], p...)
		return len(p), nil
	}
	return f.st.sent.Write(p)
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

// writeTrailerFields writes the trailer fields of fs that pass
// (trailerAllowed).
func writeTrailerFields(s *fieldSink, fs []httpmsg.Field) {
	for _, f := range fs {
		if trailerAllowed(f.Name) {
			s.field(f.Name, f.Value)
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
