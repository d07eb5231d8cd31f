package fleet_test

import (
	"fmt"
	"sync"
	"testing"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/fleet"
	"l7lb/fleet/etcdtest"
)

// observer is an instance whose own health view the test sets, with a
// real engine: the majority rule is the fleet's, not the instance's.
type observer struct {
	eng *engine.Engine

	mu    sync.Mutex
	own   map[string]bool
	fleet map[string]bool
}

func (o *observer) ApplyShared(config.Document) error { return nil }
func (o *observer) Engine() *engine.Engine            { return o.eng }
func (o *observer) Hash() string                      { return "test" }

func (o *observer) OwnDown() map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]bool{}
	for k, v := range o.own {
		m[k] = v
	}
	return m
}

func (o *observer) SetFleetDown(server string, down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fleet[server] = down
}

func (o *observer) setOwn(server string, down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.own[server] = down
}

func (o *observer) fleetDown(server string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fleet[server]
}

// TestMajorityRule: one instance seeing a server down does not take it out
// for the others; once a majority of the live instances (2 of 3) see it
// down, every instance holds it down, a new one at once; when they see it
// up again, the verdict ends.
func TestMajorityRule(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	eps := cluster.Endpoints()
	cl, err := fleet.Connect(&config.Fleet{Etcd: eps, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := fleet.Push(t.Context(), cl, prefix, []byte("servers: {a: http://127.0.0.1:1, b: http://127.0.0.1:2}\n"), -1); err != nil {
		t.Fatal(err)
	}
	start := func(name string) *observer {
		eng := engine.New(nil)
		eng.Init(name, []string{"a", "b"})
		o := &observer{eng: eng, own: map[string]bool{}, fleet: map[string]bool{}}
		agent, _, err := fleet.New(fleet.Options{Fleet: &config.Fleet{Etcd: eps, Prefix: prefix, Name: name}, Logf: func(string, ...any) {}})
		if err != nil {
			t.Fatal(err)
		}
		agent.Run(o, name)
		t.Cleanup(agent.Close)
		return o
	}
	obs := []*observer{start("i1"), start("i2"), start("i3")}
	members := func(n int) {
		waitFor(t, fmt.Sprintf("%d members", n), func() bool {
			st, err := fleet.ReadStatus(t.Context(), cl, prefix)
			return err == nil && len(st.Members) == n
		})
	}
	members(3)

	obs[0].setOwn("a", true)
	waitFor(t, "i1's view published", func() bool {
		st, _ := fleet.ReadStatus(t.Context(), cl, prefix)
		return st != nil && len(st.Members) == 3 && !st.Members[0].Servers["a"]
	})
	// Give the others a few reconcile rounds: one view of three is no
	// majority.
	for i := 0; i < 3; i++ {
		members(3)
	}
	for _, o := range obs {
		if o.fleetDown("a") {
			t.Fatal("one instance of three took server a out for the fleet")
		}
	}

	obs[1].setOwn("a", true)
	for i, o := range obs {
		waitFor(t, fmt.Sprintf("i%d holds a down by the majority", i+1), func() bool { return o.fleetDown("a") })
	}
	if obs[2].fleetDown("b") {
		t.Error("b is up for everyone, yet held down")
	}
	late := start("i4") // 2 of 4 is no majority: i4 must not hold a down
	members(4)
	obs = append(obs, late)
	for i, o := range obs {
		waitFor(t, fmt.Sprintf("i%d: 2 of 4 is no majority", i+1), func() bool { return !o.fleetDown("a") })
	}
	obs[2].setOwn("a", true) // 3 of 4
	waitFor(t, "the new instance holds a down", func() bool { return late.fleetDown("a") })
	for _, o := range obs[:3] {
		o.setOwn("a", false)
	}
	for i, o := range obs {
		waitFor(t, fmt.Sprintf("i%d: a is back", i+1), func() bool { return !o.fleetDown("a") })
	}
}
