package proxy

import (
	"bytes"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"l7lb/httpmsg"
)

// ListenerOptions say what one listener speaks. The zero value is
// plaintext HTTP/1.1.
type ListenerOptions struct {
	// TLS terminates TLS with this configuration (a certs.Store's
	// TLSConfig). Its NextProtos decide the protocols: "h2" is served as
	// HTTP/2, "http/1.1" (or no ALPN) as HTTP/1.1, and a handshake that
	// negotiated "acme-tls/1" (an ACME CA's TLS-ALPN-01 check) is closed
	// once done. nil for plaintext.
	TLS *tls.Config
	// H2C serves HTTP/2 with prior knowledge beside HTTP/1.1 on a
	// plaintext listener: a connection that starts with the HTTP/2
	// preface is HTTP/2.
	H2C bool
	// RedirectHTTPS answers every request on a plaintext listener, ACME
	// challenges excepted, with 308 Permanent Redirect to https on this
	// port; 0 routes requests as usual.
	RedirectHTTPS int
	// HSTS is the Strict-Transport-Security value added to every response
	// on a TLS listener; "" for none.
	HSTS string
	// Challenges answer ACME HTTP-01 challenges on a plaintext listener,
	// before any redirect or routing: the certificate stores of the TLS
	// listeners that use ACME.
	Challenges []HTTPChallenger
}

// HTTPChallenger answers ACME HTTP-01 challenges (a *certs.Store).
type HTTPChallenger interface {
	// HTTPChallengeResponse returns the response to a request for host and
	// path, ok false when it is no challenge of its own.
	HTTPChallengeResponse(host, path string) (status int, body []byte, ok bool)
}

// listener is a listening socket the proxy serves (Serve), with what it
// speaks made ready for every connection, and whether it is being retired
// (CloseListener): its connections then close after their current request.
type listener struct {
	ListenerOptions
	proto     string // "https" or "http": X-Forwarded-Proto and Forwarded's proto
	hstsField string // "Strict-Transport-Security: VALUE\r\n", or ""
	port      string // RedirectHTTPS as ":PORT", "" for 443
	edge      bool   // requests may be answered before routing: ACME or a redirect

	ln       net.Listener
	draining atomic.Bool
	detached atomic.Bool   // Detach: Serve returns, leaving ln open
	done     chan struct{} // closed when Serve returns: no connection comes from it any more
}

func newListener(ln net.Listener, o ListenerOptions) *listener {
	l := &listener{ListenerOptions: o, proto: "http", ln: ln, done: make(chan struct{})}
	if o.TLS != nil {
		l.proto = "https"
		if o.HSTS != "" {
			l.hstsField = "Strict-Transport-Security: " + o.HSTS + "\r\n"
		}
	}
	if o.RedirectHTTPS != 0 && o.RedirectHTTPS != 443 {
		l.port = ":" + strconv.Itoa(o.RedirectHTTPS)
	}
	l.edge = o.TLS == nil && (o.RedirectHTTPS != 0 || len(o.Challenges) > 0)
	return l
}

// preface is what an HTTP/2 connection starts with (RFC 9113 3.4).
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// What a connection speaks, once its first bytes are known.
type connProto uint8

const (
	protoNone  connProto = iota // nothing more: the connection is done
	protoHTTP1                  // HTTP/1.x on the raw fast path
	protoHTTP2                  // HTTP/2, by ALPN or prior knowledge
)

// handshake runs the TLS handshake of a connection on a TLS listener,
// within the read-header timeout (a client that never finishes it is cut
// off then), and returns the protocol it negotiated. A stop interrupts
// it as it does a wait for the first request.
func (c *clientConn) handshake() connProto {
	tc := tls.Server(c.raw, c.ln.TLS)
	c.tc.Conn = tc
	c.raw.SetDeadline(time.Now().Add(c.snap.t.ReadHeader))
	if c.markIdle() {
		// Accepted as the proxy stops: its client may still send a
		// request (see firstRequestGrace).
		c.raw.SetReadDeadline(time.Now().Add(firstRequestGrace))
	}
	err := tc.Handshake()
	c.unmarkIdle(false)
	c.raw.SetDeadline(time.Time{})
	c.tc.forget()
	if err != nil {
		if isTimeout(err) {
			c.p.count(errReadTimeout)
		}
		c.p.count(errTLSHandshake)
		return protoNone
	}
	c.secure = true
	switch tc.ConnectionState().NegotiatedProtocol {
	case "h2":
		return protoHTTP2
	case "acme-tls/1":
		// The CA only checks the certificate of the handshake.
		return protoNone
	}
	return protoHTTP1
}

