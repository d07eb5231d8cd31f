package instance

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"os"
	"reflect"
	"time"

	"l7lb/certs"
	"l7lb/config"
	"l7lb/proxy"
)

// What a configuration says beside routing, made ready for the proxy: the
// TLS configurations of the https:// servers (loaded by Compile, so that
// check, a dry run and a reload report a bad file with its line), and
// what each listener speaks with the certificate stores of the TLS
// listeners (built by apply: a store watches its files for as long as it
// serves).

// serverTLS is the TLS configuration of an https:// server and what it
// was made from.
type serverTLS struct {
	conf *tls.Config
	// digest is of the server's address, its tls block and the bytes of
	// the files it names: the same digest, the same configuration.
	digest [sha256.Size]byte
}

// serverTLSConfigs returns the TLS configuration of each https:// server
// of f, and the problems with the files their tls blocks name.
func serverTLSConfigs(f *config.File) (map[string]serverTLS, config.Errors) {
	out := map[string]serverTLS{}
	var errs config.Errors
	for _, s := range f.Servers {
		if s.Scheme != config.SchemeHTTPS {
			continue
		}
		conf, err := certs.ClientConfig(s)
		if err != nil {
			path := config.Join(config.Join("servers", s.ID), "tls")
			var ce *certs.ClientError
			if errors.As(err, &ce) {
				path, err = config.Join(path, ce.Field), ce.Err
			}
			errs = append(errs, &config.FieldError{Path: path, Msg: err.Error()})
			continue
		}
		out[s.ID] = serverTLS{conf: conf, digest: serverTLSDigest(s)}
	}
	return out, errs
}

func serverTLSDigest(s config.Server) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(s.Addr + "\x00"))
	if t := s.TLS; t != nil {
		h.Write([]byte(t.CA + "\x00" + t.ServerName + "\x00" + t.Cert + "\x00" + t.Key + "\x00"))
		if t.InsecureSkipVerify {
			h.Write([]byte{1})
		}
		for _, name := range []string{t.CA, t.Cert, t.Key} {
			if name != "" {
				data, _ := os.ReadFile(name)
				h.Write(data)
				h.Write([]byte{0})
			}
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// keepServerTLS makes next use the TLS configurations of prev that are
// made from the same: a server whose TLS settings and files did not
// change keeps its pooled connections and its session cache (the proxy
// keys its pools by the configuration).
func keepServerTLS(next, prev map[string]serverTLS) {
	for id, st := range next {
		if old, ok := prev[id]; ok && old.digest == st.digest {
			next[id] = old
		}
	}
}

// listenerTLSErrors returns the problems certs.New would fail on in the
// files of f's TLS listeners (certs.Check's errors; its warnings are
// check's to print).
func listenerTLSErrors(f *config.File) config.Errors {
	var errs config.Errors
	for i, ln := range f.Listeners {
		if ln.TLS == nil {
			continue
		}
		for _, p := range certs.Check(*ln.TLS, time.Now()) {
			if !p.Warning {
				errs = append(errs, &config.FieldError{Path: config.Join(config.Join(config.Index("listeners", i), "tls"), p.Path), Msg: p.Msg})
			}
		}
	}
	return errs
}

// edge is what the listeners of one configuration speak: the options of
// each, by address, and the certificate store of each TLS listener.
type edge struct {
	options map[string]proxy.ListenerOptions
	stores  map[string]*tlsStore // by listener address
}

// tlsStore is the certificate store of a TLS listener, with the block it
// was built from.
type tlsStore struct {
	cfg   config.ListenerTLS
	store *certs.Store
	new   bool // built for this configuration: its ACME certificates are to be obtained
}

// newEdge builds what f's listeners speak. A TLS listener whose tls block
// is the same as in prev (the running configuration's edge, or nil) keeps
// its store: the store follows its files by itself. Any other gets a new
// store, loaded now; an error names the listener's field. The stores
// built here are closed when it fails.
func newEdge(f *config.File, prev *edge, logf func(string, ...any)) (*edge, error) {
	e := &edge{options: map[string]proxy.ListenerOptions{}, stores: map[string]*tlsStore{}}
	var errs config.Errors
	var acme []proxy.HTTPChallenger
	for i, ln := range f.Listeners {
		o := proxy.ListenerOptions{H2C: ln.H2C, RedirectHTTPS: ln.RedirectHTTPS}
		if ln.TLS != nil {
			st := prev.store(ln.Address, *ln.TLS)
			if st == nil {
				s, err := certs.New(*ln.TLS, certs.Options{HTTP2: true, Logf: logf})
				if err != nil {
					errs = append(errs, &config.FieldError{Path: config.Join(config.Index("listeners", i), "tls"), Msg: err.Error()})
					continue
				}
				st = &tlsStore{cfg: *ln.TLS, store: s, new: true}
			}
			e.stores[ln.Address] = st
			if ln.TLS.ACME != nil {
				acme = append(acme, st.store)
			}
			o.TLS = st.store.TLSConfig()
			if ln.HSTS != nil {
				o.HSTS = ln.HSTS.Value()
			}
		}
		e.options[ln.Address] = o
	}
	if len(errs) > 0 {
		e.closeExcept(prev)
		return nil, errs
	}
	// ACME's HTTP-01 challenges are answered on every plaintext listener.
	for addr, o := range e.options {
		if o.TLS == nil && len(acme) > 0 {
			o.Challenges = acme
			e.options[addr] = o
		}
	}
	return e, nil
}

// store returns the store of the TLS listener at addr when its tls block
// is cfg; nil for none.
func (e *edge) store(addr string, cfg config.ListenerTLS) *tlsStore {
	if e == nil {
		return nil
	}
	if st := e.stores[addr]; st != nil && reflect.DeepEqual(st.cfg, cfg) {
		return &tlsStore{cfg: st.cfg, store: st.store}
	}
	return nil
}

// closeExcept closes the stores of e that other (nil for none) does not
// use: they stop watching their files.
func (e *edge) closeExcept(other *edge) {
	if e == nil {
		return
	}
	for addr, st := range e.stores {
		if other != nil && other.stores[addr] != nil && other.stores[addr].store == st.store {
			continue
		}
		st.store.Close()
	}
}

// obtainACME obtains the certificates of the new ACME stores, now that
// their listeners accept connections (the CA connects to them), logging
// failures; they are retried at the first handshake that needs them, and
// renew by themselves.
func (e *edge) obtainACME(ctx context.Context, logf func(string, ...any)) {
	for _, st := range e.stores {
		if !st.new || st.cfg.ACME == nil {
			continue
		}
		go func() {
			if err := st.store.ObtainACME(ctx); err != nil && ctx.Err() == nil {
				logf("certs: %v", err)
			}
		}()
	}
}

// sameOptions reports whether a listener serving with a may go on as it
// is for b.
func sameOptions(a, b proxy.ListenerOptions) bool {
	if a.TLS != b.TLS || a.H2C != b.H2C || a.RedirectHTTPS != b.RedirectHTTPS || a.HSTS != b.HSTS || len(a.Challenges) != len(b.Challenges) {
		return false
	}
	for i := range a.Challenges {
		if a.Challenges[i] != b.Challenges[i] {
			return false
		}
	}
	return true
}

// sameServerTLS reports whether two configurations' servers have the same
// TLS configurations, their files' contents included.
func sameServerTLS(a, b map[string]serverTLS) bool {
	if len(a) != len(b) {
		return false
	}
	for id, st := range a {
		if old, ok := b[id]; !ok || old.digest != st.digest {
			return false
		}
	}
	return true
}
