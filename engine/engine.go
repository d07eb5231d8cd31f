// Package engine turns an HTTP request into a routing decision: which route
// matches, which server gets the request, what stickiness did and what the
// path becomes. It does no I/O and knows neither the Maelstrom node nor the
// HTTP proxy, so both faces make the very same decisions.
//
// An Engine is safe for concurrent use. Decisions read an immutable compiled
// state through an atomic pointer; configuration changes build a new state
// aside and swap it in whole, so a rejected change leaves nothing behind.
package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"l7lb/balancer"
	"l7lb/config"
	"l7lb/router"
	"l7lb/session"
)

// ErrNoRoute is returned by RemoveRoute for a name no route has.
var ErrNoRoute = errors.New("no route named")

// DefaultRoute is the route name decisions report for the default servers.
const DefaultRoute = "default"

// Engine holds the routing configuration and the state decisions share:
// pools, sessions, server health and statistics.
type Engine struct {
	mu sync.Mutex // serializes changes; decisions never take it
	st atomic.Pointer[state]

	// The inputs of the compiled state, kept to rebuild it on change.
	nodeID  string
	servers []string
	cfg     *config.Config
	builtin bool // cfg is the built-in configuration
	warn    func(string)

	sessions *session.Table
	opts     Options
	issued   atomic.Uint64 // session ids issued so far, when opts.NewSessionID is nil
	statuses [600]atomic.Uint64
	routed   map[string]*atomic.Uint64 // by server id; kept across inits

	// The server state (servers.go): each server's live state by id, kept
	// across recompiles while the server is configured; whether the frontend measures requests; the clock
	// they are measured on.
	live         map[string]*server
	measured     bool
	epoch        time.Time
	clock        func() int64  // tests' clock; nil for the monotonic one
	seed         uint64        // the pools' random seed; 0 for random (tests fix it)
	maxSlowStart atomic.Int64  // the longest slow start window of the state, ns
	outlierMu    sync.Mutex    // serializes ejection decisions (outliers.go)
	panics       atomic.Uint64 // picks made in panic (decide.go: pick)
	events       func(string)
}

// New returns an engine with no servers and the built-in configuration.
// warn receives problems that do not stop the engine, such as a configured
// server that init does not list.
func New(warn func(string)) *Engine {
	if warn == nil {
		warn = func(string) {}
	}
	e := &Engine{
		cfg:      &config.Config{Sticky: config.DefaultSticky()},
		builtin:  true,
		warn:     warn,
		sessions: session.NewTable(config.DefaultMaxSessions),
		routed:   map[string]*atomic.Uint64{},
		live:     map[string]*server{},
		epoch:    time.Now(),
	}
	st, err := e.compile(e.cfg, true, false, nil)
	if err != nil {
		panic("engine: the empty configuration does not compile: " + err.Error())
	}
	e.store(st)
	return e
}

// Options say how stickiness mints and trusts what clients carry. The zero
// Options are the node's protocol (docs/protocol.md): session ids
// <node id>-<n>, a server hint cookie holding the plain server id, and no
// insert mode. The HTTP proxy sets all three.
type Options struct {
	// Signer signs and checks the insert-mode cookie and, with SignHints,
	// the server hint cookie. Insert mode needs one.
	Signer *session.Signer
	// SignHints makes the server hint cookie of the table modes a value
	// of Signer: a hint that is not one (unsigned, forged) is ignored, and
	// the decision says so (StickyHintInvalid).
	SignHints bool
	// NewSessionID mints the session ids the table modes issue; nil
	// issues <node id>-<n>, n counting from 1.
	NewSessionID func() string
}

// SetOptions sets o for the configurations applied from now on. Call it
// before applying a configuration, and before any decision.
func (e *Engine) SetOptions(o Options) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts = o
}

// Update is a whole configuration of the proxy's engine: the servers it
// knows, the routing configuration over them, and the options, replaced at
// once by [Engine.Replace].
type Update struct {
	NodeID  string   // the id issued session ids start with, when Options do not mint them
	Servers []string // the known servers; decisions' server indexes follow this order
	Config  *config.Config
	Options Options
	// Renew lists the servers that are new under an old id (the proxy:
	// another address): their measures, ejection and health start afresh
	// as an added server's; their operator's state (drain, disable) stays.
	Renew []string
}

// Replace replaces the servers, the configuration and the options in one
// step: no decision ever sees servers without their routes. Every server
// the configuration names must be in u.Servers. A rejected update changes
// nothing. Sessions, statistics and the state of every server still
// configured (in flight, latency, ejection, slow start, drain, disable,
// health) are kept; so are the positions of pools whose servers are
// unchanged. A server that is no longer configured loses its state.
func (e *Engine) Replace(u Update) (View, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if hasDuplicates(u.Servers) {
		return View{}, errors.New("engine: a server listed twice")
	}
	nodeID, servers, opts := e.nodeID, e.servers, e.opts
	e.nodeID, e.servers, e.opts = u.NodeID, slices.Clone(u.Servers), u.Options
	st, err := e.compile(u.Config, false, true, u.Renew)
	if err != nil {
		e.nodeID, e.servers, e.opts = nodeID, servers, opts
		return View{}, err
	}
	e.commit(st, u.Config, false)
	return View{st}, nil
}

