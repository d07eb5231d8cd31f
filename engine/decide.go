package engine

import (
	"errors"

	"l7lb/balancer"
	"l7lb/config"
	"l7lb/httpmsg"
	"l7lb/router"
	"l7lb/session"
	"l7lb/urlpath"
)

// Headers is what a decision reads of a request's header section.
// httpmsg.Headers implements it, and every face hands the engine one, so
// that all read headers and cookies by the same rules.
type Headers interface {
	// HasHeader reports whether any value of the header name equals value.
	HasHeader(name, value string) bool
	// Header returns the first value of the header name.
	Header(name string) (string, bool)
	// Cookie returns the value of the cookie name: the frontend's explicit
	// cookies first, then the Cookie header.
	Cookie(name string) (string, bool)
	// HasCookies reports whether the request carries cookies at all. When
	// it is false, Cookie finds none, and decisions do not ask.
	HasCookies() bool
}

// Request is what a decision is made from.
//
// Its strings, and those its Headers return, may alias the frontend's
// buffers (the proxy's request head, the node's message line; see package
// strview): they are valid for the call to Route, Retry or Explain and
// until the frontend is done with the Decision, whose strings may be
// substrings of them. The engine copies whatever it keeps beyond that (a
// pinned session id).
type Request struct {
	Method string
	// Target is the request-target as received: origin-form "/p?q" or
	// absolute-form "http://host/p?q".
	Target string
	// Host is the Host header (or the frontend's equivalent) as received;
	// an absolute-form target overrides it.
	Host string
	// SessionID is an explicit session id, read before any cookie.
	SessionID string
	Headers   Headers // nil for none
}

// Sticky is what stickiness did for a decision.
type Sticky uint8

// The sticky outcomes, in the order of the steps that produce them.
const (
	StickyNone        Sticky = iota // no stickiness
	StickyHit                       // the pinned server
	StickyHint                      // the server the hint cookie named
	StickyRepinned                  // the pinned server was down: chosen again
	StickyOtherPool                 // the pinned server is not in this pool
	StickyNewPin                    // an unknown session, pinned now
	StickyIssued                    // a new session id issued and pinned
	StickyInvalid                   // insert mode: a cookie that failed its signature
	StickyExpired                   // insert mode: a cookie older than sticky.max_age, chosen again
	StickyHintInvalid               // signed hints: a hint cookie that failed its signature, ignored
)

var stickyNames = [...]string{"none", "hit", "hint", "repinned", "other-pool", "new-pin", "issued", "invalid", "expired", "hint-invalid"}

func (s Sticky) String() string { return stickyNames[s] }

// Decision is the outcome of one request. Reuse one Decision across calls:
// its buffers are kept, so steady-state decisions do not allocate.
type Decision struct {
	Status int
	Error  string // why, when Status is not 200

	Route  string        // the matched route, DefaultRoute, or "" when none
	Server string        // the chosen server, "" when none
	Config *config.Route // the matched route's configuration; nil for the default servers

	// Rewritten is the rewritten path with its query, when HasRewrite.
	// It stays valid until the Decision is used again.
	Rewritten  []byte
	HasRewrite bool
	// Upstream is the origin-form target to send a server when there is no
	// rewrite: the client's own bytes when its path was already normal, the
	// normalized path with the query otherwise.
	Upstream string

	Sticky Sticky
	// SetCookie asks the client to store cookies: SessionID in CookieName
	// and ServerCookieValue (Server, or its signed value with signed
	// hints) in ServerCookieName (sticky steps 3 and 6, and a forged hint
	// replaced), or, in insert mode, CookieValue in CookieName.
	SetCookie         bool
	SessionID         string
	CookieValue       string
	CookieName        string
	ServerCookieName  string
	ServerCookieValue string

	// What Retry needs to choose again in the same pool.
	st     *state
	rt     *route
	key    string
	mode   string
	sid    string // the request's session id, table modes
	server int    // the chosen server's index in st

	attempt attempt // the request in flight, measured engines (servers.go)
}

// RouteIndex returns the index of the matched route among the routes of
// [Engine.Names] (the default route is the last), or -1 when none matched.
func (d *Decision) RouteIndex() int {
	if d.rt == nil {
		return -1
	}
	return d.rt.index
}

// ServerIndex returns the index of the chosen server among the servers of
// [Engine.Names], or -1 when none was chosen.
func (d *Decision) ServerIndex() int {
	if d.Server == "" {
		return -1
	}
	return d.server
}

