package proxy

import (
	"strconv"
	"time"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/metrics"
	"l7lb/observe"
	"l7lb/tracing"
)

// observation is what one configuration gives the observation of its
// requests: the metric children of its routes and servers, and its
// revision, which the access log writes.
type observation struct {
	table *metrics.Table // nil without metrics
	rev   string         // "N-hash"
}

// newObservation returns the observation of the configuration e runs now.
// It is the one place a metric table is built: a new configuration builds
// a new one here.
func newObservation(m *metrics.Metrics, e *engine.Engine, rev config.Revision) observation {
	o := observation{rev: strconv.FormatUint(rev.N, 10) + "-" + rev.Hash}
	if m != nil {
		o.table = m.Table(e.Names())
	}
	return o
}

// observe counts, logs and ends the span (nil when not traced) of one
// request, whichever face served it: every face reports here, once per
// request, when its response has ended.
func (p *Proxy) observe(x *observe.Exchange, span *tracing.Span) {
	if span != nil {
		x.TraceID = span.TraceID
		span.End(x)
	}
	p.obs.table.Observe(x)
	if p.log != nil && x.Status != 0 {
		p.log.Log(x, p.obs.rev)
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
	if (c.p.log != nil || c.p.tracer != nil) && c.parsed {
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
	if c.p.tracer != nil && c.span == nil {
		c.startSpan() // a request the proxy answered itself
	}
	c.p.observe(x, c.span)
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
	c.span = c.p.tracer.Start(c.start, h.Method, parent, state)
}
