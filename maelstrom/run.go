package maelstrom

import (
	"bytes"
	"io"

	"l7lb/jsonx"
)

// Run reads and handles messages until the end of the input, then flushes
// the output and returns nil. It returns early only on an error reading the
// input or writing the output; bad input is logged (and answered when it
// can be) and skipped.
//
// Input is read line by line. Lines that are blank are skipped; a line may
// hold several messages, and a message may span several lines: while the
// text taken so far is an unfinished JSON value, the next line is appended.
// When the text turns out to be invalid, it is reported as one malformed
// message and reading resumes at the line after the one where that message
// began, so a broken line never swallows the good lines that follow it.
//
// Output is buffered and flushed before every read of the input, that is
// whenever no complete message is left in the buffer, so a client waiting
// for a reply gets it before the node waits for more input.
func (n *Node) Run() error {
	for {
		if n.queued > 0 {
			m := &n.queue[n.first]
			n.first = (n.first + 1) % len(n.queue)
			n.queued--
			n.lookAhead()
			n.handle(m.text, &m.env)
			if n.err != nil {
				return n.err
			}
			continue
		}
		n.start = skipSpace(n.buf[:n.lim], n.start)
		if n.start == n.lim {
			more, err := n.nextLine()
			if err != nil {
				return err
			}
			if !more {
				return n.flush()
			}
			continue
		}
		text := n.buf[n.start:n.lim]
		m := &n.queue[n.first]
		end, err := n.split(m, text)
		if err == jsonx.ErrIncomplete {
			more, rerr := n.extend(len(text))
			if rerr != nil {
				return rerr
			}
			if more {
				continue
			}
			// The input ended with the value unfinished. Reading may have
			// moved the buffer.
			text = n.buf[n.start:n.lim]
		}
		if err == nil {
			n.start += end
			m.text, n.queued = text[:end], 1
			continue
		}
		n.handleBroken(text, err)
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			n.start += i + 1
		} else {
			n.start = n.lim
		}
		if n.err != nil {
			return n.err
		}
	}
}

// skipSpace returns the offset of the first byte at or after b[i] that is
// not JSON whitespace, or len(b).
func skipSpace(b []byte, i int) int {
	const spaceMask = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'
	for i < len(b) && b[i] <= ' ' && spaceMask>>b[i]&1 != 0 {
		i++
	}
	return i
}

