package proxy

import (
	"errors"
	"strings"

	"l7lb/httpmsg"
)

// bodyKind is how a message's body is delimited (RFC 9112 6).
type bodyKind uint8

const (
	bodyNone    bodyKind = iota
	bodyLength           // Content-Length bytes
	bodyChunked          // chunked transfer coding
	bodyClose            // a response read until the server closes
)

// Framing errors. Each is a way to make two parsers disagree on where a
// message ends, so the proxy refuses the message rather than guess.
var (
	errBadLength      = errors.New("invalid Content-Length")
	errLengths        = errors.New("conflicting Content-Length values")
	errBadEncoding    = errors.New("Transfer-Encoding other than chunked")
	errLengthEncoding = errors.New("both Content-Length and Transfer-Encoding")
	errEncoding10     = errors.New("Transfer-Encoding in an HTTP/1.0 message")
	errNoHost         = errors.New("HTTP/1.1 request without Host")
)

// fieldInfo is what one pass over a message's header fields learns.
type fieldInfo struct {
	kinds []fieldKind // the kind of each field, by index

	hasLength bool
	length    int64 // the Content-Length, when hasLength
	chunked   bool  // Transfer-Encoding: chunked

	connClose     bool // Connection: close
	connKeepAlive bool // Connection: keep-alive
	connUpgrade   bool // Connection: upgrade
	connNames     bool // Connection names other fields, which must be dropped

	upgradeTo  string // the Upgrade field
	teTrailers bool   // TE lists trailers
	expect     bool   // Expect: 100-continue
	hasHost    bool
	hasID      bool // X-Request-Id
}

// scan classifies fields into fi and checks the framing fields: every
// Content-Length must be the same number, and a Transfer-Encoding must be
// exactly chunked, alone, without Content-Length.
func (fi *fieldInfo) scan(fields []httpmsg.Field) error {
	kinds := fi.kinds[:0]
	*fi = fieldInfo{}
	te := 0
	for i := range fields {
		f := &fields[i]
		k := classify(f.Name)
		kinds = append(kinds, k)
		switch k {
		case kHost:
			fi.hasHost = true
		case kContentLength:
			if err := fi.addLength(f.Value); err != nil {
				fi.kinds = kinds
				return err
			}
		case kTransferEncoding:
			te++
			fi.chunked = equalFold(f.Value, "chunked")
		case kConnection:
			fi.connection(f.Value)
		case kUpgrade:
			fi.upgradeTo = f.Value
		case kTE:
			fi.teTrailers = fi.teTrailers || hasToken(f.Value, "trailers")
		case kExpect:
			fi.expect = fi.expect || equalFold(f.Value, "100-continue")
		case kXRequestID:
			fi.hasID = true
		}
	}
	fi.kinds = kinds
	switch {
	case te > 1 || te == 1 && !fi.chunked:
		return errBadEncoding
	case te == 1 && fi.hasLength:
		return errLengthEncoding
	}
	return nil
}

// addLength adds a Content-Length field value: a list of equal numbers
// (RFC 9110 8.6), without empty elements.
func (fi *fieldInfo) addLength(list string) error {
	for {
		elem, rest, more := strings.Cut(list, ",")
		n, ok := parseLength(trimOWS(elem))
		switch {
		case !ok:
			return errBadLength
		case fi.hasLength && n != fi.length:
			return errLengths
		}
		fi.hasLength, fi.length = true, n
		if !more {
			return nil
		}
		list = rest
	}
}

// parseLength parses a Content-Length value: one or more digits, without
// sign or space, that fit an int64.
func parseLength(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || n > (1<<63-1-9)/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// connection reads the tokens of a Connection field.
func (fi *fieldInfo) connection(list string) {
	for list != "" {
		var t string
		t, list = nextToken(list)
		switch {
		case t == "":
		case equalFold(t, "close"):
			fi.connClose = true
		case equalFold(t, "keep-alive"):
			fi.connKeepAlive = true
		case equalFold(t, "upgrade"):
			fi.connUpgrade = true
		default:
			fi.connNames = true
		}
	}
}

// named reports whether a Connection field of fields names the field name:
// such a field is hop-by-hop and is dropped.
func (fi *fieldInfo) named(fields []httpmsg.Field, name string) bool {
	for i, k := range fi.kinds {
		if k != kConnection {
			continue
		}
		for list := fields[i].Value; list != ""; {
			var t string
			t, list = nextToken(list)
			if equalFoldBoth(t, name) {
				return true
			}
		}
	}
	return false
}

// dropped reports whether field i is not forwarded as received: it is
// hop-by-hop, or named by Connection.
func (fi *fieldInfo) dropped(fields []httpmsg.Field, i int) bool {
	k := fi.kinds[i]
	return hopByHop(k) || fi.connNames && k != kHost && fi.named(fields, fields[i].Name)
}
