package proxy

import (
	"strconv"
	"time"

	"l7lb/accesslog"
	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/metrics"
	"l7lb/observe"
	"l7lb/tracing"
)

// observation is how the requests of one configuration are observed: the
// metric children of its routes and servers, its access log and tracer,
// and its revision, which the access log writes.
type observation struct {
	table  *metrics.Table    // nil without metrics
	log    *accesslog.Logger // nil when off
	tracer *tracing.Tracer   // nil when off
	rev    string            // "N-hash"
}

// observation returns the observation of c. It is the one place a metric
// table is built: each configuration applied builds its own, which drops
// the series of the routes and servers the previous one had and c has
// not. Callers hold p.cfgMu, so that tables are built in the order their
// configurations are applied.
func (p *Proxy) observation(c Config) observation {
	o := observation{log: c.AccessLog, tracer: c.Tracer, rev: strconv.FormatUint(c.Revision.N, 10) + "-" + c.Revision.Hash}
	if p.metrics != nil {
		routes, servers := c.View.Names()
		o.table = p.metrics.Table(routes, servers, c.Metrics.MaxRoutes)
	}
	return o
}

// observe counts, logs and ends the span (nil when not traced) of one
// request, whichever face served it, under the observation of the
// configuration that served it: every face reports here, once per
// request, when its response has ended.
func (o *observation) observe(x *observe.Exchange, span *tracing.Span) {
	if span != nil {
		x.TraceID = span.TraceID
		span.End(x)
	}
	o.table.Observe(x)
	if o.log != nil && x.Status != 0 {
		o.log.Log(x, o.rev)
	}
}

// finish reports the request just served to observe.
func (c *clientConn) finish() {
	x, h, r := &c.x, &c.req.head, &c.req
	x.Route, x.Server, x.RouteName, x.ServerName, x.Sticky = -1, -1, "", "", engine.StickyNone
	if c.routed {
		x.Route, x.Server, x.RouteName, x.Sticky = c.d.RouteIndex(), c.d.ServerIndex(), c.d.Route, c.d.Sticky
		x.ServerName = c.server
	}
	x.Status = c.status
	x.Start = c.start
	x.Duration = time.Since(c.start)
	x.Received, x.Sent = c.tc.read-c.read, c.tc.written-c.written
	c.read = c.tc.read
	x.Connect, x.Upstream, x.Retries = c.connect, c.waited, c.retries
	x.Method, x.Target, x.Proto, x.Host, x.UserAgent, x.Referer, x.RequestID, x.TraceID = "", "", "", "", "", "", "", ""
	if c.parsed {
		x.Method = h.Method
	}
	obs := &c.snap.obs
	if (obs.log != nil || obs.tracer != nil) && c.parsed {
		fields := httpmsg.Headers{Fields: h.Fields} // of this head, even one that failed its checks
		x.Target, x.Proto = h.Target, h.Proto
		x.Host, _ = fields.Header("host")
		if c.routed {
			x.Host = r.host // the absolute-form target's authority, if any
		}
		x.UserAgent, _ = fields.Header("user-agent")
		x.Referer, _ = fields.Header("referer")
		if c.id == 0 {
			x.RequestID, _ = fields.Header("x-request-id")
		}
	}
	x.Client, x.IDPrefix, x.ID = c.ip, c.p.idPrefix, c.id
	if obs.tracer != nil && c.span == nil {
		c.startSpan() // a request the proxy answered itself
	}
	obs.observe(x, c.span)
	c.span = nil
}

// startSpan starts the span of the request, continuing the client's trace.
func (c *clientConn) startSpan() {
	h := &c.req.head
	var parent, state string
	if c.parsed {
		fields := httpmsg.Headers{Fields: h.Fields}
		parent, _ = fields.Header("traceparent")
		state, _ = fields.Header("tracestate")
	}
	c.span = c.snap.obs.tracer.Start(c.start, h.Method, parent, state)
}

// finish reports the HTTP/2 request just served to observe, as
// clientConn.finish does an HTTP/1.x one. Received counts the request
// body: HTTP/2 heads are compressed per connection, so a stream's share of
// them is not known.
func (st *stream) finish() {
	x, s := &st.x, st.s
	x.Route, x.Server, x.RouteName, x.ServerName, x.Sticky = -1, -1, "", "", engine.StickyNone
	if st.routed {
		x.Route, x.Server, x.RouteName, x.Sticky = st.d.RouteIndex(), st.d.ServerIndex(), st.d.Route, st.d.Sticky
		x.ServerName = st.server
	}
	x.Status, x.Start, x.Duration = st.status, st.start, time.Since(st.start)
	x.Received, x.Sent = st.body.n, st.sent.n
	x.Connect, x.Upstream, x.Retries = st.connect, st.waited, st.retries
	x.Method = s.Method()
	x.Target, x.Proto, x.Host, x.UserAgent, x.Referer, x.RequestID, x.TraceID = "", "", "", "", "", "", ""
	obs := &st.snap.obs
	if obs.log != nil || obs.tracer != nil {
		h := httpmsg.Headers{Fields: s.Fields()}
		x.Target, x.Proto, x.Host = s.Path(), "HTTP/2.0", s.Authority()
		x.UserAgent, _ = h.Header("user-agent")
		x.Referer, _ = h.Header("referer")
		if st.id == 0 {
			x.RequestID, _ = h.Header("x-request-id")
		}
	}
	x.Client, x.IDPrefix, x.ID = st.c.ip, st.c.p.idPrefix, st.id
	if obs.tracer != nil && st.span == nil {
		st.startSpan() // a request the proxy answered itself
	}
	obs.observe(x, st.span)
	st.span = nil
}

// startSpan starts the span of the HTTP/2 request, continuing the client's
// trace.
func (st *stream) startSpan() {
	h := httpmsg.Headers{Fields: st.s.Fields()}
	parent, _ := h.Header("traceparent")
	state, _ := h.Header("tracestate")
	st.span = st.snap.obs.tracer.Start(st.start, st.s.Method(), parent, state)
}
