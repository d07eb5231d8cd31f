package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

	"l7lb/accesslog"
	"l7lb/admin"
	"l7lb/buildinfo"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/health"
	"l7lb/metrics"
	"l7lb/proxy"
	"l7lb/session"
	"l7lb/tracing"
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
	doc: `Run the HTTP reverse proxy on the configuration's listen address (and its
admin listener, when configured) until SIGINT or SIGTERM, which let
in-flight requests finish. The first line on stderr is the build, as
l7lb version prints it. The access log (access_log in the configuration;
text lines on stdout by default) is reopened on SIGUSR1.`,
	required: []string{"config"},
	setup: func(fs *flag.FlagSet) func(*call) int {
		file := configFlag(fs)
		accessLog := fs.Bool("access-log", true, "write the access log the configuration's access_log describes (false: none, whatever it says)")
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
	if err := notYetServed(l); err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
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
	var logger *accesslog.Logger
	if o := l.file.AccessLog; o != nil && accessLog {
		if logger, err = accesslog.New(*o, stdout); err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			fmt.Fprintln(stderr, "l7lb: access log:", err)
			return exitFailed
		}
		defer logger.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := start(ctx, l, lns, logger, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	go reopenOnSIGUSR1(ctx, logger, stderr)
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

// reopenOnSIGUSR1 reopens the access log file on each SIGUSR1 until ctx
// ends: logrotate renames the file, then signals, and lines go to a new
// file of the old name. With the log off (l nil) or on stdout the signal
// does nothing: unhandled, it would end the process.
func reopenOnSIGUSR1(ctx context.Context, l *accesslog.Logger, stderr io.Writer) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-usr1:
			if l == nil {
				continue
			}
			if err := l.Reopen(); err != nil {
				fmt.Fprintln(stderr, "l7lb: access log: reopen:", err)
			}
		}
	}
}

// revisionOf returns the revision of the first configuration: number 1,
// and the hash of the decoded configuration's JSON form.
func revisionOf(f *config.File) config.Revision {
	data, _ := json.Marshal(f)
	sum := sha256.Sum256(data)
	return config.Revision{N: 1, Hash: hex.EncodeToString(sum[:8])}
}

// running is a started proxy with its health checks and admin listener.
type running struct {
	proxy   *proxy.Proxy
	passive *health.Passive
	admin   *http.Server
	tracer  *tracing.Tracer // nil when off
	served  chan error
	stopped context.CancelFunc
}

// notYetServed rejects the listeners serve cannot serve yet: TLS, h2c and
// redirect_https come with the proxy's part of issue 8 (check validates
// them already).
func notYetServed(l *loaded) error {
	var errs config.Errors
	for i, x := range l.file.Listeners {
		reject := func(key string, set bool) {
			if set {
				errs = append(errs, &config.FieldError{Path: config.Join(config.Index("listeners", i), key), Msg: "not yet supported by serve"})
			}
		}
		reject("tls", x.TLS != nil)
		reject("h2c", x.H2C)
		reject("redirect_https", x.RedirectHTTPS != 0)
	}
	if errs == nil {
		return nil
	}
	return l.src.Locate(errs)
}

// start starts the proxy on lns, with passive and active health checks and
// the admin listener when configured.
func start(ctx context.Context, l *loaded, lns []net.Listener, accessLog *accesslog.Logger, stderr io.Writer) (*running, error) {
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
	var tracer *tracing.Tracer
	if l.file.Tracing != nil {
		var err error
		if tracer, err = tracing.New(*l.file.Tracing); err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
	}
	var p *proxy.Proxy
	m := metrics.New(metrics.Sources{Engine: l.engine.Stats, Proxy: func() metrics.ProxyStats { return proxyMetrics(p.Stats()) }})
	rev := revisionOf(l.file)
	p, err := proxy.New(proxy.Options{
		Engine:    l.engine,
		File:      l.file,
		Health:    passive,
		AccessLog: accessLog,
		Metrics:   m,
		Revision:  rev,
		Tracer:    tracer,
		Logf:      func(format string, args ...any) { fmt.Fprintf(stderr, "l7lb: "+format+"\n", args...) },
	})
	if err != nil {
		return nil, err
	}
	m.ConfigApplied(rev, time.Now())
	checkCtx, stopChecks := context.WithCancel(ctx)
	health.Active(checkCtx, activeTargets(l.file), verdicts.Active)
	l.engine.SetEvents(func(msg string) { fmt.Fprintf(stderr, "l7lb: %s\n", msg) })
	if every := l.engine.OutlierInterval(); every > 0 {
		go sweepOutliers(checkCtx, l.engine, every)
	}
	r := &running{proxy: p, passive: passive, tracer: tracer, served: make(chan error, len(lns)), stopped: stopChecks}
	if l.file.Admin != "" {
		aln, err := net.Listen("tcp", l.file.Admin)
		if err != nil {
			stopChecks()
			return nil, listenError("admin", l.file.Admin, err)
		}
		r.admin = &http.Server{Handler: admin.Handler(l.engine, func() any { return p.Stats() }, m.Handler()), ReadHeaderTimeout: 10 * time.Second}
		go r.admin.Serve(aln)
	}
	for _, ln := range lns {
		go func() { r.served <- p.Serve(ln) }()
	}
	return r, nil
}

// proxyMetrics is what the metrics read of the proxy's statistics.
func proxyMetrics(s proxy.Stats) metrics.ProxyStats {
	out := metrics.ProxyStats{ClientConns: s.ClientConns, AcceptedConns: s.AcceptedConns, RejectedConns: s.RejectedConns,
		Errors: s.Errors, Servers: make(map[string]metrics.ServerConns, len(s.Servers))}
	for id, sv := range s.Servers {
		out.Servers[id] = metrics.ServerConns{Open: sv.Open, Idle: sv.Idle, ConnectFailures: sv.ConnectFailures, Timeouts: sv.Timeouts}
	}
	return out
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
	if r.tracer != nil {
		// The spans not yet exported, within a bound of their own: a
		// collector that is down must not hold the exit.
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.tracer.Shutdown(tctx)
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
func activeTargets(f *config.File) []health.Target {
	addr := make(map[string]string, len(f.Servers))
	for _, s := range f.Servers {
		addr[s.ID] = s.Addr
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
			targets = append(targets, health.Target{Server: s, Addr: addr[s], Path: r.HealthCheck.Path, Interval: r.HealthCheck.Interval, Timeout: r.HealthCheck.Timeout})
		}
	}
	return targets
}
