package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"l7lb/config"
	"l7lb/httpmsg"
)

// Servers speak HTTP/1.1 over TCP (http://), HTTP/2 over TCP (h2c://), or
// TLS (https://), verified as its tls block says, resuming sessions, with
// ALPN deciding: the proxy asks for h2 first, and a server that answers
// http/1.1 is spoken to in HTTP/1.1 from then on (until a restart or a
// reload). HTTP/1.1 connections are pooled as the plaintext ones are;
// HTTP/2 connections are golang.org/x/net/http2's client connections,
// multiplexed and pooled by its Transport, one per server.

var (
	// errSpeaksHTTP1 is an https:// server that answered http/1.1 when
	// asked for h2: the request goes the HTTP/1.1 way.
	errSpeaksHTTP1 = errors.New("server speaks HTTP/1.1")
)

// dialError is a failure to connect to a server, TLS handshake included.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// setupTLS prepares b to speak what its scheme says. conf is the TLS
// configuration of an https:// server (certs.ClientConfig's); nil takes
// the defaults: the system's roots, the URL's host.
func (b *backend) setupTLS(scheme string, conf *tls.Config, t config.Timeouts) {
	if scheme == "" {
		scheme = config.SchemeHTTP
	}
	b.scheme = scheme
	if scheme == config.SchemeHTTPS {
		if conf == nil {
			host, _, _ := net.SplitHostPort(b.addr)
			conf = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
		}
		b.tlsH2 = conf.Clone()
		b.tlsH2.NextProtos = []string{"h2", "http/1.1"}
		b.tlsH1 = conf.Clone()
		b.tlsH1.NextProtos = []string{"http/1.1"}
		// The clones share conf's session cache: a session resumes
		// whichever protocol the connection asks for.
	}
	if scheme == config.SchemeHTTP {
		return
	}
	b.h2 = &http2.Transport{
		DialTLSContext:     b.dialH2,
		AllowHTTP:          true, // h2c:// requests go as http://
		DisableCompression: true, // bodies pass as they are
		// A response head over the HTTP/1.1 limit is refused alike.
		MaxHeaderListSize: uint32(httpmsg.MaxHeadBytes),
		IdleConnTimeout:   t.BackendIdle,
		// An idle connection is checked with a PING after 30 s without
		// a frame, and closed when no answer comes within 15 s: a long
		// stream (gRPC) has no other timeout, and a dead server must
		// not hold it forever.
		ReadIdleTimeout:  30 * time.Second,
		PingTimeout:      15 * time.Second,
		WriteByteTimeout: t.Idle,
	}
}

// usesH2 reports whether requests to b go over HTTP/2.
func (b *backend) usesH2() bool {
	return b.scheme == config.SchemeH2C || b.scheme == config.SchemeHTTPS && !b.speaksHTTP1.Load()
}

// connect dials b, with the TLS handshake of conf (an https:// server's),
// all within timeout.
func (b *backend) connect(ctx context.Context, timeout time.Duration, conf *tls.Config) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	c, err := d.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		b.connectFailures.Add(1)
		return nil, &dialError{err}
	}
	if conf == nil {
		return c, nil
	}
	tc := tls.Client(c, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		b.connectFailures.Add(1)
		return nil, &dialError{err}
	}
	return tc, nil
}

// dialH2 is the dialer of b's HTTP/2 transport: a new connection counted
// against max_conns_per_server. When an https:// server answers http/1.1,
// the connection goes to the HTTP/1.1 pool and the request fails with
// errSpeaksHTTP1, to go the HTTP/1.1 way.
func (b *backend) dialH2(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
	if b.closed.Load() {
		return nil, errPoolClosed
	}
	if !b.reserve() {
		return nil, errPoolFull
	}
	c, err := b.connect(ctx, time.Duration(b.connectTimeout.Load()), b.tlsH2)
	if err != nil {
		b.unreserve()
		return nil, err
	}
	if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol != "h2" {
		b.speaksHTTP1.Store(true)
		b.put(0, b.newServerConn(c))
		return nil, errSpeaksHTTP1
	}
	cc := &countedConn{Conn: c, b: b}
	b.h2mu.Lock()
	if b.h2conns == nil {
		b.h2conns = map[*countedConn]struct{}{}
	}
	b.h2conns[cc] = struct{}{}
	b.h2mu.Unlock()
	return cc, nil
}

// closeH2 closes b's HTTP/2 connections, streams in flight included, and
// returns how many were open.
func (b *backend) closeH2() int {
	b.h2mu.Lock()
	conns := make([]*countedConn, 0, len(b.h2conns))
	for c := range b.h2conns {
		conns = append(conns, c)
	}
	b.h2mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}

// unreserve gives back a connection reserve counted.
func (b *backend) unreserve() {
	b.open.Add(-1)
	b.wake()
}

// countedConn is an HTTP/2 connection to a server, counted in open until
// closed.
type countedConn struct {
	net.Conn
	b    *backend
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.b.h2mu.Lock()
		delete(c.b.h2conns, c)
		c.b.h2mu.Unlock()
		c.b.unreserve()
	})
	return err
}

// tlsIdle reports whether a pooled TLS connection with bytes readable on
// its socket is still idle: the TLS layer reads them without blocking,
// and a connection that yields application data, an alert or an error is
// not reused.
func tlsIdle(tc *tls.Conn) bool {
	tc.SetReadDeadline(aLongTimeAgo)
	var b [1]byte
	n, err := tc.Read(b[:])
	tc.SetReadDeadline(time.Time{})
	return n == 0 && isTimeout(err)
}