// Explanation returns the decision as the node's explain_ok reports it:
// status and sticky, then route, servers, routed_to, rewritten_path and
// error where they apply.
func (d *Decision) Explanation() map[string]any {
	out := map[string]any{"status": d.Status, "sticky": d.Sticky.String()}
	if d.Error != "" {
		out["error"] = d.Error
	}
	if d.Route != "" {
		out["route"] = d.Route
		out["servers"] = d.rt.servers
	}
	if d.Server != "" {
		out["routed_to"] = d.Server
	}
	if d.Status == 200 && d.HasRewrite {
		out["rewritten_path"] = string(d.Rewritten)
	}
	if d.Status == 200 {
		d.explainLoad(out)
	}
	return out
}

// Route decides where req goes, updating pools, sessions and statistics.
func (e *Engine) Route(req *Request, d *Decision) { e.RouteIn(e.View(), req, d) }

// RouteIn is Route under the configuration v, which a frontend keeps with
// its own data for that configuration (see [View]).
func (e *Engine) RouteIn(v View, req *Request, d *Decision) {
	e.decide(v.st, req, d, false)
	e.CountStatus(d.Status)
	if d.Status == 200 && d.server < len(d.st.routed) {
		d.st.routed[d.server].Add(1)
	}
	if d.Status == 200 {
		e.begin(d)
	}
}

// Explain decides like Route but changes nothing: no counter moves, nothing
// is pinned or issued, nothing is counted.
func (e *Engine) Explain(req *Request, d *Decision) {
	e.decide(e.st.Load(), req, d, true)
}

func (d *Decision) fail(status int, reason string) {
	d.Status = status
	d.Error = reason
}

// noHeaders stands in for a request without headers.
var noHeaders httpmsg.Headers

// reset clears d for a new decision, keeping its buffer.
func (d *Decision) reset() { *d = Decision{Rewritten: d.Rewritten[:0]} }

// pathError names the path field and the error's offset within the target
// as received, which starts offset bytes before the part that was checked.
func pathError(offset int, err error) string {
	var pe *urlpath.Error
	if errors.As(err, &pe) {
		shifted := *pe
		shifted.Offset += offset
		err = &shifted
	}
	return "path: " + err.Error()
}

func (e *Engine) decide(st *state, req *Request, d *Decision, dry bool) {
	d.reset()
	h := req.Headers
	if h == nil {
		h = &noHeaders
	}
	if !httpmsg.ValidToken(req.Method) {
		d.fail(400, "method: invalid method")
		return
	}
	target, host := req.Target, req.Host
	offset := 0
	if target == "" {
		d.fail(400, "missing path")
		return
	}
	if target[0] != '/' {
		authority, rest, ok := httpmsg.SplitAbsolute(target)
		if !ok {
			d.fail(400, "path: must start with / or be an absolute http(s) URL")
			return
		}
		host = authority
		offset = len(target) - len(rest)
		target = rest
	}
	rawPath, query, normal := urlpath.SplitNormal(target)
	path := rawPath
	if !normal {
		rawPath, query = urlpath.Split(target)
		var err error
		if path, err = urlpath.Normalize(rawPath); err != nil {
			d.fail(400, pathError(offset, err))
			return
		}
	}
	if err := urlpath.ValidateQuery(query); err != nil {
		d.fail(400, pathError(offset+len(rawPath), err))
		return
	}
	if len(st.servers) == 0 {
		d.fail(503, "no servers known")
		return
	}
	host = httpmsg.NormalizeHost(host)

	rr := router.Request{Host: host, Path: path, Method: req.Method}
	if st.table.UsesHeaders() {
		// Converting h to another interface type costs a lookup.
		rr.Headers = h
	}
	rt := st.def
	if i := st.table.Match(&rr); i >= 0 {
		rt = &st.routes[i]
	}
	if rt == nil {
		d.fail(404, "no route")
		return
	}
	d.Route, d.Config = rt.name, rt.cfg

	var key string
	switch rt.hashOn.kind {
	case hashCookie:
		key, _ = h.Cookie(rt.hashOn.name)
	case hashHeader:
		key, _ = h.Header(rt.hashOn.name)
	case hashPath:
		key = path
	case hashHost:
		key = host
	}
	d.st, d.rt, d.key, d.mode = st, rt, key, rt.sticky
	server, ok := e.choose(st, rt, req, h, key, d, dry)
	if !ok {
		d.fail(503, "no server up")
		d.Sticky, d.SetCookie, d.SessionID, d.CookieValue = StickyNone, false, "", ""
		return
	}
	d.Status = 200
	d.Server, d.server = st.names[server], server
	if d.SetCookie && d.mode != config.ModeInsert {
		d.ServerCookieValue = hintValue(st, d.Server)
	}
	switch {
	case rt.rewrite != nil:
		d.HasRewrite = true
		d.Rewritten = rt.rewrite.AppendApply(d.Rewritten[:0], path, query)
	case path == rawPath && len(rawPath)+len(query) == len(target):
		d.Upstream = target
	default:
		d.Upstream = path + query
	}
}

