package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"l7lb/certs"
	"l7lb/testbin"
)

// edgeServe starts serve with a TLS listener (certificate edge.pem for
// localhost and 127.0.0.1, in dir) and an h2c listener in front of bs,
// and returns the TLS and h2c addresses.
func edgeServe(t *testing.T, dir string, bs []*backend, extra string) (*serveProc, string, string) {
	t.Helper()
	p, addrs := startServeDoc(t, dir, 2, func(addrs []string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "listeners:\n  - address: %q\n    tls: {certificates: [{cert: edge.pem, key: edge-key.pem}]}\n    hsts: {max_age: 1h}\n  - {address: %q, h2c: true}\nservers:\n", addrs[0], addrs[1])
		for _, be := range bs {
			fmt.Fprintf(&b, "  %s: %s\n", be.ID, be.URL)
		}
		b.WriteString(extra)
		return b.String()
	}, serveOpts{})
	return p, addrs[0], addrs[1]
}

// TestH2Spec runs h2spec, the HTTP/2 conformance suite, against a TLS and
// an h2c listener of serve: every one of its 145 cases must pass on both
// (as on HAProxy 2.6, BENCHMARKS.md).
func TestH2Spec(t *testing.T) {
	h2spec := testbin.Path(t, "h2spec")
	dir := t.TempDir()
	selfSigned(t, dir, "edge", "localhost", "127.0.0.1")
	// h2spec needs a response with a body (a DATA frame) to some cases.
	b := newHandlerBackend(t, "s1", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "a body of some length for the flow-control cases\n")
	})
	_, tlsAddr, h2cAddr := edgeServe(t, dir, []*backend{b}, "sticky: {mode: off}\n")
	var wg sync.WaitGroup
	for _, tt := range []struct {
		name, addr string
		args       []string
	}{{"tls", tlsAddr, []string{"-t", "-k"}}, {"h2c", h2cAddr, nil}} {
		wg.Go(func() {
			host, port, _ := net.SplitHostPort(tt.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// -o: the wait for a frame that may not come; generous for a
			// loaded machine.
			out, _ := exec.CommandContext(ctx, h2spec, append([]string{"-h", host, "-p", port, "-o", "5"}, tt.args...)...).CombinedOutput()
			summary := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(string(out))
			if summary == nil || summary[2] != summary[1] {
				var failed []string
				for _, line := range strings.Split(string(out), "\n") {
					if strings.Contains(line, "×") {
						failed = append(failed, strings.TrimSpace(line))
					}
				}
				t.Errorf("h2spec on the %s listener: %v\nfailed:\n%s", tt.name, summary, strings.Join(failed, "\n"))
				return
			}
			t.Logf("h2spec on the %s listener: %s", tt.name, summary[0])
		})
	}
	wg.Wait()
}

// TestRealClients: curl over TLS with HTTP/2 and HTTP/1.1 and in h2c with
// prior knowledge, and nghttp (nghttp2's client), get their answers
// through serve, which tells the server which protocol the client used.
func TestRealClients(t *testing.T) {
	curl := testbin.Tool(t, "curl", "curl")
	dir := t.TempDir()
	selfSigned(t, dir, "edge", "localhost", "127.0.0.1")
	b := newBackend(t, "s1")
	_, tlsAddr, h2cAddr := edgeServe(t, dir, []*backend{b}, "sticky: {mode: off}\n")
	ca := filepath.Join(dir, "edge.pem")
	for _, tt := range []struct {
		name    string
		args    []string
		version string
		proto   string
	}{
		{"curl --http2", []string{"--http2", "--cacert", ca, "https://" + tlsAddr + "/a?b=1"}, "2", "https"},
		{"curl --http1.1 over TLS", []string{"--http1.1", "--cacert", ca, "https://" + tlsAddr + "/a?b=1"}, "1.1", "https"},
		{"curl --http2-prior-knowledge", []string{"--http2-prior-knowledge", "http://" + h2cAddr + "/a?b=1"}, "2", "http"},
		{"curl on the h2c listener in HTTP/1.1", []string{"http://" + h2cAddr + "/a?b=1"}, "1.1", "http"},
	} {
		out, err := exec.Command(curl, append([]string{"-sS", "-D", "-", "-w", "\\nversion=%{http_version}", "--max-time", "10"}, tt.args...)...).CombinedOutput()
		text := string(out)
		if err != nil || !strings.HasSuffix(text, "version="+tt.version) || !strings.Contains(text, "\r\n\r\ns1") {
			t.Errorf("%s: %v\n%s", tt.name, err, text)
			continue
		}
		if tt.proto == "https" && !strings.Contains(strings.ToLower(text), "strict-transport-security: max-age=3600") {
			t.Errorf("%s: no HSTS:\n%s", tt.name, text)
		}
		if seen, _ := b.last(); seen.URI != "/a?b=1" || seen.Header.Get("X-Forwarded-Proto") != tt.proto {
			t.Errorf("%s: the server got %s with X-Forwarded-Proto %q", tt.name, seen.URI, seen.Header.Get("X-Forwarded-Proto"))
		}
	}

	nghttp := testbin.Tool(t, "nghttp", "nghttp2-client")
	for _, u := range []string{"http://" + h2cAddr + "/ng", "https://" + tlsAddr + "/ng"} {
		out, err := exec.Command(nghttp, "-v", "-t", "10", u).CombinedOutput()
		text := string(out)
		if err != nil || !strings.Contains(text, ":status: 200") || !strings.Contains(text, "recv DATA frame") || !strings.HasSuffix(strings.TrimSpace(text), "(last_stream_id=0, error_code=NO_ERROR(0x00), opaque_data(0)=[])") {
			t.Errorf("nghttp %s: %v\n%s", u, err, text)
		}
	}
}

