package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"l7lb/fleet/etcdtest"
)

// TestFleetServeEtcdDown runs the binary through losing etcd: a client
// loop (every answer checked) gets no failure while the only etcd member
// is killed and the instance notices; restarted while etcd is down, the
// binary serves the cached shared configuration and says so; once etcd is
// back it applies a push made then.
func TestFleetServeEtcdDown(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	eps := strings.Join(cluster.Endpoints(), ",")
	bs := newBackends(t, 2)
	flags := []string{"--etcd", eps, "--prefix", "/e2e"}
	push := func(to string) {
		t.Helper()
		doc := fmt.Sprintf("servers: {%s: %s, %s: %s}\nroutes: [{path: /x, servers: [%s]}]\nsticky: {mode: off}\n", bs[0].ID, bs[0].URL, bs[1].ID, bs[1].URL, to)
		var out, errOut string
		for try := 0; try < 10; try++ { // etcd may be electing itself again
			var code int
			if out, errOut, code = runL7lb(t, append([]string{"fleet", "push", "--config", writeFile(t, "shared.yaml", doc)}, flags...)...); code == 0 {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("push: %q %q", out, errOut)
	}
	push(bs[0].ID)
	addr := freePort(t)
	local := writeFile(t, "local.yaml", fmt.Sprintf("listen: %s\nfleet:\n  etcd: [%s]\n  prefix: /e2e\n  name: e2e-1\n  cache: %s\n",
		addr, eps, filepath.Join(t.TempDir(), "cache.json")))
	p, err := launch(t, local, serveOpts{})
	if err != nil {
		t.Fatal(err)
	}

	// One client, a request every 5 ms, at most 4,000 and 60 s.
	var done, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	c, first := newClient(t, false), p.Addr
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(60 * time.Second)
		for i := 0; i < 4000 && time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get("http://" + first + "/x")
			if err == nil {
				resp.Body.Close()
				if b := resp.Header.Get("X-Backend"); resp.StatusCode != 200 || b != bs[0].ID {
					err = fmt.Errorf("status %d from %q", resp.StatusCode, b)
				}
			}
			if err != nil {
				firstFailure.CompareAndSwap(nil, err.Error())
				failed.Add(1)
			}
			done.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out: %s; stderr:\n%s", what, p.stderr)
			}
		}
	}
	waitUntil("requests before etcd stops", func() bool { return done.Load() >= 20 })
	cluster.StopAll()
	waitUntil("the instance notices etcd is gone", func() bool { return strings.Contains(p.stderr.String(), "trying again") })
	from := done.Load()
	waitUntil("requests with etcd down", func() bool { return done.Load() >= from+100 })
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed while etcd went down, the first: %v", failed.Load(), done.Load(), firstFailure.Load())
	}
	p.stop(t)

	p, err = launch(t, local, serveOpts{})
	if err != nil {
		t.Fatalf("restart with etcd down: %v", err)
	}
	if r := get(t, c, p.Addr, "", "/x"); r.Backend != bs[0].ID || !strings.Contains(p.stderr.String(), "serving the cached shared configuration") {
		t.Fatalf("restarted with etcd down: /x went to %q; stderr:\n%s", r.Backend, p.stderr)
	}
	cluster.Members[0].Start()
	push(bs[1].ID)
	deadline := time.Now().Add(15 * time.Second)
	for get(t, c, p.Addr, "", "/x").Backend != bs[1].ID {
		if time.Now().After(deadline) {
			t.Fatalf("the push made once etcd was back was not applied; stderr:\n%s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
