// Package router compiles the match conditions of routes (hosts, path
// pattern, methods, headers) into a Table and finds the route a request goes
// to, as docs/protocol.md ("Routes") defines it.
//
// Among the routes whose conditions all match, the winner is decided, in
// this order, by
//
//  1. the host entry that matched: exact, then wildcard with the longer
//     suffix, then none (a route without hosts);
//  2. the path pattern: exact, then the longer literal prefix (the bytes
//     before the first *; a plain prefix is literal throughout), then regex;
//  3. the number of conditions: a methods list counts one, each header one;
//  4. the position in the spec slice, earlier first.
//
// Compile arranges the routes so that Match visits them in that order and
// stops at the first one that matches: routes are grouped by host key (an
// exact host, a wildcard suffix, or none) and, within a group, hang off a
// radix tree of literal path prefixes. A lookup costs a map lookup per
// candidate host key, one walk down a tree along the path, and a check of
// the routes whose literal prefix the path has, in order, until one matches;
// the other routes are never looked at. It allocates nothing.
package router

import (
	"slices"
	"strconv"
	"strings"
)

// Header is a header condition: the request must carry a header Name (in any
// case) one of whose values is exactly Value.
type Header struct{ Name, Value string }

// Spec is one route's match conditions, as configured.
type Spec struct {
	// Hosts are exact host names ("shop.example.com") or wildcards
	// ("*.example.com": one or more labels before ".example.com"). They are
	// compared as request hosts are normalized: ASCII letters in lower case,
	// without trailing dots; a port is an error. Empty means any host.
	Hosts []string
	// Path is a path pattern (see docs/protocol.md); "" means "/*". The
	// literal parts must be in normalized form, or they could never match.
	Path string
	// Methods, when not empty, lists the accepted methods, compared
	// case-sensitively.
	Methods []string
	// Headers must all be present with the given values.
	Headers []Header
}

// Request is what matching looks at.
type Request struct {
	// Host is already normalized: lower case, no port, no trailing dot; ""
	// when the request has none.
	Host string
	// Path is the normalized path, without the query.
	Path string
	// Method is the request method.
	Method string
	// Headers answers header conditions; nil means the request has none.
	Headers HeaderLookup
}

// HeaderLookup gives access to a request's headers.
type HeaderLookup interface {
	// HasHeader reports whether any value of the header name equals value.
	// The implementation compares name case-insensitively; Match always
	// passes it in lower case.
	HasHeader(name, value string) bool
}

// SpecError reports an invalid Spec.
type SpecError struct {
	Index int    // index of the spec in the slice given to Compile
	Field string // "path", "hosts[1]", "methods[0]", "headers.X-Env"
	Msg   string // what is wrong, e.g. "must start with / or ~"
}

func (e *SpecError) Error() string {
	return "router: spec " + strconv.Itoa(e.Index) + ": " + e.Field + ": " + e.Msg
}

// Table is a compiled set of routes. It is immutable, and safe for
// concurrent use.
type Table struct {
	exact map[string]*group // by host
	wild  map[string]*group // by suffix with its leading dot: ".example.com"
	// wildLens holds the lengths of the keys of wild, so that Match skips
	// the map for suffixes of other lengths.
	wildLens lengthSet
	any      *group // routes without hosts; nil when there are none
	headers  bool   // some route has header conditions
}

// Compile validates specs and compiles them into a Table. The error, if any,
// is a *SpecError about the first invalid field of the first invalid spec;
// its Msg is one of
//
//	hosts[i]      must not be empty
//	hosts[i]      wildcard only as the first label (*.example.com)
//	hosts[i]      invalid host
//	hosts[i]      must not have a port
//	path          must start with / or ~
//	path          ** is not supported
//	path          not a normalized path
//	path          bad regex: <the regexp package's error>
//	methods[i]    invalid method
//	headers.NAME  invalid header name
//
// An invalid host has an empty label or a byte no host has (a control byte,
// space, "/", "\\", "?", "#" or "@"). Methods and header names must be HTTP
// tokens. A path pattern is not normalized when a literal part of it could not
// appear in a normalized path: an empty segment but the last ("//"), a "."
// or ".." segment, a control byte, space, "?" or "#", or a percent-escape
// that normalization would rewrite (lower-case hex, an unreserved byte) or
// reject.
func Compile(specs []Spec) (*Table, error) {
	t := &Table{exact: map[string]*group{}, wild: map[string]*group{}}
	routes := make([]route, len(specs))
	for i := range specs {
		s := &specs[i]
		r := &routes[i]
		r.index = i
		keys, err := r.compile(s)
		if err != nil {
			err.Index = i
			return nil, err
		}
		t.headers = t.headers || len(r.headers) > 0
		if len(keys) == 0 {
			if t.any == nil {
				t.any = &group{}
			}
			t.any.add(r)
		}
		for _, k := range keys {
			m := t.exact
			if k.wild {
				m = t.wild
				t.wildLens.add(len(k.key))
			}
			g := m[k.key]
			if g == nil {
				g = &group{}
				m[k.key] = g
			}
			g.add(r)
		}
	}
	for _, g := range t.exact {
		g.finish()
	}
	for _, g := range t.wild {
		g.finish()
	}
	if t.any != nil {
		t.any.finish()
	}
	return t, nil
}

