package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"l7lb/certs"
	"l7lb/config"
	"l7lb/httpmsg"
)

// tlsBackend is a recording backend over TLS with a certificate for
// names, which it returns in PEM.
func tlsBackend(t *testing.T, http2 bool, clientCAs *x509.CertPool, handle http.HandlerFunc, names ...string) (*recordingBackend, []byte) {
	t.Helper()
	_, certPEM, keyPEM := testCertPEM(t, names...)
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{c}, NextProtos: []string{"http/1.1"}}
	if http2 {
		conf.NextProtos = []string{"h2", "http/1.1"}
	}
	if clientCAs != nil {
		conf.ClientCAs, conf.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	return newRecordingBackend(t, conf, false, handle), certPEM
}

// clientConf is certs.ClientConfig's configuration for an https:// server
// at addr with tls.
func clientConf(t *testing.T, url string, st *config.ServerTLS) *tls.Config {
	t.Helper()
	addr := strings.TrimPrefix(url, "https://")
	conf, err := certs.ClientConfig(config.Server{ID: "s", Addr: addr, Scheme: "https", TLS: st})
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// writeTemp writes data into a file of the test's and returns its name.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHTTPSServers: an https:// server's certificate is verified against
// tls.ca for tls.server_name (else the URL's host); a wrong CA or name is
// a failed connection (502, the server's failure counted), not a request
// sent; insecure_skip_verify accepts any.
func TestHTTPSServers(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		b, caPEM := tlsBackend(t, h2, nil, nil, "api.internal", "127.0.0.1")
		_, otherPEM, _ := testCertPEM(t, "api.internal")
		caFile := writeTemp(t, "ca.pem", caPEM)
		otherCA := writeTemp(t, "other.pem", otherPEM)
		for _, tt := range []struct {
			name string
			st   *config.ServerTLS
			want int
		}{
			{"ca and name", &config.ServerTLS{CA: caFile, ServerName: "api.internal"}, 200},
			{"ca, the URL's IP", &config.ServerTLS{CA: caFile}, 200},
			{"wrong name", &config.ServerTLS{CA: caFile, ServerName: "www.internal"}, 502},
			{"wrong ca", &config.ServerTLS{CA: otherCA, ServerName: "api.internal"}, 502},
			{"system roots", nil, 502},
			{"insecure", &config.ServerTLS{InsecureSkipVerify: true}, 200},
		} {
			e := setupWith(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{serverTLS: map[string]*tls.Config{"s1": clientConf(t, b.url, tt.st)}})
			before := b.count()
			r := e.roundTrip("GET /v HTTP/1.1\r\nHost: a\r\n\r\n")
			if r.status != tt.want {
				t.Errorf("h2 %v, %s: status %d, want %d (%s)", h2, tt.name, r.status, tt.want, r.body)
			}
			if tt.want == 502 && (b.count() != before || len(e.fails.failed()) == 0) {
				t.Errorf("h2 %v, %s: the request reached the server, or no failure counted", h2, tt.name)
			}
			if tt.want == 200 {
				want := "HTTP/1.1"
				if h2 {
					want = "HTTP/2.0"
				}
				if s := b.last(t); s.proto != want || s.tls == nil {
					t.Errorf("h2 %v, %s: the server got %s", h2, tt.name, s.proto)
				}
			}
		}
	}
}

// TestHTTPSClientCertificate: a server that requires a client certificate
// gets tls.cert (mutual TLS); without one the handshake fails.
func TestHTTPSClientCertificate(t *testing.T) {
	clientCert, clientPEM, clientKey := clientCertPEM(t, "l7lb-client")
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(clientCert)
	b, _ := tlsBackend(t, true, clientCAs, nil, "127.0.0.1")
	certFile, keyFile := writeTemp(t, "c.pem", clientPEM), writeTemp(t, "k.pem", clientKey)
	for _, tt := range []struct {
		st   *config.ServerTLS
		want int
	}{
		{&config.ServerTLS{InsecureSkipVerify: true, Cert: certFile, Key: keyFile}, 200},
		{&config.ServerTLS{InsecureSkipVerify: true}, 502},
	} {
		e := setupWith(t, offSticky, map[string]string{"s1": b.url}, edgeOptions{serverTLS: map[string]*tls.Config{"s1": clientConf(t, b.url, tt.st)}})
		if r := e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n"); r.status != tt.want {
			t.Errorf("client cert %v: status %d, want %d", tt.st.Cert != "", r.status, tt.want)
		}
	}
	if s := b.last(t); len(s.tls.PeerCertificates) == 0 || s.tls.PeerCertificates[0].Subject.CommonName != "l7lb-client" {
		t.Error("the server did not see the client certificate")
	}
}

