package fleet_test

import (
	"testing"

	"l7lb/config"
	"l7lb/fleet"
	"l7lb/fleet/etcdtest"
)

// TestReadStatusRecords: status merges an instance's two keys,
// members/<name> and applied/<name>, and reads an instance of the version
// before applied/ (one record holding both) as it did.
func TestReadStatusRecords(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	cl, err := fleet.Connect(&config.Fleet{Etcd: cluster.Endpoints(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for k, v := range map[string]string{
		"/members/new": `{"name":"new","address":"a:1","version":"v2","servers":{"s":false}}`,
		"/applied/new": `{"revision":7,"hash":"h2","error":"bad","error_revision":8}`,
		"/members/old": `{"name":"old","address":"a:2","version":"v1","revision":5,"hash":"h1","servers":{"s":true}}`,
	} {
		if _, err := cl.Put(t.Context(), prefix+k, v); err != nil {
			t.Fatal(err)
		}
	}
	st, err := fleet.ReadStatus(t.Context(), cl, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 2 {
		t.Fatalf("%d members, want 2 (applied/ is no member): %+v", len(st.Members), st.Members)
	}
	n, o := st.Members[0], st.Members[1]
	if n.Name != "new" || n.Address != "a:1" || n.Servers["s"] || n.Revision != 7 || n.Hash != "h2" || n.Error != "bad" || n.ErrorRevision != 8 {
		t.Errorf("new: %+v", n)
	}
	if o.Name != "old" || o.Version != "v1" || !o.Servers["s"] || o.Revision != 5 || o.Hash != "h1" || o.Error != "" {
		t.Errorf("old: %+v", o)
	}
}
