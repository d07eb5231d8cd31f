// Package proxy is l7lb's HTTP/1.1 reverse proxy. It serves clients on raw
// net.Conns, asks the routing engine where each request goes, and forwards
// it over keep-alive connections to the chosen server.
//
// It does not use net/http: its own fast path costs a fraction of the CPU
// of httputil.ReverseProxy per request and allocates nothing per proxied
// keep-alive request in steady state, and it enforces the strict framing
// rules that keep a request from being read two ways (request smuggling),
// which net/http's server does not let a caller enforce. The careful
// behaviours of httputil.ReverseProxy are kept: hop-by-hop fields removed
// both ways, X-Forwarded-For appended (for trusted proxies; replaced for
// other clients), TE: trailers and trailers passed through (less the
// fields trailers must not carry), 1xx responses relayed, protocol
// upgrades tunnelled (never h2c). Bytes a server sends beyond a response
// never reach another client: such a connection is closed, and pooled
// connections are probed before reuse (see backend.pop).
package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"l7lb/config"
	"l7lb/engine"
)

// Reporter receives the outcome of each attempt to reach a server, for
// passive health checking.
type Reporter interface {
	Failure(server string)
	Success(server string)
}

// Options configure a Proxy.
type Options struct {
	Engine *engine.Engine
	// File gives the servers' addresses, the timeouts, the limits and the
	// attributes of sticky cookies. Zero timeouts and zero MaxHeaderBytes,
	// MaxHeaders and MaxClientConns take the defaults of config; a zero
	// MaxIdlePerServer keeps no idle server connection, and a zero
	// MaxConnsPerServer sets no limit.
	File *config.File
	// ServerTLS is the TLS configuration of each https:// server, by id
	// (certs.ClientConfig's); a server without one is verified against
	// the system's roots for the host of its URL.
	ServerTLS map[string]*tls.Config
	Health    Reporter                         // nil for none
	AccessLog io.Writer                        // one line per request; nil for none
	Logf      func(format string, args ...any) // errors; nil to discard
}

// Proxy is a reverse proxy. Its methods are safe for concurrent use.
type Proxy struct {
	eng      *engine.Engine
	file     *config.File
	health   Reporter
	log      *accessLog // nil when off
	logf     func(format string, args ...any)
	t        config.Timeouts
	l        config.Limits
	backends map[string]*backend
	servers  []*backend // in file order, for Stats

	// The attributes of sticky cookies, after name=value, for plaintext
	// and for TLS connections.
	insert                   bool
	plainCookies, tlsCookies cookieAttrs

	trusted []netip.Prefix // clients whose forwarding fields are appended to
	via     bool           // add Via to forwarded messages
	// overload bounds the goroutines answering connections beyond
	// MaxClientConns with a 503.
	overload chan struct{}

	idPrefix string        // of generated X-Request-Ids: random per process
	ids      atomic.Uint64 // of generated X-Request-Ids

	h2log *log.Logger // x/net's HTTP/2 server's (see newH2Log)

	stats  counters
	shards int           // of each server's pool
	nconns atomic.Uint64 // client connections accepted, to spread them over shards

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*clientConn]struct{}
	shutting  atomic.Bool
	janitor   sync.Once
	done      chan struct{} // closed by Shutdown, stops the janitor
}

// New returns a proxy for o.
func New(o Options) (*Proxy, error) {
	if o.Engine == nil || o.File == nil {
		return nil, errors.New("proxy: Engine and File are required")
	}
	p := &Proxy{
		eng:       o.Engine,
		file:      o.File,
		health:    o.Health,
		logf:      o.Logf,
		t:         withDefaultTimeouts(o.File.Timeouts),
		l:         withDefaultLimits(o.File.Limits),
		backends:  make(map[string]*backend, len(o.File.Servers)),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*clientConn]struct{}{},
		done:      make(chan struct{}),
		trusted:   o.File.TrustedProxies,
		via:       o.File.Via,
		overload:  make(chan struct{}, maxOverloadAnswers),
	}
	if p.logf == nil {
		p.logf = func(string, ...any) {}
	}
	p.h2log = newH2Log(p.logf)
	if o.AccessLog != nil {
		p.log = &accessLog{w: bufio.NewWriterSize(o.AccessLog, 32<<10)}
	}
	p.shards = min(max(4, 2*runtime.GOMAXPROCS(0)), 64)
	for _, s := range o.File.Servers {
		if s.Addr == "" {
			return nil, errors.New("proxy: server " + s.ID + " has no address")
		}
		b := newBackend(s.ID, s.Addr, p.shards, p.l, p.t)
		b.setupTLS(s.Scheme, o.ServerTLS[s.ID], p.t)
		p.backends[s.ID] = b
		p.servers = append(p.servers, b)
	}

	st := o.File.Sticky
	p.insert = st.Mode == config.ModeInsert
	p.plainCookies, p.tlsCookies = newCookieAttrs(st, false), newCookieAttrs(st, true)

	var seed [8]byte
	rand.Read(seed[:])
	p.idPrefix = hex.EncodeToString(seed[:]) + "-"
	return p, nil
}

