package config

import (
	"sort"
	"strconv"
	"strings"

	"l7lb/httpmsg"
)

// decoder turns a Value into the schema, collecting every problem.
type decoder struct {
	errs Errors
}

func (d *decoder) fail(path string, v *Value, msg string) {
	line := 0
	if v != nil {
		line = v.Line
	}
	d.errs = append(d.errs, &FieldError{Path: path, Line: line, Msg: msg})
}

// field is a field's path made into a string only for an error: a
// configuration of many routes would spend much of its decode making
// paths that no error names. A field is made on the stack, pointing to its
// parent's, and lives no longer than the call that decodes it.
type field struct {
	up    *field
	key   string // the member's key, or with up nil the whole path
	index int    // the element's index in up's list, or -1 for a key
}

// at is the field of the path given as a string.
func at(path string) *field { return &field{key: path, index: -1} }

// String returns the field's path, as [Join] and [Index] write it.
func (f *field) String() string { return string(f.appendTo(nil)) }

func (f *field) appendTo(b []byte) []byte {
	switch {
	case f.up == nil:
		return append(b, f.key...)
	case f.index >= 0:
		b = append(f.up.appendTo(b), '[')
		return append(strconv.AppendInt(b, int64(f.index), 10), ']')
	}
	if b = f.up.appendTo(b); len(b) > 0 {
		b = append(b, '.')
	}
	return append(b, f.key...)
}

// want reports whether v has kind k, recording an error when it has not.
func (d *decoder) want(path string, v *Value, k Kind) bool { return d.wantAt(at(path), v, k) }

func (d *decoder) wantAt(f *field, v *Value, k Kind) bool {
	if v.Kind == k {
		return true
	}
	d.fail(f.String(), v, "expected "+k.String())
	return false
}

func (d *decoder) str(path string, v *Value) (string, bool) { return d.strAt(at(path), v) }

func (d *decoder) strAt(f *field, v *Value) (string, bool) {
	if !d.wantAt(f, v, String) {
		return "", false
	}
	return v.Str, true
}

// nonEmpty decodes a string that must not be empty.
func (d *decoder) nonEmpty(path string, v *Value) (string, bool) { return d.nonEmptyAt(at(path), v) }

func (d *decoder) nonEmptyAt(f *field, v *Value) (string, bool) {
	s, ok := d.strAt(f, v)
	if ok && s == "" {
		d.fail(f.String(), v, "must not be empty")
		return "", false
	}
	return s, ok
}

