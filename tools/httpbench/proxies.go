package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// benchCase is one of the side-by-side cases of issue 8.
type benchCase struct {
	id    string // flag value and table key
	title string
	tls   bool
	// h2 is the h2load case: HTTP/2 by ALPN, -c 50 -m 10.
	h2 bool
	// closeEach sends Connection: close, so every request is a new
	// connection with a full TLS handshake.
	closeEach bool
	// rate is HTTP/2 at a fixed request rate, open loop (h2rate.go).
	rate bool
}

var allCases = []benchCase{
	{id: "plain", title: "HTTP/1.1 plaintext keep-alive (wrk)"},
	{id: "https", title: "HTTPS keep-alive, TLS 1.3 (wrk)", tls: true},
	{id: "handshake", title: "Full TLS 1.3 handshakes: a new connection per request (the harness's client)", tls: true, closeEach: true},
	{id: "h2", title: "HTTP/2 over TLS 1.3 (h2load -c 50 -m 10)", tls: true, h2: true},
	{id: "h2rate", title: "HTTP/2 over TLS 1.3 at a fixed rate, open loop (the harness's client)", tls: true, h2: true, rate: true},
}

// certFiles are the paths of the benchmark's certificate: a self-signed
// ECDSA P-256 one for 127.0.0.1 and "bench", generated at start.
type certFiles struct {
	cert, key string
	combined  string // cert then key, as HAProxy's crt wants
}

