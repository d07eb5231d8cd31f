package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// frameGuard reads the frames a client sends on an HTTP/2 connection
// before golang.org/x/net/http2's server does, and cuts off a client that
// abuses the protocol in ways that server lets pass, or that breaks rules
// that server bends. It looks at the 9-byte frame headers, and decodes
// header blocks with an HPACK decoder of its own that follows the
// server's; payloads pass through, a whole SETTINGS frame at a time.
//
// What x/net's server does by itself: it runs at most
// MaxConcurrentStreams handlers per connection and refuses streams beyond
// that many open; it closes a connection whose client queues more than
// 4 × MaxConcurrentStreams streams reset before their handler started
// (its answer to Rapid Reset, CVE-2023-44487), or leaves more than 10,000
// control frames unread; it stops decoding a header block past the
// header list limit (431) and closes the connection on a CONTINUATION
// frame after that or a fragment larger than twice what is left
// (CVE-2023-45288). What it lets pass, and the guard bounds:
//
//   - Rapid Reset with handlers that end quickly: a client that opens
//     streams and resets each at once never fills that queue, yet every
//     stream costs a handler, a routing decision and maybe a request to a
//     server. Once a client has reset more than maxResets streams and
//     more than half of those it opened, the connection is closed with
//     GOAWAY ENHANCE_YOUR_CALM (Envoy's premature-reset rule).
//   - Floods of frames that cost the server work (an answer, or a pass
//     through its priorities) and the client nothing: SETTINGS, PING,
//     PRIORITY, and empty DATA or CONTINUATION frames. Each takes a token
//     from a bucket of controlBurst tokens refilled at controlRate per
//     second; an empty bucket closes the connection, as above.
//     WINDOW_UPDATE is not counted: a client that reads many small
//     responses sends one for each, and the server answers none.
//   - A CONTINUATION flood (CVE-2024-27316) of frames that carry little:
//     a header block may span at most maxContinuations frames.
//   - A request header list over the limit that spans frames: x/net's
//     server stops decoding at the limit and closes the connection at
//     the next CONTINUATION frame, where the rule (RFC 9113 10.5.1, and
//     HTTP/1.1's) is a 431 for that request. The guard reads a request's
//     header block whole (up to twice the limit, as x/net decodes at
//     most) and hands it to the server as one HEADERS frame, which the
//     server decodes to the end, keeping its HPACK table in step, and
//     answers 431. The server reads frames up to that size; the client
//     is told, and held to, RFC 9113's 16 KiB (frames beyond it are a
//     FRAME_SIZE_ERROR).
//   - A header block left unfinished: from a HEADERS frame without
//     END_HEADERS to its last CONTINUATION the read deadline is the
//     read-header timeout, as for an HTTP/1.1 head (slowloris), and so is
//     the time to the client's preface and first SETTINGS frame.
//
// Where x/net's server departs from RFC 9113, as h2spec finds:
//
//   - A request with a connection-specific field (Connection, Keep-Alive,
//     Proxy-Connection, Transfer-Encoding, Upgrade) or TE other than
//     "trailers" is malformed (8.2.2); x/net answers it 400, the guard
//     closes the connection with PROTOCOL_ERROR, which such a client
//     (none of the usual ones) has earned.
//   - A SETTINGS frame may name a setting twice, the last value winning
//     (6.5.3); x/net refuses it, so the guard renames the earlier ones
//     to an unknown setting, which the server ignores.
//
// The error it returns from Read is an http2.ConnectionError, which x/net's
// server answers with GOAWAY of that code before it closes the connection.
type frameGuard struct {
	net.Conn
	br            *bufio.Reader
	headerTimeout time.Duration
	count         func() // counts a connection cut off

	// Only the server's reading goroutine touches these.
	out         []byte // bytes ready for the server: a frame header or a whole SETTINGS frame
	frame       [9 + settingsMax]byte
	prefaceLeft int            // bytes of the client preface still to come
	payloadLeft int            // payload bytes of the current frame to pass through
	err         error          // the error Read returns from now on
	settingsIn  bool           // the client's first SETTINGS frame was read
	inHeaders   bool           // a header block is open (no END_HEADERS yet)
	conts       int            // CONTINUATION frames of the open header block
	opened      int            // streams the client opened
	resets      int            // streams the client reset
	tokens      float64        // the control-frame bucket
	refilled    time.Time      // when tokens was last refilled
	deadline    bool           // a header-block deadline is set
	lastStream  uint32         // the highest stream id the client opened
	blockFrame  bool           // the payload being read is a header block fragment
	block       headerBlock    // the header block being read
	maxBlock    int            // beyond it a block is not checked
	hpack       *hpack.Decoder // follows the server's; nil once they may differ
	malformed   bool           // the block has a field RFC 9113 8.2.2 forbids
}

