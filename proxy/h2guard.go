package proxy

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// frameGuard watches the frames a client sends on an HTTP/2 connection
// before golang.org/x/net/http2's server reads them, and cuts off a
// client that abuses the protocol in ways that server lets pass. It reads
// only the 9-byte frame headers (and never decodes HPACK), so it costs a
// few comparisons per frame.
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
//   - Floods of frames that cost the server work and the client nothing:
//     SETTINGS, PING, PRIORITY, RST_STREAM, WINDOW_UPDATE on the
//     connection, and empty DATA or CONTINUATION frames. Each takes a
//     token from a bucket of controlBurst tokens refilled at controlRate
//     per second; an empty bucket closes the connection, as above.
//   - A CONTINUATION flood (CVE-2024-27316) of frames that carry little:
//     a header block may span at most maxContinuations frames.
//   - A header block left unfinished: from a HEADERS frame without
//     END_HEADERS to its last CONTINUATION the read deadline is the
//     read-header timeout, as for an HTTP/1.1 head (slowloris), and so is
//     the time to the client's preface and first SETTINGS frame.
//
// The error it returns from Read is an http2.ConnectionError, which x/net's
// server answers with GOAWAY of that code before it closes the connection.
type frameGuard struct {
	net.Conn
	headerTimeout time.Duration
	count         func() // counts a connection cut off

	// Read side: only the server's reading goroutine touches these.
	prefaceLeft int           // bytes of the client preface still to come
	hdr         [9]byte       // the frame header being read
	hdrLen      int           // of hdr read so far
	payloadLeft uint32        // bytes of the current frame's payload still to come
	err         error         // the error Read returns from now on
	settingsIn  bool          // the client's first SETTINGS frame was read
	inHeaders   bool          // a header block is open (no END_HEADERS yet)
	conts       int           // CONTINUATION frames of the open header block
	opened      int           // streams the client opened
	resets      int           // streams the client reset
	tokens      float64       // the control-frame bucket
	refilled    time.Time     // when tokens was last refilled
	deadline    bool          // a header-block deadline is set
	lastStream  uint32        // the highest stream id the client opened
	_           [0]sync.Mutex // not to be copied
}

// Bounds of frameGuard, generous for any real client: browsers reset a few
// streams when a page is left, gRPC clients send a PING every few seconds
// at most, and a 64 KiB header list fits in a handful of frames.
const (
	maxResets        = 100
	controlBurst     = 200
	controlRate      = 50 // tokens per second
	maxContinuations = 32
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
)

func newFrameGuard(c net.Conn, headerTimeout time.Duration, count func()) net.Conn {
	g := &frameGuard{Conn: c, headerTimeout: headerTimeout, count: count, prefaceLeft: len(preface), tokens: controlBurst, refilled: time.Now()}
	c.SetReadDeadline(time.Now().Add(headerTimeout))
	if tc, ok := c.(*tls.Conn); ok {
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
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.Conn.Read(p)
	if verr := g.scan(p[:n]); verr != nil {
		g.err = verr
		g.count()
		// The bytes of the frame that tripped the guard are returned;
		// the error comes with the next Read, at the latest when the
		// server has read that frame.
	}
	return n, err
}

// scan follows the frame boundaries through b, the next bytes read.
func (g *frameGuard) scan(b []byte) error {
	if g.prefaceLeft > 0 {
		k := min(g.prefaceLeft, len(b))
		g.prefaceLeft -= k
		b = b[k:]
	}
	for len(b) > 0 {
		if g.payloadLeft > 0 {
			k := min(g.payloadLeft, uint32(len(b)))
			g.payloadLeft -= k
			b = b[k:]
			continue
		}
		k := copy(g.hdr[g.hdrLen:], b)
		g.hdrLen += k
		b = b[k:]
		if g.hdrLen < len(g.hdr) {
			return nil
		}
		g.hdrLen = 0
		length := uint32(g.hdr[0])<<16 | uint32(g.hdr[1])<<8 | uint32(g.hdr[2])
		g.payloadLeft = length
		if err := g.frame(g.hdr[3], g.hdr[4], binary.BigEndian.Uint32(g.hdr[5:])&(1<<31-1), length); err != nil {
			return err
		}
	}
	return nil
}

var errCalm = http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)

// frame looks at the header of a frame the client sent.
func (g *frameGuard) frame(typ, flags byte, stream, length uint32) error {
	control := false
	switch typ {
	case frameHeaders:
		if stream > g.lastStream && stream%2 == 1 {
			g.lastStream = stream
			g.opened++
		}
		g.inHeaders, g.conts = flags&flagEndHeaders == 0, 0
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
		if flags&flagEndHeaders != 0 {
			g.inHeaders = false
		}
		control = length == 0 && g.inHeaders
	case frameData:
		control = length == 0 && flags&flagEndStream == 0
	case frameRSTStream:
		g.resets++
		if g.resets > maxResets && 2*g.resets > g.opened {
			return errCalm
		}
		control = true
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
	case frameWindowUpdate:
		control = stream == 0
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
