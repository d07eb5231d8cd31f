package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"l7lb/testlog"
)

// Bounds on waiting for the proxy process. Generous for a loaded 2-core
// machine, yet short enough that a hung proxy fails a test instead of the
// whole run.
const (
	readyTimeout = 10 * time.Second
	stopTimeout  = 10 * time.Second
	clientTO     = 15 * time.Second
)

// backend is an origin server that answers with its id and echoes what it
// received: X-Backend (its id), X-Path (the request-target exactly as it
// arrived), X-Host; the body is its id. It also records every request, so
// that tests can inspect the forwarded headers.
type backend struct {
	ID  string
	URL string           // http://127.0.0.1:PORT
	srv *httptest.Server // nil for a raw backend the test runs itself

	mu   sync.Mutex
	seen []seenRequest
}

// seenRequest is what a backend received.
type seenRequest struct {
	Method, URI, Host string
	Header            http.Header
}

// newBackend starts an echo backend called id, closed when the test ends.
func newBackend(t testing.TB, id string) *backend {
	t.Helper()
	b := &backend{ID: id}
	b.srv = httptest.NewServer(b)
	b.URL = b.srv.URL
	t.Cleanup(b.Close)
	return b
}

// newBackends starts echo backends s1..sn.
func newBackends(t testing.TB, n int) []*backend {
	bs := make([]*backend, n)
	for i := range bs {
		bs[i] = newBackend(t, fmt.Sprintf("s%d", i+1))
	}
	return bs
}

// newHandlerBackend starts a backend called id that answers with h (after
// the X-Backend header is set) instead of echoing.
func newHandlerBackend(t testing.TB, id string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{ID: id}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		w.Header().Set("X-Backend", id)
		h(w, r)
	}))
	b.URL = b.srv.URL
	t.Cleanup(b.Close)
	return b
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the whole body first: a handler that answers before reading
	// makes net/http close the connection, which would hide pooling bugs.
	io.Copy(io.Discard, r.Body)
	b.record(r)
	w.Header().Set("X-Backend", b.ID)
	w.Header().Set("X-Path", r.RequestURI)
	w.Header().Set("X-Host", r.Host)
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, b.ID)
}

// Close stops the backend: its listener first, so that new connections
// are refused, then its idle connections; it waits for requests in flight.
// It may be called more than once.
func (b *backend) Close() {
	if b.srv != nil {
		b.srv.Close()
	}
}

func (b *backend) record(r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen = append(b.seen, seenRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone()})
}

// last returns the last request the backend received.
func (b *backend) last() (seenRequest, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) == 0 {
		return seenRequest{}, false
	}
	return b.seen[len(b.seen)-1], true
}

// count returns how many requests the backend received.
func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

// serversYAML writes the `listen` and `servers` keys of a serve config.
func serversYAML(listen string, bs []*backend) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\nservers:\n", listen)
	for _, be := range bs {
		fmt.Fprintf(&b, "  %s: %s\n", be.ID, be.URL)
	}
	return b.String()
}

// serveProc is a running `l7lb serve`.
type serveProc struct {
	Addr   string // host:port it serves on
	cmd    *exec.Cmd
	stderr *testlog.Buffer
	stdout *testlog.Buffer // the access log
	done   chan struct{}   // closed when the process has exited
	err    error           // cmd.Wait's result, once done is closed
}

// serveOpts tunes startServe.
type serveOpts struct {
	env   []string  // extra environment, NAME=value
	args  []string  // extra arguments after --config FILE
	stdin io.Reader // its standard input (the configuration for --config -)
}

// startServe starts `l7lb serve` on a free loopback port with a config made
// of the listen and servers keys for bs followed by body (YAML), waits until
// it is ready, and stops it with SIGTERM when the test ends.
func startServe(t testing.TB, bs []*backend, body string) *serveProc {
	return startServeOpts(t, bs, body, serveOpts{})
}

func startServeOpts(t testing.TB, bs []*backend, body string, o serveOpts) *serveProc {
	t.Helper()
	// The port is free when freePort returns but another process may take
	// it before serve binds it: retry a few times on that failure only.
	for attempt := 0; ; attempt++ {
		addr := freePort(t)
		cfg := writeFile(t, "serve.yaml", serversYAML(addr, bs)+body)
		p, err := launch(t, cfg, o)
		if err == nil {
			return p
		}
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			continue
		}
		t.Fatalf("starting l7lb serve: %v\nconfig:\n%s", err, serversYAML(addr, bs)+body)
	}
}

