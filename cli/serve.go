package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"l7lb/admin"
	"l7lb/buildinfo"
	"l7lb/certs"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/health"
	"l7lb/proxy"
	"l7lb/session"
)

// shutdownGrace bounds how long a stopping proxy waits for in-flight
// requests.
const shutdownGrace = 30 * time.Second

// loaded is a serve configuration with the engine compiled from it.
type loaded struct {
	name   string // the file's, or <stdin>
	file   *config.File
	engine *engine.Engine
	src    *config.Source
}

// load reads a serve configuration (from stdin when name is "-") and
// compiles it into an engine, so that every problem the engine finds is
// reported with its file line too.
func load(name string, stdin io.Reader, stderr io.Writer) (*loaded, error) {
	name, data, err := readConfig(name, stdin)
	if err != nil {
		return nil, err
	}
	return compile(name, data, stderr)
}

// compile is the whole configuration path of check, serve and explain:
// parse data (the file name's bytes), decode it and compile it into an
// engine. The engine compiles what decoded even when some fields did not,
// so that the error lists every problem of the file, in line order.
func compile(name string, data []byte, stderr io.Writer) (*loaded, error) {
	f, src, err := config.Load(name, data, true)
	if src == nil {
		return nil, err
	}
	var errs config.Errors
	errors.As(err, &errs)
	e := engine.New(stderrWarn(stderr))
	e.Measure() // the proxy measures its requests, and explain shows as it does
	e.SetOptions(proxy.EngineOptions(signer(f, stderr)))
	ids := make([]string, len(f.Servers))
	for i, s := range f.Servers {
		ids[i] = s.ID
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "l7lb"
	}
	e.Init(host, ids)
	if err := e.Apply(&f.Config); err != nil {
		var ces config.Errors
		if !errors.As(err, &ces) {
			return nil, src.Locate(err)
		}
		errs = append(errs, ces...)
	}
	if len(errs) > 0 {
		return nil, src.Locate(errs)
	}
	return &loaded{name: src.Name, file: f, engine: e, src: src}, nil
}

// signer returns the signer of the proxy's sticky cookies: with the
// configured secrets, else L7LB_STICKY_SECRET, else a random one (sessions
// then do not survive a restart, and instances do not share them: a
// warning says so, unless no route is sticky).
func signer(f *config.File, stderr io.Writer) *session.Signer {
	var keys [][]byte
	for _, s := range f.Sticky.Secrets {
		keys = append(keys, []byte(s))
	}
	if len(keys) == 0 {
		if env := os.Getenv("L7LB_STICKY_SECRET"); env != "" {
			keys = append(keys, []byte(env))
		}
	}
	if len(keys) == 0 {
		b := make([]byte, 32)
		rand.Read(b)
		keys = append(keys, b)
		if stickyUsed(f) {
			fmt.Fprintln(stderr, "l7lb: warning: no sticky.secret nor L7LB_STICKY_SECRET: using a random one; sticky cookies will not survive a restart nor be honoured by other instances")
		}
	}
	return session.NewSigner(keys[0], keys[1:]...)
}

