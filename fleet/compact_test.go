package fleet_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/fleet"
	"l7lb/fleet/etcdtest"
	"l7lb/testlog"
)

// applier records the shared documents the agent applies.
type applier struct {
	observer
	mu      sync.Mutex
	applied []string
}

func (a *applier) ApplyShared(d config.Document) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied = append(a.applied, string(d.Data))
	return nil
}

func (a *applier) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.applied) == 0 {
		return ""
	}
	return a.applied[len(a.applied)-1]
}

// TestCompactionDuringWatch: the only etcd member an agent talks to stops,
// the others take two pushes and compact them away; when the member comes
// back the agent's watch cannot resume from its revision, and the agent
// reads everything again and applies the latest, not the one in between.
func TestCompactionDuringWatch(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	cl, err := fleet.Connect(&config.Fleet{Etcd: cluster.Endpoints()[1:], Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := fleet.Push(t.Context(), cl, prefix, []byte("servers: {a: http://127.0.0.1:1}\n"), -1); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(nil)
	eng.Init("x", []string{"a"})
	ap := &applier{observer: observer{eng: eng, own: map[string]bool{}, fleet: map[string]bool{}}}
	log := &testlog.Buffer{}
	logf := func(format string, args ...any) {
		log.Write([]byte(strings.TrimSpace(fmt.Sprintf(format, args...)) + "\n"))
	}
	agent, _, err := fleet.New(fleet.Options{Fleet: &config.Fleet{Etcd: cluster.Endpoints()[:1], Prefix: prefix, Name: "x"}, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	agent.Run(ap, "x")
	defer agent.Close()

	cluster.Members[0].Stop()
	// Tried again (bounded) while the two left elect a leader.
	push := func(doc string) int64 {
		var err error
		for try := 0; try < 10; try++ {
			var rev int64
			if rev, err = fleet.Push(t.Context(), cl, prefix, []byte(doc), -1); err == nil {
				return rev
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatal(err)
		return 0
	}
	push("servers: {a: http://127.0.0.1:2}\n")
	rev := push("servers: {a: http://127.0.0.1:3}\n")
	if _, err := cl.Compact(t.Context(), rev); err != nil {
		t.Fatal(err)
	}
	cluster.Members[0].Start()
	waitFor(t, "the agent applies the latest push", func() bool { return agent.Applied() == rev })
	if got := ap.last(); !strings.Contains(got, "127.0.0.1:3") {
		t.Errorf("applied %q last", got)
	}
	ap.mu.Lock()
	defer ap.mu.Unlock()
	for _, d := range ap.applied {
		if strings.Contains(d, "127.0.0.1:2") {
			t.Errorf("applied the compacted revision in between: %q", d)
		}
	}
	t.Logf("agent log:\n%s", log)
}
