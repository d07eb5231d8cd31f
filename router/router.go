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
// trie of path segments by their literal prefix (see group). A lookup costs
// one probe of a table-wide hash table (see kidTable) per candidate host key
// and per segment of the path on the way down the trie, and a
// check of the routes whose literal prefix the path has, in order, until
// one matches; the other routes are never
// looked at. Regex routes are tried only on the paths that have their
// regexp's literal prefix, in precedence order. Compile costs about the
// total length of the patterns, and a sort of each list; a lookup does not
// depend on the number of routes, but on the path and host, and on the
// regex routes that share the path's prefix. It allocates nothing. A caller
// holding several requests can have the first probes of each loaded ahead
// of its lookup (Table.Prefetch).
package router

import (
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"l7lb/prefetch"
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
	// exactLens and wildLens hold the lengths of the exact hosts and of
	// the wildcard suffixes, so that Match probes kids only for a host or
	// suffix of such a length.
	exactLens, wildLens lengthSet
	any                 *group // routes without hosts; nil when there are none
	headers             bool   // some route has header conditions
	// kids holds the path segments of every group's trie and, under the
	// parents exactHosts and wildHosts, the roots of the groups by host:
	// an exact host, or a wildcard's suffix with its leading dot
	// (".example.com").
	kids kidTable
}

// exactHosts and wildHosts are the kidTable parents of the groups' roots:
// no node has their ids, as a Table cannot hold 2^31 nodes.
const (
	exactHosts = leaf - 1 - iota
	wildHosts
)

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
	t := &Table{}
	groups := map[hostKey]*group{}
	routes := make([]route, len(specs))
	a := arena{kids: &t.kids}
	t.kids.seed = maphash.MakeSeed()
	// Most routes add a node of their own (their host's path, their
	// distinct segment), and each host a key: room for one child per route
	// and per host spares the table most of its doublings.
	children := len(specs)
	for i := range specs {
		children += len(specs[i].Hosts)
	}
	t.kids.reserve(children)
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
				t.any = a.group()
			}
			t.any.add(r, &a)
		}
		for _, k := range keys {
			g := groups[k]
			if g == nil {
				g = a.group()
				groups[k] = g
				parent := uint32(exactHosts)
				if k.wild {
					parent = wildHosts
					t.wildLens.add(len(k.key))
				} else {
					t.exactLens.add(len(k.key))
				}
				g.root.hash = t.kids.hash(uint64(parent), k.key)
				t.kids.add(g.root.hash, parent, k.key, &g.root)
			}
			g.add(r, &a)
		}
	}
	for _, g := range groups {
		g.finish()
	}
	if t.any != nil {
		t.any.finish()
	}
	a.finish()
	return t, nil
}

// Match returns the index, in the slice given to Compile, of the route r
// goes to, or -1 when no route matches. A nil Table matches nothing.
func (t *Table) Match(r *Request) int {
	if t == nil {
		return -1
	}
	// Most requests carry no host, and no host key is empty.
	if r.Host == "" {
		return t.matchAny(r)
	}
	// A host's slot holds what its root holds for a lookup: the root is
	// loaded only when the walk needs more than that.
	h := r.Host
	if t.exactLens.has(len(h)) {
		hh := t.kids.hash(exactHosts, h)
		if s := t.kids.find(hh, exactHosts, h); s != nil {
			if i := t.match(s.child, s.id, s.wholeFirst, s.prefixFirst, hh, r); i >= 0 {
				return i
			}
		}
	}
	// Suffixes from the longest down, each starting at a dot with at least
	// one byte before it: "*.example.com" never matches "example.com".
	for i := 1; i < len(h); i++ {
		if h[i] != '.' || !t.wildLens.has(len(h)-i) {
			continue
		}
		hh := t.kids.hash(wildHosts, h[i:])
		if s := t.kids.find(hh, wildHosts, h[i:]); s != nil {
			if idx := t.match(s.child, s.id, s.wholeFirst, s.prefixFirst, hh, r); idx >= 0 {
				return idx
			}
		}
	}
	return t.matchAny(r)
}

