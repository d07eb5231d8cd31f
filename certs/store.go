// Package certs holds the certificates of a TLS listener: it loads the
// configured certificate and key files, chooses one per handshake by SNI,
// serves renewed files to new handshakes as soon as they are written
// (watching their directories), shares session ticket keys between
// instances through a file, and obtains certificates from an ACME CA,
// answering its challenges itself. The proxy asks it for a *tls.Config and,
// on plaintext listeners, to answer ACME's HTTP-01 challenges.
package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"

	"l7lb/config"
	"l7lb/filewatch"
)

// Options are the settings of a Store that are not configuration keys:
// what the proxy serving the listener can speak, and where to report.
type Options struct {
	// HTTP2 offers h2 by ALPN before http/1.1; off until the proxy serves
	// HTTP/2.
	HTTP2 bool
	// Logf reports reloads and problems: a broken renewed pair, an
	// unreadable file, an ACME failure, a certificate about to expire.
	// nil means log.Printf.
	Logf func(format string, args ...any)
}

// Store serves the certificates of one TLS listener. Its methods are safe
// for concurrent use.
type Store struct {
	cfg   config.ListenerTLS
	logf  func(string, ...any)
	index atomic.Pointer[index]
	inner *tls.Config // what each handshake uses (see TLSConfig)
	outer *tls.Config

	// Owned by the loop goroutine once New returns.
	pairs   []*pair
	tickets *ticketFile

	acme  *acmeCerts         // nil without tls.acme
	watch *filewatch.Watcher // nil when the files cannot be watched

	ctx       context.Context // ends at Close
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// expiryCheck is how often certificates are checked for expiry. (Changed
// files are reloaded as filewatch reports them.)
const expiryCheck = 12 * time.Hour

var errNoCertificate = errors.New("certs: no certificate for this server name")

// New loads what cfg names: every certificate pair, the session ticket
// keys, the ACME account; any of them failing is an error. It then watches
// the files until Close.
func New(cfg config.ListenerTLS, opts Options) (*Store, error) {
	if len(cfg.Certificates) == 0 && (cfg.ACME == nil || len(cfg.ACME.Domains) == 0) {
		return nil, errors.New("certs: no certificate and no ACME domain")
	}
	s := &Store{cfg: cfg, logf: opts.Logf}
	if s.logf == nil {
		s.logf = log.Printf
	}
	for _, files := range cfg.Certificates {
		p, err := newPair(files)
		if err != nil {
			return nil, err
		}
		s.pairs = append(s.pairs, p)
	}
	s.rebuildIndex()

	s.inner = &tls.Config{
		GetCertificate: s.getCertificate,
		MinVersion:     cfg.MinVersion,
		NextProtos:     []string{"http/1.1"},
		// nil (no tls.curves) is Go's defaults.
		CurvePreferences: cfg.Curves,
	}
	if opts.HTTP2 {
		s.inner.NextProtos = []string{"h2", "http/1.1"}
	}
	if cfg.SessionTicketKeys != "" {
		s.tickets = &ticketFile{name: cfg.SessionTicketKeys, conf: s.inner}
		if err := s.tickets.load(); err != nil {
			return nil, err
		}
	}
	if cfg.ACME != nil {
		a, err := newACME(cfg.ACME, s.logf)
		if err != nil {
			return nil, err
		}
		s.acme = a
		// TLS-ALPN-01: the CA's handshake asks for this protocol alone.
		s.inner.NextProtos = append(s.inner.NextProtos, acme.ALPNProto)
	}
	s.outer = &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.inner, nil },
		MinVersion:         s.inner.MinVersion,
		NextProtos:         s.inner.NextProtos,
	}

	files := make([]string, 0, 2*len(cfg.Certificates)+1)
	for _, p := range cfg.Certificates {
		files = append(files, p.Cert, p.Key)
	}
	if cfg.SessionTicketKeys != "" {
		files = append(files, cfg.SessionTicketKeys)
	}
	w, err := filewatch.New(func() []string { return files }, func(format string, args ...any) { s.logf("certs: "+format, args...) })
	if err != nil {
		s.logf("certs: cannot watch %v (%v): renewed files will not be served until l7lb is restarted", files, err)
	}
	s.watch = w
	s.warnExpiring(time.Now())
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

// TLSConfig returns the listener's TLS configuration, the same one on every
// call. Each handshake is handed to the store (GetConfigForClient), so a
// clone of it (net/http's Server clones) follows renewed certificates and
// rotated ticket keys as well. It must not be modified.
func (s *Store) TLSConfig() *tls.Config { return s.outer }

