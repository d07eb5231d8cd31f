package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"l7lb/config"
)

var (
	errPoolFull      = errors.New("server connection limit reached")
	errPoolClosed    = errors.New("proxy shut down")
	errUnknownServer = errors.New("server has no address")
)

// bufSize is the size of every connection's read and write buffer: a
// usual head and small body fit, and larger bodies are copied through a
// larger pooled buffer.
const bufSize = 4 << 10

// backend is one server and its pool of keep-alive connections.
//
// The idle connections are kept in shards, each a stack under its own
// mutex, and a client connection uses the shard of its own number first:
// a busy proxy then takes no lock that all requests share, which under
// load makes convoys (a mutex in starvation mode hands itself to one
// sleeping goroutine after another). Counts are atomic; only the rare
// caller that waits at the connection limit takes a shared lock.
type backend struct {
	id, addr string
	// The limits, which a new configuration may change.
	maxConns       atomic.Int64 // 0 for no limit
	maxIdle        atomic.Int64
	idleTimeout    atomic.Int64 // a time.Duration
	connectTimeout atomic.Int64 // a time.Duration: of HTTP/2 connections, dialed by the transport

	// Guarded by the proxy's cfgMu: whether the server is no longer
	// configured and drains (Proxy.retire), and the generation of that
	// state, which calls off a retirement when it moves on.
	retiring bool
	gen      uint64

	// What it speaks (upstream_tls.go), set once.
	scheme       string
	tlsH2, tlsH1 *tls.Config      // https: asking for h2 or http/1.1 alone
	h2           *http2.Transport // h2c, https: HTTP/2 connections
	speaksHTTP1  atomic.Bool      // https: it answered http/1.1 to h2
	h2mu         sync.Mutex
	h2conns      map[*countedConn]struct{} // its open HTTP/2 connections, under h2mu

	shards []shard
	open   atomic.Int64 // connections open, the idle ones included
	idle   atomic.Int64 // connections in the shards
	closed atomic.Bool

	wmu      sync.Mutex
	waiters  []chan *serverConn // callers of get waiting at a limit, in order
	nwaiters atomic.Int32       // len(waiters), read without wmu

	requests, failures atomic.Uint64
	connectFailures    atomic.Uint64 // dials that failed
	timeouts           atomic.Uint64 // response heads not received in time
}

// shard is a stack of idle connections, the most recently used on top.
type shard struct {
	mu    sync.Mutex
	conns []*serverConn
	_     [32]byte // pads a shard to a cache line of its own
}

func newBackend(id, addr string, shards int) *backend {
	return &backend{id: id, addr: addr, shards: make([]shard, shards), scheme: config.SchemeHTTP}
}

// setLimits sets b's limits from a configuration.
func (b *backend) setLimits(l config.Limits, t config.Timeouts) {
	b.maxConns.Store(int64(l.MaxConnsPerServer))
	b.maxIdle.Store(int64(l.MaxIdlePerServer))
	b.idleTimeout.Store(int64(t.BackendIdle))
	b.connectTimeout.Store(int64(t.Connect))
}

// busy returns the connections in use: open and not pooled.
func (b *backend) busy() int64 { return b.open.Load() - b.idle.Load() }

// serverConn is a connection to a server.
type serverConn struct {
	be        *backend
	tc        timedConn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool          // it served a request before
	dialTime  time.Duration // how long dialing it took
	// suspect is set when the last response had no body by rule (to HEAD,
	// or 1xx, 204, 304) though its fields announced one: the body a buggy
	// server sends anyway may still be on its way.
	suspect bool
	probe   prober
}

// get returns a connection to b: a pooled one, from shard first, or a new
// one, dialed within connect (always a new one when fresh). At the
// connection limit it waits, up to connect as well, for a connection
// another request releases (handed over in the order the callers came:
// under a steady flow of new requests, one pooled for anyone would go to
// a newcomer, and the waiters would time out) or one closed, then fails
// with errPoolFull.
func (b *backend) get(shard int, connect time.Duration, fresh bool) (*serverConn, error) {
	var deadline time.Time
	for {
		if sc := b.pop(shard); sc != nil {
			if !fresh {
				return sc, nil
			}
			b.discard(sc)
		}
		if b.closed.Load() {
			return nil, errPoolClosed
		}
		if b.reserve() {
			return b.dial(connect)
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(connect)
		}
		if !now.Before(deadline) {
			return nil, errPoolFull
		}
		// Waiting is the rare, overloaded case: a channel and a timer
		// per wait are fine there. Looking again after joining the
		// waiters catches a connection freed just before.
		ch := b.await()
		if sc := b.pop(shard); sc != nil && !fresh {
			b.leave(ch)
			return sc, nil
		} else if sc != nil {
			b.discard(sc)
		}
		if b.reserve() {
			b.leave(ch)
			return b.dial(connect)
		}
		t := time.NewTimer(deadline.Sub(now))
		select {
		case sc := <-ch: // handed over, or nil: look again
			t.Stop()
			switch {
			case sc != nil && !fresh:
				return sc, nil
			case sc != nil:
				b.put(shard, sc) // to the next caller, or the pool
			}
		case <-t.C:
			b.leave(ch)
		}
	}
}

