package jsonx

import (
	"bytes"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"l7lb/strview"
)

// StringView returns the value of raw, which must be exactly one JSON string
// token, quotes included (as [ObjectEach] and [ArrayEach] pass values).
//
// WARNING: when the string has no escapes, which is the common case, the
// result ALIASES raw's memory instead of copying it, so that reading a string
// costs no allocation. It is then valid only as long as raw's buffer is not
// modified or reused: a caller that keeps the string beyond that (in a map,
// in state that outlives the message) must copy it with strings.Clone. A
// string with escapes is unescaped into fresh memory.
//
// \uXXXX escapes are decoded, surrogate pairs included; a lone surrogate
// becomes U+FFFD, as with encoding/json. Other bytes are passed through
// unchanged, so invalid UTF-8 in raw stays invalid in the result.
func StringView(raw []byte) (string, error) {
	if len(raw) == 0 {
		return "", ErrIncomplete
	}
	if raw[0] != '"' {
		return "", invalidChar(raw, 0, " looking for beginning of string")
	}
	end, escaped, err := skipString(raw, 0)
	if !escaped && end == len(raw) {
		if end == 2 {
			return "", nil
		}
		return strview.Of(raw[1 : end-1]), nil
	}
	if err != nil {
		return "", err
	}
	if end != len(raw) {
		return "", invalidChar(raw, end, " after top-level value")
	}
	return string(unescape(nil, raw[1:end-1])), nil
}

// ValidString is [StringView] for a string token that a walk of this
// package ([ObjectEach], [ObjectPrefix], [ArrayEach]) has already validated:
// it skips the validation and finds escapes with one fast scan. Its result
// aliases raw in the same way. On anything but a validated string token
// its result is unspecified.
func ValidString(raw []byte) string {
	if len(raw) < 2 {
		return ""
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return strview.Of(s)
	}
	return string(unescape(nil, s))
}

// unescape appends the value of s, the validated contents of a string token
// (without its quotes), to dst.
func unescape(dst, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s)
			s = s[4:]
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by an escaped low one is a
				// pair; anything else is replaced, as encoding/json does.
				r2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					r2 = hex4(s[2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					s = s[6:]
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
}

// hex4 decodes four hex digits, or returns -1.
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		d := unhex(c)
		if d < 0 {
			return -1
		}
		r = r<<4 | d
	}
	return r
}

// escapes holds, for each ASCII byte that JSON requires to be escaped, the
// letter of its short escape, or 'u' for \u00XX.
var escapes = func() (t [utf8.RuneSelf]byte) {
	for c := range 0x20 {
		t[c] = 'u'
	}
	t['\b'], t['\f'], t['\n'], t['\r'], t['\t'] = 'b', 'f', 'n', 'r', 't'
	t['"'], t['\\'] = '"', '\\'
	return t
}()

// AppendString appends s as a JSON string to dst. Only what JSON requires is
// escaped: '"', '\\' and control characters (\b \f \n \r \t, the others as
// \u00XX). '&', '<', '>' and non-ASCII text are written as they are, in
// UTF-8; each byte of invalid UTF-8 is written as U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, to be copied as is
	for i := 0; ; {
		if i = safeEnd(s, i); i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			if e := escapes[c]; e == 'u' {
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				dst = append(dst, '\\', e)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// safeEnd returns the offset of the first byte at or after s[i] that
// AppendString cannot copy without a look: one to escape, or the first byte
// of a multi-byte UTF-8 sequence. It returns len(s) if there is none.
func safeEnd(s string, i int) int {
	// Eight bytes at a time, as plainEnd does, also flagging bytes >= 0x80.
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q := x ^ ('"' * ones)
		bs := x ^ ('\\' * ones)
		flags := ((x-0x20*ones)|(q-ones)|(bs-ones))&^x | x&highs
		if flags &= highs; flags != 0 {
			return i + bits.TrailingZeros64(flags)/8
		}
	}
	for i < len(s) && s[i] < utf8.RuneSelf && escapes[s[i]] == 0 {
		i++
	}
	return i
}

const hexDigits = "0123456789abcdef"
