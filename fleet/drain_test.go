package fleet_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"l7lb/engine"
	"l7lb/fleet/etcdtest"
)

// recorder is a backend that answers its name after a delay and records
// the X-Load-Id of every request it gets.
type recorder struct {
	name string
	url  string

	mu  sync.Mutex
	ids []string
}

func newRecorder(t *testing.T, name string, delay time.Duration) *recorder {
	r := &recorder{name: name}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.ids = append(r.ids, req.Header.Get("X-Load-Id"))
		r.mu.Unlock()
		time.Sleep(delay)
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	r.url = s.URL
	return r
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// TestDrainUnderLoad: `l7lb fleet drain b` while three instances are under
// load, b slow (requests in flight to it at the drain). Every instance
// drains b; none sends it a request the client sent after that instance
// applied the drain (by the requests b itself got, retries included); no
// request fails, those in flight to b at the drain included. `fleet
// enable` brings b back on every instance.
func TestDrainUnderLoad(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	eps := cluster.Endpoints()
	flags := []string{"--etcd", strings.Join(eps, ","), "--prefix", prefix}
	dir := t.TempDir()
	a, b := newRecorder(t, "a", 0), newRecorder(t, "b", 100*time.Millisecond)
	// No route: every request goes to the default servers, a and b in
	// turn; no sticky sessions (a drain keeps those until its timeout).
	rev := pushDoc(t, dir, flags, fmt.Sprintf("servers: {a: %s, b: %s}\nsticky: {mode: off}\n", a.url, b.url))
	lbs := []*lb{startLB(t, dir, "lb-1", eps), startLB(t, dir, "lb-2", eps), startLB(t, dir, "lb-3", eps)}
	waitApplied(t, lbs, rev)
	loads := make([]*load, len(lbs))
	for i, l := range lbs {
		loads[i] = startLoad(t, l, "/y", 4)
	}
	for _, ld := range loads {
		ld.progress(t, "before the drain", 20)
	}

	// When each instance applied the drain: polled every millisecond, so
	// at or after the instant the engine took it.
	applied := make([]time.Time, len(lbs))
	var wg sync.WaitGroup
	for i, l := range lbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if s, _ := l.in.Engine().State("b"); s == engine.StateDraining {
					applied[i] = time.Now()
					return
				}
			}
		}()
	}
	if _, errOut, code := run(append([]string{"fleet", "drain", "b", "--timeout", "1m"}, flags...)...); code != 0 {
		t.Fatalf("drain: %s", errOut)
	}
	wg.Wait()
	for i, at := range applied {
		if at.IsZero() {
			t.Fatalf("%s did not drain b", lbs[i].name)
		}
	}
	for _, ld := range loads {
		ld.progress(t, "after the drain", 50)
	}

	sent := map[string]time.Time{} // by request id
	inFlight, after := 0, 0
	for i, ld := range loads {
		for _, r := range ld.stop() {
			sent[r.id] = r.sent
			switch {
			case r.sent.After(applied[i]):
				after++
			case r.backend == "b" && r.done.After(applied[i]):
				inFlight++
			}
		}
		ld.check(t)
	}
	bad := 0
	for _, id := range b.got() {
		name, _, _ := strings.Cut(id, "/")
		i := slices.IndexFunc(lbs, func(l *lb) bool { return l.name == name })
		if i < 0 {
			t.Fatalf("b got a request without a known X-Load-Id: %q", id)
		}
		if at, ok := sent[id]; !ok || at.After(applied[i]) {
			if bad < 10 {
				t.Errorf("%s sent b request %s, sent by the client %v after %s applied the drain", name, id, at.Sub(applied[i]), name)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d new requests went to the drained server", bad)
	}
	// The test tested something: requests in flight to b across the
	// drain, answered; requests after it, answered by a.
	if inFlight == 0 || after < 100 {
		t.Errorf("%d requests in flight to b across the drain, %d sent after it", inFlight, after)
	}
	t.Logf("b got %d requests, %d of them sent after their instance applied the drain; %d in flight to b across the drain; %d sent after it; a got %d", len(b.got()), bad, inFlight, after, len(a.got()))

	if _, errOut, code := run(append([]string{"fleet", "enable", "b"}, flags...)...); code != 0 {
		t.Fatalf("enable: %s", errOut)
	}
	for _, l := range lbs {
		waitFor(t, l.name+" enables b", func() bool { s, _ := l.in.Engine().State("b"); return s == engine.StateUp })
		seen := map[string]bool{}
		for i := 0; i < 4; i++ {
			seen[l.get(t, "/y")] = true
		}
		if !seen["b"] {
			t.Errorf("%s: b enabled, yet 4 requests in turn all went to %v", l.name, seen)
		}
	}
	if _, errOut, code := run(append([]string{"fleet", "disable", "ghost"}, flags...)...); code != 1 || !strings.Contains(errOut, "unknown server ghost") {
		t.Errorf("disable of an unknown server: exit %d, %q", code, errOut)
	}
}
