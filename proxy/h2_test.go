package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestH2SameFieldsAsHTTP1: a request sent in HTTP/2 reaches its server
// with the same fields as the same request sent in HTTP/1.1 (one code
// writes both): hop-by-hop fields gone, forwarding fields replaced or
// appended to, host_rewrite, X-Request-Id, TE: trailers; and the response
// reaches the client with the same fields, the sticky cookie included.
func TestH2SameFieldsAsHTTP1(t *testing.T) {
	b := newRecordingBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-From-Server", "1")
		w.Header().Set("Keep-Alive", "timeout=5") // hop-by-hop: dropped
		w.Header().Add("Set-Cookie", "own=1")
		io.WriteString(w, "ok")
	})
	e, roots := tlsEnv(t, `"sticky": {"mode": "insert"}, "routes": [{"path": "/api/*", "servers": ["s1"], "host_rewrite": "internal.example", "rewrite": {"strip_prefix": "/api"}}]`,
		map[string]string{"s1": b.url}, edgeOptions{})

	header := http.Header{
		"X-Forwarded-For":   {"203.0.113.9"},
		"X-Forwarded-Host":  {"evil.example"},
		"X-Forwarded-Proto": {"gopher"},
		"Forwarded":         {"for=203.0.113.9"},
		"Accept":            {"text/plain"},
		"Te":                {"trailers"},
		"Cookie":            {"a=1; b=2"},
	}
	send := func(c *http.Client) (*http.Response, seenRequest) {
		resp, body := get(t, c, e.url(true, "/api/users?id=7"), header)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%s: %d %q", resp.Proto, resp.StatusCode, body)
		}
		return resp, b.last(t)
	}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsClientConf(roots), DisableCompression: true}, Timeout: 10 * time.Second}
	t.Cleanup(h1.CloseIdleConnections)
	r1, s1 := send(h1)
	r2, s2 := send(e.h2Client(roots))
	if r1.Proto != "HTTP/1.1" || r2.Proto != "HTTP/2.0" {
		t.Fatalf("protocols %s and %s", r1.Proto, r2.Proto)
	}
	// What differs by nature: the request id, Via's protocol version,
	// and User-Agent and Accept-Encoding that the two Go clients set
	// differently.
	if v1, v2 := s1.header.Get("Via"), s2.header.Get("Via"); v1 != "1.1 l7lb" || v2 != "2 l7lb" {
		t.Errorf("Via %q and %q", v1, v2)
	}
	norm := func(h http.Header) http.Header {
		h = h.Clone()
		for _, k := range []string{"X-Request-Id", "User-Agent", "Accept-Encoding", "Via"} {
			if k == "X-Request-Id" && h.Get(k) == "" {
				t.Errorf("no X-Request-Id: %v", h)
			}
			delete(h, k)
		}
		return h
	}
	if a, b := norm(s1.header), norm(s2.header); !equalHeaders(a, b) {
		t.Errorf("the server got different fields:\nHTTP/1.1 %v\nHTTP/2   %v", a, b)
	}
	for _, s := range []seenRequest{s1, s2} {
		if s.host != "internal.example" || s.uri != "/users?id=7" {
			t.Errorf("host %q target %q", s.host, s.uri)
		}
		if got := s.header.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For %q: a client's own must be replaced", got)
		}
		if got := s.header.Get("X-Forwarded-Host"); !strings.HasPrefix(got, "localhost:") {
			t.Errorf("X-Forwarded-Host %q", got)
		}
		if got := s.header.Get("Te"); got != "trailers" {
			t.Errorf("TE %q", got)
		}
	}
	respNorm := func(h http.Header) http.Header {
		h = h.Clone()
		delete(h, "Date")
		// The cookie's signature and time differ; its attributes must not.
		for i, c := range h["Set-Cookie"] {
			if strings.HasPrefix(c, "l7lb=") {
				h["Set-Cookie"][i] = "l7lb=X" + c[strings.IndexByte(c, ';'):]
			}
		}
		return h
	}
	if a, b := respNorm(r1.Header), respNorm(r2.Header); !equalHeaders(a, b) {
		t.Errorf("the client got different fields:\nHTTP/1.1 %v\nHTTP/2   %v", a, b)
	}
	if r2.Header.Get("Keep-Alive") != "" || len(r2.Header["Set-Cookie"]) != 2 || r2.Header.Get("X-From-Server") != "1" {
		t.Errorf("HTTP/2 response fields %v", r2.Header)
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb := b[k]
		if !slices.Equal(va, vb) {
			return false
		}
	}
	return true
}

