// Package config holds l7lb's one configuration schema: the routes, default
// servers and sticky settings shared by the Maelstrom node and the HTTP proxy.
// It decodes JSON and YAML into the schema, checks each field's shape and
// reports every problem with its field path and source line. Whether a
// pattern compiles or a server exists is the engine's check, made when it
// compiles a configuration.
package config

import (
	"strconv"
	"strings"
	"time"
)

// Balance policies.
const (
	RoundRobin         = "round_robin"
	WeightedRoundRobin = "weighted_round_robin"
	Hash               = "hash"
	LeastRequest       = "least_request"
	PeakEWMA           = "peak_ewma"
)

// Sticky modes. Insert is the HTTP proxy's signed-cookie mode.
const (
	ModeAuto   = "auto"
	ModeAlways = "always"
	ModeOff    = "off"
	ModeInsert = "insert"
)

// Defaults.
const (
	DefaultPath         = "/*"
	DefaultCookie       = "session_id"
	DefaultServerCookie = "backend"
	DefaultMaxSessions  = 1_000_000
	MaxWeight           = 1000
)

// Config is a whole routing configuration.
type Config struct {
	Routes []Route
	// DefaultServers serve requests no route matches. nil means "all
	// servers", following the known server list; an empty non-nil list
	// means unmatched requests get 404.
	DefaultServers []string
	Sticky         Sticky

	// Read by the HTTP proxy only.
	SlowStart time.Duration // the routes' default slow start (the default servers' own); 0 = none
	Outliers  *Outliers     // outlier detection; nil = off
	// Panic (health.panic): a pool whose servers the health checks all
	// hold down ignores their verdicts and is tried whole, rather than
	// answering 503 (panic routing, as nginx and Envoy do).
	Panic bool
}

// Route is one routing rule: conditions, a server pool and what to do with
// the path.
type Route struct {
	Name    string
	Hosts   []string
	Path    string
	Methods []string
	Headers []Header // sorted by name
	Servers []string
	Balance string
	Weights map[string]int
	HashOn  string
	Rewrite *Rewrite
	Sticky  *bool

	// The options of the load-aware modes, set (defaults applied) exactly
	// when Balance is theirs; HashBalanceFactor only with Hash.
	LeastRequest      *LeastRequestOptions
	PeakEWMA          *PeakEWMAOptions
	HashBalanceFactor int // bounded loads, in percent of the average (125 = 1.25); 0 = off

	// Read by the HTTP proxy only.
	HostRewrite string         // the Host header sent to servers; "" keeps the client's
	Timeouts    *RouteTimeouts // overrides of the proxy's timeouts
	HealthCheck *HealthCheck   // active health check of the route's servers
	// SlowStart is the window over which a server of this route that
	// comes back ramps up to its full share; 0 = none. A configuration
	// file fills it from the top-level slow_start when the route sets none.
	SlowStart    time.Duration
	SlowStartSet bool // the route set slow_start itself
}

// Header is a header condition: the request must carry Name with exactly Value.
type Header struct{ Name, Value string }

// Rewrite holds exactly one of its rules.
type Rewrite struct {
	StripPrefix   *string
	ReplacePrefix *PrefixPair
	Regex         *RegexRule
	ReplacePath   *string
}

// PrefixPair is a replace_prefix rule.
type PrefixPair struct{ From, To string }

// RegexRule is a regex rewrite rule.
type RegexRule struct{ Pattern, Replacement string }

// Sticky holds the global session-stickiness settings.
type Sticky struct {
	Cookie       string
	ServerCookie string
	Mode         string
	MaxSessions  int

	// Read by the HTTP proxy only.
	Secrets []string      // sign the proxy's cookies: the first signs, all verify; none = from L7LB_STICKY_SECRET or generated
	Secure  Secure        // when to add Secure to the cookies the proxy sets
	MaxAge  time.Duration // add Max-Age; 0 = a session cookie
}

// Secure says when the proxy adds the Secure attribute to the cookies it
// sets: `sticky.secure: auto` (the default), `true` or `false`.
type Secure uint8

const (
	SecureAuto   Secure = iota // on cookies set in responses over TLS
	SecureAlways               // on every cookie, over TLS or not
	SecureNever                // on none
)

// DefaultSticky returns the sticky settings with every default applied.
func DefaultSticky() Sticky {
	return Sticky{Cookie: DefaultCookie, ServerCookie: DefaultServerCookie, Mode: ModeAuto, MaxSessions: DefaultMaxSessions}
}

// FieldError is a problem with one field of a configuration.
type FieldError struct {
	Path string // e.g. "routes[1].rewrite.regex.pattern"; "" for the document itself
	Line int    // 1-based source line, 0 when unknown
	Msg  string
	// File names the document of a fleet instance's configuration the
	// field is in when its path does not tell (see LoadFleet); "" else.
	File string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errors is every problem found in one configuration, in document order.
type Errors []*FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Join returns the field path of a member of the object at path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index returns the field path of element i of the list at path.
func Index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// validMode reports whether mode is a sticky mode.
func validMode(mode string) bool {
	switch mode {
	case ModeAuto, ModeAlways, ModeOff, ModeInsert:
		return true
	}
	return false
}
