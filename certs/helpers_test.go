package certs

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"l7lb/config"
)

// Certificates of the tests are valid from an hour ago for a day.
var (
	validFrom  = time.Now().Add(-time.Hour)
	validUntil = time.Now().Add(24 * time.Hour)
)

// pemPair returns a new self-signed ECDSA certificate for names and its key.
func pemPair(t testing.TB, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	c, k, err := SelfSigned(names, validFrom, validUntil)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// rsaPair returns a new self-signed RSA certificate for names and its key.
func rsaPair(t testing.TB, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    validFrom,
		NotAfter:     validUntil,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writePair writes a new certificate for names and its key into dir as
// base.pem and base-key.pem.
func writePair(t testing.TB, dir, base string, names ...string) config.CertPair {
	t.Helper()
	c, k := pemPair(t, names...)
	p := config.CertPair{Cert: filepath.Join(dir, base+".pem"), Key: filepath.Join(dir, base+"-key.pem")}
	writeFile(t, p.Cert, c)
	writeFile(t, p.Key, k)
	return p
}

// logs collects what a store logs.
type logs struct {
	mu    sync.Mutex
	lines []string
	t     testing.TB
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	l.lines = append(l.lines, line)
	l.t.Log("store: " + line)
}

// count is the number of lines logged so far that contain s.
func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// waitFor waits up to two seconds for the n-th line that contains s.
func (l *logs) waitFor(t testing.TB, s string, n int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); l.count(s) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("no log line %d containing %q within 2s", n, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newStore makes a store of cfg that logs to the test, closed at its end.
func newStore(t testing.TB, cfg config.ListenerTLS, opts Options) (*Store, *logs) {
	t.Helper()
	l := &logs{t: t}
	opts.Logf = l.logf
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, l
}

// serveEcho serves conf on a loopback listener until the test ends: each
// connection echoes the lines it reads. It returns the address.
func serveEcho(t testing.TB, conf *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveEchoOn(t, ln, conf)
}

// serveEchoOn is serveEcho on a listener the test made.
func serveEchoOn(t testing.TB, tcp net.Listener, conf *tls.Config) string {
	ln := tls.NewListener(tcp, conf)
	var wg sync.WaitGroup
	conns := map[net.Conn]bool{}
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects to addr with SNI serverName ("" for none) and completes
// the handshake, trusting any certificate: the tests look at which one
// they got.
func dial(t testing.TB, addr, serverName string, conf *tls.Config) *tls.Conn {
	t.Helper()
	if conf == nil {
		conf = &tls.Config{}
	}
	conf = conf.Clone()
	conf.ServerName = serverName
	conf.InsecureSkipVerify = true
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		t.Fatalf("dial %s (SNI %q): %v", addr, serverName, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// served returns the names of the certificate a new connection with SNI
// serverName gets, and its serial number.
func served(t testing.TB, addr, serverName string) (names string, serial string) {
	t.Helper()
	c := dial(t, addr, serverName, nil)
	defer c.Close()
	leaf := c.ConnectionState().PeerCertificates[0]
	return certNames(leaf), leaf.SerialNumber.String()
}

func certNames(leaf *x509.Certificate) string {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return strings.Join(names, ",")
}

// echo sends a line on c and checks that it comes back.
func echo(t testing.TB, c *tls.Conn, line string) {
	t.Helper()
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo of %q: %q, %v", line, got, err)
	}
}
