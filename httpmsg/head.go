// Package httpmsg parses HTTP/1.x request heads strictly and provides the
// small header, host and cookie helpers that both faces of l7lb share: the
// Maelstrom node (the "raw" field of an http_request) and the real proxy.
//
// Everything here works on strings and returns substrings of its input, so a
// caller that reuses its [Head] parses and inspects requests without
// allocating.
package httpmsg

import (
	"errors"
	"strconv"
	"strings"
)

// Limits enforced by [ParseHead].
const (
	// MaxHeadBytes is the largest accepted head, counted from the first byte
	// of the request line up to and including the empty line that ends it.
	MaxHeadBytes = 65536
	// MaxHeaders is the largest accepted number of header fields.
	MaxHeaders = 100
)

// A Field is one header field as written: Name keeps the sender's case and
// Value has its leading and trailing whitespace (SP, HTAB) removed.
type Field struct {
	Name, Value string
}

// A Head is a parsed request head.
type Head struct {
	Method string  // a token, e.g. "GET"
	Target string  // the request-target exactly as written
	Proto  string  // "HTTP/1.0" or "HTTP/1.1"
	Fields []Field // in the order received, duplicates kept
}

// The reasons a head is rejected. A *HeadError wraps exactly one of them, so
// callers can tell them apart with [errors.Is] (a proxy can answer
// ErrHeadTooLarge with 431 and the others with 400). The texts are those of
// the "raw" table in docs/protocol.md, without the "raw: " prefix.
var (
	ErrBadRequestLine     = errors.New("bad request line")
	ErrUnsupportedVersion = errors.New("unsupported version")
	ErrInvalidHeaderName  = errors.New("invalid header name")
	ErrSpaceBeforeColon   = errors.New("whitespace before colon")
	ErrMissingColon       = errors.New("missing colon")
	ErrObsFold            = errors.New("obs-fold")
	ErrInvalidHeaderValue = errors.New("invalid header value")
	ErrDuplicateHost      = errors.New("more than one Host")
	ErrTooManyHeaders     = errors.New("more than " + strconv.Itoa(MaxHeaders) + " headers")
	ErrHeadTooLarge       = errors.New("head larger than " + strconv.Itoa(MaxHeadBytes) + " bytes")
	ErrBareCR             = errors.New("bare CR")
)

// A HeadError reports why [ParseHead] rejected a head.
type HeadError struct {
	Err     error  // one of the Err* reasons of this package
	Line    int    // 1-based line (request line = 1) when the text names one, else 0
	Version string // the rejected HTTP-version, with ErrUnsupportedVersion only
}

// Error returns the reason as docs/protocol.md words it, e.g.
// "missing colon at line 3" or "unsupported version HTTP/2.0".
func (e *HeadError) Error() string {
	switch {
	case e.Err == ErrUnsupportedVersion:
		return e.Err.Error() + " " + e.Version
	case e.Line > 0:
		return e.Err.Error() + " at line " + strconv.Itoa(e.Line)
	}
	return e.Err.Error()
}

// Unwrap returns the reason, for [errors.Is].
func (e *HeadError) Unwrap() error { return e.Err }

// ParseHead parses raw, an HTTP/1.x request head, into h, strictly per
// RFC 9112:
//
//   - the first line is exactly METHOD SP request-target SP HTTP-version:
//     three non-empty parts split by single spaces and a method that is a
//     token, else a bad request line; a version other than HTTP/1.0 or
//     HTTP/1.1 (say "HTTP/2.0" or "http/1.1") is unsupported; leading empty
//     lines are not skipped, and a raw that is empty or only whitespace is a
//     bad request line;
//   - each further line is name ":" OWS value OWS, the name a token directly
//     followed by the colon, the value free of control characters but HTAB;
//   - lines end in CRLF or LF, freely mixed, and a CR anywhere else is an
//     error; the last line may also end at the end of raw;
//   - the head ends at the first empty line; what follows it is ignored.
//
// A head with two Host fields (names compared case-insensitively), more than
// [MaxHeaders] fields or more than [MaxHeadBytes] bytes is rejected too.
//
// The request-target is only checked for being non-empty and free of spaces
// and CR: other control bytes are left to the caller's target validation, so
// that the node reports them as docs/protocol.md says ("path: invalid byte").
//
// The error, always a *[HeadError], names the first problem in reading order,
// except that the size limit is checked before anything else. ParseHead
// reuses the capacity of h.Fields and sets Method, Target, Proto and the
// fields to substrings of raw, so it does not allocate once h.Fields is large
// enough. On error the contents of h are unspecified.
func ParseHead(raw string, h *Head) error {
	clear(h.Fields) // drop references to the previous raw, keep the capacity
	h.Fields = h.Fields[:0]
	h.Method, h.Target, h.Proto = "", "", ""

	if headTooLarge(raw) {
		return &HeadError{Err: ErrHeadTooLarge}
	}

	line, rest, ok := nextLine(raw)
	if !ok || line == "" {
		// Empty raw, or a leading empty line: RFC 9112 lets a server skip
		// one, but a strict parser treats it as the request line it is not.
		return &HeadError{Err: ErrBadRequestLine}
	}
	if err := parseRequestLine(line, h); err != nil {
		if onlySpace(raw) {
			return &HeadError{Err: ErrBadRequestLine}
		}
		return err
	}

	hasHost := false
	for n := 2; ; n++ {
		line, rest, ok = nextLine(rest)
		if !ok || line == "" {
			return nil
		}
		f, err := parseField(line, n)
		if err != nil {
			return err
		}
		if len(f.Name) == 4 && EqualFold(f.Name, "host") {
			if hasHost {
				return &HeadError{Err: ErrDuplicateHost}
			}
			hasHost = true
		}
		if len(h.Fields) == MaxHeaders {
			return &HeadError{Err: ErrTooManyHeaders}
		}
		h.Fields = append(h.Fields, f)
	}
}

