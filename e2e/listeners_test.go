package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeListeners checks what serve does with the listeners block until
// it terminates TLS: it serves every plaintext listener, and refuses with
// the field's line a configuration that asks for what it cannot do yet,
// rather than ignore it.
func TestServeListeners(t *testing.T) {
	b := newBackend(t, "s1")
	dir := t.TempDir()

	cfg := filepath.Join(dir, "tls.yaml")
	doc := "servers: {s1: " + b.URL + "}\nlisteners:\n  - address: 127.0.0.1:0\n  - address: 127.0.0.1:0\n    tls: {certificates: [{cert: site.pem, key: site-key.pem}]}\n  - address: 127.0.0.1:0\n    h2c: true\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runL7lb(t, "serve", "--config", cfg)
	for _, want := range []string{
		cfg + ":5: listeners[1].tls: not yet supported by serve",
		cfg + ":7: listeners[2].h2c: not yet supported by serve",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q; stderr:\n%s", want, errOut)
		}
	}
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}

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
