package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"l7lb/config"
	"l7lb/testbin"
)

// These tests obtain certificates from a real ACME server, Let's
// Encrypt's Pebble, which really validates each challenge: it resolves the
// test's names through a DNS answerer of the test (every name is
// 127.0.0.1) and connects to the test's listeners. PEBBLE_VA_ALWAYS_VALID
// is never set.

// pebble is a running Pebble.
type pebble struct {
	dir   string // the ACME directory URL
	mgmt  string // the management API's URL
	root  string // PEM file of the root of Pebble's own HTTPS certificate
	roots *x509.CertPool
}

// freePort returns a loopback port nothing listens on (just now).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPebble starts Pebble, validating HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort of the address its DNS server gives, and stops it
// at the end of the test.
func startPebble(t *testing.T, dnsAddr string, httpPort, tlsPort int) *pebble {
	t.Helper()
	bin := testbin.Path(t, "pebble")
	dir := t.TempDir()
	certPEM, keyPEM, err := SelfSigned([]string{"127.0.0.1", "localhost"}, validFrom, validUntil)
	if err != nil {
		t.Fatal(err)
	}
	p := &pebble{root: filepath.Join(dir, "pebble.pem"), roots: x509.NewCertPool()}
	writeFile(t, p.root, certPEM)
	writeFile(t, filepath.Join(dir, "pebble-key.pem"), keyPEM)
	p.roots.AppendCertsFromPEM(certPEM)
	listen, mgmt := freePort(t), freePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":             p.root,
		"privateKey":              filepath.Join(dir, "pebble-key.pem"),
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"keyAlgorithm":            "ecdsa",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
	}}
	data, _ := json.Marshal(conf)
	writeFile(t, filepath.Join(dir, "pebble.json"), data)

	cmd := exec.Command(bin, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", dnsAddr)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PEBBLE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// No random sleep before validating, no random bad nonces: speed and
	// determinism, not leniency.
	cmd.Env = append(cmd.Env, "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble's output:\n%s", out.String())
		}
	})
	p.dir = "https://127.0.0.1:" + strconv.Itoa(listen) + "/dir"
	p.mgmt = "https://127.0.0.1:" + strconv.Itoa(mgmt)
	client := p.client()
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := client.Get(p.dir)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pebble) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}}
}

// issuerRoots returns the root Pebble issues certificates under (made up
// at its start).
func (p *pebble) issuerRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client().Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("no root from pebble: %s", data)
	}
	return pool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startDNS answers DNS over TCP (as Pebble asks) on a loopback port until
// the test ends: an A query for any name gets 127.0.0.1, any other query
// an empty answer.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				for {
					var n [2]byte
					if _, err := io.ReadFull(c, n[:]); err != nil {
						return
					}
					q := make([]byte, binary.BigEndian.Uint16(n[:]))
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					a := dnsAnswer(q)
					if a == nil {
						return
					}
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(a))), a...))
				}
			})
		}
	})
	return ln.Addr().String()
}

// dnsAnswer answers a query of one question (RFC 1035 4.1), or nil.
func dnsAnswer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	a := append([]byte(nil), q[:i+5]...) // header and question
	a[2] = 0x84 | q[2]&0x01              // a response, authoritative, RD as asked
	a[3] = 0x80                          // recursion available, no error
	binary.BigEndian.PutUint16(a[6:], 0) // answers
	binary.BigEndian.PutUint32(a[8:], 0) // authority, additional
	if qtype == 1 {                      // A
		binary.BigEndian.PutUint16(a[6:], 1)
		a = append(a, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1)
	}
	return a
}

// acmeStore is a store that obtains certificates for domains from p.
func acmeStore(t *testing.T, p *pebble, domains ...string) (*Store, *logs, config.ACME) {
	t.Helper()
	cfg := config.ACME{CA: p.dir, Email: "ops@l7lb.test", Domains: domains, Storage: t.TempDir(), CARoot: p.root}
	s, l := newStore(t, config.ListenerTLS{MinVersion: tls.VersionTLS12, ACME: &cfg}, Options{HTTP2: true})
	return s, l, cfg
}

