package httpmsg

import (
	"errors"
	"strings"
)

// NextElement splits the first element off a comma-separated field value
// (RFC 9110 5.6.1), trimming the OWS around it; empty elements are
// returned as "". Loop while the rest is not empty.
func NextElement(list string) (elem, rest string) {
	elem, rest, _ = strings.Cut(list, ",")
	return TrimOWS(elem), rest
}

// HasToken reports whether the comma-separated list holds token, compared
// under ASCII case folding.
func HasToken(list, token string) bool {
	for list != "" {
		var elem string
		elem, list = NextElement(list)
		if EqualFold(elem, token) {
			return true
		}
	}
	return false
}

// Content-Length errors: each makes two parsers disagree on where a message
// ends, so a strict recipient rejects the message.
var (
	ErrBadLength       = errors.New("invalid Content-Length")
	ErrConflictLengths = errors.New("conflicting Content-Length values")
)

// ParseContentLength parses a Content-Length field value: one decimal
// number, without sign or space, that fits an int64, or a list of the same
// number (RFC 9110 8.6), without empty elements.
func ParseContentLength(list string) (int64, error) {
	n, seen := int64(0), false
	for {
		elem, rest, more := strings.Cut(list, ",")
		m, ok := parseDecimal(TrimOWS(elem))
		switch {
		case !ok:
			return 0, ErrBadLength
		case seen && m != n:
			return 0, ErrConflictLengths
		}
		n, seen = m, true
		if !more {
			return n, nil
		}
		list = rest
	}
}

// parseDecimal parses one or more digits that fit an int64.
func parseDecimal(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) || n > (1<<63-1-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// ParseChunkLine parses a chunk-size line of the chunked transfer coding
// (RFC 9112 7.1), without its CRLF:
//
//	chunk-size *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
//
// The size is hex digits that fit 60 bits; the extensions are checked and
// ignored.
func ParseChunkLine(line []byte) (int64, bool) {
	var size int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if size>>56 != 0 {
			return 0, false // more than 60 bits
		}
		size = size<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	for rest := line[i:]; len(rest) > 0; {
		rest = skipOWS(rest)
		if len(rest) == 0 || rest[0] != ';' {
			return 0, false
		}
		rest = skipOWS(rest[1:])
		n := tokenLen(rest)
		if n == 0 {
			return 0, false
		}
		rest = skipOWS(rest[n:])
		if len(rest) == 0 || rest[0] != '=' {
			continue
		}
		rest = skipOWS(rest[1:])
		if n = tokenLen(rest); n == 0 {
			n = quotedLen(rest)
		}
		if n == 0 {
			return 0, false
		}
		rest = rest[n:]
	}
	return size, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func skipOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	return b
}

// tokenLen returns the length of the token that starts b.
func tokenLen(b []byte) int {
	n := 0
	for n < len(b) && tchar[b[n]] {
		n++
	}
	return n
}

// quotedLen returns the length of the quoted-string that starts b, or 0.
func quotedLen(b []byte) int {
	if len(b) == 0 || b[0] != '"' {
		return 0
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i++; i == len(b) || !qdtext(b[i]) && b[i] != '"' && b[i] != '\\' {
				return 0
			}
		case !qdtext(c):
			return 0
		}
	}
	return 0
}

// qdtext reports whether c may appear unescaped in a quoted-string.
func qdtext(c byte) bool {
	return c == '\t' || c == ' ' || c >= 0x21 && c != '"' && c != '\\' && c != 0x7f
}
