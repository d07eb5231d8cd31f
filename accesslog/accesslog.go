// Package accesslog writes the proxy's access log through log/slog: one
// record per request, in JSON (slog's JSON handler), logfmt-style text
// (slog's text handler) or the NCSA combined log format (a handler of its
// own), to standard output or a file that SIGUSR1 reopens.
//
// Writing a line costs no allocation: each record carries its fields as
// one inline group over a reused array, and lines are appended to a
// buffer that a writer goroutine empties as soon as it can (see writer).
package accesslog

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"

	"l7lb/config"
	"l7lb/observe"
	"l7lb/strview"
)

// The fields of a line, in order. The names are those of the json and
// text formats; docs/config.md lists their meaning.
const (
	keyRequestID = "request_id"
	keyClient    = "client_addr"
	keyMethod    = "method"
	keyHost      = "host"
	keyPath      = "path"
	keyProto     = "proto"
	keyStatus    = "status"
	keyReceived  = "bytes_received"
	keySent      = "bytes_sent"
	keyDuration  = "duration_us"
	keyRoute     = "route"
	keyServer    = "server"
	keyUpstream  = "upstream_time_us"
	keyRetries   = "retries"
	keySticky    = "sticky"
	keyAgent     = "user_agent"
	keyReferer   = "referer"
	keyRevision  = "config_revision"
	keyTraceID   = "trace_id"
	numFields    = 19
)

// Logger writes access-log lines. Its methods are safe for concurrent use.
type Logger struct {
	h      slog.Handler
	out    *writer
	sample float64 // the share of requests below 500 logged: 1 for all

	entries sync.Pool // of *entry
}

// entry is the reusable memory of one line.
type entry struct {
	attrs [numFields]slog.Attr
	id    []byte // a generated request id, formatted
}

// New returns the logger o configures, writing to stdout when o.Path is
// "stdout".
func New(o config.AccessLog, stdout io.Writer) (*Logger, error) {
	out, err := newWriter(o.Path, stdout)
	if err != nil {
		return nil, err
	}
	l := &Logger{out: out, sample: o.Sample}
	l.entries.New = func() any { return new(entry) }
	switch o.Format {
	case config.FormatJSON:
		l.h = slog.NewJSONHandler(out, &slog.HandlerOptions{ReplaceAttr: dropLevelAndMessage})
	case config.FormatCommon:
		l.h = &combinedHandler{w: out}
	default:
		l.h = slog.NewTextHandler(out, &slog.HandlerOptions{ReplaceAttr: dropLevelAndMessage})
	}
	return l, nil
}

// dropLevelAndMessage removes slog's level and msg keys: every access-log
// record is the same level and has no message.
func dropLevelAndMessage(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
		return slog.Attr{}
	}
	return a
}

// Sampled reports whether a request answered with status is to be
// logged: every one that failed on the server side (status 500 or more),
// and the configured share of the others.
func (l *Logger) Sampled(status int) bool {
	return l.sample >= 1 || status >= 500 || rand.Float64() < l.sample
}

// Log writes the line of x, made under the configuration revision rev
// ("N-hash"), if sampled.
func (l *Logger) Log(x *observe.Exchange, rev string) {
	if !l.Sampled(x.Status) {
		return
	}
	e := l.entries.Get().(*entry)
	id := x.RequestID
	if x.ID != 0 {
		e.id = strconv.AppendUint(append(e.id[:0], x.IDPrefix...), x.ID, 16)
		id = strview.Of(e.id)
	}
	upstream := int64(-1)
	if x.Upstream >= 0 {
		upstream = x.Upstream.Microseconds()
	}
	a := &e.attrs
	a[0] = slog.String(keyRequestID, id)
	a[1] = slog.String(keyClient, x.Client)
	a[2] = slog.String(keyMethod, x.Method)
	a[3] = slog.String(keyHost, x.Host)
	a[4] = slog.String(keyPath, x.Target)
	a[5] = slog.String(keyProto, x.Proto)
	a[6] = slog.Int(keyStatus, x.Status)
	a[7] = slog.Int64(keyReceived, x.Received)
	a[8] = slog.Int64(keySent, x.Sent)
	a[9] = slog.Int64(keyDuration, x.Duration.Microseconds())
	a[10] = slog.String(keyRoute, x.RouteName)
	a[11] = slog.String(keyServer, x.ServerName)
	a[12] = slog.Int64(keyUpstream, upstream)
	a[13] = slog.Int(keyRetries, x.Retries)
	a[14] = slog.String(keySticky, x.Sticky.String())
	a[15] = slog.String(keyAgent, x.UserAgent)
	a[16] = slog.String(keyReferer, x.Referer)
	a[17] = slog.String(keyRevision, rev)
	n := numFields - 1
	if x.TraceID != "" {
		a[n] = slog.String(keyTraceID, x.TraceID)
		n++
	}
	r := slog.NewRecord(x.Start, slog.LevelInfo, "", 0)
	// One inline group (an empty key) keeps the record's attributes in
	// its own array: more than five loose ones would be allocated.
	r.AddAttrs(slog.Attr{Value: slog.GroupValue(a[:n]...)})
	l.h.Handle(context.Background(), r)
	l.entries.Put(e)
}

// Reopen opens the log file again, by its name: after logrotate renamed it
// (SIGUSR1), lines go to a new file of that name. Standard output is left
// as it is.
func (l *Logger) Reopen() error { return l.out.reopen() }

// Close writes what is buffered and closes the file.
func (l *Logger) Close() error { return l.out.close() }
