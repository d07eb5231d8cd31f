package httpmsg

// TrailerForbidden reports whether a field called name must not be passed
// on in a trailer section. RFC 9110 6.5.1: a sender must not generate, and
// a recipient must not merge into the header section, a trailer field that
// is needed before the content can be processed: message framing, routing,
// authentication, request modifiers, response controls, content format. A
// recipient that merges trailers anyway (many do) must not learn them from
// a proxy, which made its own decisions from the header section. The list:
//
//   - framing and hop-by-hop: Content-Length, Transfer-Encoding, Trailer,
//     TE, Connection, Keep-Alive, Proxy-Connection, Upgrade, HTTP2-Settings;
//   - routing and forwarding: Host, Forwarded, X-Forwarded-* (any), X-Real-IP,
//     Via, X-Request-Id;
//   - authentication: Authorization, Proxy-Authorization, WWW-Authenticate,
//     Proxy-Authenticate, Authentication-Info, Proxy-Authentication-Info;
//   - controls and conditionals: Cache-Control, Expect, Max-Forwards,
//     Pragma, Range, If-Match, If-None-Match, If-Modified-Since,
//     If-Unmodified-Since, If-Range, Age, Expires, Date, Location,
//     Retry-After, Vary, Warning;
//   - content format: Content-Encoding, Content-Type, Content-Range,
//     Content-Language, Content-Location;
//   - state: Cookie, Set-Cookie.
func TrailerForbidden(name string) bool {
	const prefix = "x-forwarded-"
	if len(name) > len(prefix) && EqualFold(name[:len(prefix)], prefix) {
		return true
	}
	var buf [32]byte
	if len(name) > len(buf) {
		return false
	}
	for i := 0; i < len(name); i++ {
		buf[i] = lowerASCII(name[i])
	}
	return forbiddenTrailers[string(buf[:len(name)])] // no allocation: a map index
}

var forbiddenTrailers = map[string]bool{
	"content-length": true, "transfer-encoding": true, "trailer": true, "te": true,
	"connection": true, "keep-alive": true, "proxy-connection": true, "upgrade": true,
	"http2-settings": true,
	"host":           true, "forwarded": true, "x-real-ip": true, "via": true, "x-request-id": true,
	"authorization": true, "proxy-authorization": true, "www-authenticate": true,
	"proxy-authenticate": true, "authentication-info": true, "proxy-authentication-info": true,
	"cache-control": true, "expect": true, "max-forwards": true, "pragma": true, "range": true,
	"if-match": true, "if-none-match": true, "if-modified-since": true, "if-unmodified-since": true,
	"if-range": true, "age": true, "expires": true, "date": true, "location": true,
	"retry-after": true, "vary": true, "warning": true,
	"content-encoding": true, "content-type": true, "content-range": true,
	"content-language": true, "content-location": true,
	"cookie": true, "set-cookie": true,
}
