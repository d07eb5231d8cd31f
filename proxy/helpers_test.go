package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"l7lb/accesslog"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/metrics"
	"l7lb/session"
	"l7lb/testlog"
)

// env is a proxy under test, serving on a loopback listener.
type env struct {
	t       *testing.T
	p       *Proxy
	eng     *engine.Engine
	file    *config.File
	addr    string
	log     *testlog.Buffer
	fails   *recorder
	metrics *metrics.Metrics
}

// setup starts a proxy over the configuration document doc (JSON) whose
// "servers" map is filled from servers (id → address), with every started
// thing stopped at the end of the test.
func setup(t *testing.T, doc string, servers map[string]string) *env {
	t.Helper()
	return setupWith(t, doc, servers, edgeOptions{})
}

// edgeOptions are what setupWith adds to setup: what the listener speaks
// and the TLS configurations of https:// servers.
type edgeOptions struct {
	listener  ListenerOptions
	serverTLS map[string]*tls.Config
}

// setupWith is setup with o; a server address with a scheme (h2c://,
// https://) is taken as the server's URL.
func setupWith(t *testing.T, doc string, servers map[string]string, o edgeOptions) *env {
	t.Helper()
	var ids []string
	var b strings.Builder
	b.WriteString(`{"listen": "127.0.0.1:8080", "servers": {`)
	first := true
	for _, id := range sortedKeys(servers) {
		if !first {
			b.WriteString(",")
		}
		first = false
		u := servers[id]
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		b.WriteString(`"` + id + `": "` + u + `"`)
		ids = append(ids, id)
	}
	b.WriteString("}")
	if doc = strings.TrimSpace(doc); doc != "" {
		b.WriteString(", " + doc)
	}
	b.WriteString("}")
	v, err := config.Parse([]byte(b.String()))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	f, err := config.DecodeFile(v, true)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	eng := engine.New(func(msg string) { t.Log("engine:", msg) })
	eng.Measure() // as l7lb serve does
	e := &env{t: t, eng: eng, file: f, log: &testlog.Buffer{}, fails: &recorder{}}
	e.metrics = metrics.New()
	e.metrics.Watch(metrics.Sources{Engine: eng.Stats})
	logger, err := accesslog.New(config.DefaultAccessLog(), e.log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, eng, f)
	cfg.ServerTLS = o.serverTLS
	cfg.AccessLog = logger
	e.p, err = New(Options{Engine: eng, Health: e.fails, Metrics: e.metrics, Logf: t.Logf}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.p.Serve(ln, o.listener) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		logger.Close()
		// Every request the engine counted in flight has ended, whatever
		// became of it: retried, failed, upgraded, cut short.
		for id, st := range eng.Stats().Servers {
			if st.InFlight != 0 {
				t.Errorf("server %s: %d requests still in flight after shutdown", id, st.InFlight)
			}
		}
	})
	return e
}

// testSigner signs the sticky cookies of the tests' proxies.
var testSigner = session.NewSigner([]byte("0123456789abcdef0123456789abcdef"))

// testConfig applies f to eng as l7lb serve does and returns the proxy's
// configuration for it.
func testConfig(tb testing.TB, eng *engine.Engine, f *config.File) Config {
	tb.Helper()
	ids := make([]string, len(f.Servers))
	for i, s := range f.Servers {
		ids[i] = s.ID
	}
	v, err := eng.Replace(engine.Update{NodeID: "l7lb", Servers: ids, Config: &f.Config, Options: EngineOptions(testSigner)})
	if err != nil {
		tb.Fatalf("apply: %v", err)
	}
	return Config{View: v, Servers: f.Servers, Timeouts: f.Timeouts, Limits: f.Limits, Sticky: f.Sticky, DrainTimeout: f.DrainTimeout, TrustedProxies: f.TrustedProxies, Via: f.Via, Metrics: f.Metrics,
		Revision: config.Revision{N: 1, Hash: f.Hash()}}
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// offSticky is a configuration without stickiness, for the tests that do
// not look at cookies.
const offSticky = `"sticky": {"mode": "off"}`

// recorder is a Reporter that records what it is told.
type recorder struct {
	mu                  sync.Mutex
	failures, successes []string
}

func (r *recorder) Failure(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, s)
}

func (r *recorder) Success(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.successes = append(r.successes, s)
}

func (r *recorder) failed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failures...)
}

func (r *recorder) succeeded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.successes...)
}

// httpBackend starts a net/http server running h.
func httpBackend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// rawBackend is a TCP server whose connections run handle; it counts the
// connections it accepted.
type rawBackend struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newRawBackend(t *testing.T, handle func(c net.Conn, br *bufio.Reader)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(b.close)
	return b
}

func (b *rawBackend) addr() string { return b.ln.Addr().String() }

func (b *rawBackend) close() {
	b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// readWireHead reads a request or response head from br, returning "" at EOF.
func readWireHead(br *bufio.Reader) string {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return ""
		}
		if line == "\r\n" || line == "\n" {
			return b.String()
		}
	}
}

// dial opens a client connection to the proxy.
func (e *env) dial() (net.Conn, *bufio.Reader) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// resp is a response as a test client read it.
type resp struct {
	status  int
	proto   string
	headers http.Header
	body    string
	trailer http.Header
	close   bool // Connection: close (which net/http takes out of headers)
}

// roundTrip sends raw on a new connection and reads one response.
func (e *env) roundTrip(raw string) *resp {
	e.t.Helper()
	c, br := e.dial()
	if _, err := io.WriteString(c, raw); err != nil {
		e.t.Fatal(err)
	}
	return readResp(e.t, br, strings.HasPrefix(raw, "HEAD "))
}

// readResp reads a response with net/http's parser, which also checks
// that the proxy's framing is valid.
func readResp(t *testing.T, br *bufio.Reader, head bool) *resp {
	t.Helper()
	method := "GET"
	if head {
		method = "HEAD"
	}
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return &resp{status: res.StatusCode, proto: res.Proto, headers: res.Header, body: string(body), trailer: res.Trailer, close: res.Close}
}

// netConn is net.Conn, for handlers in tests that import no net.
type netConn = net.Conn

// closedWithin reports whether the proxy closes c within wait: a read gets
// EOF (or a reset) rather than a timeout.
func closedWithin(c net.Conn, br *bufio.Reader, wait time.Duration) bool {
	defer c.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := br.ReadByte()
	if err == nil {
		return false
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// accessLog returns the access log once it has n lines: the proxy writes a
// line after the response, and so maybe after the client read it.
func (e *env) accessLog(n int) string {
	deadline := time.Now().Add(3 * time.Second)
	for {
		s := e.log.String()
		if strings.Count(s, "\n") >= n || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}
