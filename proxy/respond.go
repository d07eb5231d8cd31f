package proxy

import (
	"net/http"
	"strconv"
	"strings"
)

// statusText returns the reason phrase of status (net/http's table, which
// has every registered status) and the text the body of the proxy's own
// response to it starts with.
func statusText(status int) (reason, text string) {
	reason = http.StatusText(status)
	switch status {
	case 404:
		return reason, "no route"
	case 503:
		return reason, "no server available"
	case 505:
		return reason, "HTTP version not supported"
	case 0:
	default:
		if reason != "" {
			return reason, strings.ToLower(reason)
		}
	}
	return "Status " + strconv.Itoa(status), "status " + strconv.Itoa(status)
}

// reject answers the request with status and a short plain-text body,
// counts kind, and reports whether the connection stays open (see
// respond); only after 404, 502, 503 and 504, which say nothing wrong of
// the request.
func (c *clientConn) reject(status int, kind errKind, detail string) bool {
	c.p.count(kind)
	_, body := statusText(status)
	if detail != "" {
		body += ": " + detail
	}
	body += "\n"
	keepable := false
	switch status {
	case 404, 502, 503, 504:
		keepable = true
	}
	return c.respond(status, "Content-Type: text/plain; charset=utf-8\r\n", body, keepable)
}

// respond answers the request itself, with status, the header fields
// given (each line ending in CRLF) and body, and reports whether the
// connection stays open: only when keepable and after a well-formed
// request whose body, if any, was read whole, so that the next request
// starts where this one ended. After a malformed request the connection
// always closes: where it ends cannot be trusted.
func (c *clientConn) respond(status int, fields, body string, keepable bool) bool {
	r := &c.req
	keep := keepable && r.head.Method != "" && r.keepAlive && r.body == bodyNone && !c.stopping()
	reason, _ := statusText(status)
	w := c.bw
	writeStatusLine(w, status, reason)
	c.writeDate(w)
	w.WriteString(fields)
	w.WriteString(c.ln.hstsField)
	w.WriteString("Content-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	if !keep {
		w.WriteString("\r\nConnection: close")
	} else if !r.http11 {
		w.WriteString("\r\nConnection: keep-alive")
	}
	w.WriteString("\r\n\r\n")
	if r.head.Method != "HEAD" {
		w.WriteString(body)
	}
	c.status = status
	c.linger = !keep
	return w.Flush() == nil && keep
}
