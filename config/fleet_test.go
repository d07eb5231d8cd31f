package config

import (
	"strings"
	"testing"
)

func TestFleetBlockErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"listen: :8080\nfleet:\n  etcd: [ftp://x]\n  prefix: /a\n", "f.yaml:3: fleet.etcd[0]: want an etcd client URL"},
		{"listen: :8080\nfleet:\n  etcd: [http://127.0.0.1:2379]\n  prefix: a/\n", "f.yaml:4: fleet.prefix: want a key prefix"},
		{"listen: :8080\nfleet:\n  etcd: [http://127.0.0.1:2379]\n", "f.yaml:3: fleet.prefix: missing"},
		{"listen: :8080\nfleet:\n  etcd: [http://127.0.0.1:2379]\n  prefix: /a\n  username: u\n", "fleet.password: give username and password together"},
		{"listen: :8080\nfleet: {etcd: [http://127.0.0.1:2379], prefix: /a, bogus: 1}\n", "f.yaml:2: fleet.bogus: unknown field"},
		{"listen: :8080\nfleet: {etcd: [http://127.0.0.1:2379], prefix: /a}\nservers: {a: http://127.0.0.1:1}\n", "f.yaml:3: servers: shared by the fleet"},
	} {
		_, _, err := Read("f.yaml", []byte(tc.doc), true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.doc, err, tc.want)
		}
	}
	f, _, err := Read("/etc/l7lb/f.yaml", []byte("listen: :8080\nfleet: {etcd: [http://127.0.0.1:2379], prefix: /a, name: lb-1, cache: c.json}\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if f.Fleet.Name != "lb-1" || f.Fleet.Cache != "/etc/l7lb/c.json" || f.Fleet.Prefix != "/a" {
		t.Errorf("fleet %+v", f.Fleet)
	}
}

func TestLoadFleetLocatesEachDocument(t *testing.T) {
	local := "listen: 127.0.0.1:8080\nfleet: {etcd: [http://127.0.0.1:2379], prefix: /a}\nvia: 3\n"
	shared := "servers: {a: http://127.0.0.1:1}\nroutes:\n  - path: /x\n    servers: [a]\n    balance: nope\nlisten: :9\naccess_log: false\nmetrics: {max_routes: 5}\n"
	_, src, err := LoadFleet("/tmp", "local.yaml", []byte(local), Document{Name: "etcd:/a/config@7", Data: []byte(shared)})
	if err == nil {
		t.Fatal("no error")
	}
	err = src.Locate(err)
	for _, want := range []string{"local.yaml:3: via: expected", "etcd:/a/config@7:5: routes[0].balance:", "etcd:/a/config@7:6: listen: local to each instance",
		"etcd:/a/config@7:7: access_log: local to each instance", "etcd:/a/config@7:8: metrics: local to each instance"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	f, _, err := LoadFleet("/tmp", "local.yaml", []byte("listen: 127.0.0.1:8080\nfleet: {etcd: [http://127.0.0.1:2379], prefix: /a}\n"), Document{Name: "s", Data: []byte("servers: {a: http://127.0.0.1:1}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Servers) != 1 || f.Fleet == nil || f.Listeners[0].Address != "127.0.0.1:8080" {
		t.Errorf("merged %+v", f)
	}
	g, _, err := LoadFleet("/tmp", "local.yaml", []byte("listen: 127.0.0.1:8080\nfleet: {etcd: [http://127.0.0.1:2379], prefix: /a}\n"), Document{Name: "s", Data: []byte("servers: {a: http://127.0.0.1:2}\n")})
	if err != nil || g.Hash() == f.Hash() {
		t.Errorf("a shared change must change the hash: %v", err)
	}
}