// Prefetch starts loading the slots a Match of a request with this host
// and path (normalized as in a Request) would probe first, and returns
// without waiting for them: those of its host keys, and of the first
// segments of the path under each. Their addresses follow from the host and
// path alone (see kidTable.hash), so that a frontend holding several
// requests can overlap their cache misses. It loads nothing but the Table
// and the root of the routes without hosts, which stay cached; a nil Table
// prefetches nothing. The slots of the routes without hosts are prefetched
// only for a request whose host has no key of its length: most requests
// with such a host end under it.
func (t *Table) Prefetch(host, path string) {
	if t == nil || t.kids.n == 0 {
		return
	}
	keys := false
	if host != "" {
		if t.exactLens.has(len(host)) {
			t.kids.prefetchKey(t.kids.hash(exactHosts, host), path)
			keys = true
		}
		for i := 1; i < len(host); i++ {
			if host[i] == '.' && t.wildLens.has(len(host)-i) {
				t.kids.prefetchKey(t.kids.hash(wildHosts, host[i:]), path)
				keys = true
			}
		}
	}
	if t.any != nil && !keys {
		t.kids.prefetchWalk(t.any.root.hash, path)
	}
}

// prefetchSegments is how many segments of a path Prefetch covers under
// each host key: most routes' literal prefixes end within the first two,
// where a walk stops at a leaf; deeper slots would be loaded for nothing.
const prefetchSegments = 2

// prefetchKey prefetches the slot of a host key whose hash is h, and
// those a walk from its root takes for the first segments of path.
func (t *kidTable) prefetchKey(h uint64, path string) {
	prefetch.Line(unsafe.Pointer(&t.slots[h&uint64(len(t.slots)-1)]))
	t.prefetchWalk(h, path)
}

// prefetchWalk prefetches the slots a walk from the node whose hash is h
// takes for the first segments of path.
func (t *kidTable) prefetchWalk(h uint64, path string) {
	mask := uint64(len(t.slots) - 1)
	for range prefetchSegments {
		if path == "" || path[0] != '/' {
			return
		}
		rest := path[1:]
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		h = t.hash(h, rest[:end])
		prefetch.Line(unsafe.Pointer(&t.slots[h&mask]))
		path = rest[end:]
	}
}

