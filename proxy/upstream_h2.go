package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/h2server"
	"l7lb/httpmsg"
	"l7lb/tracing"
)

// Requests to servers that speak HTTP/2 (h2c://, and https:// servers that
// negotiated h2) go through golang.org/x/net/http2's Transport, from
// HTTP/1.x and HTTP/2 clients alike. The request carries the fields
// writeRequestFields gives, as it would to an HTTP/1.1 server; the
// response's fields go through writeResponseFields.
//
// The response-header timeout (the route's, or a gRPC call's deadline when
// longer: headTimeout) runs from the moment the request's body has been
// sent whole (at once for a request without one) to the response
// head, as for an HTTP/1.1 server: a client streaming its request (gRPC
// client streaming) is not cut off while it streams, and a stream whose
// head has arrived is never cut by it (server streaming, bidirectional).
// Such long streams have no inactivity timeout: the HTTP/2 PINGs of the
// transport find a dead server, those of the client's connection a dead
// client, and either end cancels the other.

var errHeadTimeout = errors.New("no response head within the response-header timeout")

// headTimer is the response-header timeout of one request to an HTTP/2
// server: armed once the request body has been sent, stopped when the
// response head arrives.
type headTimer struct {
	state   atomic.Int32 // 0 body being sent, 1 armed, 2 head received
	timer   *time.Timer
	timeout time.Duration
}

func newHeadTimer(timeout time.Duration, cancel context.CancelCauseFunc) *headTimer {
	h := &headTimer{timeout: timeout}
	h.timer = time.AfterFunc(time.Hour, func() {
		if h.state.Load() == 1 {
			cancel(errHeadTimeout)
		}
	})
	h.timer.Stop()
	return h
}

func (h *headTimer) arm() {
	if h.state.CompareAndSwap(0, 1) {
		h.timer.Reset(h.timeout)
	}
}

func (h *headTimer) stop() {
	h.state.Store(2)
	h.timer.Stop()
}

// grpcTimeout returns the deadline a gRPC client gave its call (the
// grpc-timeout field: up to 8 digits and a unit, H M S m u n), and
// whether it gave one.
func grpcTimeout(r *request) (time.Duration, bool) {
	v, ok := r.view.Header("grpc-timeout")
	if !ok || len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v)-1; i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	if n > math.MaxInt64/int64(unit) {
		return math.MaxInt64, true // 99999999H: longer than a Duration holds
	}
	return time.Duration(n) * unit, true
}

// headTimeout is the response-header timeout of r: the route's, or, when
// the deadline of a gRPC call is longer, that deadline and a little more
// (grpcDeadlineGrace). The client has said how long it waits for its answer,
// and cancels the call then (which cancels it at the server): answering
// 504 before would cut calls that are meant to take long, and answering
// it at the very deadline would race the client's own DEADLINE_EXCEEDED.
func headTimeout(route time.Duration, r *request) time.Duration {
	d, ok := grpcTimeout(r)
	switch {
	case !ok || d <= route:
		return route
	case d > math.MaxInt64-grpcDeadlineGrace:
		return math.MaxInt64
	}
	return d + grpcDeadlineGrace
}

// grpcDeadlineGrace is how long past a gRPC call's deadline the proxy
// waits for the response head, leaving the client to end the call.
const grpcDeadlineGrace = time.Second

