// Package maelstrom runs a node of a Maelstrom network: it reads messages
// from an input stream, dispatches requests to handlers and writes replies,
// following the l7lb protocol (docs/protocol.md, "Framing" and "Bad input").
//
// A Node handles messages one at a time, in the order they arrive, on the
// goroutine that calls [Node.Run]: handlers need no locking and replies
// come out in request order. A face may look at the requests buffered
// behind the one being handled ([Node.Ahead]), to start slow work such as
// memory loads early; that changes nothing else. Reading, dispatching and replying through
// [Node.ReplyFields] allocate nothing per message once the node is warm.
//
// Bad input never stops the node: a message that is not valid JSON or lacks
// its body or type is logged and, when its src and msg_id can be recovered,
// answered with error 12; an unknown type is answered with error 10; a
// message that is itself a reply is never answered.
package maelstrom

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"l7lb/jsonx"
)

// A Message is a message received by the node.
//
// Its strings and slices alias the node's read buffer: they are valid only
// while the handler runs. A handler that keeps any of them must copy it
// (strings.Clone, bytes.Clone).
type Message struct {
	Src, Dest string // the envelope's src and dest
	Type      string // body.type
	MsgID     []byte // body.msg_id as written (`1e2`, `"a"`), nil when absent
	Body      []byte // the raw body object, to read with jsonx.ObjectEach
	// Members are the body's members in order, as the node read them to
	// find the type, each followed by the members of its value when that is
	// an object (see [jsonx.IndexObject]): a handler can walk them instead
	// of scanning Body again, stepping with [jsonx.Next].
	Members []Member
}

// A Member is one member of a message body. Its key and value are valid only
// while the handler runs.
type Member = jsonx.Member

// A HandlerFunc handles one request. It either replies (or deliberately does
// not) and returns nil, or returns an error without replying, which the node
// turns into an error reply: an [*RPCError] (possibly wrapped) gives its code
// and text, any other error code 13 (crash) with the error's text. A panic
// is recovered and answered like an error with code 13.
type HandlerFunc func(msg *Message) error

// Fields writes the members of a reply body after the type, in_reply_to and
// msg_id written by the node: `,"key":value` for each, a comma before each,
// keys in byte-wise ascending order. It is the allocation-free way to write a
// reply: pass a pointer to a value reused from one message to the next.
type Fields = jsonx.Fields

// bufSize is the initial size of the read buffer and the amount of output
// at which send flushes. The read buffer grows to hold the longest message
// and shrinks back once that message is consumed.
const bufSize = 64 << 10

// A Node is a Maelstrom node. Create one with [NewNode], register handlers
// with [Node.Handle], then call [Node.Run].
//
// Handle must be called before Run. Reply, ReplyFields and Send are meant
// to be called by handlers, on Run's goroutine. ID and NodeIDs are safe to
// call from any goroutine, and so is Logf if the log writer is.
type Node struct {
	in   io.Reader
	w    io.Writer
	out  []byte // output not yet written to w
	logw io.Writer

	handlers map[string]*handler
	last     *handler                 // the handler dispatched last: most messages repeat its type
	ident    atomic.Pointer[identity] // nil until the first init
	msgID    []byte                   // the next msg_id, in decimal

	// The input: buf[start:lim] is the text being parsed, whole lines taken
	// from buf[:fill]; buf[lim:scanned] is known to hold no newline.
	buf                       []byte
	start, lim, scanned, fill int
	eof                       bool

	msg Message // the message being handled
	// queue holds the messages split and not yet handled, queued of them
	// from first on: one, or with look-ahead up to len(queue)-1 behind
	// the one being handled.
	queue         []queued
	first, queued int
	ahead         []ahead     // the look-ahead functions, by type
	aheadMsg      Message     // the message shown to one
	head          head        // the start of the last message sent
	errf          errorFields // the body of the error reply being built
	err           error       // the first write error; Run returns it
}

// identity is what init sets, replaced as a whole so that ID and NodeIDs can
// read it from any goroutine.
type identity struct {
	id  string
	ids []string
}