// matchAny matches r against the routes without hosts.
func (t *Table) matchAny(r *Request) int {
	if t.any == nil {
		return -1
	}
	n := &t.any.root
	return t.match(n, n.id, n.wholeFirst, n.prefixFirst, n.hash, r)
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

// group holds the routes indexed under one host key, in a trie of path
// segments arranged so that a lookup meets the candidate routes in
// precedence order and stops at the first one that matches.
//
// A node spells a path prefix that ends before a "/" (the root spells "",
// its child "api" spells "/api"); a child is found by the whole next
// segment, in the Table's kidTable. A literal prefix lit (the
// bytes before the first * of a pattern, or a prefix pattern ending in /)
// hangs off the node spelling lit up to its last "/", with the part after
// that "/" (within one segment, maybe empty): "/api/v" is part "v" of
// "/api", "/static/" part "" of "/static". A path can have the literal
// prefixes of one node only when it walks through that node, and those
// of a deeper node are always longer: so the prefix candidates are met
// from the deepest node the walk reaches up to the root, and within a
// node from the longest part down.
type group struct {
	// root comes first: its fields a lookup reads share the group's cache
	// line.
	root node
	// regex holds every regex route of the group, in precedence order:
	// where a lookup goes when its path meets the regex lists of more
	// nodes than it merges at once (maxRegexLists).
	regex []entry
	// loose holds the regex routes whose literal prefix does not start
	// with "/" (most often none at all), in precedence order, each with
	// its whole literal prefix as its part: they are candidates for
	// every path that has that prefix.
	loose []entry
}

// entry is a route in one of the lists of a node.
type entry struct {
	// part is, in the prefix and regex lists, the rest of the literal
	// prefix after the node's string and "/".
	part  string
	rt    *route
	index int
	// plain says that the route matches once its path is found: no
	// method or header condition, no glob after its literal prefix.
	plain bool
}

// node is a node of the segment trie of a group. Its children are found
// through the Table's kidTable, by the node's id and their segment.
//
// The fields a lookup reads on every node it passes come first, so that
// they share the node's first cache line.
type node struct {
	depth int    // the length of the path prefix this node spells
	id    uint32 // the node's key in the kidTable, with leaf when it has no children
	// up is the nearest node on the way to the root, this one included,
	// with prefix entries; next, in such a node, the nearest one above it.
	// rup and rnext are the same for regex entries.
	up, next *node
	// wholeFirst is 1 + the index of the first route of whole when that
	// route matches once the path is found (plain), and 0 otherwise;
	// prefixFirst the same for the first prefix entry when its part is
	// also empty. They spare the common lookup the load of a list.
	wholeFirst, prefixFirst int32
	// whole holds the routes that match when the path is exactly this
	// node's string: exact paths, then segment prefixes ("/api/*" at
	// "/api"), in precedence order. They rank above every prefix
	// candidate: a segment prefix ranks by its literal prefix, "/api/",
	// one byte longer than the path.
	whole []entry
	// prefix holds the prefix and segment patterns whose literal prefix
	// hangs off this node, the longest part first, then in precedence
	// order; regex the regex routes whose regexp's literal prefix does, in
	// precedence order.
	prefix, regex []entry
	rup, rnext    *node
	parent        *node  // nil at a root; only Compile reads it
	group         *group // at a root, its group; nil elsewhere
	hash          uint64 // see kidTable.hash; only Compile reads it
}

// arena hands out the nodes of a Table from shared blocks: with many routes
// a lookup's nodes are then packed together rather than scattered among the
// other allocations of the compile, and building them costs one allocation
// per block instead of one per node.
type arena struct {
	free []node
	all  []*node // by id, so parents come before their children
	kids *kidTable
}

// arenaBlock is the number of nodes an arena allocates at once: what a small
// table leaves unused stays small.
const arenaBlock = 64

func (a *arena) node(parent *node, depth int) *node {
	if len(a.free) == 0 {
		a.free = make([]node, arenaBlock)
	}
	n := &a.free[0]
	a.free = a.free[1:]
	a.add(n, parent, depth)
	return n
}

// group returns a new group, its root numbered among the arena's nodes.
func (a *arena) group() *group {
	g := &group{}
	a.add(&g.root, nil, 0)
	g.root.group = g
	return g
}

// add gives n, a root or a new node, its id, and puts it in all.
func (a *arena) add(n, parent *node, depth int) {
	n.depth, n.parent, n.id = depth, parent, uint32(len(a.all))|leaf
	a.all = append(a.all, n)
}

// finish sorts the lists of every node and links them, parents first, then
// copies what a lookup ending at a node reads into the node's slot.
func (a *arena) finish() {
	for _, n := range a.all {
		var up, rup *node
		if n.parent != nil {
			up, rup = n.parent.up, n.parent.rup
		}
		n.finish(up, rup)
	}
	a.kids.finish()
}

// kidTable finds the child of a node by its segment, for every node of a
// Table, and a group's root by its host (see exactHosts): one
// open-addressing table (linear probing) instead of a map per node, so
// that with many routes a step down a trie costs one probe, most often one
// cache line, rather than loads of the node, its map and the segment's
// bytes. It is built by Compile only and never shrinks: its size follows
// the number of nodes.
type kidTable struct {
	slots []kidSlot // a power of two long, at most 3/4 full; a free slot has no child
	n     int       // slots in use
	tails []byte    // the bytes of long segments after their first kidInline
	seed  maphash.Seed
}

// kidInline is how many bytes of its segment a slot holds: most segments
// fit, and a slot fills one 64-byte cache line.
const kidInline = 28

// leaf, in a node's id, says that the node has no children: a walk stops
// there without a probe, which would most often miss the cache.
const leaf = 1 << 31

// kidSlot is the child node of parent for one segment.
type kidSlot struct {
	hash   uint32 // the low bits of the key's hash: to grow, and to reject
	parent uint32 // the parent node's id
	segLen uint32
	tail   uint32 // where in tails the segment's bytes after kidInline are
	id     uint32 // the child's id: the next step needs no load of the child
	// The child's own, so that a lookup ending at it loads no node.
	wholeFirst, prefixFirst int32
	seg                     [kidInline]byte
	child                   *node
}

// hash returns the hash of the child for seg of the node whose hash is
// parent (the root of the routes without hosts has 0; a host's root, the
// hash of its host under exactHosts or wildHosts). A node's hash follows
// from the request's host and path alone, not from its parent's id: a
// walk's probes do not wait on one another's loads, and the processor
// fetches their slots together.
func (t *kidTable) hash(parent uint64, seg string) uint64 {
	return maphash.String(t.seed, seg) ^ parent*0x9e3779b97f4a7c15
}

// find returns the slot of the child of node parent for seg, whose hash
// is h, or nil.
func (t *kidTable) find(h uint64, parent uint32, seg string) *kidSlot {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.child == nil {
			return nil
		}
		if s.hash == uint32(h) && s.parent == parent && int(s.segLen) == len(seg) && s.is(seg, t.tails) {
			return s
		}
	}
}

