package proxy

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/strview"
	"l7lb/tracing"
)

// fieldSink receives the header fields of a message the proxy forwards,
// in the one form its next hop takes: HTTP/1.1 text ("Name: value" lines
// on w), a header map for x/net's HTTP/2 transport to a server (h), or a
// field list for an HTTP/2 client's stream (l). The rules that decide which fields a
// server or a client gets (writeRequestFields, writeResponseFields,
// trailerAllowed) write through it, so that HTTP/1.1 and HTTP/2 share
// them rather than copies of them.
type fieldSink struct {
	w *bufio.Writer    // HTTP/1.1, or nil
	h http.Header      // HTTP/2 to a server, or nil
	l *[]httpmsg.Field // HTTP/2 to a client, when w and h are nil
	// date formats the Date field of a response written into l: the
	// stream's own, as its connection's streams run in parallel.
	date *dateCache
	// trailers makes the fields of h trailers of a response being
	// written (http.TrailerPrefix); those of l are kept as copies (they
	// may alias a buffer the rest of the body reuses).
	trailers bool

	// The field being written in pieces (begin, add, end) into h.
	name string
	val  []byte
}

// field writes one field. A map keeps copies: name and value may alias a
// buffer that is about to be reused.
func (s *fieldSink) field(name, value string) {
	if s.w != nil {
		writeField(s.w, name, value)
		return
	}
	if s.l != nil {
		if s.trailers {
			name, value = strings.Clone(name), strings.Clone(value)
		}
		*s.l = append(*s.l, httpmsg.Field{Name: name, Value: value})
		return
	}
	k := textproto.CanonicalMIMEHeaderKey(strings.Clone(name))
	value = strings.Clone(value)
	if s.trailers {
		k = http.TrailerPrefix + k
	}
	s.h[k] = append(s.h[k], value)
}

// begin starts a field whose value add writes in pieces and end ends.
func (s *fieldSink) begin(name string) {
	if s.w != nil {
		s.w.WriteString(name)
		s.w.WriteString(": ")
		return
	}
	s.name, s.val = name, s.val[:0]
}

func (s *fieldSink) add(v string) {
	if s.w != nil {
		s.w.WriteString(v)
		return
	}
	s.val = append(s.val, v...)
}

func (s *fieldSink) addUint(n uint64, base int) {
	if s.w != nil {
		writeUint(s.w, n, base)
		return
	}
	s.val = strconv.AppendUint(s.val, n, base)
}