// cookieAttrs are the attributes of the sticky cookies the proxy sets.
type cookieAttrs struct {
	session string // the session (or, in insert mode, the server) cookie's
	server  string // the server hint cookie's: readable by scripts
}

// newCookieAttrs returns the attributes of cookies set on a connection
// over TLS (secure) or not. With sticky.secure auto, Secure goes on those
// over TLS only: a browser would not send a Secure cookie over plain HTTP.
func newCookieAttrs(st config.Sticky, secure bool) cookieAttrs {
	attrs := ""
	if st.Secure == config.SecureAlways || st.Secure == config.SecureAuto && secure {
		attrs += "; Secure"
	}
	if st.MaxAge > 0 {
		attrs += "; Max-Age=" + strconv.FormatInt(int64(st.MaxAge/time.Second), 10)
	}
	return cookieAttrs{session: "; Path=/; HttpOnly; SameSite=Lax" + attrs, server: "; Path=/; SameSite=Lax" + attrs}
}

func withDefaultTimeouts(t config.Timeouts) config.Timeouts {
	def := config.DefaultTimeouts()
	for _, f := range []struct{ v, d *time.Duration }{
		{&t.Connect, &def.Connect}, {&t.ResponseHeader, &def.ResponseHeader},
		{&t.ReadHeader, &def.ReadHeader}, {&t.Idle, &def.Idle}, {&t.BackendIdle, &def.BackendIdle},
	} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return t
}

func withDefaultLimits(l config.Limits) config.Limits {
	def := config.DefaultLimits()
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = def.MaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = def.MaxHeaders
	}
	if l.MaxClientConns <= 0 {
		l.MaxClientConns = def.MaxClientConns
	}
	return l
}

// Serve accepts client connections on ln and serves each in its own
// goroutine, speaking what o says, until ln fails or the proxy shuts down; it then returns nil
// after Shutdown and the listener's error otherwise. ln is closed on
// return.
//
// At Limits.MaxClientConns open connections, a new one is accepted,
// answered 503 with Retry-After and closed (see answerOverload): the client
// learns at once, instead of waiting in the listen queue for a slot that
// may not come. On a TLS listener it is closed unanswered: it could not
// read a plaintext answer, and a handshake is what an overloaded proxy
// cannot afford.
func (p *Proxy) Serve(ln net.Listener, o ListenerOptions) error {
	l := newListener(o)
	p.mu.Lock()
	if p.shutting.Load() {
		p.mu.Unlock()
		ln.Close()
		return nil
	}
	p.listeners[ln] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
		ln.Close()
	}()
	p.janitor.Do(func() { go p.runJanitor() })

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if p.shutting.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors, a connection aborted in the
			// queue: transient, so back off and go on, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.logf("proxy: accept: %v; retrying in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		switch p.track(nc, l) {
		case connFull:
			if l.TLS == nil {
				p.answerOverload(nc)
				continue
			}
			nc.Close()
		case connRefused:
			nc.Close()
		}
	}
}

// What track did with a connection.
const (
	connServed  = iota
	connFull    // at MaxClientConns
	connRefused // shutting down
)

// track starts serving nc, unless the proxy is full or shutting down.
func (p *Proxy) track(nc net.Conn, l *listener) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutting.Load() {
		return connRefused
	}
	if len(p.conns) >= p.l.MaxClientConns {
		p.stats.rejected.Add(1)
		return connFull
	}
	c := newClientConn(p, nc, l)
	p.conns[c] = struct{}{}
	go c.serve()
	return connServed
}

