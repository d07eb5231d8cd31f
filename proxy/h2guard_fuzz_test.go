package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// bytesConn is a net.Conn that reads from r and discards writes.
type bytesConn struct {
	net.Conn
	r io.Reader
}

func (c *bytesConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzFrameGuard feeds the guard any bytes after the preface: it never
// panics, and what it hands the server is what the client sent, but for
// the renamed settings of a SETTINGS frame and a request's header block
// spanning frames, handed on as one HEADERS frame (see coalesced), up to
// where it cuts the connection off.
func FuzzFrameGuard(f *testing.F) {
	frame := func(typ, flags byte, stream uint32, payload []byte) []byte {
		b := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[5:], stream)
		return append(b, payload...)
	}
	f.Add(frame(frameSettings, 0, 0, []byte{0, 4, 0, 0, 0, 100, 0, 4, 0, 0, 0, 1}))
	f.Add(append(frame(frameHeaders, flagEndHeaders|flagEndStream, 1, []byte{0x82, 0x86, 0x84, 0x41, 0x01, 'a'}), frame(frameRSTStream, 0, 1, []byte{0, 0, 0, 8})...))
	f.Add(frame(frameHeaders, flagPadded|flagPriority, 1, []byte{2, 0, 0, 0, 0, 16, 0x82, 0, 0}))
	f.Add(append(frame(frameHeaders, 0, 3, []byte{0x82}), frame(frameContinuation, flagEndHeaders, 3, []byte{0x40, 0x0a, 'c', 'o', 'n', 'n', 'e', 'c', 't', 'i', 'o', 'n', 0x01, 'x'})...))
	f.Add(append(append(frame(frameHeaders, flagPadded|flagPriority, 1, []byte{1, 0, 0, 0, 0, 16, 0x82, 0}), frame(frameContinuation, 0, 1, []byte{0x86})...),
		frame(frameContinuation, flagEndHeaders, 1, []byte{0x84})...))
	f.Fuzz(func(t *testing.T, in []byte) {
		conn := &bytesConn{r: bytes.NewReader(append([]byte(preface), in...))}
		g := newFrameGuard(conn, nil, time.Second, 1<<16, func() {})
		out, err := io.ReadAll(g)
		_ = err
		out = out[len(preface):]
		if len(out) > len(in) {
			t.Fatalf("handed on %d bytes of %d", len(out), len(in))
		}
		// Outside SETTINGS identifiers and joined header blocks, the
		// bytes are the client's.
		var last uint32
		for i, j := 0, 0; i < len(out); {
			if len(out)-i < 9 {
				if !bytes.Equal(out[i:], in[j:j+len(out)-i]) {
					t.Fatal("a frame header was changed")
				}
				break
			}
			length := int(in[j])<<16 | int(in[j+1])<<8 | int(in[j+2])
			typ, flags, stream := in[j+3], in[j+4], binary.BigEndian.Uint32(in[j+5:])&(1<<31-1)
			if typ == frameHeaders && stream > last && stream%2 == 1 {
				last = stream
				if flags&flagEndHeaders == 0 {
					want, next, ok := coalesced(in[j:])
					if !ok || !bytes.Equal(out[i:min(len(out), i+len(want))], want) {
						t.Fatalf("header block at %d: handed on %x, want %x (ok %v)", j, out[i:min(len(out), i+len(want))], want, ok)
					}
					i, j = i+len(want), j+next
					continue
				}
			}
			if !bytes.Equal(out[i:i+9], in[j:j+9]) {
				t.Fatalf("frame header at %d changed", j)
			}
			end := min(i+9+length, len(out))
			if typ != frameSettings {
				if !bytes.Equal(out[i+9:end], in[j+9:j+9+end-i-9]) {
					t.Fatalf("payload at %d changed", j)
				}
			}
			i, j = end, j+9+length
		}
	})
}

// coalesced returns the one HEADERS frame the guard makes of the header
// block that starts b and spans frames, and how many bytes of b it took;
// ok is false when the guard refuses the block (cutting the connection
// off before any of it).
func coalesced(b []byte) (frame []byte, n int, ok bool) {
	if len(b) < 9 {
		return nil, 0, false
	}
	length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	flags, stream := b[4], binary.BigEndian.Uint32(b[5:])&(1<<31-1)
	if length > maxFrameSize || len(b) < 9+length {
		return nil, 0, false
	}
	p := b[9 : 9+length]
	if flags&flagPadded != 0 {
		if len(p) == 0 || int(p[0]) >= len(p) {
			return nil, 0, false
		}
		p = p[1 : len(p)-int(p[0])]
	}
	if flags&flagPriority != 0 && len(p) < 5 {
		return nil, 0, false
	}
	block := append([]byte{}, p...)
	n = 9 + length
	for {
		if len(b)-n < 9 {
			return nil, 0, false
		}
		h := b[n:]
		l := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if l > maxFrameSize || h[3] != frameContinuation || binary.BigEndian.Uint32(h[5:])&(1<<31-1) != stream || len(h) < 9+l {
			return nil, 0, false
		}
		block = append(block, h[9:9+l]...)
		n += 9 + l
		if h[4]&flagEndHeaders != 0 {
			break
		}
	}
	out := []byte{byte(len(block) >> 16), byte(len(block) >> 8), byte(len(block)), frameHeaders, flags&^flagPadded | flagEndHeaders, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[5:], stream)
	return append(out, block...), n, true
}
