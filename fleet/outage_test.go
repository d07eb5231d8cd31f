package fleet_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"l7lb/config"
	"l7lb/fleet"
	"l7lb/fleet/etcdtest"
)

// TestEtcdOutageUnderLoad: three instances under continuous load (two
// clients each, a request every few milliseconds, every answer checked)
// while the etcd leader is killed, then every member, for longer than a
// member's lease: no request fails. A push made without the old leader
// reaches every instance; an instance restarted while etcd is down serves
// from its cache; once etcd is back, a push reaches all three and their
// records in etcd say so.
func TestEtcdOutageUnderLoad(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	eps := cluster.Endpoints()
	flags := []string{"--etcd", strings.Join(eps, ","), "--prefix", prefix}
	dir := t.TempDir()
	a, b := backend(t, "a"), backend(t, "b")
	doc := func(to string) string {
		return fmt.Sprintf("servers: {a: %s, b: %s}\nroutes:\n  - path: /x\n    servers: [%s]\nsticky: {mode: off}\n", a, b, to)
	}
	rev := pushDoc(t, dir, flags, doc("a"))
	lbs := []*lb{startLB(t, dir, "lb-1", eps), startLB(t, dir, "lb-2", eps), startLB(t, dir, "lb-3", eps)}
	loads := make([]*load, len(lbs))
	for i, l := range lbs {
		loads[i] = startLoad(t, l, "/x", 2)
	}
	total := 0
	defer func() {
		for _, ld := range loads {
			total += ld.check(t)
		}
		t.Logf("%d requests through 3 instances, none failed", total)
	}()
	progress := func(what string) {
		t.Helper()
		for _, ld := range loads {
			ld.progress(t, what, 20)
		}
	}
	progress("before the outage")

	leader := cluster.Leader()
	leader.Stop()
	progress("with the etcd leader " + leader.Name + " killed")
	rev = pushDoc(t, dir, flags, doc("b"))
	waitApplied(t, lbs, rev)
	progress("after a push without the old leader")

	cluster.StopAll()
	down := time.Now()
	progress("with etcd down")

	// lb-3 restarted while etcd is down (its load stopped first: a
	// stopped instance refuses connections) serves from its cache.
	total += loads[2].check(t)
	lbs[2].stop()
	l3, err := tryStartLB(t, dir, "lb-3", eps)
	if err != nil {
		t.Fatalf("restart while etcd is down: %v", err)
	}
	lbs[2] = l3
	if got := l3.get(t, "/x"); got != "b" || l3.agent.Applied() != rev || !strings.Contains(l3.log.String(), "serving the cached shared configuration") {
		t.Fatalf("restarted while etcd is down: /x to %s, revision %d (want b, %d), log:\n%s", got, l3.agent.Applied(), rev, l3.log.String())
	}
	loads[2] = startLoad(t, l3, "/x", 2)
	// etcd stays down longer than a member's lease.
	for time.Since(down) < fleet.Lease+time.Second {
		progress("with etcd down")
	}

	for _, m := range cluster.Members {
		m.Start()
	}
	rev = pushDoc(t, dir, flags, doc("a"))
	waitApplied(t, lbs, rev)
	cl, err := fleet.Connect(&config.Fleet{Etcd: eps, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitFor(t, "three records at the last revision", func() bool {
		st, err := fleet.ReadStatus(t.Context(), cl, prefix)
		if err != nil || len(st.Members) != 3 {
			return false
		}
		for _, m := range st.Members {
			if m.Revision != rev || m.Error != "" {
				return false
			}
		}
		return true
	})
	progress("once etcd is back")
	for _, l := range lbs {
		if got := l.get(t, "/x"); got != "a" {
			t.Errorf("%s: /x went to %s once etcd came back, want a", l.name, got)
		}
	}
}
