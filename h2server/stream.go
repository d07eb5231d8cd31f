package h2server

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"l7lb/httpmsg"
)

// Stream is one request and its response. It is the request's context:
// Done is closed when the client resets the stream, the connection ends,
// or the handler returns.
type Stream struct {
	c  *Conn
	id uint32

	// The request, set before the handler starts.
	method, scheme, authority, path string
	fields                          []httpmsg.Field
	fieldBuf                        [12]httpmsg.Field // fields' first room
	contentLength                   int64             // -1 when not given
	expect100                       bool
	tooLarge                        bool

	// The request body: the reader fills it, the handler reads it.
	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	off      int
	recvWin  int32
	received int64
	eof      bool            // END_STREAM received
	trailers []httpmsg.Field // the request's, once eof
	err      error           // why the stream ended early
	ended    bool            // the context is done
	afters   []afterFunc
	afterBuf [2]afterFunc // afters' first room: a stream has one or two
	afterSeq int
	done     chan struct{} // made when asked for: AfterFunc needs none
	sent100  bool

	// The response; under c.mu.
	sendWin   int32
	localDone bool // END_STREAM or RST_STREAM sent
	gone      bool // out of the connection's table: ended

	hbuf        []byte  // the handler's header block being encoded
	hbufp       *[]byte // hbuf's home in headBufs
	headPending bool    // hbuf holds the response head, not sent yet
}

type afterFunc struct {
	id int
	f  func()
}

// Method, Scheme, Authority and Path are the request's pseudo-fields.
func (st *Stream) Method() string    { return st.method }
func (st *Stream) Scheme() string    { return st.scheme }
func (st *Stream) Authority() string { return st.authority }
func (st *Stream) Path() string      { return st.path }

// Fields are the request's header fields in order, names in lower case,
// Cookie fields joined into one (RFC 9113 8.2.3).
func (st *Stream) Fields() []httpmsg.Field { return st.fields }

// ContentLength is the request's content-length, 0 when it ended with its
// header block, -1 when unknown.
func (st *Stream) ContentLength() int64 { return st.contentLength }

// HeaderTooLarge reports a decoded header list over MaxHeaderListSize:
// Fields holds those within it, and the request is to be answered 431.
func (st *Stream) HeaderTooLarge() bool { return st.tooLarge }

// Trailers are the request's trailer fields, once Read returned io.EOF.
func (st *Stream) Trailers() []httpmsg.Field {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.trailers
}

// readRequest takes the request's fields (RFC 9113 8.3), and returns the
// code of a stream error for a malformed one, or a connection error.
func (st *Stream) readRequest(fields []httpmsg.Field, end bool) (http2.ErrCode, error) {
	st.contentLength = -1
	st.tooLarge = st.c.tooLarge
	regular, cookies := len(fields), 0
	for i, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			if i > regular {
				return http2.ErrCodeProtocol, nil
			}
			var p *string
			switch f.Name {
			case ":method":
				p = &st.method
			case ":scheme":
				p = &st.scheme
			case ":authority":
				p = &st.authority
			case ":path":
				p = &st.path
			default:
				return http2.ErrCodeProtocol, nil
			}
			if *p != "" || f.Value == "" {
				return http2.ErrCodeProtocol, nil
			}
			*p = f.Value
			continue
		}
		if regular == len(fields) {
			regular = i
		}
		if !validField(f) {
			return http2.ErrCodeProtocol, nil
		}
		switch f.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			// RFC 9113 8.2.2: malformed; a client that sends them
			// (none of the usual ones does) loses the connection.
			return 0, connError(http2.ErrCodeProtocol)
		case "te":
			if f.Value != "trailers" {
				return 0, connError(http2.ErrCodeProtocol)
			}
		case "content-length":
			n, err := strconv.ParseUint(f.Value, 10, 63)
			if err != nil || st.contentLength >= 0 && st.contentLength != int64(n) {
				return http2.ErrCodeProtocol, nil
			}
			st.contentLength = int64(n)
		case "cookie":
			cookies++
		case "expect":
			st.expect100 = httpmsg.EqualFold(f.Value, "100-continue")
		}
	}
	if st.method == "CONNECT" {
		if st.authority == "" || st.scheme != "" || st.path != "" {
			return http2.ErrCodeProtocol, nil
		}
	} else if st.method == "" || st.scheme == "" || st.path == "" {
		return http2.ErrCodeProtocol, nil
	}
	if end {
		if st.contentLength > 0 {
			return http2.ErrCodeProtocol, nil
		}
		st.contentLength, st.eof = 0, true
	}
	fields = fields[min(regular, len(fields)):]
	if cookies > 1 {
		fields = joinCookies(fields)
	}
	st.fields = fields
	return 0, nil
}

