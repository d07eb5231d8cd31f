package httpmsg

import "strings"

// CookieValue returns the value of the first cookie named name with a
// non-empty value in header, one Cookie field value such as "a=1; b=2", and
// whether there is one: an empty value counts as absent, so "a=; a=2" gives
// "2" (see [Headers]). Names are compared case-sensitively, as cookie names
// are. The value is a substring of header; see [EachCookie] for how pairs are
// read.
func CookieValue(header, name string) (string, bool) {
	for header != "" {
		var n, v string
		var ok bool
		if n, v, header, ok = nextCookie(header); !ok {
			break
		}
		if n == name && v != "" {
			return v, true
		}
	}
	return "", false
}

// EachCookie calls fn with the name and value of every pair in header, one
// Cookie field value, in order, until fn returns false.
//
// Parsing is lenient, as browsers' and net/http's is, because a load balancer
// that drops a cookie loses a session: pairs are split at ";" and trimmed of
// SP and HTAB, empty pairs are skipped, name and value are split at the first
// "=" and each trimmed again, and a value wrapped in double quotes loses them.
// A pair without "=" is a cookie with an empty value, as net/http reads it; a
// pair with an empty name is skipped. Bytes that RFC 6265 forbids in values
// are kept rather than dropping the cookie.
func EachCookie(header string, fn func(name, value string) bool) {
	for header != "" {
		var n, v string
		var ok bool
		if n, v, header, ok = nextCookie(header); !ok || !fn(n, v) {
			return
		}
	}
}

// nextCookie returns the first cookie of s and what follows it; ok is false
// when s holds no more cookies.
func nextCookie(s string) (name, value, rest string, ok bool) {
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, ";")
		name, value, _ = strings.Cut(pair, "=")
		if name = TrimOWS(name); name == "" {
			continue
		}
		value = TrimOWS(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		return name, value, s, true
	}
	return "", "", "", false
}
