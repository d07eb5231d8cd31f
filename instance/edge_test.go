package instance

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"l7lb/certs"
	"l7lb/config"
	"l7lb/testlog"
)

// selfSigned writes a self-signed certificate for localhost and 127.0.0.1
// and its key into dir as NAME.pem and NAME-key.pem, and returns the
// certificate (DER).
func selfSigned(t *testing.T, dir, name string) []byte {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSigned([]string{"localhost", "127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := tls.X509KeyPair(certPEM, keyPEM)
	return c.Certificate[0]
}

// TestReloadTLSListeners: a reload that adds a TLS listener serves HTTPS
// there (HTTP/2 by ALPN, X-Forwarded-Proto https, Secure cookies with
// sticky.secure auto), one that changes its tls block serves the new
// certificate to new handshakes while a connection made before goes on,
// one that changes sticky.secure changes the cookies, a broken key file
// is rejected with its line and changes nothing, and one that removes the
// listener stops it accepting while its request in flight completes.
func TestReloadTLSListeners(t *testing.T) {
	release := make(chan struct{})
	holding := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			holding <- struct{}{}
			<-release
		}
		fmt.Fprintf(w, "proto=%s", r.Header.Get("X-Forwarded-Proto"))
	}))
	defer backend.Close()
	dir := t.TempDir()
	certA, certB := selfSigned(t, dir, "a"), selfSigned(t, dir, "b")
	roots := x509.NewCertPool()
	for _, der := range [][]byte{certA, certB} {
		c, _ := x509.ParseCertificate(der)
		roots.AddCert(c)
	}
	plain, secure := freeAddr(t), freeAddr(t)
	base := fmt.Sprintf("servers: {s1: %s}\nsticky: {mode: insert, secrets: [k]%%s}\n", backend.URL)
	doc := func(tlsBlock, sticky string) []byte {
		listeners := fmt.Sprintf("listeners:\n  - {address: %q}\n", plain)
		if tlsBlock != "" {
			listeners += fmt.Sprintf("  - {address: %q, %s}\n", secure, tlsBlock)
		}
		return []byte(listeners + fmt.Sprintf(base, sticky))
	}
	file := filepath.Join(dir, "l7lb.yaml")
	os.WriteFile(file, doc("", ""), 0o644)
	var log testlog.Buffer
	in, err := Start(Options{Config: file, Stderr: &log, Env: Env{NodeID: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Shutdown()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	type answer struct {
		status      int
		proto, body string
		secure      bool // the sticky cookie is Secure
		hsts        string
	}
	get := func(url string) (answer, error) {
		resp, err := client.Get(url)
		if err != nil {
			return answer{}, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, proto: resp.Proto, body: string(b), hsts: resp.Header.Get("Strict-Transport-Security")}
		for _, c := range resp.Cookies() {
			a.secure = a.secure || c.Secure
		}
		return a, nil
	}
	// peer returns the certificate a new handshake with the TLS listener
	// gets.
	peer := func() ([]byte, error) {
		c, err := tls.Dial("tcp", secure, &tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw, nil
	}

	if a, err := get("http://" + plain + "/"); err != nil || a.body != "proto=http" || a.secure {
		t.Fatalf("plaintext before: %+v %v", a, err)
	}
	if _, err := peer(); err == nil {
		t.Fatal("the TLS listener accepts before it is configured")
	}

	// Added.
	tlsA := "tls: {certificates: [{cert: a.pem, key: a-key.pem}]}"
	if _, err := in.Apply(doc(tlsA, ""), false); err != nil {
		t.Fatal(err)
	}
	a, err := get("https://" + secure + "/")
	if err != nil || a.status != 200 || a.proto != "HTTP/2.0" || a.body != "proto=https" || !a.secure {
		t.Fatalf("HTTPS after the reload that added it: %+v %v", a, err)
	}
	if a, err := get("http://" + plain + "/"); err != nil || a.secure {
		t.Errorf("plaintext: %+v %v", a, err)
	}
	if got, err := peer(); err != nil || !bytes.Equal(got, certA) {
		t.Errorf("handshake: %v, certificate A: %v", err, bytes.Equal(got, certA))
	}

	// Changed: another certificate and HSTS; sticky.secure false.
	if _, err := in.Apply(doc("hsts: {max_age: 1h}, tls: {certificates: [{cert: b.pem, key: b-key.pem}]}", ", secure: false"), false); err != nil {
		t.Fatal(err)
	}
	if got, err := peer(); err != nil || !bytes.Equal(got, certB) {
		t.Errorf("a new handshake after the change: %v, certificate B: %v", err, bytes.Equal(got, certB))
	}
	// The client's HTTP/2 connection, made with certificate A before,
	// goes on; its requests take the new configuration.
	a, err = get("https://" + secure + "/")
	if err != nil || a.status != 200 || a.secure || a.hsts != "" {
		t.Errorf("on the connection made before: %+v %v", a, err)
	}
	client.CloseIdleConnections()
	if a, err = get("https://" + secure + "/"); err != nil || a.secure || a.hsts != "max-age=3600" {
		t.Errorf("on a new connection: %+v %v", a, err)
	}

	// GET /config's document, applied again (PUT /config), is the
	// running configuration: every key of the TLS listener round-trips.
	running, _ := in.Running()
	if out, err := in.Apply(running.YAML(false), false); err != nil || !out.Unchanged {
		t.Errorf("the running configuration applied again: %+v %v\n%s", out, err, running.YAML(false))
	}

	// A broken key: rejected with its line, nothing changes.
	os.WriteFile(filepath.Join(dir, "bad-key.pem"), []byte("not a key"), 0o600)
	_, err = in.Apply(doc("tls: {certificates: [{cert: b.pem, key: bad-key.pem}]}", ""), false)
	var loc *config.Located
	if !errors.As(err, &loc) || loc.Problems[0].Line != 3 || !strings.Contains(loc.Problems[0].Field, "listeners[1].tls.certificates[0].key") {
		t.Errorf("a broken key: %v", err)
	}
	if got, err := peer(); err != nil || !bytes.Equal(got, certB) {
		t.Errorf("after the rejected change: %v, certificate B: %v", err, bytes.Equal(got, certB))
	}

	// Removed, with a request in flight on it.
	slow := make(chan answer, 1)
	go func() {
		a, err := get("https://" + secure + "/slow")
		if err != nil {
			t.Errorf("the request in flight: %v", err)
		}
		slow <- a
	}()
	<-holding
	if _, err := in.Apply(doc("", ""), false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := net.DialTimeout("tcp", secure, time.Second); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the removed TLS listener still accepts")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if a := <-slow; a.status != 200 || a.body != "proto=https" {
		t.Errorf("the request in flight as the listener was removed: %+v", a)
	}
	if a, err := get("http://" + plain + "/"); err != nil || a.status != 200 {
		t.Errorf("plaintext after: %+v %v", a, err)
	}
	if t.Failed() {
		t.Log(log.String())
	}
}

// TestServerTLSKept: a server's TLS configuration made from the same tls
// block and the same file contents is the running one (the proxy keys its
// pools by it: pooled connections and sessions stay); a renewed CA file
// makes a new one, and a configuration that is otherwise the same is not
// "unchanged".
func TestServerTLSKept(t *testing.T) {
	dir := t.TempDir()
	selfSigned(t, dir, "ca")
	doc := []byte("listen: 127.0.0.1:8080\nservers: {s1: {url: \"https://127.0.0.1:9443\", tls: {ca: ca.pem}}, s2: http://127.0.0.1:9001}\n")
	compile := func() *Compiled {
		c, err := Compile(dir, "l7lb.yaml", doc, Env{NodeID: "t"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	running, next := compile(), compile()
	if len(next.serverTLS) != 1 || next.serverTLS["s1"].conf == nil {
		t.Fatalf("server TLS: %+v", next.serverTLS)
	}
	if next.serverTLS["s1"].conf == running.serverTLS["s1"].conf {
		t.Fatal("two compiles share a configuration")
	}
	if !sameServerTLS(next.serverTLS, running.serverTLS) {
		t.Error("the same files: not the same")
	}
	keepServerTLS(next.serverTLS, running.serverTLS)
	if next.serverTLS["s1"].conf != running.serverTLS["s1"].conf {
		t.Error("the same files: the running configuration is not kept")
	}
	selfSigned(t, dir, "ca") // renewed
	renewed := compile()
	if renewed.Hash != running.Hash {
		t.Fatal("the hash depends on the files' contents")
	}
	if sameServerTLS(renewed.serverTLS, running.serverTLS) {
		t.Error("a renewed CA file: the same")
	}
	keepServerTLS(renewed.serverTLS, running.serverTLS)
	if renewed.serverTLS["s1"].conf == running.serverTLS["s1"].conf {
		t.Error("a renewed CA file: the old configuration is kept")
	}

	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("junk"), 0o644)
	_, err := Compile(dir, "l7lb.yaml", doc, Env{NodeID: "t"})
	var loc *config.Located
	if !errors.As(err, &loc) || loc.Problems[0].Field != "servers.s1.tls.ca" || loc.Problems[0].Line != 2 {
		t.Errorf("a broken CA file: %v", err)
	}
}
