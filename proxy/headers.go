package proxy

import (
	"bufio"
	"strconv"

	"l7lb/engine"
)

// writeRequestHead writes the HTTP/1.1 head of the request to send the
// server: the request line with the engine's target (the rewritten path,
// or the client's own bytes when the path needed no change); Host as
// received, or the route's host_rewrite; the fields writeRequestFields
// gives; Connection and Upgrade on an upgrade; and the framing: the
// body's Content-Length, or chunked, with Trailer kept since trailers
// pass through.
func (c *clientConn) writeRequestHead(w *bufio.Writer, r *request, d *engine.Decision, id uint64) {
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
	c.writeRequestFields(&s, r, id, r.body == bodyChunked)
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
// client: the server's status, the fields writeResponseFields gives, the
// framing and what the proxy says of the connection.
func (c *clientConn) writeResponseHead(w *bufio.Writer, out outFraming, keep bool) {
	resp := &c.resp
	writeStatusLine(w, resp.status, resp.reason)
	s := fieldSink{w: w}
	c.writeResponseFields(&s, resp, &c.d, resp.body == bodyChunked && out == outChunked)
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
	s := fieldSink{w: w}
	writeInformationalFields(&s, resp)
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
