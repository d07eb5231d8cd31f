package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"l7lb/engine"
	"l7lb/h2server"
	"l7lb/httpmsg"
	"l7lb/observe"
	"l7lb/strview"
	"l7lb/tracing"
)

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

// aLongTimeAgo is a deadline in the past, which wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// clientConn is a client connection, served by one goroutine that reads
// its requests in turn. Everything a request needs is kept here and reused
// by the next one, which is how a keep-alive request costs no allocation.
type clientConn struct {
	p       *Proxy
	ln      *listener // it was accepted on, with what it speaks
	snap    *snapshot // the configuration of the request being served (or the last one)
	raw     net.Conn  // the accepted connection, under TLS if any
	secure  bool      // TLS was negotiated
	tc      timedConn
	br      *bufio.Reader
	bw      *bufio.Writer
	shard   int    // the shard of the server pools it uses first
	ip      string // the client's IP address
	fwdFor  string // the same as a Forwarded for= value: IPv6 quoted
	trusted bool   // the client is a trusted proxy of snap: its forwarding fields are kept
	date    dateCache
	loop    connLoop // serves the usual requests inside one raw read

	// idle and poked let Shutdown wake a connection that waits for its
	// next request without disturbing one that serves a request.
	mu    sync.Mutex
	idle  bool
	poked bool
	// used is set once a request was read: a connection that is new when
	// the proxy stops still gets its first request answered, since its
	// client has sent it, or is sending it, and would see it fail.
	used bool

	// h2 is set while the connection serves HTTP/2, under mu.
	h2 *h2server.Conn
	// sniffed is set for the first request of an h2c listener's HTTP/1.x
	// connection.
	sniffed bool

	// upstream is the server connection in use, for Shutdown to close
	// when its time is up.
	upstream atomic.Pointer[serverConn]
	// cut is set when a stop's time ran out and closeConns cut the
	// connection: a request broken by that is not tried again.
	cut atomic.Bool

	// The request being served.
	headBuf []byte // its head, which req.head's strings alias
	req     request
	ereq    engine.Request
	d       engine.Decision
	id      uint64 // the X-Request-Id generated for it; 0 when it had one
	failed  []string
	server  string // the server last tried, for the log
	linger  bool   // close gently: an error response was sent

	// informed is set once a 1xx response reached the client: the request
	// can no longer be retried. bodyUnsent is set when the server answered
	// finally before the body that waited for its 100 Continue: the client
	// connection must close rather than read that body.
	informed, bodyUnsent bool

	// The server's response to it.
	respBuf    []byte // its head, which resp's strings alias
	resp       response
	respFields []httpmsg.Field // of a response from an HTTP/2 server

	// What the metrics and the access log need of it.
	parsed  bool          // req.head holds what parsed of its head
	routed  bool          // d holds its decision
	status  int           // the status sent; 0 for none
	start   time.Time     // when its first byte was seen
	written int64         // tc.written when it started
	read    int64         // tc.read when the previous request ended
	connect time.Duration // dialing the server connection used; -1 for none
	waited  time.Duration // from the request sent to the response head; -1 for none
	retries int           // attempts after the first
	span    *tracing.Span // nil unless traced
	x       observe.Exchange
}

func newClientConn(p *Proxy, nc net.Conn, l *listener, snap *snapshot) *clientConn {
	c := &clientConn{p: p, ln: l, snap: snap, raw: nc, tc: timedConn{Conn: nc, writeIdle: snap.t.Idle}, shard: int(p.nconns.Add(1) % uint64(p.shards))}
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(&c.tc)
	c.bw = writers.Get().(*bufio.Writer)
	c.bw.Reset(&c.tc)
	c.ip, c.fwdFor = clientIP(nc.RemoteAddr())
	c.trusted = trustedAddr(snap.trusted, nc.RemoteAddr())
	return c
}

