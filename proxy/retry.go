package proxy

import (
	"sync/atomic"

	"l7lb/engine"
)

// retrier decides what follows each failed attempt to forward a request,
// for HTTP/1.x and HTTP/2 clients and servers alike: any request whose
// server could not be reached is tried on another server of its route (as
// the engine chooses); an idempotent request without a body whose
// connection broke before any response, once on another server, and once
// more on a new connection to the same server when the broken one was a
// pooled HTTP/1.1 connection the server may have closed while idle (that
// keep-alive race is no sign of a failing server).
type retrier struct {
	p      *Proxy
	snap   *snapshot // the configuration the request is served in
	d      *engine.Decision
	failed *[]string    // the servers tried, reused by the caller
	cut    *atomic.Bool // the client connection's clientConn.cut

	stale, broke bool // each retry after a broken connection happens once
	fresh        bool // the next attempt needs a new connection
	retries      int  // attempts after the first
}

// after returns whether to try again (fresh says whether on a new
// connection to the same server), or else the answer to the client:
// status, the error kind to count and a detail; status 0 when the client
// is gone. replayable says whether the request may be sent again.
func (t *retrier) after(res result, err error, replayable bool) (again bool, status int, kind errKind, detail string) {
	again, status, kind, detail = t.decide(res, err, replayable)
	if again {
		t.retries++
	}
	return again, status, kind, detail
}

func (t *retrier) decide(res result, err error, replayable bool) (again bool, status int, kind errKind, detail string) {
	p, d := t.p, t.d
	t.fresh = false
	if t.cut.Load() {
		// The proxy broke the exchange itself (a stop's deadline): the
		// client is gone, and the server is not to blame.
		return false, 0, errClientAbort, ""
	}
	if res == resStale {
		if replayable && !t.stale {
			t.stale, t.fresh = true, true
			return true, 0, 0, ""
		}
		res = resBroke
	}
	switch res {
	case resUnreachable:
		if err == errPoolFull || err == errPoolClosed {
			return false, 503, errNoServer, err.Error()
		}
		p.failure(t.snap.backend(d), d.Server)
		p.eng.Failed(d, false)
		p.logf("proxy: server %s: %v", d.Server, err)
		if t.retry() {
			return true, 0, 0, ""
		}
		return false, 502, errConnect, "server unreachable"
	case resBroke:
		p.eng.Failed(d, false)
		if replayable && !t.broke {
			t.broke = true
			if t.retry() {
				return true, 0, 0, ""
			}
		}
		p.logf("proxy: server %s: %v", d.Server, err)
		return false, 502, errServerBroke, "server connection broke"
	case resTimeout:
		if b := t.snap.backend(d); b != nil {
			b.timeouts.Add(1)
		}
		p.eng.Failed(d, true)
		return false, 504, errServerTimeout, ""
	case resBadResponse:
		p.eng.Failed(d, false)
		p.logf("proxy: server %s: bad response: %v", d.Server, err)
		return false, 502, errBadResponse, badResponseText(err)
	case resBadBody:
		return false, 400, errBadRequest, err.Error()
	}
	return false, 0, errClientAbort, ""
}

// retry chooses another server for the request after the current one
// failed, and reports whether there is one.
func (t *retrier) retry() bool {
	*t.failed = append(*t.failed, t.d.Server)
	return t.p.eng.Retry(t.d, *t.failed)
}