// TestHTTPSResumption: new connections to an https:// server resume the
// TLS session of earlier ones.
func TestHTTPSResumption(t *testing.T) {
	b, _ := tlsBackend(t, false, nil, nil, "127.0.0.1")
	e := setupWith(t, offSticky+`, "limits": {"max_idle_per_server": 0}`, map[string]string{"s1": b.url},
		edgeOptions{serverTLS: map[string]*tls.Config{"s1": clientConf(t, b.url, &config.ServerTLS{InsecureSkipVerify: true})}})
	for i := range 3 {
		if r := e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n"); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) != 3 || b.seen[0].tls.DidResume || !b.seen[1].tls.DidResume || !b.seen[2].tls.DidResume {
		for i, s := range b.seen {
			t.Errorf("connection %d: resumed %v", i, s.tls.DidResume)
		}
	}
}

// TestH2Servers: an h2c:// server, and an https:// one that negotiates h2,
// get HTTP/2 requests from HTTP/1.1 and HTTP/2 clients alike, with the
// same fields an HTTP/1.1 server gets; responses and their trailers come
// back re-framed for each client.
func TestH2Servers(t *testing.T) {
	handle := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		w.Header().Set("X-Proto", r.Proto)
		w.WriteHeader(200)
		io.WriteString(w, "part1;")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
		w.Header().Set("Grpc-Status", "0")
	}
	h2c := newRecordingBackend(t, nil, true, handle)
	tlsb, _ := tlsBackend(t, true, nil, handle, "127.0.0.1")
	plain := newRecordingBackend(t, nil, false, handle)
	e := setupWith(t, offSticky+`, "routes": [{"path": "/c/*", "servers": ["c"]}, {"path": "/t/*", "servers": ["t"]}, {"path": "/p/*", "servers": ["p"]}]`,
		map[string]string{"c": h2c.url, "t": tlsb.url, "p": plain.url},
		edgeOptions{listener: ListenerOptions{H2C: true}, serverTLS: map[string]*tls.Config{"t": clientConf(t, tlsb.url, &config.ServerTLS{InsecureSkipVerify: true})}})
	for _, tt := range []struct {
		path  string
		b     *recordingBackend
		proto string
	}{{"/c/x", h2c, "HTTP/2.0"}, {"/t/x", tlsb, "HTTP/2.0"}, {"/p/x", plain, "HTTP/1.1"}} {
		// HTTP/1.1 client: chunked, with the trailer.
		c, br := e.dial()
		io.WriteString(c, "POST "+tt.path+" HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nTrailer: X-Req-Trailer\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Req-Trailer: 1\r\n\r\n")
		r := readResp(t, br, false)
		if r.status != 200 || r.body != "part1;part2" || r.trailer.Get("Grpc-Status") != "0" || r.headers.Get("X-Proto") != tt.proto {
			t.Errorf("%s from HTTP/1.1: %d %q trailer %v proto %q", tt.path, r.status, r.body, r.trailer, r.headers.Get("X-Proto"))
		}
		s := tt.b.last(t)
		if s.body != "hello" || s.trailer.Get("X-Req-Trailer") != "1" || s.header.Get("X-Forwarded-For") == "" || s.header.Get("Te") != "trailers" {
			t.Errorf("%s from HTTP/1.1: the server got body %q trailer %v fields %v", tt.path, s.body, s.trailer, s.header)
		}
		// HTTP/2 client.
		resp, err := e.h2Client(nil).Post(e.url(false, tt.path), "text/plain", strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "part1;part2" || resp.Trailer.Get("Grpc-Status") != "0" {
			t.Errorf("%s from HTTP/2: %q trailer %v", tt.path, body, resp.Trailer)
		}
		if s := tt.b.last(t); s.proto != tt.proto || s.body != "hi" {
			t.Errorf("%s from HTTP/2: the server got %s %q", tt.path, s.proto, s.body)
		}
	}
}

