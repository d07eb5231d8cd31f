package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"l7lb/certs"
)

// startServeDoc starts `l7lb serve` on a configuration that doc writes for
// n free loopback addresses (the first is the one serve reports ready
// on), retrying on the rare address taken meanwhile. The configuration
// file is written into dir, so that it may name files there.
func startServeDoc(t testing.TB, dir string, n int, doc func(addrs []string) string, o serveOpts) (*serveProc, []string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = freePort(t)
		}
		text := doc(addrs)
		cfg := filepath.Join(dir, fmt.Sprintf("serve-%d.yaml", attempt))
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := launch(t, cfg, o)
		if err == nil {
			return p, addrs
		}
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			continue
		}
		t.Fatalf("starting l7lb serve: %v\nconfig:\n%s", err, text)
	}
}

// selfSigned writes a self-signed certificate for names and its key into
// dir as base.pem and base-key.pem, and returns a pool that trusts it.
func selfSigned(t testing.TB, dir, base string, names ...string) *x509.CertPool {
	t.Helper()
	c, k, err := certs.SelfSigned(names, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{base + ".pem": c, base + "-key.pem": k} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c)
	return pool
}

// tlsTo returns a TLS client configuration for name, trusting roots.
func tlsTo(roots *x509.CertPool, name string, protos ...string) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: name, NextProtos: protos}
}

// x509VerifyOpts verifies a server certificate for localhost under roots.
func x509VerifyOpts(roots *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: roots, DNSName: "localhost"}
}
