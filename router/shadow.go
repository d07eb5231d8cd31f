package router

import (
	"strconv"
	"strings"
	"unicode"
)

// Shadow says that route Index can never match: route By matches every
// request it does and wins.
type Shadow struct{ Index, By int }

// Shadowed finds the routes that can never match because an earlier route
// with the same path pattern and the same conditions (hosts, methods,
// headers) covers them: such a route ranks equal and wins by coming first.
// Routes that differ in rank cannot shadow each other, because the more
// specific one always matches less. By is the first route that covers
// Index; the shadows come in the order of Index.
//
// The cost is about linear: a route is compared only with the earlier
// routes that have its path pattern, its number of header conditions, one
// of its hosts (its first) and one of its header conditions (its first),
// found through an index. Routes that share all of those (they differ in
// methods or in other hosts or headers) are compared with each other.
func Shadowed(specs []Spec) []Shadow {
	var out []Shadow
	// by holds, for each key, the routes indexed under it, in order.
	by := map[string][]int{}
	var keys []string
	for b := range specs {
		s := &specs[b]
		keys = shadowKeys(s, keys[:0], true)
		for _, a := range by[keys[0]] {
			if covers(&specs[a], s) {
				out = append(out, Shadow{Index: b, By: a})
				break
			}
		}
		// A route that covers a later one has every host and header
		// condition of it: it is indexed under each pair of them.
		for _, k := range shadowKeys(s, keys[:0], false) {
			if l := by[k]; len(l) == 0 || l[len(l)-1] != b {
				by[k] = append(l, b)
			}
		}
	}
	return out
}

// shadowKeys appends the index keys of s: with first, the one key a
// route that covers s must be indexed under (from the first host and the
// first header condition); otherwise every key of a pair of a host and a
// header condition of s.
func shadowKeys(s *Spec, keys []string, first bool) []string {
	base := pathOrDefault(s.Path) + "\x00" + strconv.Itoa(len(s.Headers))
	if len(s.Methods) > 0 {
		base += "m"
	}
	hosts, hdrs := []string{""}, []string{""}
	if len(s.Hosts) > 0 {
		hosts = hosts[:0]
		for _, h := range s.Hosts {
			hosts = append(hosts, "h"+foldKey(h))
		}
	}
	if len(s.Headers) > 0 {
		hdrs = hdrs[:0]
		for _, h := range s.Headers {
			hdrs = append(hdrs, foldKey(h.Name)+"\x00"+h.Value)
		}
	}
	if first {
		hosts, hdrs = hosts[:1], hdrs[:1]
	}
	for _, h := range hosts {
		for _, hd := range hdrs {
			keys = append(keys, base+"\x00"+h+"\x00"+hd)
		}
	}
	return keys
}

// foldKey returns the same string for any two strings strings.EqualFold
// says are equal: each rune is replaced by the least rune of its simple
// folding orbit.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// covers reports whether every request b matches, a matches too, at the
// same rank.
func covers(a, b *Spec) bool {
	if pathOrDefault(a.Path) != pathOrDefault(b.Path) || len(a.Headers) != len(b.Headers) {
		return false
	}
	if (len(a.Methods) == 0) != (len(b.Methods) == 0) || (len(a.Hosts) == 0) != (len(b.Hosts) == 0) {
		return false
	}
	for _, m := range b.Methods {
		if !hasString(a.Methods, m, false) {
			return false
		}
	}
	for _, h := range b.Hosts {
		if !hasString(a.Hosts, h, true) {
			return false
		}
	}
	for _, hb := range b.Headers {
		found := false
		for _, ha := range a.Headers {
			if strings.EqualFold(ha.Name, hb.Name) && ha.Value == hb.Value {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func pathOrDefault(p string) string {
	if p == "" {
		return "/*"
	}
	return p
}

func hasString(list []string, s string, fold bool) bool {
	for _, x := range list {
		if x == s || fold && strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
