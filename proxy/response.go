package proxy

import (
	"errors"
	"strings"

	"l7lb/httpmsg"
)

// maxResponseFields bounds the fields of a response head. It is above the
// request limit: responses legitimately carry many Set-Cookie fields.
const maxResponseFields = 256

var (
	errStatusLine    = errors.New("malformed status line")
	errResponseField = errors.New("malformed response header field")
	errManyFields    = errors.New("too many response header fields")
)

// response is a server's response head, parsed in place: its strings alias
// the buffer it was read into.
type response struct {
	fieldInfo
	fields []httpmsg.Field
	status int
	reason string
	http11 bool
	body   bodyKind
	closes bool // the server closes the connection after this response
}

// parse parses raw, a response head through its empty line, to the request
// whose method is method. It is as strict as the request side: lines end
// in CRLF or LF, a CR elsewhere, obs-fold, whitespace before a colon or a
// framing conflict is an error, which the proxy answers with 502.
func (r *response) parse(raw, method string) error {
	clear(r.fields)
	r.fields = r.fields[:0]
	line, rest, err := cutLine(raw)
	if err != nil {
		return err
	}
	if err := r.statusLine(line); err != nil {
		return err
	}
	for {
		if line, rest, err = cutLine(rest); err != nil {
			return err
		}
		if line == "" {
			break
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !httpmsg.ValidToken(line[:colon]) {
			return errResponseField
		}
		value := trimOWS(line[colon+1:])
		if !httpmsg.ValidFieldValue(value) {
			return errResponseField
		}
		if len(r.fields) == maxResponseFields {
			return errManyFields
		}
		r.fields = append(r.fields, httpmsg.Field{Name: line[:colon], Value: value})
	}
	if err := r.scan(r.fields); err != nil {
		return err
	}
	if r.chunked && !r.http11 {
		return errEncoding10
	}
	r.closes = r.connClose || !r.http11 && !r.connKeepAlive
	switch {
	case r.status < 200 || r.status == 204 || r.status == 304 || method == "HEAD":
		r.body = bodyNone
	case r.chunked:
		r.body = bodyChunked
	case r.hasLength && r.length == 0:
		r.body = bodyNone
	case r.hasLength:
		r.body = bodyLength
	default:
		r.body = bodyClose
		r.closes = true
	}
	return nil
}

// statusLine parses "HTTP/1.x SP 3DIGIT SP reason"; the reason may be
// empty, and its SP missing with it.
func (r *response) statusLine(line string) error {
	if len(line) < 12 || line[:7] != "HTTP/1." || line[8] != ' ' {
		return errStatusLine
	}
	switch line[7] {
	case '1':
		r.http11 = true
	case '0':
		r.http11 = false
	default:
		return errStatusLine
	}
	code := 0
	for i := 9; i < 12; i++ {
		c := line[i]
		if c < '0' || c > '9' {
			return errStatusLine
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return errStatusLine
	}
	r.status, r.reason = code, ""
	if len(line) > 12 {
		if line[12] != ' ' || !httpmsg.ValidFieldValue(line[13:]) {
			return errStatusLine
		}
		r.reason = line[13:]
	}
	return nil
}

// cutLine splits the first line off s, which holds whole lines: it ends in
// LF, optionally after a CR; a CR anywhere else is an error.
func cutLine(s string) (line, rest string, err error) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return "", "", errResponseField
	}
	line, rest = s[:i], s[i+1:]
	if line != "" && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", errResponseField
	}
	return line, rest, nil
}
