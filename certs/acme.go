package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"l7lb/config"
)

// ACME is golang.org/x/crypto/acme/autocert's: it answers TLS-ALPN-01 in
// GetCertificate and HTTP-01 through an http.Handler, so the challenges are
// answered by l7lb's own listeners and it never opens one of its own (as
// certmagic's solvers do on ports 80 and 443 when they find them free,
// racing the proxy's listeners). It keeps the account key, the
// certificates and the pending challenge tokens in tls.acme.storage,
// renews 30 days (or a third of the lifetime) before expiry, and obtains
// an RSA certificate too when a client without ECDSA asks.

// acmeTimeout bounds obtaining the certificates of one store.
const acmeTimeout = 5 * time.Minute

// acmeReportEvery bounds how often a failure for one domain is logged:
// every handshake that needs its certificate fails alike (autocert tries
// again a minute after a failure).
const acmeReportEvery = time.Minute

// IsHTTPChallenge reports whether path is that of an ACME HTTP-01
// challenge, which a plaintext listener answers before anything else.
func IsHTTPChallenge(path string) bool {
	return strings.HasPrefix(path, "/.well-known/acme-challenge/")
}

// managers holds one autocert.Manager per distinct tls.acme setting for the
// life of the process. A Manager's renewal timers cannot be stopped, so a
// store closed on a reload leaves its Manager to the next store with the
// same setting instead of leaving a second set of renewals behind; two
// listeners with the same setting share one too. The map holds only
// settings that were configured.
var managers struct {
	sync.Mutex
	m map[string]*autocert.Manager
}

// acmeCerts is a store's view of its ACME Manager.
type acmeCerts struct {
	m          *autocert.Manager
	list       []string // the domains, in configuration order
	domains    map[string]bool
	challenges http.Handler // HTTP-01 answers; 404 for an unknown token
	logf       func(string, ...any)

	mu       sync.Mutex
	reported map[string]time.Time // when a failure for each domain was last logged
}

func newACME(cfg *config.ACME, logf func(string, ...any)) (*acmeCerts, error) {
	if len(cfg.Domains) == 0 {
		return nil, errors.New("certs: acme without domains")
	}
	domains := make(map[string]bool, len(cfg.Domains))
	for _, d := range cfg.Domains {
		domains[d] = true
	}
	key := strings.Join([]string{cfg.CA, cfg.Email, cfg.Storage, cfg.CARoot, strings.Join(cfg.Domains, " ")}, "\n")
	managers.Lock()
	defer managers.Unlock()
	m := managers.m[key]
	if m == nil {
		client := &acme.Client{DirectoryURL: cfg.CA, UserAgent: "l7lb"}
		if cfg.CARoot != "" {
			roots, err := loadRoots(cfg.CARoot)
			if err != nil {
				return nil, err
			}
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = &tls.Config{RootCAs: roots}
			client.HTTPClient = &http.Client{Transport: t}
		}
		m = &autocert.Manager{
			// Configuring tls.acme is agreeing to the CA's terms of service.
			Prompt: autocert.AcceptTOS,
			Cache:  autocert.DirCache(cfg.Storage),
			HostPolicy: func(_ context.Context, host string) error {
				if !domains[normalName(host)] {
					return fmt.Errorf("%s is not one of tls.acme.domains", host)
				}
				return nil
			},
			Client: client,
			Email:  cfg.Email,
		}
		if managers.m == nil {
			managers.m = map[string]*autocert.Manager{}
		}
		managers.m[key] = m
	}
	return &acmeCerts{
		m:          m,
		list:       cfg.Domains,
		domains:    domains,
		challenges: m.HTTPHandler(http.NotFoundHandler()), // also enables HTTP-01, tried after TLS-ALPN-01
		logf:       logf,
		reported:   map[string]time.Time{},
	}, nil
}

// loadRoots reads a PEM file of CA certificates.
func loadRoots(name string) (*x509.CertPool, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate", name)
	}
	return pool, nil
}

// certificate answers a TLS-ALPN-01 challenge, or returns the certificate
// of an ACME domain, obtaining it first if needed (the handshake waits).
// ok is false for any other server name.
func (a *acmeCerts) certificate(hello *tls.ClientHelloInfo) (c *tls.Certificate, ok bool, err error) {
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto {
		c, err := a.m.GetCertificate(hello)
		return c, true, err
	}
	name := normalName(hello.ServerName)
	if !a.domains[name] {
		return nil, false, nil
	}
	c, err = a.m.GetCertificate(hello)
	if err != nil {
		a.report(name, err)
	}
	return c, true, err
}

// fallback returns the first domain's certificate, for a client whose
// server name (or lack of one) no certificate has.
func (a *acmeCerts) fallback(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	h := *hello
	h.ServerName = a.list[0]
	c, err := a.m.GetCertificate(&h)
	if err != nil {
		a.report(a.list[0], err)
	}
	return c, err
}

func (a *acmeCerts) report(domain string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now := time.Now(); now.Sub(a.reported[domain]) >= acmeReportEvery {
		a.reported[domain] = now
		a.logf("certs: acme: %s: %v", domain, err)
	}
}

// obtainAll loads or obtains the certificate of every domain, at once,
// and returns them in the order of the domains (nil where it failed).
func (a *acmeCerts) obtainAll(ctx context.Context) ([]*tls.Certificate, error) {
	certs := make([]*tls.Certificate, len(a.list))
	errs := make([]error, len(a.list))
	var wg sync.WaitGroup
	for i, d := range a.list {
		wg.Go(func() {
			certs[i], errs[i] = a.obtain(ctx, d)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("acme: %s: %w", d, errs[i])
			}
		})
	}
	wg.Wait()
	return certs, errors.Join(errs...)
}

// obtain is GetCertificate for a hello from a modern client: the ECDSA
// certificate. It gives up when ctx ends; autocert's own work goes on then
// (bounded by its own five minutes) and its result is kept.
func (a *acmeCerts) obtain(ctx context.Context, domain string) (*tls.Certificate, error) {
	hello := &tls.ClientHelloInfo{
		ServerName:        domain,
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
	}
	type result struct {
		c   *tls.Certificate
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := a.m.GetCertificate(hello)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// answer runs the HTTP-01 handler for a request that is not served by
// net/http.
func (a *acmeCerts) answer(host, path string) (int, []byte, bool) {
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}, Host: host, Header: http.Header{}}
	var w recorder
	a.challenges.ServeHTTP(&w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, w.body.Bytes(), true
}

// recorder is the http.ResponseWriter of answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
