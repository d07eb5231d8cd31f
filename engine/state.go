package engine

import (
	"encoding/binary"
	"strconv"
	"strings"
	"sync/atomic"

	"l7lb/balancer"
	"l7lb/config"
	"l7lb/rewrite"
	"l7lb/router"
)

// state is one compiled configuration. It is immutable once stored, except
// for what it shares by design: pool counters, health marks and counters.
type state struct {
	nodeID  string
	servers []string       // known servers, in init order
	names   []string       // server index → id: the known servers, then the configured unknown ones
	index   map[string]int // server id → index
	health  *health
	routed  []*atomic.Uint64 // 200s by server index, known servers only
	// pooled says, by server index, whether a server is in some pool: a
	// session pinned to one that is in none (a reload took it out of
	// every route) moves, as a removed server's does.
	pooled []bool

	cfg    *config.Config // effective: built-in routes included
	opts   Options
	sticky config.Sticky
	// routes holds the routes by value, in configuration order: a decision
	// over many routes reaches its route with one load less.
	routes []route
	byName map[string]int // index in routes by name, for the next compile to find its predecessors
	table  *router.Table
	def    *route // nil when the default servers are an empty list

	// While compiling: the pools' shapes by server list (see shape), the
	// rewrite rules (see rule).
	shapes   map[string]*balancer.Shape
	shapeKey []byte
	rules    map[ruleKey]*rewrite.Rule
}

// route is a compiled route: its pool and what to do with the path.
//
// What a decision reads of it comes first, up to hashOn.kind, in one
// 64-byte cache line, and a route is 128 bytes (TestRouteLayout): with many
// routes each decision meets a route no cache holds, and their slice, a
// large object, starts on a page, so that a decision loads one line of its
// route. index (read by frontends that ask for it), servers (by explain)
// and hashOn.name (by cookie and header hashing) come after.
type route struct {
	pool    *balancer.Pool // nil while no server is known
	rewrite *rewrite.Rule
	cfg     *config.Route // nil for the default servers
	name    string
	sticky  string // effective sticky mode
	hashOn  hashKey
	index   int // in the configuration's order; the default route is last
	servers []string
	_       [16]byte
}

// hashKey is what a hash pool hashes.
type hashKey struct {
	kind uint8 // one of hashNone, hashCookie, hashHeader, hashPath, hashHost
	name string
}

const (
	hashNone = iota
	hashCookie
	hashHeader
	hashPath
	hashHost
)

