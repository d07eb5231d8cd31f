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
	builtin bool            // cfg is the built-in configuration
	down    map[string]bool // server_down marks, by server id
	warn    func(string)

	sessions *session.Table
	opts     Options
	issued   atomic.Uint64 // session ids issued so far, when opts.NewSessionID is nil
	statuses [600]atomic.Uint64
	routed   map[string]*atomic.Uint64 // by server id; kept across inits

	// The server state (servers.go): each server's live state by id, kept
	// across recompiles; whether the frontend measures requests; the clock
	// they are measured on.
	live         map[string]*server
	measured     bool
	epoch        time.Time
	clock        func() int64 // tests' clock; nil for the monotonic one
	seed         uint64       // the pools' random seed; 0 for random (tests fix it)
	maxSlowStart atomic.Int64 // the longest slow start window of the state, ns
	outlierMu    sync.Mutex   // serializes ejection decisions (outliers.go)
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
		down:     map[string]bool{},
		warn:     warn,
		sessions: session.NewTable(config.DefaultMaxSessions),
		routed:   map[string]*atomic.Uint64{},
		live:     map[string]*server{},
		epoch:    time.Now(),
	}
	st, err := e.compile(e.cfg, true, false)
	if err != nil {
		panic("engine: the empty configuration does not compile: " + err.Error())
	}
	e.st.Store(st)
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

// SetOptions sets o. Call it before applying a configuration, and before
// any decision.
func (e *Engine) SetOptions(o Options) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts = o
}

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
	st, err := e.compile(e.cfg, e.builtin, false)
	if err != nil {
		// Only a configuration naming unknown servers can fail, and
		// non-strict compilation does not fail on those.
		panic("engine: init: " + err.Error())
	}
	e.reportPhantoms(st)
	e.st.Store(st)
}

// Servers returns the known servers, in init order.
func (e *Engine) Servers() []string { return e.st.Load().servers }

// Names returns the names behind the indexes decisions report
// ([Decision.RouteIndex], [Decision.ServerIndex]): the routes in
// configuration order, then DefaultRoute when the default servers are not
// an empty list; the servers by index, the known ones first.
func (e *Engine) Names() (routes, servers []string) {
	st := e.st.Load()
	routes = make([]string, 0, len(st.routes)+1)
	for _, rt := range st.routes {
		routes = append(routes, rt.name)
	}
	if st.def != nil {
		routes = append(routes, DefaultRoute)
	}
	return routes, st.names
}

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
	st, err := e.compile(cfg, false, strict)
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
	st, err := e.compile(cfg, false, true)
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
			st, err := e.compile(cfg, false, false)
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
	st, err := e.compile(cfg, e.builtin, true)
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

// SetDown marks a known server down or up again.
func (e *Engine) SetDown(server string, down bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st.Load()
	i, ok := st.index[server]
	if !ok || i >= len(st.servers) {
		return fmt.Errorf("unknown server %s", server)
	}
	if !down && st.health.down[i].Load() {
		st.health.live[i].cameBack(e.now())
	}
	e.down[server] = down
	st.health.down[i].Store(down)
	return nil
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Routed   map[string]uint64 // 200 replies by server, every known server
	Statuses map[int]uint64    // replies by status, the statuses seen
	Sessions int               // pins held
	Down     map[string]bool   // the known servers marked down
	Servers  map[string]ServerStats
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	st := e.st.Load()
	s := Stats{Routed: make(map[string]uint64, len(st.servers)), Statuses: map[int]uint64{}, Sessions: e.sessions.Len(), Down: map[string]bool{}}
	for i, name := range st.servers {
		s.Routed[name] = st.routed[i].Load()
		if st.health.down[i].Load() {
			s.Down[name] = true
		}
	}
	s.Servers = e.serverStats(st)
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
func (e *Engine) issueID(nodeID string, dry bool) string {
	if e.opts.NewSessionID != nil {
		return e.opts.NewSessionID()
	}
	n := e.issued.Load() + 1
	if !dry {
		n = e.issued.Add(1)
	}
	return nodeID + "-" + strconv.FormatUint(n, 10)
}

var _ balancer.Health = (*health)(nil)
var _ router.HeaderLookup = Headers(nil)
