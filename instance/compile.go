// Package instance runs `l7lb serve`: it compiles a configuration aside,
// applies it to the engine and the proxy in one swap, and does so again on
// every reload (SIGHUP, a watched file, the admin API), keeping what a
// reload must keep; it owns the listeners (opened, retired, handed to a
// new process on upgrade), the health checks, the outlier sweeps and the
// admin listener, and counts the revisions.
package instance

import (
	"crypto/rand"
	"errors"
	"os"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/proxy"
	"l7lb/session"
)

// Env is what a configuration takes from the process rather than from its
// file.
type Env struct {
	// StickySecret signs sticky cookies when the file gives no secret:
	// L7LB_STICKY_SECRET, or a random secret the process keeps for its
	// whole life (and hands over on upgrade). nil: a random one per
	// compile (check and explain, which sign nothing that lasts).
	StickySecret []byte
	// Random says StickySecret is the process's random one.
	Random     bool
	AdminToken string // L7LB_ADMIN_TOKEN
	NodeID     string // the host name
}

// ProcessEnv returns the environment of this process; a random sticky
// secret when L7LB_STICKY_SECRET is not set.
func ProcessEnv() Env {
	env := Env{AdminToken: os.Getenv("L7LB_ADMIN_TOKEN"), NodeID: hostname()}
	if s := os.Getenv("L7LB_STICKY_SECRET"); s != "" {
		env.StickySecret = []byte(s)
	} else {
		env.StickySecret, env.Random = randomSecret(), true
	}
	return env
}

func hostname() string {
	if h, _ := os.Hostname(); h != "" {
		return h
	}
	return "l7lb"
}

func randomSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// Compiled is a configuration read, decoded and compiled aside, with
// nothing running changed: what check and explain look at, and what a
// start or a reload applies.
type Compiled struct {
	Name    string // the file's, or <stdin>, or what the document came from
	File    *config.File
	Source  *config.Source
	Options engine.Options // the engine's: the cookie signer
	// Engine is a fresh engine with the configuration applied, as the
	// proxy's would be: explain decides with it.
	Engine *engine.Engine
	Hash   string

	serverTLS map[string]serverTLS // of the https:// servers, by id
}

// Compile is the whole configuration path of check, explain, serve and
// every reload: parse data (named name, its relative file names taken from
// dir), decode it and compile it into a fresh engine. The engine compiles
// what decoded even when some fields did not, so that the error (a
// *config.Located) lists every problem, in line order. Once the document
// is valid, the files it names are loaded and checked too: the TLS
// listeners' certificates, keys and ticket keys, the https:// servers'
// CA roots and client certificates.
func Compile(dir, name string, data []byte, env Env) (*Compiled, error) {
	return compile(dir, name, data, nil, env)
}

// CompileFleet is Compile for an instance of a fleet: data, its own file,
// gives the local keys, shared the fleet's (see config.LoadFleet).
func CompileFleet(dir, name string, data []byte, shared config.Document, env Env) (*Compiled, error) {
	return compile(dir, name, data, &shared, env)
}

func compile(dir, name string, data []byte, shared *config.Document, env Env) (*Compiled, error) {
	var f *config.File
	var src *config.Source
	var err error
	if shared != nil {
		f, src, err = config.LoadFleet(dir, name, data, *shared)
	} else {
		f, src, err = config.LoadIn(dir, name, data, true)
	}
	if src == nil {
		return nil, err
	}
	var errs config.Errors
	errors.As(err, &errs)
	opts := proxy.EngineOptions(signer(f, env))
	e := engine.New(nil)
	e.Measure() // the proxy measures its requests, and explain shows as it does
	ids := make([]string, len(f.Servers))
	for i, s := range f.Servers {
		ids[i] = s.ID
	}
	if _, err := e.Replace(engine.Update{NodeID: env.NodeID, Servers: dedupe(ids), Config: &f.Config, Options: opts}); err != nil {
		var ces config.Errors
		if !errors.As(err, &ces) {
			return nil, src.Locate(err)
		}
		errs = append(errs, ces...)
	}
	if f.Admin != "" && !config.IsLoopback(f.Admin) && f.AdminToken == "" && env.AdminToken == "" {
		errs = append(errs, &config.FieldError{Path: "admin", Msg: f.Admin + " is not a loopback address: set admin_token (or L7LB_ADMIN_TOKEN), since the admin API can change the whole configuration"})
	}
	if len(errs) > 0 {
		return nil, src.Locate(errs)
	}
	st, errs := serverTLSConfigs(f)
	errs = append(errs, listenerTLSErrors(f)...)
	if len(errs) > 0 {
		return nil, src.Locate(errs)
	}
	return &Compiled{Name: src.Name, File: f, Source: src, Options: opts, Engine: e, Hash: f.Hash(), serverTLS: st}, nil
}

// dedupe drops repeated ids (a repeated server is the decoder's error,
// reported already), keeping the first.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// signer returns the signer of the proxy's sticky cookies: with the
// configured secrets (the first signs, all verify), else env's.
func signer(f *config.File, env Env) *session.Signer {
	var keys [][]byte
	for _, s := range f.Sticky.Secrets {
		keys = append(keys, []byte(s))
	}
	if len(keys) == 0 {
		secret := env.StickySecret
		if secret == nil {
			secret = randomSecret()
		}
		keys = append(keys, secret)
	}
	return session.NewSigner(keys[0], keys[1:]...)
}

// StickyUsed reports whether some request can be sticky: the global mode
// is on where a route does not turn it off, or a route turns it on.
func StickyUsed(f *config.File) bool {
	on := f.Sticky.Mode != config.ModeOff
	if on && (f.DefaultServers == nil || len(f.DefaultServers) > 0) {
		return true
	}
	for _, r := range f.Routes {
		if r.Sticky == nil && on || r.Sticky != nil && *r.Sticky {
			return true
		}
	}
	return false
}
