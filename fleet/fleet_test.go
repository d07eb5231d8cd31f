package fleet_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"l7lb/cli"
	"l7lb/config"
	"l7lb/fleet"
	"l7lb/fleet/etcdtest"
	"l7lb/instance"
	"l7lb/testlog"
)

const prefix = "/l7lb/test"

// lb is one instance of the fleet, in process.
type lb struct {
	name, file, addr string
	in               *instance.Instance
	agent            *fleet.Agent
	log              *testlog.Buffer
}

// startLB starts the instance name of the fleet on etcd endpoints; it
// fails the test when it cannot start.
func startLB(t *testing.T, dir, name string, endpoints []string) *lb {
	t.Helper()
	l, err := tryStartLB(t, dir, name, endpoints)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l
}

func tryStartLB(t *testing.T, dir, name string, endpoints []string) (*lb, error) {
	return tryStartLBWith(t, dir, name, endpoints, "")
}

// tryStartLBWith is tryStartLB with more keys of the fleet: block
// (fleetKeys: YAML lines indented by two spaces).
func tryStartLBWith(t *testing.T, dir, name string, endpoints []string, fleetKeys string) (*lb, error) {
	l := &lb{name: name, file: filepath.Join(dir, name+".yaml"), addr: freeAddr(t), log: &testlog.Buffer{}}
	local := fmt.Sprintf("listen: %s\ndrain_timeout: 1s\nfleet:\n  etcd: [%s]\n  prefix: %s\n  name: %s\n  cache: %s\n%s",
		l.addr, strings.Join(endpoints, ", "), prefix, name, filepath.Join(dir, name+".cache.json"), fleetKeys)
	if err := os.WriteFile(l.file, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _, err := config.ReadFile(l.file, true)
	if err != nil {
		t.Fatal(err)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(l.log, "l7lb: "+format+"\n", args...) }
	agent, st, err := fleet.New(fleet.Options{Fleet: f.Fleet, Version: "test", Logf: logf})
	if err != nil {
		return nil, err
	}
	env := instance.Env{NodeID: name, StickySecret: st.Secret}
	o := instance.Options{Config: l.file, Stderr: l.log, Env: env, Shared: &st.Shared}
	in, err := instance.Start(o)
	if err != nil && !st.FromCache { // as serve does
		if fb, ferr := agent.Fallback(err); ferr == nil {
			o.Shared = &fb.Shared
			in, err = instance.Start(o)
		}
	}
	if err != nil {
		agent.Close()
		return nil, err
	}
	agent.Run(in, l.addr)
	l.in, l.agent = in, agent
	t.Cleanup(l.stop)
	return l, nil
}

func (l *lb) stop() {
	if l.in == nil {
		return
	}
	l.agent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l.in.ShutdownContext(ctx)
	l.in = nil
}

// get sends one request through l and returns the backend that answered.
func (l *lb) get(t *testing.T, path string) string {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + l.addr + path)
	if err != nil {
		t.Fatalf("%s: %v", l.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: status %d: %s", l.name, path, resp.StatusCode, b)
	}
	return string(b)
}

// waitFor polls cond every 20 ms, at most 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting: %s", what)
}

