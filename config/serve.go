package config

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// File is a whole configuration file: the routing configuration both faces
// share, and what only the HTTP proxy (l7lb serve) reads.
type File struct {
	Config
	Admin string // address of the admin listener, 127.0.0.1 when the file gives no host; "" = off
	// AdminToken is the bearer token of the admin API: required for every
	// write, and for reads when Admin is not a loopback address. "" = the
	// process's L7LB_ADMIN_TOKEN, if any.
	AdminToken string
	Servers    []Server // in file order
	Timeouts   Timeouts
	Limits     Limits
	Health     Health
	// DrainTimeout bounds every drain: a server drained by the operator
	// keeps its sessions this long; a removed server's requests, a removed
	// listener's connections and an old process's (after an upgrade or at
	// shutdown) have this long to finish.
	DrainTimeout time.Duration

	Listeners []Listener // where to serve: `listeners`, or `listen` as one plaintext listener
	// TrustedProxies are the networks whose clients' forwarding fields
	// (X-Forwarded-*, Forwarded, X-Real-IP) the proxy appends to rather
	// than replaces; masked, none by default.
	TrustedProxies []netip.Prefix
	// Via adds "Via: 1.1 l7lb" to forwarded requests and responses.
	Via bool

	AccessLog *AccessLog // nil: off
	Tracing   *Tracing   // nil: off
	Metrics   Metrics

	// Fleet is where the shared keys come from (etcd); nil outside a fleet.
	Fleet *Fleet
}

// Metrics are the settings of the proxy's Prometheus metrics.
type Metrics struct {
	// MaxRoutes is the most routes a configuration may have for the
	// metrics to count requests by route name; one with more counts every
	// named route's requests under one label value (metrics.OtherRoute):
	// each route name is a set of series, and a scrape of 100,000 routes'
	// would run to millions of lines.
	MaxRoutes int
}

// Server is a backend: its id, where it listens and what it speaks.
type Server struct {
	ID     string
	URL    string
	Addr   string // host:port taken from URL
	Scheme string // "http" (HTTP/1.1), "https" (TLS: h2 or http/1.1 by ALPN) or "h2c" (HTTP/2 with prior knowledge)
	Weight int    // the weight routes use when they give none
	// TLS verifies an https:// server and names the client certificate;
	// nil for the defaults (the system's roots, the URL's host).
	TLS *ServerTLS
}

// Server URL schemes.
const (
	SchemeHTTP  = "http"
	SchemeHTTPS = "https"
	SchemeH2C   = "h2c"
)

// ServerTLS is how the proxy connects to an https:// server.
type ServerTLS struct {
	CA                 string // PEM file of the roots to trust; "" = the system's
	ServerName         string // sent as SNI and verified; "" = the URL's host
	InsecureSkipVerify bool   // accept any certificate (tests, never production)
	Cert, Key          string // client certificate and key (PEM) for mutual TLS; "" = none
}

// Timeouts bound each phase of proxying. A route may override Connect and
// ResponseHeader.
type Timeouts struct {
	Connect        time.Duration // dialing a server
	ResponseHeader time.Duration // from the request sent to the response head read
	ReadHeader     time.Duration // reading a client's request head (slowloris)
	Idle           time.Duration // a client connection waiting for its next request
	BackendIdle    time.Duration // a pooled server connection left unused
}

// Limits bound what a client may send and what the proxy keeps open.
type Limits struct {
	MaxHeaderBytes    int // request head size; beyond it, 431
	MaxHeaders        int // header fields in a request, at most 100 (the parser's own bound)
	MaxConnsPerServer int // open connections to one server; 0 = no limit
	MaxIdlePerServer  int // pooled idle connections to one server
	MaxClientConns    int // client connections served at once
	// MaxConcurrentStreams bounds the requests in flight on one HTTP/2
	// client connection (SETTINGS_MAX_CONCURRENT_STREAMS).
	MaxConcurrentStreams int
}

// Health holds the passive health-check settings.
type Health struct {
	Fails    int           // consecutive failures that mark a server down
	Cooldown time.Duration // how long it then stays down
}

// RouteTimeouts overrides the proxy's timeouts for one route.
type RouteTimeouts struct {
	Connect        time.Duration
	ResponseHeader time.Duration
}

// HealthCheck is an active health check of a route's servers.
type HealthCheck struct {
	Path     string
	Interval time.Duration
	Timeout  time.Duration
}

// Defaults of the proxy's settings.
const (
	DefaultInsertCookie = "l7lb"
	DefaultDrainTimeout = 30 * time.Second
	// DefaultMetricsMaxRoutes is metrics.max_routes's default.
	DefaultMetricsMaxRoutes = 1000
)

