package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"l7lb/config"
	"l7lb/engine"
)

// BenchmarkProxyH2 is BenchmarkProxy's sequential case with the client in
// HTTP/2 (h2c, prior knowledge, one stream after another on one
// connection) and the backend in HTTP/1.1: what the HTTP/2 path costs
// beside the raw HTTP/1.1 one. The client is raw frames with a header
// block encoded once.
func BenchmarkProxyH2(b *testing.B) {
	backend, stop := benchBackend(b)
	defer stop()
	addr, shutdown := startBenchProxyH2C(b, backend)
	defer shutdown()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	fr := http2.NewFramer(c, bufio.NewReader(c)) // a frame per read, not two
	io.WriteString(c, preface)
	fr.WriteSettings()
	// The first request's block adds the fields to the HPACK table;
	// every later one, the same fields again, is their indexes.
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	encode := func() []byte {
		blk.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "shop.example.com"}, {":path", "/api/users/42?expand=orders"},
			{"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}, {"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
			{"accept-language", "en-US,en;q=0.5"}, {"accept-encoding", "gzip, deflate, br"}, {"cookie", "theme=dark; session_id=lb-42"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return bytes.Clone(blk.Bytes())
	}
	firstBlock, laterBlock := encode(), encode()
	id := uint32(1)
	roundTrip := func() {
		frag := laterBlock
		if id == 1 {
			frag = firstBlock
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: true, EndHeaders: true}); err != nil {
			b.Fatal(err)
		}
	read:
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				b.Fatal(err)
			}
			switch f := f.(type) {
			case *http2.DataFrame:
				if n := len(f.Data()); n > 0 {
					fr.WriteWindowUpdate(0, uint32(n))
				}
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.GoAwayFrame, *http2.RSTStreamFrame:
				b.Fatalf("%v", f)
			}
			if f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream) {
				break read
			}
		}
		id += 2
	}
	for range 100 {
		roundTrip()
	}
	measure(b, func() {
		for range b.N {
			roundTrip()
		}
	})
}

// startBenchProxyH2C is startBenchProxy with an h2c listener.
func startBenchProxyH2C(tb testing.TB, backend string) (addr string, shutdown func()) {
	sticky := config.DefaultSticky()
	sticky.Mode = config.ModeOff
	f := &config.File{Config: config.Config{Sticky: sticky}, Servers: []config.Server{{ID: "s1", Addr: backend}},
		Limits: config.DefaultLimits(), Timeouts: config.DefaultTimeouts()}
	eng := engine.New(nil)
	eng.Measure()
	p, err := New(Options{Engine: eng}, testConfig(tb, eng, f))
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln, ListenerOptions{H2C: true}) }()
	return ln.Addr().String(), func() {
		p.Shutdown(context.Background())
		<-done
	}
}
