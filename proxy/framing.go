package proxy

import (
	"errors"

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

	// upgradeTo is the last Upgrade field (a server's 101 names one
	// protocol); upgradeOther is set when the Upgrade fields list a
	// protocol but h2c, which the proxy never forwards (a client's upgrade
	// to HTTP/2 over cleartext would switch a server to a protocol the
	// proxy does not speak).
	upgradeTo    string
	upgradeOther bool

	teTrailers bool // TE lists trailers
	expect     bool // Expect: 100-continue
	hasHost    bool
	hasDate    bool
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
			fi.chunked = httpmsg.EqualFold(f.Value, "chunked")
		case kConnection:
			fi.connection(f.Value)
		case kUpgrade:
			fi.upgradeTo = f.Value
			fi.upgradeOther = fi.upgradeOther || hasUpgradeOtherThanH2C(f.Value)
		case kDate:
			fi.hasDate = true
		case kTE:
			fi.teTrailers = fi.teTrailers || httpmsg.HasToken(f.Value, "trailers")
		case kExpect:
			fi.expect = fi.expect || httpmsg.EqualFold(f.Value, "100-continue")
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

// addLength adds a Content-Length field value: every Content-Length of a
// message must give the same number.
func (fi *fieldInfo) addLength(list string) error {
	n, err := httpmsg.ParseContentLength(list)
	switch {
	case err != nil:
		return err
	case fi.hasLength && n != fi.length:
		return errLengths
	}
	fi.hasLength, fi.length = true, n
	return nil
}

// connection reads the tokens of a Connection field.
func (fi *fieldInfo) connection(list string) {
	for list != "" {
		var t string
		t, list = httpmsg.NextElement(list)
		switch {
		case t == "":
		case httpmsg.EqualFold(t, "close"):
			fi.connClose = true
		case httpmsg.EqualFold(t, "keep-alive"):
			fi.connKeepAlive = true
		case httpmsg.EqualFold(t, "upgrade"):
			fi.connUpgrade = true
		default:
			fi.connNames = true
		}
	}
}

// hasUpgradeOtherThanH2C reports whether an Upgrade list names a protocol
// but h2c.
func hasUpgradeOtherThanH2C(list string) bool {
	for list != "" {
		var p string
		p, list = httpmsg.NextElement(list)
		if p != "" && !isH2C(p) {
			return true
		}
	}
	return false
}

func isH2C(protocol string) bool { return httpmsg.EqualFold(protocol, "h2c") }

// named reports whether a Connection field of fields names the field name:
// such a field is hop-by-hop and is dropped.
func (fi *fieldInfo) named(fields []httpmsg.Field, name string) bool {
	for i, k := range fi.kinds {
		if k != kConnection {
			continue
		}
		for list := fields[i].Value; list != ""; {
			var t string
			t, list = httpmsg.NextElement(list)
			if httpmsg.EqualFold(t, name) {
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