// DefaultTimeouts returns the proxy's timeouts with every default applied.
func DefaultTimeouts() Timeouts {
	return Timeouts{Connect: 5 * time.Second, ResponseHeader: 30 * time.Second, ReadHeader: 10 * time.Second, Idle: 60 * time.Second, BackendIdle: 90 * time.Second}
}

// DefaultLimits returns the proxy's limits with every default applied.
func DefaultLimits() Limits {
	return Limits{MaxHeaderBytes: 64 << 10, MaxHeaders: 100, MaxIdlePerServer: 256, MaxClientConns: 10000, MaxConcurrentStreams: 100}
}

// DecodeFile decodes a configuration file. With serve, it is read for the
// HTTP proxy: listen (or listeners) and servers are required and the sticky
// mode defaults to insert. Without, the proxy's keys are checked but play no part.
func DecodeFile(v *Value, serve bool) (*File, error) {
	var d decoder
	accessLog := DefaultAccessLog()
	f := &File{Timeouts: DefaultTimeouts(), Limits: DefaultLimits(), Health: Health{Fails: 3, Cooldown: 10 * time.Second}, DrainTimeout: DefaultDrainTimeout, Via: true, AccessLog: &accessLog,
		Metrics: Metrics{MaxRoutes: DefaultMetricsMaxRoutes}}
	var sticky *Value
	panicRouting := true
	c := d.config(v, func(key string, val *Value) {
		switch key {
		case "listen", "listeners":
			// decoded together below (listeners.go)
		case "admin":
			if a, ok := d.address(key, val); ok {
				// The admin API changes everything: no host means
				// loopback, not every address.
				if host, port, _ := net.SplitHostPort(a); host == "" {
					a = net.JoinHostPort("127.0.0.1", port)
				}
				f.Admin = a
			}
		case "admin_token":
			f.AdminToken, _ = d.nonEmpty(key, val)
		case "drain_timeout":
			f.DrainTimeout, _ = d.duration(key, val)
		case "servers":
			f.Servers = d.servers(key, val)
		case "timeouts":
			d.timeouts(key, val, &f.Timeouts)
		case "limits":
			d.limits(key, val, &f.Limits)
		case "health":
			d.health(key, val, &f.Health, &panicRouting)
		case "slow_start":
			f.SlowStart, _ = d.durationOrZero(key, val)
		case "outliers":
			f.Outliers = d.outliers(key, val)
		case "trusted_proxies":
			f.TrustedProxies = d.prefixes(key, val)
		case "via":
			if d.want(key, val, Bool) {
				f.Via = val.Bool
			}
		case "access_log":
			f.AccessLog = d.accessLog(key, val)
		case "tracing":
			f.Tracing = d.tracing(key, val)
		case "metrics":
			d.fields(key, val, map[string]func(string, *Value){
				"max_routes": d.intTo(&f.Metrics.MaxRoutes, 0, 1<<24),
			})
		case "fleet":
			f.Fleet = d.fleet(key, val)
		default:
			d.fail(key, val, "unknown field")
		}
	})
	// The top-level keys read by other come after routes are decoded
	// (any order in the file), so slow_start is given to routes here.
	slowStart, outliers := f.SlowStart, f.Outliers
	f.Config = *c
	f.SlowStart, f.Outliers, f.Panic = slowStart, outliers, panicRouting
	f.applySlowStart()
	d.decodeListeners(v, f, serve)
	if v.Kind == Map {
		sticky = v.Get("sticky")
		if f.Fleet != nil {
			d.checkFleetFile(v)
		} else if serve {
			if v.Get("servers") == nil {
				d.fail("servers", v, "missing")
			}
		}
	}
	if serve && (sticky == nil || sticky.Get("mode") == nil) {
		f.Sticky.Mode = ModeInsert
	}
	if f.Sticky.Mode == ModeInsert && (sticky == nil || sticky.Get("cookie") == nil) {
		f.Sticky.Cookie = DefaultInsertCookie
	}
	f.applyServerWeights()
	return f, d.errs.Err()
}

// applyServerWeights gives each server of a weighted route the weight the
// servers map sets for it, unless the route sets its own.
func (f *File) applyServerWeights() {
	weight := make(map[string]int, len(f.Servers))
	for _, s := range f.Servers {
		if s.Weight > 1 {
			weight[s.ID] = s.Weight
		}
	}
	if len(weight) == 0 {
		return
	}
	for i := range f.Routes {
		r := &f.Routes[i]
		if r.Balance == RoundRobin {
			continue
		}
		for _, s := range r.Servers {
			if _, set := r.Weights[s]; !set && weight[s] > 0 {
				if r.Weights == nil {
					r.Weights = map[string]int{}
				}
				r.Weights[s] = weight[s]
			}
		}
	}
}

