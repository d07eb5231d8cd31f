package engine

import (
	"errors"
	"strings"
	"testing"

	"l7lb/config"
)

// TestEveryRouteFieldError checks that a rejected configuration names
// every invalid route field, not only the router's first.
func TestEveryRouteFieldError(t *testing.T) {
	e := newEngine(t, "s1")
	err := e.Apply(&config.Config{Sticky: config.DefaultSticky(), Routes: []config.Route{
		{Name: "a", Hosts: []string{"a b"}, Path: "x", Servers: []string{"s1"}, Balance: config.RoundRobin},
		{Name: "b", Path: "/ok", Methods: []string{"GET", "P T"}, Headers: []config.Header{{Name: "X Y", Value: "1"}}, Servers: []string{"s9"}, Balance: config.RoundRobin},
	}})
	var es config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v, want config.Errors", err)
	}
	var got []string
	for _, fe := range es {
		got = append(got, fe.Path)
	}
	want := []string{"routes[1].servers[0]", "routes[0].host", "routes[0].path", "routes[1].methods[1]", "routes[1].headers.X Y"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields %q, want %q", got, want)
	}
}

// TestInitKeepsRouteTable: Init after Load (a node started with --config)
// and a server set changed by Replace keep the compiled route table, which
// does not depend on the servers; a new configuration compiles its own,
// and the built-in routes, made from the servers, are compiled again.
func TestInitKeepsRouteTable(t *testing.T) {
	e := New(nil)
	cfg := &config.Config{Sticky: config.DefaultSticky(), Routes: []config.Route{
		{Name: "a", Path: "/a/*", Servers: []string{"s1"}, Balance: config.RoundRobin},
		{Name: "b", Hosts: []string{"*.example.com"}, Path: "/b", Servers: []string{"s2"}, Balance: config.RoundRobin},
	}}
	if err := e.Load(cfg); err != nil {
		t.Fatal(err)
	}
	loaded := e.st.Load().table
	// Before init no pool is made: init compiles them again.
	if p := e.st.Load().routes[0].pool; p != nil {
		t.Error("Load made a pool before the servers are known")
	}
	if d := decide(e, Request{Method: "GET", Target: "/a/x"}); d.Status != 503 || d.Error != "no servers known" {
		t.Errorf("before Init: %d %q", d.Status, d.Error)
	}
	e.Init("lb", []string{"s1", "s2"})
	if e.st.Load().table != loaded {
		t.Error("Init compiled the route table again")
	}
	if d := decide(e, Request{Method: "GET", Target: "/b", Host: "x.example.com"}); d.Status != 200 || d.Route != "b" || d.Server != "s2" {
		t.Errorf("after Init: %d %s %s", d.Status, d.Route, d.Server)
	}
	other := &config.Config{Sticky: config.DefaultSticky(), Routes: []config.Route{
		{Name: "a", Path: "/a/*", Servers: []string{"s1"}, Balance: config.RoundRobin},
	}}
	mustApply(t, e, other)
	if e.st.Load().table == loaded {
		t.Error("a new configuration kept the old route table")
	}
	if d := decide(e, Request{Method: "GET", Target: "/b", Host: "x.example.com"}); d.Route == "b" {
		t.Errorf("route b still matches after it was removed")
	}

	// The built-in routes exist once there are three servers: Init must
	// not keep the table of the two-server, route-less built-in state.
	b := New(nil)
	b.Init("lb", []string{"s1", "s2"})
	b.Init("lb", []string{"s1", "s2", "s3"})
	if d := decide(b, Request{Method: "GET", Target: "/web/x"}); d.Route != "web" || d.Server != "s3" {
		t.Errorf("built-in routes after a third server: route %q server %q", d.Route, d.Server)
	}
}
