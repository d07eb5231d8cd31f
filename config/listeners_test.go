package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeServeYAML decodes a serve configuration: doc plus a servers block.
func decodeServeYAML(t *testing.T, doc string) (*File, error) {
	t.Helper()
	v, err := ParseYAML([]byte(doc + "servers: {s1: http://127.0.0.1:9001}\n"))
	if err != nil {
		t.Fatalf("ParseYAML: %v", err)
	}
	return DecodeFile(v, true)
}

func TestListenersDefaults(t *testing.T) {
	f, err := decodeServeYAML(t, `
listeners:
  - address: 127.0.0.1:8443
    tls:
      certificates:
        - {cert: site.pem, key: site-key.pem}
        - {cert: wild.pem, key: wild-key.pem}
      default: wild.pem
      min_version: "1.3"
      curves: [X25519, secp256r1, x25519mlkem768]
      session_ticket_keys: tickets.keys
      acme: {email: ops@example.com, domains: [Shop.Example.com., api.example.com], storage: acme}
    hsts: {max_age: 1h, include_subdomains: true}
  - address: 127.0.0.1:8444
    tls:
      certificates: [{cert: site.pem, key: site-key.pem}]
    hsts: {}
  - address: 127.0.0.1:8080
    h2c: true
    redirect_https: 8443
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Address: "127.0.0.1:8443", TLS: &ListenerTLS{
			Certificates:      []CertPair{{"site.pem", "site-key.pem"}, {"wild.pem", "wild-key.pem"}},
			Default:           1,
			MinVersion:        tls.VersionTLS13,
			Curves:            []tls.CurveID{tls.X25519, tls.CurveP256, tls.X25519MLKEM768},
			SessionTicketKeys: "tickets.keys",
			ACME:              &ACME{CA: DefaultACMECA, Email: "ops@example.com", Domains: []string{"shop.example.com", "api.example.com"}, Storage: "acme"},
		}, HSTS: &HSTS{MaxAge: time.Hour, IncludeSubdomains: true}},
		{Address: "127.0.0.1:8444", TLS: &ListenerTLS{
			Certificates: []CertPair{{"site.pem", "site-key.pem"}},
			MinVersion:   tls.VersionTLS12,
		}, HSTS: &HSTS{MaxAge: DefaultHSTSMaxAge}},
		{Address: "127.0.0.1:8080", H2C: true, RedirectHTTPS: 8443},
	}
	if !reflect.DeepEqual(f.Listeners, want) {
		t.Errorf("got  %+v\nwant %+v", f.Listeners, want)
	}
	if got := f.Listeners[0].HSTS.Value(); got != "max-age=3600; includeSubDomains" {
		t.Errorf("HSTS value %q", got)
	}
	if got := f.Listeners[1].HSTS.Value(); got != "max-age=31536000" {
		t.Errorf("default HSTS value %q", got)
	}
}

func TestListenIsOnePlaintextListener(t *testing.T) {
	f, err := decodeServeYAML(t, "listen: 127.0.0.1:8080\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Listener{{Address: "127.0.0.1:8080"}}; !reflect.DeepEqual(f.Listeners, want) {
		t.Errorf("got %+v, want %+v", f.Listeners, want)
	}
	// The node reads no listener and needs none.
	v, _ := ParseYAML([]byte("routes: []\n"))
	if f, err := DecodeFile(v, false); err != nil || f.Listeners != nil {
		t.Errorf("node: %+v, %v", f.Listeners, err)
	}
}

func TestListenersErrors(t *testing.T) {
	const pair = "{cert: a.pem, key: a-key.pem}"
	tests := []struct{ doc, want string }{
		{"listen: 127.0.0.1:1\nlisteners: [{address: 127.0.0.1:2}]\n", "2: listeners: give listen or listeners, not both"},
		{"admin: 127.0.0.1:9\n", "1: listen: missing (give listen or listeners)"},
		{"listeners: []\n", "1: listeners: must not be empty"},
		{"listeners: [{h2c: true}]\n", "1: listeners[0].address: missing"},
		{"listeners: [{address: 8080}]\n", "1: listeners[0].address: expected a string"},
		{"listeners: [{address: localhost}]\n", "1: listeners[0].address: want host:port"},
		{"listeners: [{address: ':1', port: 2}]\n", "1: listeners[0].port: unknown field"},
		{"listeners:\n  - address: 127.0.0.1:8080\n  - address: 127.0.0.1:8080\n", "3: listeners[1].address: the same address as listeners[0].address (127.0.0.1:8080)"},
		{"listeners:\n  - address: 127.0.0.1:8080\n  - address: :8080\n", "3: listeners[1].address: overlaps listeners[0].address (:8080 takes port 8080 on every address)"},
		{"listeners:\n  - address: '[::]:8080'\n  - address: 127.0.0.1:8080\n", "3: listeners[1].address: overlaps listeners[0].address ([::]:8080 takes port 8080 on every address)"},
		{"admin: 127.0.0.1:8080\nlisten: 0.0.0.0:8080\n", "1: admin: overlaps listen (0.0.0.0:8080 takes port 8080 on every address)"},
		{"listeners: [{address: ':1', h2c: yes please}]\n", "1: listeners[0].h2c: expected a boolean"},
		{"listeners: [{address: ':1', redirect_https: 0}]\n", "1: listeners[0].redirect_https: must be from 1 to 65535"},
		{"listeners: [{address: ':1', redirect_https: 65536}]\n", "1: listeners[0].redirect_https: must be from 1 to 65535"},
		{"listeners: [{address: ':1', redirect_https: https}]\n", "1: listeners[0].redirect_https: expected an integer"},
		{"listeners: [{address: ':1', hsts: {}}]\n", "1: listeners[0].hsts: only on a TLS listener (browsers ignore it over plain HTTP)"},
		{"listeners:\n  - address: ':1'\n    tls: {certificates: [" + pair + "]}\n    h2c: true\n", "4: listeners[0].h2c: only on a plaintext listener (a TLS listener offers h2 by ALPN)"},
		{"listeners:\n  - address: ':1'\n    tls: {certificates: [" + pair + "]}\n    redirect_https: 443\n", "4: listeners[0].redirect_https: only on a plaintext listener"},
		{"listeners:\n  - address: ':1'\n    tls: {}\n", "3: listeners[0].tls.certificates: missing (give certificates, acme or both)"},
		{"listeners:\n  - address: ':1'\n    tls: {certificates: []}\n", "3: listeners[0].tls.certificates: must not be empty"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates:\n        - {cert: a.pem}\n", "5: listeners[0].tls.certificates[0].key: missing"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates:\n        - {cert: a.pem, key: ''}\n", "5: listeners[0].tls.certificates[0].key: must not be empty"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates:\n        - {cert: a.pem, key: k, chain: c}\n", "5: listeners[0].tls.certificates[0].chain: unknown field"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates:\n        - " + pair + "\n        - {cert: a.pem, key: b.pem}\n", "6: listeners[0].tls.certificates[1].cert: duplicate a.pem (also certificates[0])"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      default: b.pem\n", "5: listeners[0].tls.default: no certificates entry has this cert (want one of a.pem)"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      min_version: \"1.1\"\n", `5: listeners[0].tls.min_version: TLS 1.0 and 1.1 are not offered (RFC 8996); want "1.2" or "1.3"`},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      min_version: 1.4\n", `5: listeners[0].tls.min_version: want "1.2" or "1.3"`},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      min_version: 1.30\n", `5: listeners[0].tls.min_version: want "1.2" or "1.3"`},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      curves: x25519\n", "5: listeners[0].tls.curves: expected a list of strings"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      curves: []\n", "5: listeners[0].tls.curves: must not be empty (leave curves out for Go's defaults)"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      curves:\n        - x25519\n        - x448\n", `7: listeners[0].tls.curves[1]: unknown group "x448" (want x25519, p256`},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      curves: [x25519, 25519]\n", "5: listeners[0].tls.curves[1]: expected a string"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      curves:\n        - p256\n        - prime256v1\n", "7: listeners[0].tls.curves[1]: duplicate p256 (also listeners[0].tls.curves[0])"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      curves: [x25519mlkem768]\n", "5: listeners[0].tls.curves: only TLS 1.3 groups, so a TLS 1.2 client could not connect"},
		{"listeners:\n  - address: ':1'\n    tls:\n      certificates: [" + pair + "]\n      session_ticket_keys: ''\n", "5: listeners[0].tls.session_ticket_keys: must not be empty"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme: {storage: d}\n", "4: listeners[0].tls.acme.domains: missing"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme: {domains: [a.example.com]}\n", "4: listeners[0].tls.acme.storage: missing (the account key"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme: {domains: [], storage: d}\n", "4: listeners[0].tls.acme.domains: must not be empty"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme:\n        storage: d\n        domains: ['*.example.com']\n", "6: listeners[0].tls.acme.domains[0]: a wildcard needs the DNS-01 challenge"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme:\n        storage: d\n        domains: [192.0.2.1]\n", "6: listeners[0].tls.acme.domains[0]: an IP address"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme:\n        storage: d\n        domains: [localhost]\n", "6: listeners[0].tls.acme.domains[0]: not a host name of two labels or more"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme:\n        storage: d\n        domains: [a_b.example.com]\n", "6: listeners[0].tls.acme.domains[0]: not a host name"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme:\n        storage: d\n        domains:\n          - a.example.com\n          - A.example.com.\n", "8: listeners[0].tls.acme.domains[1]: duplicate a.example.com"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme: {domains: [a.example.com], storage: d, ca: 'http://ca.example/dir'}\n", "4: listeners[0].tls.acme.ca: want the https:// URL of the CA's ACME directory"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme: {domains: [a.example.com], storage: d, email: ops}\n", "4: listeners[0].tls.acme.email: want an email address"},
		{"listeners:\n  - address: ':1'\n    tls:\n      acme: {domains: [a.example.com], storage: d, eab: x}\n", "4: listeners[0].tls.acme.eab: unknown field"},
		{"listeners:\n  - address: ':1'\n    tls: {certificates: [" + pair + "]}\n    hsts: {max_age: -1s}\n", "4: listeners[0].hsts.max_age: must be positive"},
		{"listeners:\n  - address: ':1'\n    tls: {certificates: [" + pair + "]}\n    hsts: {preload: true}\n", "4: listeners[0].hsts.preload: unknown field"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		name := filepath.Join(dir, "c.yaml")
		doc := tt.doc + "servers: {s1: http://127.0.0.1:9001}\n"
		if err := os.WriteFile(name, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadFile(name, true)
		want := name + ":" + tt.want
		if err == nil || !containsLine(err.Error(), want) {
			t.Errorf("case %d:\n%s\ngot  %v\nwant a line starting %q", i, tt.doc, err, want)
		}
	}
}

// containsLine reports whether some line of s starts with prefix.
func containsLine(s, prefix string) bool {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

func TestHSTSMaxAgeZero(t *testing.T) {
	for _, v := range []string{"0", "'0'", "0s"} {
		f, err := decodeServeYAML(t, "listeners:\n  - address: ':1'\n    tls: {certificates: [{cert: a, key: b}]}\n    hsts: {max_age: "+v+"}\n")
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got := f.Listeners[0].HSTS.Value(); got != "max-age=0" {
			t.Errorf("max_age %s: %q, want max-age=0 (which makes browsers forget the policy)", v, got)
		}
	}
}

func TestListenerPathsFromTheConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "l7lb.yaml")
	doc := `listeners:
  - address: 127.0.0.1:8443
    tls:
      certificates: [{cert: certs/site.pem, key: /etc/keys/site.key}]
      session_ticket_keys: tickets
      acme: {domains: [a.example.com], storage: acme, ca_root: ../root.pem}
servers: {s1: http://127.0.0.1:9001}
`
	if err := os.WriteFile(name, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _, err := ReadFile(name, true)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Listeners[0].TLS
	want := &ListenerTLS{
		Certificates:      []CertPair{{filepath.Join(dir, "certs/site.pem"), "/etc/keys/site.key"}},
		MinVersion:        tls.VersionTLS12,
		SessionTicketKeys: filepath.Join(dir, "tickets"),
		ACME:              &ACME{CA: DefaultACMECA, Domains: []string{"a.example.com"}, Storage: filepath.Join(dir, "acme"), CARoot: filepath.Join(filepath.Dir(dir), "root.pem")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestListenerWarnings(t *testing.T) {
	f, err := decodeServeYAML(t, `
listeners:
  - address: 127.0.0.1:8443
    tls: {certificates: [{cert: a, key: b}]}
  - address: 127.0.0.1:8080
    redirect_https: 8443
  - address: 127.0.0.1:8081
    redirect_https: 443
`)
	if err != nil {
		t.Fatal(err)
	}
	ws := f.ListenerWarnings()
	if len(ws) != 1 || ws[0].Error() != "listeners[2].redirect_https: no TLS listener here has port 443" {
		t.Errorf("warnings %v, want one for listeners[2]", ws)
	}
}