// checkIssued checks that a handshake for domain gets a certificate for
// it that chains to Pebble's issuing root, and that it was stored.
func checkIssued(t *testing.T, p *pebble, addr, domain string, cfg config.ACME) {
	t.Helper()
	c := dial(t, addr, domain, nil)
	state := c.ConnectionState()
	c.Close()
	inter := x509.NewCertPool()
	for _, ic := range state.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	leaf := state.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: domain, Roots: p.issuerRoots(t), Intermediates: inter}); err != nil {
		t.Errorf("the certificate served for %s (%s) does not verify under Pebble's root: %v", domain, certNames(leaf), err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Storage, domain)); err != nil {
		t.Errorf("the certificate of %s is not in the storage directory: %v", domain, err)
	}
}

func TestACMETLSALPN01(t *testing.T) {
	dns := startDNS(t)
	// The TLS listener is the one Pebble validates TLS-ALPN-01 on; it
	// finds nothing on the HTTP-01 port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := ln.Addr().(*net.TCPAddr).Port
	p := startPebble(t, dns, freePort(t), tlsPort)
	s, _, cfg := acmeStore(t, p, "alpn.l7lb.test")
	addr := serveEchoOn(t, ln, s.TLSConfig())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.ObtainACME(ctx); err != nil {
		t.Fatalf("ObtainACME: %v", err)
	}
	checkIssued(t, p, addr, "alpn.l7lb.test", cfg)
	// h2 and http/1.1 are still what clients negotiate.
	c := dial(t, addr, "alpn.l7lb.test", &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if got := c.ConnectionState().NegotiatedProtocol; got != "h2" {
		t.Errorf("negotiated %q, want h2", got)
	}
	// No SNI: the first ACME domain's certificate.
	if got, _ := served(t, addr, ""); got != "alpn.l7lb.test" {
		t.Errorf("no SNI: served %s, want alpn.l7lb.test", got)
	}
}

func TestACMEHTTP01(t *testing.T) {
	dns := startDNS(t)
	// The plaintext listener is the one Pebble validates HTTP-01 on; it
	// finds nothing on the TLS-ALPN-01 port, so the TLS-ALPN-01 attempt
	// autocert makes first fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := startPebble(t, dns, ln.Addr().(*net.TCPAddr).Port, freePort(t))
	viaHandler, _, cfg := acmeStore(t, p, "handler.l7lb.test")
	viaResponse, _, cfg2 := acmeStore(t, p, "raw.l7lb.test")
	unanswered, _, _ := acmeStore(t, p, "unanswered.l7lb.test")

	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	// One store answers through its http.Handler, the other through
	// HTTPChallengeResponse, as a proxy not built on net/http would.
	handler := viaHandler.HTTPChallenge(next)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, body, ok := viaResponse.HTTPChallengeResponse(r.Host, r.URL.Path); ok {
			w.WriteHeader(status)
			w.Write(body)
			return
		}
		handler.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	plain := "http://" + ln.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range []*Store{viaHandler, viaResponse} {
		if err := s.ObtainACME(ctx); err != nil {
			t.Fatalf("ObtainACME: %v", err)
		}
	}
	checkIssued(t, p, serveEcho(t, viaHandler.TLSConfig()), "handler.l7lb.test", cfg)
	checkIssued(t, p, serveEcho(t, viaResponse.TLSConfig()), "raw.l7lb.test", cfg2)

	// Nothing answers for the third domain: the CA must refuse it.
	if err := unanswered.ObtainACME(ctx); err == nil {
		t.Error("a certificate was issued for a domain whose challenge nobody answered")
	} else {
		t.Logf("unanswered, as it should be: %v", err)
	}

	// Requests that are not challenges for the store's domains go on.
	for _, tt := range []struct {
		host, path string
		want       int
	}{
		{"handler.l7lb.test", "/", http.StatusTeapot},
		{"handler.l7lb.test", "/.well-known/acme-challenge/unknown", http.StatusNotFound},
		{"other.l7lb.test", "/.well-known/acme-challenge/unknown", http.StatusTeapot},
	} {
		req, _ := http.NewRequest("GET", plain+tt.path, nil)
		req.Host = tt.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.host, tt.path, resp.StatusCode, tt.want)
		}
	}
	if _, _, ok := viaResponse.HTTPChallengeResponse("raw.l7lb.test", "/index.html"); ok {
		t.Error("HTTPChallengeResponse answered a request that is no challenge")
	}
}
