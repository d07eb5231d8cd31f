package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// timedBackend is a backend that answers after a delay, with a status it
// can be told to change, and records how many requests it held at once.
// It leaves the count before it answers, so that the proxy cannot see its
// response (and start the next request) while the count still includes it.
type timedBackend struct {
	*backend
	delay   time.Duration
	status  atomic.Int32
	current atomic.Int32
	peak    atomic.Int32
	served  atomic.Int64
	failed  atomic.Int64 // answered with a status of 500 or more
}

func newTimedBackend(t *testing.T, id string, delay time.Duration) *timedBackend {
	tb := &timedBackend{delay: delay}
	tb.status.Store(200)
	tb.backend = newHandlerBackend(t, id, func(w http.ResponseWriter, r *http.Request) {
		n := tb.current.Add(1)
		for {
			p := tb.peak.Load()
			if n <= p || tb.peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(tb.delay)
		tb.current.Add(-1)
		tb.served.Add(1)
		status := int(tb.status.Load())
		if status >= 500 {
			tb.failed.Add(1)
		}
		w.WriteHeader(status)
		io.WriteString(w, id)
	})
	return tb
}

// loadResult counts the answers of a load run by backend.
type loadResult struct {
	mu       sync.Mutex
	byServer map[string]int
	statuses map[int]int
	errs     []error
}

func (r *loadResult) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.byServer {
		n += c
	}
	return n
}