// Match returns the index, in the slice given to Compile, of the route r
// goes to, or -1 when no route matches. A nil Table matches nothing.
func (t *Table) Match(r *Request) int {
	if t == nil {
		return -1
	}
	// Most requests carry no host, and no key is empty: a map lookup
	// (hashing the host) that cannot hit is not worth its cost.
	if r.Host == "" {
		return t.any.match(r)
	}
	if len(t.exact) > 0 {
		if g := t.exact[r.Host]; g != nil {
			if i := g.match(r); i >= 0 {
				return i
			}
		}
	}
	if len(t.wild) > 0 {
		// Suffixes from the longest down, each starting at a dot with at
		// least one byte before it: "*.example.com" never matches
		// "example.com".
		h := r.Host
		for i := 1; i < len(h); i++ {
			if h[i] != '.' || !t.wildLens.has(len(h)-i) {
				continue
			}
			if g := t.wild[h[i:]]; g != nil {
				if idx := g.match(r); idx >= 0 {
					return idx
				}
			}
		}
	}
	return t.any.match(r)
}

// UsesHeaders reports whether Match may look at a request's Headers: when it
// does not, a caller can leave them nil and spare itself building them.
func (t *Table) UsesHeaders() bool { return t != nil && t.headers }

// lengthSet is a set of lengths below 256; it claims to hold every longer
// one (host names are at most 253 bytes long).
type lengthSet [4]uint64

func (s *lengthSet) add(n int) {
	if n < 256 {
		s[n/64] |= 1 << (n % 64)
	}
}

func (s *lengthSet) has(n int) bool {
	return n >= 256 || s[n/64]&(1<<(n%64)) != 0
}

// route is a compiled Spec.
type route struct {
	index   int
	conds   int // 1 for a methods list, plus 1 per header
	path    pathPattern
	methods []string
	headers []Header // names in lower case
}

// hostKey is where a route is indexed for one of its hosts.
type hostKey struct {
	key  string
	wild bool
}