// Close stops watching the files. Connections and handshakes under way are
// not affected; new handshakes keep the certificates loaded last. ACME
// renewals go on for as long as the process runs (see acme.go).
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.wg.Wait()
		if s.watch != nil {
			s.watch.Close()
		}
	})
	return nil
}

// getCertificate chooses the certificate for a handshake: ACME's for its
// domains and its challenges, else the configured ones by name (see
// index.lookup), else, with ACME alone, the first ACME domain's.
func (s *Store) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.acme != nil {
		if c, ok, err := s.acme.certificate(hello); ok {
			return c, err
		}
	}
	if c := s.index.Load().lookup(hello); c != nil {
		return c, nil
	}
	if s.acme != nil {
		return s.acme.fallback(hello)
	}
	return nil, errNoCertificate
}

// rebuildIndex indexes the pairs' current certificates.
func (s *Store) rebuildIndex() {
	certs := make([]*tls.Certificate, len(s.pairs))
	for i, p := range s.pairs {
		certs[i] = p.cert
	}
	def := -1
	if len(certs) > 0 {
		def = s.cfg.Default
	}
	s.index.Store(newIndex(certs, def))
}

// loop reloads the files after they change and checks for expiring
// certificates, until Close.
func (s *Store) loop() {
	defer s.wg.Done()
	var changes <-chan struct{}
	if s.watch != nil {
		changes = s.watch.Changes()
	}
	expiry := time.NewTicker(expiryCheck)
	defer expiry.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-changes:
			s.reload()
		case now := <-expiry.C:
			s.warnExpiring(now)
			s.warnExpiringACME(now)
		}
	}
}

// reload reads every file again, serving what changed and is good.
func (s *Store) reload() {
	changed := false
	for _, p := range s.pairs {
		if p.refresh(s.logf) {
			changed = true
		}
	}
	if changed {
		s.rebuildIndex()
	}
	if s.tickets != nil {
		s.tickets.refresh(s.logf)
	}
}

// warnExpiring logs each configured certificate that is not valid or
// expires soon (see expiry): its files are due for renewal.
func (s *Store) warnExpiring(now time.Time) {
	for _, c := range s.index.Load().certs {
		warnIfExpiring(c, now, s.logf)
	}
}

// warnExpiringACME does the same for the ACME certificates, which renew by
// themselves: one expiring soon has failed to renew for a while (each
// attempt's error is logged too). It runs in the background: a missing
// certificate is obtained then.
func (s *Store) warnExpiringACME(now time.Time) {
	if s.acme == nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, acmeTimeout)
		defer cancel()
		certs, _ := s.acme.obtainAll(ctx)
		for _, c := range certs {
			if c != nil {
				warnIfExpiring(c, now, s.logf)
			}
		}
	}()
}

// warnIfExpiring logs c when it is not valid or expires soon (see expiry).
func warnIfExpiring(c *tls.Certificate, now time.Time, logf func(string, ...any)) {
	if msg := expiry(c.Leaf, now); msg != "" {
		logf("certs: warning: the certificate for %s %s", strings.Join(Names(c), ", "), msg)
	}
}

// HTTPChallenge returns a handler that answers ACME HTTP-01 challenges
// (GET /.well-known/acme-challenge/TOKEN) for this store's ACME domains and
// hands every other request to next. Chain the stores of every ACME
// listener on each plaintext listener; without ACME it returns next.
func (s *Store) HTTPChallenge(next http.Handler) http.Handler {
	if s.acme == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsHTTPChallenge(r.URL.Path) && s.acme.domains[normalName(r.Host)] {
			s.acme.challenges.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// HTTPChallengeResponse answers an HTTP-01 challenge request for host and
// path on a plaintext connection that is not served by net/http: ok is
// false when the request is not a challenge for one of this store's ACME
// domains, else status and body are the response to send (200 with the
// key authorization, 404 for an unknown token).
func (s *Store) HTTPChallengeResponse(host, path string) (status int, body []byte, ok bool) {
	if s.acme == nil || !IsHTTPChallenge(path) || !s.acme.domains[normalName(host)] {
		return 0, nil, false
	}
	return s.acme.answer(host, path)
}

// ObtainACME loads or obtains the certificate of every ACME domain now,
// rather than at the first handshake that needs it, and waits for them.
// Call it once the listeners accept connections (the CA connects to them
// to check its challenges); certificates then renew by themselves.
func (s *Store) ObtainACME(ctx context.Context) error {
	if s.acme == nil {
		return nil
	}
	_, err := s.acme.obtainAll(ctx)
	return err
}