// TestHTTPSFallsBackToHTTP1: an https:// server that answers http/1.1 to
// h2 gets HTTP/1.1, from the first request on, without a failure counted.
func TestHTTPSFallsBackToHTTP1(t *testing.T) {
	b, _ := tlsBackend(t, false, nil, nil, "127.0.0.1")
	e := setupWith(t, offSticky, map[string]string{"s1": b.url},
		edgeOptions{listener: ListenerOptions{H2C: true}, serverTLS: map[string]*tls.Config{"s1": clientConf(t, b.url, &config.ServerTLS{InsecureSkipVerify: true})}})
	for i := range 3 {
		if resp, _ := get(t, e.h2Client(nil), e.url(false, "/"), nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		if s := b.last(t); s.proto != "HTTP/1.1" {
			t.Errorf("request %d went in %s", i, s.proto)
		}
	}
	if f := e.fails.failed(); len(f) != 0 {
		t.Errorf("failures counted: %v", f)
	}
}

// TestUpgradeToH2Servers: a protocol upgrade (WebSocket) goes to an
// https:// server over HTTP/1.1 even when it speaks h2, and is refused
// with 502 for an h2c:// server, which has no HTTP/1.1.
func TestUpgradeToH2Servers(t *testing.T) {
	upgrade := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			io.WriteString(w, "no upgrade")
			return
		}
		c, brw, _ := http.NewResponseController(w).Hijack()
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(c, "echo:"+line)
	}
	tlsb, _ := tlsBackend(t, true, nil, upgrade, "127.0.0.1")
	h2c := newRecordingBackend(t, nil, true, upgrade)
	e := setupWith(t, offSticky+`, "routes": [{"path": "/t", "servers": ["t"]}, {"path": "/c", "servers": ["c"]}]`,
		map[string]string{"t": tlsb.url, "c": h2c.url},
		edgeOptions{serverTLS: map[string]*tls.Config{"t": clientConf(t, tlsb.url, &config.ServerTLS{InsecureSkipVerify: true})}})
	c, br := e.dial()
	io.WriteString(c, "GET /t HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if r, _ := http.ReadResponse(br, nil); r == nil || r.StatusCode != 101 {
		t.Fatalf("upgrade through an https server: %v", r)
	}
	io.WriteString(c, "ping\n")
	if line, _ := br.ReadString('\n'); line != "echo:ping\n" {
		t.Errorf("tunnel: %q", line)
	}
	if r := e.roundTrip("GET /c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"); r.status != 502 {
		t.Errorf("upgrade through an h2c server: status %d", r.status)
	}
}

