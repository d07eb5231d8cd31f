package httpmsg

import (
	"errors"
	"net/netip"
	"strings"
)

// NormalizeHost returns the form in which a host is compared
// (docs/protocol.md, "Where the host comes from"): ASCII letters lower-cased,
// the port and trailing dots dropped.
//
//	"Shop.Example.COM.:8080" -> "shop.example.com"
//	"[::1]:80"               -> "[::1]"
//	"[::1]"                  -> "[::1]"
//
// A port is a final ":" followed by digits (or nothing, as RFC 3986 allows);
// it is only dropped when what precedes it has no other colon or is a
// bracketed IPv6 literal, so that a bare "::1" is not cut. Only ASCII is
// lower-cased: host names on the wire are ASCII (IDNs travel as punycode),
// and leaving other bytes alone keeps the result a pure function of them.
// NormalizeHost(NormalizeHost(h)) == NormalizeHost(h), and the result is a
// substring of h, without allocation, unless an upper-case letter had to be
// lowered.
func NormalizeHost(h string) string {
	if isNormalHost(h) {
		return h
	}
	return normalizeHost(h)
}

// normalizeHost is NormalizeHost without its fast path.
func normalizeHost(h string) string {
	// Dots first, then the port, then dots again: "a.com.:80" has its dot
	// before the port, and a host like "a:1." must not normalize to "a:1",
	// which a second pass would cut to "a".
	h = trimDots(h)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && allDigits(h[i+1:]) {
		if host := h[:i]; strings.IndexByte(host, ':') < 0 || isBracketed(host) {
			h = trimDots(host)
		}
	}
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			b := []byte(h)
			for j := i; j < len(b); j++ {
				b[j] = lowerASCII(b[j])
			}
			return string(b)
		}
	}
	return h
}

// isNormalHost reports, in one pass, whether NormalizeHost has nothing to do
// with h: no upper-case letter, no colon and no trailing dot. Most hosts, and
// the empty one, are so.
func isNormalHost(h string) bool {
	if h != "" && h[len(h)-1] == '.' {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c == ':' || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

func trimDots(s string) string {
	for s != "" && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isBracketed(s string) bool {
	return len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']'
}

// SplitAbsolute splits an absolute-form request-target (RFC 9112 3.2.2) whose
// scheme is http or https, in any case, into its authority and the rest,
// which always starts with "/":
//
//	"http://Host:8080/p?q" -> ("Host:8080", "/p?q", true)
//	"http://h"             -> ("h", "/", true)
//	"http://h?q=1"         -> ("h", "/?q=1", true)
//
// Userinfo is dropped ("http://u@h/" gives "h"): it is deprecated in http URIs
// and never names the host. ok is false for any other target, including one
// whose host is empty ("http:///p", "http://u@/p", "http://:80/"), which
// RFC 9110 4.2.1 requires a recipient to reject. The authority is not
// otherwise validated; rest is a substring of target except when a "/" had
// to be put before a query or fragment.
func SplitAbsolute(target string) (authority, rest string, ok bool) {
	var s string
	switch {
	case hasPrefixFold(target, "http://"):
		s = target[len("http://"):]
	case hasPrefixFold(target, "https://"):
		s = target[len("https://"):]
	default:
		return "", "", false
	}
	end := len(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '/' || c == '?' || c == '#' {
			end = i
			break
		}
	}
	authority, rest = s[:end], s[end:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	if authority == "" || authority[0] == ':' {
		return "", "", false
	}
	switch {
	case rest == "":
		rest = "/"
	case rest[0] != '/':
		rest = "/" + rest
	}
	return authority, rest, true
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && EqualFold(s[:len(prefix)], prefix)
}

// ValidHost reports whether s is a valid Host field value or absolute-form
// authority without userinfo: uri-host [ ":" port ] (RFC 9110 7.2, RFC
// 3986 3.2.2), where uri-host is
//
//   - a reg-name of unreserved and sub-delims characters; percent-encoding,
//     which RFC 3986 allows there for names that are not ASCII, is refused:
//     a name on the wire is ASCII (an IDN travels as punycode), and servers
//     refuse it (Go's net/url does);
//   - an IPv4 address, which reg-name's characters cover;
//   - an IP-literal in brackets: an IPv6 address without a zone (not an
//     IPvFuture, which no server parses: Go's net/url refuses it);
//
// and port is at most five digits up to 65535, or empty, as RFC 3986
// allows. The empty value is valid (RFC 9112 3.2: a request whose target
// has no authority sends an empty Host); an empty host with a port is not
// (RFC 9110 4.2.1). Spaces, "/", "@", "\", quotes, control bytes and
// unbalanced brackets are not.
func ValidHost(s string) bool {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i:], ']') < 0 {
		host, port = s[:i], s[i+1:]
		if host == "" || !validPort(port) {
			return false
		}
	}
	if host != "" && host[0] == '[' {
		return len(host) > 2 && host[len(host)-1] == ']' && validIPLiteral(host[1:len(host)-1])
	}
	for i := 0; i < len(host); i++ {
		if !regName[host[i]] {
			return false
		}
	}
	return true
}

// regName marks the bytes a reg-name holds as they are: unreserved and
// sub-delims (RFC 3986 3.2.2).
var regName = func() (t [256]bool) {
	for _, c := range "-._~!$&'()*+,;=" {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	return t
}()

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if !isDigit(p[i]) {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// validIPLiteral checks what is between the brackets of an IP-literal.
func validIPLiteral(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

// The reasons [RequestHost] rejects a request.
var (
	ErrUserinfo    = errors.New("userinfo in the request-target")
	ErrInvalidHost = errors.New("invalid Host")
)

// RequestHost returns the host a request names, strictly: the authority of
// an absolute-form target, else hostField, the Host field value. It is
// [ErrUserinfo] when the target carries userinfo and [ErrInvalidHost] when
// the host is not [ValidHost]. (The engine reads hosts leniently, as the
// Maelstrom node's protocol wants; the HTTP face checks them first.)
func RequestHost(target, hostField string) (string, error) {
	host := hostField
	if authority, _, ok := SplitAbsolute(target); ok {
		if HasUserinfo(target) {
			return "", ErrUserinfo
		}
		host = authority
	}
	if !ValidHost(host) {
		return "", ErrInvalidHost
	}
	return host, nil
}

// HasUserinfo reports whether target, a request-target, is in absolute form
// with userinfo ("http://user:pass@host/"): RFC 9110 4.2.4 forbids it in
// http(s) URIs, and a recipient should treat its presence as an error.
func HasUserinfo(target string) bool {
	var s string
	switch {
	case hasPrefixFold(target, "http://"):
		s = target[len("http://"):]
	case hasPrefixFold(target, "https://"):
		s = target[len("https://"):]
	default:
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '/', '?', '#':
			return false
		case '@':
			return true
		}
	}
	return false
}