func writeCert(dir string) (certFiles, error) {
	f := certFiles{
		cert:     filepath.Join(dir, "cert.pem"),
		key:      filepath.Join(dir, "key.pem"),
		combined: filepath.Join(dir, "combined.pem"),
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bench"},
		DNSNames:              []string{"bench", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return f, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return f, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	for _, w := range []struct {
		path string
		data []byte
	}{{f.cert, certPEM}, {f.key, keyPEM}, {f.combined, append(append([]byte{}, certPEM...), keyPEM...)}} {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return f, err
		}
	}
	return f, nil
}

// nginxPreamble is the start of an nginx.conf for one worker whose files
// live in dir, up to the open http block. keepalive_requests is high so
// that nothing reconnects every 1000 requests during a run.
func nginxPreamble(dir, keepalive string) string {
	return fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout %[2]s;
    keepalive_requests 10000000;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
`, dir, keepalive)
}

// backendConfig: one nginx worker answering "ok\n" on two ports, so that
// round robin really alternates between two servers.
func backendConfig(dir string, port1, port2 int) string {
	return nginxPreamble(dir, "75s") + fmt.Sprintf(`    default_type text/plain;
    server {
        listen 127.0.0.1:%d;
        listen 127.0.0.1:%d;
        location / { return 200 "ok\n"; }
    }
}
`, port1, port2)
}

// The proxies' configs are equivalent: round robin over the two backend
// ports, keep-alive to clients and to backends (HTTP/1.1), no access log,
// no health checks, one thread; on TLS, the same certificate, TLS 1.3 only,
// X25519 only (l7lb: tls.curves, HAProxy: curves, nginx: ssl_ecdh_curve),
// h2 and http/1.1 by ALPN. All three pass Host through and send the
// backend the forwarding fields l7lb sends by default (X-Forwarded-For,
// X-Forwarded-Host, X-Forwarded-Proto, Forwarded, X-Real-IP, X-Request-Id,
// Via; Via on responses too): the backend and the load generator share
// core 1, and a peer sending only X-Forwarded-For (69 bytes of request
// head against l7lb's 264) saved them about 2 µs per request of header
// parsing, which showed as l7lb's higher p99 rather than as its CPU.
//
// Their pools of idle server connections hold idlePool per server (HAProxy's
// has no limit by default): the h2 case has conns × streams = 500 requests
// in flight, 250 per server, and a pool smaller than that (nginx's usual
// keepalive of 64; l7lb's max_idle_per_server defaults to 256) closes,
// after each burst, connections the next burst dials again.

// idlePool is the idle server connections each proxy may keep per server
// (nginx's keepalive is for the upstream block: two servers).
const idlePool = 512

// tls13Suite is the TLS 1.3 cipher suite of the peers: the one Go's server
// chooses on a machine with AES hardware (it has no setting for TLS 1.3
// suites), where OpenSSL's default order would give the peers the costlier
// TLS_AES_256_GCM_SHA384.
const tls13Suite = "TLS_AES_128_GCM_SHA256"

// l7lbConfig is l7lb's config for case c. pinX25519 adds tls.curves:
// [x25519]; binaries older than that key reject it, and get their
// defaults (see startProxy).
func l7lbConfig(c benchCase, port, b1, b2 int, cert certFiles, pinX25519 bool) string {
	listen := fmt.Sprintf("listen: 127.0.0.1:%d\n", port)
	if c.tls {
		listen = fmt.Sprintf(`listeners:
  - address: 127.0.0.1:%d
    tls:
      certificates:
        - {cert: %q, key: %q}
      min_version: "1.3"
`, port, cert.cert, cert.key)
		if pinX25519 {
			listen += "      curves: [x25519]\n"
		}
	}
	return listen + fmt.Sprintf(`servers:
  s1: http://127.0.0.1:%d
  s2: http://127.0.0.1:%d
routes:
  - name: all
    path: /*
    servers: [s1, s2]
sticky:
  mode: "off"
limits:
  max_idle_per_server: %d
`, b1, b2, idlePool)
}

// haproxyConfig: without "log" lines HAProxy logs nothing; http-keep-alive
// is the default mode, spelled out, and http-reuse always shares idle
// server connections across client connections like the other two.
func haproxyConfig(c benchCase, port, b1, b2 int, cert certFiles) string {
	bind := fmt.Sprintf("127.0.0.1:%d", port)
	if c.tls {
		bind += fmt.Sprintf(" ssl crt %s alpn h2,http/1.1 ssl-min-ver TLSv1.3 curves X25519 ciphersuites %s", cert.combined, tls13Suite)
	}
	return fmt.Sprintf(`global
    nbthread 1
    maxconn 4000
defaults
    mode http
    option http-keep-alive
    option forwardfor
    unique-id-format %%{+X}o%%Ts%%rt
    unique-id-header X-Request-Id
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend fe
    bind %[1]s
    http-request set-header X-Forwarded-Host %%[req.hdr(host)]
    http-request set-header X-Forwarded-Proto %[2]s
    http-request set-header Forwarded "for=%%[src];host=\"%%[req.hdr(host)]\";proto=%[2]s"
    http-request set-header X-Real-IP %%[src]
    http-request add-header Via "1.1 haproxy"
    http-response add-header Via "1.1 haproxy"
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:%[3]d
    server s2 127.0.0.1:%[4]d
`, bind, scheme(c), b1, b2)
}

// scheme is the proto of case c's forwarding fields.
func scheme(c benchCase) string {
	if c.tls {
		return "https"
	}
	return "http"
}

// nginxConfig: proxy_set_header Host, since nginx would otherwise send the
// upstream's name; l7lb and HAProxy keep the client's Host.
func nginxConfig(c benchCase, dir string, port, b1, b2 int, cert certFiles) string {
	listen := fmt.Sprintf("listen 127.0.0.1:%d;", port)
	if c.tls {
		listen = fmt.Sprintf(`listen 127.0.0.1:%d ssl http2;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.3;
        ssl_ecdh_curve X25519;
        ssl_conf_command Ciphersuites %s;`, port, cert.cert, cert.key, tls13Suite)
	}
	return nginxPreamble(dir, "60s") + fmt.Sprintf(`    upstream be {
        server 127.0.0.1:%d;
        server 127.0.0.1:%d;
        keepalive %d;
        keepalive_requests 10000000;
    }
    server {
        %s
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Forwarded "for=$remote_addr;host=\"$http_host\";proto=$scheme";
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Request-Id $request_id;
            proxy_set_header Via "1.1 nginx";
            add_header Via "1.1 nginx";
        }
    }
}
`, b1, b2, 2*idlePool, listen)
}
