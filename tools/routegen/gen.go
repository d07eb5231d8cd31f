package main

import (
	"strconv"
)

// The kinds of generated routes. Five routes in a row take the kinds in
// this order, so that any four routes hold one of each of the first four
// and the mix is 40% segment prefixes, 20% exact hosts, 20% wildcard hosts
// and 20% exact paths; regex routes replace some of them (see generate).
const (
	kindSegment   = iota // path /sN/*, any host
	kindExactHost        // host hN.example.com, path /api/*
	kindWildHost         // host *.wN.example.net, path /app/*, strip_prefix /app
	kindExactPath        // path /eN/status, any host
	kindRegex            // path ~^/rN/[0-9]+$, any host
)

var kindOrder = [5]int{kindSegment, kindExactHost, kindWildHost, kindExactPath, kindSegment}

// numServers is how many servers the generated configurations spread
// their routes over (s1 … s8); each route has two of them.
const numServers = 8

// genRoute is one generated route.
type genRoute struct {
	kind int
	id   int // the number in its host or path, unique among routes
}

// routeSet is a generated configuration: n routes of the mix, regex of
// them regular expressions spread evenly among the others.
type routeSet struct{ routes []genRoute }

// generate returns n routes; regex of them (at most n) are regex routes,
// placed every n/regex routes.
func generate(n, regex int) routeSet {
	regex = min(regex, n)
	rs := routeSet{routes: make([]genRoute, n)}
	every := 0
	if regex > 0 {
		every = n / regex
	}
	placed := 0
	for i := range rs.routes {
		k := kindOrder[i%len(kindOrder)]
		if every > 0 && placed < regex && i%every == every-1 {
			k = kindRegex
			placed++
		}
		rs.routes[i] = genRoute{kind: k, id: i}
	}
	return rs
}

func name(i int) string { return "r" + strconv.Itoa(i) }

func server(i int) string { return "s" + strconv.Itoa(i%numServers+1) }

// appendJSON appends the configuration as JSON, one route per line: the
// node's schema, or with serve the proxy's (servers map, listen). Requests
// that no route matches get 404: no default servers.
func (rs routeSet) appendJSON(b []byte, serve bool) []byte {
	b = append(b, "{\n"...)
	if serve {
		b = append(b, `"listen": "127.0.0.1:18080",`+"\n"+`"servers": {`...)
		for i := range numServers {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, `"`+server(i)+`": "http://127.0.0.1:`...)
			b = strconv.AppendInt(b, int64(19001+i), 10)
			b = append(b, '"')
		}
		b = append(b, "},\n"...)
	}
	b = append(b, `"sticky": {"mode": "off"},`+"\n"+`"default_servers": [],`+"\n"+`"routes": [`+"\n"...)
	for i, r := range rs.routes {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		id := strconv.Itoa(r.id)
		b = append(b, `{"name": "`+name(i)+`", `...)
		switch r.kind {
		case kindSegment:
			b = append(b, `"path": "/s`+id+`/*"`...)
		case kindExactHost:
			b = append(b, `"host": "h`+id+`.example.com", "path": "/api/*"`...)
		case kindWildHost:
			b = append(b, `"host": "*.w`+id+`.example.net", "path": "/app/*", "rewrite": {"strip_prefix": "/app"}`...)
		case kindExactPath:
			b = append(b, `"path": "/e`+id+`/status"`...)
		case kindRegex:
			b = append(b, `"path": "~^/r`+id+`/[0-9]+$"`...)
		}
		b = append(b, `, "servers": ["`+server(i)+`", "`+server(i+3)+`"]}`...)
	}
	return append(b, "\n]\n}\n"...)
}

// request is a generated request: its Host header ("" for none), its
// target, and the route it must go to.
type request struct {
	host, target string
	route        int
}

// requests returns n requests spread evenly over the routes (request j
// goes to route j*step mod len, step coprime with it), varied by k.
func (rs routeSet) requests(n int) []request {
	out := make([]request, n)
	m := len(rs.routes)
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
		r := rs.routes[i]
		id, k := strconv.Itoa(r.id), strconv.Itoa(j%1000)
		q := request{route: i}
		switch r.kind {
		case kindSegment:
			q.target = "/s" + id + "/items/" + k
		case kindExactHost:
			q.host, q.target = "h"+id+".example.com", "/api/v1/users/"+k
		case kindWildHost:
			q.host, q.target = "t"+strconv.Itoa(j%50)+".w"+id+".example.net", "/app/page/"+k+"?q=1"
		case kindExactPath:
			q.target = "/e" + id + "/status"
		case kindRegex:
			q.target = "/r" + id + "/" + k
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
