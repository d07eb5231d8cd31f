package proxy

import "l7lb/httpmsg"

// response is a server's response head, parsed in place: its strings alias
// the buffer it was read into.
type response struct {
	head httpmsg.ResponseHead
	fieldInfo
	http11 bool
	body   bodyKind
	closes bool // the server closes the connection after this response
}

// parse parses raw, a response head through its empty line, to the request
// whose method is method (httpmsg.ParseResponseHead), and reads its
// framing as strictly as a request's: a framing conflict is an error,
// which the proxy answers with 502. A response to HEAD, a 1xx, 204 or 304
// has no body whatever its fields say (RFC 9112 6.3).
func (r *response) parse(raw, method string) error {
	h := &r.head
	if err := httpmsg.ParseResponseHead(raw, h); err != nil {
		return err
	}
	if err := r.scan(h.Fields); err != nil {
		return err
	}
	r.http11 = h.Proto == "HTTP/1.1"
	if r.chunked && !r.http11 {
		return errEncoding10
	}
	r.closes = r.connClose || !r.http11 && !r.connKeepAlive
	switch {
	case h.Status < 200 || h.Status == 204 || h.Status == 304 || method == "HEAD":
		r.body = bodyNone
	case r.chunked:
		r.body = bodyChunked
	case r.hasLength && r.length == 0:
		r.body = bodyNone
	case r.hasLength:
		r.body = bodyLength
	default:
		r.body = bodyClose
		r.closes = true
	}
	return nil
}