// joinCookies makes the Cookie fields of fs one, where the first was.
func joinCookies(fs []httpmsg.Field) []httpmsg.Field {
	first := -1
	var b strings.Builder
	out := fs[:0]
	for _, f := range fs {
		if f.Name != "cookie" {
			out = append(out, f)
			continue
		}
		if first < 0 {
			first = len(out)
			out = append(out, f)
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Value)
	}
	out[first].Value = b.String()
	return out
}

// validField reports a field RFC 9113 8.2.1 allows: a name of lower-case
// token characters, a value without control characters.
func validField(f httpmsg.Field) bool {
	if f.Name == "" {
		return false
	}
	for i := 0; i < len(f.Name); i++ {
		if c := f.Name[i]; !httpmsg.IsTokenByte(c) || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return httpmsg.ValidFieldValue(f.Value)
}

// remoteDone reports that the client ended its side. The reader alone
// sets eof, so it reads it without the lock.
func (st *Stream) remoteDone() bool { return st.eof }

// receive takes a DATA frame's data (n bytes of window with padding), and
// returns the code of a stream error.
func (st *Stream) receive(data []byte, n int32, end bool) http2.ErrCode {
	st.mu.Lock()
	if n > st.recvWin {
		st.mu.Unlock()
		return http2.ErrCodeFlowControl
	}
	st.recvWin -= n
	st.received += int64(len(data))
	if cl := st.contentLength; cl >= 0 && (st.received > cl || end && st.received != cl) {
		st.mu.Unlock()
		return http2.ErrCodeProtocol
	}
	if len(data) > 0 {
		if st.off > 0 && st.off == len(st.buf) {
			st.buf, st.off = st.buf[:0], 0
		}
		st.buf = append(st.buf, data...)
	}
	st.eof = end
	st.cond.Broadcast()
	st.mu.Unlock()
	if end {
		st.remoteEnded()
	}
	return 0
}

func (st *Stream) receiveTrailers(fields []httpmsg.Field) http2.ErrCode {
	st.mu.Lock()
	if cl := st.contentLength; cl >= 0 && st.received != cl {
		st.mu.Unlock()
		return http2.ErrCodeProtocol
	}
	st.trailers, st.eof = fields, true
	st.cond.Broadcast()
	st.mu.Unlock()
	st.remoteEnded()
	return 0
}

// remoteEnded closes the stream when its response is done too.
func (st *Stream) remoteEnded() {
	c := st.c
	c.mu.Lock()
	if st.localDone {
		c.endStream(st, nil)
	}
	c.mu.Unlock()
}

// Read reads the request body.
func (st *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	st.mu.Lock()
	if st.expect100 && !st.sent100 {
		st.sent100 = true
		st.mu.Unlock()
		st.send100()
		st.mu.Lock()
	}
	for st.off == len(st.buf) && !st.eof && st.err == nil {
		st.cond.Wait()
	}
	if st.off < len(st.buf) {
		n := copy(p, st.buf[st.off:])
		st.off += n
		if st.off == len(st.buf) {
			st.buf, st.off = st.buf[:0], 0
		}
		id := st.id
		if st.eof {
			id = 0 // no more of this stream's data to come
		} else {
			st.recvWin += int32(n)
		}
		st.mu.Unlock()
		st.c.refund(id, int32(n))
		return n, nil
	}
	defer st.mu.Unlock()
	if st.eof {
		return 0, io.EOF
	}
	return 0, st.err
}

// cancel ends the stream's context with err (nil: it ended normally).
func (st *Stream) cancel(err error) {
	st.mu.Lock()
	if st.ended {
		st.mu.Unlock()
		return
	}
	st.ended = true
	if err == nil {
		err = errClosed
	}
	if !st.eof {
		st.err = err
	}
	if st.done == nil {
		st.done = closedChan
	} else {
		close(st.done)
	}
	afters := st.afters
	st.afters = nil
	st.cond.Broadcast()
	st.mu.Unlock()
	for _, a := range afters {
		go a.f()
	}
}

// Deadline, Done, Err and Value make the stream a context.Context.
func (st *Stream) Deadline() (time.Time, bool) { return time.Time{}, false }
func (st *Stream) Value(any) any               { return nil }

func (st *Stream) Done() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done == nil {
		st.done = make(chan struct{})
	}
	return st.done
}

