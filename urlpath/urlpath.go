// Package urlpath splits, validates and normalizes the path of an HTTP
// origin-form request target, as described in docs/protocol.md ("Path
// normalization").
//
// Normalization decodes percent-escapes of unreserved characters, upper-cases
// the hex of every other escape, merges repeated slashes and removes
// dot-segments without climbing above "/". Routing and rewriting see only the
// normalized path, so two spellings of one resource always take one route.
package urlpath

import (
	"strconv"
	"strings"
)

// Kind classifies an [Error].
type Kind uint8

const (
	NoLeadingSlash Kind = iota + 1 // the path is empty or does not start with '/'
	InvalidByte                    // a control character (< 0x20), space or DEL (0x7F)
	InvalidEscape                  // a '%' not followed by two hex digits
)

const upperHex = "0123456789ABCDEF"

// Error describes why a path or query was rejected.
type Error struct {
	Kind   Kind
	Offset int  // 0-based offset of the offending byte (the '%' for InvalidEscape)
	Byte   byte // the offending byte, for InvalidByte
}

// Error returns the text used verbatim in replies (after a "path: " prefix
// added by the caller), so it must not change.
func (e *Error) Error() string {
	switch e.Kind {
	case NoLeadingSlash:
		return "must start with /"
	case InvalidByte:
		return "invalid byte 0x" + string([]byte{upperHex[e.Byte>>4], upperHex[e.Byte&0xF]}) +
			" at offset " + strconv.Itoa(e.Offset)
	case InvalidEscape:
		return "invalid percent-encoding at offset " + strconv.Itoa(e.Offset)
	}
	return "invalid path"
}

// Split splits an origin-form request target into its path and its query.
// The query keeps its leading '?' and is "" when absent, so that
// path+query reproduces the target minus any fragment. A fragment (from the
// first '#', whether in the path or in the query) is dropped: it is never
// sent to a server and must not influence routing.
func Split(target string) (path, query string) {
	// A plain loop: strings.IndexAny builds a set on every call, and
	// targets are short.
	i := 0
	for i < len(target) && target[i] != '?' && target[i] != '#' {
		i++
	}
	if i == len(target) {
		return target, ""
	}
	if target[i] == '#' {
		return target[:i], ""
	}
	path, query = target[:i], target[i:]
	if j := strings.IndexByte(query, '#'); j >= 0 {
		query = query[:j]
	}
	return path, query
}

// SplitNormal is Split for the common target whose path is already normal
// and which has no fragment: it checks and splits in one pass, and then path
// is what Split returns, which Normalize would return unchanged, and query is
// what Split returns. ok is false for any other target, which the caller
// passes to Split and Normalize; that includes some normal paths, such as
// "/.well-known", whose segments it does not look into. The query is not
// validated.
func SplitNormal(target string) (path, query string, ok bool) {
	if target == "" || target[0] != '/' {
		return "", "", false
	}
	for i := 0; i < len(target); i++ {
		switch fast[target[i]] {
		case fastPlain:
		case fastSlash:
			// A segment starting with '/' is empty, one starting with
			// '.' may be a dot-segment.
			if i+1 < len(target) && (target[i+1] == '/' || target[i+1] == '.') {
				return "", "", false
			}
		case fastQuery:
			path, query = target[:i], target[i:]
			if strings.IndexByte(query, '#') >= 0 {
				return "", "", false
			}
			return path, query, true
		default:
			return "", "", false
		}
	}
	return target, "", true
}

// Byte classes for SplitNormal: '%' and the bytes Normalize rejects make it
// give up, like '#'.
const (
	fastPlain = iota
	fastSlash
	fastQuery
	fastOther
)

var fast = func() (t [256]uint8) {
	for c := range t {
		if class[c] != clPlain {
			t[c] = fastOther
		}
	}
	t['/'] = fastSlash
	t['?'] = fastQuery
	t['#'] = fastOther
	return t
}()

// ValidateQuery reports the first control character, space or DEL in query.
// The returned error's Offset counts from the start of query (its '?'
// included); a caller reporting an offset in the whole target adds the
// length of the path. Percent-escapes in the query are not checked: the
// query is passed through untouched and never interpreted.
func ValidateQuery(query string) error {
	for i := 0; i < len(query); i++ {
		if class[query[i]] == clBad {
			return &Error{Kind: InvalidByte, Offset: i, Byte: query[i]}
		}
	}
	return nil
}

// Byte classes for the scanning loops. A table keeps the common case (an
// ordinary byte) to one load and one compare.
const (
	clPlain = iota // any byte that needs no attention, non-ASCII included
	clSlash        // '/'
	clPct          // '%'
	clBad          // control character, space or DEL
)

var class = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = clBad
	}
	t[' '] = clBad
	t[0x7F] = clBad
	t['/'] = clSlash
	t['%'] = clPct
	return t
}()

// unhex returns the value of hex digit c, or 0xFF if c is not one.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xFF
}

