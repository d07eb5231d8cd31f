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
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"l7lb/accesslog"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/metrics"
	"l7lb/tracing"
)

// Reporter receives the outcome of each attempt to reach a server, for
// passive health checking.
type Reporter interface {
	Failure(server string)
	Success(server string)
}

// Options configure a Proxy for its whole life.
type Options struct {
	Engine  *engine.Engine
	Health  Reporter                         // nil for none
	Metrics *metrics.Metrics                 // nil for none
	Logf    func(format string, args ...any) // errors; nil to discard
}

// Config is one configuration of the proxy, as config normalised it
// (every default applied), with the engine's compiled configuration it
// goes with. Apply replaces it whole.
type Config struct {
	// View is the engine's configuration (Engine.Replace): requests are
	// decided in it, so that a decision's server indexes are those of
	// Servers.
	View     engine.View
	Servers  []config.Server // every server, in the View's server order
	Timeouts config.Timeouts
	Limits   config.Limits
	// Sticky gives the attributes of the cookies the proxy sets: the mode
	// (insert or the table modes), Secure (auto: over TLS) and Max-Age.
	Sticky config.Sticky
	// DrainTimeout bounds how long the requests to a server that is no
	// longer configured may go on before its connections are closed.
	DrainTimeout time.Duration
	Revision     config.Revision
	// TrustedProxies are the clients whose forwarding fields are
	// appended to rather than replaced.
	TrustedProxies []netip.Prefix
	Via            bool // add Via to forwarded messages
	// ServerTLS is the TLS configuration of each https:// server, by id
	// (certs.ClientConfig's); a server without one is verified against
	// the system's roots for the host of its URL.
	ServerTLS map[string]*tls.Config

	AccessLog *accesslog.Logger // one line per request; nil for none
	Tracer    *tracing.Tracer   // a span per request; nil for none
	Metrics   config.Metrics    // how the requests are counted, when the proxy has Options.Metrics
}

// snapshot is one configuration as requests use it: each request loads
// it once, and uses it throughout, whatever is applied meanwhile.
type snapshot struct {
	view     engine.View
	backends []*backend // by server index
	t        config.Timeouts
	l        config.Limits
	drain    time.Duration
	rev      config.Revision
	trusted  []netip.Prefix
	via      bool
	obs      observation

	// The attributes of sticky cookies, after name=value, for plaintext
	// and for TLS connections.
	insert                   bool
	plainCookies, tlsCookies cookieAttrs
}

// Proxy is a reverse proxy. Its methods are safe for concurrent use.
type Proxy struct {
	eng     *engine.Engine
	health  Reporter
	metrics *metrics.Metrics // nil when off
	logf    func(format string, args ...any)
	cur     atomic.Pointer[snapshot]

	cfgMu sync.Mutex          // serializes Apply; guards pools
	pools map[string]*backend // by poolKey: the configured servers' and the retiring ones'

	// overload bounds the goroutines answering connections beyond
	// MaxClientConns with a 503.
	overload chan struct{}

	idPrefix string        // of generated X-Request-Ids: random per process
	ids      atomic.Uint64 // of generated X-Request-Ids

	stats  counters
	shards int           // of each server's pool
	nconns atomic.Uint64 // client connections accepted, to spread them over shards

	mu        sync.Mutex
	listeners map[net.Listener]*listener
	serving   sync.WaitGroup // the Serve loops
	conns     map[*clientConn]struct{}
	shutting  atomic.Bool
	janitor   sync.Once
	done      chan struct{} // closed by Shutdown, stops the janitor
}

// New returns a proxy for o, configured by c.
func New(o Options, c Config) (*Proxy, error) {
	if o.Engine == nil {
		return nil, errors.New("proxy: Engine is required")
	}
	p := &Proxy{
		eng:       o.Engine,
		health:    o.Health,
		metrics:   o.Metrics,
		logf:      o.Logf,
		pools:     map[string]*backend{},
		listeners: map[net.Listener]*listener{},
		conns:     map[*clientConn]struct{}{},
		done:      make(chan struct{}),
		overload:  make(chan struct{}, maxOverloadAnswers),
	}
	if p.logf == nil {
		p.logf = func(string, ...any) {}
	}
	// Shards keep goroutines running in parallel off one lock (see
	// backend); on one processor nothing runs in parallel, and one stack
	// hands out the most recently used connection, which needs no probe,
	// more often: 10% of reuses probed against 23% with 4 shards (wrk -c 50).
	p.shards = 1
	if n := runtime.GOMAXPROCS(0); n > 1 {
		p.shards = min(2*n, 64)
	}
	var seed [8]byte
	rand.Read(seed[:])
	p.idPrefix = hex.EncodeToString(seed[:]) + "-"
	if err := p.Apply(c); err != nil {
		return nil, err
	}
	return p, nil
}

