package instance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"l7lb/admin"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/health"
	"l7lb/metrics"
	"l7lb/proxy"
	"l7lb/unidiff"
	"l7lb/upgrade"
)

// Observer receives the outcome of every configuration change: the
// metrics (l7lb_config_revision, l7lb_config_reloads_total,
// l7lb_config_last_reload_success_timestamp_seconds) implement it.
type Observer interface {
	ConfigApplied(rev config.Revision, at time.Time)
	ConfigRejected()
}

// Options are how serve was started.
type Options struct {
	// Config is the configuration file; "-" reads it from Stdin once
	// (a reload then has no file to read).
	Config string
	Stdin  io.Reader
	// AccessLog is where an access log with path stdout writes; nil: no
	// access log at all, whatever the configuration's access_log says
	// (serve --access-log=false).
	AccessLog io.Writer
	Stderr    io.Writer
	// Metrics are counted by the proxy, read the instance's live state
	// at each scrape and are served on the admin listener's /metrics;
	// nil for none.
	Metrics  *metrics.Metrics
	Observer Observer // nil for none
	Env      Env
	// Inherited is what an old process handed this one (upgrade); nil
	// for a process started afresh.
	Inherited *upgrade.Inherited
	// Listeners are listeners opened already, by configured address,
	// taken before opening any (the demo binds first).
	Listeners map[string]net.Listener
	// Shared is the shared configuration of the fleet the file's fleet:
	// block names (from etcd or the cache); nil outside a fleet.
	Shared *config.Document
}

// Instance is a running `l7lb serve`.
type Instance struct {
	o        Options
	eng      *engine.Engine
	proxy    *proxy.Proxy
	verdicts *health.Verdicts
	passive  *health.Passive
	prober   *health.Prober

	mu         sync.Mutex // serializes configuration changes, upgrades and the shutdown
	cur        *Compiled
	rev        config.Revision
	listeners  map[string]*served // by configured address
	edge       *edge              // what they speak, with the certificate stores
	adm        *adminServer
	sweepEvery time.Duration
	stopSweep  context.CancelFunc
	stopping   bool
	warnedKey  bool
	obs        observers // of the running configuration

	running  atomic.Pointer[running] // what the admin API reads without mu
	accepted atomic.Uint64
	rejected atomic.Uint64

	failed chan error // a listener that failed

	acmeCtx  context.Context // of ACME requests: ends at the shutdown
	stopACME context.CancelFunc

	shared *config.Document // the fleet's last applied shared document; under mu
}

// running is the configuration the admin API reads.
type running struct {
	file *config.File
	rev  config.Revision
	env  Env
}

// served is a listener, the configuration it serves and what it speaks.
type served struct {
	cfg  config.Listener
	opts proxy.ListenerOptions
	ln   net.Listener
}

// adminServer is the admin listener.
type adminServer struct {
	addr string
	ln   net.Listener
	srv  *http.Server
}

// Start compiles the configuration, opens the listeners (those handed
// over by an old process first) and the admin listener, and serves. A
// configuration error is a *config.Located.
func Start(o Options) (*Instance, error) {
	h, err := takeHandover(o.Inherited, &o.Env)
	if err != nil {
		return nil, err
	}
	c, err := o.read(o.Shared)
	if err != nil {
		return nil, err
	}
	in := &Instance{o: o, listeners: map[string]*served{}, failed: make(chan error, 1), shared: o.Shared}
	in.acmeCtx, in.stopACME = context.WithCancel(context.Background())
	in.eng = engine.New(func(msg string) { in.logf("warning: %s", msg) })
	in.eng.Measure()
	in.eng.SetEvents(func(msg string) { in.logf("%s", msg) })
	in.verdicts = health.NewVerdicts(func(server string, down bool) {
		if err := in.eng.SetHealthy(server, !down); err == nil {
			state := "up"
			if down {
				state = "down"
			}
			in.logf("server %s is %s", server, state)
		}
	})
	in.passive = health.NewPassive(c.File.Health.Fails, c.File.Health.Cooldown, in.verdicts.Passive)
	in.prober = health.NewProber(in.verdicts.Active)
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, err := in.apply(c, false); err != nil {
		in.passive.Close()
		in.prober.Close()
		in.stopACME()
		return nil, err
	}
	in.restoreServers(h)
	if o.Metrics != nil {
		o.Metrics.Watch(metrics.Sources{Engine: in.eng.Stats, Proxy: func() metrics.ProxyStats { return proxyMetrics(in.proxy.Stats()) }})
	}
	return in, nil
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

// read reads and compiles the configuration file, with shared, the
// fleet's shared document, when it has one.
func (o *Options) read(shared *config.Document) (*Compiled, error) {
	name, data := o.Config, []byte(nil)
	var err error
	if name == "-" {
		name = "<stdin>"
		if data, err = io.ReadAll(o.Stdin); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	} else if data, err = os.ReadFile(name); err != nil {
		return nil, err
	}
	if shared != nil {
		return CompileFleet(filepath.Dir(o.Config), name, data, *shared, o.Env)
	}
	return Compile(filepath.Dir(o.Config), name, data, o.Env)
}

func (in *Instance) logf(format string, args ...any) {
	fmt.Fprintf(in.o.Stderr, "l7lb: "+format+"\n", args...)
}

// Addrs returns the addresses the proxy serves on, as bound.
func (in *Instance) Addrs() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, x := range in.cur.File.Listeners {
		if s := in.listeners[x.Address]; s != nil {
			out = append(out, s.ln.Addr().String())
		}
	}
	return out
}

