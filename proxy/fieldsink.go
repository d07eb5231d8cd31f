package proxy

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"l7lb/engine"
	"l7lb/httpmsg"
)

// fieldSink receives the header fields of a message the proxy forwards,
// in the one form its next hop takes: HTTP/1.1 text ("Name: value" lines
// on w) or an HTTP/2 header map (h). The rules that decide which fields a
// server or a client gets (writeRequestFields, writeResponseFields,
// trailerAllowed) write through it, so that HTTP/1.1 and HTTP/2 share
// them rather than copies of them.
type fieldSink struct {
	w *bufio.Writer // HTTP/1.1, or nil
	h http.Header   // HTTP/2, when w is nil
	// trailers makes the fields of h trailers of a response being
	// written (http.TrailerPrefix).
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

// writeRequestFields writes the header fields of request r, routed by d,
// for its server, whatever the protocols on either side; Host and the
// framing are the caller's:
//
//   - the client's fields in order, less the hop-by-hop ones (RFC 9110
//     7.6.1: Connection and the fields it names, Keep-Alive,
//     Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE,
//     Trailer, Transfer-Encoding, Upgrade) and the forwarding fields;
//     Trailer is kept when the body may carry trailers (withTrailers);
//   - X-Forwarded-For with the client appended, one field for all;
//     X-Forwarded-Host and X-Forwarded-Proto, set (a client's own are not
//     trusted); RFC 7239 Forwarded with an element appended, proto=https
//     on a TLS listener;
//   - X-Request-Id when the client sent none (id is not 0);
//   - TE: trailers when the client accepts trailers (so a server may send
//     them).
func (c *clientConn) writeRequestFields(s *fieldSink, r *request, id uint64, withTrailers bool) {
	fields := r.head.Fields
	xff, fwd := false, false
	for i := range fields {
		switch k := r.kinds[i]; k {
		case kHost, kXForwardedHost, kXForwardedProto:
			continue
		case kXForwardedFor, kForwarded:
			if !r.dropped(fields, i) {
				xff, fwd = xff || k == kXForwardedFor, fwd || k == kForwarded
			}
			continue
		case kTrailer:
			if !withTrailers || r.connNames && r.named(fields, fields[i].Name) {
				continue
			}
		default:
			if r.dropped(fields, i) {
				continue
			}
		}
		s.field(fields[i].Name, fields[i].Value)
	}

	s.begin("X-Forwarded-For")
	if xff {
		writeList(s, r, kXForwardedFor)
	}
	s.add(c.ip)
	s.end()
	if r.host != "" {
		s.field("X-Forwarded-Host", r.host)
	}
	s.field("X-Forwarded-Proto", c.ln.proto)
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
	if id != 0 {
		s.begin("X-Request-Id")
		s.add(c.p.idPrefix)
		s.addUint(id, 16)
		s.end()
	}
	if r.teTrailers {
		s.field("TE", "trailers")
	}
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
// resp to the request decided by d, for the client, whatever the
// protocols on either side; the status and the framing are the caller's:
// the server's fields less the hop-by-hop ones (Trailer kept when
// trailers pass, withTrailers), the sticky cookies, and
// Strict-Transport-Security on a TLS listener with hsts.
func (c *clientConn) writeResponseFields(s *fieldSink, resp *response, d *engine.Decision, withTrailers bool) {
	for i := range resp.fields {
		f := &resp.fields[i]
		switch resp.kinds[i] {
		case kTrailer:
			if !withTrailers || resp.connNames && resp.named(resp.fields, f.Name) {
				continue
			}
		default:
			if resp.dropped(resp.fields, i) {
				continue
			}
		}
		s.field(f.Name, f.Value)
	}
	c.writeCookies(s, d)
	if c.ln.HSTS != "" {
		s.field("Strict-Transport-Security", c.ln.HSTS)
	}
}

// writeInformationalFields writes the fields of a 1xx response for the
// client: the server's, less the hop-by-hop ones.
func writeInformationalFields(s *fieldSink, resp *response) {
	for i := range resp.fields {
		if !resp.dropped(resp.fields, i) {
			s.field(resp.fields[i].Name, resp.fields[i].Value)
		}
	}
}

// writeCookies writes the Set-Cookie fields stickiness asks for, after the
// server's own. In insert mode one cookie holds the signed server; in the
// table modes one holds the session id and another names the server,
// signed. Secure goes on them as sticky.secure says (see newCookieAttrs).
func (c *clientConn) writeCookies(s *fieldSink, d *engine.Decision) {
	if !d.SetCookie {
		return
	}
	p := c.p
	attrs := &p.plainCookies
	if c.secure {
		attrs = &p.tlsCookies
	}
	s.begin("Set-Cookie")
	s.add(d.CookieName)
	s.add("=")
	if p.insert {
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
// through the proxy: not one that concerns the connection or the framing,
// nor Host.
func trailerAllowed(name string) bool {
	k := classify(name)
	return !hopByHop(k) && k != kHost
}
