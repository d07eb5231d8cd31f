package accesslog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"unicode/utf8"
)

// combinedHandler writes records in the NCSA combined log format, as
// Apache's and nginx's "combined" do, so that log tools read them:
//
//	client - - [10/Oct/2026:13:55:36 +0000] "GET /a?b HTTP/1.1" 200 2326 "referer" "user agent"
//
// then the fields that format has no place for, as key=value pairs: the
// request id, host, route, server, duration, upstream time, retries,
// sticky outcome, bytes received, configuration revision and trace id.
type combinedHandler struct{ w *writer }

var combinedBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *combinedHandler) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs and WithGroup return h: the access log adds neither
// attributes nor groups to its logger.
func (h *combinedHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *combinedHandler) WithGroup(string) slog.Handler      { return h }

// combined are the fields of one line, read from a record.
type combined struct {
	f [numFields]slog.Value
}

// str returns a string field, "" when the record has none.
func (c *combined) str(i int) string {
	if c.f[i].Kind() != slog.KindString {
		return ""
	}
	return c.f[i].String()
}

func (c *combined) set(a slog.Attr) {
	if i := index(a.Key); i >= 0 {
		c.f[i] = a.Value
	}
}

// index returns the position of a field key in combined.f, or -1.
func index(key string) int {
	switch key {
	case keyRequestID:
		return 0
	case keyClient:
		return 1
	case keyMethod:
		return 2
	case keyHost:
		return 3
	case keyPath:
		return 4
	case keyProto:
		return 5
	case keyStatus:
		return 6
	case keyReceived:
		return 7
	case keySent:
		return 8
	case keyDuration:
		return 9
	case keyRoute:
		return 10
	case keyServer:
		return 11
	case keyUpstream:
		return 12
	case keyRetries:
		return 13
	case keySticky:
		return 14
	case keyAgent:
		return 15
	case keyReferer:
		return 16
	case keyRevision:
		return 17
	case keyTraceID:
		return 18
	}
	return -1
}

func (h *combinedHandler) Handle(_ context.Context, r slog.Record) error {
	var c combined
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindGroup && a.Key == "" {
			for _, g := range a.Value.Group() {
				c.set(g)
			}
		} else {
			c.set(a)
		}
		return true
	})

	bp := combinedBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = appendField(b, c.str(1))
	b = append(b, " - - ["...)
	b = r.Time.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	if m := c.str(2); m == "" {
		b = append(b, '-')
	} else {
		b = appendEscaped(b, m)
		b = append(b, ' ')
		b = appendEscaped(b, c.str(4))
		b = append(b, ' ')
		b = appendEscaped(b, c.str(5))
	}
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, c.f[6].Int64(), 10)
	b = append(b, ' ')
	if n := c.f[8].Int64(); n > 0 {
		b = strconv.AppendInt(b, n, 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, " \""...)
	b = appendOrDash(b, c.str(16))
	b = append(b, "\" \""...)
	b = appendOrDash(b, c.str(15))
	b = append(b, "\" request_id="...)
	b = appendField(b, c.str(0))
	b = append(b, " host=\""...)
	b = appendEscaped(b, c.str(3))
	b = append(b, "\" route="...)
	b = appendField(b, c.str(10))
	b = append(b, " server="...)
	b = appendField(b, c.str(11))
	b = append(b, " duration_us="...)
	b = strconv.AppendInt(b, c.f[9].Int64(), 10)
	b = append(b, " upstream_time_us="...)
	b = strconv.AppendInt(b, c.f[12].Int64(), 10)
	b = append(b, " retries="...)
	b = strconv.AppendInt(b, c.f[13].Int64(), 10)
	b = append(b, " sticky="...)
	b = appendField(b, c.str(14))
	b = append(b, " bytes_received="...)
	b = strconv.AppendInt(b, c.f[7].Int64(), 10)
	b = append(b, " config_revision="...)
	b = appendField(b, c.str(17))
	if t := c.str(18); t != "" {
		b = append(b, " trace_id="...)
		b = appendField(b, t)
	}
	b = append(b, '\n')
	h.w.Write(b)
	*bp = b
	combinedBufs.Put(bp)
	return nil
}

// appendField appends a value as one field: "-" for none, as it is when
// it has no byte that would need escaping (nor a space), else quoted and
// escaped.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '\\' || c >= 0x7f {
			b = append(b, '"')
			b = appendEscaped(b, s)
			return append(b, '"')
		}
	}
	return append(b, s...)
}

func appendOrDash(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s)
}

// appendEscaped appends s with what could end a field or forge a line
// escaped as Apache's log does: '"' and '\' with a backslash, control
// bytes, DEL and every byte of an invalid UTF-8 sequence as \xHH. Valid
// UTF-8 is kept.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return b
}
