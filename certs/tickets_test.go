package certs

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"l7lb/config"
)

func newTicketKey(t testing.TB) [32]byte {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

// formatTicketKeys writes keys as ParseTicketKeys reads them.
func formatTicketKeys(keys ...[32]byte) []byte {
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k[:]) + "\n")
	}
	return b.Bytes()
}

func TestParseTicketKeys(t *testing.T) {
	k1, k2 := newTicketKey(t), newTicketKey(t)
	b1, b2 := base64.StdEncoding.EncodeToString(k1[:]), base64.StdEncoding.EncodeToString(k2[:])
	good := "# rotated daily\n" + b1 + "\r\n\n  " + b2 + "  \n"
	keys, err := ParseTicketKeys([]byte(good))
	if err != nil || len(keys) != 2 || keys[0] != k1 || keys[1] != k2 {
		t.Fatalf("ParseTicketKeys: %d keys, %v", len(keys), err)
	}
	tooMany := bytes.Repeat([]byte(b1+"\n"), MaxTicketKeys+1)
	for _, tt := range []struct{ in, want string }{
		{"", "no key"},
		{"# only a comment\n\n", "no key"},
		{b1 + "\n" + b1[:43] + "\n", "line 2: want 44 characters"},
		{b1 + "\n" + strings.Repeat("A", 44) + "\n", "line 2: not the base64 of 32 bytes"}, // 33 bytes
		{"-----BEGIN PRIVATE KEY-----\n", "line 1: want 44 characters"},
		{strings.Repeat("*", 44), "line 1: not the base64 of 32 bytes"},
		{string(tooMany), "line 65: more than 64 keys"},
	} {
		_, err := ParseTicketKeys([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.50q: error %v, want %q", tt.in, err, tt.want)
		}
	}
}

// FuzzParseTicketKeys checks that the parser never panics, that what it
// accepts is at most MaxTicketKeys keys that read back the same once
// written out, and that its errors never repeat the input (key material).
func FuzzParseTicketKeys(f *testing.F) {
	f.Add([]byte("# c\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"))
	f.Add([]byte(strings.Repeat("A", 43) + "=\n"))
	f.Add([]byte(strings.Repeat("A", 44)))
	f.Add([]byte("\n\n#\n \t\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseTicketKeys(data)
		if err != nil {
			for _, line := range bytes.Split(data, []byte("\n")) {
				if line = bytes.TrimSpace(line); len(line) >= 8 && strings.Contains(err.Error(), string(line)) {
					t.Fatalf("error %q repeats the input line %q", err, line)
				}
			}
			return
		}
		if len(keys) == 0 || len(keys) > MaxTicketKeys {
			t.Fatalf("%d keys accepted", len(keys))
		}
		again, err := ParseTicketKeys(formatTicketKeys(keys...))
		if err != nil || len(again) != len(keys) {
			t.Fatalf("written out and read again: %d keys, %v", len(again), err)
		}
		for i := range keys {
			if again[i] != keys[i] {
				t.Fatalf("key %d changed in a round trip", i)
			}
		}
	})
}

// resumes connects to addr with the client's session cache and reports
// whether the handshake resumed a session. It reads a line so that a TLS
// 1.3 ticket, sent after the handshake, reaches the cache.
func resumes(t *testing.T, addr string, client *tls.Config) bool {
	t.Helper()
	c := dial(t, addr, "a.example", client)
	echo(t, c, "x")
	resumed := c.ConnectionState().DidResume
	c.Close()
	return resumed
}

// TestSessionResumptionAcrossInstances checks tickets between two stores
// (two instances of l7lb) sharing a ticket key file, through a rotation:
// a new key first, the old one kept to decrypt, then the old one dropped.
func TestSessionResumptionAcrossInstances(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			dir := t.TempDir()
			pair := writePair(t, dir, "a", "a.example")
			keyFile := filepath.Join(dir, "tickets")
			k1, k2, k3 := newTicketKey(t), newTicketKey(t), newTicketKey(t)
			writeFile(t, keyFile, formatTicketKeys(k1))
			cfg := config.ListenerTLS{MinVersion: tls.VersionTLS12, Certificates: []config.CertPair{pair}, SessionTicketKeys: keyFile}
			a, logsA := newStore(t, cfg, Options{})
			b, logsB := newStore(t, cfg, Options{})
			// B's listener has a clone of its configuration, as net/http's
			// Server makes: rotations must reach it too.
			addrA, addrB := serveEcho(t, a.TLSConfig()), serveEcho(t, b.TLSConfig().Clone())
			client := &tls.Config{MaxVersion: version, ClientSessionCache: tls.NewLRUClientSessionCache(8)}

			if resumes(t, addrA, client) {
				t.Fatal("the first connection resumed")
			}
			if !resumes(t, addrB, client) {
				t.Fatal("a ticket of instance A did not resume on instance B with the same key file")
			}

			// Rotation, step one: a new key encrypts, the old one still
			// decrypts. The client's ticket is under k1 now.
			writeFile(t, keyFile, formatTicketKeys(k2, k1))
			logsA.waitFor(t, "certs: loaded 2 session ticket keys from "+keyFile, 1)
			logsB.waitFor(t, "certs: loaded 2 session ticket keys from "+keyFile, 1)
			if !resumes(t, addrA, client) {
				t.Fatal("a ticket under the second key did not resume")
			}
			// The new ticket is under k2; step two drops k1 and adds k3.
			writeFile(t, keyFile, formatTicketKeys(k3, k2))
			logsB.waitFor(t, "certs: loaded 2 session ticket keys from "+keyFile, 2)
			if !resumes(t, addrB, client) {
				t.Fatal("a ticket under a key kept for decryption did not resume")
			}
			// Now under k3: a file of k2 alone cannot decrypt it.
			writeFile(t, keyFile, formatTicketKeys(k2))
			logsA.waitFor(t, "certs: loaded 1 session ticket keys from "+keyFile, 1)
			if resumes(t, addrA, client) {
				t.Fatal("a ticket resumed after its key was removed from the file")
			}

			// A broken file keeps the keys: the ticket just issued under
			// k2 resumes on B.
			writeFile(t, keyFile, []byte("not a key\n"))
			logsB.waitFor(t, keyFile+": line 1: want 44 characters", 1)
			if !resumes(t, addrB, client) {
				t.Fatal("a broken key file dropped the keys in use")
			}
		})
	}
}

// TestSessionResumptionWithoutKeyFile checks the control: without a shared
// file each instance has keys of its own, and resumes only its tickets.
func TestSessionResumptionWithoutKeyFile(t *testing.T) {
	dir := t.TempDir()
	cfg := config.ListenerTLS{MinVersion: tls.VersionTLS12, Certificates: []config.CertPair{writePair(t, dir, "a", "a.example")}}
	a, _ := newStore(t, cfg, Options{})
	b, _ := newStore(t, cfg, Options{})
	addrA, addrB := serveEcho(t, a.TLSConfig()), serveEcho(t, b.TLSConfig())
	client := &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	resumes(t, addrA, client)
	if !resumes(t, addrA, client) {
		t.Fatal("no resumption on the same instance")
	}
	if resumes(t, addrB, client) {
		t.Fatal("resumed on another instance with keys of its own")
	}
}
