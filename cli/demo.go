package cli

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"l7lb/certs"
	"l7lb/instance"
)

// demoConfig is the demo's configuration: a plaintext listener that speaks
// HTTP/2 with prior knowledge too, a TLS listener (HTTP/2 and HTTP/1.1 by
// ALPN) with a self-signed certificate, a virtual host, a path route with
// a prefix rewrite, a regex rewrite and signed sticky cookies.
const demoConfig = `listeners:
  - {address: %s, h2c: true}
  - address: %s
    tls: {certificates: [{cert: demo.pem, key: demo-key.pem}]}
servers:
  app1: http://%s
  app2: http://%s
  api1: http://%s
routes:
  - name: shop
    host: shop.localhost
    servers: [app1, app2]
  - name: api
    path: /api/*
    servers: [api1]
    rewrite:
      strip_prefix: /api
  - name: user-pages
    path: "~^/u/([0-9]+)$"
    servers: [api1]
    rewrite:
      regex: {pattern: "^/u/([0-9]+)$", replacement: "/users/$1"}
default_servers: [app1, app2]
sticky:
  mode: insert
  secret: l7lb-demo-secret
`

var demoCommand = &command{
	name:    "demo",
	summary: "run three demo backends behind the proxy",
	doc: `Start three demo backends and the proxy in front of them, print the
configuration and curl commands to try, and run until interrupted.`,
	setup: func(fs *flag.FlagSet) func(*call) int {
		listen := fs.String("listen", "127.0.0.1:8080", "the proxy's plaintext `ADDRESS` (HTTP/1.1, and HTTP/2 with prior knowledge)")
		tlsListen := fs.String("tls-listen", "127.0.0.1:8443", "the proxy's TLS `ADDRESS` (HTTP/2 and HTTP/1.1), with a self-signed certificate made at start")
		return func(c *call) int { return demo(*listen, *tlsListen, c.stdout, c.stderr) }
	},
}

// demo starts three demo backends and the proxy in front of them, prints
// what to try, and runs until interrupted.
func demo(listen, tlsListen string, stdout, stderr io.Writer) int {
	var addrs []string
	for _, name := range []string{"app1", "app2", "api1"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "l7lb:", err)
			return exitFailed
		}
		srv := &http.Server{Handler: demoBackend(name), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	// Listen first, so that --listen 127.0.0.1:0 (any free port) works:
	// the configuration gets the address taken.
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(stderr, "l7lb: listen %s: %v\n", listen, err)
		return exitFailed
	}
	tln, err := net.Listen("tcp", tlsListen)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "l7lb: listen %s: %v\n", tlsListen, err)
		return exitFailed
	}
	closeListeners := func() {
		ln.Close()
		tln.Close()
	}
	dir, err := os.MkdirTemp("", "l7lb-demo")
	if err != nil {
		closeListeners()
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	defer os.RemoveAll(dir)
	certPEM, keyPEM, err := certs.SelfSigned([]string{"localhost", "127.0.0.1", "::1", "shop.localhost"}, time.Now().Add(-time.Hour), time.Now().Add(30*24*time.Hour))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "demo.pem"), certPEM, 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "demo-key.pem"), keyPEM, 0o600)
	}
	if err != nil {
		closeListeners()
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	file := filepath.Join(dir, "demo.yaml")
	text := fmt.Sprintf(demoConfig, ln.Addr(), tln.Addr(), addrs[0], addrs[1], addrs[2])
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		closeListeners()
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	sigs := instance.Signals()
	in, err := instance.Start(instance.Options{Config: file, AccessLog: stdout, Stderr: stderr, Env: instance.ProcessEnv(),
		Listeners: map[string]net.Listener{ln.Addr().String(): ln, tln.Addr().String(): tln}})
	if err != nil {
		closeListeners()
		return startError(err, stderr)
	}
	u := "http://" + ln.Addr().String()
	_, port, _ := net.SplitHostPort(tln.Addr().String())
	tu := "https://localhost:" + port
	ca := filepath.Join(dir, "demo.pem")
	fmt.Fprintf(stdout, "l7lb demo: the proxy is on %s and %s with this configuration:\n\n%s\nTry:\n", u, tu, text)
	for _, c := range []string{
		"curl -s " + u + "/hello                          # default servers, round robin",
		"curl -s " + u + "/api/users?id=7                 # /api/* → api1, prefix stripped",
		"curl -s " + u + "/u/42                           # regex rewrite → /users/42",
		"curl -s -H 'Host: shop.localhost' " + u + "/    # virtual host → app1 or app2",
		"curl -s -c /tmp/l7lb.jar -b /tmp/l7lb.jar " + u + "/cart   # sticky: repeat it, same server",
		"curl -s --http2-prior-knowledge " + u + "/hello  # HTTP/2 without TLS (h2c)",
		"curl -s --cacert " + ca + " " + tu + "/hello   # HTTPS, HTTP/2 by ALPN (the certificate is self-signed, made at start)",
		"curl -s --cacert " + ca + " --http1.1 -i " + tu + "/cart   # HTTPS in HTTP/1.1: the sticky cookie is Secure",
	} {
		fmt.Fprintln(stdout, "  "+c)
	}
	fmt.Fprintln(stdout, "\nCtrl-C stops it.")
	if err := in.Run(instance.RunOptions{Signals: sigs}); err != nil {
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	return exitOK
}

// demoBackend answers every request with what it received: its own name,
// the path the proxy sent and the forwarding headers.
func demoBackend(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "server=%s %s %s host=%s\n", name, r.Method, r.RequestURI, r.Host)
		var names []string
		for k := range r.Header {
			if strings.HasPrefix(k, "X-") || k == "Forwarded" || k == "Cookie" {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
	})
}
