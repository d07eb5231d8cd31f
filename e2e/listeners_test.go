package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"l7lb/certs"
)

// writePEM writes a self-signed certificate for names, valid from from to
// until, and its key into dir as base.pem and base-key.pem.
func writePEM(t *testing.T, dir, base string, from, until time.Time, names ...string) {
	t.Helper()
	c, k, err := certs.SelfSigned(names, from, until)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{base + ".pem": c, base + "-key.pem": k} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckListeners checks that `l7lb check` loads what a TLS listener
// names, relative to the configuration file, and reports each problem with
// the file and line of its field: errors on stderr with exit 2, warnings
// on stdout.
func TestCheckListeners(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	writePEM(t, dir, "site", now.Add(-time.Hour), now.Add(90*24*time.Hour), "site.example", "*.site.example")
	writePEM(t, dir, "other", now.Add(-time.Hour), now.Add(90*24*time.Hour), "other.example")
	writePEM(t, dir, "old", now.Add(-48*time.Hour), now.Add(-time.Hour), "old.example")
	if err := os.WriteFile(filepath.Join(dir, "tickets"), []byte("# openssl rand -base64 32\n"+strings.Repeat("A", 43)+"=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, listeners string) string {
		p := filepath.Join(dir, name)
		doc := "servers:\n  s1: http://127.0.0.1:9001\n" + listeners
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	good := write("good.yaml", `listeners:
  - address: 127.0.0.1:18443
    tls:
      certificates:
        - {cert: site.pem, key: site-key.pem}
        - cert: old.pem
          key: old-key.pem
      session_ticket_keys: tickets
  - address: 127.0.0.1:18080
    redirect_https: 18443
    h2c: true
  - address: 127.0.0.1:18081
    redirect_https: 443
`)
	out, errOut, code := runL7lb(t, "check", "--config", good)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for _, want := range []string{
		good + ":8: warning: listeners[0].tls.certificates[1].cert: expired at ",
		good + ":15: warning: listeners[2].redirect_https: no TLS listener here has port 443",
		good + ": ok: 0 routes, 1 servers, listeners 127.0.0.1:18443 (tls), 127.0.0.1:18080 (h2c, redirect to https port 18443), 127.0.0.1:18081 (redirect to https port 443), sticky insert",
	} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("stdout lacks a line starting %q", want)
		}
	}
	if code != 0 || len(lines) != 3 {
		t.Errorf("exit %d, want 0 and three lines; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	bad := write("bad.yaml", `listeners:
  - address: 127.0.0.1:18443
    tls:
      certificates:
        - {cert: site.pem, key: other-key.pem}
        - {cert: missing.pem, key: site-key.pem}
      session_ticket_keys: site.pem
`)
	out, errOut, code = runL7lb(t, "check", "--config", bad)
	if code != 2 || strings.Contains(out, "ok:") {
		t.Errorf("exit %d, stdout %q: want 2 and no summary", code, out)
	}
	got := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
	for _, want := range []string{
		bad + ":7: listeners[0].tls.certificates[0].key: " + filepath.Join(dir, "other-key.pem") + " does not match the certificate in " + filepath.Join(dir, "site.pem"),
		bad + ":8: listeners[0].tls.certificates[1].cert: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory",
		bad + ":9: listeners[0].tls.session_ticket_keys: " + filepath.Join(dir, "site.pem") + ": line 1: want 44 characters, the base64 of 32 bytes (openssl rand -base64 32)",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("stderr lacks the line %q; stderr:\n%s", want, errOut)
		}
	}
}

// TestServeListeners checks that serve serves every listener of the
// block (edge_test.go has the TLS and h2c ones).
func TestServeListeners(t *testing.T) {
	b := newBackend(t, "s1")

	var p *serveProc
	for attempt := 0; ; attempt++ {
		a1, a2 := freePort(t), freePort(t)
		cfg := writeFile(t, "two.yaml", "servers: {s1: "+b.URL+"}\nlisteners:\n  - address: "+a1+"\n  - address: "+a2+"\n")
		var err error
		if p, err = launch(t, cfg, serveOpts{}); err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
	addrs := strings.Split(p.Addr, ", ")
	if len(addrs) != 2 {
		t.Fatalf("serving on %q, want two addresses", p.Addr)
	}
	c := newClient(t, false)
	for _, a := range addrs {
		if r := get(t, c, a, "", "/x"); r.Status != 200 || r.Backend != "s1" {
			t.Errorf("listener %s: status %d from %q, want 200 from s1", a, r.Status, r.Backend)
		}
	}
}
