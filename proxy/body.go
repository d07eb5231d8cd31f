package proxy

import (
	"bufio"
	"errors"
	"io"
	"sync"

	"l7lb/httpmsg"
	"l7lb/strview"
)

var (
	errBadChunk    = errors.New("invalid chunked encoding")
	errBadTrailer  = errors.New("invalid trailer section")
	errTrailerSize = errors.New("trailer section too large")
)

// writeError marks an error of the destination of a copy, so that callers
// tell a broken sender from a broken receiver.
type writeError struct{ err error }

func (e writeError) Error() string { return "write: " + e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

// isWriteError reports whether err is a writeError.
func isWriteError(err error) bool {
	var we writeError
	return errors.As(err, &we)
}

// Bodies are streamed with one rule: flush the destination before a read
// that may block. A body that is already buffered, the usual small one,
// leaves with its head in one write; a body that trickles in (a stream of
// events) reaches the other side as each piece arrives.

// bigRead is the remaining length from which a body is read past the
// reader's buffer, in pieces of up to 64 KiB from bigBufs, to save system
// calls.
const bigRead = 16 << 10

var bigBufs = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// copyLength copies exactly n bytes of body from src to dst.
func copyLength(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return writeError{err}
			}
			if n >= bigRead {
				return copyBig(dst, src, n)
			}
			if _, err := src.Peek(1); err != nil {
				return unexpected(err)
			}
		}
		b, _ := src.Peek(int(min(n, int64(src.Buffered()))))
		if _, err := dst.Write(b); err != nil {
			return writeError{err}
		}
		src.Discard(len(b))
		n -= int64(len(b))
	}
	return nil
}

// copyBig copies the n bytes of a large body, src's buffer being empty,
// through a pooled buffer much larger than the connections' own.
func copyBig(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	big := bigBufs.Get().(*[64 << 10]byte)
	defer bigBufs.Put(big)
	for n > 0 {
		// With its buffer empty, bufio reads a p larger than it directly.
		m, err := src.Read(big[:min(n, int64(len(big)))])
		if _, werr := dst.Write(big[:m]); werr != nil {
			return writeError{werr}
		}
		n -= int64(m)
		if err != nil && n > 0 {
			return unexpected(err)
		}
		if m > 0 && src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return writeError{err}
			}
		}
	}
	return nil
}

// copyChunked copies a chunked body from src to dst. With reframe it is
// written chunked again: the same chunk sizes, extensions dropped (RFC 9112
// 7.1.1 lets a recipient ignore them); without, only the data is written,
// for an HTTP/1.0 client or an HTTP/2 peer. The trailer fields that pass
// (trailerAllowed) go to trailers, nil to drop them: with reframe, a sink
// on dst. limit bounds the trailer section.
//
// Chunk lines are strict: hex digits that fit 60 bits, well-formed
// extensions, and CRLF, never a bare LF, after the line and after the data.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, reframe bool, limit int, trailers *fieldSink) error {
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		size, ok := httpmsg.ParseChunkLine(line)
		if !ok {
			return errBadChunk
		}
		if size == 0 {
			break
		}
		if reframe {
			if err := writeHexLine(dst, uint64(size)); err != nil {
				return err
			}
		}
		if err := copyLength(dst, src, size); err != nil {
			return err
		}
		if src.Buffered() < 2 {
			if err := dst.Flush(); err != nil {
				return writeError{err}
			}
		}
		crlf, err := src.Peek(2)
		if err != nil {
			return unexpected(err)
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return errBadChunk
		}
		src.Discard(2)
		if reframe {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return writeError{err}
			}
		}
	}
	if reframe {
		if _, err := dst.WriteString("0\r\n"); err != nil {
			return writeError{err}
		}
	}
	return copyTrailers(dst, src, reframe, limit, trailers)
}

// copyTrailers copies the trailer section that ends a chunked body, through
// its empty line, the fields that pass (trailerAllowed) to trailers.
func copyTrailers(dst *bufio.Writer, src *bufio.Reader, reframe bool, limit int, trailers *fieldSink) error {
	total, fields := 0, 0
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		if total, fields = total+len(line), fields+1; total > limit || fields > httpmsg.MaxHeaders {
			return errTrailerSize
		}
		f, err := httpmsg.ParseField(strview.Of(line))
		if err != nil {
			return errBadTrailer
		}
		if trailers == nil || !trailerAllowed(f.Name) {
			continue
		}
		trailers.field(f.Name, f.Value) // an error stays in dst, for the next write
	}
	if reframe {
		if _, err := dst.WriteString("\r\n"); err != nil {
			return writeError{err}
		}
	}
	return nil
}

// copyUntilClose copies a body delimited by the end of the connection.
// With reframe, each piece is written as a chunk, so that the client's
// connection survives the server's.
func copyUntilClose(dst *bufio.Writer, src *bufio.Reader, reframe bool) error {
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return writeError{err}
			}
			if _, err := src.Peek(1); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
		}
		b, _ := src.Peek(src.Buffered())
		if reframe {
			if err := writeHexLine(dst, uint64(len(b))); err != nil {
				return err
			}
		}
		if _, err := dst.Write(b); err != nil {
			return writeError{err}
		}
		src.Discard(len(b))
		if reframe {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return writeError{err}
			}
		}
	}
	if reframe {
		if _, err := dst.WriteString("0\r\n\r\n"); err != nil {
			return writeError{err}
		}
	}
	return nil
}

// readLine reads a line that must end in CRLF and returns it without them.
// The line aliases src's buffer: a line longer than the buffer (4 KiB) is
// an error.
func readLine(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if src.Buffered() == 0 {
		if err := dst.Flush(); err != nil {
			return nil, writeError{err}
		}
	}
	line, err := src.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errBadChunk
	case err != nil:
		return nil, unexpected(err)
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, errBadChunk // a bare LF
	}
	return line[:len(line)-2], nil
}

// writeHexLine writes n in hex and CRLF, a chunk-size line.
func writeHexLine(dst *bufio.Writer, n uint64) error {
	writeUint(dst, n, 16)
	if _, err := dst.WriteString("\r\n"); err != nil {
		return writeError{err}
	}
	return nil
}

// unexpected turns an end of input inside a body into ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
