package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"l7lb/certs"
	"l7lb/httpmsg"
)

// testCert returns a new self-signed certificate for names and a pool
// that trusts it.
func testCert(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSigned(names, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return c, pool
}

// listenerTLS is the TLS configuration of a test listener serving c, with
// the protocols a certs store offers.
func listenerTLS(c tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c}, NextProtos: []string{"h2", "http/1.1", "acme-tls/1"}, MinVersion: tls.VersionTLS12}
}

// tlsEnv is a proxy serving TLS on its listener with a certificate for
// localhost and 127.0.0.1, and a pool trusting it.
func tlsEnv(t *testing.T, doc string, servers map[string]string, o edgeOptions) (*env, *x509.CertPool) {
	t.Helper()
	c, roots := testCert(t, "localhost", "127.0.0.1")
	o.listener.TLS = listenerTLS(c)
	return setupWith(t, doc, servers, o), roots
}

// dialTLS opens a TLS connection to the proxy asking for protos.
func (e *env) dialTLS(roots *x509.CertPool, protos ...string) *tls.Conn {
	e.t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", e.addr, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: protos})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// h2Client returns an HTTP/2 client of the proxy: over TLS trusting roots,
// or, with roots nil, in cleartext with prior knowledge.
func (e *env) h2Client(roots *x509.CertPool) *http.Client {
	tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, DisableCompression: true}
	if roots == nil {
		tr.AllowHTTP = true
		tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// url is the URL of path on the proxy, https:// with TLS.
func (e *env) url(tls bool, path string) string {
	if tls {
		return "https://localhost:" + e.addr[strings.LastIndexByte(e.addr, ':')+1:] + path
	}
	return "http://" + e.addr + path
}

// get sends a GET with c and reads the whole response.
func get(t *testing.T, c *http.Client, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, string(b)
}

// seenRequest is a request as a backend received it.
type seenRequest struct {
	proto, method, uri, host string
	header, trailer          http.Header
	body                     string
	tls                      *tls.ConnectionState
}

// recordingBackend is a net/http server (HTTP/1.1; HTTP/2 too over TLS
// or, with h2c, in cleartext) that records what it receives and answers
// with handle, or 200 "ok" when handle is nil.
type recordingBackend struct {
	mu   sync.Mutex
	seen []seenRequest
	url  string // with its scheme
	srv  *http.Server
	ln   net.Listener
}

func newRecordingBackend(t *testing.T, tlsConf *tls.Config, h2c bool, handle http.HandlerFunc) *recordingBackend {
	t.Helper()
	b := &recordingBackend{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.ln = ln
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.seen = append(b.seen, seenRequest{proto: r.Proto, method: r.Method, uri: r.RequestURI, host: r.Host,
			header: r.Header.Clone(), trailer: r.Trailer.Clone(), body: string(body), tls: r.TLS})
		b.mu.Unlock()
		if handle != nil {
			handle(w, r)
			return
		}
		io.WriteString(w, "ok")
	}), ReadHeaderTimeout: 10 * time.Second,
		// Handshakes the tests make fail on purpose are no news.
		ErrorLog: log.New(io.Discard, "", 0)}
	b.srv.Protocols = new(http.Protocols)
	b.srv.Protocols.SetHTTP1(true)
	// Over TLS, HTTP/2 when the configuration offers h2.
	b.srv.Protocols.SetHTTP2(tlsConf == nil || slices.Contains(tlsConf.NextProtos, "h2"))
	b.srv.Protocols.SetUnencryptedHTTP2(h2c)
	switch {
	case tlsConf != nil:
		b.url = "https://" + ln.Addr().String()
		b.srv.TLSConfig = tlsConf
		go b.srv.ServeTLS(ln, "", "")
	case h2c:
		b.url = "h2c://" + ln.Addr().String()
		go b.srv.Serve(ln)
	default:
		b.url = "http://" + ln.Addr().String()
		go b.srv.Serve(ln)
	}
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *recordingBackend) last(t *testing.T) seenRequest {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) == 0 {
		t.Fatal("the backend received nothing")
	}
	return b.seen[len(b.seen)-1]
}

func (b *recordingBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

// readAllConn reads c until it is closed or fails, and reports whether it
// was closed (not timed out) within wait.
func closedConn(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, bufio.NewReader(c))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// tlsClientConf trusts roots for localhost.
func tlsClientConf(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: "localhost"}
}

func httpmsgField(name, value string) httpmsg.Field { return httpmsg.Field{Name: name, Value: value} }
