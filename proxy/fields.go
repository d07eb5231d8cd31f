package proxy

import "l7lb/httpmsg"

// fieldKind names the header fields the proxy treats specially. A message's
// fields are classified once, when parsed, so that framing checks and the
// forwarding loop switch on a byte instead of comparing names again.
type fieldKind uint8

const (
	kOther fieldKind = iota
	kHost
	kContentLength
	kTransferEncoding
	kConnection
	kKeepAlive
	kProxyConnection
	kProxyAuthenticate
	kProxyAuthorization
	kTE
	kTrailer
	kUpgrade
	kHTTP2Settings
	kExpect
	kCookie
	kDate
	kXForwardedFor
	kXForwardedHost
	kXForwardedProto
	kXForwardedOther // any other X-Forwarded-*
	kForwarded
	kXRealIP
	kXRequestID
)

// classify returns the kind of the field called name, compared
// case-insensitively. Dispatching on the length first keeps the usual
// field, which is none of these, to one or two comparisons.
func classify(name string) fieldKind {
	switch len(name) {
	case 2:
		if httpmsg.EqualFold(name, "te") {
			return kTE
		}
	case 4:
		switch {
		case httpmsg.EqualFold(name, "host"):
			return kHost
		case httpmsg.EqualFold(name, "date"):
			return kDate
		}
	case 6:
		switch {
		case httpmsg.EqualFold(name, "cookie"):
			return kCookie
		case httpmsg.EqualFold(name, "expect"):
			return kExpect
		}
	case 7:
		switch {
		case httpmsg.EqualFold(name, "trailer"):
			return kTrailer
		case httpmsg.EqualFold(name, "upgrade"):
			return kUpgrade
		}
	case 9:
		switch {
		case httpmsg.EqualFold(name, "forwarded"):
			return kForwarded
		case httpmsg.EqualFold(name, "x-real-ip"):
			return kXRealIP
		}
	case 10:
		switch {
		case httpmsg.EqualFold(name, "connection"):
			return kConnection
		case httpmsg.EqualFold(name, "keep-alive"):
			return kKeepAlive
		}
	case 12:
		if httpmsg.EqualFold(name, "x-request-id") {
			return kXRequestID
		}
	case 14:
		switch {
		case httpmsg.EqualFold(name, "content-length"):
			return kContentLength
		case httpmsg.EqualFold(name, "http2-settings"):
			return kHTTP2Settings
		}
	case 15:
		if httpmsg.EqualFold(name, "x-forwarded-for") {
			return kXForwardedFor
		}
	case 16:
		switch {
		case httpmsg.EqualFold(name, "x-forwarded-host"):
			return kXForwardedHost
		case httpmsg.EqualFold(name, "proxy-connection"):
			return kProxyConnection
		}
	case 17:
		switch {
		case httpmsg.EqualFold(name, "transfer-encoding"):
			return kTransferEncoding
		case httpmsg.EqualFold(name, "x-forwarded-proto"):
			return kXForwardedProto
		}
	case 18:
		if httpmsg.EqualFold(name, "proxy-authenticate") {
			return kProxyAuthenticate
		}
	case 19:
		if httpmsg.EqualFold(name, "proxy-authorization") {
			return kProxyAuthorization
		}
	}
	if len(name) > len(xForwarded) && name[1] == '-' && httpmsg.EqualFold(name[:len(xForwarded)], xForwarded) {
		return kXForwardedOther
	}
	return kOther
}

const xForwarded = "x-forwarded-"

// hopByHop reports whether fields of kind k concern only the connection
// they arrive on and are never forwarded as received (RFC 9110 7.6.1).
// The framing fields are among them: the proxy writes its own. So is
// HTTP2-Settings, which only means something with an h2c upgrade, which
// the proxy never forwards (RFC 9113 3.2.1 makes it hop-by-hop).
func hopByHop(k fieldKind) bool {
	switch k {
	case kConnection, kKeepAlive, kProxyConnection, kProxyAuthenticate, kProxyAuthorization,
		kTE, kTrailer, kTransferEncoding, kUpgrade, kHTTP2Settings, kContentLength:
		return true
	}
	return false
}

// forwarding reports whether fields of kind k say where a request came
// from: a client's are kept only when it is a trusted proxy.
func forwarding(k fieldKind) bool {
	switch k {
	case kXForwardedFor, kXForwardedHost, kXForwardedProto, kXForwardedOther, kForwarded, kXRealIP:
		return true
	}
	return false
}
