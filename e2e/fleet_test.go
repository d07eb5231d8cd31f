package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"l7lb/fleet/etcdtest"
)

// TestFleetServe runs the binary as a fleet instance: `fleet push` then
// `serve` with a fleet: block, a second push applied live, `fleet status`
// listing it, and its member record gone once it stops.
func TestFleetServe(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	eps := strings.Join(cluster.Endpoints(), ",")
	bs := newBackends(t, 2)
	flags := []string{"--etcd", eps, "--prefix", "/e2e"}
	shared := func(to string) string {
		return fmt.Sprintf("servers: {%s: %s, %s: %s}\nroutes: [{path: /x, servers: [%s]}]\nsticky: {mode: off}\n", bs[0].ID, bs[0].URL, bs[1].ID, bs[1].URL, to)
	}
	push := func(to string) {
		t.Helper()
		out, errOut, code := runL7lb(t, append([]string{"fleet", "push", "--config", writeFile(t, "shared.yaml", shared(to))}, flags...)...)
		if code != 0 || !strings.Contains(out, "revision ") {
			t.Fatalf("push: exit %d %q %q", code, out, errOut)
		}
	}
	push(bs[0].ID)
	addr := freePort(t)
	local := fmt.Sprintf("listen: %s\nfleet:\n  etcd: [%s]\n  prefix: /e2e\n  name: e2e-1\n  cache: %s/cache.json\n", addr, eps, t.TempDir())
	p, err := launch(t, writeFile(t, "local.yaml", local), serveOpts{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, false)
	if r := get(t, c, p.Addr, "", "/x"); r.Backend != bs[0].ID {
		t.Fatalf("/x went to %q, want %s", r.Backend, bs[0].ID)
	}
	push(bs[1].ID)
	deadline := time.Now().Add(10 * time.Second)
	for get(t, c, p.Addr, "", "/x").Backend != bs[1].ID {
		if time.Now().After(deadline) {
			t.Fatalf("the second push was not applied; stderr:\n%s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out string
	for time.Now().Before(deadline) {
		out, _, _ = runL7lb(t, append([]string{"fleet", "status"}, flags...)...)
		if strings.Contains(out, "1 live instances") && !strings.Contains(out, "lagging") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out, "e2e-1") || !strings.Contains(out, addr) {
		t.Errorf("status does not list the instance:\n%s", out)
	}
	p.stop(t)
	if out, _, _ := runL7lb(t, append([]string{"fleet", "status"}, flags...)...); !strings.Contains(out, "0 live instances") {
		t.Errorf("a stopped instance is still a member:\n%s", out)
	}
	if out, _, code := runL7lb(t, append([]string{"fleet", "get"}, flags...)...); code != 0 || !strings.HasPrefix(out, "# revision ") || !strings.Contains(out, bs[1].URL) {
		t.Errorf("get: exit %d\n%s", code, out)
	}
}