// runLoad sends GET target through the proxy from clients concurrent
// clients, each with its own keep-alive connection, until requests have
// been sent or d has passed, whichever comes first. header is added to
// every request.
func runLoad(t *testing.T, addr string, clients, requests int, d time.Duration, header map[string]string) *loadResult {
	t.Helper()
	res := &loadResult{byServer: map[string]int{}, statuses: map[int]int{}}
	var sent atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		c := newClient(t, false)
		wg.Go(func() {
			for sent.Add(1) <= int64(requests) && time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", "http://"+addr+"/load", nil)
				for k, v := range header {
					req.Header.Set(k, v)
				}
				resp, err := c.Do(req)
				if err != nil {
					res.mu.Lock()
					res.errs = append(res.errs, err)
					res.mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				res.mu.Lock()
				res.byServer[resp.Header.Get("X-Backend")]++
				res.statuses[resp.StatusCode]++
				res.mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(res.errs) > 0 {
		t.Errorf("%d client errors, the first: %v", len(res.errs), res.errs[0])
	}
	return res
}

// TestLoadAwareBalancing: with one server answering in 1 ms and one in
// 50 ms, 20 clients at once, least_request and peak_ewma send most
// requests to the fast server, where round robin splits them evenly.
// The bounds are conservative for a loaded 2-core machine and the race
// detector (a run on a machine busy with other work gave peak_ewma 84.8%);
// BENCHMARKS.md has the shares measured.
func TestLoadAwareBalancing(t *testing.T) {
	for _, tt := range []struct {
		balance  string
		minShare float64
	}{
		{"round_robin", 0},
		{"least_request", 0.70},
		{"peak_ewma", 0.75},
	} {
		t.Run(tt.balance, func(t *testing.T) {
			fast := newTimedBackend(t, "fast", time.Millisecond)
			slow := newTimedBackend(t, "slow", 50*time.Millisecond)
			p := startServe(t, []*backend{fast.backend, slow.backend}, fmt.Sprintf(`
sticky: {mode: off}
routes:
  - {name: r, servers: [fast, slow], balance: %s}
`, tt.balance))
			res := runLoad(t, p.Addr, 20, 4000, 4*time.Second, nil)
			total := res.total()
			share := float64(res.byServer["fast"]) / float64(total)
			t.Logf("%s: %d requests, fast server's share %.1f%% (fast %d, slow %d)", tt.balance, total, 100*share, res.byServer["fast"], res.byServer["slow"])
			if total < 200 {
				t.Fatalf("only %d requests completed", total)
			}
			if res.statuses[200] != total {
				t.Errorf("statuses %v", res.statuses)
			}
			if tt.balance == "round_robin" {
				if share < 0.45 || share > 0.55 {
					t.Errorf("round robin gave the fast server %.1f%%, want half", 100*share)
				}
				return
			}
			if share < tt.minShare {
				t.Errorf("%s gave the fast server %.1f%%, want at least %.0f%%", tt.balance, 100*share, 100*tt.minShare)
			}
		})
	}
}

// TestBoundedLoadHotKey: every request carries the same hash key; with
// hash_balance_factor 1.25 no server holds more than ceil(1.25 × 20 / 4)
// = 7 of the 20 concurrent requests (the backends count what they hold
// at once), so the key's load spills over to the next servers in
// rendezvous order instead of melting one.
func TestBoundedLoadHotKey(t *testing.T) {
	var bs []*timedBackend
	var plain []*backend
	for i := range 4 {
		b := newTimedBackend(t, fmt.Sprintf("s%d", i+1), 5*time.Millisecond)
		bs = append(bs, b)
		plain = append(plain, b.backend)
	}
	p := startServe(t, plain, `
sticky: {mode: off}
routes:
  - {name: h, servers: [s1, s2, s3, s4], balance: hash, hash_on: "header:x-user", hash_balance_factor: 1.25}
`)
	res := runLoad(t, p.Addr, 20, 3000, 4*time.Second, map[string]string{"X-User": "hot"})
	var used int
	for _, b := range bs {
		t.Logf("%s: %d requests, at most %d at once", b.ID, res.byServer[b.ID], b.peak.Load())
		if b.peak.Load() > 7 {
			t.Errorf("%s held %d requests at once, past the bound 7", b.ID, b.peak.Load())
		}
		if res.byServer[b.ID] > 0 {
			used++
		}
	}
	if used < 3 {
		t.Errorf("the hot key reached %d servers: 20 at once cannot fit under 7 on fewer than 3", used)
	}
}

// adminStats reads /stats from the admin listener.
func adminStats(t *testing.T, admin string) map[string]struct {
	InFlight  int64             `json:"in_flight"`
	Ejected   bool              `json:"ejected"`
	Ejections map[string]uint64 `json:"ejections"`
} {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Servers map[string]struct {
			InFlight  int64             `json:"in_flight"`
			Ejected   bool              `json:"ejected"`
			Ejections map[string]uint64 `json:"ejections"`
		} `json:"servers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.Servers
}

// TestOutlierEjection: under load, a server that starts answering 503 is
// ejected after its run of consecutive failures, gets no traffic while
// ejected, and is readmitted once its ejection time is over and it
// answers well; max_ejection_percent keeps a second failing server of a
// pool of three in service.
func TestOutlierEjection(t *testing.T) {
	var bs []*timedBackend
	var plain []*backend
	for i := range 3 {
		b := newTimedBackend(t, fmt.Sprintf("s%d", i+1), time.Millisecond)
		bs = append(bs, b)
		plain = append(plain, b.backend)
	}
	admin := freePort(t)
	p := startServe(t, plain, fmt.Sprintf(`
admin: %q
sticky: {mode: off}
outliers: {consecutive_5xx: 3, interval: 100ms, base_ejection_time: 1s, max_ejection_percent: 50, success_rate_stdev_factor: 0}
routes:
  - {name: r, servers: [s1, s2, s3]}
`, admin))
	const clients = 4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range clients {
		c := newClient(t, false)
		wg.Go(func() {
			for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("http://" + p.Addr + "/x")
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
		if errs.Load() > 0 {
			t.Errorf("%d client errors", errs.Load())
		}
	}()
	if !waitFor(3*time.Second, func() bool { return bs[0].served.Load() > 20 }) {
		t.Fatal("no traffic reaches s1")
	}

	// s1 fails: ejected within its threshold (3 in a row, plus the
	// requests already on their way to it, one per client at most).
	bs[0].status.Store(503)
	if !waitFor(3*time.Second, func() bool { return adminStats(t, admin)["s1"].Ejected }) {
		t.Fatalf("s1 not ejected; stderr:\n%s", p.stderr)
	}
	if n := bs[0].failed.Load(); n > 3+clients {
		t.Errorf("s1 answered %d failures before its ejection, threshold 3 with %d clients", n, clients)
	}
	// s2 fails too: 50% of three servers is one, so s2 stays in.
	bs[1].status.Store(503)
	time.Sleep(200 * time.Millisecond)
	before := bs[0].served.Load()
	s2before := bs[1].served.Load()
	time.Sleep(300 * time.Millisecond)
	st := adminStats(t, admin)
	if !st["s1"].Ejected || st["s2"].Ejected {
		t.Errorf("ejected: s1 %v s2 %v, want s1 only (max_ejection_percent 50 of 3)", st["s1"].Ejected, st["s2"].Ejected)
	}
	if n := bs[0].served.Load() - before; n != 0 {
		t.Errorf("s1 served %d requests while ejected", n)
	}
	if bs[1].served.Load() == s2before {
		t.Error("s2 got no traffic: it must stay in service")
	}
	bs[1].status.Store(200)

	// s1 recovers: readmitted after its 1s, at the next sweep.
	bs[0].status.Store(200)
	if !waitFor(3*time.Second, func() bool { return !adminStats(t, admin)["s1"].Ejected }) {
		t.Fatal("s1 not readmitted 3s after a 1s ejection")
	}
	if !waitFor(2*time.Second, func() bool { return bs[0].served.Load() > before }) {
		t.Error("s1 gets no traffic after its readmission")
	}
	if st := adminStats(t, admin)["s1"]; st.Ejections["consecutive_5xx"] != 1 {
		t.Errorf("s1 ejections %v", st.Ejections)
	}
	for _, want := range []string{"server s1 ejected for 1s", "server s1 readmitted"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
		}
	}
}