// addTokenOrQuoted adds v as a Forwarded parameter value: as is when a
// token, else as a quoted-string (a host with a port, an IPv6 literal).
func (s *fieldSink) addTokenOrQuoted(v string) {
	if httpmsg.ValidToken(v) {
		s.add(v)
		return
	}
	s.add(`"`)
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			s.add(`\`)
		}
		s.add(v[i : i+1])
	}
	s.add(`"`)
}

func (s *fieldSink) end() {
	if s.w != nil {
		s.w.WriteString("\r\n")
		return
	}
	s.field(s.name, string(s.val))
}

// upstreamHost is the host a server is told: the route's host_rewrite, or
// the client's own.
func upstreamHost(r *request, d *engine.Decision) string {
	if d.Config != nil && d.Config.HostRewrite != "" {
		return d.Config.HostRewrite
	}
	return r.host
}

// writeRequestFields writes the header fields of request r, served in
// configuration cfg from a client that is one of its trusted proxies or
// not, for its server, whatever the protocols on either side; Host,
// Upgrade and the framing are the caller's:
//
//   - the client's fields in order, less the hop-by-hop ones (RFC 9110
//     7.6.1: Connection and the fields it names, Keep-Alive,
//     Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE,
//     Trailer, Transfer-Encoding, Upgrade, HTTP2-Settings) and the
//     forwarding fields; Trailer is kept when the body may carry
//     trailers (withTrailers);
//   - the forwarding fields (docs/config.md, "Forwarding fields"): from a
//     client that is not a trusted proxy, the client's own replaced by
//     X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, Forwarded and
//     X-Real-IP that name the client alone, the protocol being https on a
//     TLS listener; from a trusted proxy, the lists X-Forwarded-For and
//     Forwarded appended to and the others kept (set when absent);
//   - X-Request-Id when the client sent none (id is not 0);
//   - traceparent, when traced (span is not nil): the proxy's span's, in
//     place of the client's (which is its span's parent);
//   - TE: trailers when the client accepts trailers (so a server may send
//     them), and Via (RFC 9110 7.6.3).
func (c *clientConn) writeRequestFields(s *fieldSink, cfg *snapshot, trusted bool, r *request, id uint64, span *tracing.Span, withTrailers bool) {
	fields := r.head.Fields
	// A trusted proxy's forwarding fields: whether there are lists to
	// append to, and which single-valued fields to keep (-1 for none).
	xff, fwd := false, false
	xfh, xfp, realIP := -1, -1, -1
	for i := range fields {
		k := r.kinds[i]
		switch {
		case k == kHost:
			continue
		case forwarding(k):
			if !trusted || r.dropped(fields, i) {
				continue
			}
			switch k {
			case kXForwardedFor:
				xff = true
				continue
			case kForwarded:
				fwd = true
				continue
			case kXForwardedHost:
				xfh = keepFirst(xfh, i)
				continue
			case kXForwardedProto:
				xfp = keepFirst(xfp, i)
				continue
			case kXRealIP:
				realIP = keepFirst(realIP, i)
				continue
			}
		case k == kTrailer:
			if !withTrailers || r.connNames && r.named(fields, fields[i].Name) {
				continue
			}
		case k == kTraceparent && span != nil, r.dropped(fields, i):
			continue
		}
		s.field(fields[i].Name, fields[i].Value)
	}

	s.begin("X-Forwarded-For")
	if xff {
		writeList(s, r, kXForwardedFor)
	}
	s.add(c.ip)
	s.end()
	switch {
	case xfh >= 0:
		s.field("X-Forwarded-Host", fields[xfh].Value)
	case r.host != "":
		s.field("X-Forwarded-Host", r.host)
	}
	if xfp >= 0 {
		s.field("X-Forwarded-Proto", fields[xfp].Value)
	} else {
		s.field("X-Forwarded-Proto", c.ln.proto)
	}
	s.begin("Forwarded")
	if fwd {
		writeList(s, r, kForwarded)
	}
	s.add("for=")
	s.add(c.fwdFor)
	if r.host != "" {
		s.add(";host=")
		s.addTokenOrQuoted(r.host)
	}
	s.add(";proto=")
	s.add(c.ln.proto)
	s.end()
	if realIP >= 0 {
		s.field("X-Real-IP", fields[realIP].Value)
	} else {
		s.field("X-Real-IP", c.ip)
	}
	if id != 0 {
		s.begin("X-Request-Id")
		s.add(c.p.idPrefix)
		s.addUint(id, 16)
		s.end()
	}
	if span != nil {
		s.field("traceparent", span.Traceparent)
	}
	if r.teTrailers {
		s.field("TE", "trailers")
	}
	if cfg.via {
		s.field("Via", viaElement(r.head.Proto))
	}
}

// keepFirst returns i unless a field was kept already.
func keepFirst(kept, i int) int {
	if kept >= 0 {
		return kept
	}
	return i
}

// viaElement is the proxy's Via element (RFC 9110 7.6.3) for a message
// received in proto: "1.1 l7lb", "1.0 l7lb" or "2 l7lb".
func viaElement(proto string) string {
	switch proto {
	case "HTTP/1.0":
		return "1.0 l7lb"
	case "HTTP/2.0":
		return "2 l7lb"
	}
	return "1.1 l7lb"
}

// writeList adds the values of the client's fields of kind k, which
// Connection does not name, each followed by ", ": the prior hops of a
// list the proxy appends to.
func writeList(s *fieldSink, r *request, k fieldKind) {
	for i, ki := range r.kinds {
		if ki == k && !r.dropped(r.head.Fields, i) && r.head.Fields[i].Value != "" {
			s.add(r.head.Fields[i].Value)
			s.add(", ")
		}
	}
}

// writeResponseFields writes the header fields of a server's response
// resp to the request decided by d in configuration cfg, for the client, whatever the
// protocols on either side; the status and the framing are the caller's:
// the server's fields less the hop-by-hop ones (Trailer kept when
// trailers pass, withTrailers), the sticky cookies,
// Strict-Transport-Security on a TLS listener with hsts, Date when the
// server sent none (RFC 9110 6.6.1: a proxy with a clock adds it), and
// Via.
func (c *clientConn) writeResponseFields(s *fieldSink, cfg *snapshot, resp *response, d *engine.Decision, withTrailers bool) {
	fields := resp.head.Fields
	for i := range fields {
		f := &fields[i]
		switch resp.kinds[i] {
		case kTrailer:
			if !withTrailers || resp.connNames && resp.named(fields, f.Name) {
				continue
			}
		default:
			if resp.dropped(fields, i) {
				continue
			}
		}
		s.field(f.Name, f.Value)
	}
	c.writeCookies(s, cfg, d)
	if c.ln.HSTS != "" {
		s.field("Strict-Transport-Security", c.ln.HSTS)
	}
	switch {
	case resp.hasDate:
	case s.w != nil:
		c.writeDate(s.w)
	default:
		s.field("Date", strview.Of(s.date.at(time.Now())))
	}
	if cfg.via {
		s.field("Via", viaElement(resp.head.Proto))
	}
}

// writeInformationalFields writes the fields of a 1xx response for the
// client: the server's, less the hop-by-hop ones, and Via.
func (c *clientConn) writeInformationalFields(s *fieldSink, cfg *snapshot, resp *response) {
	for i := range resp.head.Fields {
		if !resp.dropped(resp.head.Fields, i) {
			s.field(resp.head.Fields[i].Name, resp.head.Fields[i].Value)
		}
	}
	if cfg.via {
		s.field("Via", viaElement(resp.head.Proto))
	}
}

// writeCookies writes the Set-Cookie fields stickiness asks for, after the
// server's own. In insert mode one cookie holds the signed server; in the
// table modes one holds the session id and another names the server,
// signed. Secure goes on them as sticky.secure says (see newCookieAttrs).
func (c *clientConn) writeCookies(s *fieldSink, cfg *snapshot, d *engine.Decision) {
	if !d.SetCookie {
		return
	}
	attrs := &cfg.plainCookies
	if c.secure {
		attrs = &cfg.tlsCookies
	}
	s.begin("Set-Cookie")
	s.add(d.CookieName)
	s.add("=")
	if cfg.insert {
		s.add(d.CookieValue)
		s.add(attrs.session)
		s.end()
		return
	}
	s.add(d.SessionID)
	s.add(attrs.session)
	s.end()
	s.begin("Set-Cookie")
	s.add(d.ServerCookieName)
	s.add("=")
	s.add(d.ServerCookieValue)
	s.add(attrs.server)
	s.end()
}

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// trailerAllowed reports whether a trailer field called name passes
// through the proxy, either way: not one that frames, routes, forwards,
// authenticates or controls a message (httpmsg.TrailerForbidden): a
// recipient that merges trailers into the header section must not learn
// those from them.
func trailerAllowed(name string) bool { return !httpmsg.TrailerForbidden(name) }