// trustedAddr reports whether a is in one of the prefixes.
func trustedAddr(prefixes []netip.Prefix, a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	if !ok || len(prefixes) == 0 {
		return false
	}
	ip, ok := netip.AddrFromSlice(t.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientIP returns the address of a client as X-Forwarded-For and as
// Forwarded's for= write it (RFC 7239 6: an IPv6 address in brackets and
// quotes).
func clientIP(a net.Addr) (ip, forwarded string) {
	if t, ok := a.(*net.TCPAddr); ok {
		ip = t.IP.String()
		if t.IP.To4() == nil {
			return ip, `"[` + ip + `]"`
		}
		return ip, ip
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host, `"` + host + `"`
	}
	return "unknown", "unknown"
}

// serve serves the connection's requests until one of them, the client or
// Shutdown ends it: after the TLS handshake on a TLS listener, as HTTP/2
// when that is what the client speaks, else as HTTP/1.x.
func (c *clientConn) serve() {
	defer c.close()
	proto := protoHTTP1
	if c.ln.TLS != nil {
		proto = c.handshake()
	}
	if proto == protoHTTP1 && c.ln.H2C {
		if !c.awaitRequest() {
			return
		}
		proto = c.sniff()
		c.sniffed = proto == protoHTTP1
	}
	switch proto {
	case protoNone:
		return
	case protoHTTP2:
		c.serveHTTP2()
		return
	}
	c.initLoop()
	for {
		var keep bool
		switch c.serveLoop() {
		case loopClose:
			return
		case loopParsed:
			keep = c.handleRequest()
		default:
			if !c.awaitRequest() {
				return
			}
			keep = c.serveRequest()
		}
		if !c.ended(keep) {
			return
		}
	}
}

// What serveLoop leaves to do.
type loopExit uint8

const (
	loopClose  loopExit = iota // nothing: the connection is done
	loopSlow                   // serve the next request the normal way
	loopParsed                 // answer the request read (handleRequest)
)

// ended ends a request served, whose connection stays open if keep, and
// reports keep.
func (c *clientConn) ended(keep bool) bool {
	c.finish()
	if cap(c.headBuf) > 16<<10 {
		c.headBuf = nil // a huge head once is no reason to keep its memory
	}
	return keep
}

func (c *clientConn) close() {
	c.bw.Flush()
	if c.linger {
		c.lingeringClose()
	}
	c.tc.Conn.Close()
	c.p.untrack(c)
	c.br.Reset(nil)
	c.bw.Reset(nil)
	readers.Put(c.br)
	writers.Put(c.bw)
}

// abort ends the connection from another goroutine, when a stop's time is
// up. It shuts the socket down rather than close it: a close would wait
// for serveLoop's raw read, which may be serving a request for as long as
// its server takes; a shutdown ends its wait and fails its writes at once,
// and the connection's goroutine closes the socket on its way out.
func (c *clientConn) abort() {
	if s, ok := c.raw.(interface {
		CloseRead() error
		CloseWrite() error
	}); ok {
		s.CloseRead()
		s.CloseWrite()
		return
	}
	c.raw.Close()
}

// lingerTime and lingerBytes bound what lingeringClose reads.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// lingeringClose half-closes the connection and reads what the client
// still sends, for a while, before the caller closes it. Closing a socket
// with unread input makes the kernel send a reset, which can destroy the
// error response the client has not read yet; draining first lets it
// arrive (net/http does the same).
func (c *clientConn) lingeringClose() {
	cw, ok := c.tc.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.tc.readIdle = 0
	c.tc.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	c.br.Discard(c.br.Buffered())
	io.CopyN(io.Discard, c.tc.Conn, lingerBytes)
}

// awaitRequest waits, up to the idle timeout, for the first byte of the
// next request and reports whether there is one to serve.
func (c *clientConn) awaitRequest() bool {
	if c.br.Buffered() > 0 {
		return true // pipelined
	}
	switch stop := c.markIdle(); {
	case stop && c.used:
		c.unmarkIdle(false)
		return false
	case stop:
		c.tc.readWithin(firstRequestGrace)
	default:
		c.tc.readWithin(c.snap.t.Idle)
	}
	_, err := c.br.Peek(1)
	c.unmarkIdle(true)
	return err == nil
}

// stopping reports whether the connection closes after its current
// request: the proxy shuts down, or its listener is retired.
func (c *clientConn) stopping() bool { return c.p.shutting.Load() || c.ln.draining.Load() }

// wake makes a connection that waits for its next request stop waiting;
// Shutdown calls it. A connection serving a request is left alone: it
// closes after its response. A new one waiting for its first gets
// firstRequestGrace. An HTTP/2 connection is sent GOAWAY, and closes once
// its streams in flight are done.
func (c *clientConn) wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h2 != nil {
		c.h2.Shutdown()
		return
	}
	if c.idle && !c.poked {
		c.poked = true
		if c.used {
			c.raw.SetReadDeadline(aLongTimeAgo)
		} else {
			c.raw.SetReadDeadline(time.Now().Add(firstRequestGrace))
		}
	}
}

// firstRequestGrace is how long a connection accepted just before the
// proxy stops may take to send its first request, which is then answered:
// its client sends the request as soon as it is connected, and would see
// the connection fail were it closed unread.
const firstRequestGrace = 250 * time.Millisecond

// isHTTPVersion reports whether v is an HTTP-version, HTTP/DIGIT.DIGIT
// (RFC 9112 2.3): one the proxy does not speak gets 505, anything else in
// its place ("ICE/1.0", "http/1.1") makes a malformed request line, 400.
func isHTTPVersion(v string) bool {
	return len(v) == 8 && v[:5] == "HTTP/" && '0' <= v[5] && v[5] <= '9' && v[6] == '.' && '0' <= v[7] && v[7] <= '9'
}

// serveRequest reads, routes and answers one request, and reports whether
// the connection stays open for another.
func (c *clientConn) serveRequest() bool {
	if keep, ok := c.readRequest(); !ok {
		return keep
	}
	return c.handleRequest()
}

// readRequest reads and checks the head of a request. ok reports a request
// for handleRequest; otherwise the request was answered or the connection
// failed, and keep says whether it stays open.
func (c *clientConn) readRequest() (keep, ok bool) {
	p := c.p
	snap := p.cur.Load()
	if snap != c.snap {
		c.snap = snap
		c.trusted = trustedAddr(snap.trusted, c.tc.Conn.RemoteAddr())
	}
	c.tc.writeIdle = snap.t.Idle
	c.start, c.written, c.status, c.server = time.Now(), c.tc.written, 0, ""
	c.parsed, c.routed, c.connect, c.waited, c.retries, c.id = false, false, -1, -1, 0, 0
	c.req.head.Method = ""
	c.d.Route, c.d.Sticky = "", engine.StickyNone

	timeout := snap.t.ReadHeader
	set, err := skipEmptyLines(c.br, snap.l.MaxHeaderBytes, &c.tc, timeout)
	if set {
		timeout = 0 // the head's deadline is in force
	}
	var head []byte
	if err == nil {
		head, err = readHead(c.br, c.headBuf, snap.l.MaxHeaderBytes, &c.tc, timeout)
		c.headBuf = head
	}
	switch {
	case err == errHeadTooLarge:
		return c.reject(431, errHeaderSize, ""), false
	case err == errEmptyLines:
		return c.reject(400, errBadRequest, err.Error()), false
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.count(errReadTimeout)
		}
		return false, false
	}
	p.stats.requests.Add(1)
	r := &c.req
	c.parsed = true // ParseHead sets what it could read, even on error
	sniffed := c.sniffed
	c.sniffed = false
	if err := httpmsg.ParseHead(strview.Of(head), &r.head); err != nil {
		if sniffed && !http1Line(head) {
			// On an h2c listener, a first line that is no HTTP/1.x
			// request line is an invalid HTTP/2 preface: the
			// connection ends without an answer (RFC 9113 3.4).
			p.count(errBadRequest)
			return false, false
		}
		switch {
		case errors.Is(err, httpmsg.ErrTooManyHeaders), errors.Is(err, httpmsg.ErrHeadTooLarge):
			return c.reject(431, errHeaderSize, ""), false
		case errors.Is(err, httpmsg.ErrUnsupportedVersion) && isHTTPVersion(err.(*httpmsg.HeadError).Version):
			return c.reject(505, errBadRequest, ""), false
		}
		return c.reject(400, errBadRequest, err.Error()), false
	}
	if len(r.head.Fields) > snap.l.MaxHeaders {
		return c.reject(431, errHeaderSize, ""), false
	}
	if err := r.check(); err != nil {
		return c.reject(400, errBadRequest, err.Error()), false
	}
	return false, true
}

// handleRequest answers the request readRequest read, and reports whether
// the connection stays open for another.
func (c *clientConn) handleRequest() bool {
	p, r, snap := c.p, &c.req, c.snap
	if c.ln.edge {
		if done, keep := c.answerEdge(); done {
			return keep
		}
	}
	c.ereq = engine.Request{Method: r.head.Method, Target: r.head.Target, Host: r.host, Headers: &r.view}
	p.eng.RouteIn(snap.view, &c.ereq, &c.d)
	c.routed = true
	switch c.d.Status {
	case 200:
		keep := c.forward()
		p.eng.Done(&c.d) // the request is no longer in flight on its server
		return keep
	case 404:
		return c.reject(404, errNoRoute, "")
	case 503:
		return c.reject(503, errNoServer, "")
	}
	return c.reject(400, errBadRequest, c.d.Error)
}
