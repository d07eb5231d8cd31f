package httpmsg

import (
	"errors"
	"strconv"
)

// MaxResponseFields bounds the fields of a response head. It is above the
// request bound ([MaxHeaders]): responses legitimately carry many
// Set-Cookie fields.
const MaxResponseFields = 256

// The reasons a response head is rejected, besides the field reasons it
// shares with requests (ErrInvalidHeaderName, ErrSpaceBeforeColon,
// ErrMissingColon, ErrObsFold, ErrInvalidHeaderValue, ErrBareCR).
var (
	ErrBadStatusLine         = errors.New("malformed status line")
	ErrTooManyResponseFields = errors.New("more than " + strconv.Itoa(MaxResponseFields) + " fields")
)

// A ResponseHead is a parsed response head.
type ResponseHead struct {
	Proto  string // "HTTP/1.0" or "HTTP/1.1"
	Status int    // 100 to 599
	Reason string // the reason phrase, possibly empty
	Fields []Field
}

// ParseResponseHead parses raw, a response head, into h, as strictly as
// [ParseHead] parses a request head and with the same field rules: lines
// end in CRLF or LF, a CR elsewhere, obs-fold, whitespace before a colon, a
// name that is not a token or a value with a control byte is an error. The
// status line is HTTP-version SP 3DIGIT SP reason-phrase, the version
// HTTP/1.0 or HTTP/1.1, the status from 100 to 599; the reason may be empty
// and its SP missing with it, as servers send it. More than
// [MaxResponseFields] fields is ErrTooManyResponseFields.
//
// The error is a *[HeadError]. Like ParseHead, it reuses h.Fields and its
// strings are substrings of raw.
func ParseResponseHead(raw string, h *ResponseHead) error {
	clear(h.Fields)
	h.Fields = h.Fields[:0]
	line, rest, ok := nextLine(raw)
	if !ok {
		return &HeadError{Err: ErrBadStatusLine}
	}
	if err := parseStatusLine(line, h); err != nil {
		return err
	}
	for n := 2; ; n++ {
		line, rest, ok = nextLine(rest)
		if !ok || line == "" {
			return nil
		}
		f, err := parseField(line, n)
		if err != nil {
			return err
		}
		if len(h.Fields) == MaxResponseFields {
			return &HeadError{Err: ErrTooManyResponseFields}
		}
		h.Fields = append(h.Fields, f)
	}
}

// parseStatusLine parses "HTTP/1.x SP 3DIGIT [SP reason]".
func parseStatusLine(line string, h *ResponseHead) error {
	if len(line) < 12 || line[:7] != "HTTP/1." || line[7] != '0' && line[7] != '1' || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) {
		return firstLineError(line, &HeadError{Err: ErrBadStatusLine, Line: 1})
	}
	code := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if code < 100 || code > 599 || len(line) > 12 && (line[12] != ' ' || !ValidFieldValue(line[13:])) {
		return firstLineError(line, &HeadError{Err: ErrBadStatusLine, Line: 1})
	}
	h.Proto, h.Status, h.Reason = line[:8], code, ""
	if len(line) > 12 {
		h.Reason = line[13:]
	}
	return nil
}
