package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"l7lb/config"
)

// pairError is a problem with one file of a pair.
type pairError struct {
	field string // "cert" or "key"
	err   error
}

func (e *pairError) Error() string { return e.err.Error() }
func (e *pairError) Unwrap() error { return e.err }

// parsePair parses a certificate chain and its private key (PEM) and checks
// that they belong together; the result has its Leaf parsed. Its errors
// are *pairError.
func parsePair(p config.CertPair, certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The standard library's messages name neither file; say which
		// one is at fault.
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		switch {
		case strings.Contains(msg, "does not match public key"):
			return nil, &pairError{"key", fmt.Errorf("%s does not match the certificate in %s", p.Key, p.Cert)}
		case strings.Contains(msg, "certificate input"), strings.HasPrefix(msg, "x509:"), strings.Contains(msg, "public key algorithm"):
			return nil, &pairError{"cert", fmt.Errorf("%s: %s", p.Cert, msg)}
		default:
			return nil, &pairError{"key", fmt.Errorf("%s: %s", p.Key, msg)}
		}
	}
	if c.Leaf == nil { // GODEBUG=x509keypairleaf=0
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, &pairError{"cert", fmt.Errorf("%s: %v", p.Cert, err)}
		}
	}
	return &c, nil
}

// pair is one configured certificate and key and the last good certificate
// loaded from them. Only the store's loader touches it.
type pair struct {
	files config.CertPair
	cert  *tls.Certificate // last good
	// The contents last parsed, so that unchanged files are not parsed
	// again nor their problem reported twice, and the last failure to read
	// them, reported once.
	certPEM, keyPEM []byte
	readErr         string
}

// newPair loads a pair from its files; its errors are *pairError.
func newPair(files config.CertPair) (*pair, error) {
	certPEM, err := os.ReadFile(files.Cert)
	if err != nil {
		return nil, &pairError{"cert", err}
	}
	keyPEM, err := os.ReadFile(files.Key)
	if err != nil {
		return nil, &pairError{"key", err}
	}
	c, err := parsePair(files, certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &pair{files: files, cert: c, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// refresh reads the pair's files again. It reports whether a new
// certificate replaced the last good one, and logs what went wrong when
// one could not; the last good certificate then stays.
func (p *pair) refresh(logf func(string, ...any)) bool {
	report := func(err error) {
		logf("certs: %v; still serving the previous certificate of %s (valid until %s)", err, p.files.Cert, p.cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	certPEM, err := os.ReadFile(p.files.Cert)
	var keyPEM []byte
	if err == nil {
		keyPEM, err = os.ReadFile(p.files.Key)
	}
	if err != nil {
		if msg := err.Error(); msg != p.readErr {
			p.readErr = msg
			report(err)
		}
		return false
	}
	p.readErr = ""
	if bytes.Equal(certPEM, p.certPEM) && bytes.Equal(keyPEM, p.keyPEM) {
		return false
	}
	p.certPEM, p.keyPEM = certPEM, keyPEM
	c, err := parsePair(p.files, certPEM, keyPEM)
	if err != nil {
		report(err)
		return false
	}
	p.cert = c
	logf("certs: loaded a new certificate from %s for %s, valid until %s", p.files.Cert, strings.Join(Names(c), ", "), c.Leaf.NotAfter.Format(time.RFC3339))
	return true
}
