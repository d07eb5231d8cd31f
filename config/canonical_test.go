package config

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const fullFile = `
listeners:
  - address: 127.0.0.1:8443
    h2c: false
  - address: 127.0.0.1:8080
    redirect_https: 8443
admin: :9090
admin_token: tok
drain_timeout: 5s
servers:
  web1: http://127.0.0.1:9001
  web2: {url: http://127.0.0.1:9002, weight: 3}
routes:
  - name: shop
    host: shop.example.com
    servers: [web1, web2]
    balance: weighted_round_robin
    slow_start: 2s
  - name: api
    path: /api/*
    methods: [GET]
    headers: {X-Env: prod}
    servers: [web1]
    rewrite: {strip_prefix: /api}
    timeouts: {response_header: 5s}
    health_check: {path: /healthz}
    peak_ewma: {decay: 5s}
    balance: peak_ewma
sticky: {secrets: [a, b], max_age: 1h, secure: true}
timeouts: {connect: 2s}
limits: {max_idle_per_server: 8}
health: {fails: 2}
slow_start: 30s
outliers: {consecutive_5xx: 3}
trusted_proxies: [10.0.0.0/8, 192.168.1.7, "::1"]
via: false
access_log: {format: json, path: logs/access.log, sample: 0.25}
tracing: {otlp_endpoint: "http://127.0.0.1:4318", sample: 0.5}
metrics: {max_routes: 50}
`

// TestFileCanonicalRoundTrip checks that the canonical form of a file decodes
// to the same configuration, in YAML and in JSON, and that its hash is
// stable.
func TestFileCanonicalRoundTrip(t *testing.T) {
	for _, doc := range []string{fullFile, "listen: 127.0.0.1:8080\nservers: {a: http://127.0.0.1:1}\n", "listen: :8080\nservers: {a: http://127.0.0.1:1}\ndefault_servers: []\naccess_log: false\n"} {
		f := decodeServe(t, doc)
		canon := f.Canonical()
		y, err := yaml.Marshal(canon)
		if err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(canon)
		if err != nil {
			t.Fatal(err)
		}
		for _, again := range []string{string(y), string(j)} {
			g := decodeServe(t, again)
			if !reflect.DeepEqual(g.Canonical(), canon) {
				t.Errorf("round trip changed the configuration:\n%s\nfrom\n%s", again, doc)
			}
			// The keys added beside the routing ones, which the
			// canonical form must write for them to come back.
			if !reflect.DeepEqual(g.AccessLog, f.AccessLog) || !reflect.DeepEqual(g.Tracing, f.Tracing) || g.Metrics != f.Metrics {
				t.Errorf("round trip: access_log %+v tracing %+v metrics %+v, want %+v %+v %+v", g.AccessLog, g.Tracing, g.Metrics, f.AccessLog, f.Tracing, f.Metrics)
			}
			if g.Hash() != f.Hash() {
				t.Errorf("hash %s after a round trip, want %s", g.Hash(), f.Hash())
			}
		}
	}
}

func TestAdminDefaultsToLoopback(t *testing.T) {
	f := decodeServe(t, fullFile)
	if f.Admin != "127.0.0.1:9090" || !IsLoopback(f.Admin) {
		t.Errorf("admin %q, want 127.0.0.1:9090", f.Admin)
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, "10.0.0.1:1": false, "[::]:1": false, "example.com:1": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) = %v", addr, !want)
		}
	}
}

func TestRedact(t *testing.T) {
	m := decodeServe(t, fullFile).Canonical()
	paths := Redact(m)
	if strings.Join(paths, ",") != "admin_token,sticky.secrets" {
		t.Errorf("redacted %v", paths)
	}
	b, _ := json.Marshal(m)
	if strings.Contains(string(b), `"tok"`) || strings.Contains(string(b), `"a"`) {
		t.Errorf("a secret is left: %s", b)
	}
}

func decodeServe(t *testing.T, doc string) *File {
	t.Helper()
	v, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	f, err := DecodeFile(v, true)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return f
}

// edgeFile sets every key of TLS and HTTP/2 at the edge (issue 8).
const edgeFile = `
listeners:
  - address: 127.0.0.1:8443
    tls:
      certificates:
        - {cert: /etc/l7lb/site.pem, key: /etc/l7lb/site-key.pem}
        - {cert: /etc/l7lb/wild.pem, key: /etc/l7lb/wild-key.pem}
      default: /etc/l7lb/wild.pem
      min_version: "1.3"
      curves: [X25519, prime256v1]
      session_ticket_keys: /etc/l7lb/tickets
      acme: {ca: "https://127.0.0.1:14000/dir", email: ops@example.com, domains: [a.example.com], storage: /var/lib/l7lb/acme, ca_root: /etc/l7lb/pebble.pem}
    hsts: {max_age: 48h, include_subdomains: true}
  - address: 127.0.0.1:8080
    h2c: true
  - address: 127.0.0.1:8081
    redirect_https: 8443
servers:
  plain: http://127.0.0.1:9001
  grpc: h2c://127.0.0.1:9002
  api: {url: "https://127.0.0.1:9443", weight: 2, tls: {ca: /etc/l7lb/ca.pem, server_name: api.internal, cert: /etc/l7lb/c.pem, key: /etc/l7lb/k.pem}}
  lax: {url: "https://127.0.0.1:9444", tls: {insecure_skip_verify: true}}
sticky: {secure: false}
limits: {max_concurrent_streams: 250}
`

// TestFileCanonicalEdgeKeys checks that the canonical form keeps every key
// of listeners, server TLS and HTTP/2: decoded again, they are the same,
// field for field (the round trip of TestFileCanonicalRoundTrip compares
// canonical forms, which would lose a key the same way twice).
func TestFileCanonicalEdgeKeys(t *testing.T) {
	for _, doc := range []string{edgeFile, strings.Replace(edgeFile, "sticky: {secure: false}", "sticky: {secure: auto}", 1),
		strings.Replace(edgeFile, "sticky: {secure: false}", "sticky: {secure: true}", 1)} {
		f := decodeServe(t, doc)
		j, err := json.Marshal(f.Canonical())
		if err != nil {
			t.Fatal(err)
		}
		g := decodeServe(t, string(j))
		// A map of servers keeps no order: the engine's server order is
		// the file's, which the canonical form writes sorted.
		for _, x := range []*File{f, g} {
			slices.SortFunc(x.Servers, func(a, b Server) int { return strings.Compare(a.ID, b.ID) })
		}
		for _, x := range []struct {
			what      string
			got, want any
		}{{"listeners", g.Listeners, f.Listeners}, {"servers", g.Servers, f.Servers}, {"limits", g.Limits, f.Limits}, {"sticky", g.Sticky, f.Sticky}} {
			if !reflect.DeepEqual(x.got, x.want) {
				t.Errorf("%s of the decoded canonical form differ:\n got %+v\nwant %+v\n%s", x.what, x.got, x.want, j)
			}
		}
		for _, key := range []string{`"h2c":true`, `"redirect_https":8443`, `"hsts":`, `"tls":`, `"max_concurrent_streams":250`, `"secure":`, `"server_name":"api.internal"`, `"insecure_skip_verify":true`, `"curves":["x25519","p256"]`} {
			if !strings.Contains(string(j), key) {
				t.Errorf("canonical form has no %s:\n%s", key, j)
			}
		}
	}
}
