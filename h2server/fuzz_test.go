package h2server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"l7lb/httpmsg"
)

// FuzzConn feeds random bytes after the preface to a connection whose
// handler reads the body and answers with a body and trailers: the server
// must neither panic nor hang (Serve returns once the client is gone).
func FuzzConn(f *testing.F) {
	var seed bytes.Buffer
	fr := http2.NewFramer(&seed, nil)
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"}, {"content-length", "3"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk.Bytes()[:3]})
	fr.WriteContinuation(1, true, blk.Bytes()[3:])
	fr.WriteData(1, true, []byte("abc"))
	fr.WriteWindowUpdate(1, 100)
	fr.WritePing(false, [8]byte{})
	fr.WriteRSTStream(1, http2.ErrCodeCancel)
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		cfg := Config{MaxConcurrentStreams: 4, MaxHeaderListSize: 1 << 10, HeaderTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second}
		c := NewConn(b, bufio.NewReader(b), cfg, handlerFunc(func(s *Stream) {
			io.Copy(io.Discard, s)
			s.WriteHeader(200, []httpmsg.Field{{Name: "x", Value: "y"}})
			s.Write([]byte("hello"))
			s.End([]byte("!"), []httpmsg.Field{{Name: "t", Value: "1"}})
		}))
		served := make(chan struct{})
		go func() {
			c.Serve()
			close(served)
		}()
		go io.Copy(io.Discard, a)
		a.SetWriteDeadline(time.Now().Add(time.Second))
		a.Write([]byte(http2.ClientPreface))
		a.Write(in)
		a.Close()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after the client closed")
		}
	})
}
