package proxy

import "l7lb/httpmsg"

// request is the client request being served: its parsed head and what
// the proxy learned of its fields.
type request struct {
	head httpmsg.Head
	view httpmsg.Headers // the head's fields, as the engine reads them
	fieldInfo
	http11    bool
	body      bodyKind // bodyNone, bodyLength or bodyChunked
	host      string   // the host named: the absolute-form authority, else Host
	keepAlive bool     // the client keeps the connection after this request
}

// check reads the framing of a parsed head, rejecting (with 400) what a
// server or another proxy could read differently: see fieldInfo.scan, and
// RFC 9112 6.1 and 3.2 for the HTTP/1.0 and Host rules. The host named,
// by the absolute-form authority or else Host, must be uri-host [":"
// port] and an absolute-form target may not carry userinfo
// (httpmsg.RequestHost).
func (r *request) check() error {
	h := &r.head
	err := r.scan(h.Fields)
	if err != nil {
		return err
	}
	r.http11 = h.Proto == "HTTP/1.1"
	switch {
	case r.chunked && !r.http11:
		return errEncoding10
	case r.http11 && !r.hasHost:
		return errNoHost
	}
	r.body = bodyNone
	switch {
	case r.chunked:
		r.body = bodyChunked
	case r.hasLength && r.length > 0:
		r.body = bodyLength
	}
	r.keepAlive = !r.connClose && (r.http11 || r.connKeepAlive)
	r.view.Fields = h.Fields
	host, _ := r.view.Header("host")
	r.host, err = httpmsg.RequestHost(h.Target, host)
	return err
}

// idempotent reports whether the request may be sent twice (RFC 9110 9.2.2),
// as far as the proxy retries: only these, and only without a body.
func (r *request) idempotent() bool {
	switch r.head.Method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE":
		return r.body == bodyNone
	}
	return false
}

// upgrading reports whether the client asks to switch to a protocol the
// proxy lets it: any but h2c.
func (r *request) upgrading() bool { return r.connUpgrade && r.upgradeOther }

// offers reports whether the client's Upgrade fields offered protocol,
// h2c never counting.
func (r *request) offers(protocol string) bool {
	for i, k := range r.kinds {
		if k != kUpgrade {
			continue
		}
		for list := r.head.Fields[i].Value; list != ""; {
			var p string
			p, list = httpmsg.NextElement(list)
			if p != "" && !isH2C(p) && httpmsg.EqualFold(p, protocol) {
				return true
			}
		}
	}
	return false
}