// probeAfter is how long a pooled connection may sit idle before it is
// probed for bytes or a close before reuse (see pop).
const probeAfter = time.Millisecond

// pop takes a pooled connection that is still usable, nil when there is
// none: the most recently pooled one that needs no probe, from shard first,
// then from the others; failing that, the most recently pooled one that
// passes its probe, in the same order.
//
// A connection is probed before use (a non-blocking peek) when it sat idle
// probeAfter or longer, or when it is suspect: one the server closed, or
// on which it sent anything, is closed instead, and the request goes on
// another. Bytes sent beyond a response must never be read as another
// request's response: relay closes a connection with bytes already read,
// and the probe catches those that arrived after it was pooled. A
// connection reused within probeAfter after a clean response is not
// probed: the probe is a system call, about a tenth of the proxy's CPU per
// request on the benchmark machine (BENCHMARKS.md), and bytes still on
// their way would slip past it anyway; what the probe is for (a body after
// a bodiless response, bytes or a close that came while the connection sat
// idle) it catches.
//
// Looking at every shard's top for one that needs no probe before probing
// costs an uncontended lock per shard; each shard is a stack, so its top
// is its hottest. A client connection's own shard often holds only the
// connection that served the client's previous request, idle for about a
// round of all clients, while another shard's top went idle just now: on
// one core under wrk's 50 connections the probes went from 23% of
// requests to 19%.
func (b *backend) pop(first int) *serverConn {
	n := len(b.shards)
	now := time.Now()
	for i := range n {
		if sc := b.popTop(&b.shards[(first+i)%n], now); sc != nil {
			return sc
		}
	}
	for i := 0; i < n; {
		sc := b.popTop(&b.shards[(first+i)%n], time.Time{})
		if sc == nil {
			i++
			continue
		}
		idle := time.Since(sc.idleSince)
		if b.hot(sc, idle) || idle < time.Duration(b.idleTimeout.Load()) && sc.alive() {
			return sc
		}
		b.discard(sc)
	}
	return nil
}

// popTop takes shard s's most recently pooled connection, nil when it has
// none; with a non-zero time now, only when it is hot then.
func (b *backend) popTop(s *shard, now time.Time) *serverConn {
	s.mu.Lock()
	k := len(s.conns)
	if k == 0 || !now.IsZero() && !b.hot(s.conns[k-1], now.Sub(s.conns[k-1].idleSince)) {
		s.mu.Unlock()
		return nil
	}
	sc := s.conns[k-1]
	s.conns[k-1] = nil
	s.conns = s.conns[:k-1]
	s.mu.Unlock()
	b.idle.Add(-1)
	return sc
}

// hot reports whether sc, idle for idle, may be used without a probe: it
// is not suspect and was pooled within probeAfter and the idle timeout.
func (b *backend) hot(sc *serverConn, idle time.Duration) bool {
	return !sc.suspect && idle < probeAfter && idle < time.Duration(b.idleTimeout.Load())
}