// TestSNI: openssl s_client gets, by the name it sends, the certificate
// with that exact name, the one with the matching wildcard, or the
// default (for an unknown name and for no name at all).
func TestSNI(t *testing.T) {
	openssl := testbin.Tool(t, "openssl", "openssl")
	dir := t.TempDir()
	selfSigned(t, dir, "site", "site.example")
	selfSigned(t, dir, "shop", "shop.example")
	selfSigned(t, dir, "wild", "*.apps.example")
	b := newBackend(t, "s1")
	_, addrs := startServeDoc(t, dir, 1, func(addrs []string) string {
		return fmt.Sprintf("listeners:\n  - address: %q\n    tls:\n      certificates:\n        - {cert: site.pem, key: site-key.pem}\n        - {cert: shop.pem, key: shop-key.pem}\n        - {cert: wild.pem, key: wild-key.pem}\n      default: shop.pem\nservers:\n  s1: %s\n", addrs[0], b.URL)
	}, serveOpts{})
	for _, tt := range []struct{ sni, want string }{
		{"site.example", "site.example"},
		{"SHOP.Example", "shop.example"}, // case-insensitive (a trailing dot is no valid SNI)
		{"one.apps.example", "*.apps.example"},
		{"deep.one.apps.example", "shop.example"},
		{"unknown.example", "shop.example"},
		{"", "shop.example"},
	} {
		args := []string{"s_client", "-connect", addrs[0], "-alpn", "h2"}
		if tt.sni == "" {
			args = append(args, "-noservername")
		} else {
			args = append(args, "-servername", tt.sni)
		}
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("")
		out, _ := cmd.CombinedOutput()
		m := regexp.MustCompile(`subject=CN\s*=\s*(\S+)`).FindStringSubmatch(string(out))
		if m == nil || m[1] != tt.want || !strings.Contains(string(out), "ALPN protocol: h2") {
			t.Errorf("SNI %q: got %v, want %s and h2\n%s", tt.sni, m, tt.want, out)
		}
	}
}