// stickyUsed reports whether some request can be sticky: the global mode
// is on where a route does not turn it off, or a route turns it on.
func stickyUsed(f *config.File) bool {
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

var serveCommand = &command{
	name:    "serve",
	summary: "run the HTTP reverse proxy",
	doc: `Run the HTTP reverse proxy on the configuration's listeners (HTTP/1.1,
HTTP/2, TLS, as each says) and its admin listener, when configured, until
SIGINT or SIGTERM, which let in-flight requests finish (HTTP/2 clients get
GOAWAY). The first line on stderr is the build, as l7lb version prints it.`,
	required: []string{"config"},
	setup: func(fs *flag.FlagSet) func(*call) int {
		file := configFlag(fs)
		accessLog := fs.Bool("access-log", true, "write an access log line per request to stdout")
		return func(c *call) int { return serve(*file, *accessLog, c.stdin, c.stdout, c.stderr) }
	},
}

// serve runs the HTTP reverse proxy until SIGINT or SIGTERM.
func serve(file string, accessLog bool, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "l7lb: %s\n", buildinfo.Get())
	l, err := load(file, stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "l7lb: "+format+"\n", args...) }
	e, err := newEdge(l, logf)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	defer e.close()
	var lns []net.Listener
	var addrs []string
	for _, x := range l.file.Listeners {
		ln, err := net.Listen("tcp", x.Address)
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			fmt.Fprintln(stderr, "l7lb:", listenError("listen", x.Address, err))
			return exitFailed
		}
		lns, addrs = append(lns, ln), append(addrs, ln.Addr().String())
	}
	var logw io.Writer
	if accessLog {
		logw = stdout
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := start(ctx, l, lns, e, logw, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "l7lb: serving on %s\n", strings.Join(addrs, ", "))
	if err := p.wait(ctx); err != nil {
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	return exitOK
}

// listenError says which listener could not take its address, and why:
// "listen 127.0.0.1:8080: address already in use".
func listenError(which, addr string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fmt.Errorf("%s %s: %v", which, addr, err)
}

// running is a started proxy with its health checks and admin listener.
type running struct {
	proxy   *proxy.Proxy
	passive *health.Passive
	admin   *http.Server
	served  chan error
	stopped context.CancelFunc
}

// edge is what serve builds from the configuration beside the engine:
// what each listener speaks, with the certificate stores of the TLS
// listeners, and the TLS configurations of the https:// servers.
type edge struct {
	listeners []proxy.ListenerOptions // in the order of the file's
	stores    []*certs.Store          // of the TLS listeners
	acme      []*certs.Store          // those of them that use ACME
	serverTLS map[string]*tls.Config  // by server id
}

// newEdge loads the certificates and keys the listeners and servers name;
// an error names the field at fault with its line.
func newEdge(l *loaded, logf func(string, ...any)) (*edge, error) {
	e := &edge{}
	var errs config.Errors
	e.serverTLS, errs = serverTLSConfigs(l.file)
	for i, ln := range l.file.Listeners {
		o := proxy.ListenerOptions{H2C: ln.H2C, RedirectHTTPS: ln.RedirectHTTPS}
		if ln.TLS != nil {
			st, err := certs.New(*ln.TLS, certs.Options{HTTP2: true, Logf: logf})
			if err != nil {
				errs = append(errs, &config.FieldError{Path: config.Join(config.Index("listeners", i), "tls"), Msg: err.Error()})
				continue
			}
			e.stores = append(e.stores, st)
			if ln.TLS.ACME != nil {
				e.acme = append(e.acme, st)
			}
			o.TLS = st.TLSConfig()
			if ln.HSTS != nil {
				o.HSTS = ln.HSTS.Value()
			}
		}
		e.listeners = append(e.listeners, o)
	}
	if len(errs) > 0 {
		e.close()
		return nil, l.src.Locate(errs)
	}
	// ACME's HTTP-01 challenges are answered on every plaintext listener.
	for i := range e.listeners {
		if e.listeners[i].TLS == nil {
			for _, st := range e.acme {
				e.listeners[i].Challenges = append(e.listeners[i].Challenges, st)
			}
		}
	}
	return e, nil
}

// serverTLSConfigs returns the TLS configuration of each https:// server,
// and the problems with the files their tls blocks name.
func serverTLSConfigs(f *config.File) (map[string]*tls.Config, config.Errors) {
	out := map[string]*tls.Config{}
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
		out[s.ID] = conf
	}
	return out, errs
}

// obtainACME obtains the certificates of the ACME listeners, once they
// accept connections (the CA connects to them), logging failures; they
// are retried at the first handshake that needs them, and renewed by
// themselves.
func (e *edge) obtainACME(ctx context.Context, logf func(string, ...any)) {
	for _, st := range e.acme {
		go func() {
			if err := st.ObtainACME(ctx); err != nil && ctx.Err() == nil {
				logf("certs: %v", err)
			}
		}()
	}
}

