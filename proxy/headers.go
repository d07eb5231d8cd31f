package proxy

import (
	"bufio"
	"net/http"
	"strconv"
	"time"

	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/tracing"
)

// The HTTP/1.1 heads the proxy writes: the request and status lines, the
// framing and what it says of the connection. The fields between them are
// written by the rules both protocols share (fieldsink.go).

// writeRequestHead writes the HTTP/1.1 head of request r, decided by d in
// configuration cfg (trusted: its client is a trusted proxy of cfg), for
// its server:
//
//   - the request line with the engine's target (the rewritten path, or
//     the client's own bytes when the path needed no change), in HTTP/1.1;
//   - Host as received, or the route's host_rewrite;
//   - the fields writeRequestFields gives (the client's less the
//     hop-by-hop ones, the forwarding fields, X-Request-Id, TE, Via),
//     with Trailer kept when the body is chunked, since trailers pass;
//   - Connection and Upgrade on an upgrade (less h2c), and the framing:
//     the body's Content-Length, or chunked.
func (c *clientConn) writeRequestHead(w *bufio.Writer, cfg *snapshot, trusted bool, r *request, d *engine.Decision, id uint64, span *tracing.Span) {
	w.WriteString(r.head.Method)
	w.WriteByte(' ')
	if d.HasRewrite {
		w.Write(d.Rewritten)
	} else {
		w.WriteString(d.Upstream)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(upstreamHost(r, d))
	w.WriteString("\r\n")
	s := fieldSink{w: w}
	c.writeRequestFields(&s, cfg, trusted, r, id, span, r.body == bodyChunked)
	if r.upgrading() {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		writeUpgrades(w, r)
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

// writeUpgrades writes the protocols of the client's Upgrade fields, one
// list, less h2c.
func writeUpgrades(w *bufio.Writer, r *request) {
	first := true
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

// writeResponseHead writes the HTTP/1.1 head of the response for the
// client: the server's status, the fields writeResponseFields gives (the
// server's less the hop-by-hop ones, the sticky cookies, HSTS, Date when
// the server sent none, Via), the framing and what the proxy says of the
// connection.
func (c *clientConn) writeResponseHead(w *bufio.Writer, out outFraming, keep bool) {
	resp := &c.resp
	writeStatusLine(w, resp.head.Status, resp.head.Reason)
	s := fieldSink{w: w}
	c.writeResponseFields(&s, c.snap, resp, &c.d, resp.body == bodyChunked && out == outChunked)
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
	s := fieldSink{w: w}
	c.writeInformationalFields(&s, c.snap, resp)
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
