package router

import (
	"regexp"
	"strings"
)

// pathKind tells how a path pattern matches, and so where its route is
// indexed.
type pathKind uint8

const (
	pathExact   pathKind = iota // no * and no final /: the path equals lit
	pathPrefix                  // the path starts with lit, and the rest matches tail
	pathSegment                 // "/api/*": the path is lit without its final /, or starts with lit
	pathRegex                   // "~RE": re matches the whole path
)

// pathPattern is a compiled path pattern.
type pathPattern struct {
	kind pathKind
	// lit is the literal prefix, which ranks the pattern: the bytes before
	// the first *, or the whole pattern when it has none. For a regex, it
	// is a prefix every matching path has, which spares running re on most
	// other paths; regexes all rank the same.
	lit string
	// tail, for pathPrefix, is what the path after lit must match; nil
	// means anything.
	tail *glob
	// re, for pathRegex, is the expression anchored at both ends; nfa,
	// when not nil, answers the same much faster.
	re  *regexp.Regexp
	nfa *byteNFA
}

// Error texts of path patterns.
const (
	msgPathStart     = "must start with / or ~"
	msgDoubleStar    = "** is not supported"
	msgNotNormalized = "not a normalized path"
	msgBadRegex      = "bad regex: "
)

// parsePath compiles a path pattern, or returns why it is invalid.
func parsePath(p string) (pathPattern, string) {
	if p == "" {
		p = "/*"
	}
	if expr, ok := strings.CutPrefix(p, "~"); ok {
		// The expression is compiled as written first, so that an error
		// quotes what the user wrote, and for its literal prefix, which
		// the anchors of the second compilation would hide.
		bare, err := regexp.Compile(expr)
		if err == nil {
			var re *regexp.Regexp
			if re, err = regexp.Compile(`^(?:` + expr + `)$`); err == nil {
				lit, _ := bare.LiteralPrefix()
				return pathPattern{kind: pathRegex, lit: lit, re: re, nfa: compileByteNFA(expr)}, ""
			}
		}
		return pathPattern{}, msgBadRegex + err.Error()
	}
	switch {
	case p[0] != '/':
		return pathPattern{}, msgPathStart
	case strings.Contains(p, "**"):
		return pathPattern{}, msgDoubleStar
	case !isNormalized(p):
		return pathPattern{}, msgNotNormalized
	}
	star := strings.IndexByte(p, '*')
	switch {
	case star < 0 && p[len(p)-1] == '/':
		return pathPattern{kind: pathPrefix, lit: p}, ""
	case star < 0:
		return pathPattern{kind: pathExact, lit: p}, ""
	case star == len(p)-1 && p[star-1] == '/':
		return pathPattern{kind: pathSegment, lit: p[:star]}, ""
	case star == len(p)-1:
		// A final * not after / matches the rest: a plain prefix.
		return pathPattern{kind: pathPrefix, lit: p[:star]}, ""
	}
	return pathPattern{kind: pathPrefix, lit: p[:star], tail: compileGlob(p[star:])}, ""
}

// matchRegex reports whether the path matches a pathRegex pattern.
func (p *pathPattern) matchRegex(path string) bool {
	if p.nfa != nil {
		return p.nfa.match(path)
	}
	return p.re.MatchString(path)
}

// matchRest reports whether the part of a path after the literal prefix of
// a pathPrefix or pathSegment pattern completes a match.
func (p *pathPattern) matchRest(rest string) bool {
	return p.tail == nil || p.tail.match(rest)
}