// Failed receives the error of a listener that stopped serving.
func (in *Instance) Failed() <-chan error { return in.failed }

// Revision returns the running revision.
func (in *Instance) Revision() config.Revision { return in.running.Load().rev }

// Reload reads the configuration file again and applies it: see Apply.
func (in *Instance) Reload() (*admin.Outcome, error) {
	if in.o.Config == "-" {
		err := errors.New("the configuration came from standard input: there is no file to read again (use PUT /config)")
		in.reject(err)
		return nil, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	c, err := in.o.read(in.shared)
	if err != nil {
		in.reject(err)
		return nil, err
	}
	return in.apply(c, true)
}

// ApplyShared applies shared, a new shared configuration of the fleet,
// with the configuration file's local keys, through the same path as a
// reload: a configuration that does not compile or apply is rejected
// (logged, counted, returned) and the last good one stays.
func (in *Instance) ApplyShared(shared config.Document) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.shared == nil {
		return errors.New("not an instance of a fleet")
	}
	c, err := in.o.read(&shared)
	if err != nil {
		in.reject(err)
		return err
	}
	if _, err = in.apply(c, true); err == nil {
		in.shared = &shared
	}
	return err
}

// Hash returns the running configuration's content hash.
func (in *Instance) Hash() string { return in.Revision().Hash }

// OwnDown returns the servers this instance's own health checks (passive
// and active) hold down: what it tells the fleet.
func (in *Instance) OwnDown() map[string]bool { return in.verdicts.Own() }

// SetFleetDown records the fleet's verdict on server (a majority of its
// live instances see it down), which holds it down beside this instance's
// own checks.
func (in *Instance) SetFleetDown(server string, down bool) { in.verdicts.Fleet(server, down) }

// Apply compiles data, a whole configuration document, and applies it
// (dryRun: only compiles it, and says what it would change). Relative
// file names in it are taken from the configuration file's directory.
func (in *Instance) Apply(data []byte, dryRun bool) (*admin.Outcome, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var c *Compiled
	var err error
	if in.shared != nil {
		// The document gives the local keys; the fleet's stay.
		c, err = CompileFleet(filepath.Dir(in.o.Config), "<PUT /config>", data, *in.shared, in.o.Env)
	} else {
		c, err = Compile(filepath.Dir(in.o.Config), "<PUT /config>", data, in.o.Env)
	}
	if err == nil {
		err = refuseRedacted(c)
	}
	if err != nil {
		if !dryRun {
			in.reject(err)
		}
		return nil, err
	}
	if dryRun {
		out := in.outcome(c)
		out.DryRun, out.Proposed = true, c.Hash
		return out, nil
	}
	return in.apply(c, true)
}

// refuseRedacted rejects a document with a secret GET /config redacted:
// applying it would replace the secret with the placeholder.
func refuseRedacted(c *Compiled) error {
	var errs config.Errors
	for i, s := range c.File.Sticky.Secrets {
		if s == config.Redacted {
			errs = append(errs, &config.FieldError{Path: config.Index("sticky.secrets", i), Msg: "a redacted secret: give the secret itself (GET /config shows secrets to a request with the token)"})
		}
	}
	if c.File.AdminToken == config.Redacted {
		errs = append(errs, &config.FieldError{Path: "admin_token", Msg: "a redacted secret: give the token itself"})
	}
	if errs == nil {
		return nil
	}
	return c.Source.Locate(errs)
}

// reject counts and logs a rejected configuration; the running one stays.
func (in *Instance) reject(err error) {
	in.rejected.Add(1)
	if in.o.Observer != nil {
		in.o.Observer.ConfigRejected()
	}
	rev := in.Revision()
	in.logf("configuration rejected, revision %d %s stays:\n%v", rev.N, rev.Hash, err)
}

