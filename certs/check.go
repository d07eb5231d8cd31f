package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"time"

	"l7lb/config"
)

// Problem is something wrong with a file that a listener's tls block
// names, as Check finds it.
type Problem struct {
	Path    string // field path within the tls block: "certificates[1].key", "session_ticket_keys", ...
	Msg     string
	Warning bool // New would accept it; it deserves attention
}

// Check loads what cfg names as New does, without watching or serving,
// and reports every problem New would fail on, and as warnings: a
// certificate expired, not yet valid or expiring soon, one with no name in
// its SANs, a name that an earlier certificate of the same key type has
// (the later one is never served for it), an ACME domain that a
// configured certificate has too.
func Check(cfg config.ListenerTLS, now time.Time) []Problem {
	var out []Problem
	add := func(path, msg string, warning bool) {
		out = append(out, Problem{Path: path, Msg: msg, Warning: warning})
	}
	type nameKey struct {
		name string
		alg  x509.PublicKeyAlgorithm
	}
	first := map[nameKey]int{}
	served := map[string]int{} // name → first certificate with it
	for i, files := range cfg.Certificates {
		path := config.Index("certificates", i)
		p, err := newPair(files)
		if err != nil {
			var pe *pairError
			errors.As(err, &pe)
			add(config.Join(path, pe.field), err.Error(), false)
			continue
		}
		leaf := p.cert.Leaf
		if msg := expiry(leaf, now); msg != "" {
			add(config.Join(path, "cert"), msg, true)
		}
		names := Names(p.cert)
		if len(names) == 0 {
			msg := "no DNS name or IP address in the certificate's SANs: never served"
			if i == cfg.Default {
				msg = "no DNS name or IP address in the certificate's SANs: served only to clients that no other certificate matches"
			}
			add(config.Join(path, "cert"), msg, true)
		}
		for _, n := range names {
			k := nameKey{n, leaf.PublicKeyAlgorithm}
			if j, ok := first[k]; ok {
				add(config.Join(path, "cert"), fmt.Sprintf("%s is served from certificates[%d], which has it too with the same key type", n, j), true)
				continue
			}
			first[k] = i
			if _, ok := served[n]; !ok {
				served[n] = i
			}
		}
	}
	if cfg.SessionTicketKeys != "" {
		if data, err := os.ReadFile(cfg.SessionTicketKeys); err != nil {
			add("session_ticket_keys", err.Error(), false)
		} else if _, err := ParseTicketKeys(data); err != nil {
			add("session_ticket_keys", cfg.SessionTicketKeys+": "+err.Error(), false)
		}
	}
	if a := cfg.ACME; a != nil {
		if a.CARoot != "" {
			if _, err := loadRoots(a.CARoot); err != nil {
				add("acme.ca_root", err.Error(), false)
			}
		}
		if fi, err := os.Stat(a.Storage); err == nil && !fi.IsDir() {
			add("acme.storage", a.Storage+" is not a directory", false)
		}
		for i, d := range a.Domains {
			if j, ok := served[d]; ok {
				add(config.Index("acme.domains", i), fmt.Sprintf("%s is in certificates[%d] too; the ACME certificate is served", d, j), true)
			}
		}
	}
	return out
}

// expiry describes a certificate that is not valid at now or expires
// soon: within a sixth of its lifetime or two weeks, whichever is sooner.
// It is "" for any other.
func expiry(leaf *x509.Certificate, now time.Time) string {
	left := leaf.NotAfter.Sub(now)
	switch {
	case now.Before(leaf.NotBefore):
		return "not valid before " + leaf.NotBefore.Format(time.RFC3339)
	case left <= 0:
		return "expired at " + leaf.NotAfter.Format(time.RFC3339)
	case left < min(leaf.NotAfter.Sub(leaf.NotBefore)/6, 14*24*time.Hour):
		return "expires at " + leaf.NotAfter.Format(time.RFC3339) + ", in " + left.Round(time.Minute).String()
	}
	return ""
}

// SelfSigned returns a new self-signed ECDSA P-256 certificate for names
// (DNS names or IP addresses), valid from notBefore to notAfter, and its
// private key, both PEM: for demonstrations and tests.
func SelfSigned(names []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "l7lb self-signed"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that a client can trust it as its own root
	}
	for _, n := range names {
		if ip, err := netip.ParseAddr(n); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if len(names) > 0 {
		tmpl.Subject.CommonName = names[0]
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