// is reports whether the segment of s is seg, of the same length.
func (s *kidSlot) is(seg string, tails []byte) bool {
	if len(seg) <= kidInline {
		return string(s.seg[:len(seg)]) == seg
	}
	return string(s.seg[:]) == seg[:kidInline] && string(tails[s.tail:s.tail+s.segLen-kidInline]) == seg[kidInline:]
}

// add records child, whose hash is h, as the child of node parent for
// seg, which has none.
func (t *kidTable) add(h uint64, parent uint32, seg string, child *node) {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow()
	}
	s := t.freeSlot(h)
	s.hash, s.parent, s.segLen, s.child = uint32(h), parent, uint32(len(seg)), child
	copy(s.seg[:], seg)
	if len(seg) > kidInline {
		s.tail = uint32(len(t.tails))
		t.tails = append(t.tails, seg[kidInline:]...)
	}
	t.n++
}

// freeSlot returns the first free slot from where hash h points.
func (t *kidTable) freeSlot(h uint64) *kidSlot {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if t.slots[i].child == nil {
			return &t.slots[i]
		}
	}
}

// reserve sizes an empty table for n children, past the first size that
// grow makes: it does not grow until it has more.
func (t *kidTable) reserve(n int) {
	size := 64
	for 3*size < 4*n {
		size *= 2
	}
	if size > 64 {
		t.slots = make([]kidSlot, size)
	}
}

// grow doubles the slots: with the table at most 3/4 full, a probe most
// often ends in its first slot or the next, the next cache line; fuller
// tables are a quarter of the time half the memory (at 100,000 routes of
// issue 13's mix, 16 MiB instead of 32) for no lookup time measured.
func (t *kidTable) grow() {
	old := t.slots
	t.slots = make([]kidSlot, max(2*len(old), 64))
	for i := range old {
		if old[i].child != nil {
			*t.freeSlot(uint64(old[i].hash)) = old[i]
		}
	}
}

// finish copies into each slot its child's id and first routes, now final.
func (t *kidTable) finish() {
	for i := range t.slots {
		if s := &t.slots[i]; s.child != nil {
			s.id, s.wholeFirst, s.prefixFirst = s.child.id, s.child.wholeFirst, s.child.prefixFirst
		}
	}
}