// headerBlock is a header block being read, to be decoded as x/net's
// server will decode it.
type headerBlock struct {
	request bool   // it opens a stream: a request's fields
	first   bool   // the payload being read is the HEADERS frame's
	flags   byte   // of the HEADERS frame
	buf     []byte // the fragments so far
	skip    bool   // too large to check: x/net's server refuses it anyway
}

// Bounds of frameGuard, generous for any real client: browsers reset a few
// streams when a page is left, gRPC clients send a PING every few seconds
// at most, and a 64 KiB header list fits in a handful of frames.
const (
	maxResets        = 100
	controlBurst     = 200
	controlRate      = 50 // tokens per second
	maxContinuations = 32
	settingsMax      = 6 * 64 // the largest SETTINGS frame rewritten: 64 settings
)

// HTTP/2 frame types (RFC 9113 6) and flags the guard looks at.
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameWindowUpdate = 0x8
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

var (
	errCalm      = http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	errProtocol  = http2.ConnectionError(http2.ErrCodeProtocol)
	errFrameSize = http2.ConnectionError(http2.ErrCodeFrameSize)
)

// maxFrameSize is the largest frame a client may send (RFC 9113's initial
// SETTINGS_MAX_FRAME_SIZE, which HAProxy and nginx keep too); x/net's
// server is configured for coalescedFrameSize.
const maxFrameSize = 16 << 10

// coalescedFrameSize is the largest frame the guard hands the server: a
// header block of twice the header list limit, with a HEADERS frame's
// priority fields.
func coalescedFrameSize(maxList int) int { return max(2*maxList+5, maxFrameSize) }

// newFrameGuard guards c, over tc when it is TLS; maxList is the header
// list limit the server announces.
func newFrameGuard(c net.Conn, tc *tls.Conn, headerTimeout time.Duration, maxList int, count func()) net.Conn {
	g := &frameGuard{Conn: c, br: bufio.NewReaderSize(c, 16<<10), headerTimeout: headerTimeout, count: count,
		prefaceLeft: len(preface), tokens: controlBurst, refilled: time.Now()}
	// The server's decoder: a 4096-byte table (SETTINGS_HEADER_TABLE_SIZE
	// is left at its default).
	g.hpack = hpack.NewDecoder(4096, g.emit)
	g.hpack.SetMaxStringLength(maxList)
	g.block.buf = make([]byte, 0, 512)
	g.maxBlock = 2 * maxList
	c.SetReadDeadline(time.Now().Add(headerTimeout))
	if tc != nil {
		// x/net's server checks the TLS state of a connection that has it.
		return &tlsFrameGuard{frameGuard: g, tc: tc}
	}
	return g
}

// tlsFrameGuard is a frameGuard over TLS, which tells its state.
type tlsFrameGuard struct {
	*frameGuard
	tc *tls.Conn
}

func (g *tlsFrameGuard) ConnectionState() tls.ConnectionState { return g.tc.ConnectionState() }