// Apply makes c the proxy's configuration: requests that start from now on
// use it, those in flight finish with the one they started with. Client
// connections stay open, their next request (or HTTP/2 stream) taking c. A
// server whose id, URL and TLS settings are unchanged keeps its pooled
// connections; one no longer configured drains: its requests in flight go
// on for c.DrainTimeout, then its connections are closed.
func (p *Proxy) Apply(c Config) error {
	for _, s := range c.Servers {
		if s.Addr == "" {
			return errors.New("proxy: server " + s.ID + " has no address")
		}
	}
	if _, servers := c.View.Names(); len(servers) < len(c.Servers) || !sameIDs(servers, c.Servers) {
		return errors.New("proxy: the servers are not the engine's")
	}
	snap := &snapshot{view: c.View, t: c.Timeouts, l: c.Limits, drain: c.DrainTimeout, rev: c.Revision,
		trusted: c.TrustedProxies, via: c.Via, backends: make([]*backend, len(c.Servers))}
	snap.insert = c.Sticky.Mode == config.ModeInsert
	snap.plainCookies, snap.tlsCookies = newCookieAttrs(c.Sticky, false), newCookieAttrs(c.Sticky, true)

	p.cfgMu.Lock()
	defer p.cfgMu.Unlock()
	snap.obs = p.observation(c)
	kept := make(map[*backend]bool, len(c.Servers))
	for i, s := range c.Servers {
		key := poolKey(s, c.ServerTLS[s.ID], c.Timeouts)
		b := p.pools[key]
		if b == nil {
			b = newBackend(s.ID, s.Addr, p.shards)
			b.setupTLS(s.Scheme, c.ServerTLS[s.ID], c.Timeouts)
			p.pools[key] = b
		}
		b.setLimits(c.Limits, c.Timeouts)
		if b.retiring {
			b.retiring = false // configured again: its retirement is called off
			b.gen++
		}
		snap.backends[i] = b
		kept[b] = true
	}
	p.cur.Store(snap)
	for key, b := range p.pools {
		if !kept[b] && !b.retiring {
			b.retiring = true
			b.gen++
			go p.retire(key, b, b.gen, c.DrainTimeout)
		}
	}
	return nil
}

