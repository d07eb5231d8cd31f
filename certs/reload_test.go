package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"l7lb/config"
)

// waitServed waits up to two seconds, the promise of docs/config.md, for
// new handshakes with SNI name to get the certificate with serial.
func waitServed(t *testing.T, addr, name, serial string) {
	t.Helper()
	start := time.Now()
	for {
		_, got := served(t, addr, name)
		if got == serial {
			t.Logf("new certificate served %v after the change", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("still serving serial %s 2s after the change, want %s", got, serial)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newPEM returns a new certificate for names, its key and its serial.
func newPEM(t *testing.T, names ...string) (certPEM, keyPEM []byte, serial string) {
	t.Helper()
	c, k := pemPair(t, names...)
	block, _ := pem.Decode(c)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c, k, leaf.SerialNumber.String()
}

// reloadCase runs a renewal through a real listener: a connection open
// before the change must still work after it, and new handshakes must get
// the new certificate within two seconds.
func reloadCase(t *testing.T, files config.CertPair, renew func(certPEM, keyPEM []byte)) {
	s, logs := newStore(t, config.ListenerTLS{MinVersion: tls.VersionTLS12, Certificates: []config.CertPair{files}}, Options{})
	addr := serveEcho(t, s.TLSConfig())
	old := dial(t, addr, "a.example", nil)
	echo(t, old, "before")

	for i := range 2 { // twice: the second renewal must be seen as well as the first
		c, k, serial := newPEM(t, "a.example")
		renew(c, k)
		waitServed(t, addr, "a.example", serial)
		logs.waitFor(t, "certs: loaded a new certificate from "+files.Cert, i+1)
	}
	echo(t, old, "after") // not dropped
}

func TestReloadInPlace(t *testing.T) {
	dir := t.TempDir()
	files := writePair(t, dir, "a", "a.example")
	reloadCase(t, files, func(c, k []byte) {
		writeFile(t, files.Cert, c) // truncated and rewritten: the same inode
		writeFile(t, files.Key, k)
	})
}

func TestReloadAtomicRename(t *testing.T) {
	dir := t.TempDir()
	files := writePair(t, dir, "a", "a.example")
	reloadCase(t, files, func(c, k []byte) {
		// As certbot and most tools do: write aside, rename over.
		writeFile(t, files.Cert+".tmp", c)
		writeFile(t, files.Key+".tmp", k)
		if err := os.Rename(files.Key+".tmp", files.Key); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(files.Cert+".tmp", files.Cert); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReloadSymlinkSwap renews files the way Kubernetes updates a mounted
// Secret: tls.crt -> ..data/tls.crt, ..data -> ..TIMESTAMP, and an update
// writes a new ..TIMESTAMP directory, swaps ..data to it by renaming a new
// link over it, and removes the old directory.
func TestReloadSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	generation := 0
	writeGeneration := func(c, k []byte) {
		generation++
		gen := filepath.Join(dir, "..2026_01_01_00_00_0"+string(rune('0'+generation)))
		if err := os.Mkdir(gen, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(gen, "tls.crt"), c)
		writeFile(t, filepath.Join(gen, "tls.key"), k)
		old, _ := os.Readlink(filepath.Join(dir, "..data"))
		if err := os.Symlink(filepath.Base(gen), filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if old != "" {
			if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, k, _ := newPEM(t, "a.example")
	writeGeneration(c, k)
	for _, name := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	files := config.CertPair{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}
	reloadCase(t, files, writeGeneration)
}

// TestReloadKeepsTheLastGoodPair checks that a renewal gone wrong (a key
// that does not match, a file gone) is reported and the last good
// certificate stays, and that the store recovers once the files are good.
func TestReloadKeepsTheLastGoodPair(t *testing.T) {
	dir := t.TempDir()
	c0, k0, serial0 := newPEM(t, "a.example")
	files := config.CertPair{Cert: filepath.Join(dir, "a.pem"), Key: filepath.Join(dir, "a-key.pem")}
	writeFile(t, files.Cert, c0)
	writeFile(t, files.Key, k0)
	s, logs := newStore(t, config.ListenerTLS{MinVersion: tls.VersionTLS12, Certificates: []config.CertPair{files}}, Options{})
	addr := serveEcho(t, s.TLSConfig())
	old := dial(t, addr, "a.example", nil)
	echo(t, old, "before")

	// A new certificate whose key does not match.
	c1, _, _ := newPEM(t, "a.example")
	_, otherKey, _ := newPEM(t, "a.example")
	writeFile(t, files.Cert, c1)
	writeFile(t, files.Key, otherKey)
	logs.waitFor(t, files.Key+" does not match the certificate in "+files.Cert+"; still serving the previous certificate", 1)
	if _, got := served(t, addr, "a.example"); got != serial0 {
		t.Fatalf("serving serial %s after a broken renewal, want the last good %s", got, serial0)
	}

	// A certificate file that is not PEM.
	writeFile(t, files.Cert, []byte("garbage"))
	logs.waitFor(t, files.Cert+": failed to find any PEM data in certificate input; still serving", 1)

	// The files gone.
	os.Remove(files.Cert)
	logs.waitFor(t, "no such file or directory; still serving the previous certificate", 1)
	if _, got := served(t, addr, "a.example"); got != serial0 {
		t.Fatalf("serving serial %s with the file gone, want the last good %s", got, serial0)
	}
	echo(t, old, "during")

	// A good pair again.
	c2, k2, serial2 := newPEM(t, "a.example")
	writeFile(t, files.Key, k2)
	writeFile(t, files.Cert, c2)
	waitServed(t, addr, "a.example", serial2)
	echo(t, old, "after")
	if n := logs.count("does not match"); n != 1 {
		t.Errorf("the mismatch was reported %d times, want once", n)
	}
}

// TestReloadNewNames checks that the names of a renewed certificate are
// indexed: a name it gained is served by it.
func TestReloadNewNames(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a", "a.example")
	b := writePair(t, dir, "b", "b.example")
	s, _ := newStore(t, config.ListenerTLS{MinVersion: tls.VersionTLS12, Certificates: []config.CertPair{a, b}}, Options{})
	addr := serveEcho(t, s.TLSConfig())
	if got, _ := served(t, addr, "new.example"); got != "a.example" {
		t.Fatalf("unknown name served %s, want the default a.example", got)
	}
	c, k, serial := newPEM(t, "b.example", "new.example")
	writeFile(t, b.Key+".tmp", k)
	writeFile(t, b.Cert+".tmp", c)
	os.Rename(b.Key+".tmp", b.Key)
	os.Rename(b.Cert+".tmp", b.Cert)
	waitServed(t, addr, "new.example", serial)
}