// nextLine adds the next line of input to the text, reading when no
// complete line is buffered. It reports false at the end of the input.
func (n *Node) nextLine() (bool, error) {
	for !n.bufferedLine() {
		if n.eof {
			return false, nil
		}
		if err := n.read(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// extend adds at least one line to an unfinished text of the given size,
// then every line already buffered until the text has doubled: rescanning
// the text from its start after each single line would take quadratic time
// on a long pretty-printed message. It reports false at the end of input.
func (n *Node) extend(size int) (bool, error) {
	if more, err := n.nextLine(); !more || err != nil {
		return more, err
	}
	for n.lim-n.start < 2*size && n.bufferedLine() {
	}
	return true, nil
}

// bufferedLine adds the next buffered line to the text, if there is a
// complete one (or, at the end of the input, a last line without newline).
func (n *Node) bufferedLine() bool {
	if i := bytes.IndexByte(n.buf[n.scanned:n.fill], '\n'); i >= 0 {
		n.lim = n.scanned + i + 1
		n.scanned = n.lim
		return true
	}
	n.scanned = n.fill
	if n.eof && n.lim < n.fill {
		n.lim = n.fill
		return true
	}
	return false
}

// read reads more input into the buffer.
func (n *Node) read() error {
	// Everything that can be handled without this read, which may block,
	// has been: deliver the replies.
	if err := n.flush(); err != nil {
		return err
	}
	n.makeRoom()
	k, err := n.in.Read(n.buf[n.fill:])
	n.fill += k
	if err == io.EOF {
		n.eof = true
		return nil
	}
	return err
}

// makeRoom moves the unconsumed input to the front of the buffer, doubling
// the buffer when that input fills it, and giving back a buffer grown for a
// huge message once that message is consumed.
func (n *Node) makeRoom() {
	pending := n.buf[n.start:n.fill]
	size := len(n.buf)
	switch {
	case len(pending) == size:
		size *= 2
	case size > bufSize && len(pending) <= bufSize/2:
		size = bufSize
	case n.start == 0:
		return
	}
	buf := n.buf
	if size != len(buf) {
		buf = make([]byte, size)
	}
	copy(buf, pending)
	n.buf = buf
	n.lim -= n.start
	n.scanned -= n.start
	n.fill -= n.start
	n.start = 0
}

// keptMembers bounds the capacity of the member slice kept from one
// message to the next.
const keptMembers = 256

// indexDepth is how many levels of objects split records: the envelope, the
// body, and the objects in the body (an http_request's headers and cookies).
const indexDepth = 3

// envelope holds the raw top-level members of a message and the members of
// its body, read in one pass.
type envelope struct {
	src, dest string // "" when absent or not a string
	body      []byte
	members   []Member // of the body, with the members of its objects
}

// split finds the end of the value that text starts with and, when it is an
// object, records its members and those of its objects into q on the way:
// one pass for the usual message.
func (n *Node) split(q *queued, text []byte) (int, error) {
	q.env = envelope{}
	if cap(q.members) > keptMembers {
		q.members = nil // one huge body does not hold its memory forever
	}
	if jsonx.KindOf(text) != jsonx.Object {
		return jsonx.ValueEnd(text)
	}
	ms, end, err := jsonx.IndexObject(q.members[:0], text, indexDepth)
	q.members = ms
	if err != nil {
		return end, err
	}
	for i := 0; i < len(ms); i = jsonx.Next(ms, i) {
		switch m := &ms[i]; string(m.Key) {
		case "src":
			q.env.src, _ = m.Text()
		case "dest":
			q.env.dest, _ = m.Text()
		case "body": // a repeated body: the last one wins
			q.env.body = m.Value
			q.env.members = ms[i+1 : jsonx.Next(ms, i)]
		}
	}
	return end, nil
}

// queued is a message split and not yet handled.
type queued struct {
	text    []byte
	env     envelope
	members []Member // split's; env.members is part of it
}

// lookAhead splits, before the node handles the message it has just taken
// from the queue, the complete messages already buffered behind it, up to
// the depth that [Node.Ahead] asked for, without reading input, and shows
// them to the look-ahead functions: the buffer does not move while they
// wait, since the node reads only with nothing left to handle. A message
// it cannot split (broken, unfinished) stops it there, for Run to handle
// in its turn as it always does.
func (n *Node) lookAhead() {
	if len(n.ahead) == 0 {
		return
	}
	for n.queued < len(n.queue)-1 {
		n.start = skipSpace(n.buf[:n.lim], n.start)
		if n.start == n.lim {
			if !n.bufferedLine() {
				break
			}
			continue
		}
		q := &n.queue[(n.first+n.queued)%len(n.queue)]
		text := n.buf[n.start:n.lim]
		end, err := n.split(q, text)
		if err != nil {
			break
		}
		n.start += end
		q.text = text[:end]
		n.queued++
		n.showAhead(q)
	}
}

// showAhead calls the look-ahead function for q's type, if any, when q is a
// request that handle will dispatch: a look-ahead function meets exactly
// the messages its type's handler will, in the same order.
func (n *Node) showAhead(q *queued) {
	m := &n.aheadMsg
	if open(q.text, &q.env, m) != fateDispatch {
		return
	}
	for _, a := range n.ahead {
		if a.typ == m.Type {
			a.fn(m)
			return
		}
	}
}

// handle handles one complete JSON value from the input, with its envelope
// as split read it.
func (n *Node) handle(text []byte, env *envelope) {
	m := &n.msg
	switch f := open(text, env, m); f {
	case fateDispatch:
		n.dispatch(m)
	case fateReply:
		// Answering a reply could start an endless exchange between nodes.
		n.Logf("ignored a reply: %.200q", text)
	case fateNoSrc:
		n.Logf("ignored a message without src: %.200q", text)
	default:
		n.malformed(m, text, malformedReasons[f])
	}
}

// fate is what handle does with a message.
type fate uint8

const (
	fateDispatch fate = iota // to its type's handler
	fateReply                // ignored: a reply
	fateNoSrc                // ignored: no src to answer
	fateNotObject
	fateNoBody
	fateBodyNotObject
	fateNoType
	fateTypeNotString
)

// malformedReasons says why a message of each malformed fate is.
var malformedReasons = [...]string{
	fateNotObject:     "not an object",
	fateNoBody:        "missing body",
	fateBodyNotObject: "body is not an object",
	fateNoType:        "missing body.type",
	fateTypeNotString: "body.type is not a string",
}

// open fills m from the message text and its envelope, as far as it is
// well formed (what an error reply needs of it), and returns its fate:
// handle and the look-ahead (showAhead) decide by the same rules.
func open(text []byte, env *envelope, m *Message) fate {
	*m = Message{}
	if jsonx.KindOf(text) != jsonx.Object {
		return fateNotObject
	}
	m.Src, m.Dest = env.src, env.dest
	body := env.body
	if body == nil {
		return fateNoBody
	}
	if jsonx.KindOf(body) != jsonx.Object {
		return fateBodyNotObject
	}
	m.Body = body
	var typ *Member
	isReply := false
	ms := env.members
	for i := 0; i < len(ms); i = jsonx.Next(ms, i) {
		switch string(ms[i].Key) {
		case "type":
			typ = &ms[i]
		case "msg_id":
			m.MsgID = ms[i].Value
		case "in_reply_to":
			isReply = true
		}
	}
	m.Members = env.members
	isString := false
	if typ != nil {
		m.Type, isString = typ.Text()
	}
	switch {
	case isReply || isReplyType(m.Type):
		return fateReply
	case typ == nil:
		return fateNoType
	case !isString:
		return fateTypeNotString
	case m.Src == "":
		return fateNoSrc
	}
	return fateDispatch
}

// handleBroken handles text that is not valid JSON (or ends unfinished),
// answering it when its src and msg_id can still be made out.
func (n *Node) handleBroken(text []byte, err error) {
	m := &n.msg
	*m = Message{}
	// What follows its first line is read again as messages of its own:
	// only that line is the broken message, and a msg_id that runs into
	// the next line is none.
	line := text
	if i := bytes.IndexByte(text, '\n'); i >= 0 {
		line = text[:i]
	}
	if salvage(line, m) {
		n.Logf("ignored a reply (%v): %.200q", err, text)
		return
	}
	n.malformed(m, text, err.Error())
}

// malformed logs a message that cannot be handled and answers it with
// error 12 when it has a src and a msg_id.
func (n *Node) malformed(m *Message, text []byte, reason string) {
	n.Logf("malformed message: %s: %.200q", reason, text)
	if m.Src != "" && m.MsgID != nil {
		n.replyError(m, NewRPCError(MalformedRequest, "malformed message: "+reason))
	}
}

// salvage recovers Src, Dest and MsgID into m from the part of a broken
// message that parses, and reports whether the body shows it is a reply.
func salvage(text []byte, m *Message) (isReply bool) {
	members(text, func(key string, v []byte, whole bool) {
		switch {
		case key == "src" && whole:
			m.Src = stringValue(v)
		case key == "dest" && whole:
			m.Dest = stringValue(v)
		case key == "body":
			m.MsgID, isReply = nil, false
			members(v, func(key string, v []byte, whole bool) {
				switch {
				case key == "in_reply_to":
					isReply = true
				case key == "type" && whole:
					isReply = isReply || isReplyType(stringValue(v))
				case key == "msg_id" && whole:
					m.MsgID = v
				}
			})
		}
	})
	return isReply
}

// members calls fn for each member of the object that b starts with, up to
// the first syntax error. A value that does not parse is passed as the rest
// of b with whole set to false, so that fn can look into it; members then
// stops.
func members(b []byte, fn func(key string, v []byte, whole bool)) {
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return
	}
	for {
		i = skipSpace(b, i+1) // after '{' or ','
		end, err := jsonx.ValueEnd(b[i:])
		if err != nil || b[i] != '"' {
			return
		}
		key := stringValue(b[i : i+end])
		if i = skipSpace(b, i+end); i == len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		if end, err = jsonx.ValueEnd(b[i:]); err != nil {
			fn(key, b[i:], false)
			return
		}
		fn(key, b[i:i+end], true)
		if i = skipSpace(b, i+end); i == len(b) || b[i] != ',' {
			return
		}
	}
}
