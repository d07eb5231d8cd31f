package engine

import (
	"testing"
	"time"

	"l7lb/config"
	"l7lb/httpmsg"
	"l7lb/session"
)

func insertSticky() config.Sticky {
	s := config.DefaultSticky()
	s.Mode, s.Cookie = config.ModeInsert, config.DefaultInsertCookie
	return s
}

// routeGET decides a GET / with the cookie header cookie ("" for none).
func routeGET(e *Engine, cookie string) Decision {
	h := &httpmsg.Headers{}
	if cookie != "" {
		h.Fields = []httpmsg.Field{{Name: "Cookie", Value: cookie}}
	}
	var d Decision
	e.Route(&Request{Method: "GET", Target: "/", Headers: h}, &d)
	e.Done(&d)
	return d
}

// TestDrainDisableEnable: a drained server takes no new request and no new
// session, keeps its sessions until the drain times out, then is as
// disabled; disabled moves its sessions at once; enable brings it back,
// ramping. The node's server_down and server_up are disable and enable.
func TestDrainDisableEnable(t *testing.T) {
	cfg := &config.Config{Sticky: insertSticky(), SlowStart: 10 * time.Second}
	e, clk := newMeasured(t, cfg, "s1", "s2")
	var s1cookie string
	for s1cookie == "" {
		if d := routeGET(e, ""); d.Server == "s1" {
			s1cookie = "l7lb=" + d.CookieValue
		}
	}
	if err := e.Drain("s1", time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if d := routeGET(e, ""); d.Server != "s2" {
			t.Fatalf("a new session went to the drained s1")
		}
		if d := routeGET(e, s1cookie); d.Server != "s1" || d.Sticky != StickyHit {
			t.Fatalf("s1's session went to %s (%s) during the drain", d.Server, d.Sticky)
		}
	}
	if st, _ := e.State("s1"); st != StateDraining {
		t.Errorf("state %s, want draining", st)
	}
	// Draining again keeps the deadline.
	e.Drain("s1", time.Hour)
	clk.advance(time.Minute)
	if st, _ := e.State("s1"); st != StateDisabled {
		t.Errorf("state %s after the drain timed out, want disabled", st)
	}
	if d := routeGET(e, s1cookie); d.Server != "s2" || d.Sticky != StickyRepinned {
		t.Errorf("after the drain: %s (%s), want s2 repinned", d.Server, d.Sticky)
	}
	if err := e.Enable("s1"); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats().Servers["s1"]; st.State != StateUp || st.SlowStart != 0 {
		t.Errorf("enabled: %+v, want up and ramping from 0", st)
	}
	if err := e.SetDown("s1", true); err != nil { // the node's server_down
		t.Fatal(err)
	}
	if st, _ := e.State("s1"); st != StateDisabled || !e.Stats().Down["s1"] {
		t.Errorf("after SetDown: %s", st)
	}
	if d := routeGET(e, s1cookie); d.Server != "s2" {
		t.Errorf("a disabled server kept its session")
	}
	if err := e.Drain("nope", time.Second); err == nil {
		t.Error("draining an unknown server")
	}
	// The health checks' verdict is apart: enabling does not undo it.
	e.SetDown("s1", false)
	e.SetHealthy("s1", false)
	e.Enable("s1")
	if st, _ := e.State("s1"); st != StateDown {
		t.Errorf("unhealthy and enabled: %s, want down", st)
	}
	e.SetHealthy("s1", true)
	if st, _ := e.State("s1"); st != StateUp {
		t.Errorf("healthy again: %s", st)
	}
}