func hasDuplicates(s []string) bool {
	seen := make(map[string]bool, len(s))
	for _, x := range s {
		if seen[x] {
			return true
		}
		seen[x] = true
	}
	return false
}

// A View is one compiled configuration, as [Engine.Replace] made it: a
// frontend that keeps its own per-configuration data beside it decides
// with it ([Engine.RouteIn]), so that a decision and the data it is used
// with always belong to the same configuration.
type View struct{ st *state }

// View returns the running configuration.
func (e *Engine) View() View { return View{e.st.Load()} }

// Names returns the names behind the indexes decisions made in v report
// ([Decision.RouteIndex], [Decision.ServerIndex]): the routes in
// configuration order, then DefaultRoute when the default servers are not
// an empty list; the servers by index, the known ones first.
func (v View) Names() (routes, servers []string) {
	routes = make([]string, 0, len(v.st.routes)+1)
	for i := range v.st.routes {
		routes = append(routes, v.st.routes[i].name)
	}
	if v.st.def != nil {
		routes = append(routes, DefaultRoute)
	}
	return routes, v.st.names
}

// Names returns the names of the running configuration: see [View.Names].
func (e *Engine) Names() (routes, servers []string) { return e.View().Names() }

// NodeID returns the node id set by the last Init.
func (e *Engine) NodeID() string { return e.st.Load().nodeID }

// Init sets the node id and the known servers. Routes, sessions, statistics,
// down marks and the state of every pool whose servers are unchanged are
// kept. Configured servers that are not known are reported through warn and
// treated as down. A server listed twice is one server.
func (e *Engine) Init(nodeID string, servers []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nodeID = nodeID
	e.servers = make([]string, 0, len(servers))
	seen := make(map[string]bool, len(servers))
	for _, s := range servers {
		if !seen[s] {
			seen[s] = true
			e.servers = append(e.servers, s)
		}
	}
	st, err := e.compile(e.cfg, e.builtin, false, nil)
	if err != nil {
		// Only a configuration naming unknown servers can fail, and
		// non-strict compilation does not fail on those.
		panic("engine: init: " + err.Error())
	}
	e.reportPhantoms(st)
	e.store(st)
}

// Servers returns the known servers, in init order.
func (e *Engine) Servers() []string { return e.st.Load().servers }

// Load applies a configuration before the servers are known, as a
// configuration file is: servers it names are checked when Init arrives.
// Every other problem rejects it.
func (e *Engine) Load(cfg *config.Config) error {
	return e.apply(cfg, false)
}

// Apply replaces the whole configuration. Every server it names must be
// known; a rejected configuration changes nothing.
func (e *Engine) Apply(cfg *config.Config) error {
	return e.apply(cfg, true)
}

func (e *Engine) apply(cfg *config.Config, strict bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.compile(cfg, false, strict, nil)
	if err != nil {
		return err
	}
	e.commit(st, cfg, false)
	return nil
}

// commit makes st, compiled from cfg, the running state.
func (e *Engine) commit(st *state, cfg *config.Config, builtin bool) {
	e.cfg = cfg
	e.builtin = builtin
	e.sessions.SetMax(cfg.Sticky.MaxSessions)
	e.store(st)
}

// store makes st the running state, and its servers' live states and
// counters the engine's: those of servers it no longer has are dropped,
// so that the tables stay bounded by the servers configured. (A decision
// still in flight on a dropped server keeps its own reference.)
func (e *Engine) store(st *state) {
	live := make(map[string]*server, len(st.names))
	for i, name := range st.names {
		live[name] = st.health.live[i]
	}
	e.live = live
	for name := range e.routed {
		if _, ok := live[name]; !ok {
			delete(e.routed, name)
		}
	}
	e.st.Store(st)
}

// AddRoute adds r, or replaces the route of the same name in place. An
// unnamed route is called route-N, N its 1-based position. The first route
// added replaces the built-in ones. Errors name r's own fields.
func (e *Engine) AddRoute(r *config.Route) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.copyConfig()
	pos := len(cfg.Routes)
	for i := range cfg.Routes {
		if r.Name != "" && cfg.Routes[i].Name == r.Name {
			pos = i
		}
	}
	add := *r
	if add.Name == "" {
		add.Name = config.FreeName(len(cfg.Routes)+1, func(n string) bool {
			for _, x := range cfg.Routes {
				if x.Name == n {
					return true
				}
			}
			return false
		})
	}
	if pos == len(cfg.Routes) {
		cfg.Routes = append(cfg.Routes, add)
	} else {
		cfg.Routes[pos] = add
	}
	st, err := e.compile(cfg, false, true, nil)
	if err != nil {
		return "", ownFields(err, pos)
	}
	e.commit(st, cfg, false)
	return add.Name, nil
}