// TestRenewalUnderLoad: a certificate renewed (a new pair renamed into
// place, as certbot does) while 1,000 HTTPS requests run, each on a new
// connection, fails none of them, and handshakes get the new certificate
// within two seconds.
func TestRenewalUnderLoad(t *testing.T) {
	dir := t.TempDir()
	selfSigned(t, dir, "edge", "localhost", "127.0.0.1")
	b := newBackend(t, "s1")
	_, addrs := startServeDoc(t, dir, 1, func(addrs []string) string {
		return fmt.Sprintf("listeners:\n  - address: %q\n    tls: {certificates: [{cert: edge.pem, key: edge-key.pem}]}\nservers:\n  s1: %s\nsticky: {mode: off}\n", addrs[0], b.URL)
	}, serveOpts{})
	newDir := t.TempDir()
	renewedRoots := selfSigned(t, newDir, "edge", "localhost", "127.0.0.1")

	var failures, done, renewedSeen atomic.Int64
	var renewedAt atomic.Int64 // unix nanoseconds
	var firstNew atomic.Int64
	const total, workers = 1000, 4
	var wg sync.WaitGroup
	var next atomic.Int64
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > total || time.Since(start) > 2*time.Minute {
					return
				}
				if i == total/2 {
					// Renew: both files renamed into place.
					for _, f := range []string{"edge.pem", "edge-key.pem"} {
						if err := os.Rename(filepath.Join(newDir, f), filepath.Join(dir, f)); err != nil {
							t.Error(err)
						}
					}
					renewedAt.Store(time.Now().UnixNano())
				}
				tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}
				var leafNew bool
				tr.TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
					_, err := cs.PeerCertificates[0].Verify(x509VerifyOpts(renewedRoots))
					leafNew = err == nil
					return nil
				}
				c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
				resp, err := c.Get("https://" + addrs[0] + "/r")
				if err != nil {
					failures.Add(1)
					t.Errorf("request %d: %v", i, err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
					t.Errorf("request %d: status %d", i, resp.StatusCode)
				}
				done.Add(1)
				if leafNew {
					renewedSeen.Add(1)
					firstNew.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		})
	}
	wg.Wait()
	if done.Load() != total || failures.Load() != 0 {
		t.Fatalf("%d of %d requests done, %d failed", done.Load(), total, failures.Load())
	}
	if renewedSeen.Load() == 0 {
		t.Fatal("no handshake got the renewed certificate")
	}
	if lag := time.Duration(firstNew.Load() - renewedAt.Load()); lag > 2*time.Second {
		t.Errorf("the renewed certificate was served %v after the renewal", lag)
	}
	t.Logf("%d requests in %v, %d with the renewed certificate", total, time.Since(start).Round(time.Millisecond), renewedSeen.Load())
}

// TestACMEThroughServe: l7lb serve obtains a certificate from a real ACME
// server (Let's Encrypt's Pebble, which connects to serve's listeners to
// check each challenge), answering TLS-ALPN-01 on its TLS listener, or,
// when the CA cannot reach that, HTTP-01 on its plaintext listener, ahead
// of that listener's redirect to https; then it serves HTTPS with it.
func TestACMEThroughServe(t *testing.T) {
	for _, via := range []string{"tls-alpn-01", "http-01"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			dns := testbin.StartDNS(t)
			tlsPort, httpPort := testbin.FreePort(t), testbin.FreePort(t)
			pebbleTLS := tlsPort
			if via == "http-01" {
				pebbleTLS = testbin.FreePort(t) // nobody answers TLS-ALPN-01
			}
			certPEM, keyPEM, err := certs.SelfSigned([]string{"127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			pb := testbin.StartPebble(t, dns, httpPort, pebbleTLS, certPEM, keyPEM)
			b := newBackend(t, "s1")
			cfg := fmt.Sprintf(`listeners:
  - address: 127.0.0.1:%d
    tls:
      acme: {ca: %q, email: ops@l7lb.test, domains: [acme.l7lb.test], storage: acme, ca_root: %q}
  - address: 127.0.0.1:%d
    redirect_https: %d
servers:
  s1: %s
sticky: {mode: off}
`, tlsPort, pb.Dir, pb.Root, httpPort, tlsPort, b.URL)
			name := filepath.Join(dir, "acme.yaml")
			if err := os.WriteFile(name, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := launch(t, name, serveOpts{})
			if err != nil {
				t.Fatal(err)
			}
			roots := pb.IssuerRoots(t)
			addr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
			tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "acme.l7lb.test", RootCAs: roots}}
			tr.TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: "acme.l7lb.test", Roots: roots, Intermediates: inter})
				return err
			}
			tr.TLSClientConfig.InsecureSkipVerify = true // VerifyConnection checks the chain, with intermediates from the handshake
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			defer tr.CloseIdleConnections()
			deadline := time.Now().Add(90 * time.Second)
			for {
				req, _ := http.NewRequest("GET", "https://"+addr+"/through", nil)
				req.Host = "acme.l7lb.test"
				resp, err := client.Do(req)
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != "s1" {
						t.Fatalf("through the ACME certificate: %d %q", resp.StatusCode, body)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no certificate from Pebble within 90s: %v\nserve's stderr:\n%s", err, p.stderr)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if _, err := os.Stat(filepath.Join(dir, "acme", "acme.l7lb.test")); err != nil {
				t.Errorf("the certificate is not in the storage directory: %v", err)
			}
		})
	}
}
