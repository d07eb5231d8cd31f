package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cGet opens an h2c connection to addr, sends GET path on stream 1 and
// returns the frames of stream 1 up to END_STREAM, each given to seen as
// it arrives (the frame's data is only valid during the call).
func h2cGet(t *testing.T, addr, path string, seen func(http2.Frame)) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fr := http2.NewFramer(c, bufio.NewReader(c))
	io.WriteString(c, preface)
	fr.WriteSettings()
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "shop.example.com"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		}
		if f.Header().StreamID != 1 {
			continue
		}
		seen(f)
		if _, ok := f.(*http2.RSTStreamFrame); ok || f.Header().Flags.Has(http2.FlagDataEndStream) {
			return
		}
	}
}

// TestH2ShortResponseFrames: a response relayed whole from an HTTP/1.1
// server goes out as HEADERS and one DATA frame that ends the stream, not
// with an empty DATA frame after the body to end it.
func TestH2ShortResponseFrames(t *testing.T) {
	backend, stop := benchBackend(t)
	defer stop()
	addr, shutdown := startBenchProxyH2C(t, backend)
	defer shutdown()

	var frames []string
	h2cGet(t, addr, "/", func(f http2.Frame) {
		switch f := f.(type) {
		case *http2.HeadersFrame:
			frames = append(frames, "HEADERS")
			if f.StreamEnded() {
				frames = append(frames, "END_STREAM")
			}
		case *http2.DataFrame:
			frames = append(frames, "DATA "+string(f.Data()))
			if f.StreamEnded() {
				frames = append(frames, "END_STREAM")
			}
		default:
			frames = append(frames, f.Header().Type.String())
		}
	})
	want := []string{"HEADERS", "DATA Hello, world\n", "END_STREAM"}
	if len(frames) != len(want) {
		t.Fatalf("frames %q, want %q", frames, want)
	}
	for i := range want {
		if frames[i] != want[i] {
			t.Fatalf("frames %q, want %q", frames, want)
		}
	}
}

// TestH2StreamedBodyNotHeld: a body the server sends in pieces reaches the
// client piece by piece; only the last piece waits for the end of the
// stream.
func TestH2StreamedBodyNotHeld(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	second := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if !skipHead(br) {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
		select {
		case <-second: // sent once the client has the first piece
		case <-time.After(5 * time.Second):
		}
		io.WriteString(c, "-last")
	}()
	addr, shutdown := startBenchProxyH2C(t, ln.Addr().String())
	defer shutdown()

	var body []byte
	h2cGet(t, addr, "/", func(f http2.Frame) {
		if d, ok := f.(*http2.DataFrame); ok {
			body = append(body, d.Data()...)
			if string(body) == "first" {
				close(second)
			}
		}
	})
	if string(body) != "first-last" {
		t.Errorf("body %q, want first-last (the first piece held back until the server's timeout?)", body)
	}
	select {
	case <-second:
	default:
		t.Error("the first piece did not arrive on its own before the server sent the last")
	}
}