func (g *frameGuard) Read(p []byte) (int, error) {
	if len(g.out) > 0 {
		n := copy(p, g.out)
		g.out = g.out[n:]
		return n, nil
	}
	if g.err != nil {
		return 0, g.err
	}
	switch {
	case g.prefaceLeft > 0:
		n, err := g.br.Read(p[:min(len(p), g.prefaceLeft)])
		g.prefaceLeft -= n
		return n, err
	case g.payloadLeft > 0:
		n, err := g.br.Read(p[:min(len(p), g.payloadLeft)])
		g.payloadLeft -= n
		if g.blockFrame {
			g.capture(p[:n])
			if g.payloadLeft == 0 {
				g.endFragment()
			}
		}
		return n, err
	}
	hdr, err := g.br.Peek(9)
	if err != nil {
		if len(hdr) > 0 {
			n := copy(p, hdr)
			g.br.Discard(n)
			return n, nil // the server finds the frame cut short
		}
		return 0, err
	}
	length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	typ, flags, stream := hdr[3], hdr[4], binary.BigEndian.Uint32(hdr[5:])&(1<<31-1)
	if length > maxFrameSize {
		g.fail(errFrameSize)
		return 0, g.err
	}
	if typ == frameHeaders && flags&flagEndHeaders == 0 && stream > g.lastStream && stream%2 == 1 {
		if err := g.coalesce(flags, stream, length); err != nil {
			g.fail(err)
			return 0, g.err
		}
		n := copy(p, g.out)
		g.out = g.out[n:]
		return n, nil
	}
	if typ == frameSettings && flags&flagAck == 0 && length <= settingsMax && length%6 == 0 {
		f, err := g.br.Peek(9 + length)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		g.out = append(g.frame[:0], f...)
		g.br.Discard(len(f))
		dedupSettings(g.out[9:])
	} else {
		g.out = append(g.frame[:0], hdr...)
		g.br.Discard(9)
		g.payloadLeft = length
	}
	g.fail(g.check(typ, flags, stream, length))
	g.blockFrame = typ == frameHeaders || typ == frameContinuation
	if g.blockFrame && length == 0 {
		g.endFragment()
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

// coalesce reads a request's header block that spans frames, from its
// HEADERS frame (whose header is next, with flags, stream and length) to
// the CONTINUATION frame with END_HEADERS, checking each frame as Read
// does, and makes it one HEADERS frame in g.out: the fragments joined,
// the padding dropped, the priority fields kept. A block larger than the
// server would decode is a PROTOCOL_ERROR, as the server makes it.
func (g *frameGuard) coalesce(flags byte, stream uint32, length int) error {
	g.br.Discard(9)
	if err := g.check(frameHeaders, flags, stream, length); err != nil {
		return err
	}
	buf := g.block.buf[:0]
	read := func(n int) error {
		if len(buf)+n > g.maxBlock+5 {
			return errProtocol
		}
		start := len(buf)
		buf = append(buf, make([]byte, n)...)
		_, err := io.ReadFull(g.br, buf[start:])
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := read(length); err != nil {
		return err
	}
	if flags&flagPadded != 0 {
		if len(buf) == 0 || int(buf[0]) >= len(buf) {
			return errProtocol
		}
		buf = buf[1 : len(buf)-int(buf[0])]
	}
	if flags&flagPriority != 0 && len(buf) < 5 {
		return errProtocol
	}
	for end := false; !end; {
		hdr, err := g.br.Peek(9)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, f, id := hdr[3], hdr[4], binary.BigEndian.Uint32(hdr[5:])&(1<<31-1)
		switch {
		case n > maxFrameSize:
			return errFrameSize
		case typ != frameContinuation || id != stream:
			return errProtocol // RFC 9113 6.10: nothing else until END_HEADERS
		}
		g.br.Discard(9)
		if err := g.check(typ, f, id, n); err != nil {
			return err
		}
		if err := read(n); err != nil {
			return err
		}
		end = f&flagEndHeaders != 0
	}
	flags = flags&^flagPadded | flagEndHeaders
	g.out = append(g.frame[:0], byte(len(buf)>>16), byte(len(buf)>>8), byte(len(buf)), frameHeaders, flags, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(g.out[5:], stream)
	g.out = append(g.out, buf...)
	// The guard's own decoding of the block, as for any other.
	g.block = headerBlock{request: true, first: true, flags: flags, buf: buf}
	g.endFragment()
	return nil
}

// fail makes err, when not nil, the error of every later Read: the server
// reads the frame at hand first.
func (g *frameGuard) fail(err error) {
	if err != nil && g.err == nil {
		g.err = err
		g.count()
	}
}

// dedupSettings renames each setting of a SETTINGS payload that a later
// one of the same frame overrides to an unknown identifier, which the
// server ignores.
func dedupSettings(p []byte) {
	for i := 0; i < len(p); i += 6 {
		id := binary.BigEndian.Uint16(p[i:])
		for j := i + 6; j < len(p); j += 6 {
			if binary.BigEndian.Uint16(p[j:]) == id {
				binary.BigEndian.PutUint16(p[i:], 0xf000|uint16(i/6))
				break
			}
		}
	}
}

// check looks at the header of a frame the client sent.
func (g *frameGuard) check(typ, flags byte, stream uint32, length int) error {
	control := false
	switch typ {
	case frameHeaders:
		request := false
		if stream > g.lastStream && stream%2 == 1 {
			g.lastStream = stream
			g.opened++
			request = true
		}
		g.inHeaders, g.conts = flags&flagEndHeaders == 0, 0
		g.block = headerBlock{request: request, first: true, flags: flags, buf: g.block.buf[:0]}
		if g.inHeaders && !g.deadline {
			g.deadline = true
			g.Conn.SetReadDeadline(time.Now().Add(g.headerTimeout))
		}
		control = length == 0 && flags&flagEndStream == 0
	case frameContinuation:
		g.conts++
		if g.conts > maxContinuations {
			return errCalm
		}
		g.block.first = false
		g.block.flags = flags
		if flags&flagEndHeaders != 0 {
			g.inHeaders = false
		}
		control = length == 0 && g.inHeaders
	case frameData:
		control = length == 0 && flags&flagEndStream == 0
	case frameRSTStream:
		// Bounded by the Rapid Reset rule alone: a client may cancel
		// many streams, as long as it lets more of them finish.
		g.resets++
		if g.resets > maxResets && 2*g.resets > g.opened {
			return errCalm
		}
	case frameSettings:
		if flags&flagAck == 0 {
			control = g.settingsIn // the first is the preface's
			if !g.settingsIn {
				g.settingsIn = true
				if !g.inHeaders {
					g.Conn.SetReadDeadline(time.Time{})
				}
			}
		}
	case framePing:
		control = flags&flagAck == 0
	case framePriority:
		control = true
	}
	if g.deadline && !g.inHeaders {
		g.deadline = false
		g.Conn.SetReadDeadline(time.Time{})
	}
	if control && !g.take() {
		return errCalm
	}
	return nil
}

// capture adds payload bytes of a header block fragment to the block.
func (g *frameGuard) capture(b []byte) {
	blk := &g.block
	if blk.skip {
		return
	}
	if len(blk.buf)+len(b) > g.maxBlock {
		blk.skip, blk.buf = true, blk.buf[:0]
		return
	}
	blk.buf = append(blk.buf, b...)
}

// endFragment ends the payload of a HEADERS or CONTINUATION frame: the
// HEADERS frame's padding and priority are not part of the block, and
// END_HEADERS ends it.
func (g *frameGuard) endFragment() {
	blk := &g.block
	if blk.first && !blk.skip {
		b := blk.buf
		if blk.flags&flagPadded != 0 {
			if len(b) == 0 || int(b[0]) >= len(b) {
				blk.skip = true // x/net's server refuses it
				return
			}
			b = b[1 : len(b)-int(b[0])]
		}
		if blk.flags&flagPriority != 0 {
			if len(b) < 5 {
				blk.skip = true
				return
			}
			b = b[5:]
		}
		blk.buf = append(blk.buf[:0], b...)
	}
	blk.first = false
	if blk.flags&flagEndHeaders != 0 {
		g.fail(g.endBlock())
	}
}

// endBlock decodes a whole header block, as the server will, and refuses
// a request with a field RFC 9113 8.2.2 forbids.
func (g *frameGuard) endBlock() error {
	blk := &g.block
	if blk.skip || g.hpack == nil {
		// Past the limits the server refuses the block, and stops
		// decoding: the two decoders may differ from then on.
		g.hpack = nil
		return nil
	}
	g.malformed = false
	_, err := g.hpack.Write(blk.buf)
	if err == nil {
		err = g.hpack.Close()
	}
	blk.buf = blk.buf[:0]
	if err != nil {
		g.hpack = nil // the server fails on it too
		return nil
	}
	if g.malformed && blk.request {
		return errProtocol
	}
	return nil
}

// emit looks at a field the decoder decoded.
func (g *frameGuard) emit(f hpack.HeaderField) {
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		g.malformed = true
	case "te":
		g.malformed = g.malformed || f.Value != "trailers"
	}
}

// take takes a token from the control-frame bucket, refilled first.
func (g *frameGuard) take() bool {
	now := time.Now()
	g.tokens = min(controlBurst, g.tokens+now.Sub(g.refilled).Seconds()*controlRate)
	g.refilled = now
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}