// NewNode returns a node that reads messages from in, writes messages to
// out and logs to logw. out is buffered by the node; logw is written once
// per log line, and may be nil to discard logs. Logs never go to out.
func NewNode(in io.Reader, out io.Writer, logw io.Writer) *Node {
	if logw == nil {
		logw = io.Discard
	}
	n := &Node{
		in:       in,
		w:        out,
		out:      make([]byte, 0, outSize),
		msgID:    append(make([]byte, 0, 20), '0'), // 20 digits hold any uint64
		logw:     logw,
		handlers: make(map[string]*handler),
		buf:      make([]byte, bufSize),
		queue:    make([]queued, 1),
	}
	return n
}

// Handle registers fn for messages of type typ. The node answers init
// itself; a handler registered for "init" runs after the node has stored
// node_id and node_ids and before init_ok is sent, and its error is sent
// instead of init_ok.
//
// Handle panics if fn is nil, if typ already has a handler, or if typ is
// a reply type ("error" or ending in "_ok"), which is never dispatched.
func (n *Node) Handle(typ string, fn HandlerFunc) {
	switch _, dup := n.handlers[typ]; {
	case fn == nil:
		panic("maelstrom: nil handler for " + typ)
	case isReplyType(typ):
		panic("maelstrom: " + typ + " is a reply type, never dispatched")
	case dup:
		panic("maelstrom: multiple handlers for " + typ)
	}
	n.handlers[typ] = &handler{typ: typ, fn: fn}
}

// An AheadFunc looks at a message that the node will handle after at most
// the depth given to [Node.Ahead] others. It must change nothing that a
// handler can see: it is only a chance to start slow work early, like
// fetching memory into the cache. The message's strings and slices stay
// valid until it is handled, its Message only during the call.
type AheadFunc func(msg *Message)

// Ahead registers fn to look at messages of type typ before they are
// handled: when complete messages are buffered behind the one it is about
// to handle, the node splits up to depth of them ahead of it, and calls fn
// once for each of type typ, in input order. With input that comes in
// large chunks, a message meets fn depth messages before its turn; when
// the input trickles in, later or never. Replies, logs and their order are
// as without it.
//
// Ahead must be called before Run; it panics if fn is nil, if typ already
// has a look-ahead function, or if depth is below 1.
func (n *Node) Ahead(typ string, depth int, fn AheadFunc) {
	switch {
	case fn == nil:
		panic("maelstrom: nil look-ahead function for " + typ)
	case depth < 1:
		panic("maelstrom: look-ahead depth below 1 for " + typ)
	case isReplyType(typ) || typ == "init":
		panic("maelstrom: " + typ + " is not a request type with a handler")
	case slices.ContainsFunc(n.ahead, func(a ahead) bool { return a.typ == typ }):
		panic("maelstrom: multiple look-ahead functions for " + typ)
	}
	n.ahead = append(n.ahead, ahead{typ: typ, fn: fn})
	if depth+1 > len(n.queue) {
		n.queue = make([]queued, depth+1)
	}
}

// ahead is a registered look-ahead function and its type.
type ahead struct {
	typ string
	fn  AheadFunc
}

// handler is a registered handler and its type.
type handler struct {
	typ string
	fn  HandlerFunc
}

func isReplyType(typ string) bool {
	return typ == "error" || strings.HasSuffix(typ, "_ok")
}

// ID returns the node's id, set by init, or "" before init.
func (n *Node) ID() string {
	if id := n.ident.Load(); id != nil {
		return id.id
	}
	return ""
}

// NodeIDs returns a copy of the ids of all nodes, as listed by the last
// init, or nil before init.
func (n *Node) NodeIDs() []string {
	if id := n.ident.Load(); id != nil {
		return slices.Clone(id.ids)
	}
	return nil
}

// Logf writes a log line to the node's log writer (never to its output).
func (n *Node) Logf(format string, args ...any) {
	b := fmt.Appendf(nil, format, args...)
	if len(b) == 0 || b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	// A log that cannot be written is no reason to stop serving.
	n.logw.Write(b)
}

