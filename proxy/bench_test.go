package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"l7lb/accesslog"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/metrics"
)

// The benchmarks send sequential keep-alive GETs through a proxy to a
// backend, both on loopback, client and backend being minimal raw-socket
// programs that allocate nothing: what differs between the two benchmarks
// is the proxy alone. Besides ns/op and allocs/op they report cpu-ns/op,
// the CPU time of the whole process (proxy, client and backend) per
// request, from getrusage.

const benchRequest = "GET /api/users/42?expand=orders HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Cookie: theme=dark; session_id=lb-42\r\n" +
	"\r\n"

const benchResponse = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
	"Content-Length: 13\r\n" +
	"\r\n" +
	"Hello, world\n"

// benchBackend answers every request head with benchResponse.
func benchBackend(b testing.TB) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				resp := []byte(benchResponse)
				for {
					if !skipHead(br) {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// skipHead reads past one message head.
func skipHead(br *bufio.Reader) bool {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false
		}
		if len(line) <= 2 {
			return true
		}
	}
}

// rawClient is a keep-alive client that allocates nothing per request.
type rawClient struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
}

func dialRaw(tb testing.TB, addr, req string) *rawClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return &rawClient{c: c, br: bufio.NewReader(c), req: []byte(req)}
}

var clPrefix = []byte("content-length:")

// roundTrip sends the request and reads the response, which must be a 200
// with a Content-Length.
func (rc *rawClient) roundTrip() error {
	if _, err := rc.c.Write(rc.req); err != nil {
		return err
	}
	n := -1
	status, err := rc.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return errors.New("status " + string(status))
	}
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(clPrefix) && bytes.EqualFold(line[:len(clPrefix)], clPrefix) {
			n = 0
			for _, c := range bytes.TrimSpace(line[len(clPrefix):]) {
				n = n*10 + int(c-'0')
			}
		}
	}
	if n < 0 {
		return errors.New("no Content-Length")
	}
	_, err = rc.br.Discard(n)
	return err
}

