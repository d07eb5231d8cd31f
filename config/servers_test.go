package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// decodeServe decodes a serve configuration given whole.
func decodeServeErr(t *testing.T, doc string) (*File, error) {
	t.Helper()
	v, err := ParseYAML([]byte(doc))
	if err != nil {
		t.Fatalf("ParseYAML: %v", err)
	}
	return DecodeFile(v, true)
}

func TestServerSchemes(t *testing.T) {
	f, err := decodeServeErr(t, `listen: 127.0.0.1:8080
servers:
  plain: http://10.0.0.1
  plain2: http://10.0.0.1:8080
  tls: https://api.example.com
  tls2: {url: "https://10.0.0.2:8443", weight: 2, tls: {ca: ca.pem, server_name: api.internal, cert: c.pem, key: k.pem}}
  grpc: h2c://10.0.0.3:50051
  grpc80: h2c://10.0.0.3
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Server{
		{ID: "plain", URL: "http://10.0.0.1", Addr: "10.0.0.1:80", Scheme: "http", Weight: 1},
		{ID: "plain2", URL: "http://10.0.0.1:8080", Addr: "10.0.0.1:8080", Scheme: "http", Weight: 1},
		{ID: "tls", URL: "https://api.example.com", Addr: "api.example.com:443", Scheme: "https", Weight: 1},
		{ID: "tls2", URL: "https://10.0.0.2:8443", Addr: "10.0.0.2:8443", Scheme: "https", Weight: 2,
			TLS: &ServerTLS{CA: "ca.pem", ServerName: "api.internal", Cert: "c.pem", Key: "k.pem"}},
		{ID: "grpc", URL: "h2c://10.0.0.3:50051", Addr: "10.0.0.3:50051", Scheme: "h2c", Weight: 1},
		{ID: "grpc80", URL: "h2c://10.0.0.3", Addr: "10.0.0.3:80", Scheme: "h2c", Weight: 1},
	}
	if !reflect.DeepEqual(f.Servers, want) {
		t.Errorf("servers:\n got  %+v\n want %+v", f.Servers, want)
	}
}

func TestServerErrors(t *testing.T) {
	for _, tt := range []struct{ servers, want string }{
		{"s: ftp://a:1", "3: servers.s: want an http://, https:// or h2c:// URL"},
		{"s: https://", "3: servers.s: want https://host:port"},
		{"s: {url: 'h2c://a:1/x'}", "3: servers.s: a server URL has no path or query"},
		{"s: {url: 'http://a:1', tls: {ca: ca.pem}}", "3: servers.s.tls: only for an https:// server"},
		{"s: {url: 'h2c://a:1', tls: {}}", "3: servers.s.tls: only for an https:// server"},
		{"s: {url: 'https://a:1', tls: {cert: c.pem}}", "3: servers.s.tls.key: missing (a client certificate needs its key)"},
		{"s: {url: 'https://a:1', tls: {key: k.pem}}", "3: servers.s.tls.cert: missing (a key needs its client certificate)"},
		{"s: {url: 'https://a:1', tls: {insecure_skip_verify: 1}}", "3: servers.s.tls.insecure_skip_verify: expected a boolean"},
		{"s: {url: 'https://a:1', tls: {ca: ''}}", "3: servers.s.tls.ca: must not be empty"},
		{"s: {url: 'https://a:1', tls: {sni: a}}", "3: servers.s.tls.sni: unknown field"},
		{"s: {url: 'https://a:1', tls: [a]}", "3: servers.s.tls: expected an object"},
	} {
		_, src, err := Load("c.yaml", []byte("listen: 127.0.0.1:8080\nservers:\n  "+tt.servers+"\n"), true)
		if err != nil {
			err = src.Locate(err)
		}
		if err == nil || !containsLine(err.Error(), "c.yaml:"+tt.want) {
			t.Errorf("%s: got %v, want a line starting %q", tt.servers, err, "c.yaml:"+tt.want)
		}
	}
}

func TestServerTLSPathsFromTheConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "l7lb.yaml")
	doc := "listen: 127.0.0.1:8080\nservers:\n  s: {url: 'https://a:1', tls: {ca: ca.pem, cert: /etc/c.pem, key: keys/k.pem}}\n"
	if err := os.WriteFile(name, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _, err := ReadFile(name, true)
	if err != nil {
		t.Fatal(err)
	}
	want := &ServerTLS{CA: filepath.Join(dir, "ca.pem"), Cert: "/etc/c.pem", Key: filepath.Join(dir, "keys/k.pem")}
	if got := f.Servers[0].TLS; !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestStickySecure(t *testing.T) {
	for _, tt := range []struct {
		sticky string
		want   Secure
		err    string
	}{
		{"{}", SecureAuto, ""},
		{"{secure: auto}", SecureAuto, ""},
		{"{secure: true}", SecureAlways, ""},
		{"{secure: false}", SecureNever, ""},
		{"{secure: always}", 0, "sticky.secure: want auto, true or false"},
		{"{secure: 1}", 0, "sticky.secure: want auto, true or false"},
	} {
		f, err := decodeServeErr(t, "listen: 127.0.0.1:8080\nservers: {s: 'http://a:1'}\nsticky: "+tt.sticky+"\n")
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got %v, want %q", tt.sticky, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.sticky, err)
		case f.Sticky.Secure != tt.want:
			t.Errorf("%s: Secure %d, want %d", tt.sticky, f.Sticky.Secure, tt.want)
		}
	}
	// Canonical keeps a forced setting and omits the default.
	for _, s := range []Secure{SecureAuto, SecureAlways, SecureNever} {
		c := Config{Sticky: DefaultSticky()}
		c.Sticky.Secure = s
		v, ok := c.Canonical(nil)["sticky"].(map[string]any)["secure"]
		switch s {
		case SecureAuto:
			if ok {
				t.Errorf("auto: canonical form has secure %v", v)
			}
		default:
			if v != (s == SecureAlways) {
				t.Errorf("%d: canonical secure %v", s, v)
			}
		}
	}
}

func TestMaxConcurrentStreams(t *testing.T) {
	f, err := decodeServeErr(t, "listen: 127.0.0.1:8080\nservers: {s: 'http://a:1'}\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Limits.MaxConcurrentStreams != 100 {
		t.Errorf("default max_concurrent_streams %d, want 100", f.Limits.MaxConcurrentStreams)
	}
	f, err = decodeServeErr(t, "listen: 127.0.0.1:8080\nservers: {s: 'http://a:1'}\nlimits: {max_concurrent_streams: 250}\n")
	if err != nil || f.Limits.MaxConcurrentStreams != 250 {
		t.Errorf("max_concurrent_streams 250: %v, %+v", err, f.Limits)
	}
	_, err = decodeServeErr(t, "listen: 127.0.0.1:8080\nservers: {s: 'http://a:1'}\nlimits: {max_concurrent_streams: 0}\n")
	if err == nil || !strings.Contains(err.Error(), "limits.max_concurrent_streams: must be from 1 to 65536") {
		t.Errorf("max_concurrent_streams 0: %v", err)
	}
}
