package router

import "strings"

// Shadow says that route Index can never match: route By matches every
// request it does and wins.
type Shadow struct{ Index, By int }

// Shadowed finds the routes that can never match because an earlier route
// with the same path pattern and the same conditions (hosts, methods,
// headers) covers them: such a route ranks equal and wins by coming first.
// Routes that differ in rank cannot shadow each other, because the more
// specific one always matches less.
func Shadowed(specs []Spec) []Shadow {
	var out []Shadow
	for b := range specs {
		for a := range b {
			if covers(&specs[a], &specs[b]) {
				out = append(out, Shadow{Index: b, By: a})
				break
			}
		}
	}
	return out
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
