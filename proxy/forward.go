package proxy

import (
	"errors"
	"net"
	"strconv"
	"time"

	"l7lb/config"
	"l7lb/httpmsg"
	"l7lb/strview"
)

// expectWait is how long a server may leave an Expect: 100-continue
// unanswered before the proxy sends the body anyway (RFC 9110 10.1.1: a
// client should not wait for a 100 indefinitely), telling the client to
// go on with its own 100 Continue.
const expectWait = time.Second

// maxInformational bounds the 1xx responses relayed before a final one.
const maxInformational = 8

// result is how an exchange with a server ended before anything but 1xx
// responses reached the client.
type result uint8

const (
	resOK          result = iota // a final response head is in c.resp
	resBroke                     // the connection broke before any response byte
	resTimeout                   // no response head in time: 504
	resBadResponse               // a malformed or truncated response head: 502
	resBadBody                   // the client's chunked body is malformed: 400
	resClientGone                // the client's body could not be read
	resUnreachable               // no connection to the server could be made
	resStale                     // a pooled connection broke before any response byte
)

// forward sends the routed request to its server and relays the response,
// trying other servers of the route as retrier says, and reports whether
// the client connection stays open.
func (c *clientConn) forward() bool {
	p, d, r, snap := c.p, &c.d, &c.req, c.snap
	c.failed = c.failed[:0]
	c.informed, c.bodyUnsent = false, false
	c.id = 0
	if !r.hasID {
		c.id = p.ids.Add(1)
	}
	if snap.obs.tracer != nil {
		c.startSpan()
	}
	connect, timeout := snap.timeouts(d.Config)
	t := retrier{p: p, snap: snap, d: d, failed: &c.failed, cut: &c.cut}
	for {
		c.retries, c.connect = t.retries, -1
		c.server = d.Server
		b := snap.backend(d)
		var res result
		var err error
		switch {
		case b == nil:
			res, err = resUnreachable, errUnknownServer
		case b.usesH2() && !r.upgrading():
			var keep bool
			keep, res, err = c.forwardH2(b, timeout)
			if err == errSpeaksHTTP1 {
				continue
			}
			if res == resOK {
				return keep
			}
		case b.scheme == config.SchemeH2C:
			// An upgrade (WebSocket) needs HTTP/1.1.
			return c.reject(502, errBadResponse, "no protocol upgrade through an h2c:// server")
		default:
			var keep bool
			keep, res, err = c.forwardH1(b, connect, timeout, t.fresh)
			if res == resOK {
				return keep
			}
		}
		again, status, kind, detail := t.after(res, err, r.idempotent() && !c.informed)
		if again {
			continue
		}
		if status == 0 {
			p.count(kind)
			return false
		}
		return c.reject(status, kind, detail)
	}
}

// forwardH1 sends the request to an HTTP/1.1 server and relays the
// response, and reports whether the client connection stays open; res and
// err say how an attempt that sent the client nothing but 1xx responses
// failed.
func (c *clientConn) forwardH1(b *backend, connect, timeout time.Duration, fresh bool) (keep bool, res result, err error) {
	sc, err := b.get(c.shard, connect, fresh)
	if err != nil {
		return false, resUnreachable, err
	}
	if !sc.reused {
		c.connect = sc.dialTime
	}
	c.upstream.Store(sc)
	defer c.upstream.Store(nil)
	sent := time.Now()
	res, err = c.exchange(sc, timeout)
	if res == resOK {
		c.waited = time.Since(sent)
		c.p.success(b)
		c.p.eng.Responded(&c.d, c.resp.head.Status)
		return c.relay(sc), resOK, nil
	}
	b.discard(sc)
	if res == resBroke {
		if sc.reused {
			res = resStale
		} else {
			c.p.failure(b, b.id)
		}
	}
	return false, res, err
}

// exchange sends the request on sc and reads the final response head into
// c.resp, relaying 1xx responses to an HTTP/1.1 client. With Expect:
// 100-continue the body waits for the server's 100 (or expectWait).
//
// A final response may come before the body was sent whole: the server
// answered without a 100 Continue, or stopped reading it (a write failed,
// and a response is read all the same, as the server may have said why).
// c.bodyUnsent then tells relay to close both connections, whose next
// bytes would be the rest of that body.
func (c *clientConn) exchange(sc *serverConn, timeout time.Duration) (result, error) {
	r := &c.req
	sc.tc.writeIdle = timeout
	c.writeRequestHead(sc.bw, c.snap, c.trusted, r, &c.d, c.id, c.span)
	waiting := r.expect && r.http11 && r.body != bodyNone
	sent := r.body == bodyNone // the body was sent whole
	var werr error             // a failed write to the server
	if !sent && !waiting {
		res, err := c.sendBody(sc)
		switch res {
		case resOK:
			sent = true
		case resBroke:
			werr = err
		default:
			return res, err
		}
	} else if sent {
		// Nothing but reading the response is left to do.
		sc.tc.readWithin(timeout)
		if err := sc.tc.flushAwaitRead(sc.bw, sc.br); err != nil {
			werr = err
		}
	} else if err := sc.bw.Flush(); err != nil {
		werr = err
	}

	if waiting && werr == nil {
		sc.tc.readWithin(min(expectWait, timeout))
		if _, err := sc.br.Peek(1); err != nil {
			if !isTimeout(err) {
				return resBroke, err
			}
			// The server waits for the body without a word.
			if res, err := c.sendContinue(); res != resOK {
				return res, err
			}
			if res, err := c.sendBody(sc); res != resOK {
				return res, err
			}
			sent = true
		}
	}
	sc.tc.readWithin(timeout)

	for n := 0; ; n++ {
		head, err := readHead(sc.br, c.respBuf, httpmsg.MaxHeadBytes, &sc.tc, 0)
		c.respBuf = head
		switch {
		case err == nil:
		case isTimeout(err):
			return resTimeout, err
		case len(head) == 0 && err != errHeadTooLarge:
			if werr != nil {
				err = werr
			}
			return resBroke, err
		default:
			return resBadResponse, err
		}
		if err := c.resp.parse(strview.Of(head), r.head.Method); err != nil {
			return resBadResponse, err
		}
		status := c.resp.head.Status
		if status >= 200 || status == 101 {
			c.bodyUnsent = !sent
			return resOK, nil
		}
		if n == maxInformational {
			return resBadResponse, errors.New("too many 1xx responses")
		}
		if !r.http11 {
			continue // HTTP/1.0 has no 1xx responses
		}
		c.writeInformational(c.bw)
		c.informed = true
		if err := c.bw.Flush(); err != nil {
			return resClientGone, err
		}
		if status == 100 && waiting && !sent && werr == nil {
			res, err := c.sendBody(sc)
			if res != resOK {
				return res, err
			}
			sent = true
			sc.tc.readWithin(timeout)
		}
	}
}