// outcome says what c changes of the running configuration.
func (in *Instance) outcome(c *Compiled) *admin.Outcome {
	out := &admin.Outcome{Revision: in.rev, Changes: config.Compare(in.cur.File, c.File)}
	out.Diff = unidiff.Unified(fmt.Sprintf("running (revision %d %s)", in.rev.N, in.rev.Hash), "proposed ("+c.Hash+")",
		string(in.cur.File.YAML(true)), string(c.File.YAML(true)), 3)
	return out
}

// apply makes c the running configuration; reload says a configuration
// runs already. Everything that can fail is done before anything running
// changes: a failure leaves the running configuration as it was. Callers
// hold in.mu.
func (in *Instance) apply(c *Compiled, reload bool) (*admin.Outcome, error) {
	if in.stopping {
		return nil, errors.New("shutting down")
	}
	if reload && c.Hash == in.cur.Hash && sameServerTLS(c.serverTLS, in.cur.serverTLS) {
		in.accepted.Add(1)
		if in.o.Observer != nil {
			in.o.Observer.ConfigApplied(in.rev, time.Now())
		}
		in.logf("configuration unchanged: revision %d %s", in.rev.N, in.rev.Hash)
		return &admin.Outcome{Revision: in.rev, Unchanged: true, Changes: config.Compare(c.File, c.File)}, nil
	}
	var out *admin.Outcome
	if reload {
		out = in.outcome(c)
	}
	f := c.File

	// Open what is new: listeners, the admin listener.
	var opened []*served
	closeOpened := func() {
		for _, s := range opened {
			s.ln.Close()
		}
	}
	for _, x := range f.Listeners {
		if s := in.listeners[x.Address]; s != nil {
			continue
		}
		ln, err := in.listen(x.Address)
		if err != nil {
			closeOpened()
			return nil, in.failApply(reload, listenError("listen", x.Address, err))
		}
		opened = append(opened, &served{cfg: x, ln: ln})
	}
	var newAdmin *adminServer
	if f.Admin != "" && (in.adm == nil || in.adm.addr != f.Admin) {
		ln, err := in.listen("admin " + f.Admin)
		if err != nil {
			closeOpened()
			return nil, in.failApply(reload, listenError("admin", f.Admin, err))
		}
		newAdmin = &adminServer{addr: f.Admin, ln: ln}
	}
	closeNew := func() {
		closeOpened()
		if newAdmin != nil {
			newAdmin.ln.Close()
		}
	}

	// The access log and the tracer, opened anew when their settings
	// changed.
	obs, err := in.openObservers(f)
	if err != nil {
		closeNew()
		return nil, in.failApply(reload, c.Source.Locate(err))
	}

	// What the listeners speak: certificate stores for the TLS listeners
	// whose tls block is new, and the servers' TLS configurations, the
	// running ones kept where nothing changed.
	ed, err := newEdge(f, in.edge, in.logf)
	if err != nil {
		closeNew()
		obs.retire(in.obs, 0)
		return nil, in.failApply(reload, c.Source.Locate(err))
	}
	if in.cur != nil {
		keepServerTLS(c.serverTLS, in.cur.serverTLS)
	}

	// The engine and the proxy, in one swap each: the proxy's
	// configuration holds the engine's. A server whose URL changed is
	// renewed: a new server under the same id.
	var renew, gone []string
	if in.cur != nil {
		url := make(map[string]string, len(in.cur.File.Servers))
		for _, s := range in.cur.File.Servers {
			url[s.ID] = s.URL
		}
		for _, s := range f.Servers {
			if u, ok := url[s.ID]; ok && u != s.URL {
				renew = append(renew, s.ID)
			}
			delete(url, s.ID)
		}
		for id := range url {
			gone = append(gone, id)
		}
	}
	ids := make([]string, len(f.Servers))
	for i, s := range f.Servers {
		ids[i] = s.ID
	}
	view, err := in.eng.Replace(engine.Update{NodeID: in.o.Env.NodeID, Servers: ids, Config: &f.Config, Options: c.Options, Renew: renew})
	if err == nil {
		rev := config.Revision{N: in.rev.N + 1, Hash: c.Hash}
		serverTLS := make(map[string]*tls.Config, len(c.serverTLS))
		for id, st := range c.serverTLS {
			serverTLS[id] = st.conf
		}
		pc := proxy.Config{View: view, Servers: f.Servers, Timeouts: f.Timeouts, Limits: f.Limits, Sticky: f.Sticky,
			DrainTimeout: f.DrainTimeout, Revision: rev, TrustedProxies: f.TrustedProxies, Via: f.Via, ServerTLS: serverTLS,
			AccessLog: obs.log, Tracer: obs.tracer, Metrics: f.Metrics}
		if in.proxy == nil {
			in.proxy, err = proxy.New(proxy.Options{Engine: in.eng, Health: in.passive, Metrics: in.o.Metrics, Logf: in.logf}, pc)
		} else {
			err = in.proxy.Apply(pc)
		}
	}
	if err != nil {
		closeNew()
		ed.closeExcept(in.edge)
		obs.retire(in.obs, 0)
		return nil, in.failApply(reload, c.Source.Locate(err))
	}
	in.obs.retire(obs, f.DrainTimeout) // once the requests that use them are done
	in.obs = obs
	in.rev = config.Revision{N: in.rev.N + 1, Hash: c.Hash}
	in.cur = c
	in.running.Store(&running{file: f, rev: in.rev, env: in.o.Env})

	// Health: thresholds, the servers gone or renewed, the probes.
	in.passive.SetThresholds(f.Health.Fails, f.Health.Cooldown)
	for _, id := range append(gone, renew...) {
		in.passive.Forget(id)
		in.verdicts.Forget(id)
	}
	for _, id := range in.prober.Set(activeTargets(f, c.serverTLS)) {
		if !slicesContains(gone, id) && !slicesContains(renew, id) {
			in.verdicts.Active(id, false) // its new probes judge it again
		}
	}
	if every := f.Outliers; every == nil && in.stopSweep != nil || every != nil && every.Interval != in.sweepEvery {
		if in.stopSweep != nil {
			in.stopSweep()
			in.stopSweep, in.sweepEvery = nil, 0
		}
		if every != nil {
			ctx, stop := context.WithCancel(context.Background())
			in.stopSweep, in.sweepEvery = stop, every.Interval
			go sweepOutliers(ctx, in.eng, every.Interval)
		}
	}

	// Listeners: serve the new ones, retire those gone.
	for _, s := range opened {
		s.opts = ed.options[s.cfg.Address]
		in.listeners[s.cfg.Address] = s
		in.serve(s)
	}
	want := make(map[string]bool, len(f.Listeners))
	for _, x := range f.Listeners {
		want[x.Address] = true
		if s := in.listeners[x.Address]; !reflect.DeepEqual(s.cfg, x) || !sameOptions(s.opts, ed.options[x.Address]) {
			// What it speaks changed: served anew on the same socket,
			// so that no connection is refused; those accepted
			// before keep what they had (a TLS connection, its
			// certificate).
			s.cfg, s.opts = x, ed.options[x.Address]
			if err := in.proxy.Detach(s.ln); err != nil {
				in.logf("listener %s: %v", x.Address, err)
			} else {
				in.serve(s)
			}
		}
	}
	for addr, s := range in.listeners {
		if !want[addr] {
			delete(in.listeners, addr)
			go in.retire(s, f.DrainTimeout)
		}
	}
	// Stores no longer used stop watching their files; connections made
	// with them go on.
	in.edge.closeExcept(ed)
	in.edge = ed
	ed.obtainACME(in.acmeCtx, in.logf)
	if newAdmin != nil || f.Admin == "" && in.adm != nil {
		if old := in.adm; old != nil {
			go old.srv.Shutdown(context.Background()) // after this very request, when it came from there
		}
		in.adm = newAdmin
		if newAdmin != nil {
			var m http.Handler
			if in.o.Metrics != nil {
				m = in.o.Metrics.Handler()
			}
			newAdmin.srv = &http.Server{Handler: admin.Handler(in, m), ReadHeaderTimeout: 10 * time.Second}
			go newAdmin.srv.Serve(newAdmin.ln)
		}
	}

	if in.o.Env.Random && !in.warnedKey && StickyUsed(f) {
		in.warnedKey = true
		in.logf("warning: no sticky.secret nor L7LB_STICKY_SECRET: using a random one; sticky cookies will survive reloads and upgrades, but not a restart, and other instances will not honour them")
	}
	in.accepted.Add(1)
	if in.o.Observer != nil {
		in.o.Observer.ConfigApplied(in.rev, time.Now())
	}
	if reload {
		out.Revision = in.rev
		in.logf("configuration applied: revision %d %s (%s)", in.rev.N, in.rev.Hash, summary(out.Changes))
	}
	return out, nil
}

