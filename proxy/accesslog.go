package proxy

import (
	"bufio"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"l7lb/engine"
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

// logEntry is what the access log says of one request, whichever
// protocol it came in.
type logEntry struct {
	start                 time.Time // when its first byte was seen
	ip                    string    // the client's address
	method, target, proto string    // method "" for a head that could not be parsed
	status                int       // the status sent
	bytes                 int64     // bytes sent to the client for it
	route, server         string    // "" for none
	sticky                engine.Sticky
	rev                   uint64 // the configuration's revision that served it
}

// request writes the access-log line of e, formatted in buf, which it
// returns for reuse:
//
//	<time> <client ip> "<method> <target> <protocol>" <status> <bytes out> <route> <server|-> sticky=<outcome> <ms> rev=<revision>
//
// A request whose head could not be parsed logs "-" for its line.
func (l *accessLog) request(e *logEntry, buf []byte) []byte {
	now := time.Now()
	b := append(buf[:0], l.timestamp(now)...)
	b = append(b, ' ')
	b = append(b, e.ip...)
	b = append(b, ' ', '"')
	if e.method == "" {
		b = append(b, '-')
	} else {
		b = append(b, e.method...)
		b = append(b, ' ')
		b = appendSafe(b, e.target)
		b = append(b, ' ')
		b = append(b, e.proto...)
	}
	b = append(b, '"', ' ')
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, ' ')
	b = appendOr(b, e.route)
	b = append(b, ' ')
	b = appendOr(b, e.server)
	b = append(b, " sticky="...)
	b = append(b, e.sticky.String()...)
	b = append(b, ' ')
	us := now.Sub(e.start).Microseconds()
	b = strconv.AppendInt(b, us/1000, 10)
	b = append(b, '.', byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10))
	b = append(b, " rev="...)
	b = strconv.AppendUint(b, e.rev, 10)
	b = append(b, '\n')
	l.write(b)
	return b
}

// logRequest writes the access-log line of the request just served.
func (c *clientConn) logRequest() {
	h := &c.req.head
	e := logEntry{start: c.start, ip: c.ip, method: h.Method, target: h.Target, proto: h.Proto, status: c.status,
		bytes: c.tc.written - c.written, route: c.d.Route, server: c.server, sticky: c.d.Sticky, rev: c.snap.rev.N}
	c.line = c.p.log.request(&e, c.line)
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