// TestH2RoutingAndSticky: an HTTP/2 request is routed by :authority and
// path, and its sticky cookie is honoured, as an HTTP/1.1 request is.
func TestH2RoutingAndSticky(t *testing.T) {
	b1 := newRecordingBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b1") })
	b2 := newRecordingBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b2") })
	b3 := newRecordingBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b3") })
	e := setupWith(t, `"sticky": {"mode": "insert"}, "routes": [{"host": "shop.example", "servers": ["s1", "s2"]}, {"path": "/img/*", "servers": ["s3"], "sticky": false}]`,
		map[string]string{"s1": b1.url, "s2": b2.url, "s3": b3.url}, edgeOptions{listener: ListenerOptions{H2C: true}})
	c := e.h2Client(nil)
	req, _ := http.NewRequest("GET", e.url(false, "/cart"), nil)
	req.Host = "shop.example"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	if cookie == "" {
		t.Fatal("no sticky cookie")
	}
	for range 6 {
		req, _ := http.NewRequest("GET", e.url(false, "/cart"), nil)
		req.Host = "shop.example"
		req.Header.Set("Cookie", cookie[:strings.IndexByte(cookie, ';')])
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, first) {
			t.Fatalf("sticky request went to %s, first to %s", got, first)
		}
	}
	if _, body := get(t, c, e.url(false, "/img/a.png"), nil); body != "b3" {
		t.Errorf("/img/* went to %s", body)
	}
	e.accessLog(8)
	log := e.log.String()
	i := strings.Index(log, "path=/img/a.png ")
	if i < 0 {
		t.Fatalf("access log has no line for /img/a.png:\n%s", log)
	}
	line := log[strings.LastIndexByte(log[:i], '\n')+1:]
	line = line[:strings.IndexByte(line, '\n')]
	for _, want := range []string{"method=GET host=" + e.addr + " ", " proto=HTTP/2.0 status=200 bytes_received=0 bytes_sent=2 ",
		" route=route-2 server=s3 ", " sticky=none "} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line lacks %q:\n%s", want, line)
		}
	}
}

// TestH2BodiesAndTrailers: request bodies of known and unknown length
// stream from an HTTP/2 client to an HTTP/1.1 server (chunked when the
// length is unknown, the client's trailers with them), and a chunked
// response's trailers reach the HTTP/2 client.
func TestH2BodiesAndTrailers(t *testing.T) {
	b := newRecordingBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(200)
		for i := range 3 {
			io.WriteString(w, strings.Repeat(string(rune('a'+i)), 10000))
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Checksum", "abc")
	})
	e, roots := tlsEnv(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{})
	c := e.h2Client(roots)
	big := strings.Repeat("0123456789", 30000)

	// Known length.
	resp, err := c.Post(e.url(true, "/len"), "text/plain", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) != 30000 || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("response: %d bytes, trailer %v", len(body), resp.Trailer)
	}
	if s := b.last(t); s.body != big || s.header.Get("Content-Length") != "" && s.header.Get("Content-Length") != "300000" {
		t.Errorf("known length: the server got %d bytes, Content-Length %q", len(s.body), s.header.Get("Content-Length"))
	}

	// Unknown length, with trailers.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", e.url(true, "/stream"), pr)
	req.Trailer = http.Header{"X-Client-Sum": nil}
	go func() {
		for i := 0; i < len(big); i += 65536 {
			pw.Write([]byte(big[i:min(i+65536, len(big))]))
		}
		req.Trailer.Set("X-Client-Sum", "42")
		pw.Close()
	}()
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s := b.last(t)
	if s.body != big {
		t.Errorf("unknown length: the server got %d bytes", len(s.body))
	}
	if s.trailer.Get("X-Client-Sum") != "42" {
		t.Errorf("the server got trailers %v", s.trailer)
	}
}