// newUpstreamRequest returns the HTTP/2 request for b of r, decided by d
// in configuration cfg (trusted: from one of its trusted proxies): the
// target, the host and the fields an HTTP/1.1 server would get. body is
// nil for a request without one.
func (c *clientConn) newUpstreamRequest(ctx context.Context, cfg *snapshot, trusted bool, b *backend, r *request, d *engine.Decision, id uint64, span *tracing.Span, body io.ReadCloser) *http.Request {
	target := d.Upstream
	if d.HasRewrite {
		target = string(d.Rewritten)
	}
	path, query, hasQuery := strings.Cut(target, "?")
	scheme := "http"
	if b.scheme == config.SchemeHTTPS {
		scheme = "https"
	}
	u := &url.URL{Scheme: scheme, Host: b.addr, Opaque: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	h := make(http.Header, len(r.head.Fields)+6)
	c.writeRequestFields(&fieldSink{h: h}, cfg, trusted, r, id, span, r.body != bodyNone)
	out := &http.Request{Method: r.head.Method, URL: u, Host: upstreamHost(r, d), Header: h, Proto: "HTTP/2.0", ProtoMajor: 2}
	// x/net's transport announces and sends the trailers of Trailer.
	if names := h["Trailer"]; len(names) > 0 {
		out.Trailer = http.Header{}
		for _, list := range names {
			for list != "" {
				var name string
				name, list = httpmsg.NextElement(list)
				if name != "" && trailerAllowed(name) {
					out.Trailer[http.CanonicalHeaderKey(name)] = nil
				}
			}
		}
		delete(h, "Trailer")
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // no User-Agent of the transport's own
	}
	switch r.body {
	case bodyNone:
		out.Body = http.NoBody
	case bodyLength:
		out.Body, out.ContentLength = body, r.length
	default:
		out.Body, out.ContentLength = body, -1
	}
	if r.hasLength && r.length == 0 {
		out.Body = http.NoBody
	}
	if out.Body != http.NoBody && out.Trailer == nil {
		// The transport sends trailers only when the map is there from
		// the start; the body's end fills it.
		out.Trailer = http.Header{}
	}
	return out.WithContext(ctx)
}

// roundTripH2 sends req to b over HTTP/2 and returns the response head,
// or how the attempt failed: resUnreachable when no connection could be
// made (errPoolFull and errPoolClosed among them), errSpeaksHTTP1 when the
// server turned out to speak HTTP/1.1, resTimeout, resClientGone when the
// client's context ended, resBroke otherwise.
func roundTripH2(b *backend, req *http.Request, parent context.Context, ht *headTimer) (*http.Response, result, error) {
	resp, err := b.h2.RoundTrip(req)
	ht.stop()
	if err == nil {
		return resp, resOK, nil
	}
	var de *dialError
	switch {
	case errors.Is(err, errSpeaksHTTP1):
		return nil, resUnreachable, errSpeaksHTTP1
	case context.Cause(req.Context()) == errHeadTimeout:
		return nil, resTimeout, errHeadTimeout
	case parent.Err() != nil:
		return nil, resClientGone, parent.Err()
	case errors.Is(err, errPoolFull), errors.Is(err, errPoolClosed), errors.As(err, &de):
		return nil, resUnreachable, err
	}
	return nil, resBroke, err
}

// readUpstreamResponse reads the head of an HTTP/2 server's response into
// resp, the form writeResponseFields takes: fields in name order, their
// kinds, the status and the length of the body when known (else it is
// bodyChunked: a stream of unknown length). Announced trailers are
// announced again.
func readUpstreamResponse(hr *http.Response, method string, resp *response, fields []httpmsg.Field) []httpmsg.Field {
	fields = fields[:0]
	for _, k := range sortedHeaderKeys(hr.Header) {
		for _, v := range hr.Header[k] {
			fields = append(fields, httpmsg.Field{Name: k, Value: v})
		}
	}
	if keys := sortedHeaderKeys(hr.Trailer); len(keys) > 0 {
		fields = append(fields, httpmsg.Field{Name: "Trailer", Value: strings.Join(keys, ", ")})
	}
	resp.head.Fields = fields
	resp.scan(fields) // x/net's transport checked the framing fields
	resp.head.Status, resp.head.Reason, resp.head.Proto = hr.StatusCode, http.StatusText(hr.StatusCode), "HTTP/2.0"
	resp.http11, resp.closes = true, false
	switch {
	case hr.StatusCode < 200 || hr.StatusCode == 204 || hr.StatusCode == 304 || method == http.MethodHead:
		resp.body = bodyNone
	case hr.ContentLength == 0:
		resp.body = bodyNone
		resp.hasLength, resp.length = true, 0
	case hr.ContentLength > 0:
		resp.body = bodyLength
		resp.hasLength, resp.length = true, hr.ContentLength
	default:
		resp.body = bodyChunked
	}
	return fields
}

// exchangeH2 sends the stream's request to an HTTP/2 server and relays the
// response.
func (st *stream) exchangeH2(b *backend, timeout time.Duration) (result, error) {
	p, rq, c := st.c.p, &st.req, st.c
	ctx, cancel := context.WithCancelCause(st.s)
	defer cancel(nil)
	ht := newHeadTimer(headTimeout(timeout, rq), cancel)
	var body io.ReadCloser
	if rq.body != bodyNone {
		body = &streamBody{src: &st.body, in: st.s, done: ht.arm}
	} else {
		ht.arm()
	}
	out := c.newUpstreamRequest(ctx, st.snap, st.trusted, b, rq, &st.d, st.id, st.span, body)
	if sb, ok := body.(*streamBody); ok {
		sb.out = out
	}
	sent := time.Now()
	hr, res, err := roundTripH2(b, out, st.s, ht)
	if res == resOK {
		st.waited = time.Since(sent)
	}
	if res != resOK {
		return res, err
	}
	defer hr.Body.Close()
	p.success(b)
	p.eng.Responded(&st.d, hr.StatusCode)
	st.fields = readUpstreamResponse(hr, rq.head.Method, &st.resp, st.fields)
	hdr := st.hdr[:0]
	c.writeResponseFields(&fieldSink{l: &hdr, date: &st.date}, st.snap, &st.resp, &st.d, true)
	if st.resp.hasLength {
		hdr = append(hdr, st.contentLength(st.resp.length))
	}
	st.hdr = hdr
	st.s.WriteHeader(hr.StatusCode, hdr)
	st.status = hr.StatusCode
	if err := copyFlushing(&st.sent, hr.Body); err != nil {
		if isWriteError(err) {
			p.count(errClientAbort)
			return resOK, nil
		}
		p.count(errServerBroke)
		p.logf("proxy: server %s: response body: %v", b.id, err)
		st.abort = true
		return resOK, nil
	}
	writeTrailers(&fieldSink{l: &st.trailers, trailers: true}, hr.Trailer)
	return resOK, nil
}

// copyFlushing copies src to dst, a flushWriter or the client's buffered
// connection behind one, writing each piece as it arrives: a stream's
// messages reach the client one by one. Errors of dst are writeErrors.
func copyFlushing(dst io.Writer, src io.Reader) error {
	big := bigBufs.Get().(*[64 << 10]byte)
	defer bigBufs.Put(big)
	for {
		n, err := src.Read(big[:])
		if n > 0 {
			if _, werr := dst.Write(big[:n]); werr != nil {
				return writeError{werr}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// streamBody is the body of an HTTP/2 client's request on its way to an
// HTTP/2 server: when it ends, its trailers are passed on (those that
// pass, trailerAllowed) and the response-header timeout starts.
type streamBody struct {
	src  io.Reader
	in   *h2server.Stream
	out  *http.Request
	done func()
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	if err == io.EOF {
		for _, f := range b.in.Trailers() {
			if trailerAllowed(f.Name) {
				k := http.CanonicalHeaderKey(f.Name)
				b.out.Trailer[k] = append(b.out.Trailer[k], f.Value)
			}
		}
		b.done()
	}
	return n, err
}

// Close does not close the client's stream: its handler's end does.
func (b *streamBody) Close() error { return nil }

// forwardH2 sends the HTTP/1.x client's request to an HTTP/2 server and
// relays the response, and reports whether the client connection stays
// open; res and err say how an attempt that sent the client nothing
// failed, as roundTripH2 does.
func (c *clientConn) forwardH2(b *backend, timeout time.Duration) (keep bool, res result, err error) {
	r := &c.req
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ht := newHeadTimer(headTimeout(timeout, r), cancel)
	var body *clientBody
	var rc io.ReadCloser
	if r.body != bodyNone {
		body = &clientBody{c: c, done: ht.arm}
		rc = body
	} else {
		ht.arm()
	}
	out := c.newUpstreamRequest(ctx, c.snap, c.trusted, b, r, &c.d, c.id, c.span, rc)
	if body != nil {
		body.out = out
	}
	sent := time.Now()
	hr, res, err := roundTripH2(b, out, context.Background(), ht)
	if res == resOK {
		c.waited = time.Since(sent)
		if body != nil {
			body.responding()
		}
		keep = c.relayH2(b, hr)
		hr.Body.Close()
	}
	cancel(nil)
	if body != nil && !body.finish() {
		keep = false // the rest of the body is still on the connection
		if res != resOK && body.err != nil {
			res, err = resClientGone, body.err
			if errors.Is(err, errBadChunk) || errors.Is(err, errBadTrailer) || errors.Is(err, errTrailerSize) {
				res = resBadBody
			}
		}
	}
	return keep, res, err
}

// relayH2 sends the HTTP/1.x client the response of an HTTP/2 server,
// re-framed: with its Content-Length when the server gave one, else
// chunked (the trailers at its end), or until the close for HTTP/1.0.
func (c *clientConn) relayH2(b *backend, hr *http.Response) bool {
	p, r, resp := c.p, &c.req, &c.resp
	p.success(b)
	p.eng.Responded(&c.d, hr.StatusCode)
	c.respFields = readUpstreamResponse(hr, r.head.Method, resp, c.respFields)
	out := c.framingFor(resp)
	keep := r.keepAlive && out != outClose && !c.stopping()
	c.writeResponseHead(c.bw, out, keep)
	c.status = resp.head.Status
	if out != outNone {
		var dst io.Writer = flushingBufio{c.bw}
		if out == outChunked {
			dst = chunkWriter{c.bw}
		}
		if err := copyFlushing(dst, hr.Body); err != nil {
			if isWriteError(err) {
				p.count(errClientAbort)
			} else {
				p.count(errServerBroke)
				p.logf("proxy: server %s: response body: %v", b.id, err)
			}
			return false
		}
	}
	if out == outChunked {
		c.bw.WriteString("0\r\n")
		writeTrailers(&fieldSink{w: c.bw}, hr.Trailer)
		c.bw.WriteString("\r\n")
	}
	if c.bw.Flush() != nil {
		p.count(errClientAbort)
		return false
	}
	return keep
}

// flushingBufio writes to a bufio.Writer and flushes it.
type flushingBufio struct{ w *bufio.Writer }

func (f flushingBufio) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

// chunkWriter writes each piece to a bufio.Writer as a chunk, and flushes.
type chunkWriter struct{ w *bufio.Writer }

func (cw chunkWriter) Write(p []byte) (int, error) {
	writeUint(cw.w, uint64(len(p)), 16)
	cw.w.WriteString("\r\n")
	cw.w.Write(p)
	cw.w.WriteString("\r\n")
	return len(p), cw.w.Flush()
}

var errBodyAbandoned = errors.New("request body abandoned")

// clientBody is the body of an HTTP/1.x client's request on its way to an
// HTTP/2 server, read from the client connection as the transport asks,
// in the transport's goroutine: after a 100 Continue when the client waits
// for one, decoded from chunked (by copyChunked, in a goroutine of its
// own, through a pipe) or limited to its Content-Length. When it ends, its
// trailers are passed on and the response-header timeout starts.
type clientBody struct {
	c    *clientConn
	out  *http.Request
	done func()

	// readMu is held by Read: finish takes it to know no read is under
	// way. abandoned makes every later Read fail.
	readMu    sync.Mutex
	abandoned atomic.Bool
	started   bool
	pr        atomic.Pointer[io.PipeReader] // the chunked body, decoded
	copying   chan struct{}                 // closed when the chunked copy ended
	left      int64                         // Content-Length bytes still to read

	// contMu orders a 100 Continue before the response head.
	contMu    sync.Mutex
	responded bool

	mu    sync.Mutex
	err   error // the client's body could not be read
	whole bool  // the body was read to its end
}

// start begins reading: 100 Continue first when the client waits for it.
func (b *clientBody) start() {
	c, r := b.c, &b.c.req
	b.started = true
	b.contMu.Lock()
	if r.expect && r.http11 && !b.responded {
		c.informed = true
		c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		c.bw.Flush()
	}
	b.contMu.Unlock()
	c.tc.readIdle = c.snap.t.Idle
	if r.body == bodyLength {
		b.left = r.length
		return
	}
	pr, pw := io.Pipe()
	b.pr.Store(pr)
	b.copying = make(chan struct{})
	go func() {
		defer close(b.copying)
		w := bufio.NewWriterSize(pw, bufSize)
		trailers := http.Header{}
		err := copyChunked(w, c.br, false, c.snap.l.MaxHeaderBytes, &fieldSink{h: trailers})
		if err == nil {
			if ferr := w.Flush(); ferr != nil {
				err = writeError{ferr}
			}
		}
		if err == nil {
			b.finished(trailers)
		} else if !isWriteError(err) {
			b.mu.Lock()
			b.err = err
			b.mu.Unlock()
		}
		pw.CloseWithError(err)
	}()
}

// finished records a body read whole, with its trailers.
func (b *clientBody) finished(trailers http.Header) {
	b.mu.Lock()
	b.whole = true
	for k, vs := range trailers {
		b.out.Trailer[k] = vs
	}
	b.mu.Unlock()
	b.done()
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.readMu.Lock()
	defer b.readMu.Unlock()
	if b.abandoned.Load() {
		return 0, errBodyAbandoned
	}
	if !b.started {
		b.start()
	}
	if pr := b.pr.Load(); pr != nil {
		return pr.Read(p)
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	c := b.c
	if c.br.Buffered() == 0 {
		if _, err := c.br.Peek(1); err != nil {
			err = unexpected(err)
			b.mu.Lock()
			b.err = err
			b.mu.Unlock()
			return 0, err
		}
	}
	n, _ := c.br.Read(p[:min(int64(len(p)), b.left)])
	if b.left -= int64(n); b.left == 0 {
		b.finished(nil)
	}
	return n, nil
}

// Close does nothing: finish ends the reading.
func (b *clientBody) Close() error { return nil }

// responding is called before the response head is written: no 100
// Continue may follow it.
func (b *clientBody) responding() {
	b.contMu.Lock()
	b.responded = true
	b.contMu.Unlock()
}

// finish ends the reading of the body, cutting short a wait for the
// client's next bytes, and reports whether the body was read whole, so
// that the connection can serve another request.
func (b *clientBody) finish() bool {
	b.abandoned.Store(true)
	b.mu.Lock()
	whole := b.whole
	b.mu.Unlock()
	if !whole {
		b.c.raw.SetReadDeadline(aLongTimeAgo)
	}
	if pr := b.pr.Load(); pr != nil {
		pr.Close() // a Read waiting for the copy returns
	}
	b.readMu.Lock()
	if b.copying != nil {
		<-b.copying
	}
	b.readMu.Unlock()
	if !whole {
		b.c.tc.forget()
	}
	b.c.tc.readIdle = 0
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.whole
}