// headTooLarge reports whether the head in raw, up to and including its
// terminating empty line (or all of raw without one), exceeds MaxHeadBytes.
// It is checked first so that an oversized head gets the same answer (431 in
// the proxy) whatever else is wrong with it.
func headTooLarge(raw string) bool {
	if len(raw) <= MaxHeadBytes {
		return false
	}
	w := raw[:MaxHeadBytes]
	if w[0] == '\n' || strings.HasPrefix(w, "\r\n") {
		return false // the head is one empty line, rejected as a request line
	}
	// Every "\n\n" or "\n\r\n" ends an empty line; the head fits if one ends
	// within the first MaxHeadBytes bytes.
	return !strings.Contains(w, "\n\n") && !strings.Contains(w, "\n\r\n")
}

// nextLine splits the first line off s. The line excludes its LF and the CR
// before that LF; a last line without LF runs to the end of s (a CR there is
// kept, to be reported as bare). ok is false when s is empty.
func nextLine(s string) (line, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, "", true
	}
	line, rest = s[:i], s[i+1:]
	if line != "" && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest, true
}

// parseRequestLine fills h's method, target and version from line 1.
func parseRequestLine(line string, h *Head) error {
	method, rest, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	switch {
	case strings.IndexByte(target, '\r') >= 0:
		// The target is the one part of line 1 that no other check would
		// reject for holding a CR.
		return &HeadError{Err: ErrBareCR, Line: 1}
	case !ok1 || !ok2 || target == "" || version == "" || !ValidToken(method) ||
		strings.IndexByte(version, ' ') >= 0:
		return firstLineError(line, &HeadError{Err: ErrBadRequestLine})
	case version != "HTTP/1.1" && version != "HTTP/1.0":
		// docs/protocol.md: whatever the third part is ("HTTP/2.0",
		// "http/1.1", "FOO"), if it is not one of ours it is reported as an
		// unsupported version, named as written.
		return firstLineError(line, &HeadError{Err: ErrUnsupportedVersion, Version: version})
	}
	h.Method, h.Target, h.Proto = method, target, version
	return nil
}

// ParseField parses one field line without its line ending, as the head
// parsers do: name ":" OWS value OWS, the name a token directly followed by
// the colon, the value free of control bytes but HTAB. A trailer section's
// lines are such lines. The error is a *[HeadError] without a line number.
func ParseField(line string) (Field, error) {
	if line == "" {
		return Field{}, &HeadError{Err: ErrMissingColon}
	}
	return parseField(line, 0)
}

// parseField parses header line n.
func parseField(line string, n int) (Field, error) {
	// The usual line is a token ended by its colon: one pass over the name
	// finds the colon and validates the name at once.
	i := 0
	for i < len(line) && tchar[line[i]] {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ':' {
		return Field{}, fieldError(line, n)
	}
	value := TrimOWS(line[i+1:])
	if !ValidFieldValue(value) {
		return Field{}, lineError(ErrInvalidHeaderValue, line, n)
	}
	return Field{Name: line[:i], Value: value}, nil
}

// fieldError says what is wrong with header line n, whose name is not a
// token directly followed by a colon.
func fieldError(line string, n int) error {
	if line[0] == ' ' || line[0] == '\t' {
		return lineError(ErrObsFold, line, n)
	}
	colon := strings.IndexByte(line, ':')
	switch {
	case colon < 0:
		return lineError(ErrMissingColon, line, n)
	case colon > 0 && isOWS(line[colon-1]):
		// RFC 9112 5.1: MUST reject, as "Host : x" is a smuggling vector.
		return lineError(ErrSpaceBeforeColon, line, n)
	}
	return lineError(ErrInvalidHeaderName, line, n)
}

// lineError returns err at line n, unless the line holds a CR: a bare CR is
// a framing error and takes precedence over what it made the line look like.
// Checking here, on the error path only, keeps the CR scan off valid lines,
// which every other check already proves CR-free.
func lineError(err error, line string, n int) error {
	if strings.IndexByte(line, '\r') >= 0 {
		err = ErrBareCR
	}
	return &HeadError{Err: err, Line: n}
}

// firstLineError returns err, a reason about line 1, unless the line holds
// a CR: as in lineError, a bare CR takes precedence.
func firstLineError(line string, err *HeadError) error {
	if strings.IndexByte(line, '\r') >= 0 {
		return &HeadError{Err: ErrBareCR, Line: 1}
	}
	return err
}

// onlySpace reports whether s holds nothing but SP, HTAB, CR and LF.
func onlySpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// TrimOWS removes leading and trailing SP and HTAB (RFC 9110 OWS).
func TrimOWS(s string) string {
	for s != "" && isOWS(s[0]) {
		s = s[1:]
	}
	for s != "" && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
