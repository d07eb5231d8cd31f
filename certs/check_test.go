package certs

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"l7lb/config"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good := writePair(t, dir, "good", "a.example", "*.a.example")
	other := writePair(t, dir, "other", "b.example")
	same := writePair(t, dir, "same", "a.example") // ECDSA too: never served for a.example
	rc, rk := rsaPair(t, "a.example")              // RSA: served to clients without ECDSA
	rsa := config.CertPair{Cert: filepath.Join(dir, "rsa.pem"), Key: filepath.Join(dir, "rsa-key.pem")}
	writeFile(t, rsa.Cert, rc)
	writeFile(t, rsa.Key, rk)
	nameless := writePair(t, dir, "nameless")
	ec, ek, err := SelfSigned([]string{"old.example"}, now.Add(-48*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired := config.CertPair{Cert: filepath.Join(dir, "expired.pem"), Key: filepath.Join(dir, "expired-key.pem")}
	writeFile(t, expired.Cert, ec)
	writeFile(t, expired.Key, ek)
	tickets := filepath.Join(dir, "tickets")
	writeFile(t, tickets, []byte("short\n"))

	got := Check(config.ListenerTLS{
		Certificates: []config.CertPair{
			good,
			{Cert: good.Cert, Key: other.Key},
			{Cert: filepath.Join(dir, "missing.pem"), Key: good.Key},
			{Cert: good.Cert, Key: filepath.Join(dir, "missing-key.pem")},
			same,
			rsa,
			nameless,
			expired,
		},
		SessionTicketKeys: tickets,
		ACME: &config.ACME{
			Domains: []string{"new.example", "b.example", "a.example"},
			Storage: good.Cert,
			CARoot:  good.Key,
		},
	}, now)
	want := []Problem{
		{Path: "certificates[1].key", Msg: other.Key + " does not match the certificate in " + good.Cert},
		{Path: "certificates[2].cert", Msg: "open " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{Path: "certificates[3].key", Msg: "open " + filepath.Join(dir, "missing-key.pem") + ": no such file or directory"},
		{Path: "certificates[4].cert", Msg: "a.example is served from certificates[0], which has it too with the same key type", Warning: true},
		{Path: "certificates[6].cert", Msg: "no DNS name or IP address in the certificate's SANs: never served", Warning: true},
		{Path: "certificates[7].cert", Msg: "expired at " + now.Add(-time.Hour).UTC().Format(time.RFC3339), Warning: true},
		{Path: "session_ticket_keys", Msg: tickets + ": line 1: want 44 characters, the base64 of 32 bytes (openssl rand -base64 32)"},
		{Path: "acme.ca_root", Msg: good.Key + ": no PEM certificate"},
		{Path: "acme.storage", Msg: good.Cert + " is not a directory"},
		{Path: "acme.domains[2]", Msg: "a.example is in certificates[0] too; the ACME certificate is served", Warning: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check:")
		for _, p := range got {
			t.Errorf("  got  %+v", p)
		}
		for _, p := range want {
			t.Errorf("  want %+v", p)
		}
	}

	if got := Check(config.ListenerTLS{Certificates: []config.CertPair{nameless}}, now); len(got) != 1 ||
		got[0].Msg != "no DNS name or IP address in the certificate's SANs: served only to clients that no other certificate matches" {
		t.Errorf("a nameless default: %+v", got)
	}
	if got := Check(config.ListenerTLS{Certificates: []config.CertPair{good, other}}, now); got != nil {
		t.Errorf("good certificates: %+v", got)
	}
}
