package httpmsg

import "encoding/binary"

// Headers is the one view of a request's header section that routing
// reads, whichever face built it: the proxy over a parsed head, the node
// over a message's `headers` and `cookies` objects, `l7lb explain` over its
// -H flags. It implements engine.Headers. Its rules:
//
//   - field names are compared under ASCII case folding only (names are
//     tokens: the Kelvin sign is not a K);
//   - field values are compared and returned without leading and trailing
//     SP and HTAB, which are never part of a field value (RFC 9110 5.5);
//   - a cookie is looked for in Cookies first, then in every Cookie field
//     in order, pairs in order, names case-sensitively; the first
//     non-empty value wins, so an empty value counts as absent
//     (docs/protocol.md, "Sticky sessions").
//
// The view copies nothing: its strings are those of Fields and Cookies.
type Headers struct {
	Fields []Field // the header fields, in order
	// Cookies are cookies given apart from the Cookie fields (the node's
	// `cookies` object), read before them.
	Cookies []Field
	// CookieSet reports a set of cookies given apart (an empty `cookies`
	// object still is one), for HasCookies.
	CookieSet bool
}

// Header returns the value of the first field named name, and whether
// there is one.
func (h *Headers) Header(name string) (string, bool) {
	for i := range h.Fields {
		if EqualFold(h.Fields[i].Name, name) {
			return TrimOWS(h.Fields[i].Value), true
		}
	}
	return "", false
}

// HasHeader reports whether any field named name has exactly the value
// value.
func (h *Headers) HasHeader(name, value string) bool {
	for i := range h.Fields {
		if EqualFold(h.Fields[i].Name, name) && TrimOWS(h.Fields[i].Value) == value {
			return true
		}
	}
	return false
}

// Count returns how many fields are named name.
func (h *Headers) Count(name string) int {
	n := 0
	for i := range h.Fields {
		if EqualFold(h.Fields[i].Name, name) {
			n++
		}
	}
	return n
}

// Cookie returns the first non-empty value of the cookie called name, in
// Cookies and then in the Cookie fields, and whether there is one.
func (h *Headers) Cookie(name string) (string, bool) {
	for i := range h.Cookies {
		if c := &h.Cookies[i]; c.Name == name && c.Value != "" {
			return c.Value, true
		}
	}
	for i := range h.Fields {
		if f := &h.Fields[i]; isCookieField(f.Name) {
			if v, ok := CookieValue(f.Value, name); ok {
				return v, true
			}
		}
	}
	return "", false
}

// HasCookies reports whether the request carries cookies at all: a set of
// cookies given apart, even empty, or a Cookie field.
func (h *Headers) HasCookies() bool {
	if h.CookieSet || len(h.Cookies) > 0 {
		return true
	}
	for i := range h.Fields {
		if isCookieField(h.Fields[i].Name) {
			return true
		}
	}
	return false
}

func isCookieField(name string) bool { return len(name) == 6 && EqualFold(name, "cookie") }

// IsTokenByte reports whether c may appear in a token (RFC 9110 5.6.2).
func IsTokenByte(c byte) bool { return tchar[c] }

// tchar marks the bytes allowed in a token (RFC 9110 5.6.2):
// "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
// "`" / "|" / "~" / DIGIT / ALPHA.
var tchar = func() (t [256]bool) {
	for _, c := range "!#$%&'*+-.^_`|~" {
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

// ValidToken reports whether s is an RFC 9110 token: one or more tchars.
// Methods and header names are tokens.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether s may be a field value: it holds no control
// character (0x00-0x1F, 0x7F) except HTAB. Bytes 0x80-0xFF (obs-text) are
// allowed, as RFC 9110 5.5 allows them; leading or trailing whitespace is not
// checked, since the parser removes it.
func ValidFieldValue(s string) bool {
	// Values are most of a head's bytes, so test eight at a time and look at
	// single bytes only in a word that may hold a CTL (a tab, mostly). The
	// conversion does not copy: b is read-only and does not escape.
	b := []byte(s)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if x := binary.LittleEndian.Uint64(b[i:]); hasLess(x, 0x20) || hasZero(x^(lsb*0x7f)) {
			if !validValueBytes(b[i : i+8]) {
				return false
			}
		}
	}
	return validValueBytes(b[i:])
}

func validValueBytes(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// Word-at-a-time byte tests ("Bit Twiddling Hacks"): each reports exactly
// whether some byte of x qualifies, though not which one.
const (
	lsb = 0x0101010101010101 // the low bit of every byte
	msb = 0x8080808080808080 // the high bit of every byte
)

// hasZero reports whether a byte of x is 0.
func hasZero(x uint64) bool { return (x-lsb)&^x&msb != 0 }

// hasLess reports whether a byte of x is less than n, for n <= 128.
func hasLess(x uint64, n byte) bool { return (x-lsb*uint64(n))&^x&msb != 0 }

// EqualFold reports whether a and b are equal under ASCII case folding.
// Header names and the tokens of field values are ASCII, so this is exact
// for them and, unlike strings.EqualFold, never equates a non-ASCII rune
// (the Kelvin sign) with an ASCII letter.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
