package proxy

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
	kExpect
	kCookie
	kXForwardedFor
	kXForwardedHost
	kXForwardedProto
	kForwarded
	kXRequestID
	kTraceparent
)

// classify returns the kind of the field called name, compared
// case-insensitively. Dispatching on the length first keeps the usual
// field, which is none of these, to one or two comparisons.
func classify(name string) fieldKind {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return kTE
		}
	case 4:
		if equalFold(name, "host") {
			return kHost
		}
	case 6:
		switch {
		case equalFold(name, "cookie"):
			return kCookie
		case equalFold(name, "expect"):
			return kExpect
		}
	case 7:
		switch {
		case equalFold(name, "trailer"):
			return kTrailer
		case equalFold(name, "upgrade"):
			return kUpgrade
		}
	case 9:
		if equalFold(name, "forwarded") {
			return kForwarded
		}
	case 10:
		switch {
		case equalFold(name, "connection"):
			return kConnection
		case equalFold(name, "keep-alive"):
			return kKeepAlive
		}
	case 11:
		if equalFold(name, "traceparent") {
			return kTraceparent
		}
	case 12:
		if equalFold(name, "x-request-id") {
			return kXRequestID
		}
	case 14:
		if equalFold(name, "content-length") {
			return kContentLength
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return kXForwardedFor
		}
	case 16:
		switch {
		case equalFold(name, "x-forwarded-host"):
			return kXForwardedHost
		case equalFold(name, "proxy-connection"):
			return kProxyConnection
		}
	case 17:
		switch {
		case equalFold(name, "transfer-encoding"):
			return kTransferEncoding
		case equalFold(name, "x-forwarded-proto"):
			return kXForwardedProto
		}
	case 18:
		if equalFold(name, "proxy-authenticate") {
			return kProxyAuthenticate
		}
	case 19:
		if equalFold(name, "proxy-authorization") {
			return kProxyAuthorization
		}
	}
	return kOther
}

// hopByHop reports whether fields of kind k concern only the connection
// they arrive on and are never forwarded as received (RFC 9110 7.6.1).
// The framing fields are among them: the proxy writes its own.
func hopByHop(k fieldKind) bool {
	switch k {
	case kConnection, kKeepAlive, kProxyConnection, kProxyAuthenticate,
		kProxyAuthorization, kTE, kTrailer, kTransferEncoding, kUpgrade, kContentLength:
		return true
	}
	return false
}

// equalFold reports whether s equals lower, which is in lower case, under
// ASCII case folding.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// equalFoldBoth is equalFold for two strings of any case.
func equalFoldBoth(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// nextToken splits the first element off a comma-separated list, trimming
// optional whitespace around it; empty elements are returned as "".
func nextToken(list string) (elem, rest string) {
	i := 0
	for i < len(list) && list[i] != ',' {
		i++
	}
	elem, rest = trimOWS(list[:i]), list[min(i+1, len(list)):]
	if i == len(list) {
		rest = ""
	}
	return elem, rest
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// hasToken reports whether the comma-separated list holds token,
// compared case-insensitively; token is in lower case.
func hasToken(list, token string) bool {
	for list != "" {
		var elem string
		elem, list = nextToken(list)
		if equalFold(elem, token) {
			return true
		}
	}
	return false
}
