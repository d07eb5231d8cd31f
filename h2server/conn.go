// Package h2server serves HTTP/2 connections (RFC 9113), h2 after ALPN and
// h2c with prior knowledge, and hands each request stream to a Handler.
//
// A connection runs three kinds of goroutine: its reader (Serve), which
// reads and checks every frame, decodes header blocks and keeps the stream
// states and flow-control windows; its writer, which writes everything
// queued since its last write in one call (frames of many streams share a
// write and a TLS record); and one handler per stream, on pooled
// workers, the streams of one read handed on from worker to worker so
// that they start together and in order (see handOn). Response headers
// are encoded without the dynamic table, so handlers encode them in
// parallel with no connection-wide encoder.
//
// It bounds what a client may make it do: streams in flight
// (MaxConcurrentStreams, REFUSED_STREAM beyond), streams reset as fast as
// they open (Rapid Reset, CVE-2023-44487), frames that cost the server
// work and the client nothing (SETTINGS, PING, PRIORITY, empty DATA and
// HEADERS), header blocks in many frames (CONTINUATION flood,
// CVE-2024-27316), decoded header lists (HPACK bomb: 431 past
// MaxHeaderListSize, the block still decoded to keep HPACK in step),
// unfinished header blocks and missing prefaces (HeaderTimeout), idle
// connections (IdleTimeout, then GOAWAY) and clients that read nothing
// (WriteTimeout).
package h2server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"l7lb/httpmsg"
)

// Handler serves one request stream; the stream is done when it returns.
type Handler interface {
	ServeH2(s *Stream)
}

// Config bounds a connection.
type Config struct {
	MaxConcurrentStreams int           // streams in flight; beyond, REFUSED_STREAM
	MaxHeaderListSize    int           // decoded header list (RFC 9113 6.5.2 sizes); beyond, 431
	IdleTimeout          time.Duration // without streams this long: GOAWAY; 0 for none
	HeaderTimeout        time.Duration // for the preface and for a header block to finish
	WriteTimeout         time.Duration // for each write to the client; 0 for none
	CountError           func()        // called when the connection is cut off for a protocol error
	Logf                 func(format string, args ...any)
}

// Bounds generous for any real client: browsers reset a few streams when a
// page is left, gRPC clients send a PING every few seconds at most, and a
// 64 KiB header list fits in a handful of frames.
const (
	MaxResets        = 100 // resets tolerated before the Rapid Reset rule applies
	controlBurst     = 200
	controlRate      = 50 // control-frame tokens per second
	maxContinuations = 32
	maxFrameSize     = 16 << 10 // the frames we read (RFC 9113's initial value, kept)
	streamWindow     = 256 << 10
	connWindow       = 1 << 20
	outCap           = 256 << 10 // queued output beyond which handlers wait
	maxWindow        = 1<<31 - 1
)

// Conn is one HTTP/2 connection.
type Conn struct {
	nc  net.Conn
	cfg Config
	h   Handler
	br  *bufio.Reader
	fr  *http2.Framer

	// Only the reader touches these.
	dec        *hpack.Decoder
	block      []byte // the header block being assembled
	blockID    uint32
	blockFlags http2.Flags // of its HEADERS frame
	blockConts int
	fields     []httpmsg.Field // decoded fields of the block
	listSize   int
	tooLarge   bool
	maxID      uint32 // highest stream id the client opened
	opened     int
	resets     int
	tokens     float64
	refilled   time.Time
	settled    bool // the client's first SETTINGS frame arrived
	handlers   sync.WaitGroup

	mu        sync.Mutex
	cond      sync.Cond // output drained, windows grown, streams ended
	out       []byte    // frames queued for the writer
	spare     []byte
	wake      chan struct{}
	streams   map[uint32]*Stream
	active    int // streams open or half closed: against MaxConcurrentStreams
	running   int // handlers running, some maybe of streams reset
	sendWin   int32
	recvWin   int32
	initWin   int32       // the client's SETTINGS_INITIAL_WINDOW_SIZE
	peerFrame int         // the client's SETTINGS_MAX_FRAME_SIZE
	goingAway bool        // GOAWAY sent: no new streams
	started   bool        // the server's SETTINGS are queued
	stopAsked atomic.Bool // Shutdown came before the start
	closing   bool        // the writer closes the connection once out is written
	dead      bool        // the connection failed or was closed
	idle      *time.Timer
	idleSince time.Time // when active last dropped to 0
	writerEnd chan struct{}

	// Streams decoded while a worker handed a stream has yet to start
	// (chaining), from queued[next]: see handOn.
	queued   []*Stream
	next     int
	chaining bool
}