// choose picks the server for rt, applying the sticky steps. It pins and
// issues only when it succeeds and not dry.
func (e *Engine) choose(st *state, rt *route, req *Request, h Headers, key string, d *Decision, dry bool) (int, bool) {
	pick := func() (int, bool) {
		server, ok := e.pick(st, rt.pool, nil, key, dry)
		if ok && !dry {
			e.picked(d, st, server)
		}
		return server, ok
	}
	mode := rt.sticky
	if mode == config.ModeOff {
		return pick()
	}
	sk := &st.sticky
	d.CookieName, d.ServerCookieName = sk.Cookie, sk.ServerCookie
	if mode == config.ModeInsert {
		return e.chooseInsert(st, rt, h, d, pick)
	}
	// Most requests carry no cookies: one question spares two lookups.
	cookies := h.HasCookies()
	sid := req.SessionID
	if sid == "" && cookies {
		sid, _ = h.Cookie(sk.Cookie)
	}
	d.sid = sid

	if sid == "" {
		hint, forged := -1, false
		if cookies {
			hint, forged = e.hint(st, rt, h)
		}
		if hint >= 0 {
			d.Sticky = StickyHint
			return hint, true
		}
		if mode != config.ModeAlways && !cookies {
			return pick()
		}
		server, ok := pick()
		if !ok {
			return 0, false
		}
		d.Sticky, d.SetCookie = StickyIssued, true
		if forged {
			d.Sticky = StickyHintInvalid
		}
		d.SessionID = e.issueID(st, dry)
		if !dry {
			e.sessions.Pin(d.SessionID, st.names[server])
		}
		return server, true
	}

	var pinned string
	var known bool
	if dry {
		pinned, known = e.sessions.Peek(sid)
	} else {
		pinned, known = e.sessions.Get(sid)
	}
	pi, exists := st.index[pinned]
	up := known && exists && st.pooled[pi] && st.health.Keeps(pi)
	if up && rt.pool.Contains(pi) {
		d.Sticky = StickyHit
		return pi, true
	}
	// The hint is read only when the session does not decide: checking a
	// signed one may cost a MAC.
	hint, forged := -1, false
	if cookies {
		hint, forged = e.hint(st, rt, h)
	}
	if hint >= 0 {
		d.Sticky = StickyHint
		if !dry {
			e.sessions.Pin(sid, st.names[hint])
		}
		return hint, true
	}
	server, ok := pick()
	if !ok {
		return 0, false
	}
	switch {
	case known && !up:
		d.Sticky, d.SetCookie, d.SessionID = StickyRepinned, true, sid
	case known:
		// The pin stays, and so do the client's cookies, a forged hint
		// included: it names no server and is ignored again next time.
		d.Sticky = StickyOtherPool
		return server, true
	default:
		d.Sticky = StickyNewPin
	}
	if forged {
		// A new, signed hint replaces the forged one.
		d.Sticky, d.SetCookie, d.SessionID = StickyHintInvalid, true, sid
	}
	if !dry {
		e.sessions.Pin(sid, st.names[server])
	}
	return server, true
}

// hint returns the server the request's hint cookie names when it is a
// server of rt's pool that is up, else -1. With signed hints, forged
// reports a hint that is not a value of the signer: it is ignored.
func (e *Engine) hint(st *state, rt *route, h Headers) (server int, forged bool) {
	name, ok := h.Cookie(st.sticky.ServerCookie)
	if !ok || name == "" {
		return -1, false
	}
	if st.opts.SignHints {
		c := st.opts.Signer.Decode(name, 0)
		if c.Verdict == session.Invalid {
			return -1, true
		}
		name = c.Server
	}
	if i, ok := st.index[name]; ok && rt.pool.Contains(i) && st.health.Keeps(i) {
		return i, false
	}
	return -1, false
}

// hintValue returns the value of the hint cookie that names server.
func hintValue(st *state, server string) string {
	if st.opts.SignHints {
		return st.opts.Signer.Encode(server)
	}
	return server
}