// compile builds the state for cfg over the engine's node id and servers,
// carrying over pool state from the running state where the pool is
// unchanged. With strict, a server that is not known is an error; otherwise
// it is added as a server that is always down. Callers hold e.mu.
// Servers in renew get a live state afresh (see Update.Renew).
func (e *Engine) compile(cfg *config.Config, builtin, strict bool, renew []string) (*state, error) {
	if builtin {
		cfg = builtinConfig(e.servers, cfg)
	}
	st := &state{nodeID: e.nodeID, servers: e.servers, cfg: cfg, opts: e.opts, sticky: cfg.Sticky}
	var errs config.Errors
	st.index = make(map[string]int, len(e.servers))
	for _, s := range e.servers {
		if _, dup := st.index[s]; !dup {
			st.index[s] = len(st.names)
			st.names = append(st.names, s)
		}
	}
	// known's path is made only for an error: a configuration of many
	// routes would spend much of its compile time making them.
	known := func(path func() string, s string) {
		if _, ok := st.index[s]; ok {
			return
		}
		if strict {
			errs = append(errs, &config.FieldError{Path: path(), Msg: "unknown server " + s})
			return
		}
		st.index[s] = len(st.names)
		st.names = append(st.names, s)
	}
	for i, r := range cfg.Routes {
		for j, s := range r.Servers {
			known(func() string { return config.Index(config.Join(config.Index("routes", i), "servers"), j) }, s)
		}
	}
	for j, s := range cfg.DefaultServers {
		known(func() string { return config.Index("default_servers", j) }, s)
	}

	prev := e.st.Load()
	// The same routes (Init after Load, a server marked down): the route
	// table depends on nothing else, and they compile to the same indexes
	// (a state with errors is never stored).
	same := prev != nil && prev.cfg == cfg && !builtin
	if same {
		st.table = prev.table
	} else {
		specs := make([]router.Spec, len(cfg.Routes))
		for i, r := range cfg.Routes {
			specs[i] = router.Spec{Hosts: r.Hosts, Path: r.Path, Methods: r.Methods}
			for _, h := range r.Headers {
				specs[i].Headers = append(specs[i].Headers, router.Header{Name: h.Name, Value: h.Value})
			}
		}
		table, err := router.Compile(specs)
		if err != nil {
			errs = append(errs, routerErrors(err, specs, cfg.Routes)...)
		}
		st.table = table
	}

	if cfg.Sticky.Mode == config.ModeInsert && e.opts.Signer == nil {
		errs = append(errs, &config.FieldError{Path: "sticky.mode", Msg: "insert needs the HTTP proxy (l7lb serve)"})
	}

	if same {
		st.byName = prev.byName
	} else {
		st.byName = make(map[string]int, len(cfg.Routes))
	}
	st.routes = make([]route, 0, len(cfg.Routes))
	for i := range cfg.Routes {
		// Each route is compiled in its slot: a route made apart and
		// copied in would be one allocation more per route.
		st.routes = st.routes[:len(st.routes)+1]
		rt := &st.routes[len(st.routes)-1]
		if err := st.compileRoute(rt, e, &cfg.Routes[i], i, prev); err != nil {
			st.routes = st.routes[:len(st.routes)-1]
			errs = append(errs, err.(*config.FieldError))
			continue
		}
		rt.index = len(st.routes) - 1
		if same {
			continue
		}
		if _, dup := st.byName[rt.name]; !dup { // the first of a name, as a scan would find
			st.byName[rt.name] = rt.index
		}
	}
	def := cfg.DefaultServers
	if def == nil {
		def = e.servers
	}
	if len(def) > 0 {
		st.def = new(route)
		st.newRoute(st.def, DefaultRoute, def, config.RoundRobin, nil, hashKey{}, nil, prev, e.poolOptions(nil, cfg.SlowStart))
		st.def.index = len(cfg.Routes)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	st.shapes, st.shapeKey, st.rules = nil, nil, nil
	st.health = e.newHealth(st, renew)
	st.pooled = make([]bool, len(st.names))
	st.eachPool(func(rt *route) {
		for _, s := range rt.pool.Servers() {
			st.pooled[s.Index] = true
		}
	})
	st.routed = make([]*atomic.Uint64, len(st.servers))
	for i, name := range st.servers {
		c := e.routed[name]
		if c == nil {
			c = new(atomic.Uint64)
			e.routed[name] = c
		}
		st.routed[i] = c
	}
	return st, nil
}

// routerErrors turns the router's error, about the first invalid field of
// the first invalid spec, into a field error for every invalid field of
// every spec: each field is compiled on its own to find them all.
func routerErrors(err error, specs []router.Spec, routes []config.Route) config.Errors {
	if _, ok := err.(*router.SpecError); !ok {
		return config.Errors{{Path: "routes", Msg: err.Error()}}
	}
	var errs config.Errors
	check := func(i int, field string, s router.Spec) {
		if s.Path == "" {
			s.Path = "/"
		}
		if _, err := router.Compile([]router.Spec{s}); err != nil {
			errs = append(errs, routerError(err, i, field, routes))
		}
	}
	for i, s := range specs {
		for j, h := range s.Hosts {
			check(i, "hosts["+strconv.Itoa(j)+"]", router.Spec{Hosts: []string{h}})
		}
		check(i, "path", router.Spec{Path: s.Path})
		for j, m := range s.Methods {
			check(i, "methods["+strconv.Itoa(j)+"]", router.Spec{Methods: []string{m}})
		}
		for _, h := range s.Headers {
			check(i, "", router.Spec{Headers: []router.Header{h}})
		}
	}
	if len(errs) == 0 {
		// Not a field's own fault: report the router's error as it is.
		se := err.(*router.SpecError)
		errs = append(errs, routerError(err, se.Index, "", routes))
	}
	return errs
}

// routerError turns the error of a spec holding one field of route i into
// a field error of the route; field replaces the router's own name for it
// when not empty.
func routerError(err error, i int, field string, routes []config.Route) *config.FieldError {
	se := err.(*router.SpecError)
	if field == "" {
		field = se.Field
	}
	// A route given one host writes it as host, not hosts[0].
	if field == "hosts[0]" && len(routes[i].Hosts) == 1 {
		field = "host"
	}
	return &config.FieldError{Path: config.Join(config.Index("routes", i), field), Msg: se.Msg}
}

// compileRoute compiles r, routes[i] of the configuration, into rt.
func (st *state) compileRoute(rt *route, e *Engine, r *config.Route, i int, prev *state) error {
	var rw *rewrite.Rule
	if r.Rewrite != nil {
		var err error
		var field string
		if rw, field, err = st.rule(r.Rewrite); err != nil {
			return &config.FieldError{Path: config.Join(config.Join(config.Index("routes", i), "rewrite"), field), Msg: err.Error()}
		}
	}
	var key hashKey
	switch on := r.HashOn; {
	case on == "path":
		key.kind = hashPath
	case on == "host":
		key.kind = hashHost
	case strings.HasPrefix(on, "cookie:"):
		key = hashKey{hashCookie, strings.TrimPrefix(on, "cookie:")}
	case strings.HasPrefix(on, "header:"):
		key = hashKey{hashHeader, strings.TrimPrefix(on, "header:")}
	}
	st.newRoute(rt, r.Name, r.Servers, r.Balance, r.Weights, key, r.Sticky, prev, e.poolOptions(r, r.SlowStart))
	rt.rewrite, rt.cfg = rw, r
	return nil
}

// newRoute builds a route and its pool into rt, taking over the pool state
// of the running route of the same name when its pool is the same.
func (st *state) newRoute(rt *route, name string, servers []string, balance string, weights map[string]int, key hashKey, sticky *bool, prev *state, opts balancer.Options) {
	policy := balancer.RoundRobin
	switch balance {
	case config.WeightedRoundRobin:
		policy = balancer.WeightedRoundRobin
	case config.Hash:
		policy = balancer.Hash
	case config.LeastRequest:
		policy = balancer.LeastRequest
	case config.PeakEWMA:
		policy = balancer.PeakEWMA
	}
	*rt = route{name: name, servers: servers, hashOn: key}
	// Without known servers every decision is a 503 before any pool: a
	// node started with --config compiles again at init, and pools made
	// before would be garbage.
	if len(st.servers) > 0 {
		rt.pool = balancer.NewShapedPool(policy, st.shape(servers, weights), opts)
	}
	rt.sticky = st.sticky.Mode
	if sticky != nil {
		switch {
		case !*sticky:
			rt.sticky = config.ModeOff
		case rt.sticky == config.ModeOff:
			rt.sticky = config.ModeAuto
		}
	}
	if old := prev.find(name); old != nil && old.pool != nil && rt.pool != nil && old.pool.SameShape(rt.pool) {
		rt.pool.TakeState(old.pool)
	}
}

// ruleKey is a rewrite rule as configured: the field that holds it and
// its arguments.
type ruleKey struct{ field, a, b string }

// rule compiles x, once per distinct rule in a compile (a rule is
// immutable: routes that rewrite alike share it), and returns the field
// of x that holds it.
func (st *state) rule(x *config.Rewrite) (*rewrite.Rule, string, error) {
	var k ruleKey
	switch {
	case x.StripPrefix != nil:
		k = ruleKey{"strip_prefix", *x.StripPrefix, ""}
	case x.ReplacePrefix != nil:
		k = ruleKey{"replace_prefix", x.ReplacePrefix.From, x.ReplacePrefix.To}
	case x.Regex != nil:
		k = ruleKey{"regex.pattern", x.Regex.Pattern, x.Regex.Replacement}
	case x.ReplacePath != nil:
		k = ruleKey{"replace_path", *x.ReplacePath, ""}
	}
	if rw, ok := st.rules[k]; ok {
		return rw, k.field, nil
	}
	var rw *rewrite.Rule
	var err error
	switch k.field {
	case "strip_prefix":
		rw, err = rewrite.StripPrefix(k.a)
	case "replace_prefix":
		rw, err = rewrite.ReplacePrefix(k.a, k.b)
	case "regex.pattern":
		rw, err = rewrite.Regex(k.a, k.b)
	case "replace_path":
		rw, err = rewrite.ReplacePath(k.a)
	}
	if err == nil {
		if st.rules == nil {
			st.rules = make(map[ruleKey]*rewrite.Rule)
		}
		st.rules[k] = rw
	}
	return rw, k.field, err
}

// shape returns the pool shape of servers with weights, one per distinct
// list in a compile: routes that share their servers share it.
func (st *state) shape(servers []string, weights map[string]int) *balancer.Shape {
	weight := func(s string) int { return max(weights[s], 1) }
	// The key spells each server's length, name and weight, so that no
	// two lists share it.
	key := st.shapeKey[:0]
	for _, s := range servers {
		key = binary.AppendUvarint(key, uint64(len(s)))
		key = append(key, s...)
		key = binary.AppendUvarint(key, uint64(weight(s)))
	}
	st.shapeKey = key
	if sh, ok := st.shapes[string(key)]; ok {
		return sh
	}
	members := make([]balancer.Server, len(servers))
	for i, s := range servers {
		members[i] = balancer.Server{Index: st.index[s], Name: s, Weight: weight(s)}
	}
	sh := balancer.NewShape(members)
	if st.shapes == nil {
		st.shapes = make(map[string]*balancer.Shape)
	}
	st.shapes[string(key)] = sh
	return sh
}

// find returns the route called name, the default route included.
func (st *state) find(name string) *route {
	if st == nil {
		return nil
	}
	if name == DefaultRoute {
		return st.def
	}
	if i, ok := st.byName[name]; ok {
		return &st.routes[i]
	}
	return nil
}