// NewConn returns a connection serving nc with h; br reads nc (and may
// hold bytes already read, the preface of h2c with prior knowledge).
func NewConn(nc net.Conn, br *bufio.Reader, cfg Config, h Handler) *Conn {
	c := &Conn{nc: nc, cfg: cfg, h: h, br: br,
		streams: map[uint32]*Stream{}, sendWin: 65535, initWin: 65535, peerFrame: 16384,
		recvWin: connWindow, tokens: controlBurst, refilled: time.Now(),
		wake: make(chan struct{}, 1), writerEnd: make(chan struct{})}
	c.cond.L = &c.mu
	c.fr = http2.NewFramer(nil, br)
	c.fr.SetMaxReadFrameSize(maxFrameSize)
	c.fr.SetReuseFrames()
	c.dec = hpack.NewDecoder(4096, c.emit)
	c.dec.SetMaxStringLength(max(cfg.MaxHeaderListSize, 1))
	return c
}

// connError is a connection error: GOAWAY with its code, then close.
type connError http2.ErrCode

func (e connError) Error() string { return "h2server: connection error " + http2.ErrCode(e).String() }

// Serve serves the connection until it ends, and returns once every
// stream's handler has.
func (c *Conn) Serve() {
	go c.writer()
	err := c.serve()
	c.mu.Lock()
	if ce, ok := err.(connError); ok && !c.dead {
		if c.cfg.CountError != nil {
			c.cfg.CountError()
		}
		c.queueGoAway(http2.ErrCode(ce))
	}
	c.closeLocked()
	c.mu.Unlock()
	c.handlers.Wait()
	<-c.writerEnd
}

// Shutdown sends GOAWAY: the streams in flight complete, then the
// connection closes.
func (c *Conn) Shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		// GOAWAY comes after the streams read by then: see serve.
		c.stopAsked.Store(true)
		return
	}
	if c.goingAway || c.dead {
		return
	}
	c.queueGoAway(http2.ErrCodeNo)
	if c.active == 0 {
		c.closeLocked()
	}
}

func (c *Conn) serve() error {
	if c.cfg.HeaderTimeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.cfg.HeaderTimeout))
	}
	p, err := c.br.Peek(len(http2.ClientPreface))
	if err != nil || string(p) != http2.ClientPreface {
		return err // no GOAWAY to a client that does not speak HTTP/2
	}
	c.br.Discard(len(p))
	c.mu.Lock()
	c.out = appendSettings(c.out,
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: uint32(c.cfg.MaxConcurrentStreams)},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(c.cfg.MaxHeaderListSize)})
	c.out = appendWindowUpdate(c.out, 0, connWindow-65535)
	c.kick()
	c.startIdle()
	c.started = true
	c.mu.Unlock()
	for {
		if c.stopAsked.Load() && c.br.Buffered() == 0 {
			// Asked to stop before it started: the streams the client
			// sent by now are served, then GOAWAY.
			c.stopAsked.Store(false)
			c.Shutdown()
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			var ce http2.ConnectionError
			var se http2.StreamError
			switch {
			case errors.As(err, &ce):
				return connError(ce)
			case errors.As(err, &se):
				if se.StreamID == 0 {
					return connError(se.Code)
				}
				c.resetStream(se.StreamID, se.Code)
				continue
			case err == http2.ErrFrameTooLarge:
				return connError(http2.ErrCodeFrameSize)
			}
			return err
		}
		if err := c.process(f); err != nil {
			return err
		}
	}
}

