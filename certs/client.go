package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"l7lb/config"
)

// ClientConfig returns the TLS configuration for connecting to the
// https:// server s: its certificate verified against the roots of
// tls.ca (else the system's) for tls.server_name (else the host of its
// URL, which may be an IP address), the client certificate of tls.cert
// and tls.key for mutual TLS, and a session cache so that new connections
// resume. It offers h2 and http/1.1 by ALPN; the proxy decides per
// connection what it asks for. An error names the field at fault
// ("ca: ...", "cert: ...", "key: ...").
func ClientConfig(s config.Server) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2", "http/1.1"},
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	t := s.TLS
	if t == nil {
		return conf, nil
	}
	if t.ServerName != "" {
		conf.ServerName = t.ServerName
	}
	conf.InsecureSkipVerify = t.InsecureSkipVerify
	if t.CA != "" {
		roots, err := loadRoots(t.CA)
		if err != nil {
			return nil, &ClientError{Field: "ca", Err: err}
		}
		conf.RootCAs = roots
	}
	if t.Cert != "" {
		c, err := newPair(config.CertPair{Cert: t.Cert, Key: t.Key})
		if err != nil {
			field := "cert"
			var pe *pairError
			if errors.As(err, &pe) {
				field = pe.field
			}
			return nil, &ClientError{Field: field, Err: err}
		}
		cert := c.cert
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return conf, nil
}

// ClientError is a problem with a file of a server's tls block.
type ClientError struct {
	Field string // "ca", "cert" or "key"
	Err   error
}

func (e *ClientError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }
func (e *ClientError) Unwrap() error { return e.Err }
