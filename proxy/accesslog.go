package proxy

import (
	"bufio"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// accessLog writes one line per request to a buffered writer, flushed by
// the janitor every second and at Shutdown.
type accessLog struct {
	mu sync.Mutex
	w  *bufio.Writer

	// stamp caches the RFC 3339 text of the current second: formatting a
	// time allocates, a cached string does not.
	stamp atomic.Pointer[stamp]
}

type stamp struct {
	sec  int64
	text string
}

func (l *accessLog) timestamp(now time.Time) string {
	sec := now.Unix()
	if s := l.stamp.Load(); s != nil && s.sec == sec {
		return s.text
	}
	s := &stamp{sec: sec, text: now.Format(time.RFC3339)}
	l.stamp.Store(s)
	return s.text
}

func (l *accessLog) write(line []byte) {
	l.mu.Lock()
	l.w.Write(line)
	l.mu.Unlock()
}

func (l *accessLog) flush() {
	l.mu.Lock()
	l.w.Flush()
	l.mu.Unlock()
}

// logRequest writes the access-log line of the request just served:
//
//	<time> <client ip> "<method> <target> HTTP/1.x" <status> <bytes out> <route> <server|-> sticky=<outcome> <ms> rev=<revision>
//
// A request whose head could not be parsed logs "-" for its line.
func (c *clientConn) logRequest() {
	l := c.p.log
	now := time.Now()
	h := &c.req.head
	b := append(c.line[:0], l.timestamp(now)...)
	b = append(b, ' ')
	b = append(b, c.ip...)
	b = append(b, ' ', '"')
	if h.Method == "" {
		b = append(b, '-')
	} else {
		b = append(b, h.Method...)
		b = append(b, ' ')
		b = appendSafe(b, h.Target)
		b = append(b, ' ')
		b = append(b, h.Proto...)
	}
	b = append(b, '"', ' ')
	b = strconv.AppendInt(b, int64(c.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, c.tc.written-c.written, 10)
	b = append(b, ' ')
	b = appendOr(b, c.d.Route)
	b = append(b, ' ')
	b = appendOr(b, c.server)
	b = append(b, " sticky="...)
	b = append(b, c.d.Sticky.String()...)
	b = append(b, ' ')
	us := now.Sub(c.start).Microseconds()
	b = strconv.AppendInt(b, us/1000, 10)
	b = append(b, '.', byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10))
	b = append(b, " rev="...)
	b = strconv.AppendUint(b, c.snap.rev.N, 10)
	b = append(b, '\n')
	c.line = b
	l.write(b)
}

func appendOr(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}

// appendSafe appends s with control bytes, quotes and backslashes escaped
// as \xHH, so that a request cannot forge log lines or fields.
func appendSafe(b []byte, s string) []byte {
	const digits = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', digits[c>>4], digits[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}