// address decodes a listen address, host:port: the host an IP address, a
// DNS name, or empty for every address; the port a number from 1 to
// 65535 (no service names: a configuration means the same on every
// machine). It returns the address with the port in plain decimal.
func (d *decoder) address(path string, v *Value) (string, bool) {
	s, ok := d.nonEmpty(path, v)
	if !ok {
		return "", false
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		d.fail(path, v, "want host:port")
		return "", false
	}
	if port == "" || strings.Trim(port, "0123456789") != "" {
		d.fail(path, v, "want host:port with a numeric port")
		return "", false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		d.fail(path, v, "port must be from 1 to 65535")
		return "", false
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !dnsName(host) {
		d.fail(path, v, "invalid host")
		return "", false
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), true
}

// dnsName reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' and '_'.
func dnsName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return false
		}
	}
	return true
}

// takesAll reports whether a socket bound to the wildcard host w takes the
// port of host h too.
func takesAll(w, h string) bool {
	switch w {
	case "", "::":
		return true
	case "0.0.0.0":
		a, err := netip.ParseAddr(h)
		return err != nil || a.Unmap().Is4()
	}
	return false
}

// prefixes decodes a list of CIDR prefixes; a plain address stands for
// itself alone (/32, /128).
func (d *decoder) prefixes(path string, v *Value) []netip.Prefix {
	list, ok := d.strings(path, v)
	if !ok {
		return nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil && a.Zone() == "" {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || !p.IsValid() {
			d.fail(Index(path, i), v.List[i], "want an IP address or CIDR prefix such as 10.0.0.0/8, got "+strconv.Quote(s))
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// servers decodes the servers map: id → URL, or id → {url, weight, tls}.
func (d *decoder) servers(path string, v *Value) []Server {
	if !d.want(path, v, Map) {
		return nil
	}
	out := make([]Server, 0, len(v.Keys))
	for i, id := range v.Keys {
		val, p := v.Vals[i], Join(path, id)
		s := Server{ID: id, Weight: 1}
		var tlsVal *Value
		switch val.Kind {
		case String:
			s.URL = val.Str
		case Map:
			for j, key := range val.Keys {
				kp := Join(p, key)
				switch key {
				case "url":
					s.URL, _ = d.str(kp, val.Vals[j])
				case "weight":
					s.Weight, _ = d.integer(kp, val.Vals[j], 1, MaxWeight)
				case "tls":
					tlsVal = val.Vals[j]
					s.TLS = d.serverTLS(kp, tlsVal)
				default:
					d.fail(kp, val.Vals[j], "unknown field")
				}
			}
			if val.Get("url") == nil {
				d.fail(Join(p, "url"), val, "missing")
			}
		default:
			// Kept, so that the routes naming it are not told it is unknown.
			d.fail(p, val, "expected a URL or an object {url, weight, tls}")
		}
		if s.URL != "" {
			scheme, addr, err := serverAddr(s.URL)
			if err != "" {
				at := val
				if val.Kind == Map {
					at = val.Get("url")
				}
				d.fail(p, at, err)
			}
			s.Scheme, s.Addr = scheme, addr
			if tlsVal != nil && scheme != SchemeHTTPS && err == "" {
				d.fail(Join(p, "tls"), tlsVal, "only for an https:// server")
			}
		}
		out = append(out, s)
	}
	return out
}

// serverTLS decodes the tls block of a server.
func (d *decoder) serverTLS(path string, v *Value) *ServerTLS {
	t := &ServerTLS{}
	d.fields(path, v, map[string]func(string, *Value){
		"ca":          func(p string, val *Value) { t.CA, _ = d.nonEmpty(p, val) },
		"server_name": func(p string, val *Value) { t.ServerName, _ = d.nonEmpty(p, val) },
		"insecure_skip_verify": func(p string, val *Value) {
			if d.want(p, val, Bool) {
				t.InsecureSkipVerify = val.Bool
			}
		},
		"cert": func(p string, val *Value) { t.Cert, _ = d.nonEmpty(p, val) },
		"key":  func(p string, val *Value) { t.Key, _ = d.nonEmpty(p, val) },
	})
	if v.Kind == Map {
		switch cert, key := v.Get("cert"), v.Get("key"); {
		case cert != nil && key == nil:
			d.fail(Join(path, "key"), v, "missing (a client certificate needs its key)")
		case key != nil && cert == nil:
			d.fail(Join(path, "cert"), v, "missing (a key needs its client certificate)")
		}
	}
	return t
}

// serverAddr returns the scheme and host:port of a server URL, or what is
// wrong: http:// (HTTP/1.1, port 80 by default), https:// (TLS, port 443)
// or h2c:// (HTTP/2 over cleartext, port 80).
func serverAddr(raw string) (scheme, addr, problem string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", "", "not a URL"
	case u.Scheme != SchemeHTTP && u.Scheme != SchemeHTTPS && u.Scheme != SchemeH2C:
		return "", "", "want an http://, https:// or h2c:// URL"
	case u.Host == "" || u.User != nil:
		return "", "", "want " + u.Scheme + "://host:port"
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		return "", "", "a server URL has no path or query"
	}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == SchemeHTTPS {
			port = "443"
		}
		return u.Scheme, net.JoinHostPort(u.Hostname(), port), ""
	}
	return u.Scheme, u.Host, ""
}

func (d *decoder) duration(path string, v *Value) (time.Duration, bool) {
	var dur time.Duration
	switch v.Kind {
	case String:
		var err error
		if dur, err = time.ParseDuration(v.Str); err != nil {
			d.fail(path, v, "want a duration such as 5s or 250ms")
			return 0, false
		}
	case Number:
		secs, err := strconv.ParseFloat(v.Str, 64)
		if err != nil {
			d.fail(path, v, "want a duration such as 5s or 250ms")
			return 0, false
		}
		dur = time.Duration(secs * float64(time.Second))
	default:
		d.fail(path, v, "want a duration such as 5s or 250ms")
		return 0, false
	}
	if dur <= 0 {
		d.fail(path, v, "must be positive")
		return 0, false
	}
	return dur, true
}

// fields decodes the members of the object v with the decoders in set,
// reporting any other member.
func (d *decoder) fields(path string, v *Value, set map[string]func(p string, val *Value)) {
	if !d.want(path, v, Map) {
		return
	}
	for i, key := range v.Keys {
		p := Join(path, key)
		if fn, ok := set[key]; ok {
			fn(p, v.Vals[i])
		} else {
			d.fail(p, v.Vals[i], "unknown field")
		}
	}
}

// durationTo returns a field decoder storing a duration in *dst.
func (d *decoder) durationTo(dst *time.Duration) func(string, *Value) {
	return func(p string, v *Value) {
		if x, ok := d.duration(p, v); ok {
			*dst = x
		}
	}
}

// intTo returns a field decoder storing an integer from lo to hi in *dst.
func (d *decoder) intTo(dst *int, lo, hi int) func(string, *Value) {
	return func(p string, v *Value) {
		if x, ok := d.integer(p, v, lo, hi); ok {
			*dst = x
		}
	}
}

func (d *decoder) timeouts(path string, v *Value, t *Timeouts) {
	d.fields(path, v, map[string]func(string, *Value){
		"connect":         d.durationTo(&t.Connect),
		"response_header": d.durationTo(&t.ResponseHeader),
		"read_header":     d.durationTo(&t.ReadHeader),
		"idle":            d.durationTo(&t.Idle),
		"backend_idle":    d.durationTo(&t.BackendIdle),
	})
}

func (d *decoder) limits(path string, v *Value, l *Limits) {
	d.fields(path, v, map[string]func(string, *Value){
		"max_header_bytes":       d.intTo(&l.MaxHeaderBytes, 1024, 1<<20),
		"max_headers":            d.intTo(&l.MaxHeaders, 1, 100),
		"max_conns_per_server":   d.intTo(&l.MaxConnsPerServer, 0, 1<<20),
		"max_idle_per_server":    d.intTo(&l.MaxIdlePerServer, 0, 1<<16),
		"max_client_conns":       d.intTo(&l.MaxClientConns, 1, 1<<22),
		"max_concurrent_streams": d.intTo(&l.MaxConcurrentStreams, 1, 1<<16),
	})
}

func (d *decoder) health(path string, v *Value, h *Health, panicRouting *bool) {
	d.fields(path, v, map[string]func(string, *Value){
		"fails":    d.intTo(&h.Fails, 1, 1000),
		"cooldown": d.durationTo(&h.Cooldown),
		"panic": func(p string, val *Value) {
			if d.want(p, val, Bool) {
				*panicRouting = val.Bool
			}
		},
	})
}

func (d *decoder) routeTimeouts(path string, v *Value) *RouteTimeouts {
	t := &RouteTimeouts{}
	d.fields(path, v, map[string]func(string, *Value){
		"connect":         d.durationTo(&t.Connect),
		"response_header": d.durationTo(&t.ResponseHeader),
	})
	return t
}

func (d *decoder) healthCheck(path string, v *Value) *HealthCheck {
	hc := &HealthCheck{Path: "/", Interval: 5 * time.Second, Timeout: 2 * time.Second}
	d.fields(path, v, map[string]func(string, *Value){
		"path": func(p string, val *Value) {
			if s, ok := d.nonEmpty(p, val); ok {
				if s[0] != '/' {
					d.fail(p, val, "must start with /")
				}
				hc.Path = s
			}
		},
		"interval": d.durationTo(&hc.Interval),
		"timeout":  d.durationTo(&hc.Timeout),
	})
	return hc
}