func (st *Stream) Err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return context.Canceled
	}
	return nil
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// AfterFunc runs f in its own goroutine once the stream's context ends,
// as context.AfterFunc does (which calls it, as does context's
// cancellation propagation, instead of starting a goroutine to watch Done).
func (st *Stream) AfterFunc(f func()) (stop func() bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		go f()
		return func() bool { return false }
	}
	st.afterSeq++
	id := st.afterSeq
	if st.afters == nil {
		st.afters = st.afterBuf[:0]
	}
	st.afters = append(st.afters, afterFunc{id, f})
	return func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		for i, a := range st.afters {
			if a.id == id {
				st.afters = append(st.afters[:i], st.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// WriteHeader sets the response head: status and fields (names in any
// case). It goes out with the first DATA, or with End: a response without
// a body is then one HEADERS frame with END_STREAM (as gRPC's
// Trailers-Only responses must be).
func (st *Stream) WriteHeader(status int, fields []httpmsg.Field) {
	if st.hbufp == nil {
		st.hbufp = headBufs.Get().(*[]byte)
		st.hbuf = *st.hbufp
	}
	st.hbuf = appendFields(appendStatus(st.hbuf[:0], status), fields)
	st.headPending = true
}

func appendFields(b []byte, fields []httpmsg.Field) []byte {
	for _, f := range fields {
		b = appendField(b, f.Name, f.Value)
	}
	return b
}

// send100 sends 100 Continue.
func (st *Stream) send100() {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.writable() == nil {
		st.queueBlock(appendStatus(nil, 100), false)
	}
}

// queueBlock queues a header block: HEADERS, and CONTINUATION frames
// past the client's frame size; with c.mu held.
func (st *Stream) queueBlock(b []byte, end bool) {
	c := st.c
	typ, flags := http2.FrameHeaders, http2.Flags(0)
	if end {
		flags |= http2.FlagHeadersEndStream
	}
	for first := true; first || len(b) > 0; first = false {
		n := min(len(b), c.peerFrame)
		f := flags
		if n == len(b) {
			f |= http2.FlagHeadersEndHeaders
		}
		c.out = appendFrameHeader(c.out, n, typ, f, st.id)
		c.out = append(c.out, b[:n]...)
		b = b[n:]
		typ, flags = http2.FrameContinuation, 0
	}
	c.kick()
	if end {
		st.endLocal()
	}
}

// writable returns why the stream cannot send; with c.mu held.
func (st *Stream) writable() error {
	if st.localDone || st.gone || st.c.dead {
		if st.err != nil {
			return st.err
		}
		return errClosed
	}
	return nil
}

// endLocal notes END_STREAM sent; with c.mu held.
func (st *Stream) endLocal() {
	st.localDone = true
	st.mu.Lock()
	eof := st.eof
	st.mu.Unlock()
	if eof {
		st.c.endStream(st, nil)
	}
}

// Write sends p as DATA, as the flow-control windows allow.
func (st *Stream) Write(p []byte) (int, error) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return st.writeData(p, false)
}

// End ends the response: last as DATA, then trailers when there are any,
// the last frame with END_STREAM.
func (st *Stream) End(last []byte, trailers []httpmsg.Field) error {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := st.writeData(last, len(trailers) == 0); err != nil || len(trailers) == 0 {
		return err
	}
	st.hbuf = appendFields(st.hbuf[:0], trailers)
	st.queueBlock(st.hbuf, true)
	return nil
}

// writeData queues the pending head, then p as DATA frames, the last one
// with END_STREAM when end is set; with c.mu held.
func (st *Stream) writeData(p []byte, end bool) (int, error) {
	c := st.c
	for len(c.out) > outCap && st.writable() == nil {
		c.cond.Wait()
	}
	if err := st.writable(); err != nil {
		return 0, err
	}
	if st.headPending {
		st.headPending = false
		if end && len(p) == 0 {
			st.queueBlock(st.hbuf, true)
			return 0, nil
		}
		st.queueBlock(st.hbuf, false)
	}
	written := 0
	for first := true; first || len(p) > 0; first = false {
		n := 0
		for {
			if err := st.writable(); err != nil {
				return written, err
			}
			n = min(len(p), int(min(c.sendWin, st.sendWin)), c.peerFrame)
			if (n > 0 || len(p) == 0) && len(c.out) <= outCap {
				break
			}
			c.cond.Wait()
		}
		flags := http2.Flags(0)
		if end && n == len(p) {
			flags = http2.FlagDataEndStream
		}
		c.out = appendFrameHeader(c.out, n, http2.FrameData, flags, st.id)
		c.out = append(c.out, p[:n]...)
		c.sendWin -= int32(n)
		st.sendWin -= int32(n)
		c.kick()
		p = p[n:]
		written += n
	}
	if end {
		st.endLocal()
	}
	return written, nil
}

// Reset resets the stream (INTERNAL_ERROR): its response was cut short.
func (st *Stream) Reset() {
	c := st.c
	c.mu.Lock()
	if !st.localDone {
		st.localDone = true
		c.resetLocked(st, http2.ErrCodeInternal)
	}
	c.mu.Unlock()
}

// handlerDone ends what the handler left open: a response not ended is
// reset, a request body not read whole is refused with RST_STREAM
// NO_ERROR (RFC 9113 8.1).
func (st *Stream) handlerDone() {
	c := st.c
	c.mu.Lock()
	switch {
	case !st.localDone:
		st.localDone = true
		c.resetLocked(st, http2.ErrCodeInternal)
	case c.streams[st.id] == st:
		c.resetLocked(st, http2.ErrCodeNo)
	}
	st.cancel(nil)
	c.running--
	c.cond.Broadcast()
	c.mu.Unlock()
	st.mu.Lock()
	st.buf = nil
	st.mu.Unlock()
	if st.hbufp != nil && cap(st.hbuf) <= 16<<10 {
		*st.hbufp = st.hbuf[:0]
		headBufs.Put(st.hbufp)
	}
	st.hbuf, st.hbufp = nil, nil
}

// headBufs are buffers for encoding response heads, shared by the streams
// of every connection (a stream lives for one request).
var headBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// HPACK without the dynamic table (RFC 7541): each field a literal not
// indexed, its name by static-table index when the table has it (a
// typical response head: 76 bytes instead of 115), :status from the
// static table when it is there.

func appendStatus(b []byte, status int) []byte {
	switch status {
	case 200:
		return append(b, 0x80|8)
	case 204:
		return append(b, 0x80|9)
	case 206:
		return append(b, 0x80|10)
	case 304:
		return append(b, 0x80|11)
	case 400:
		return append(b, 0x80|12)
	case 404:
		return append(b, 0x80|13)
	case 500:
		return append(b, 0x80|14)
	}
	b = append(b, 0x08, 3) // literal, name :status (index 8), 3 bytes
	return strconv.AppendInt(b, int64(status), 10)
}

func appendField(b []byte, name, value string) []byte {
	start := len(b)
	b = append(b, 0)
	b = appendInt(b, 7, uint64(len(name)))
	at := len(b)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	if i, ok := staticNames[string(b[at:])]; ok {
		// Literal without indexing, indexed name: 0000 and a 4-bit prefix.
		b = appendInt(b[:start], 4, uint64(i))
	}
	b = appendInt(b, 7, uint64(len(value)))
	return append(b, value...)
}

// staticNames maps the names of RFC 7541's static table (Appendix A) past
// the pseudo-header fields to their indices.
var staticNames = func() map[string]uint8 {
	names := []string{
		"accept-charset", "accept-encoding", "accept-language", "accept-ranges",
		"accept", "access-control-allow-origin", "age", "allow",
		"authorization", "cache-control", "content-disposition",
		"content-encoding", "content-language", "content-length",
		"content-location", "content-range", "content-type", "cookie", "date",
		"etag", "expect", "expires", "from", "host", "if-match",
		"if-modified-since", "if-none-match", "if-range",
		"if-unmodified-since", "last-modified", "link", "location",
		"max-forwards", "proxy-authenticate", "proxy-authorization", "range",
		"referer", "refresh", "retry-after", "server", "set-cookie",
		"strict-transport-security", "transfer-encoding", "user-agent",
		"vary", "via", "www-authenticate",
	}
	m := make(map[string]uint8, len(names))
	for i, n := range names {
		m[n] = uint8(firstStaticName + i)
	}
	return m
}()

const firstStaticName = 15 // accept-charset; 1-14 are pseudo-header fields

// appendInt appends n as an HPACK integer with an n-bit prefix, the
// prefix's other bits 0.
func appendInt(b []byte, prefix uint, n uint64) []byte {
	limit := uint64(1)<<prefix - 1
	if n < limit {
		return append(b, byte(n))
	}
	b = append(b, byte(limit))
	n -= limit
	for n >= 128 {
		b = append(b, byte(n&0x7f|0x80))
		n >>= 7
	}
	return append(b, byte(n))
}