func slicesContains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// failApply counts a failed reload (a failed start is the caller's to
// report) and returns err.
func (in *Instance) failApply(reload bool, err error) error {
	if reload {
		in.reject(err)
	}
	return err
}

// summary says what changes changed, for the log.
func summary(c config.Changes) string {
	var parts []string
	add := func(what string, n config.NameChanges) {
		for _, x := range []struct {
			verb  string
			names []string
		}{{"added", n.Added}, {"removed", n.Removed}, {"changed", n.Changed}} {
			if len(x.names) > 0 {
				parts = append(parts, what+" "+x.verb+": "+strings.Join(x.names, " "))
			}
		}
	}
	add("routes", c.Routes)
	add("servers", c.Servers)
	add("listeners", c.Listeners)
	if len(c.Settings) > 0 {
		parts = append(parts, "settings changed: "+strings.Join(c.Settings, " "))
	}
	if len(parts) == 0 {
		return "no change but the revision"
	}
	return strings.Join(parts, "; ")
}

// listen opens a listener called name: the one an old process handed
// over under that name, else a new one on its address.
func (in *Instance) listen(name string) (net.Listener, error) {
	if ln := in.o.Inherited.Take(name); ln != nil {
		return ln, nil
	}
	if ln := in.o.Listeners[name]; ln != nil {
		delete(in.o.Listeners, name)
		return ln, nil
	}
	addr := strings.TrimPrefix(name, "admin ")
	return net.Listen("tcp", addr)
}