// benchClient measures requests to addr: sent in turn on one connection,
// and on 50 connections at once.
func benchClient(b *testing.B, addr string) {
	b.Run("sequential", func(b *testing.B) {
		rc := dialRaw(b, addr, benchRequest)
		defer rc.c.Close()
		for range 100 { // warm up pools and buffers
			if err := rc.roundTrip(); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, func() {
			for range b.N {
				if err := rc.roundTrip(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("50conns", func(b *testing.B) {
		b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
		measure(b, func() {
			b.RunParallel(func(pb *testing.PB) {
				rc := dialRaw(b, addr, benchRequest)
				defer rc.c.Close()
				for pb.Next() {
					if err := rc.roundTrip(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	})
}

// measure runs b's loop and reports allocations and CPU time per request.
func measure(b *testing.B, loop func()) {
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	loop()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkProxy(b *testing.B) {
	backend, stop := benchBackend(b)
	defer stop()
	addr, shutdown := startBenchProxy(b, backend, benchSetup{mode: config.ModeOff})
	defer shutdown()
	benchClient(b, addr)
}

// BenchmarkProxyMetrics is BenchmarkProxy without metrics and with them,
// alternated round by round in one process: what counting a request costs
// (issue 9's bar: within 3% of a proxy that counts nothing). Compare the
// cpu-ns/op of the two halves of each round, e.g. with -count 10.
func BenchmarkProxyMetrics(b *testing.B) {
	backend, stop := benchBackend(b)
	defer stop()
	for _, off := range []bool{true, false} {
		name := "on"
		if off {
			name = "off"
		}
		b.Run(name, func(b *testing.B) {
			addr, shutdown := startBenchProxy(b, backend, benchSetup{mode: config.ModeOff, noMetrics: off})
			defer shutdown()
			benchClient(b, addr)
		})
	}
}

// BenchmarkProxyAccessLog is BenchmarkProxy with the access log on, in
// each format, written to a discarding writer: the cost of formatting.
func BenchmarkProxyAccessLog(b *testing.B) {
	backend, stop := benchBackend(b)
	defer stop()
	for _, format := range []string{config.FormatText, config.FormatJSON, config.FormatCommon} {
		b.Run(format, func(b *testing.B) {
			addr, shutdown := startBenchProxy(b, backend, benchSetup{mode: config.ModeOff, log: io.Discard, format: format})
			defer shutdown()
			benchClient(b, addr)
		})
	}
}

// benchSetup is how startBenchProxy sets a proxy up.
type benchSetup struct {
	mode      string    // sticky mode
	log       io.Writer // access log destination; nil for none
	format    string    // access log format
	noMetrics bool      // no metrics at all, as before issue 9
}

// startBenchProxy starts a proxy to the server at backend, set up as s.
func startBenchProxy(tb testing.TB, backend string, s benchSetup) (addr string, shutdown func()) {
	sticky := config.DefaultSticky()
	sticky.Mode = s.mode
	if s.mode == config.ModeInsert {
		sticky.Cookie = config.DefaultInsertCookie
	}
	f := &config.File{
		Config:   config.Config{Sticky: sticky},
		Servers:  []config.Server{{ID: "s1", Addr: backend}},
		Limits:   config.DefaultLimits(),
		Timeouts: config.DefaultTimeouts(),
		Metrics:  config.Metrics{MaxRoutes: config.DefaultMetricsMaxRoutes},
	}
	eng := engine.New(nil)
	eng.Measure()
	var logger *accesslog.Logger
	if s.log != nil {
		var err error
		o := config.DefaultAccessLog()
		o.Format = s.format
		if logger, err = accesslog.New(o, s.log); err != nil {
			tb.Fatal(err)
		}
	}
	var m *metrics.Metrics
	if !s.noMetrics {
		m = metrics.New()
		m.Watch(metrics.Sources{Engine: eng.Stats})
	}
	c := testConfig(tb, eng, f)
	c.AccessLog = logger
	p, err := New(Options{Engine: eng, Metrics: m}, c)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln, ListenerOptions{}) }()
	return ln.Addr().String(), func() {
		if err := p.Shutdown(context.Background()); err != nil {
			tb.Error(err)
		}
		if err := <-done; err != nil {
			tb.Error(err)
		}
		if logger != nil {
			logger.Close()
		}
	}
}

// BenchmarkStdlibReverseProxy is BenchmarkProxy with Go's
// httputil.ReverseProxy in net/http's server, configured alike: keep-alive
// to the backend, X-Forwarded-* set.
func BenchmarkStdlibReverseProxy(b *testing.B) {
	backendAddr, stop := benchBackend(b)
	defer stop()
	target := &url.URL{Scheme: "http", Host: backendAddr}
	transport := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer transport.CloseIdleConnections()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		Transport: transport,
		ErrorLog:  nil,
	}
	srv := &http.Server{Handler: rp, ErrorLog: nil}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	benchClient(b, ln.Addr().String())
	srv.Shutdown(context.Background())
	if err := <-done; err != http.ErrServerClosed {
		b.Fatal(err)
	}
}

// BenchmarkDirect is the floor: the client straight to the backend.
func BenchmarkDirect(b *testing.B) {
	addr, stop := benchBackend(b)
	defer stop()
	benchClient(b, addr)
}

// BenchmarkObserve is what reporting one proxied request costs (the
// metrics, and finish's gathering of the exchange), without metrics and
// with them: divided by a request's whole cost in BenchmarkProxy or
// `make bench-http`, the share observation takes of it.
func BenchmarkObserve(b *testing.B) {
	for _, off := range []bool{true, false} {
		name := "metrics-on"
		if off {
			name = "metrics-off"
		}
		b.Run(name, func(b *testing.B) {
			eng := engine.New(nil)
			f := &config.File{
				Config:   config.Config{Sticky: config.DefaultSticky()},
				Servers:  []config.Server{{ID: "s1", Addr: "127.0.0.1:1"}},
				Limits:   config.DefaultLimits(),
				Timeouts: config.DefaultTimeouts(),
				Metrics:  config.Metrics{MaxRoutes: config.DefaultMetricsMaxRoutes},
			}
			var m *metrics.Metrics
			if !off {
				m = metrics.New()
			}
			p, err := New(Options{Engine: eng, Metrics: m}, testConfig(b, eng, f))
			if err != nil {
				b.Fatal(err)
			}
			client, server := net.Pipe()
			defer client.Close()
			c := newClientConn(p, server, nil, p.cur.Load())
			defer c.close()
			c.parsed, c.req.head.Method = true, "GET"
			c.routed = true
			req := engine.Request{Method: "GET", Host: "example.com", Target: "/"}
			eng.Route(&req, &c.d)
			if c.d.ServerIndex() < 0 {
				b.Fatal("no server chosen")
			}
			c.server, c.status, c.connect, c.waited = "s1", 200, -1, 30*time.Microsecond
			b.ReportAllocs()
			for b.Loop() {
				c.start = time.Now()
				c.finish()
			}
		})
	}
}
