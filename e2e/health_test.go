package e2e

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flappy is a backend that can be stopped and started again on the same
// address, whose health endpoint can be made to fail while it keeps
// serving traffic.
type flappy struct {
	*backend
	addr    string
	healthy atomic.Bool
	served  atomic.Int64 // non-health requests answered

	mu  sync.Mutex
	srv *http.Server
}

func newFlappy(t *testing.T, id string) *flappy {
	f := &flappy{addr: freePort(t)}
	f.backend = &backend{ID: id, URL: "http://" + f.addr}
	f.healthy.Store(true)
	f.start(t)
	t.Cleanup(f.stop)
	return f
}

func (f *flappy) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		t.Fatalf("restarting %s on %s: %v", f.ID, f.addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !f.healthy.Load() {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		f.served.Add(1)
		w.Header().Set("X-Backend", f.ID)
		io.WriteString(w, f.ID)
	})}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go srv.Serve(ln)
}

func (f *flappy) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		f.srv.Close()
		f.srv = nil
	}
}

// waitFor polls cond every 20ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestActiveHealthCheck checks a route's health_check: a server whose
// check fails leaves the rotation, and comes back when it passes again;
// a passive failure meanwhile must not bring back a server whose check
// still fails.
func TestActiveHealthCheck(t *testing.T) {
	s1 := newFlappy(t, "s1")
	s2 := newBackend(t, "s2")
	p := startServe(t, []*backend{s1.backend, s2}, `
sticky: {mode: off}
health: {fails: 1, cooldown: 300ms}
timeouts: {connect: 1s}
routes:
  - name: a
    servers: [s1, s2]
    health_check: {path: /healthz, interval: 150ms, timeout: 500ms}
`)
	c := newClient(t, false)
	// reachesS1 sends a few requests (round robin alternates) and reports
	// whether s1 answered any; every request must succeed either way.
	reachesS1 := func() bool {
		before := s1.served.Load()
		for i := 0; i < 4; i++ {
			if r := get(t, c, p.Addr, "", "/x"); r.Status != 200 {
				t.Fatalf("status %d from %q", r.Status, r.Backend)
			}
		}
		return s1.served.Load() > before
	}

	t.Run("a failing check takes the server out, a passing one brings it back", func(t *testing.T) {
		if !reachesS1() {
			t.Fatal("s1 gets no traffic to begin with")
		}
		s1.healthy.Store(false)
		if !waitFor(3*time.Second, func() bool { return !reachesS1() }) {
			t.Fatal("s1 still gets traffic 3s after its health check began to fail (2 checks at 150ms)")
		}
		// Stays out while the check fails.
		time.Sleep(500 * time.Millisecond)
		if reachesS1() {
			t.Fatal("s1 got traffic again while its health check fails")
		}
		s1.healthy.Store(true)
		if !waitFor(3*time.Second, reachesS1) {
			t.Fatal("s1 gets no traffic 3s after its health check passes again")
		}
	})

	t.Run("passive cooldown does not override a failing check", func(t *testing.T) {
		// s1 goes away: the next requests meet a refused connection (a
		// passive failure; fails: 1 marks it down for 300ms) before the
		// active check has failed twice.
		s1.stop()
		reachesS1()
		// s1 comes back serving traffic, but its check keeps failing.
		s1.healthy.Store(false)
		s1.start(t)
		time.Sleep(300 * time.Millisecond)
		// Several cooldowns later the active check has failed every time:
		// s1 must still be out of the rotation.
		deadline := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			if reachesS1() {
				t.Fatalf("s1 got traffic although its health check has failed since it came back; stderr:\n%s", p.stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestPanicRouting: both servers of a pool stop (connections refused) until
// the passive check holds both down. In panic (the default) the pool is
// still tried: 502 while they are stopped, never 503, and once they are
// back the next request is served and its server is up again at once, not
// after the minute's cooldown. With panic off the pool answers 503 without
// trying (TestAllServersDown503).
func TestPanicRouting(t *testing.T) {
	s1, s2 := newFlappy(t, "s1"), newFlappy(t, "s2")
	p := startServe(t, []*backend{s1.backend, s2.backend}, `
timeouts: {connect: 1s}
health: {fails: 2, cooldown: 1m}
sticky: {mode: "off"}
routes:
  - {name: app, servers: [s1, s2]}
`)
	c := newClient(t, false)
	if r := get(t, c, p.Addr, "", "/x"); r.Status != 200 {
		t.Fatalf("before the stop: status %d", r.Status)
	}
	s1.stop()
	s2.stop()
	down := func(id string) bool { return strings.Contains(p.stderr.String(), "server "+id+" is down") }
	for i := 0; i < 20 && !(down("s1") && down("s2")); i++ {
		if r := get(t, c, p.Addr, "", "/x"); r.Status != 502 {
			t.Fatalf("request %d to stopped servers: status %d, want 502", i, r.Status)
		}
	}
	if !down("s1") || !down("s2") {
		t.Fatalf("both servers refused 20 requests and are not both down; stderr:\n%s", p.stderr)
	}
	for i := range 3 {
		if r := get(t, c, p.Addr, "", "/x"); r.Status != 502 {
			t.Fatalf("request %d with both servers down and stopped: status %d, want 502 (tried in panic)", i, r.Status)
		}
	}
	s1.start(t)
	s2.start(t)
	r := get(t, c, p.Addr, "", "/x")
	if r.Status != 200 {
		t.Fatalf("servers back, both held down for a minute: status %d, want 200 (panic)", r.Status)
	}
	if !waitFor(2*time.Second, func() bool { return strings.Contains(p.stderr.String(), "server "+r.Backend+" is up") }) {
		t.Errorf("%s answered in panic and is not up again; stderr:\n%s", r.Backend, p.stderr)
	}
}