func (c *Conn) process(f http2.Frame) error {
	if c.blockID != 0 {
		// Only CONTINUATION frames of the block may come (the framer
		// checks their order).
		if cf, ok := f.(*http2.ContinuationFrame); ok {
			return c.continuation(cf)
		}
		return connError(http2.ErrCodeProtocol)
	}
	if !c.settled {
		if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
			return connError(http2.ErrCodeProtocol) // RFC 9113 3.4: SETTINGS first
		}
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.settings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if !c.take() {
			return connError(http2.ErrCodeEnhanceYourCalm)
		}
		c.mu.Lock()
		c.out = appendFrameHeader(c.out, 8, http2.FramePing, http2.FlagPingAck, 0)
		c.out = append(c.out, f.Data[:]...)
		c.kick()
		c.mu.Unlock()
	case *http2.HeadersFrame:
		return c.headers(f)
	case *http2.ContinuationFrame:
		return connError(http2.ErrCodeProtocol)
	case *http2.DataFrame:
		return c.data(f)
	case *http2.WindowUpdateFrame:
		return c.windowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.rstStream(f)
	case *http2.PriorityFrame:
		if !c.take() {
			return connError(http2.ErrCodeEnhanceYourCalm)
		}
		if f.StreamDep == f.StreamID {
			c.resetStream(f.StreamID, http2.ErrCodeProtocol)
		}
	case *http2.GoAwayFrame:
		c.Shutdown()
	case *http2.PushPromiseFrame:
		return connError(http2.ErrCodeProtocol)
	}
	return nil
}

// take takes a token from the control-frame bucket, refilled first.
func (c *Conn) take() bool {
	now := time.Now()
	c.tokens = min(controlBurst, c.tokens+now.Sub(c.refilled).Seconds()*controlRate)
	c.refilled = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *Conn) settings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if c.settled && !c.take() {
		return connError(http2.ErrCodeEnhanceYourCalm)
	}
	if !c.settled {
		c.settled = true
		c.nc.SetReadDeadline(time.Time{})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - int64(c.initWin)
			for _, st := range c.streams {
				w := int64(st.sendWin) + delta
				if w > maxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
				st.sendWin = int32(w)
			}
			c.initWin = int32(s.Val)
		case http2.SettingMaxFrameSize:
			c.peerFrame = int(s.Val)
		}
		return nil
	})
	if err != nil {
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			return connError(ce)
		}
		return connError(http2.ErrCodeProtocol)
	}
	c.out = appendFrameHeader(c.out, 0, http2.FrameSettings, http2.FlagSettingsAck, 0)
	c.kick()
	c.cond.Broadcast()
	return nil
}

func (c *Conn) windowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID == 0 {
		if int64(c.sendWin)+int64(f.Increment) > maxWindow {
			return connError(http2.ErrCodeFlowControl)
		}
		c.sendWin += int32(f.Increment)
		c.cond.Broadcast()
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxID {
			return connError(http2.ErrCodeProtocol) // an idle stream
		}
		return nil
	}
	if int64(st.sendWin)+int64(f.Increment) > maxWindow {
		c.resetLocked(st, http2.ErrCodeFlowControl)
		return nil
	}
	st.sendWin += int32(f.Increment)
	c.cond.Broadcast()
	return nil
}

func (c *Conn) rstStream(f *http2.RSTStreamFrame) error {
	if f.StreamID > c.maxID {
		return connError(http2.ErrCodeProtocol) // an idle stream
	}
	// Rapid Reset: a client may cancel many streams, as long as it lets
	// more of them finish.
	c.resets++
	if c.resets > MaxResets && 2*c.resets > c.opened {
		return connError(http2.ErrCodeEnhanceYourCalm)
	}
	c.mu.Lock()
	if st := c.streams[f.StreamID]; st != nil {
		c.endStream(st, errReset)
	}
	c.mu.Unlock()
	return nil
}

// resetStream sends RST_STREAM for id and ends the stream if it is open.
func (c *Conn) resetStream(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		c.resetLocked(st, code)
	} else {
		c.out = appendRST(c.out, id, code)
		c.kick()
	}
	c.mu.Unlock()
}

func (c *Conn) resetLocked(st *Stream, code http2.ErrCode) {
	c.out = appendRST(c.out, st.id, code)
	c.kick()
	c.endStream(st, errReset)
}