func (d *decoder) integer(path string, v *Value, lo, hi int) (int, bool) {
	if v.Kind != Number {
		d.fail(path, v, "expected an integer")
		return 0, false
	}
	n, err := strconv.ParseInt(v.Str, 10, 64)
	if err != nil {
		d.fail(path, v, "expected an integer")
		return 0, false
	}
	if n < int64(lo) || n > int64(hi) {
		d.fail(path, v, "must be from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
		return 0, false
	}
	return int(n), true
}

// strings decodes a list of strings with no empty and no repeated entry.
func (d *decoder) strings(path string, v *Value) ([]string, bool) { return d.stringsAt(at(path), v) }

func (d *decoder) stringsAt(f *field, v *Value) ([]string, bool) {
	if v.Kind != List {
		d.fail(f.String(), v, "expected a list of strings")
		return nil, false
	}
	out := make([]string, 0, len(v.List))
	ok := true
	for i, el := range v.List {
		p := field{up: f, index: i}
		s, good := d.nonEmptyAt(&p, el)
		if !good {
			ok = false
			continue
		}
		for _, prev := range out {
			if prev == s {
				d.fail(p.String(), el, "duplicate "+s)
				ok = false
			}
		}
		out = append(out, s)
	}
	return out, ok
}

// DecodeConfig decodes a `config` message body or a configuration document:
// `routes`, `default_servers`, `sticky`. Other top-level keys are ignored when
// lenient (a Maelstrom body carries `type` and `msg_id`), errors otherwise.
func DecodeConfig(v *Value, lenient bool) (*Config, error) {
	var d decoder
	c := d.config(v, func(key string, val *Value) {
		if !lenient {
			d.fail(key, val, "unknown field")
		}
	})
	return c, d.errs.Err()
}

// config decodes the routing keys of the object v and hands every other key
// to other.
func (d *decoder) config(v *Value, other func(key string, val *Value)) *Config {
	c := &Config{Sticky: DefaultSticky()}
	if !d.want("", v, Map) {
		return c
	}
	for i, key := range v.Keys {
		val := v.Vals[i]
		switch key {
		case "routes":
			c.Routes = d.routes(key, val)
		case "default_servers":
			if s, ok := d.strings(key, val); ok {
				c.DefaultServers = s
			}
		case "sticky":
			c.Sticky = d.sticky(key, val)
		default:
			other(key, val)
		}
	}
	d.nameRoutes(c.Routes)
	return c
}

func (d *decoder) routes(path string, v *Value) []Route {
	if !d.want(path, v, List) {
		return nil
	}
	// Each route is decoded in place: a Route is hundreds of bytes, and
	// a configuration may have 100,000 of them.
	routes := make([]Route, len(v.List))
	list := at(path)
	for i, el := range v.List {
		d.route(&routes[i], &field{up: list, index: i}, el, false)
	}
	return routes
}

// nameRoutes names the unnamed routes route-N, N their 1-based position, or
// the next free N when that name is taken, and reports repeated names.
func (d *decoder) nameRoutes(routes []Route) {
	taken := make(map[string]bool, len(routes))
	for i, r := range routes {
		if r.Name == "" {
			continue
		}
		if taken[r.Name] {
			d.fail(Join(Index("routes", i), "name"), nil, "duplicate route name "+r.Name)
		}
		taken[r.Name] = true
	}
	for i := range routes {
		if routes[i].Name == "" {
			routes[i].Name = FreeName(i+1, func(n string) bool { return taken[n] })
			taken[routes[i].Name] = true
		}
	}
}

// FreeName returns route-N for the first N from n on whose name is not taken.
func FreeName(n int, taken func(string) bool) string {
	for ; ; n++ {
		if name := "route-" + strconv.Itoa(n); !taken(name) {
			return name
		}
	}
}

// DecodeRoute decodes an `add_route` body: a route whose top-level unknown
// keys (the message's own `type`, `msg_id`) are ignored. The name is left
// empty when the body has none.
func DecodeRoute(v *Value) (*Route, error) {
	var d decoder
	r := new(Route)
	d.route(r, at(""), v, true)
	return r, d.errs.Err()
}

// route decodes the route at f into r, which is zero. The keys every
// route has are decoded with their field made into a string only for an
// error; the rarer ones get theirs made.
func (d *decoder) route(r *Route, f *field, v *Value, lenient bool) {
	r.Path, r.Balance = DefaultPath, RoundRobin
	if !d.wantAt(f, v, Map) {
		return
	}
	var host, hosts *Value
	for i, key := range v.Keys {
		val, p := v.Vals[i], field{up: f, key: key, index: -1}
		switch key {
		case "name":
			if s, ok := d.nonEmptyAt(&p, val); ok {
				if s == "default" {
					d.fail(p.String(), val, "default is reserved for the default servers")
				}
				r.Name = s
			}
		case "host":
			host = val
			if s, ok := d.nonEmptyAt(&p, val); ok {
				r.Hosts = []string{s}
			}
		case "hosts":
			hosts = val
			if s, ok := d.stringsAt(&p, val); ok {
				if len(s) == 0 {
					d.fail(p.String(), val, "must not be empty")
				}
				r.Hosts = s
			}
		case "path":
			if s, ok := d.nonEmptyAt(&p, val); ok {
				r.Path = s
			}
		case "methods":
			if s, ok := d.stringsAt(&p, val); ok {
				if len(s) == 0 {
					d.fail(p.String(), val, "must not be empty")
				}
				r.Methods = s
			}
		case "headers":
			r.Headers = d.headers(p.String(), val)
		case "servers":
			if s, ok := d.stringsAt(&p, val); ok {
				if len(s) == 0 {
					d.fail(p.String(), val, "must not be empty")
				}
				r.Servers = s
			}
		case "balance":
			if s, ok := d.strAt(&p, val); ok {
				switch s {
				case RoundRobin, WeightedRoundRobin, Hash, LeastRequest, PeakEWMA:
					r.Balance = s
				default:
					d.fail(p.String(), val, "unknown policy "+s+" (want round_robin, weighted_round_robin, hash, least_request or peak_ewma)")
				}
			}
		case "weights":
			r.Weights = d.weights(p.String(), val)
		case "hash_on":
			if s, ok := d.strAt(&p, val); ok {
				if !validHashOn(s) {
					d.fail(p.String(), val, "want cookie:NAME, header:NAME, path or host")
				}
				r.HashOn = s
			}
		case "rewrite":
			r.Rewrite = d.rewrite(&p, val)
		case "sticky":
			if d.wantAt(&p, val, Bool) {
				b := val.Bool
				r.Sticky = &b
			}
		case "host_rewrite":
			r.HostRewrite, _ = d.nonEmptyAt(&p, val)
		case "timeouts":
			r.Timeouts = d.routeTimeouts(p.String(), val)
		case "health_check":
			r.HealthCheck = d.healthCheck(p.String(), val)
		default:
			if !d.balanceKey(key, p.String(), val, r) && !lenient {
				d.fail(p.String(), val, "unknown field")
			}
		}
	}
	if host != nil && hosts != nil {
		d.fail(Join(f.String(), "hosts"), hosts, "give host or hosts, not both")
	}
	if v.Get("servers") == nil {
		d.fail(Join(f.String(), "servers"), v, "missing")
	}
	d.checkPolicy(f, v, r)
}

// checkPolicy checks that weights and hash_on go with the balance policy.
func (d *decoder) checkPolicy(f *field, v *Value, r *Route) {
	path := f.String
	if r.Weights != nil && r.Balance == RoundRobin {
		d.fail(Join(path(), "weights"), v.Get("weights"), "only with balance weighted_round_robin, hash, least_request or peak_ewma")
	}
	for name := range r.Weights {
		if r.Servers != nil && !contains(r.Servers, name) {
			d.fail(Join(Join(path(), "weights"), name), v.Get("weights"), "not a server of this route")
		}
	}
	switch {
	case r.Balance == Hash && r.HashOn == "" && v.Get("hash_on") == nil:
		d.fail(Join(path(), "hash_on"), v, "required with balance hash")
	case r.Balance != Hash && r.HashOn != "":
		d.fail(Join(path(), "hash_on"), v.Get("hash_on"), "only with balance hash")
	}
	d.checkBalance(f, v, r)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func validHashOn(s string) bool {
	switch {
	case s == "path", s == "host":
		return true
	case strings.HasPrefix(s, "cookie:"):
		return len(s) > len("cookie:")
	case strings.HasPrefix(s, "header:"):
		return len(s) > len("header:")
	}
	return false
}

func (d *decoder) headers(path string, v *Value) []Header {
	if !d.want(path, v, Map) {
		return nil
	}
	hs := make([]Header, 0, len(v.Keys))
	for i, name := range v.Keys {
		p := Join(path, name)
		if s, ok := d.str(p, v.Vals[i]); ok {
			hs = append(hs, Header{Name: name, Value: s})
		}
	}
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	return hs
}

func (d *decoder) weights(path string, v *Value) map[string]int {
	if !d.want(path, v, Map) {
		return nil
	}
	w := make(map[string]int, len(v.Keys))
	for i, name := range v.Keys {
		if n, ok := d.integer(Join(path, name), v.Vals[i], 1, MaxWeight); ok {
			w[name] = n
		}
	}
	return w
}

func (d *decoder) rewrite(f *field, v *Value) *Rewrite {
	if !d.wantAt(f, v, Map) {
		return nil
	}
	rw := &Rewrite{}
	rules := 0
	for i, key := range v.Keys {
		val, p := v.Vals[i], field{up: f, key: key, index: -1}
		switch key {
		case "strip_prefix":
			if s, ok := d.nonEmptyAt(&p, val); ok {
				rw.StripPrefix = &s
			}
		case "replace_path":
			if s, ok := d.nonEmptyAt(&p, val); ok {
				rw.ReplacePath = &s
			}
		case "replace_prefix":
			from, to, ok := d.pair(p.String(), val, "from", "to")
			if ok {
				rw.ReplacePrefix = &PrefixPair{From: from, To: to}
			}
		case "regex":
			pat, repl, ok := d.pair(p.String(), val, "pattern", "replacement")
			if ok {
				rw.Regex = &RegexRule{Pattern: pat, Replacement: repl}
			}
		default:
			d.fail(p.String(), val, "unknown rule (want strip_prefix, replace_prefix, regex or replace_path)")
			continue
		}
		rules++
	}
	if rules != 1 {
		d.fail(f.String(), v, "give exactly one of strip_prefix, replace_prefix, regex, replace_path")
	}
	return rw
}

// pair decodes an object of exactly two string fields a and b.
func (d *decoder) pair(path string, v *Value, a, b string) (string, string, bool) {
	if !d.want(path, v, Map) {
		return "", "", false
	}
	ok := true
	get := func(key string) string {
		val := v.Get(key)
		if val == nil {
			d.fail(Join(path, key), v, "missing")
			ok = false
			return ""
		}
		s, good := d.str(Join(path, key), val)
		ok = ok && good
		return s
	}
	x, y := get(a), get(b)
	for i, key := range v.Keys {
		if key != a && key != b {
			d.fail(Join(path, key), v.Vals[i], "unknown field")
			ok = false
		}
	}
	return x, y, ok
}

func (d *decoder) sticky(path string, v *Value) Sticky {
	s := DefaultSticky()
	if !d.want(path, v, Map) {
		return s
	}
	for i, key := range v.Keys {
		val, p := v.Vals[i], Join(path, key)
		switch key {
		case "cookie":
			if c, ok := d.cookieName(p, val); ok {
				s.Cookie = c
			}
		case "server_cookie":
			if c, ok := d.cookieName(p, val); ok {
				s.ServerCookie = c
			}
		case "mode":
			if m, ok := d.str(p, val); ok {
				if !validMode(m) {
					d.fail(p, val, "unknown mode "+m+" (want auto, always, off or insert)")
				}
				s.Mode = m
			}
		case "max_sessions":
			if n, ok := d.integer(p, val, 1, 1<<31-1); ok {
				s.MaxSessions = n
			}
		case "secret":
			if x, ok := d.nonEmpty(p, val); ok {
				s.Secrets = []string{x}
			}
		case "secrets":
			if x, ok := d.strings(p, val); ok {
				if len(x) == 0 {
					d.fail(p, val, "must not be empty")
				}
				s.Secrets = x
			}
		case "secure":
			switch {
			case val.Kind == Bool && val.Bool:
				s.Secure = SecureAlways
			case val.Kind == Bool:
				s.Secure = SecureNever
			case val.Kind == String && val.Str == "auto":
				s.Secure = SecureAuto
			default:
				d.fail(p, val, "want auto, true or false")
			}
		case "max_age":
			s.MaxAge, _ = d.duration(p, val)
		default:
			d.fail(p, val, "unknown field")
		}
	}
	if s.Cookie == s.ServerCookie {
		d.fail(Join(path, "server_cookie"), v, "must differ from cookie")
	}
	if v.Get("secret") != nil && v.Get("secrets") != nil {
		d.fail(Join(path, "secrets"), v.Get("secrets"), "give secret or secrets, not both")
	}
	return s
}

// cookieName decodes a cookie name: an RFC 6265 token.
func (d *decoder) cookieName(path string, v *Value) (string, bool) {
	s, ok := d.nonEmpty(path, v)
	if ok && !httpmsg.ValidToken(s) {
		d.fail(path, v, "not a valid cookie name")
		return "", false
	}
	return s, ok
}

// DecodeServers decodes a list of server ids at path, such as the `servers`
// of a set_default_servers message.
func DecodeServers(v *Value, path string) ([]string, error) {
	var d decoder
	if v == nil {
		d.fail(path, nil, "missing")
		return nil, d.errs.Err()
	}
	s, _ := d.strings(path, v)
	return s, d.errs.Err()
}