// serve serves s until it is retired or fails.
func (in *Instance) serve(s *served) {
	go func() {
		if err := in.proxy.Serve(s.ln, s.opts); err != nil {
			select {
			case in.failed <- fmt.Errorf("listener %s: %v", s.cfg.Address, err):
			default:
			}
		}
	}()
}

// retire stops accepting on s and lets its connections finish, within
// grace.
func (in *Instance) retire(s *served, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := in.proxy.CloseListener(ctx, s.ln); err != nil {
		in.logf("listener %s removed: connections still open after %v closed", s.cfg.Address, grace)
	}
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
	return &ListenError{fmt.Errorf("%s %s: %v", which, addr, err)}
}

// ListenError is an address that could not be bound: a runtime failure,
// not a configuration error.
type ListenError struct{ err error }

func (e *ListenError) Error() string { return e.err.Error() }

// Shutdown stops accepting, lets the requests in flight finish within the
// configuration's drain_timeout, and stops the health checks and the admin
// listener.
func (in *Instance) Shutdown() error { return in.ShutdownContext(context.Background()) }

// ShutdownContext is Shutdown, cut short when ctx ends: the connections
// still open are closed then.
func (in *Instance) ShutdownContext(ctx context.Context) error {
	in.mu.Lock()
	in.stopping = true
	grace := in.cur.File.DrainTimeout
	adm := in.adm
	ed := in.edge
	in.stopACME()
	if in.stopSweep != nil {
		in.stopSweep()
	}
	in.mu.Unlock()
	in.prober.Close()
	in.passive.Close()
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if adm != nil {
		adm.srv.Shutdown(ctx)
	}
	err := in.proxy.Shutdown(ctx)
	in.mu.Lock()
	in.obs.close()
	in.mu.Unlock()
	ed.closeExcept(nil)
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
// health_check, probed as the first such route says, in what it speaks
// (over TLS with its TLS configuration, HTTP/2 for an h2c:// server).
func activeTargets(f *config.File, serverTLS map[string]serverTLS) []health.Target {
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
			targets = append(targets, health.Target{Server: s, Addr: srv.Addr, TLS: serverTLS[s].conf, H2C: srv.Scheme == config.SchemeH2C,
				Path: r.HealthCheck.Path, Interval: r.HealthCheck.Interval, Timeout: r.HealthCheck.Timeout})
		}
	}
	return targets
}

// The admin API's view of the instance (admin.Control).

func (in *Instance) Engine() *engine.Engine { return in.eng }

func (in *Instance) ProxyStats() any { return in.proxy.Stats() }

func (in *Instance) Running() (*config.File, config.Revision) {
	r := in.running.Load()
	return r.file, r.rev
}

func (in *Instance) Reloads() (accepted, rejected uint64) {
	return in.accepted.Load(), in.rejected.Load()
}

func (in *Instance) Token() (string, bool) {
	r := in.running.Load()
	token := r.file.AdminToken
	if token == "" {
		token = r.env.AdminToken
	}
	return token, !config.IsLoopback(r.file.Admin)
}

func (in *Instance) Logf(format string, args ...any) { in.logf(format, args...) }

var _ admin.Control = (*Instance)(nil)