// poolKey names the pool of server s: its id and URL, and for a server
// spoken to over TLS or HTTP/2, the settings its connections are made
// with once for all (the TLS configuration, which instance keeps the same
// while its block and files are unchanged, and the HTTP/2 transport's
// timeouts). A change of any of them is a new pool, the old one draining
// as a removed server's does.
func poolKey(s config.Server, conf *tls.Config, t config.Timeouts) string {
	key := s.ID + " " + s.URL
	if s.Scheme == config.SchemeHTTPS || s.Scheme == config.SchemeH2C {
		key += fmt.Sprintf(" %p %d %d", conf, t.BackendIdle, t.Idle)
	}
	return key
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

func sameIDs(ids []string, servers []config.Server) bool {
	for i, s := range servers {
		if ids[i] != s.ID {
			return false
		}
	}
	return true
}

// retire waits for the requests in flight on b, a server no longer
// configured, to end, for at most grace; then it closes b's pool and the
// connections still open to it, unless b was configured again meanwhile
// (its generation moved on from gen).
func (p *Proxy) retire(key string, b *backend, gen uint64, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for {
		if b.h2 != nil {
			b.h2.CloseIdleConnections() // counted busy, but with no stream
		}
		if b.busy() == 0 || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-p.done:
			return // Shutdown closes every pool
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.cfgMu.Lock()
	defer p.cfgMu.Unlock()
	if !b.retiring || b.gen != gen {
		return
	}
	delete(p.pools, key)
	b.close()
	if n := p.closeUpstreams(b) + b.closeH2(); n > 0 {
		p.logf("proxy: server %s (%s) removed: closed %d connections still open after %v", b.id, b.addr, n, grace)
	}
}

// Serve accepts client connections on ln and serves each in its own
// goroutine, speaking what o says, until ln fails, is retired
// (CloseListener) or detached (Detach), or the proxy shuts down; it then
// returns nil after Shutdown, CloseListener or Detach and the listener's
// error otherwise. ln is closed on return, unless detached.
//
// At Limits.MaxClientConns open connections, a new one is accepted,
// answered 503 with Retry-After and closed (see answerOverload): the client
// learns at once, instead of waiting in the listen queue for a slot that
// may not come. On a TLS listener it is closed unanswered: it could not
// read a plaintext answer, and a handshake is what an overloaded proxy
// cannot afford.
func (p *Proxy) Serve(ln net.Listener, o ListenerOptions) error {
	l := newListener(ln, o)
	p.mu.Lock()
	if p.shutting.Load() {
		p.mu.Unlock()
		ln.Close()
		return nil
	}
	p.listeners[ln] = l
	p.serving.Add(1)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
		if !l.detached.Load() {
			ln.Close()
		}
		close(l.done)
		p.serving.Done()
	}()
	p.janitor.Do(func() { go p.runJanitor() })

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if p.shutting.Load() || l.draining.Load() || l.detached.Load() {
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
		if p.track(nc, l) == connFull {
			if l.TLS == nil {
				p.answerOverload(nc)
			} else {
				nc.Close()
			}
		}
	}
}

// What track did with a connection.
const (
	connServed = iota
	connFull   // at MaxClientConns
)

// track starts serving nc, accepted on l, unless the proxy is full. A
// connection accepted as the proxy stops is served too: its client is
// sending its request (see firstRequestGrace).
func (p *Proxy) track(nc net.Conn, l *listener) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := p.cur.Load()
	if len(p.conns) >= snap.l.MaxClientConns {
		p.stats.rejected.Add(1)
		return connFull
	}
	c := newClientConn(p, nc, l, snap)
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

// CloseListener retires ln, which Serve serves: it stops accepting (ln is
// closed), and the connections accepted on it close once their current
// request is answered; idle ones close now. It returns when none is left,
// or closes those left when ctx ends and returns ctx's error.
func (p *Proxy) CloseListener(ctx context.Context, ln net.Listener) error {
	p.mu.Lock()
	l := p.listeners[ln]
	p.mu.Unlock()
	if l == nil {
		return ln.Close()
	}
	l.draining.Store(true)
	ln.Close()
	<-l.done
	return p.drain(ctx, func(c *clientConn) bool { return c.ln == l })
}

// Detach makes Serve on ln return without closing ln, which no longer
// accepts until served again: a listener whose settings changed is served
// anew on the same socket, so that no connection is refused meanwhile
// (they wait in its queue). The connections accepted before go on as they
// were. ln must be a *net.TCPListener (or have SetDeadline).
func (p *Proxy) Detach(ln net.Listener) error {
	p.mu.Lock()
	l := p.listeners[ln]
	p.mu.Unlock()
	dl, ok := ln.(interface{ SetDeadline(time.Time) error })
	if l == nil || !ok {
		return errors.New("proxy: not a served listener with deadlines")
	}
	l.detached.Store(true)
	dl.SetDeadline(aLongTimeAgo) // wakes Accept
	<-l.done
	return dl.SetDeadline(time.Time{})
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
	p.serving.Wait() // every connection accepted is tracked

	err := p.drain(ctx, func(*clientConn) bool { return true })
	if first {
		close(p.done)
	}
	p.cfgMu.Lock()
	for _, b := range p.pools {
		b.close()
	}
	p.cfgMu.Unlock()
	return err
}

// drain wakes the client connections chosen by which that wait for a
// request, which then close, until none is left; when ctx ends first, it
// closes them and returns ctx's error. The chosen connections must close
// after their current request (they are stopping).
func (p *Proxy) drain(ctx context.Context, which func(*clientConn) bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for p.wakeIdle(which) > 0 {
		select {
		case <-ctx.Done():
			p.closeConns(which)
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// wakeIdle wakes the chosen client connections that wait for a request,
// which then close, and returns how many chosen connections are open.
func (p *Proxy) wakeIdle(which func(*clientConn) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if which(c) {
			c.wake()
			n++
		}
	}
	return n
}

// closeConns closes the chosen client connections, and the server
// connections they use.
func (p *Proxy) closeConns(which func(*clientConn) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if which(c) {
			c.cut.Store(true)
			c.abort()
			if sc := c.upstream.Load(); sc != nil {
				sc.tc.Conn.Close()
			}
		}
	}
}

// closeUpstreams closes the connections to b that client connections use
// (their requests then fail, as the client learns), and returns how many.
func (p *Proxy) closeUpstreams(b *backend) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if sc := c.upstream.Load(); sc != nil && sc.be == b {
			sc.tc.Conn.Close()
			n++
		}
	}
	return n
}

// runJanitor closes the server connections idle too long, until Shutdown.
func (p *Proxy) runJanitor() {
	tick := time.NewTicker(janitorPeriod(p.cur.Load()))
	defer tick.Stop()
	var pools []*backend
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			p.cfgMu.Lock()
			pools = pools[:0]
			for _, b := range p.pools {
				pools = append(pools, b)
			}
			period := janitorPeriod(p.cur.Load())
			p.cfgMu.Unlock()
			for _, b := range pools {
				b.sweep(now)
			}
			tick.Reset(period)
		}
	}
}

func janitorPeriod(s *snapshot) time.Duration {
	return min(time.Second, max(s.t.BackendIdle/4, 10*time.Millisecond))
}

// timeouts returns the connect and response-header timeouts of a route.
func (s *snapshot) timeouts(r *config.Route) (connect, response time.Duration) {
	connect, response = s.t.Connect, s.t.ResponseHeader
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

// backend returns the pool of the server d chose; nil for a server with
// no pool (none: the engine's and the snapshot's servers are the same).
func (s *snapshot) backend(d *engine.Decision) *backend {
	if i := d.ServerIndex(); i >= 0 && i < len(s.backends) {
		return s.backends[i]
	}
	return nil
}

// failure reports a failed attempt to reach b (nil: a server with no pool).
func (p *Proxy) failure(b *backend, server string) {
	if b != nil {
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