// ReplyFields sends a reply of type typ to msg, with the body members that
// f writes. It is the allocation-free path: f is best a pointer to a value
// that the handler reuses. The reply goes to msg.Src; its in_reply_to is
// msg.MsgID as written (left out when nil; an object or list msg_id loses
// its whitespace, to keep the reply on one line) and its msg_id the node's
// next one.
func (n *Node) ReplyFields(msg *Message, typ string, f Fields) error {
	if msg.Src == "" {
		return errors.New("maelstrom: cannot reply to a message without src")
	}
	// Before init the node has no id of its own: it answers as whoever the
	// request was addressed to.
	src := msg.Dest
	if id := n.ident.Load(); id != nil {
		src = id.id
	}
	return n.send(src, msg.Src, typ, msg.MsgID, f)
}

// Reply sends a reply of type typ to msg, with fields as the other body
// members (see jsonx.AppendValue for the types allowed); their keys are
// written in byte-wise order. fields must not hold type, in_reply_to or
// msg_id, which the node writes.
func (n *Node) Reply(msg *Message, typ string, fields map[string]any) error {
	f, err := encodeFields(fields)
	if err != nil {
		return err
	}
	return n.ReplyFields(msg, typ, f)
}

// Send sends a message of type typ to dest, not in reply to anything, with
// fields as for [Node.Reply]. The node must have received init.
func (n *Node) Send(dest, typ string, fields map[string]any) error {
	id := n.ident.Load()
	if id == nil {
		return errors.New("maelstrom: cannot send before init: the node has no id")
	}
	f, err := encodeFields(fields)
	if err != nil {
		return err
	}
	return n.send(id.id, dest, typ, nil, f)
}

// rawFields is Fields output encoded in advance.
type rawFields []byte

func (r rawFields) AppendFields(b []byte) []byte { return append(b, r...) }

// encodeFields encodes a map of body members as Fields output.
func encodeFields(fields map[string]any) (rawFields, error) {
	for _, k := range [...]string{"type", "in_reply_to", "msg_id"} {
		if _, ok := fields[k]; ok {
			return nil, fmt.Errorf("maelstrom: body field %q is written by the node", k)
		}
	}
	if len(fields) == 0 {
		return nil, nil
	}
	b, err := jsonx.AppendValue(nil, fields)
	if err != nil {
		return nil, err
	}
	// {"a":1,"b":2} becomes ,"a":1,"b":2
	b[0] = ','
	return b[:len(b)-1], nil
}

// noFields is a body with nothing but type, in_reply_to and msg_id.
type noFields struct{}

func (noFields) AppendFields(b []byte) []byte { return b }

// errorFields is the body of an error reply.
type errorFields struct {
	code int
	text string
}

func (e *errorFields) AppendFields(b []byte) []byte {
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(e.code), 10)
	b = append(b, `,"text":`...)
	return jsonx.AppendString(b, e.text)
}

// send writes one message. Its body starts with type, then in_reply_to
// when inReplyTo is not nil, then msg_id, then f's members.
func (n *Node) send(src, dest, typ string, inReplyTo []byte, f Fields) error {
	if n.err != nil {
		return n.err
	}
	b := n.appendHead(n.out, src, dest, typ)
	if inReplyTo != nil {
		// The token as written, but a msg_id that is an object or list
		// spanning lines must not split the reply over lines.
		b = append(b, `,"in_reply_to":`...)
		b = jsonx.AppendCompact(b, inReplyTo)
	}
	b = append(b, `,"msg_id":`...)
	b = append(b, n.msgID...)
	b = f.AppendFields(b)
	n.out = append(b, "}}\n"...)
	n.msgID = increment(n.msgID)
	if len(n.out) >= bufSize {
		return n.flush()
	}
	return nil
}

// flush writes the buffered output. A write error sticks: Run returns it.
func (n *Node) flush() error {
	if n.err != nil || len(n.out) == 0 {
		return n.err
	}
	_, n.err = n.w.Write(n.out)
	n.out = n.out[:0]
	if cap(n.out) > 2*outSize {
		n.out = make([]byte, 0, outSize) // one huge reply does not hold its memory
	}
	return n.err
}

// outSize is the capacity of the output buffer: send flushes once bufSize
// bytes are buffered, and a usual line fits in the rest without growing it.
const outSize = bufSize + 4<<10