func (c *Conn) data(f *http2.DataFrame) error {
	n := int32(f.Length)
	c.mu.Lock()
	if n > c.recvWin {
		c.mu.Unlock()
		return connError(http2.ErrCodeFlowControl)
	}
	c.recvWin -= n
	st := c.streams[f.StreamID]
	c.mu.Unlock()
	if st == nil || st.remoteDone() {
		if f.StreamID > c.maxID {
			return connError(http2.ErrCodeProtocol) // an idle stream
		}
		c.refund(0, n)
		c.resetStream(f.StreamID, http2.ErrCodeStreamClosed)
		return nil
	}
	if len(f.Data()) == 0 && !f.StreamEnded() && !c.take() {
		return connError(http2.ErrCodeEnhanceYourCalm)
	}
	code := st.receive(f.Data(), n, f.StreamEnded())
	if pad := n - int32(len(f.Data())); pad > 0 {
		c.refund(st.id, pad)
	}
	if code != 0 {
		c.resetStream(st.id, code)
	}
	return nil
}

// refund gives the client back n bytes of window, of the connection and
// of stream id (0 for none).
func (c *Conn) refund(id uint32, n int32) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	c.recvWin += n
	c.out = appendWindowUpdate(c.out, 0, uint32(n))
	if id != 0 {
		c.out = appendWindowUpdate(c.out, id, uint32(n))
	}
	c.kick()
	c.mu.Unlock()
}

func (c *Conn) headers(f *http2.HeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return connError(http2.ErrCodeProtocol)
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		// Decoded all the same, to keep HPACK in step, then refused.
		defer c.resetStream(id, http2.ErrCodeProtocol)
	}
	if len(f.HeaderBlockFragment()) == 0 && !f.StreamEnded() && !c.take() {
		return connError(http2.ErrCodeEnhanceYourCalm)
	}
	c.blockID, c.blockFlags, c.blockConts = id, f.Flags, 0
	c.block = append(c.block[:0], f.HeaderBlockFragment()...)
	if !f.HeadersEnded() {
		if c.cfg.HeaderTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.cfg.HeaderTimeout))
		}
		return nil
	}
	return c.endBlock()
}

func (c *Conn) continuation(f *http2.ContinuationFrame) error {
	if c.blockConts++; c.blockConts > maxContinuations {
		return connError(http2.ErrCodeEnhanceYourCalm)
	}
	if len(c.block)+len(f.HeaderBlockFragment()) > 2*c.cfg.MaxHeaderListSize+maxFrameSize {
		return connError(http2.ErrCodeProtocol) // more than any list we would decode
	}
	c.block = append(c.block, f.HeaderBlockFragment()...)
	if !f.HeadersEnded() {
		return nil
	}
	if c.cfg.HeaderTimeout > 0 {
		c.nc.SetReadDeadline(time.Time{})
	}
	return c.endBlock()
}

// emit takes a decoded field, within the header list limit.
func (c *Conn) emit(f hpack.HeaderField) {
	if c.listSize += len(f.Name) + len(f.Value) + 32; c.listSize > c.cfg.MaxHeaderListSize {
		c.tooLarge = true
		c.dec.SetEmitEnabled(false) // decoding goes on: the table stays in step
		return
	}
	c.fields = append(c.fields, httpmsg.Field{Name: f.Name, Value: f.Value})
}

