package e2e

import (
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestAllServersDown503 closes the only server of a route, with panic
// routing off: requests fail with 502 (unreachable) until the passive
// health check has seen `fails` failures, then the proxy answers 503
// without trying, until the cooldown ends; other routes are unaffected.
// (With panic on, the default, the pool is tried instead: TestPanicRouting.)
func TestAllServersDown503(t *testing.T) {
	bs := newBackends(t, 2)
	const fails = 2
	p := startServe(t, bs, `
timeouts: {connect: 1s}
health: {fails: 2, cooldown: 1m, panic: false}
default_servers: []
routes:
  - {name: solo, path: /solo/*, servers: [s1]}
  - {name: other, path: /other/*, servers: [s2]}
`)
	c := newClient(t, false)
	if r := get(t, c, p.Addr, "", "/solo/x"); r.Status != 200 || r.Backend != "s1" {
		t.Fatalf("before the close: status %d backend %q", r.Status, r.Backend)
	}
	bs[0].Close()

	var statuses []int
	first503 := -1
	for i := 0; i < 3*fails+2; i++ {
		r := get(t, c, p.Addr, "", "/solo/x")
		statuses = append(statuses, r.Status)
		switch r.Status {
		case 502:
			if first503 >= 0 {
				t.Errorf("request %d: 502 after 503 (cooldown is 1m): statuses %v", i, statuses)
			}
			checkErrorBody(t, r)
		case 503:
			if first503 < 0 {
				first503 = i
				checkErrorBody(t, r)
			}
		default:
			t.Fatalf("request %d to a closed server: status %d, want 502 or 503", i, r.Status)
		}
	}
	// The first request may meet the pooled connection the server closed:
	// that is no sign of a failing server and is not counted, so the
	// failures that count start with the second.
	if first503 < 0 || first503 > fails+1 {
		t.Errorf("statuses %v: want 503 from request %d at the latest (fails: %d)", statuses, fails+1, fails)
	}
	if r := get(t, c, p.Addr, "", "/other/x"); r.Status != 200 || r.Backend != "s2" {
		t.Errorf("other route: status %d backend %q, want 200 s2", r.Status, r.Backend)
	}
}

// TestGatewayTimeout504 checks a route's response_header timeout: a server
// that does not answer in time gets the client a 504.
func TestGatewayTimeout504(t *testing.T) {
	be := newHandlerBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: slow, servers: [slow], timeouts: {response_header: 300ms}}\n")
	start := time.Now()
	r := get(t, newClient(t, false), p.Addr, "", "/slow")
	if r.Status != 504 {
		t.Fatalf("status %d, want 504", r.Status)
	}
	checkErrorBody(t, r)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("504 after %v, want about 300ms", d)
	}
}

// TestGracefulShutdown sends SIGTERM while a request is in flight: the
// request completes, the process exits 0 and stops accepting.
func TestGracefulShutdown(t *testing.T) {
	arrived := make(chan struct{}, 1)
	be := newHandlerBackend(t, "s1", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		w.Write([]byte("done"))
	})
	p := startServe(t, []*backend{be}, "routes:\n  - {name: a, servers: [s1]}\n")
	c := newClient(t, false)
	result := make(chan reply, 1)
	go func() {
		resp, err := c.Get("http://" + p.Addr + "/slow")
		if err != nil {
			result <- reply{Body: err.Error()}
			return
		}
		defer resp.Body.Close()
		var b [16]byte
		n, _ := resp.Body.Read(b[:])
		result <- reply{Status: resp.StatusCode, Body: string(b[:n])}
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the backend")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if r := <-result; r.Status != 200 || r.Body != "done" {
		t.Errorf("in-flight request during shutdown: status %d body %q, want 200 done", r.Status, r.Body)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0; stderr:\n%s", p.err, p.stderr)
		}
	case <-time.After(stopTimeout):
		t.Fatalf("still running %v after SIGTERM", stopTimeout)
	}
	if conn, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		conn.Close()
		t.Error("still accepting connections after exit")
	}
}
