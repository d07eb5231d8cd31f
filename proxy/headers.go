package proxy

import (
	"bufio"
	"strconv"

	"l7lb/httpmsg"
)

// writeRequestHead writes the head of the request to send the server:
//
//   - the request line with the engine's target (the rewritten path, or
//     the client's own bytes when the path needed no change), in HTTP/1.1;
//   - Host as received, or the route's host_rewrite;
//   - the client's fields in order, less the hop-by-hop ones (RFC 9110
//     7.6.1: Connection and the fields it names, Keep-Alive,
//     Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE,
//     Trailer, Transfer-Encoding, Upgrade) and the forwarding fields;
//   - X-Forwarded-For with the client appended, one field for all;
//     X-Forwarded-Host and X-Forwarded-Proto, set (a client's own are not
//     trusted); RFC 7239 Forwarded with an element appended;
//   - X-Request-Id when the client sent none;
//   - TE: trailers when the client accepts trailers (so a server may send
//     them), Connection and Upgrade on an upgrade, and the framing: the
//     body's Content-Length, or chunked, with Trailer kept since trailers
//     pass through.
func (c *clientConn) writeRequestHead(w *bufio.Writer) {
	r, d := &c.req, &c.d
	fields := r.head.Fields
	w.WriteString(r.head.Method)
	w.WriteByte(' ')
	if d.HasRewrite {
		w.Write(d.Rewritten)
	} else {
		w.WriteString(d.Upstream)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	if d.Config != nil && d.Config.HostRewrite != "" {
		w.WriteString(d.Config.HostRewrite)
	} else {
		w.WriteString(r.host)
	}
	w.WriteString("\r\n")

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
			if r.body != bodyChunked || r.connNames && r.named(fields, fields[i].Name) {
				continue
			}
		default:
			if r.dropped(fields, i) {
				continue
			}
		}
		writeField(w, fields[i].Name, fields[i].Value)
	}

	w.WriteString("X-Forwarded-For: ")
	if xff {
		c.writeList(w, kXForwardedFor)
	}
	w.WriteString(c.ip)
	if r.host != "" {
		w.WriteString("\r\nX-Forwarded-Host: ")
		w.WriteString(r.host)
	}
	w.WriteString("\r\nX-Forwarded-Proto: http\r\nForwarded: ")
	if fwd {
		c.writeList(w, kForwarded)
	}
	w.WriteString("for=")
	w.WriteString(c.fwdFor)
	if r.host != "" {
		w.WriteString(";host=")
		writeTokenOrQuoted(w, r.host)
	}
	w.WriteString(";proto=http\r\n")
	if c.id != 0 {
		w.WriteString("X-Request-Id: ")
		w.WriteString(c.p.idPrefix)
		writeUint(w, c.id, 16)
		w.WriteString("\r\n")
	}
	if r.teTrailers {
		w.WriteString("TE: trailers\r\n")
	}
	if r.upgrading() {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.WriteString(r.upgradeTo)
		w.WriteString("\r\n")
	}
	switch {
	case r.body == bodyChunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case r.hasLength:
		// Kept when 0 too: a server may want the length of a POST.
		w.WriteString("Content-Length: ")
		writeUint(w, uint64(r.length), 10)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

// writeList writes the values of the client's fields of kind k, which
// Connection does not name, each followed by ", ": the prior hops of a
// list the proxy appends to.
func (c *clientConn) writeList(w *bufio.Writer, k fieldKind) {
	r := &c.req
	for i, ki := range r.kinds {
		if ki == k && !r.dropped(r.head.Fields, i) && r.head.Fields[i].Value != "" {
			w.WriteString(r.head.Fields[i].Value)
			w.WriteString(", ")
		}
	}
}

// outFraming is how the proxy delimits a response body for its client.
type outFraming uint8

const (
	outNone    outFraming = iota // no body
	outLength                    // Content-Length
	outChunked                   // chunked: as received, or re-framed
	outClose                     // until the proxy closes (HTTP/1.0 clients)
)

// framingFor returns how to send the client the body of resp.
func (c *clientConn) framingFor(resp *response) outFraming {
	switch {
	case resp.body == bodyNone:
		return outNone
	case resp.body == bodyLength:
		return outLength
	case c.req.http11:
		return outChunked
	}
	return outClose
}

// writeResponseHead writes the head of the response for the client: the
// server's status and fields, less the hop-by-hop ones, then the sticky
// cookies, the framing and what the proxy says of the connection.
func (c *clientConn) writeResponseHead(w *bufio.Writer, out outFraming, keep bool) {
	resp := &c.resp
	writeStatusLine(w, resp.status, resp.reason)
	for i := range resp.fields {
		f := &resp.fields[i]
		switch resp.kinds[i] {
		case kTrailer:
			// Trailers pass through when the body stays chunked.
			if resp.body != bodyChunked || out != outChunked || resp.connNames && resp.named(resp.fields, f.Name) {
				continue
			}
		default:
			if resp.dropped(resp.fields, i) {
				continue
			}
		}
		writeField(w, f.Name, f.Value)
	}
	c.writeCookies(w)
	switch out {
	case outNone:
		// A HEAD or 304 response says the length of the body it omits.
		if resp.hasLength && resp.status >= 200 && resp.status != 204 {
			w.WriteString("Content-Length: ")
			writeUint(w, uint64(resp.length), 10)
			w.WriteString("\r\n")
		}
	case outLength:
		w.WriteString("Content-Length: ")
		writeUint(w, uint64(resp.length), 10)
		w.WriteString("\r\n")
	case outChunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case resp.status == 101:
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.WriteString(resp.upgradeTo)
		w.WriteString("\r\n")
	case !keep:
		w.WriteString("Connection: close\r\n")
	case !c.req.http11:
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
}

// writeStatusLine writes an HTTP/1.1 status line.
func writeStatusLine(w *bufio.Writer, status int, reason string) {
	w.WriteString("HTTP/1.1 ")
	writeUint(w, uint64(status), 10)
	w.WriteByte(' ')
	w.WriteString(reason)
	w.WriteString("\r\n")
}

// writeInformational writes the head of a 1xx response for the client.
func (c *clientConn) writeInformational(w *bufio.Writer) {
	resp := &c.resp
	writeStatusLine(w, resp.status, resp.reason)
	for i := range resp.fields {
		if !resp.dropped(resp.fields, i) {
			writeField(w, resp.fields[i].Name, resp.fields[i].Value)
		}
	}
	w.WriteString("\r\n")
}

// writeCookies writes the Set-Cookie fields stickiness asks for, after the
// server's own. In insert mode one cookie holds the signed server; in the
// table modes one holds the session id and another names the server, signed.
func (c *clientConn) writeCookies(w *bufio.Writer) {
	d, p := &c.d, c.snap
	if !d.SetCookie {
		return
	}
	w.WriteString("Set-Cookie: ")
	w.WriteString(d.CookieName)
	w.WriteByte('=')
	if p.insert {
		w.WriteString(d.CookieValue)
		w.WriteString(p.cookieAttrs)
		w.WriteString("\r\n")
		return
	}
	w.WriteString(d.SessionID)
	w.WriteString(p.cookieAttrs)
	w.WriteString("\r\nSet-Cookie: ")
	w.WriteString(d.ServerCookieName)
	w.WriteByte('=')
	w.WriteString(d.ServerCookieValue)
	w.WriteString(p.serverAttrs)
	w.WriteString("\r\n")
}

// writeUint writes n in base into w's free space, which it makes room
// for: strconv then appends without allocating.
func writeUint(w *bufio.Writer, n uint64, base int) {
	if w.Available() < 24 {
		w.Flush()
	}
	w.Write(strconv.AppendUint(w.AvailableBuffer(), n, base))
}

func writeField(w *bufio.Writer, name, value string) {
	w.WriteString(name)
	w.WriteString(": ")
	w.WriteString(value)
	w.WriteString("\r\n")
}

// writeTokenOrQuoted writes s as a Forwarded parameter value: as is when a
// token, else as a quoted-string (a host with a port, an IPv6 literal).
func writeTokenOrQuoted(w *bufio.Writer, s string) {
	if httpmsg.ValidToken(s) {
		w.WriteString(s)
		return
	}
	w.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			w.WriteByte('\\')
		}
		w.WriteByte(s[i])
	}
	w.WriteByte('"')
}
