package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"l7lb/config"
	"l7lb/testbin"
)

// startPebble starts Pebble with a certificate of its own for its API.
func startPebble(t *testing.T, dnsAddr string, httpPort, tlsPort int) *testbin.Pebble {
	t.Helper()
	certPEM, keyPEM, err := SelfSigned([]string{"127.0.0.1", "localhost"}, validFrom, validUntil)
	if err != nil {
		t.Fatal(err)
	}
	return testbin.StartPebble(t, dnsAddr, httpPort, tlsPort, certPEM, keyPEM)
}

// These tests obtain certificates from a real ACME server, Let's
// Encrypt's Pebble, which really validates each challenge: it resolves the
// test's names through a DNS answerer of the test (every name is
// 127.0.0.1) and connects to the test's listeners. PEBBLE_VA_ALWAYS_VALID
// is never set.

// acmeStore is a store that obtains certificates for domains from p.
func acmeStore(t *testing.T, p *testbin.Pebble, domains ...string) (*Store, *logs, config.ACME) {
	t.Helper()
	cfg := config.ACME{CA: p.Dir, Email: "ops@l7lb.test", Domains: domains, Storage: t.TempDir(), CARoot: p.Root}
	s, l := newStore(t, config.ListenerTLS{MinVersion: tls.VersionTLS12, ACME: &cfg}, Options{HTTP2: true})
	return s, l, cfg
}

// checkIssued checks that a handshake for domain gets a certificate for
// it that chains to Pebble's issuing root, and that it was stored.
func checkIssued(t *testing.T, p *testbin.Pebble, addr, domain string, cfg config.ACME) {
	t.Helper()
	c := dial(t, addr, domain, nil)
	state := c.ConnectionState()
	c.Close()
	inter := x509.NewCertPool()
	for _, ic := range state.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	leaf := state.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: domain, Roots: p.IssuerRoots(t), Intermediates: inter}); err != nil {
		t.Errorf("the certificate served for %s (%s) does not verify under Pebble's root: %v", domain, certNames(leaf), err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Storage, domain)); err != nil {
		t.Errorf("the certificate of %s is not in the storage directory: %v", domain, err)
	}
}

func TestACMETLSALPN01(t *testing.T) {
	dns := testbin.StartDNS(t)
	// The TLS listener is the one Pebble validates TLS-ALPN-01 on; it
	// finds nothing on the HTTP-01 port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := ln.Addr().(*net.TCPAddr).Port
	p := startPebble(t, dns, testbin.FreePort(t), tlsPort)
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
	dns := testbin.StartDNS(t)
	// The plaintext listener is the one Pebble validates HTTP-01 on; it
	// finds nothing on the TLS-ALPN-01 port, so the TLS-ALPN-01 attempt
	// autocert makes first fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := startPebble(t, dns, ln.Addr().(*net.TCPAddr).Port, testbin.FreePort(t))
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