// maxOverloadAnswers bounds the connections answered 503 at once, each for
// up to overloadTime; beyond it they are closed unanswered. The answers are
// there to tell clients, not to let an overload cost more goroutines.
const (
	maxOverloadAnswers = 64
	overloadTime       = time.Second
)

// overloadBody is the body of the 503 for a connection beyond
// Limits.MaxClientConns.
const overloadBody = "service unavailable: too many client connections\n"

// answerOverload answers nc, a connection beyond Limits.MaxClientConns, with
// 503 Service Unavailable, Retry-After: 1 and Connection: close, without
// reading its request, then closes it the gentle way (lingeringClose's
// reasoning: a reset would destroy the answer). The answer is written at
// once: HTTP/1.1 clients read a response that comes before they finished
// their request.
func (p *Proxy) answerOverload(nc net.Conn) {
	select {
	case p.overload <- struct{}{}:
	default:
		nc.Close()
		return
	}
	go func() {
		defer func() { <-p.overload }()
		defer nc.Close()
		now := time.Now()
		nc.SetDeadline(now.Add(overloadTime))
		var d dateCache
		b := make([]byte, 0, 256)
		b = append(b, "HTTP/1.1 503 Service Unavailable\r\nDate: "...)
		b = append(b, d.at(now)...)
		b = append(b, "\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(overloadBody)), 10)
		b = append(b, "\r\nConnection: close\r\n\r\n"...)
		b = append(b, overloadBody...)
		if _, err := nc.Write(b); err != nil {
			return
		}
		if cw, ok := nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			io.CopyN(io.Discard, nc, lingerBytes)
		}
	}()
}

func (p *Proxy) untrack(c *clientConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Shutdown stops accepting, lets every request in flight finish (a
// connection closes after its current response), closes idle client
// connections and the pooled server connections, and returns when no
// client connection is left. When ctx ends first, it closes the remaining
// connections, tunnels included, and returns ctx's error.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	first := !p.shutting.Swap(true)
	for ln := range p.listeners {
		ln.Close()
	}
	p.mu.Unlock()

	var err error
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for p.wakeIdle() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			p.closeConns()
		case <-tick.C:
			continue
		}
		break
	}
	if first {
		close(p.done)
	}
	for _, b := range p.servers {
		b.close()
	}
	if p.log != nil {
		p.log.flush()
	}
	return err
}

// wakeIdle wakes the client connections that wait for a request, which
// then close, and returns how many connections are open.
func (p *Proxy) wakeIdle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.wake()
	}
	return len(p.conns)
}

// closeConns closes every client connection, and the server connections
// they use.
func (p *Proxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.raw.Close()
		if sc := c.upstream.Load(); sc != nil {
			sc.tc.Conn.Close()
		}
	}
}

// runJanitor closes the server connections idle too long and flushes the
// access log, until Shutdown.
func (p *Proxy) runJanitor() {
	period := min(time.Second, max(p.t.BackendIdle/4, 10*time.Millisecond))
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			for _, b := range p.servers {
				b.sweep(now)
			}
			if p.log != nil {
				p.log.flush()
			}
		}
	}
}

// timeouts returns the connect and response-header timeouts of a route.
func (p *Proxy) timeouts(r *config.Route) (connect, response time.Duration) {
	connect, response = p.t.Connect, p.t.ResponseHeader
	if r != nil && r.Timeouts != nil {
		if r.Timeouts.Connect > 0 {
			connect = r.Timeouts.Connect
		}
		if r.Timeouts.ResponseHeader > 0 {
			response = r.Timeouts.ResponseHeader
		}
	}
	return connect, response
}

// failure reports a failed attempt to reach a server.
func (p *Proxy) failure(server string) {
	if b := p.backends[server]; b != nil {
		b.failures.Add(1)
	}
	if p.health != nil {
		p.health.Failure(server)
	}
}

// success reports a server that answered.
func (p *Proxy) success(b *backend) {
	b.requests.Add(1)
	if p.health != nil {
		p.health.Success(b.id)
	}
}