// sendContinue tells the client to send its body.
func (c *clientConn) sendContinue() (result, error) {
	c.informed = true
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n")
	c.writeDate(c.bw)
	c.bw.WriteString("\r\n")
	if err := c.bw.Flush(); err != nil {
		return resClientGone, err
	}
	return resOK, nil
}

// sendBody streams the request body to sc after its head, then flushes:
// a small body leaves with the head in one write.
func (c *clientConn) sendBody(sc *serverConn) (result, error) {
	r := &c.req
	c.tc.readIdle = c.snap.t.Idle
	var err error
	if r.body == bodyChunked {
		err = copyChunked(sc.bw, c.br, true, c.snap.l.MaxHeaderBytes, &fieldSink{w: sc.bw})
	} else {
		err = copyLength(sc.bw, c.br, r.length)
	}
	c.tc.readIdle = 0
	if err == nil {
		if ferr := sc.bw.Flush(); ferr != nil {
			err = writeError{ferr}
		}
	}
	switch {
	case err == nil:
		return resOK, nil
	case isWriteError(err):
		return resBroke, err
	case err == errBadChunk, err == errBadTrailer, err == errTrailerSize:
		return resBadBody, err
	}
	return resClientGone, err
}

// relay sends the client the response whose head is in c.resp and whose
// body follows on sc, then pools sc when the exchange ended cleanly. It
// reports whether the client connection stays open.
func (c *clientConn) relay(sc *serverConn) bool {
	p, r, resp, b := c.p, &c.req, &c.resp, sc.be
	if resp.head.Status == 101 {
		if !r.upgrading() || !r.offers(resp.upgradeTo) {
			b.discard(sc)
			return c.reject(502, errBadResponse, "unexpected protocol switch")
		}
		c.writeResponseHead(c.bw, outNone, true)
		c.status = 101
		if c.bw.Flush() != nil {
			b.discard(sc)
			return false
		}
		c.tunnel(sc)
		return false
	}

	out := c.framingFor(resp)
	keep := r.keepAlive && !c.bodyUnsent && out != outClose && !c.stopping()
	c.writeResponseHead(c.bw, out, keep)
	c.status = resp.head.Status
	sc.tc.readIdle = c.snap.t.Idle
	var err error
	switch resp.body {
	case bodyLength:
		err = copyLength(c.bw, sc.br, resp.length)
	case bodyChunked:
		var trailers *fieldSink
		if out == outChunked {
			trailers = &fieldSink{w: c.bw}
		}
		err = copyChunked(c.bw, sc.br, out == outChunked, httpmsg.MaxHeadBytes, trailers)
	case bodyClose:
		err = copyUntilClose(c.bw, sc.br, out == outChunked)
	}
	sc.tc.readIdle = 0
	if err != nil {
		// Part of the response may have reached the client: all that is
		// left is to end both connections, which tells the client.
		b.discard(sc)
		if isWriteError(err) {
			p.count(errClientAbort)
		} else {
			p.count(errServerBroke)
			p.logf("proxy: server %s: response body: %v", b.id, err)
		}
		return false
	}
	// The response is read: the server connection is free before the
	// client has it all. Bytes after the response's end are no response
	// to anything: a connection holding some is never reused.
	if resp.closes || c.bodyUnsent || sc.br.Buffered() > 0 {
		b.discard(sc)
	} else {
		sc.suspect = resp.body == bodyNone && (resp.hasLength && resp.length > 0 || resp.chunked)
		b.put(c.shard, sc)
	}
	if c.bw.Flush() != nil {
		p.count(errClientAbort)
		return false
	}
	return keep
}

// badResponseText says why a response was refused: which limit its head
// went over, or that it was malformed (the details are for the log, not
// for the client).
func badResponseText(err error) string {
	switch {
	case err == errHeadTooLarge:
		return "response head larger than " + strconv.Itoa(httpmsg.MaxHeadBytes) + " bytes"
	case errors.Is(err, httpmsg.ErrTooManyResponseFields):
		return "response head with more than " + strconv.Itoa(httpmsg.MaxResponseFields) + " fields"
	}
	return "bad response from server"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
