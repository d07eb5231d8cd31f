package proxy

import (
	"bufio"
	"net/http"
	"strconv"
	"time"

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
//     Trailer, Transfer-Encoding, Upgrade, HTTP2-Settings) and the
//     forwarding fields;
//   - the forwarding fields (docs/config.md, "Forwarding fields"): from a
//     client that is not a trusted proxy, the client's own replaced by
//     X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, Forwarded and
//     X-Real-IP that name the client alone; from a trusted proxy, the
//     lists X-Forwarded-For and Forwarded appended to and the others kept
//     (set when absent);
//   - X-Request-Id when the client sent none;
//   - traceparent, when traced: the proxy's span's, in place of the
//     client's (which is its span's parent);
//   - TE: trailers when the client accepts trailers (so a server may send
//     them), Via (RFC 9110 7.6.3), Connection and Upgrade on an upgrade
//     (less h2c), and the framing: the body's Content-Length, or chunked,
//     with Trailer kept since trailers pass through.
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
			if !c.trusted || r.dropped(fields, i) {
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
			if r.body != bodyChunked || r.connNames && r.named(fields, fields[i].Name) {
				continue
			}
		case k == kTraceparent && c.span != nil, r.dropped(fields, i):
			continue
		}
		writeField(w, fields[i].Name, fields[i].Value)
	}

	w.WriteString("X-Forwarded-For: ")
	if xff {
		c.writeList(w, kXForwardedFor)
	}
	w.WriteString(c.ip)
	w.WriteString("\r\n")
	switch {
	case xfh >= 0:
		writeField(w, "X-Forwarded-Host", fields[xfh].Value)
	case r.host != "":
		writeField(w, "X-Forwarded-Host", r.host)
	}
	if xfp >= 0 {
		writeField(w, "X-Forwarded-Proto", fields[xfp].Value)
	} else {
		w.WriteString("X-Forwarded-Proto: http\r\n")
	}
	w.WriteString("Forwarded: ")
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
	if realIP >= 0 {
		writeField(w, "X-Real-IP", fields[realIP].Value)
	} else {
		writeField(w, "X-Real-IP", c.ip)
	}
	if c.id != 0 {
		w.WriteString("X-Request-Id: ")
		w.WriteString(c.p.idPrefix)
		writeUint(w, c.id, 16)
		w.WriteString("\r\n")
	}
	if c.span != nil {
		w.WriteString("traceparent: ")
		w.WriteString(c.span.Traceparent)
		w.WriteString("\r\n")
	}
	if r.teTrailers {
		w.WriteString("TE: trailers\r\n")
	}
	if c.snap.via {
		writeVia(w, r.http11)
	}
	if r.upgrading() {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		c.writeUpgrades(w)
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

// keepFirst returns i unless a field was kept already.
func keepFirst(kept, i int) int {
	if kept >= 0 {
		return kept
	}
	return i
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

// writeUpgrades writes the protocols of the client's Upgrade fields, one
// list, less h2c.
func (c *clientConn) writeUpgrades(w *bufio.Writer) {
	r, first := &c.req, true
	for i, k := range r.kinds {
		if k != kUpgrade {
			continue
		}
		for list := r.head.Fields[i].Value; list != ""; {
			var p string
			p, list = httpmsg.NextElement(list)
			if p == "" || isH2C(p) {
				continue
			}
			if !first {
				w.WriteString(", ")
			}
			w.WriteString(p)
			first = false
		}
	}
}

// writeVia writes the proxy's Via element for a message received in
// HTTP/1.1 or, when not http11, HTTP/1.0.
func writeVia(w *bufio.Writer, http11 bool) {
	if http11 {
		w.WriteString("Via: 1.1 l7lb\r\n")
	} else {
		w.WriteString("Via: 1.0 l7lb\r\n")
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
// cookies, Date when the server sent none (RFC 9110 6.6.1: a proxy with a
// clock adds it), Via, the framing and what the proxy says of the
// connection.
func (c *clientConn) writeResponseHead(w *bufio.Writer, out outFraming, keep bool) {
	resp := &c.resp
	writeStatusLine(w, resp.head.Status, resp.head.Reason)
	for i := range resp.head.Fields {
		f := &resp.head.Fields[i]
		switch resp.kinds[i] {
		case kTrailer:
			// Trailers pass through when the body stays chunked.
			if resp.body != bodyChunked || out != outChunked || resp.connNames && resp.named(resp.head.Fields, f.Name) {
				continue
			}
		default:
			if resp.dropped(resp.head.Fields, i) {
				continue
			}
		}
		writeField(w, f.Name, f.Value)
	}
	c.writeCookies(w)
	if !resp.hasDate {
		c.writeDate(w)
	}
	if c.snap.via {
		writeVia(w, resp.http11)
	}
	switch out {
	case outNone:
		// A HEAD or 304 response says the length of the body it omits.
		if resp.hasLength && resp.head.Status >= 200 && resp.head.Status != 204 {
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
	case resp.head.Status == 101:
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
	writeStatusLine(w, resp.head.Status, resp.head.Reason)
	for i := range resp.head.Fields {
		if !resp.dropped(resp.head.Fields, i) {
			writeField(w, resp.head.Fields[i].Name, resp.head.Fields[i].Value)
		}
	}
	if c.snap.via {
		writeVia(w, resp.http11)
	}
	w.WriteString("\r\n")
}

// writeDate writes a Date field with the current time.
func (c *clientConn) writeDate(w *bufio.Writer) {
	w.WriteString("Date: ")
	w.Write(c.date.at(time.Now()))
	w.WriteString("\r\n")
}

// dateCache holds the IMF-fixdate text (RFC 9110 5.6.7) of one second, so
// that a connection formats Date once a second at most, without
// allocating.
type dateCache struct {
	sec  int64
	text [len(http.TimeFormat)]byte
}

func (d *dateCache) at(now time.Time) []byte {
	if sec := now.Unix(); sec != d.sec {
		d.sec = sec
		now.UTC().AppendFormat(d.text[:0], http.TimeFormat)
	}
	return d.text[:]
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
