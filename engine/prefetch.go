package engine

import (
	"unsafe"

	"l7lb/httpmsg"
	"l7lb/prefetch"
	"l7lb/router"
	"l7lb/urlpath"
)

// PrefetchDepth is how many requests ahead of the one it decides a frontend
// hands a [Prefetcher] the requests it holds: one step per dependent load a
// decision makes where the cache does not hold it (the route table's
// slots, then the route, then its pool).
const PrefetchDepth = 3

// A Prefetcher starts loading, without waiting, memory that deciding the
// requests a frontend already holds will read, so that with many routes
// their cache misses overlap instead of following one another (group
// prefetching, a software pipeline). The frontend adds each request
// PrefetchDepth decisions before it decides it; each Add takes the
// requests added before one step further: the first prefetches the
// table's slots that the request's host and path lead to, the next
// matches it, the slots now cached, and prefetches its route, the last its
// pool.
//
// A Prefetcher changes nothing a decision sees. A request it cannot read
// cheaply (a path not in normal form, a host with upper case or a port),
// a configuration that changes, or a request decided before its last step
// only costs the prefetch its use. It does not allocate. One goroutine
// uses it at a time.
type Prefetcher struct {
	e *Engine
	// q holds the requests between steps; the strings alias the
	// frontend's buffers, which hold them until they are decided.
	q    [PrefetchDepth - 1]pending
	next int // where in q the next request goes
}

// pending is a request between two steps of a Prefetcher.
type pending struct {
	st               *state // nil for a free slot
	host, path, meth string
	rt               *route // once matched
}

// prefetchRoutes is the fewest routes a Prefetcher prefetches for: with
// fewer, what a decision reads stays in the cache, and the work of
// prefetching would only add to it.
const prefetchRoutes = 4096

// NewPrefetcher returns a Prefetcher for e's decisions.
func (e *Engine) NewPrefetcher() *Prefetcher { return &Prefetcher{e: e} }

// Add takes the requests added before one step further, then starts on
// req, which the frontend decides after PrefetchDepth-1 others. req's
// strings must stay valid until it is decided.
func (p *Prefetcher) Add(req *Request) {
	for i := range p.q {
		q := &p.q[i]
		switch {
		case q.st == nil:
		case q.rt == nil:
			// Without the headers, which the frontend reuses: a route
			// with header conditions is only prefetched for nothing.
			rr := router.Request{Host: q.host, Path: q.path, Method: q.meth}
			if i := q.st.table.Match(&rr); i >= 0 {
				q.rt = &q.st.routes[i]
				prefetch.Line(unsafe.Pointer(q.rt))
			} else {
				*q = pending{}
			}
		default:
			if q.rt.pool != nil {
				prefetch.Line(unsafe.Pointer(q.rt.pool))
			}
			*q = pending{}
		}
	}
	st := p.e.st.Load()
	host, target := req.Host, req.Target
	if len(st.routes) < prefetchRoutes || target == "" {
		return
	}
	if target[0] != '/' {
		authority, rest, ok := httpmsg.SplitAbsolute(target)
		if !ok {
			return
		}
		host, target = authority, rest
	}
	path, _, normal := urlpath.SplitNormal(target)
	if !normal {
		return
	}
	st.table.Prefetch(host, path)
	p.q[p.next] = pending{st: st, host: host, path: path, meth: req.Method}
	p.next = (p.next + 1) % len(p.q)
}