// TestH2HeaderLimits: more fields than max_headers are answered 431, and
// the connection goes on serving; a header list up to max_header_bytes
// passes (Go's client sends no more than that: the frame tests send
// more).
func TestH2HeaderLimits(t *testing.T) {
	b := newRecordingBackend(t, nil, false, nil)
	e := setupWith(t, offSticky+`, "limits": {"max_header_bytes": 16384, "max_headers": 20}`, map[string]string{"s1": b.url}, edgeOptions{listener: ListenerOptions{H2C: true}})
	c := e.h2Client(nil)
	for _, tt := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"just under", http.Header{"X-Big": {strings.Repeat("a", 16384-400)}}, 200},
		{"many fields", func() http.Header {
			h := http.Header{}
			for i := range 25 {
				h.Set("X-F"+itoa(i), "v")
			}
			return h
		}(), 431},
		{"after", nil, 200},
	} {
		resp, _ := get(t, c, e.url(false, "/"), tt.header)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

// TestH2ProxyErrors: the proxy's own answers reach an HTTP/2 client.
func TestH2ProxyErrors(t *testing.T) {
	down := newRecordingBackend(t, nil, false, nil)
	down.srv.Close()
	e := setupWith(t, offSticky+`, "default_servers": [], "routes": [{"path": "/down/*", "servers": ["s1"]}]`,
		map[string]string{"s1": down.url}, edgeOptions{listener: ListenerOptions{H2C: true}})
	c := e.h2Client(nil)
	for path, want := range map[string]int{"/nowhere": 404, "/down/x": 502} {
		resp, body := get(t, c, e.url(false, path), nil)
		if resp.StatusCode != want || !strings.HasSuffix(body, "\n") {
			t.Errorf("%s: %d %q, want %d", path, resp.StatusCode, body, want)
		}
	}
}

// TestH2ToH1RequestLine: the HTTP/1.1 request an HTTP/2 request becomes,
// byte for byte where it matters: the target as the engine made it, Host,
// chunked framing for a body of unknown length.
func TestH2ToH1RequestLine(t *testing.T) {
	b, heads := captureBackend(t, "")
	e := setupWith(t, offSticky, map[string]string{"s1": b.addr()}, edgeOptions{listener: ListenerOptions{H2C: true}})
	c := e.h2Client(nil)
	pr, pw := io.Pipe()
	go func() { io.WriteString(pw, "hello"); pw.Close() }()
	req, _ := http.NewRequest("POST", e.url(false, "/a%2Fb/./c?q=%20"), pr)
	req.Host = "Shop.Example"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	head := <-heads
	br := bufio.NewReader(strings.NewReader(head))
	line, _ := br.ReadString('\n')
	if line != "POST /a%2Fb/c?q=%20 HTTP/1.1\r\n" {
		t.Errorf("request line %q", line)
	}
	for _, want := range []string{"\r\nHost: Shop.Example\r\n", "\r\nTransfer-Encoding: chunked\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("head lacks %q:\n%s", want, head)
		}
	}
}

// TestH2Observed: HTTP/2 requests are counted, timed and logged as
// HTTP/1.x ones are (one observation for both): by their real status,
// with their route and server, the request body's bytes received, the
// upstream time, and a retry after an unreachable server.
func TestH2Observed(t *testing.T) {
	var b *recordingBackend
	b = newRecordingBackend(t, nil, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/err" {
			w.WriteHeader(500)
		}
		io.WriteString(w, b.last(t).body) // the request's own body, which the backend read
	})
	dead := deadAddr(t)
	e, roots := tlsEnv(t, `"sticky": {"mode": "off"}, "routes": [{"name": "api", "path": "/*", "servers": ["s1"]},
		{"name": "retry", "path": "/retry", "servers": ["dead", "s1"]}]`,
		map[string]string{"s1": b.url, "dead": dead}, edgeOptions{})
	c := e.h2Client(roots)
	post := func(path, body string) {
		t.Helper()
		resp, err := c.Post(e.url(true, path), "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/2.0" || string(got) != body {
			t.Fatalf("%s %s: %s %q", resp.Proto, path, resp.Status, got)
		}
	}
	post("/ok", "hello")
	post("/err", "boom")
	// Round robin: one of the two at least goes to the dead server first.
	post("/retry", "again")
	post("/retry", "again")
	log := e.accessLog(4)

	rec := httptest.NewRecorder()
	e.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	scrape := rec.Body.String()
	for _, want := range []string{
		`l7lb_http_server_requests_total{http_request_method="POST",http_response_status_code="200",route="api",server="s1"} 1`,
		`l7lb_http_server_requests_total{http_request_method="POST",http_response_status_code="500",route="api",server="s1"} 1`,
		`l7lb_http_server_requests_total{http_request_method="POST",http_response_status_code="200",route="retry",server="s1"} 2`,
		`l7lb_http_server_request_duration_seconds_count{route="api"} 2`,
	} {
		if !strings.Contains(scrape, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, want := range []string{
		`path=/ok proto=HTTP/2.0 status=200 bytes_received=5 bytes_sent=5 `,
		`path=/err proto=HTTP/2.0 status=500 bytes_received=4 bytes_sent=4 `,
		`path=/retry proto=HTTP/2.0 status=200 bytes_received=5 bytes_sent=5 `,
		` route=retry server=s1 upstream_time_us=`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("access log lacks %q", want)
		}
	}
	if !regexp.MustCompile(`path=/retry .* retries=1 `).MatchString(log) {
		t.Errorf("access log: no request to /retry says it was retried once")
	}
	if t.Failed() {
		t.Logf("access log:\n%s\n/metrics:\n%s", log, scrape)
	}
}