// appendHead appends the start of a message up to its type,
// `{"src":...,"dest":...,"body":{"type":...`, remembering the last one
// encoded: a node sends the same few of them over and over.
func (n *Node) appendHead(b []byte, src, dest, typ string) []byte {
	h := &n.head
	if string(h.src) != src || string(h.dest) != dest || string(h.typ) != typ {
		// Copies, since the strings may alias the input buffer.
		h.src = append(h.src[:0], src...)
		h.dest = append(h.dest[:0], dest...)
		h.typ = append(h.typ[:0], typ...)
		e := append(h.encoded[:0], `{"src":`...)
		e = jsonx.AppendString(e, src)
		e = append(e, `,"dest":`...)
		e = jsonx.AppendString(e, dest)
		e = append(e, `,"body":{"type":`...)
		h.encoded = jsonx.AppendString(e, typ)
	}
	return append(b, h.encoded...)
}

// head is the start of the message the node sent last, encoded.
type head struct {
	src, dest, typ []byte
	encoded        []byte
}

// increment adds one to the decimal number d in place.
func increment(d []byte) []byte {
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] != '9' {
			d[i]++
			return d
		}
		d[i] = '0'
	}
	d = append(d, '0') // a carry out of every digit: 99 becomes 100
	d[0] = '1'
	return d
}

// dispatch runs the handler for a request that can be answered.
func (n *Node) dispatch(m *Message) {
	var err error
	if m.Type == "init" {
		err = n.handleInit(m)
	} else if h := n.handler(m.Type); h != nil {
		err = n.call(h.fn, m)
	} else {
		err = NewRPCError(NotSupported, "unsupported message type: "+m.Type)
	}
	// After a write error there is nobody to tell: Run returns it.
	if err != nil && n.err == nil {
		n.replyError(m, err)
	}
}

// handler returns the handler for typ, or nil.
func (n *Node) handler(typ string) *handler {
	if h := n.last; h != nil && h.typ == typ {
		return h
	}
	h := n.handlers[typ]
	if h != nil {
		n.last = h
	}
	return h
}

// call runs h, turning a panic into a crash error: one bad request must not
// take the node down.
func (n *Node) call(h HandlerFunc, m *Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			n.Logf("panic handling %s from %s: %v\n%s", m.Type, m.Src, p, debug.Stack())
			err = NewRPCError(Crash, fmt.Sprint("panic: ", p))
		}
	}()
	return h(m)
}

// replyError answers m with the error reply for err.
func (n *Node) replyError(m *Message, err error) {
	var re *RPCError
	if errors.As(err, &re) {
		n.errf = errorFields{code: re.Code, text: re.Text}
	} else {
		n.errf = errorFields{code: Crash, text: err.Error()}
	}
	// A write error is kept in n.err, which Run returns.
	_ = n.ReplyFields(m, "error", &n.errf)
}

// handleInit stores node_id and node_ids, runs the init handler if any, and
// answers init_ok.
func (n *Node) handleInit(m *Message) error {
	var idRaw, idsRaw []byte
	// Body is a valid object: ObjectEach cannot fail.
	_ = jsonx.ObjectEach(m.Body, func(k, v []byte) error {
		switch string(k) {
		case "node_id":
			idRaw = v
		case "node_ids":
			idsRaw = v
		}
		return nil
	})
	id := stringValue(idRaw)
	if id == "" {
		return NewRPCError(MalformedRequest, "node_id: expected a non-empty string")
	}
	if jsonx.KindOf(idsRaw) != jsonx.Array {
		return NewRPCError(MalformedRequest, "node_ids: expected a list of strings")
	}
	ids := []string{}
	err := jsonx.ArrayEach(idsRaw, func(i int, v []byte) error {
		if jsonx.KindOf(v) != jsonx.String {
			return NewRPCError(MalformedRequest, "node_ids["+strconv.Itoa(i)+"]: expected a string")
		}
		ids = append(ids, strings.Clone(stringValue(v)))
		return nil
	})
	if err != nil {
		return err
	}
	n.ident.Store(&identity{id: strings.Clone(id), ids: ids})
	if h, ok := n.handlers["init"]; ok {
		if err := n.call(h.fn, m); err != nil {
			return err
		}
	}
	return n.ReplyFields(m, "init_ok", noFields{})
}

// stringValue returns the value of raw when it is a JSON string, else "".
// The result may alias raw.
func stringValue(raw []byte) string {
	if jsonx.KindOf(raw) != jsonx.String {
		return ""
	}
	return jsonx.ValidString(raw)
}