// endBlock decodes the header block at hand and opens a stream with it, or
// ends one with its trailers.
func (c *Conn) endBlock() error {
	id, flags := c.blockID, c.blockFlags
	c.blockID = 0
	// A request's fields go into its stream's own room; trailers, rare,
	// into a slice of their own.
	var fresh *Stream
	c.fields = nil
	if id > c.maxID {
		fresh = &Stream{c: c, id: id}
		c.fields = fresh.fieldBuf[:0]
	}
	c.listSize, c.tooLarge = 0, false
	c.dec.SetEmitEnabled(true)
	_, err := c.dec.Write(c.block)
	if err == nil {
		err = c.dec.Close()
	}
	c.block = c.block[:0]
	if err != nil {
		return connError(http2.ErrCodeCompression)
	}
	end := flags.Has(http2.FlagHeadersEndStream)
	c.mu.Lock()
	st := c.streams[id]
	c.mu.Unlock()
	if id <= c.maxID {
		if st == nil {
			return connError(http2.ErrCodeStreamClosed)
		}
		if st.remoteDone() {
			c.resetStream(id, http2.ErrCodeStreamClosed)
			return nil
		}
		// Trailers: they end the stream and carry no pseudo-fields.
		if !end {
			c.resetStream(id, http2.ErrCodeProtocol)
			return nil
		}
		for _, f := range c.fields {
			if len(f.Name) > 0 && f.Name[0] == ':' || !validField(f) {
				c.resetStream(id, http2.ErrCodeProtocol)
				return nil
			}
		}
		if code := st.receiveTrailers(c.fields); code != 0 {
			c.resetStream(id, code)
		}
		return nil
	}
	c.maxID = id
	c.opened++
	st = fresh
	st.cond.L = &st.mu
	code, cerr := st.readRequest(c.fields, end)
	if cerr != nil {
		return cerr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goingAway || c.closing {
		// Above the GOAWAY's last stream, or the connection is closing
		// (its writer may have failed while the reader had frames
		// buffered): no handler would ever be cancelled.
		return nil
	}
	// Handlers of reset streams run on until they notice: they are
	// bounded too (the Rapid Reset rule bounds how often that happens).
	if c.active >= c.cfg.MaxConcurrentStreams || c.running >= 4*c.cfg.MaxConcurrentStreams {
		code = http2.ErrCodeRefusedStream
	}
	if code != 0 {
		// A stream refused costs as much as one the client resets, and
		// counts the same (a client must keep to the announced limit).
		c.resets++
		if c.resets > MaxResets && 2*c.resets > c.opened {
			return connError(http2.ErrCodeEnhanceYourCalm)
		}
		c.out = appendRST(c.out, id, code)
		c.kick()
		return nil
	}
	st.sendWin = c.initWin
	st.recvWin = streamWindow
	c.streams[id] = st
	c.active++
	c.running++
	c.handlers.Add(1)
	if c.chaining {
		c.queued = append(c.queued, st)
		return nil
	}
	c.chaining = true
	dispatch(st)
	return nil
}

func dispatch(st *Stream) {
	select {
	case idleWorkers <- st:
	default:
		go worker(st)
	}
}

// handOn, the first thing a worker does, gives the next stream decoded to
// a worker, or ends the chain. A goroutine woken by another runs right
// after it (the scheduler's runnext slot) and pushes the one woken before
// to the back of the run queue: handed out by the reader, the last stream
// of a read started at once and the others only after everything already
// runnable, so the answers to one client write left in several writes
// and the client's next requests came split the same way (5.4 responses
// per write under h2load -c 50 -m 10, against HAProxy's 7.3). Handed on
// by each other, the streams of a read start one after another.
func (c *Conn) handOn() {
	c.mu.Lock()
	if c.next == len(c.queued) {
		c.queued, c.next = c.queued[:0], 0
		c.chaining = false
		c.mu.Unlock()
		return
	}
	st := c.queued[c.next]
	c.queued[c.next] = nil
	c.next++
	c.mu.Unlock()
	dispatch(st)
}

// Handlers run on pooled goroutines, shared by every connection: a new
// goroutine per stream grows its stack through the proxy's calls each
// time (runtime.morestack was 8% of the CPU under h2load); a worker's
// stack stays grown. At most maxIdleWorkers wait for work; the rest end.
var (
	idleWorkers = make(chan *Stream)
	nIdle       atomic.Int32
)

const maxIdleWorkers = 256

func worker(st *Stream) {
	for {
		st.c.run(st)
		st = nil // an idle worker holds no connection
		if nIdle.Add(1) > maxIdleWorkers {
			nIdle.Add(-1)
			return
		}
		st = <-idleWorkers
		nIdle.Add(-1)
	}
}

func (c *Conn) run(st *Stream) {
	c.handOn()
	defer c.handlers.Done()
	defer st.handlerDone()
	if c.cfg.Logf != nil {
		defer func() {
			if v := recover(); v != nil {
				buf := make([]byte, 8<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.cfg.Logf("h2server: panic serving stream %d: %v\n%s", st.id, v, buf)
			}
		}()
	}
	c.h.ServeH2(st)
}

// endStream closes st with err (nil once both sides ended normally): its
// context is cancelled, its reader and writer woken, and it leaves the
// table. Called with c.mu held.
func (c *Conn) endStream(st *Stream, err error) {
	st.cancel(err)
	st.gone = true
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
		c.release()
	}
	c.cond.Broadcast()
}

// release ends one stream counted in active.
func (c *Conn) release() {
	c.active--
	c.cond.Broadcast()
	if c.active == 0 {
		if c.goingAway {
			c.closeLocked()
		} else {
			c.idleSince = time.Now()
		}
	}
}

// startIdle starts the idle timer, which runs for the connection's life:
// streams coming and going only note the time (a timer update per stream
// would cost more than the stream's own work).
func (c *Conn) startIdle() {
	if c.cfg.IdleTimeout > 0 {
		c.idleSince = time.Now()
		c.idle = time.AfterFunc(c.cfg.IdleTimeout, c.checkIdle)
	}
}

// checkIdle sends GOAWAY when the connection has had no stream for
// IdleTimeout, else looks again when it could have.
func (c *Conn) checkIdle() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	next := c.cfg.IdleTimeout
	if c.active == 0 {
		idle := time.Since(c.idleSince)
		if idle >= next {
			c.mu.Unlock()
			c.Shutdown()
			return
		}
		next -= idle
	}
	c.idle.Reset(next)
	c.mu.Unlock()
}