func backend(t *testing.T, name string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(s.Close)
	return s.URL
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// run runs the l7lb command line in process.
func run(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := cli.Main(args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

func writeFile(t *testing.T, dir, name, data string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFleet runs one three-member etcd cluster and three instances through
// a fleet's life: pushes, a rotation of the sticky secrets, a rejected
// push, a conflict, a bad configuration written straight into etcd.
// Losing etcd is TestEtcdOutageUnderLoad's, a fleet-wide drain
// TestDrainUnderLoad's.
func TestFleet(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	eps := cluster.Endpoints()
	dir := t.TempDir()
	root := t // instances restarted in a subtest live until the test ends
	a, b := backend(t, "a"), backend(t, "b")
	etcdFlags := []string{"--etcd", strings.Join(eps, ","), "--prefix", prefix}
	sharedA := fmt.Sprintf("servers: {a: %s, b: %s}\nroutes:\n  - path: /x\n    servers: [a]\nsticky: {mode: off}\n", a, b)
	sharedB := fmt.Sprintf("servers: {a: %s, b: %s}\nroutes:\n  - path: /x\n    servers: [b]\nsticky: {mode: off}\n", a, b)

	out, errOut, code := run(append([]string{"fleet", "push", "--config", writeFile(t, dir, "a.yaml", sharedA)}, etcdFlags...)...)
	if code != 0 {
		t.Fatalf("push: exit %d: %s", code, errOut)
	}
	if revisionOf(out) == 0 {
		t.Fatalf("push printed %q", out)
	}

	lbs := []*lb{startLB(t, dir, "lb-1", eps), startLB(t, dir, "lb-2", eps), startLB(t, dir, "lb-3", eps)}
	for _, l := range lbs {
		if got := l.get(t, "/x"); got != "a" {
			t.Fatalf("%s: /x went to %s, want a", l.name, got)
		}
	}

	push := func(doc string) int64 { t.Helper(); return pushDoc(t, dir, etcdFlags, doc) }
	applied := func(rev int64) { t.Helper(); waitApplied(t, lbs, rev) }

	t.Run("push reaches every instance", func(t *testing.T) {
		rev := push(sharedB)
		applied(rev)
		for _, l := range lbs {
			if got := l.get(t, "/x"); got != "b" {
				t.Errorf("%s: /x went to %s after the push, want b", l.name, got)
			}
		}
	})

	t.Run("push latency", func(t *testing.T) {
		// Not a timed test: the figures are logged (the issue asks for
		// p50/p99 over 20 pushes); the bound is waitFor's.
		var took []time.Duration
		for i := 0; i < 20; i++ {
			doc := sharedA
			if i%2 == 0 {
				doc = sharedB
			}
			start := time.Now()
			applied(push(doc))
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		t.Logf("push to the last of 3 instances applying it: p50 %v, p99 %v (20 pushes, CLI in process, shared machine)", took[len(took)/2], took[len(took)-1])
		if lbs[0].get(t, "/x") != "a" {
			t.Error("after the last push (a), /x does not go to a")
		}
	})

	t.Run("sticky secret rotation", func(t *testing.T) {
		sticky := fmt.Sprintf("servers: {a: %s, b: %s}\nroutes:\n  - path: /x\n    servers: [b]\n  - path: /s\n    servers: [a, b]\nsticky: {secrets: [%%s]}\n", a, b)
		applied(push(fmt.Sprintf(sticky, "old-secret")))
		resp, err := http.Get("http://" + lbs[0].addr + "/s")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "l7lb" {
				cookie = c
			}
		}
		if cookie == nil {
			t.Fatalf("no sticky cookie from lb-1: %v", resp.Header)
		}
		applied(push(fmt.Sprintf(sticky, "new-secret, old-secret")))
		for _, l := range lbs {
			for i := 0; i < 4; i++ {
				req, _ := http.NewRequest("GET", "http://"+l.addr+"/s", nil)
				req.AddCookie(cookie)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != string(body) {
					t.Fatalf("%s: the cookie lb-1 issued before the rotation went to %s, not %s", l.name, got, body)
				}
			}
		}
		applied(push(sharedB))
	})

	cl, err := fleet.Connect(&config.Fleet{Etcd: eps, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	t.Run("invalid push: exit 2, file:line, nothing written", func(t *testing.T) {
		_, before, _ := fleet.Get(ctx, cl, prefix)
		bad := writeFile(t, dir, "bad.yaml", "servers: {a: http://127.0.0.1:1}\nroutes:\n  - path: /x\n    servers: [nope]\nlisten: :80\n")
		_, errOut, code := run(append([]string{"fleet", "push", "--config", bad}, etcdFlags...)...)
		if code != 2 || !strings.Contains(errOut, bad+":5: listen: local to each instance") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		bad2 := writeFile(t, dir, "bad2.yaml", "servers: {a: http://127.0.0.1:1}\nroutes:\n  - path: /x\n    servers: [nope]\n")
		_, errOut, code = run(append([]string{"fleet", "push", "--config", bad2}, etcdFlags...)...)
		if code != 2 || !strings.Contains(errOut, bad2+":4: routes[0].servers") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if _, after, _ := fleet.Get(ctx, cl, prefix); after != before {
			t.Errorf("revision %d after a rejected push, was %d", after, before)
		}
	})

	t.Run("compare and swap", func(t *testing.T) {
		_, cur, _ := fleet.Get(ctx, cl, prefix)
		f := writeFile(t, dir, "cas.yaml", sharedB)
		_, errOut, code := run(append([]string{"fleet", "push", "--config", f, "--if-revision", fmt.Sprint(cur - 1)}, etcdFlags...)...)
		if code != 1 || !strings.Contains(errOut, fmt.Sprintf("at revision %d", cur)) {
			t.Errorf("stale --if-revision: exit %d, stderr %q", code, errOut)
		}
		out, errOut, code := run(append([]string{"fleet", "push", "--config", f, "--if-revision", fmt.Sprint(cur)}, etcdFlags...)...)
		if code != 0 || revisionOf(out) <= cur {
			t.Errorf("current --if-revision: exit %d, %q %q", code, out, errOut)
		}
		applied(revisionOf(out))
	})

	t.Run("a bad configuration in etcd is not applied and shows in status", func(t *testing.T) {
		good := lbs[0].agent.Applied()
		if _, err := cl.Put(ctx, prefix+"/config", "servers: {a: http://127.0.0.1:1}\nroutes: [{path: /x, servers: [ghost]}]\n"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every instance reports the error", func() bool {
			st, err := fleet.ReadStatus(ctx, cl, prefix)
			if err != nil || len(st.Members) != 3 {
				return false
			}
			for _, m := range st.Members {
				if m.Error == "" || m.Revision != good {
					return false
				}
			}
			return true
		})
		for _, l := range lbs {
			if got := l.get(t, "/x"); got != "b" {
				t.Errorf("%s: /x went to %s, want b (the last good configuration)", l.name, got)
			}
		}
		out, _, code := run(append([]string{"fleet", "status"}, etcdFlags...)...)
		if code != 1 || !strings.Contains(out, "failed to apply: lb-1 lb-2 lb-3") || !strings.Contains(out, "ghost") {
			t.Errorf("status: exit %d\n%s", code, out)
		}
		// Restarted now, an instance starts from its cache, the last
		// good configuration, and says why.
		lbs[0].stop()
		l, err := tryStartLB(root, dir, "lb-1", eps)
		if err != nil {
			t.Fatalf("restart with a bad configuration in etcd: %v", err)
		}
		lbs[0] = l
		if got := l.get(t, "/x"); got != "b" || l.agent.Applied() != good || !strings.Contains(l.log.String(), "ghost") {
			t.Errorf("restarted: /x to %s, revision %d (want %d), log:\n%s", got, l.agent.Applied(), good, l.log.String())
		}
		waitFor(t, "the restarted instance reports the error", func() bool {
			out, _, _ := run(append([]string{"fleet", "status"}, etcdFlags...)...)
			return strings.Contains(out, "failed to apply: lb-1 lb-2 lb-3")
		})
		applied(push(sharedB))
		var out2 string
		waitFor(t, "status clean after a good push", func() bool {
			o, _, code := run(append([]string{"fleet", "status"}, etcdFlags...)...)
			out2 = o
			return code == 0 && strings.Contains(o, "3 live instances")
		})
		if strings.Contains(out2, "ghost") {
			t.Errorf("status after a good push:\n%s", out2)
		}
	})

}

// pushDoc pushes doc with `l7lb fleet push` and returns its revision;
// tried again (bounded) while etcd elects a leader.
func pushDoc(t *testing.T, dir string, etcdFlags []string, doc string) int64 {
	t.Helper()
	var errOut string
	for try := 0; try < 5; try++ {
		out, e, code := run(append([]string{"fleet", "push", "--config", writeFile(t, dir, "s.yaml", doc)}, etcdFlags...)...)
		if code == 0 {
			return revisionOf(out)
		}
		errOut = e
		time.Sleep(time.Second)
	}
	t.Errorf("push: %s", errOut)
	return -1
}

// waitApplied waits (bounded) until every instance of lbs runs revision rev.
func waitApplied(t *testing.T, lbs []*lb, rev int64) {
	t.Helper()
	for _, l := range lbs {
		waitFor(t, fmt.Sprintf("%s applies revision %d", l.name, rev), func() bool { return l.agent.Applied() == rev })
	}
}

// revisionOf returns N of push's last line, "revision N".
func revisionOf(out string) int64 {
	var rev int64
	lines := strings.Split(strings.TrimSpace(out), "\n")
	fmt.Sscanf(lines[len(lines)-1], "revision %d", &rev)
	return rev
}
