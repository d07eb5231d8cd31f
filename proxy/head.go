package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

var (
	errHeadTooLarge = errors.New("message head too large")
	errEmptyLines   = errors.New("too many empty lines before the request line")
)

// skipEmptyLines consumes the empty lines (CRLF or LF) before a request
// line: RFC 9112 2.2 lets a server ignore them, and clients send a stray
// CRLF after a body. Up to limit bytes of them are skipped, the bound of a
// request head; more is errEmptyLines. A CR not followed by LF is left for
// the parser to reject. The first byte must be buffered already; when more
// must be read, the read deadline first becomes timeout from now, the whole
// head's deadline, as in readHead; set reports that it did.
func skipEmptyLines(br *bufio.Reader, limit int, tc *timedConn, timeout time.Duration) (set bool, err error) {
	for skipped := 0; ; {
		if br.Buffered() < 2 && timeout > 0 && !set {
			if b, _ := br.Peek(br.Buffered()); len(b) == 0 || b[0] == '\r' {
				tc.readWithin(timeout)
				set = true
			}
		}
		b, err := br.Peek(1)
		if err != nil {
			return set, err
		}
		n := 1
		switch b[0] {
		case '\n':
		case '\r':
			if b, err = br.Peek(2); err != nil {
				return set, err
			}
			if b[1] != '\n' {
				return set, nil
			}
			n = 2
		default:
			return set, nil
		}
		br.Discard(n)
		if skipped += n; skipped > limit {
			return set, errEmptyLines
		}
	}
}

// readHead reads a message head from br into buf, reusing its capacity, up
// to and including the empty line that ends it, and returns it. The bytes
// that follow stay in br. A head above limit bytes is errHeadTooLarge,
// reported without reading further.
//
// The first byte must already be buffered or arrive under the deadline in
// force. When more must be read, the read deadline of tc first becomes
// timeout from now (unless timeout is 0): the whole head gets one deadline,
// which is what closes a slowloris connection, and a head that arrived in
// one segment, the usual case, costs no deadline update.
//
// Copying the head out of br costs a memmove of a few hundred bytes and
// lets the head outlive br's buffer, which the body read recycles.
func readHead(br *bufio.Reader, buf []byte, limit int, tc *timedConn, timeout time.Duration) ([]byte, error) {
	buf = buf[:0]
	line := 0 // where the line being looked at starts, in buf
	for {
		n := br.Buffered()
		if n == 0 {
			if len(buf) > 0 && timeout > 0 {
				tc.readWithin(timeout)
				timeout = 0
			}
			if _, err := br.Peek(1); err != nil {
				if err == io.EOF && len(buf) > 0 {
					err = io.ErrUnexpectedEOF
				}
				return buf, err
			}
			n = br.Buffered()
		}
		chunk, _ := br.Peek(n)
		start := len(buf)
		buf = append(buf, chunk...)
		var end int
		if end, line = endOfHead(buf, line); end >= 0 {
			br.Discard(end - start)
			if end > limit {
				return buf[:end], errHeadTooLarge
			}
			return buf[:end], nil
		}
		br.Discard(n)
		if len(buf) > limit {
			return buf, errHeadTooLarge
		}
	}
}

// endOfHead looks for the empty line (LF or CRLF) that ends a head in b,
// from line on, the start of a line: it returns the end of that line, or
// -1 and where the last, unfinished line starts.
func endOfHead(b []byte, line int) (end, next int) {
	for {
		i := bytes.IndexByte(b[line:], '\n')
		if i < 0 {
			return -1, line
		}
		empty := i == 0 || i == 1 && b[line] == '\r'
		line += i + 1
		if empty {
			return line, line
		}
	}
}