func (c *Conn) stopIdle() {
	if c.idle != nil {
		c.idle.Stop()
	}
}

func (c *Conn) queueGoAway(code http2.ErrCode) {
	c.goingAway = true
	c.out = appendFrameHeader(c.out, 8, http2.FrameGoAway, 0, 0)
	c.out = binary.BigEndian.AppendUint32(c.out, c.maxID)
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(code))
	c.kick()
}

// closeLocked makes the writer close the connection once what is queued
// is written; every stream is cancelled.
func (c *Conn) closeLocked() {
	if c.closing {
		return
	}
	c.closing = true
	c.stopIdle()
	for _, st := range c.streams {
		c.endStream(st, errConnClosed)
	}
	c.cond.Broadcast()
	c.kick()
}

// kick wakes the writer. Called with c.mu held.
func (c *Conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writer writes what is queued, all of it in one call, until the
// connection closes.
func (c *Conn) writer() {
	defer close(c.writerEnd)
	var deadline time.Time
	for range c.wake {
		// Let the handlers that are ready queue their frames first: under
		// load many responses share a write; with none ready it returns
		// at once.
		runtime.Gosched()
		c.mu.Lock()
		buf := c.out
		c.out = c.spare[:0]
		closing := c.closing
		c.mu.Unlock()
		var err error
		if len(buf) > 0 {
			if t := c.cfg.WriteTimeout; t > 0 {
				// Moved only when it would move by more than 1/64 of
				// the timeout: a timer update per write costs.
				if at := time.Now().Add(t); at.Sub(deadline) > t/64 {
					deadline = at
					c.nc.SetWriteDeadline(at)
				}
			}
			_, err = c.nc.Write(buf)
		}
		c.mu.Lock()
		if cap(buf) <= outCap*2 {
			c.spare = buf[:0]
		}
		if err != nil {
			c.dead = true
			c.closeLocked()
		}
		done := c.dead || closing && len(c.out) == 0
		c.cond.Broadcast()
		if done {
			c.dead = true
			c.mu.Unlock()
			c.nc.Close()
			return
		}
		if len(c.out) > 0 {
			c.kick()
		}
		c.mu.Unlock()
	}
}

// Frame appenders: the writer's output is built in place.

func appendFrameHeader(b []byte, n int, t http2.FrameType, flags http2.Flags, id uint32) []byte {
	return append(b, byte(n>>16), byte(n>>8), byte(n), byte(t), byte(flags), byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

func appendSettings(b []byte, ss ...http2.Setting) []byte {
	b = appendFrameHeader(b, 6*len(ss), http2.FrameSettings, 0, 0)
	for _, s := range ss {
		b = binary.BigEndian.AppendUint16(b, uint16(s.ID))
		b = binary.BigEndian.AppendUint32(b, s.Val)
	}
	return b
}

func appendWindowUpdate(b []byte, id, n uint32) []byte {
	b = appendFrameHeader(b, 4, http2.FrameWindowUpdate, 0, id)
	return binary.BigEndian.AppendUint32(b, n)
}

func appendRST(b []byte, id uint32, code http2.ErrCode) []byte {
	b = appendFrameHeader(b, 4, http2.FrameRSTStream, 0, id)
	return binary.BigEndian.AppendUint32(b, uint32(code))
}

var (
	errReset      = errors.New("h2server: stream reset")
	errConnClosed = errors.New("h2server: connection closed")
	errClosed     = io.ErrClosedPipe
)
