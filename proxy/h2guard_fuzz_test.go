package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"l7lb/httpmsg"
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
// the renamed settings of a SETTINGS frame, up to where it cuts the
// connection off.
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
	f.Fuzz(func(t *testing.T, in []byte) {
		conn := &bytesConn{r: bytes.NewReader(append([]byte(preface), in...))}
		g := newFrameGuard(conn, nil, time.Second, 1<<16, func() {})
		out, err := io.ReadAll(g)
		_ = err
		out = out[len(preface):]
		if len(out) > len(in) {
			t.Fatalf("handed on %d bytes of %d", len(out), len(in))
		}
		// Outside SETTINGS identifiers, the bytes are the client's.
		for i := 0; i < len(out); {
			if len(out)-i < 9 {
				if !bytes.Equal(out[i:], in[i:len(out)]) {
					t.Fatal("a frame header was changed")
				}
				break
			}
			if !bytes.Equal(out[i:i+9], in[i:i+9]) {
				t.Fatalf("frame header at %d changed", i)
			}
			length := int(out[i])<<16 | int(out[i+1])<<8 | int(out[i+2])
			end := min(i+9+length, len(out))
			if out[i+3] != frameSettings {
				if !bytes.Equal(out[i+9:end], in[i+9:end]) {
					t.Fatalf("payload at %d changed", i)
				}
			}
			i = end
		}
	})
}

func FuzzGRPCTimeout(f *testing.F) {
	for _, s := range []string{"1S", "250m", "99999999H", "", "1x", "-1S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &request{}
		r.head.Fields = append(r.head.Fields[:0], httpmsgField("grpc-timeout", v))
		r.view.Fields = r.head.Fields
		d, ok := grpcTimeout(r)
		// The header view reads values without their surrounding
		// whitespace, as RFC 9110 5.5 has them.
		if v = httpmsg.TrimOWS(v); ok && (d < 0 || len(v) > 9) || !ok && d != 0 {
			t.Fatalf("%q: %v %v", v, d, ok)
		}
	})
}
