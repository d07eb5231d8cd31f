package fleet_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/fleet"
	"l7lb/fleet/etcdtest"
	"l7lb/testlog"
)

// TestRevisionNeverGoesBack: an instance that runs a later revision than
// etcd holds (its cache is of revision R; etcd was restored from an older
// backup of the same cluster) keeps it when etcd answers again, and says
// so, rather than going back.
func TestRevisionNeverGoesBack(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	eps := cluster.Endpoints()
	cl, err := fleet.Connect(&config.Fleet{Etcd: eps, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	old, err := fleet.Push(t.Context(), cl, prefix, []byte("servers: {a: http://127.0.0.1:1}\n"), -1)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Get(t.Context(), prefix+"/config")
	if err != nil {
		t.Fatal(err)
	}
	later := old + 1000
	cache := filepath.Join(t.TempDir(), "cache.json")
	b, _ := json.Marshal(map[string]any{"prefix": prefix, "cluster": resp.Header.ClusterId, "revision": later,
		"config": "servers: {a: http://127.0.0.1:9}\n", "secret": "s"})
	if err := os.WriteFile(cache, b, 0o600); err != nil {
		t.Fatal(err)
	}

	cluster.StopAll()
	eng := engine.New(nil)
	eng.Init("x", []string{"a"})
	ap := &applier{observer: observer{eng: eng, own: map[string]bool{}, fleet: map[string]bool{}}}
	log := &testlog.Buffer{}
	logf := func(format string, args ...any) { fmt.Fprintf(log, format+"\n", args...) }
	agent, st, err := fleet.New(fleet.Options{Fleet: &config.Fleet{Etcd: eps, Prefix: prefix, Name: "x", Cache: cache}, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	if !st.FromCache || agent.Applied() != later {
		t.Fatalf("started from the cache: %v, revision %d", st.FromCache, agent.Applied())
	}
	agent.Run(ap, "x")
	defer agent.Close()
	cluster.Members[0].Start()
	waitFor(t, "the agent's record, once etcd answers", func() bool {
		s, err := fleet.ReadStatus(t.Context(), cl, prefix)
		return err == nil && len(s.Members) == 1 && s.Members[0].Revision == later
	})
	waitFor(t, "the agent says it keeps its revision", func() bool { return strings.Contains(log.String(), "never goes back") })
	if agent.Applied() != later || ap.last() != "" {
		t.Errorf("went back: revision %d, applied %q\n%s", agent.Applied(), ap.last(), log)
	}
}