// maxRegexLists is the most regex lists a lookup merges: a path that walks
// through more nodes with regex routes tries the group's whole regex list.
const maxRegexLists = 8

// addKid returns the child of n for seg, creating it as needed.
func (n *node) addKid(seg string, a *arena) *node {
	h := a.kids.hash(n.hash, seg)
	if s := a.kids.find(h, n.id, seg); s != nil {
		return s.child
	}
	n.id &^= leaf
	k := a.node(n, n.depth+1+len(seg))
	k.hash = h
	a.kids.add(h, n.id, seg, k)
	return k
}

// insert returns the node spelling s, "" or a path prefix ending before a
// "/", creating the nodes on the way.
func (n *node) insert(s string, a *arena) *node {
	for s != "" {
		s = s[1:] // the "/"
		end := strings.IndexByte(s, '/')
		if end < 0 {
			end = len(s)
		}
		n, s = n.addKid(s[:end], a), s[end:]
	}
	return n
}

// hang returns the node a literal prefix lit hangs off, and its part.
func (n *node) hang(lit string, a *arena) (*node, string) {
	i := strings.LastIndexByte(lit, '/')
	return n.insert(lit[:i], a), lit[i+1:]
}

// add indexes r in g, taking new nodes from a.
func (g *group) add(r *route, a *arena) {
	p := &r.path
	e := entry{rt: r, index: r.index, plain: r.conds == 0}
	switch p.kind {
	case pathExact:
		n := g.root.insert(p.lit, a)
		n.whole = append(n.whole, e)
	case pathSegment:
		n, part := g.root.hang(p.lit, a)
		n.whole = append(n.whole, e) // lit without its final "/": the node itself
		e.part = part
		n.prefix = append(n.prefix, e)
	case pathPrefix:
		n, part := g.root.hang(p.lit, a)
		e.part, e.plain = part, e.plain && p.tail == nil
		n.prefix = append(n.prefix, e)
	case pathRegex:
		e.plain = false
		g.regex = append(g.regex, e)
		if strings.HasPrefix(p.lit, "/") {
			n, part := g.root.hang(p.lit, a)
			e.part = part
			n.regex = append(n.regex, e)
		} else {
			e.part = p.lit
			g.loose = append(g.loose, e)
		}
	}
}

// finish puts the regex lists of g in precedence order; the arena finishes
// the nodes.
func (g *group) finish() {
	slices.SortFunc(g.regex, byPrecedence)
	slices.SortFunc(g.loose, byPrecedence)
}