// sniff tells an HTTP/2 connection with prior knowledge from an HTTP/1.x
// one by its first bytes, reading more (within the read-header timeout)
// while they are a prefix of the preface. The first byte is buffered.
func (c *clientConn) sniff() connProto {
	timeout := c.snap.t.ReadHeader
	for {
		n := min(c.br.Buffered(), len(preface))
		b, _ := c.br.Peek(n)
		if !bytes.Equal(b, []byte(preface[:n])) {
			return protoHTTP1
		}
		if n == len(preface) {
			return protoHTTP2
		}
		if timeout > 0 {
			c.tc.readWithin(timeout)
			timeout = 0
		}
		if _, err := c.br.Peek(n + 1); err != nil {
			if isTimeout(err) {
				c.p.count(errReadTimeout)
			}
			return protoNone
		}
	}
}

// http1Line reports whether the first line of head ends in an HTTP/1.x
// version, as a request line does.
func http1Line(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	i := bytes.LastIndexByte(line, ' ')
	return i >= 0 && bytes.HasPrefix(line[i+1:], []byte("HTTP/1."))
}

// markIdle marks the connection as waiting for its client, so that a stop
// (Shutdown, CloseListener) may interrupt it (wake), and reports whether
// it stops.
func (c *clientConn) markIdle() (stop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = true
	return c.stopping()
}

// unmarkIdle ends markIdle; request says a request came (or the wait for
// one ended): the connection is used.
func (c *clientConn) unmarkIdle(request bool) {
	c.mu.Lock()
	c.idle = false
	c.used = c.used || request
	if c.poked {
		c.tc.forget()
	}
	c.mu.Unlock()
}

// edgeResponse is the response, before any routing, to a request on a
// plaintext listener that the listener itself answers: an ACME HTTP-01
// challenge, else, with redirect_https, any request (308 to the same
// target on https, in field and value). ok is false for a request to
// route.
func (c *clientConn) edgeResponse(r *request) (status int, field, value, body string, ok bool) {
	target := r.head.Target
	if _, rest, ok := httpmsg.SplitAbsolute(target); ok {
		target = rest
	}
	if len(c.ln.Challenges) > 0 {
		path, _, _ := strings.Cut(target, "?")
		for _, ch := range c.ln.Challenges {
			if status, body, ok := ch.HTTPChallengeResponse(r.host, path); ok {
				return status, "", "", string(body), true
			}
		}
	}
	if c.ln.RedirectHTTPS == 0 {
		return 0, "", "", "", false
	}
	if target == "*" {
		target = "/"
	}
	return 308, "Location", "https://" + c.redirectHost(r) + c.ln.port + target, "", true
}

// answerEdge answers an HTTP/1.x request as edgeResponse says; done is
// false for a request to route, keep says whether the connection stays
// open.
func (c *clientConn) answerEdge() (done, keep bool) {
	status, field, value, body, ok := c.edgeResponse(&c.req)
	if !ok {
		return false, false
	}
	fields := "Content-Type: text/plain\r\n"
	if field != "" {
		fields = field + ": " + value + "\r\n"
	}
	return true, c.respond(status, fields, body, true)
}

// redirectHost is the host of a redirect to https: the request's, without
// its port, else the address the client connected to.
func (c *clientConn) redirectHost(r *request) string {
	if h := httpmsg.NormalizeHost(r.host); h != "" {
		return h
	}
	if a, ok := c.raw.LocalAddr().(*net.TCPAddr); ok {
		if a.IP.To4() == nil {
			return "[" + a.IP.String() + "]"
		}
		return a.IP.String()
	}
	return "localhost"
}