// reserve counts a connection about to be dialed, unless b is at its limit.
func (b *backend) reserve() bool {
	for {
		n := b.open.Load()
		if limit := b.maxConns.Load(); limit > 0 && n >= limit {
			return false
		}
		if b.open.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// await joins the callers waiting for a connection.
func (b *backend) await() chan *serverConn {
	ch := make(chan *serverConn, 1)
	b.wmu.Lock()
	b.waiters = append(b.waiters, ch)
	b.nwaiters.Store(int32(len(b.waiters)))
	b.wmu.Unlock()
	return ch
}

// leave takes ch out of the waiters. What ch was sent meanwhile (it was
// taken out then) is passed on: a connection to the next caller or the
// pool, a wake-up to the next caller.
func (b *backend) leave(ch chan *serverConn) {
	b.wmu.Lock()
	i := slices.Index(b.waiters, ch)
	if i >= 0 {
		b.waiters = slices.Delete(b.waiters, i, i+1)
		b.nwaiters.Store(int32(len(b.waiters)))
	}
	b.wmu.Unlock()
	if i >= 0 {
		return
	}
	if sc := <-ch; sc != nil {
		b.put(0, sc)
	} else {
		b.wake()
	}
}

// wake tells the longest waiting caller of get to look again: a connection
// was pooled or closed.
func (b *backend) wake() {
	if b.nwaiters.Load() != 0 {
		b.send(nil)
	}
}

// send sends sc (nil: a wake-up) to the longest waiting caller of get, and
// reports whether there was one.
func (b *backend) send(sc *serverConn) bool {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if len(b.waiters) == 0 {
		return false
	}
	b.waiters[0] <- sc
	b.waiters = b.waiters[1:]
	b.nwaiters.Store(int32(len(b.waiters)))
	return true
}

// dial opens a connection counted by reserve, within timeout; over TLS
// for an https:// server, asking for http/1.1 alone.
func (b *backend) dial(timeout time.Duration) (*serverConn, error) {
	start := time.Now()
	c, err := b.connect(context.Background(), timeout, b.tlsH1)
	if err != nil {
		b.unreserve()
		return nil, err
	}
	sc := b.newServerConn(c)
	sc.dialTime = time.Since(start)
	return sc, nil
}

func (b *backend) newServerConn(c net.Conn) *serverConn {
	sc := &serverConn{be: b, tc: timedConn{Conn: c}}
	if tc, ok := c.(*tls.Conn); ok {
		sc.probe.init(tc.NetConn()) // the socket under TLS
	} else {
		sc.probe.init(c)
		sc.tc.aw.init(c)
	}
	sc.br = bufio.NewReaderSize(&sc.tc, bufSize)
	sc.bw = bufio.NewWriterSize(&sc.tc, bufSize)
	return sc
}

// alive reports whether the pooled sc may carry a request (see
// prober.idle). Over TLS, bytes readable on the socket may be a TLS 1.3
// session ticket or key update rather than a response nobody asked for:
// the TLS layer reads them then (tlsIdle).
func (sc *serverConn) alive() bool {
	if sc.probe.idle() {
		return true
	}
	tc, ok := sc.tc.Conn.(*tls.Conn)
	return ok && tlsIdle(tc)
}

// put returns sc, whose last exchange completed cleanly, to shard, or
// closes it when the pool is full or shut.
func (b *backend) put(shard int, sc *serverConn) {
	sc.reused = true
	sc.idleSince = time.Now()
	if b.nwaiters.Load() != 0 && !b.closed.Load() && b.send(sc) {
		return // handed over: a caller of get was waiting
	}
	if b.idle.Add(1) > b.maxIdle.Load() {
		b.idle.Add(-1)
		b.discard(sc)
		return
	}
	s := &b.shards[shard%len(b.shards)]
	s.mu.Lock()
	// Checked under the shard's lock, which close takes after setting
	// closed: either close finds sc here or put sees closed.
	if b.closed.Load() {
		s.mu.Unlock()
		b.idle.Add(-1)
		b.discard(sc)
		return
	}
	s.conns = append(s.conns, sc)
	s.mu.Unlock()
	b.wake()
}

// discard closes sc, which is not pooled.
func (b *backend) discard(sc *serverConn) {
	sc.tc.Conn.Close()
	b.open.Add(-1)
	b.wake()
}

// sweep closes the connections idle since before now less the idle
// timeout; they are the oldest, at the bottom of each stack.
func (b *backend) sweep(now time.Time) {
	timeout := time.Duration(b.idleTimeout.Load())
	for i := range b.shards {
		b.drain(&b.shards[i], func(sc *serverConn) bool { return now.Sub(sc.idleSince) >= timeout })
	}
}

// close closes the idle connections and makes put close the others.
func (b *backend) close() {
	b.closed.Store(true)
	if b.h2 != nil {
		b.h2.CloseIdleConnections()
	}
	for i := range b.shards {
		b.drain(&b.shards[i], func(*serverConn) bool { return true })
	}
}

// drain closes the connections at the bottom of s for which old is true.
func (b *backend) drain(s *shard, old func(*serverConn) bool) {
	s.mu.Lock()
	n := 0
	for n < len(s.conns) && old(s.conns[n]) {
		n++
	}
	gone := slices.Clone(s.conns[:n])
	s.conns = slices.Delete(s.conns, 0, n)
	s.mu.Unlock()
	b.idle.Add(-int64(n))
	for _, sc := range gone {
		b.discard(sc)
	}
}

// counts returns the open and idle connections.
func (b *backend) counts() (open, idle int) {
	return int(b.open.Load()), int(b.idle.Load())
}