// byPrecedence orders routes that rank the same by host and literal prefix:
// exact paths first, then more conditions, then the earlier route.
func byPrecedence(x, y entry) int {
	a, b := x.rt, y.rt
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

// byPart orders prefix entries of one node: the longer literal prefix
// first, then by precedence.
func byPart(x, y entry) int {
	if len(x.part) != len(y.part) {
		return len(y.part) - len(x.part)
	}
	return byPrecedence(x, y)
}

// finish sorts the lists of n and links them; up and rup are the nearest
// nodes above n with prefix and regex entries.
func (n *node) finish(up, rup *node) {
	slices.SortFunc(n.whole, byPrecedence)
	slices.SortFunc(n.prefix, byPart)
	slices.SortFunc(n.regex, byPrecedence)
	n.next, n.rnext = up, rup
	if len(n.whole) > 0 && n.whole[0].plain && n.whole[0].index < math.MaxInt32 {
		n.wholeFirst = int32(n.whole[0].index + 1)
	}
	if len(n.prefix) > 0 {
		if e := n.prefix[0]; e.plain && e.part == "" && e.index < math.MaxInt32 {
			n.prefixFirst = int32(e.index + 1)
		}
		up = n
	}
	if len(n.regex) > 0 {
		rup = n
	}
	n.up, n.rup = up, rup
}

// match returns the index of the first route of the group whose root is
// root that matches r, or -1; id, wholeFirst, prefixFirst and h are the
// root's.
func (t *Table) match(root *node, id uint32, wholeFirst, prefixFirst int32, h uint64, r *Request) int {
	kids := &t.kids
	path := r.Path
	n := root
	// Walk down by segments: the last node found spells path[:depth], and
	// the next segment, when there is one, starts after the "/" at depth.
	// (Paths are normalized and start with "/"; any other string gets the
	// answer a byte-by-byte comparison would give.) The walk reads slots
	// only; the node is loaded when its first routes do not decide.
	depth := 0
	var last *kidSlot
	for id&leaf == 0 && depth < len(path) && path[depth] == '/' {
		rest := path[depth+1:]
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		h = kids.hash(h, rest[:end])
		s := kids.find(h, id, rest[:end])
		if s == nil {
			break
		}
		last, id, depth = s, s.id, depth+1+end
	}
	if last != nil {
		wholeFirst, prefixFirst = last.wholeFirst, last.prefixFirst
	}
	if depth == len(path) && wholeFirst > 0 {
		return int(wholeFirst - 1)
	}
	// With prefix entries, the node is the first of its up list.
	if prefixFirst > 0 && depth < len(path) && path[depth] == '/' {
		return int(prefixFirst - 1)
	}
	if last != nil {
		n = last.child
	}
	if n.depth == len(path) {
		for i := range n.whole {
			if e := &n.whole[i]; e.plain || e.rt.accepts(r) {
				return e.index
			}
		}
	}
	for p := n.up; p != nil; p = p.next {
		if p.depth >= len(path) || path[p.depth] != '/' {
			continue // the path ends here: no literal prefix goes on past it
		}
		if p.prefixFirst > 0 {
			return int(p.prefixFirst - 1)
		}
		rest := path[p.depth+1:]
		for i := range p.prefix {
			e := &p.prefix[i]
			if !strings.HasPrefix(rest, e.part) {
				continue
			}
			if e.plain || e.rt.path.matchRest(rest[len(e.part):]) && e.rt.accepts(r) {
				return e.index
			}
		}
	}
	if g := root.group; n.rup != nil || len(g.loose) > 0 {
		return g.matchRegex(n, r)
	}
	return -1
}

// matchRegex tries the regex routes whose literal prefix the path has, in
// precedence order; n is the node the path's walk ended at.
func (g *group) matchRegex(n *node, r *Request) int {
	path := r.Path
	// The lists of the nodes on the way, merged by precedence.
	var lists [maxRegexLists][]entry
	var rests [maxRegexLists]string
	k := 0
	if len(g.loose) > 0 {
		lists[0], rests[0] = g.loose, path
		k++
	}
	for p := n.rup; p != nil; p = p.rnext {
		if k == maxRegexLists {
			return matchRegexList(g.regex, r)
		}
		if p.depth < len(path) && path[p.depth] == '/' {
			lists[k], rests[k] = p.regex, path[p.depth+1:]
			k++
		}
	}
	for {
		best := -1
		for i := range k {
			if len(lists[i]) > 0 && (best < 0 || byPrecedence(lists[i][0], lists[best][0]) < 0) {
				best = i
			}
		}
		if best < 0 {
			return -1
		}
		e := &lists[best][0]
		lists[best] = lists[best][1:]
		if strings.HasPrefix(rests[best], e.part) && e.rt.path.matchRegex(path) && e.rt.accepts(r) {
			return e.index
		}
	}
}

// matchRegexList tries the regex routes of list, in precedence order, in
// turn.
func matchRegexList(list []entry, r *Request) int {
	for i := range list {
		rt := list[i].rt
		if strings.HasPrefix(r.Path, rt.path.lit) && rt.path.matchRegex(r.Path) && rt.accepts(r) {
			return rt.index
		}
	}
	return -1
}
