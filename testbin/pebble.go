package testbin

import (
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

	"l7lb/testlog"
)

// Pebble is a running Pebble, Let's Encrypt's test ACME server, which
// really validates each challenge.
type Pebble struct {
	Dir   string // the ACME directory URL
	Mgmt  string // the management API's URL
	Root  string // PEM file of the root of Pebble's own HTTPS certificate
	Roots *x509.CertPool
}

// FreePort returns a loopback port nothing listens on (just now).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// StartPebble starts Pebble (built by Path), validating HTTP-01 on
// httpPort and TLS-ALPN-01 on tlsPort of the address its DNS server
// (dnsAddr, see StartDNS) gives, serving its API over HTTPS with certPEM
// and keyPEM (for 127.0.0.1), and stops it at the end of the test.
// PEBBLE_VA_ALWAYS_VALID is never set: the challenges are really checked.
func StartPebble(t *testing.T, dnsAddr string, httpPort, tlsPort int, certPEM, keyPEM []byte) *Pebble {
	t.Helper()
	bin := Path(t, "pebble")
	dir := t.TempDir()
	p := &Pebble{Root: filepath.Join(dir, "pebble.pem"), Roots: x509.NewCertPool()}
	writeFile(t, p.Root, certPEM)
	writeFile(t, filepath.Join(dir, "pebble-key.pem"), keyPEM)
	p.Roots.AppendCertsFromPEM(certPEM)
	listen, mgmt := FreePort(t), FreePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":             p.Root,
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
	var out testlog.Buffer
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
	p.Dir = "https://127.0.0.1:" + strconv.Itoa(listen) + "/dir"
	p.Mgmt = "https://127.0.0.1:" + strconv.Itoa(mgmt)
	client := p.Client()
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := client.Get(p.Dir)
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

// Client is an HTTP client that trusts Pebble's API.
func (p *Pebble) Client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Roots}}}
}

// IssuerRoots returns the root Pebble issues certificates under (made up
// at its start).
func (p *Pebble) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.Client().Get(p.Mgmt + "/roots/0")
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

// StartDNS answers DNS over TCP (as Pebble asks) on a loopback port until
// the test ends: an A query for any name gets 127.0.0.1, any other query
// an empty answer.
func StartDNS(t testing.TB) string {
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

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