// close stops watching the certificate files.
func (e *edge) close() {
	for _, st := range e.stores {
		st.Close()
	}
}

// start starts the proxy on lns, with passive and active health checks and
// the admin listener when configured.
func start(ctx context.Context, l *loaded, lns []net.Listener, e *edge, accessLog, stderr io.Writer) (*running, error) {
	mark := func(server string, down bool) {
		if err := l.engine.SetDown(server, down); err == nil {
			state := "up"
			if down {
				state = "down"
			}
			fmt.Fprintf(stderr, "l7lb: server %s is %s\n", server, state)
		}
	}
	verdicts := health.NewVerdicts(mark)
	passive := health.NewPassive(l.file.Health.Fails, l.file.Health.Cooldown, verdicts.Passive)
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "l7lb: "+format+"\n", args...) }
	p, err := proxy.New(proxy.Options{
		Engine:    l.engine,
		File:      l.file,
		ServerTLS: e.serverTLS,
		Health:    passive,
		AccessLog: accessLog,
		Logf:      logf,
	})
	if err != nil {
		return nil, err
	}
	checkCtx, stopChecks := context.WithCancel(ctx)
	health.Active(checkCtx, activeTargets(l.file, e.serverTLS), verdicts.Active)
	l.engine.SetEvents(func(msg string) { fmt.Fprintf(stderr, "l7lb: %s\n", msg) })
	if every := l.engine.OutlierInterval(); every > 0 {
		go sweepOutliers(checkCtx, l.engine, every)
	}
	r := &running{proxy: p, passive: passive, served: make(chan error, len(lns)), stopped: stopChecks}
	if l.file.Admin != "" {
		aln, err := net.Listen("tcp", l.file.Admin)
		if err != nil {
			stopChecks()
			return nil, listenError("admin", l.file.Admin, err)
		}
		r.admin = &http.Server{Handler: admin.Handler(l.engine, func() any { return p.Stats() }), ReadHeaderTimeout: 10 * time.Second}
		go r.admin.Serve(aln)
	}
	for i, ln := range lns {
		go func() { r.served <- p.Serve(ln, e.listeners[i]) }()
	}
	e.obtainACME(checkCtx, logf)
	return r, nil
}

// wait returns when the proxy fails or ctx ends; then it shuts everything
// down, letting in-flight requests finish.
func (r *running) wait(ctx context.Context) error {
	var err error
	select {
	case err = <-r.served:
	case <-ctx.Done():
	}
	r.stopped()
	r.passive.Close()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if r.admin != nil {
		r.admin.Shutdown(sctx)
	}
	if serr := r.proxy.Shutdown(sctx); err == nil {
		err = serr
	}
	return err
}

// sweepOutliers runs the engine's outlier sweep every interval until ctx
// ends.
func sweepOutliers(ctx context.Context, e *engine.Engine, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			e.SweepOutliers()
		}
	}
}

// activeTargets lists the servers to probe: each server of a route with a
// health_check, probed as the first such route says.
func activeTargets(f *config.File, serverTLS map[string]*tls.Config) []health.Target {
	servers := make(map[string]config.Server, len(f.Servers))
	for _, s := range f.Servers {
		servers[s.ID] = s
	}
	seen := map[string]bool{}
	var targets []health.Target
	for _, r := range f.Routes {
		if r.HealthCheck == nil {
			continue
		}
		for _, s := range r.Servers {
			if seen[s] {
				continue
			}
			seen[s] = true
			srv := servers[s]
			targets = append(targets, health.Target{Server: s, Addr: srv.Addr, TLS: serverTLS[s], H2C: srv.Scheme == config.SchemeH2C,
				Path: r.HealthCheck.Path, Interval: r.HealthCheck.Interval, Timeout: r.HealthCheck.Timeout})
		}
	}
	return targets
}