// chooseInsert applies insert-mode stickiness: the cookie itself, signed,
// names the server, so every instance sharing the secret honours it with
// no shared table. A cookie older than sticky.max_age is not honoured; one
// signed by an older secret (or in the previous format) is, and is signed
// again.
func (e *Engine) chooseInsert(st *state, rt *route, h Headers, d *Decision, pick func() (int, bool)) (int, bool) {
	signer := st.opts.Signer
	value, has := h.Cookie(st.sticky.Cookie)
	outcome := StickyIssued
	if has {
		c := signer.Decode(value, st.sticky.MaxAge)
		i, exists := st.index[c.Server]
		exists = exists && st.pooled[i]
		switch {
		case c.Verdict == session.Invalid:
			outcome = StickyInvalid
		case c.Verdict == session.Expired:
			outcome = StickyExpired
		case exists && st.health.Keeps(i) && rt.pool.Contains(i):
			d.Sticky = StickyHit
			if c.Verdict == session.Stale {
				d.SetCookie, d.CookieValue = true, signer.Resign(c)
			}
			return i, true
		case exists && st.health.Keeps(i):
			// Pinned to a server of another route: keep the cookie.
			server, ok := pick()
			d.Sticky = StickyOtherPool
			return server, ok
		default:
			outcome = StickyRepinned
		}
	}
	server, ok := pick()
	if ok {
		d.Sticky, d.SetCookie, d.CookieValue = outcome, true, signer.Encode(st.names[server])
	}
	return server, ok
}

// pick picks a server of pool other than those of skip (Peek when dry).
// When none is up and the configuration says panic, it picks again
// ignoring the health checks' verdicts: a pool whose servers all failed is
// tried whole rather than refused, so that failures the proxy's own
// overload caused (a server out of connections resetting new ones) cannot
// keep every server out for the whole cooldown.
func (e *Engine) pick(st *state, pool *balancer.Pool, skip []int, key string, dry bool) (int, bool) {
	// st.health goes to the pool as itself, not through another interface
	// value: converting one interface to another looks its method table up
	// at run time, on every decision.
	var h balancer.Health = st.health
	if skip != nil {
		h = &excluding{h: st.health, skip: skip}
	}
	server, ok := pickOrPeek(pool, h, key, dry)
	if ok || !st.cfg.Panic {
		return server, ok
	}
	var inPanic balancer.Load = panicking{st.health}
	if skip != nil {
		inPanic = &excluding{h: inPanic, skip: skip}
	}
	if server, ok = pickOrPeek(pool, inPanic, key, dry); ok && !dry {
		e.panics.Add(1)
	}
	return server, ok
}

func pickOrPeek(pool *balancer.Pool, h balancer.Health, key string, dry bool) (int, bool) {
	if dry {
		return pool.Peek(h, key)
	}
	return pool.Pick(h, key)
}

// panicking is the health of a pool in panic: a server is up unless the
// operator disabled or drains it (health checks and ejections ignored).
type panicking struct{ *health }

func (p panicking) Up(i int) bool {
	return i < p.known && p.live[i].out.Load()&^outUnhealthy == 0
}

// excluding reports the servers of skip as down.
type excluding struct {
	h    balancer.Load
	skip []int
}

func (x *excluding) Up(i int) bool {
	for _, s := range x.skip {
		if s == i {
			return false
		}
	}
	return x.h.Up(i)
}

// Retry chooses another server of d's route for a request whose connection
// to the servers in failed broke; it reports false when no other server is
// up. A session held by the failed server moves to the new one, and the
// client is told (SetCookie) as when its pinned server goes down.
func (e *Engine) Retry(d *Decision, failed []string) bool {
	if d.rt == nil {
		return false
	}
	skip := make([]int, 0, len(failed))
	for _, name := range failed {
		if i, ok := d.st.index[name]; ok {
			skip = append(skip, i)
		}
	}
	e.Done(d)
	server, ok := e.pick(d.st, d.rt.pool, skip, d.key, false)
	if !ok {
		return false
	}
	e.picked(d, d.st, server)
	d.Server, d.server = d.st.names[server], server
	switch d.Sticky {
	case StickyNone, StickyOtherPool:
		return true
	}
	switch {
	case d.mode == config.ModeInsert:
		d.CookieValue = d.st.opts.Signer.Encode(d.Server)
	case d.sid != "" || d.SessionID != "":
		if d.SessionID == "" {
			d.SessionID = d.sid
		}
		e.sessions.Pin(d.SessionID, d.Server)
		d.ServerCookieValue = hintValue(d.st, d.Server)
	default:
		return true
	}
	d.Sticky, d.SetCookie = StickyRepinned, true
	return true
}
