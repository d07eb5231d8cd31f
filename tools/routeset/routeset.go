// Package routeset generates issue 13's route-scale configurations and
// requests spread over their routes: one generator for the route-count
// sweep (tools/routegen) and the benchmarks that load such a file.
package routeset

import (
	"strconv"
)

// The kinds of generated routes. Five routes in a row take the kinds in
// this order, so that any four routes hold one of each of the first four
// and the mix is 40% segment prefixes, 20% exact hosts, 20% wildcard hosts
// and 20% exact paths; regex routes replace some of them (see Generate).
const (
	KindSegment   = iota // path /sN/*, any host
	KindExactHost        // host hN.example.com, path /api/*
	KindWildHost         // host *.wN.example.net, path /app/*, strip_prefix /app
	KindExactPath        // path /eN/status, any host
	KindRegex            // path ~^/rN/[0-9]+$, any host
)

var kindOrder = [5]int{KindSegment, KindExactHost, KindWildHost, KindExactPath, KindSegment}

// NumServers is how many servers the generated configurations spread
// their routes over (s1 … s8); each route has two of them.
const NumServers = 8

// Route is one generated route.
type Route struct {
	Kind int
	ID   int // the number in its host or path, unique among routes
}

// Set is a generated configuration: n routes of the mix, regex of
// them regular expressions spread evenly among the others.
type Set struct{ Routes []Route }

// Generate returns n routes; regex of them (at most n) are regex routes,
// placed every n/regex routes.
func Generate(n, regex int) Set {
	regex = min(regex, n)
	rs := Set{Routes: make([]Route, n)}
	every := 0
	if regex > 0 {
		every = n / regex
	}
	placed := 0
	for i := range rs.Routes {
		k := kindOrder[i%len(kindOrder)]
		if every > 0 && placed < regex && i%every == every-1 {
			k = KindRegex
			placed++
		}
		rs.Routes[i] = Route{Kind: k, ID: i}
	}
	return rs
}

func Name(i int) string { return "r" + strconv.Itoa(i) }

func Server(i int) string { return "s" + strconv.Itoa(i%NumServers+1) }

// AppendJSON appends the configuration as JSON, one route per line: the
// node's schema, or with serve the proxy's (servers map, listen, at
// DefaultAddrs). Requests that no route matches get 404: no default
// servers.
func (rs Set) AppendJSON(b []byte, serve bool) []byte {
	if serve {
		return rs.AppendServeJSON(b, DefaultAddrs())
	}
	return rs.appendJSON(b, nil)
}

// Addrs are where a proxy configuration listens and where its servers are.
type Addrs struct {
	Listen  string
	Admin   string             // the admin listener's; "" for none
	Servers [NumServers]string // host:port of s1 … s8
}

// DefaultAddrs listens on 127.0.0.1:18080 and puts the servers on
// 127.0.0.1:19001 and on.
func DefaultAddrs() Addrs {
	a := Addrs{Listen: "127.0.0.1:18080"}
	for i := range a.Servers {
		a.Servers[i] = "127.0.0.1:" + strconv.Itoa(19001+i)
	}
	return a
}

// AppendServeJSON appends the configuration in the schema of l7lb serve,
// at the addresses a.
func (rs Set) AppendServeJSON(b []byte, a Addrs) []byte {
	return rs.appendJSON(b, &a)
}

func (rs Set) appendJSON(b []byte, a *Addrs) []byte {
	b = append(b, "{\n"...)
	if a != nil {
		b = append(b, `"listen": "`+a.Listen+`",`+"\n"...)
		if a.Admin != "" {
			b = append(b, `"admin": "`+a.Admin+`",`+"\n"...)
		}
		b = append(b, `"servers": {`...)
		for i, addr := range a.Servers {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, `"`+Server(i)+`": "http://`+addr+`"`...)
		}
		b = append(b, "},\n"...)
	}
	b = append(b, `"sticky": {"mode": "off"},`+"\n"+`"default_servers": [],`+"\n"+`"routes": [`+"\n"...)
	for i, r := range rs.Routes {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		id := strconv.Itoa(r.ID)
		b = append(b, `{"name": "`+Name(i)+`", `...)
		switch r.Kind {
		case KindSegment:
			b = append(b, `"path": "/s`+id+`/*"`...)
		case KindExactHost:
			b = append(b, `"host": "h`+id+`.example.com", "path": "/api/*"`...)
		case KindWildHost:
			b = append(b, `"host": "*.w`+id+`.example.net", "path": "/app/*", "rewrite": {"strip_prefix": "/app"}`...)
		case KindExactPath:
			b = append(b, `"path": "/e`+id+`/status"`...)
		case KindRegex:
			b = append(b, `"path": "~^/r`+id+`/[0-9]+$"`...)
		}
		b = append(b, `, "servers": ["`+Server(i)+`", "`+Server(i+3)+`"]}`...)
	}
	return append(b, "\n]\n}\n"...)
}

// Request is a generated request: its Host header ("" for none), its
// target, and the route it must go to.
type Request struct {
	Host, Target string
	Route        int
}

// Requests returns n requests spread evenly over the routes (request j
// goes to route j*step mod len, step coprime with it), varied by k.
func (rs Set) Requests(n int) []Request {
	out := make([]Request, n)
	m := len(rs.Routes)
	step := 1
	if m > 1 {
		// A step near the golden ratio of m visits the routes in an
		// order far from the declaration order.
		step = m*618/1000 + 1
		for gcd(step, m) != 1 {
			step++
		}
	}
	for j := range out {
		i := j * step % m
		r := rs.Routes[i]
		id, k := strconv.Itoa(r.ID), strconv.Itoa(j%1000)
		q := Request{Route: i}
		switch r.Kind {
		case KindSegment:
			q.Target = "/s" + id + "/items/" + k
		case KindExactHost:
			q.Host, q.Target = "h"+id+".example.com", "/api/v1/users/"+k
		case KindWildHost:
			q.Host, q.Target = "t"+strconv.Itoa(j%50)+".w"+id+".example.net", "/app/page/"+k+"?q=1"
		case KindExactPath:
			q.Target = "/e" + id + "/status"
		case KindRegex:
			q.Target = "/r" + id + "/" + k
		}
		out[j] = q
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
