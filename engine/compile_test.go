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