// launch runs serve on the config file cfg and waits for its readiness line.
func launch(t testing.TB, cfg string, o serveOpts) (*serveProc, error) {
	args := append([]string{"serve", "--config", cfg}, o.args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(childEnv(), o.env...)
	cmd.Stdin = o.stdin
	p := &serveProc{cmd: cmd, stderr: &testlog.Buffer{Limit: 1 << 20}, stdout: &testlog.Buffer{Limit: 1 << 20}, done: make(chan struct{})}
	ready := make(chan string, 1)
	cmd.Stderr = &readyWatcher{out: p.stderr, ready: ready}
	cmd.Stdout = p.stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case addr := <-ready:
		p.Addr = addr
	case <-p.done:
		return nil, fmt.Errorf("exited before ready (%v); stderr:\n%s", p.err, p.stderr)
	case <-time.After(readyTimeout):
		cmd.Process.Kill()
		<-p.done
		return nil, fmt.Errorf("not ready after %v; stderr:\n%s", readyTimeout, p.stderr)
	}
	t.Cleanup(func() { p.stop(t) })
	return p, nil
}

// stop sends SIGTERM and waits for a clean exit, killing the process if it
// takes longer than stopTimeout.
func (p *serveProc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("l7lb serve exited with %v after SIGTERM; stderr:\n%s", p.err, p.stderr)
		}
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("l7lb serve still running %v after SIGTERM; killed", stopTimeout)
	}
}

// pid returns the process id of the proxy.
func (p *serveProc) pid() int { return p.cmd.Process.Pid }

// readyWatcher copies a process's stderr and reports the address of the
// first `l7lb: serving on ADDR` line.
type readyWatcher struct {
	out     io.Writer
	ready   chan string
	partial []byte
	seen    bool
}

const readyPrefix = "l7lb: serving on "

func (w *readyWatcher) Write(p []byte) (int, error) {
	w.out.Write(p)
	if w.seen {
		return len(p), nil
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if addr, ok := strings.CutPrefix(line, readyPrefix); ok {
			w.seen = true
			w.ready <- strings.TrimSpace(addr)
			w.partial = nil
			break
		}
	}
	return len(p), nil
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// writeFile writes content to a new file called name in the test's
// temporary directory and returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// childEnv returns the environment for the l7lb processes the tests run.
func childEnv() []string {
	// Hermetic: a secret in the developer's environment must not change
	// what the sticky tests see.
	env := withoutEnv(os.Environ(), "L7LB_STICKY_SECRET")
	if raceEnabled {
		// A race-enabled binary sleeps 1s at exit by default, which the
		// dozens of processes of this suite would add up. A race found
		// still makes it exit with status 66, which the tests report.
		env = append(withoutEnv(env, "GORACE"), strings.TrimSpace("GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE")))
	}
	return env
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// newClient returns an HTTP client that never uses an environment proxy
// and, with jar, keeps cookies.
func newClient(t testing.TB, jar bool) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 8,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: clientTO}
	if jar {
		j, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Jar = j
	}
	return c
}

// reply is a response read whole.
type reply struct {
	Status  int
	Header  http.Header
	Body    string
	Backend string // X-Backend
	Path    string // X-Path
}

// request builds a request to the proxy at addr for target (origin-form,
// sent byte for byte, query included) with Host host ("" keeps addr).
func request(t testing.TB, method, addr, host, target string, body io.Reader) *http.Request {
	t.Helper()
	// Opaque makes net/http send the path exactly as written instead of
	// re-escaping it: %2F must reach the proxy as %2F.
	path, query, hasQuery := strings.Cut(target, "?")
	u := &url.URL{Scheme: "http", Host: addr, Opaque: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	req, err := http.NewRequest(method, "http://"+addr+"/", body)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = u
	if host != "" {
		req.Host = host
	}
	return req
}

// do sends req and reads the whole response.
func do(t testing.TB, c *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", req.Method, req.URL.RequestURI(), req.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.RequestURI(), err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Backend: resp.Header.Get("X-Backend"), Path: resp.Header.Get("X-Path")}
}

// get sends GET target with Host host through the proxy at addr.
func get(t testing.TB, c *http.Client, addr, host, target string) reply {
	t.Helper()
	return do(t, c, request(t, "GET", addr, host, target, nil))
}

// rawExchange writes head (a whole request, CRLF line ends) on a new
// connection to addr and reads one response; method tells the reader
// whether a body follows (HEAD).
func rawExchange(addr, head, method string) (*http.Response, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(clientTO))
	if _, err := io.WriteString(conn, head); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}