// isNormalized reports whether the pattern p, which starts with "/", could
// match a normalized path: no empty segment but the last, no "." or ".."
// segment, no byte that normalization rejects or splits off, and only the
// percent-escapes that normalization keeps (upper-case hex, no unreserved
// byte). Anything else would silently never match.
func isNormalized(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c <= ' ' || c == 0x7f || c == '?' || c == '#':
			return false
		case c == '%':
			if i+2 >= len(p) || !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) ||
				isUnreserved(unhex(p[i+1])<<4|unhex(p[i+2])) {
				return false
			}
		}
	}
	for rest, more := p[1:], true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if seg == "." || seg == ".." || seg == "" && more {
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// isUnreserved reports whether c is an unreserved character (RFC 3986 2.3).
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// glob matches what follows the literal prefix of a pattern whose *s are
// not just one final one. The pattern and the path are compared segment by
// segment, as a * never matches a "/".
type glob struct {
	segs     [][]string // per segment, the literal chunks around its *s
	anchored bool       // the path ends with the last segment
}

// compileGlob compiles t, the part of a pattern from its first *.
func compileGlob(t string) *glob {
	g := &glob{anchored: true}
	switch {
	case strings.HasSuffix(t, "/*"):
		// "This, or this followed by /anything": the segments before the
		// final "/*" must match; whatever follows them starts with "/".
		t = t[:len(t)-2]
		g.anchored = false
	case strings.HasSuffix(t, "*"):
		// A final * not after / matches the rest of the path: within its
		// segment it is an ordinary *, and anything may follow.
		g.anchored = false
	}
	for seg := range strings.SplitSeq(t, "/") {
		g.segs = append(g.segs, strings.Split(seg, "*"))
	}
	return g
}

// match reports whether s matches g.
func (g *glob) match(s string) bool {
	last := len(g.segs) - 1
	for _, chunks := range g.segs[:last] {
		j := strings.IndexByte(s, '/')
		if j < 0 || !matchSegment(chunks, s[:j]) {
			return false
		}
		s = s[j+1:]
	}
	if j := strings.IndexByte(s, '/'); j >= 0 {
		if g.anchored {
			return false
		}
		s = s[:j]
	}
	return matchSegment(g.segs[last], s)
}

// matchSegment reports whether seg is chunks joined by runs of any bytes.
func matchSegment(chunks []string, seg string) bool {
	first, last := chunks[0], chunks[len(chunks)-1]
	if len(chunks) == 1 {
		return seg == first
	}
	if len(seg) < len(first)+len(last) || !strings.HasPrefix(seg, first) || !strings.HasSuffix(seg, last) {
		return false
	}
	seg = seg[len(first) : len(seg)-len(last)]
	// Taking the earliest place for each middle chunk leaves the most room
	// to the chunks after it, so no backtracking is needed.
	for _, c := range chunks[1 : len(chunks)-1] {
		i := strings.Index(seg, c)
		if i < 0 {
			return false
		}
		seg = seg[i+len(c):]
	}
	return true
}

// Error texts of host patterns.
const (
	msgEmptyHost   = "must not be empty"
	msgWildcard    = "wildcard only as the first label (*.example.com)"
	msgInvalidHost = "invalid host"
	msgPort        = "must not have a port"
)

// parseHost returns the key a route is indexed under for the host pattern
// h, or why h is invalid. h is compared as request hosts are (lower case,
// without trailing dots), and must not carry what normalization strips from
// request hosts, a port, or it would never match.
func parseHost(h string) (hostKey, string) {
	if h == "" {
		return hostKey{}, msgEmptyHost
	}
	h = strings.TrimRight(lowerASCII(h), ".")
	k, name := hostKey{key: h}, h
	if strings.HasPrefix(h, "*.") {
		k, name = hostKey{key: h[1:], wild: true}, h[2:]
	}
	switch {
	case strings.Contains(name, "*"):
		return hostKey{}, msgWildcard
	case !isHostName(name):
		return hostKey{}, msgInvalidHost
	case hasPort(name):
		return hostKey{}, msgPort
	}
	return k, ""
}

// isHostName reports whether h is made of non-empty dot-separated labels
// without a byte that cannot be part of a host.
func isHostName(h string) bool {
	if h == "" || h[0] == '.' || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c <= ' ' || c == 0x7f || strings.IndexByte(`/\?#@`, c) >= 0 {
			return false
		}
	}
	return true
}

// hasPort reports whether h ends in a port as request host normalization
// sees one: a final ":" followed by digits or nothing, after a name that has
// no other colon or is a bracketed IPv6 literal.
func hasPort(h string) bool {
	i := strings.LastIndexByte(h, ':')
	if i < 0 {
		return false
	}
	for _, c := range []byte(h[i+1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	name := h[:i]
	return !strings.Contains(name, ":") || len(name) >= 2 && name[0] == '[' && name[len(name)-1] == ']'
}

// isToken reports whether s is an HTTP token (RFC 9110 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// lowerASCII returns s with ASCII letters in lower case; host names and
// header names are ASCII on the wire.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