// unreserved reports whether c is an RFC 3986 unreserved character, whose
// escaped and unescaped forms are equivalent and which must therefore be
// decoded for two spellings to compare equal.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// Normalize returns the normalized form of path:
//
//   - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are
//     decoded; the hex of every other escape is upper-cased (%2f becomes %2F
//     and stays encoded, so it never acts as a segment separator);
//   - repeated slashes are merged;
//   - dot-segments are removed as in RFC 3986 section 5.2.4, including those
//     spelled with escapes (%2e%2E), without climbing above "/".
//
// Non-ASCII bytes are kept as they are. The error, if any, is an *[Error]
// for the first offending byte: a path that is empty or does not start with
// '/', a control character, space or DEL, or a '%' not followed by two hex
// digits.
//
// When path is already normal, Normalize returns it unchanged without
// allocating; otherwise the result takes one allocation.
func Normalize(path string) (string, error) {
	if len(path) == 0 || path[0] != '/' {
		return "", &Error{Kind: NoLeadingSlash}
	}
	// One pass validates the whole path and, at the same time, finds out
	// whether anything would change. The scan goes on after the first
	// change is found so that errors are reported before any work is done.
	dirty := false
	seg := 1 // start of the current segment
	for i := 1; ; i++ {
		// Most bytes need no attention: skip them in a tight loop.
		for i < len(path) && class[path[i]] == clPlain {
			i++
		}
		if i >= len(path) {
			break
		}
		switch class[path[i]] {
		case clSlash:
			dirty = dirty || isDotOrEmpty(path[seg:i])
			seg = i + 1
		case clPct:
			if i+2 >= len(path) {
				return "", &Error{Kind: InvalidEscape, Offset: i}
			}
			h, l := unhex(path[i+1]), unhex(path[i+2])
			if h|l == 0xFF {
				return "", &Error{Kind: InvalidEscape, Offset: i}
			}
			// An escaped unreserved byte is decoded; a lower-case hex
			// digit is upper-cased (only 'a'..'f' are >= 'a').
			dirty = dirty || unreserved(h<<4|l) || path[i+1] >= 'a' || path[i+2] >= 'a'
			i += 2
		default:
			return "", &Error{Kind: InvalidByte, Offset: i, Byte: path[i]}
		}
	}
	// The last segment may be empty ("/a/" keeps its trailing slash), but
	// must not be a dot-segment.
	if last := path[seg:]; !dirty && (last == "." || last == "..") {
		dirty = true
	}
	if !dirty {
		return path, nil
	}
	return normalize(path), nil
}

// isDotOrEmpty reports whether a literal (not escaped) segment that is
// followed by '/' makes the path non-normal: an empty segment is a repeated
// slash, "." and ".." are dot-segments. Escaped dots are caught by the '%'
// check, since '.' is unreserved.
func isDotOrEmpty(s string) bool {
	switch len(s) {
	case 0:
		return true
	case 1:
		return s[0] == '.'
	case 2:
		return s[0] == '.' && s[1] == '.'
	}
	return false
}

// dots returns 1 if segment s decodes to ".", 2 if it decodes to "..", and 0
// otherwise. s is valid (every '%' is followed by two hex digits).
func dots(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '.':
		case s[i] == '%' && i+2 < len(s) && s[i+1] == '2' && (s[i+2] == 'e' || s[i+2] == 'E'):
			i += 2
		default:
			return 0
		}
		if n++; n > 2 {
			return 0
		}
	}
	return n
}

// span is a segment of the input, path[start:end], without its '/'.
type span struct{ start, end int }

// normalize is the slow path of Normalize for a valid path that needs work.
// Dot-segments are resolved on spans of the input first, so that the output
// is written exactly once into a buffer of known maximum size (normalizing
// never lengthens a path): one allocation in all, two for paths of more than
// 32 segments.
func normalize(path string) string {
	var stack [32]span // enough for typical paths without touching the heap
	segs := stack[:0]
	if n := strings.Count(path, "/"); n > len(stack) {
		segs = make([]span, 0, n) // one allocation rather than repeated growth
	}
	trailing := false // whether the result ends in '/'
	for start := 1; start <= len(path); {
		end := strings.IndexByte(path[start:], '/')
		last := end < 0
		if last {
			end = len(path)
		} else {
			end += start
		}
		s := path[start:end]
		d := dots(s)
		switch {
		case s == "", d == 1:
			// A repeated slash or "."; dropped.
		case d == 2:
			if len(segs) > 0 { // never above "/"
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, span{start, end})
		}
		// "/a/", "/a/." and "/a/b/.." all name a directory: keep the '/'.
		trailing = last && (s == "" || d > 0)
		start = end + 1
	}

	var b strings.Builder
	b.Grow(len(path))
	for _, sp := range segs {
		b.WriteByte('/')
		writeDecoded(&b, path[sp.start:sp.end])
	}
	if trailing || len(segs) == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// writeDecoded writes segment s with escapes of unreserved bytes decoded and
// the hex of the others upper-cased. s is valid.
func writeDecoded(b *strings.Builder, s string) {
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:i])
		c := unhex(s[i+1])<<4 | unhex(s[i+2])
		if unreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xF])
		}
		s = s[i+3:]
	}
}