// TestH2ServerTimeouts: the response-header timeout of a request to an
// HTTP/2 server runs from the end of its body: a server that takes long
// to answer is 504; a client that streams its body for longer than the
// timeout is not cut off, nor is a response whose head came in time and
// whose body takes longer.
func TestH2ServerTimeouts(t *testing.T) {
	b := newRecordingBackend(t, nil, true, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-head":
			time.Sleep(800 * time.Millisecond)
		case "/slow-body":
			w.WriteHeader(200)
			for range 4 {
				io.WriteString(w, "tick;")
				w.(http.Flusher).Flush()
				time.Sleep(200 * time.Millisecond)
			}
			return
		}
		io.WriteString(w, "ok")
	})
	e := setupWith(t, offSticky+`, "timeouts": {"response_header": "300ms"}`, map[string]string{"s1": b.url},
		edgeOptions{listener: ListenerOptions{H2C: true}})
	c := e.h2Client(nil)
	if resp, _ := get(t, c, e.url(false, "/slow-head"), nil); resp.StatusCode != 504 {
		t.Errorf("slow head: %d, want 504", resp.StatusCode)
	}
	if resp, body := get(t, c, e.url(false, "/slow-body"), nil); resp.StatusCode != 200 || body != "tick;tick;tick;tick;" {
		t.Errorf("slow body: %d %q", resp.StatusCode, body)
	}
	pr, pw := io.Pipe()
	go func() {
		for range 4 {
			io.WriteString(pw, "chunk;")
			time.Sleep(200 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := c.Post(e.url(false, "/upload"), "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || b.last(t).body != "chunk;chunk;chunk;chunk;" {
		t.Errorf("slow upload: %d, the server got %q", resp.StatusCode, b.last(t).body)
	}
	// The same from an HTTP/1.1 client, chunked.
	conn, br := e.dial()
	io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
	for range 3 {
		io.WriteString(conn, "3\r\nabc\r\n")
		time.Sleep(200 * time.Millisecond)
	}
	io.WriteString(conn, "0\r\n\r\n")
	if r := readResp(t, br, false); r.status != 200 || b.last(t).body != "abcabcabc" {
		t.Errorf("slow HTTP/1.1 upload: %d, the server got %q", r.status, b.last(t).body)
	}
}

// TestH1ClientToH2ServerKeepAlive: an HTTP/1.1 client's connection serves
// request after request to an HTTP/2 server, bodies of every framing
// included, with Expect: 100-continue answered.
func TestH1ClientToH2ServerKeepAlive(t *testing.T) {
	b := newRecordingBackend(t, nil, true, nil)
	e := setup(t, offSticky, map[string]string{"s1": b.url})
	c, br := e.dial()
	for _, tt := range []struct{ raw, body string }{
		{"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n", ""},
		{"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "hello"},
		{"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", "hi"},
		{"POST /4 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", ""},
	} {
		io.WriteString(c, tt.raw)
		if r := readResp(t, br, false); r.status != 200 || r.close {
			t.Fatalf("%q: %d close %v", tt.raw, r.status, r.close)
		}
		if s := b.last(t); s.body != tt.body || s.proto != "HTTP/2.0" {
			t.Errorf("%q: the server got %s %q", tt.raw, s.proto, s.body)
		}
	}
	io.WriteString(c, "PUT /5 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
	if line, _ := br.ReadString('\n'); line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("want 100 Continue, got %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "abc")
	if r := readResp(t, br, false); r.status != 200 || b.last(t).body != "abc" {
		t.Errorf("after 100 Continue: %d %q", r.status, b.last(t).body)
	}
}

// clientCertPEM returns a new certificate for client authentication
// (mutual TLS), and it and its key in PEM.
func clientCertPEM(t *testing.T, name string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	leaf, _ := x509.ParseCertificate(der)
	return leaf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// testCertPEM returns a new self-signed certificate for names, and it and
// its key in PEM.
func testCertPEM(t *testing.T, names ...string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSigned(names, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	return leaf, certPEM, keyPEM
}

func TestGRPCTimeout(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"1H", time.Hour, true}, {"99999999H", math.MaxInt64, true}, {"2M", 2 * time.Minute, true}, {"3S", 3 * time.Second, true},
		{"250m", 250 * time.Millisecond, true}, {"99999999u", 99999999 * time.Microsecond, true}, {"5n", 5, true},
		{"", 0, false}, {"S", 0, false}, {"10", 0, false}, {"10s", 0, false}, {"123456789S", 0, false}, {"-1S", 0, false}, {"1.5S", 0, false},
	} {
		r := &request{}
		r.head.Fields = []httpmsg.Field{{Name: "Grpc-Timeout", Value: tt.v}}
		r.view.Fields = r.head.Fields
		got, ok := grpcTimeout(r)
		if got != tt.want || ok != tt.ok {
			t.Errorf("grpc-timeout %q: %v %v, want %v %v", tt.v, got, ok, tt.want, tt.ok)
		}
		want := time.Second
		if tt.ok && tt.want > want {
			want = min(tt.want, math.MaxInt64-grpcDeadlineGrace) + grpcDeadlineGrace
		}
		if d := headTimeout(time.Second, r); d != want {
			t.Errorf("grpc-timeout %q: head timeout %v", tt.v, d)
		}
	}
}