// ownFields strips the routes[pos]. prefix from the field paths of err, so
// that an add_route error names the fields of the route the body holds.
func ownFields(err error, pos int) error {
	return renameField(err, config.Index("routes", pos)+".", "")
}

// renameField replaces the prefix from of err's field paths with to, so
// that an error names the field of the message that caused it.
func renameField(err error, from, to string) error {
	var es config.Errors
	if !errors.As(err, &es) {
		return err
	}
	out := make(config.Errors, len(es))
	for i, fe := range es {
		c := *fe
		if rest, ok := strings.CutPrefix(c.Path, from); ok {
			c.Path = to + rest
		}
		out[i] = &c
	}
	return out
}

// RemoveRoute removes the route called name.
func (e *Engine) RemoveRoute(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	// The effective routes: removing a built-in route keeps the other.
	cfg := e.copyConfig()
	cfg.Routes = append([]config.Route(nil), e.st.Load().cfg.Routes...)
	for i := range cfg.Routes {
		if cfg.Routes[i].Name == name {
			cfg.Routes = append(cfg.Routes[:i], cfg.Routes[i+1:]...)
			st, err := e.compile(cfg, false, false, nil)
			if err != nil {
				return err
			}
			e.commit(st, cfg, false)
			return nil
		}
	}
	return fmt.Errorf("%w %s", ErrNoRoute, name)
}

// SetDefaultServers sets the servers that take requests no route matches;
// an empty list makes those requests 404.
func (e *Engine) SetDefaultServers(servers []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.copyConfig()
	cfg.DefaultServers = append([]string{}, servers...)
	st, err := e.compile(cfg, e.builtin, true, nil)
	if err != nil {
		return renameField(err, "default_servers", "servers")
	}
	e.commit(st, cfg, e.builtin)
	return nil
}

// copyConfig returns a copy of the configuration to change. It never holds
// the built-in routes (they are made at compile time), so the first explicit
// change replaces them.
func (e *Engine) copyConfig() *config.Config {
	cfg := *e.cfg
	cfg.Routes = append([]config.Route(nil), e.cfg.Routes...)
	return &cfg
}

// Config returns the effective configuration, built-in routes and
// defaults included, and the servers a nil DefaultServers stands for.
func (e *Engine) Config() (*config.Config, []string) {
	st := e.st.Load()
	return st.cfg, st.servers
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Routed   map[string]uint64 // 200 replies by server, every known server
	Statuses map[int]uint64    // replies by status, the statuses seen
	Sessions int               // pins held
	Down     map[string]bool   // the known servers that are disabled or marked down by health checks
	Servers  map[string]ServerStats
	// Panics counts the servers picked in panic: for a pool whose servers
	// the health checks all held down (config health.panic).
	Panics uint64
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	st := e.st.Load()
	s := Stats{Routed: make(map[string]uint64, len(st.servers)), Statuses: map[int]uint64{}, Sessions: e.sessions.Len(), Down: map[string]bool{}, Panics: e.panics.Load()}
	for i, name := range st.servers {
		s.Routed[name] = st.routed[i].Load()
	}
	s.Servers = e.serverStats(st)
	for name, ss := range s.Servers {
		if ss.State == StateDisabled || ss.State == StateDown {
			s.Down[name] = true
		}
	}
	for code := range e.statuses {
		if n := e.statuses[code].Load(); n > 0 {
			s.Statuses[code] = n
		}
	}
	return s
}

// CountStatus counts a reply that a frontend answered without a decision,
// such as a 400 for a field of the wrong type.
func (e *Engine) CountStatus(status int) {
	if status >= 0 && status < len(e.statuses) {
		e.statuses[status].Add(1)
	}
}

// reportPhantoms warns about configured servers init did not list.
func (e *Engine) reportPhantoms(st *state) {
	for _, name := range st.names[len(st.servers):] {
		e.warn("configured server " + name + " is not a known server; treating it as down")
	}
}

// builtinConfig is the configuration used until one is given: the seed's own
// test description, /api/* to the first two servers and /web/* to the third.
func builtinConfig(servers []string, base *config.Config) *config.Config {
	cfg := *base
	cfg.Routes = nil
	if len(servers) >= 3 {
		cfg.Routes = []config.Route{
			{Name: "api", Path: "/api/*", Servers: []string{servers[0], servers[1]}, Balance: config.RoundRobin},
			{Name: "web", Path: "/web/*", Servers: []string{servers[2]}, Balance: config.RoundRobin},
		}
	}
	return &cfg
}

// issueID returns a new session id; with dry, the id the next issue would
// get, issuing nothing.
func (e *Engine) issueID(st *state, dry bool) string {
	if st.opts.NewSessionID != nil {
		return st.opts.NewSessionID()
	}
	nodeID := st.nodeID
	n := e.issued.Load() + 1
	if !dry {
		n = e.issued.Add(1)
	}
	return nodeID + "-" + strconv.FormatUint(n, 10)
}

var _ balancer.Health = (*health)(nil)
var _ router.HeaderLookup = Headers(nil)
