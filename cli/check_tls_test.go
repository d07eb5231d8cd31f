package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"l7lb/certs"
)

// TestCheckServerTLS checks that check loads the files of the servers'
// tls blocks as serve would, and names the field and line of each one
// that fails: a missing CA file, a CA file with no certificate, a client
// key that does not match its certificate.
func TestCheckServerTLS(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c1, k1, _ := certs.SelfSigned([]string{"a"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	_, k2, _ := certs.SelfSigned([]string{"b"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	write("ca.pem", c1)
	write("client.pem", c1)
	write("client-key.pem", k1)
	write("other-key.pem", k2)
	write("empty.pem", []byte("# nothing\n"))
	good := filepath.Join(dir, "good.yaml")
	write("good.yaml", []byte(`listen: 127.0.0.1:18080
servers:
  a: {url: "https://127.0.0.1:9443", tls: {ca: ca.pem, cert: client.pem, key: client-key.pem}}
  b: h2c://127.0.0.1:9002
`))
	if code, out, errs := runCheck(t, good); code != exitOK || len(errs) != 0 {
		t.Fatalf("good: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	write("bad.yaml", []byte(`listen: 127.0.0.1:18080
servers:
  a: {url: "https://127.0.0.1:9443", tls: {ca: missing.pem}}
  b: {url: "https://127.0.0.1:9444", tls: {ca: empty.pem}}
  c:
    url: "https://127.0.0.1:9445"
    tls: {cert: client.pem, key: other-key.pem}
`))
	code, _, errs := runCheck(t, bad)
	want := []string{
		bad + ":3: servers.a.tls.ca: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory",
		bad + ":4: servers.b.tls.ca: " + filepath.Join(dir, "empty.pem") + ": no PEM certificate",
		bad + ":7: servers.c.tls.key: " + filepath.Join(dir, "other-key.pem") + " does not match the certificate in " + filepath.Join(dir, "client.pem"),
	}
	if code != exitConfig || strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
}