// compile fills r from s and returns the host keys r is indexed under. The
// error has every field but Index set.
func (r *route) compile(s *Spec) ([]hostKey, *SpecError) {
	var keys []hostKey
	for i, h := range s.Hosts {
		k, msg := parseHost(h)
		if msg != "" {
			return nil, &SpecError{Field: "hosts[" + strconv.Itoa(i) + "]", Msg: msg}
		}
		// A host listed twice would put the route twice in one group.
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	p, msg := parsePath(s.Path)
	if msg != "" {
		return nil, &SpecError{Field: "path", Msg: msg}
	}
	r.path = p
	for i, m := range s.Methods {
		if !isToken(m) {
			return nil, &SpecError{Field: "methods[" + strconv.Itoa(i) + "]", Msg: "invalid method"}
		}
	}
	if len(s.Methods) > 0 {
		// Cloned so that a caller reusing its slice cannot change the table.
		r.methods = slices.Clone(s.Methods)
		r.conds++
	}
	for _, h := range s.Headers {
		if !isToken(h.Name) {
			return nil, &SpecError{Field: "headers." + h.Name, Msg: "invalid header name"}
		}
		r.headers = append(r.headers, Header{Name: lowerASCII(h.Name), Value: h.Value})
	}
	r.conds += len(r.headers)
	return keys, nil
}

// accepts reports whether the method and header conditions of r hold for
// req; the host and path have been checked already. Most routes have no such
// conditions: that test is kept small enough to be inlined.
func (r *route) accepts(req *Request) bool {
	return r.conds == 0 || r.acceptsConds(req)
}

func (r *route) acceptsConds(req *Request) bool {
	if len(r.methods) > 0 && !slices.Contains(r.methods, req.Method) {
		return false
	}
	for _, h := range r.headers {
		if req.Headers == nil || !req.Headers.HasHeader(h.Name, h.Value) {
			return false
		}
	}
	return true
}

// group holds the routes indexed under one host key, arranged so that the
// first route met that matches is the one precedence picks.
type group struct {
	tree  node     // the root spells ""
	regex []*route // regex paths rank last
}

// node is a node of a radix tree of literal path prefixes.
type node struct {
	label string // the bytes on the edge from the parent
	depth int    // the length of the string this node spells from the root
	keys  string // the first byte of each child's label, parallel to kids
	kids  []*node
	// whole holds the routes that match when the path is exactly this
	// node's string: exact paths, then segment prefixes ("/api/*" at
	// "/api"). Both rank above every route in the prefix lists the path
	// meets: a segment prefix ranks by its literal prefix, "/api/", one
	// byte longer than the path.
	whole []*route
	// prefix holds the routes whose literal prefix is this node's string.
	prefix []*route
	// up is the nearest ancestor with prefix routes: where a lookup goes
	// on, to shorter literal prefixes, when none here matches.
	up *node
}

// kid returns the child of n whose label starts with c, or nil.
func (n *node) kid(c byte) *node {
	// Nodes have few children; a plain loop beats a call to IndexByte.
	for i := 0; i < len(n.keys); i++ {
		if n.keys[i] == c {
			return n.kids[i]
		}
	}
	return nil
}

// add indexes r in g.
func (g *group) add(r *route) {
	p := &r.path
	switch p.kind {
	case pathExact:
		n := g.tree.insert(p.lit)
		n.whole = append(n.whole, r)
	case pathSegment:
		n := g.tree.insert(p.lit[:len(p.lit)-1])
		n.whole = append(n.whole, r)
		n = g.tree.insert(p.lit)
		n.prefix = append(n.prefix, r)
	case pathPrefix:
		n := g.tree.insert(p.lit)
		n.prefix = append(n.prefix, r)
	case pathRegex:
		g.regex = append(g.regex, r)
	}
}

// finish puts every list of g in precedence order and links the tree.
func (g *group) finish() {
	g.tree.finish(nil)
	slices.SortFunc(g.regex, byPrecedence)
}

// byPrecedence orders routes that rank the same by host and literal prefix:
// exact paths first, then more conditions, then the earlier route.
func byPrecedence(a, b *route) int {
	aExact, bExact := a.path.kind == pathExact, b.path.kind == pathExact
	switch {
	case aExact != bExact:
		if aExact {
			return -1
		}
		return 1
	case a.conds != b.conds:
		return b.conds - a.conds
	}
	return a.index - b.index
}

// match returns the index of the first route of g that matches r, or -1.
func (g *group) match(r *Request) int {
	if g == nil {
		return -1
	}
	path := r.Path
	n, deepest := &g.tree, (*node)(nil)
	for {
		if len(n.prefix) > 0 {
			deepest = n
		}
		if n.depth == len(path) {
			for _, rt := range n.whole {
				if rt.accepts(r) {
					return rt.index
				}
			}
			break
		}
		kid := n.kid(path[n.depth])
		if kid == nil {
			break
		}
		if !strings.HasPrefix(path[n.depth:], kid.label) {
			break
		}
		n = kid
	}
	for n := deepest; n != nil; n = n.up {
		rest := path[n.depth:]
		for _, rt := range n.prefix {
			if rt.path.matchRest(rest) && rt.accepts(r) {
				return rt.index
			}
		}
	}
	for _, rt := range g.regex {
		if strings.HasPrefix(path, rt.path.lit) && rt.path.matchRegex(path) && rt.accepts(r) {
			return rt.index
		}
	}
	return -1
}

// insert returns the node spelling n's string followed by s, creating it,
// and splitting an edge, as needed. Nodes returned earlier stay valid: a split
// puts a new node above an existing one and leaves the string that one spells
// unchanged.
func (n *node) insert(s string) *node {
	for s != "" {
		i := strings.IndexByte(n.keys, s[0])
		if i < 0 {
			kid := &node{label: s, depth: n.depth + len(s)}
			n.keys += s[:1]
			n.kids = append(n.kids, kid)
			return kid
		}
		kid := n.kids[i]
		l := commonPrefix(kid.label, s)
		if l < len(kid.label) {
			mid := &node{
				label: kid.label[:l],
				depth: n.depth + l,
				keys:  kid.label[l : l+1],
				kids:  []*node{kid},
			}
			kid.label = kid.label[l:]
			n.kids[i] = mid
			kid = mid
		}
		n, s = kid, s[l:]
	}
	return n
}

// finish sorts the route lists of n and its descendants into precedence
// order and sets their up links; up is the nearest ancestor of n with prefix
// routes.
func (n *node) finish(up *node) {
	n.up = up
	slices.SortFunc(n.whole, byPrecedence)
	slices.SortFunc(n.prefix, byPrecedence)
	if len(n.prefix) > 0 {
		up = n
	}
	for _, kid := range n.kids {
		kid.finish(up)
	}
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