// TestReplace: one step replaces servers, configuration and options; a
// rejected update changes nothing; the state of servers still configured
// (drain, in flight, sessions) stays; a removed server's goes, and it comes
// back enabled; a renewed server starts afresh but stays drained.
func TestReplace(t *testing.T) {
	e := New(nil)
	e.Measure()
	signer := session.NewSigner([]byte("old-secret-old-secret-old-secret"))
	cfg := &config.Config{Sticky: insertSticky()}
	v1, err := e.Replace(Update{NodeID: "n", Servers: []string{"s1", "s2", "s3"}, Config: cfg, Options: Options{Signer: signer}})
	if err != nil {
		t.Fatal(err)
	}
	var pinned Decision
	e.RouteIn(v1, &Request{Method: "GET", Target: "/"}, &pinned) // left in flight
	cookie := "l7lb=" + pinned.CookieValue
	e.Drain("s2", time.Hour)
	e.Disable("s3")

	// Rejected: an unknown server. Nothing changes.
	bad := &config.Config{Sticky: insertSticky(), Routes: []config.Route{{Name: "r", Path: "/*", Servers: []string{"s9"}, Balance: config.RoundRobin}}}
	if _, err := e.Replace(Update{NodeID: "n", Servers: []string{"s1"}, Config: bad, Options: Options{Signer: signer}}); err == nil {
		t.Fatal("an unknown server was accepted")
	}
	if got := e.Servers(); len(got) != 3 {
		t.Fatalf("servers %v after a rejected update", got)
	}
	if _, err := e.Replace(Update{Servers: []string{"s1", "s1"}, Config: cfg}); err == nil {
		t.Error("a server listed twice was accepted")
	}

	// Rotated secrets: [new, old] keeps the old cookies valid.
	rotated := session.NewSigner([]byte("new-secret-new-secret-new-secret"), []byte("old-secret-old-secret-old-secret"))
	v2, err := e.Replace(Update{NodeID: "n", Servers: []string{"s1", "s2", "s4"}, Config: cfg, Options: Options{Signer: rotated}, Renew: []string{"s2"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := routeGET(e, cookie); d.Server != pinned.Server || d.Sticky != StickyHit || pinned.Server == "s3" {
		t.Errorf("the session on %s after the replace: %s (%s)", pinned.Server, d.Server, d.Sticky)
	}
	st := e.Stats()
	if st.Servers["s1"].InFlight+st.Servers["s2"].InFlight != 1 {
		t.Errorf("in flight lost: %+v", st.Servers)
	}
	if st.Servers["s2"].State != StateDraining {
		t.Errorf("renewed s2 is %s, want still draining", st.Servers["s2"].State)
	}
	if _, ok := st.Servers["s3"]; ok {
		t.Error("the removed s3 is still in the statistics")
	}
	e.Done(&pinned) // a decision of the old view ends on its own server
	if n := e.Stats().Servers[pinned.Server].InFlight; n != 0 && pinned.Server == "s1" {
		t.Errorf("%d in flight on %s after Done", n, pinned.Server)
	}
	routes, servers := v2.Names()
	if len(routes) != 1 || routes[0] != DefaultRoute || len(servers) != 3 || servers[2] != "s4" {
		t.Errorf("names %v %v", routes, servers)
	}
	// s3 comes back enabled.
	if _, err := e.Replace(Update{NodeID: "n", Servers: []string{"s1", "s2", "s3"}, Config: cfg, Options: Options{Signer: rotated}}); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.State("s3"); s != StateUp {
		t.Errorf("re-added s3 is %s, want up", s)
	}
	var d Decision
	e.RouteIn(v1, &Request{Method: "GET", Target: "/"}, &d) // an old view still decides
	if d.Status != 200 || d.ServerIndex() < 0 || d.RouteIndex() != 0 {
		t.Errorf("deciding in an old view: %d server %d route %d", d.Status, d.ServerIndex(), d.RouteIndex())
	}
	e.Done(&d)
}

// TestPinnedServerInNoPool: a session pinned to a server that a change
// took out of every route moves (repinned, a new cookie), in insert mode
// and in the table modes; one pinned to a server of another route stays.
func TestPinnedServerInNoPool(t *testing.T) {
	for _, mode := range []string{config.ModeInsert, config.ModeAuto} {
		sticky := insertSticky()
		if mode == config.ModeAuto {
			sticky = config.DefaultSticky()
		}
		e := New(nil)
		opts := Options{Signer: session.NewSigner([]byte("k"))}
		all := &config.Config{Sticky: sticky, DefaultServers: []string{"s1", "s2", "s3"}}
		if _, err := e.Replace(Update{NodeID: "n", Servers: []string{"s1", "s2", "s3"}, Config: all, Options: opts}); err != nil {
			t.Fatal(err)
		}
		var cookie string
		for range 10 {
			h := &httpmsg.Headers{Fields: []httpmsg.Field{{Name: "Cookie", Value: "x=1"}}}
			var d Decision
			e.Route(&Request{Method: "GET", Target: "/", Headers: h}, &d)
			if d.Server == "s3" {
				cookie = d.CookieName + "=" + d.CookieValue
				if mode == config.ModeAuto {
					cookie = d.CookieName + "=" + d.SessionID
				}
				break
			}
		}
		if cookie == "" {
			t.Fatal("no session on s3")
		}
		other := &config.Config{Sticky: sticky, DefaultServers: []string{"s1", "s2"},
			Routes: []config.Route{{Name: "r", Path: "/r", Servers: []string{"s3"}, Balance: config.RoundRobin}}}
		e.Replace(Update{NodeID: "n", Servers: []string{"s1", "s2", "s3"}, Config: other, Options: opts})
		if d := routeGET(e, cookie); d.Sticky != StickyOtherPool || d.SetCookie {
			t.Errorf("%s: s3 in another route: %s set=%v", mode, d.Sticky, d.SetCookie)
		}
		none := &config.Config{Sticky: sticky, DefaultServers: []string{"s1", "s2"}}
		e.Replace(Update{NodeID: "n", Servers: []string{"s1", "s2", "s3"}, Config: none, Options: opts})
		if d := routeGET(e, cookie); d.Sticky != StickyRepinned || !d.SetCookie || d.Server == "s3" {
			t.Errorf("%s: s3 in no route: %s on %s set=%v", mode, d.Sticky, d.Server, d.SetCookie)
		}
	}
}

// TestPanic: a pool whose servers the health checks all hold down is tried
// whole when the configuration says panic (the operator's disabled and
// drained servers still excluded; retries too), and answers 503 without;
// with one server up, panic changes nothing.
func TestPanic(t *testing.T) {
	for _, panicking := range []bool{false, true} {
		sticky := config.DefaultSticky()
		sticky.Mode = config.ModeOff
		e, _ := newMeasured(t, &config.Config{Sticky: sticky, Panic: panicking}, "s1", "s2", "s3", "s4")
		e.SetHealthy("s1", false)
		e.SetHealthy("s2", false)
		e.SetHealthy("s3", false)
		for range 8 {
			if d := routeGET(e, ""); d.Server != "s4" {
				t.Fatalf("panic %v, s4 up: picked %q (status %d), want s4", panicking, d.Server, d.Status)
			}
		}
		e.SetHealthy("s4", false)
		e.Disable("s3")
		e.Drain("s4", time.Hour)
		seen := map[string]int{}
		for range 8 {
			d := routeGET(e, "")
			seen[d.Server]++
			if !panicking && d.Status != 503 {
				t.Fatalf("no panic, all down: status %d server %q, want 503", d.Status, d.Server)
			}
		}
		if got := e.Stats().Panics; panicking && got != 8 || !panicking && got != 0 {
			t.Errorf("panic %v: %d panic picks, want %d", panicking, got, map[bool]int{true: 8}[panicking])
		}
		if !panicking {
			continue
		}
		if len(seen) != 2 || seen["s1"] == 0 || seen["s2"] == 0 {
			t.Errorf("in panic: picks %v, want s1 and s2 (s3 disabled, s4 draining)", seen)
		}
		var d Decision
		e.Route(&Request{Method: "GET", Target: "/", Headers: &httpmsg.Headers{}}, &d)
		first := d.Server
		if !e.Retry(&d, []string{first}) || d.Server == first || (d.Server != "s1" && d.Server != "s2") {
			t.Errorf("retry in panic after %s: %q, want the other of s1, s2", first, d.Server)
		}
		e.Done(&d)
	}
}
