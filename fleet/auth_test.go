package fleet_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/fleet"
	"l7lb/fleet/etcdtest"
)

// TestEtcdTLSAndAuth: an etcd that serves its clients over TLS only, asks
// each for a certificate of its authority (--client-cert-auth) and has
// authentication on, the fleet's user allowed to read and write its
// prefix only. An instance whose fleet: block gives tls: {ca, cert, key},
// username and password starts from etcd, applies what `fleet push
// --instance FILE` writes and shows in `fleet status`; a fleet-wide
// disable reaches it. A wrong password, no password (the certificate's
// name is no user), a user without rights on the prefix, no client
// certificate, or plain HTTP are refused, with etcd's reason where etcd
// gives one, and write nothing.
func TestEtcdTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	pki := etcdtest.NewPKI(t, dir, "nobody")
	cluster := etcdtest.StartWith(t, 1, etcdtest.Options{TLS: &pki})
	eps := cluster.Endpoints()
	clientTLS := &config.FleetTLS{CA: pki.CA, Cert: pki.ClientCert, Key: pki.ClientKey}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	root, err := fleet.Connect(&config.Fleet{Etcd: eps, TLS: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { _, err := root.RoleAdd(ctx, "root"); return err },
		func() error { _, err := root.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := root.RoleAdd(ctx, "lb"); return err },
		func() error {
			_, err := root.RoleGrantPermission(ctx, "lb", prefix+"/", clientv3.GetPrefixRangeEnd(prefix+"/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := root.UserAdd(ctx, "lb", "lb-pw"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "lb", "lb"); return err },
		func() error { _, err := root.UserAdd(ctx, "other", "other-pw"); return err }, // no role: no rights
		func() error { _, err := root.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up etcd's authentication: %v", err)
		}
	}
	root.Close()

	tlsKeys := fmt.Sprintf("  tls: {ca: %s, cert: %s, key: %s}\n", pki.CA, pki.ClientCert, pki.ClientKey)
	fleetKeys := tlsKeys + "  username: lb\n  password: lb-pw\n"
	// instance writes an instance file for the fleet commands' --instance.
	instance := func(name, keys string) string {
		return writeFile(t, dir, name+".yaml", fmt.Sprintf("listen: 127.0.0.1:1\nfleet:\n  etcd: [%s]\n  prefix: %s\n%s", strings.Join(eps, ", "), prefix, keys))
	}
	ops := instance("ops", fleetKeys)
	a, b := backend(t, "a"), backend(t, "b")
	doc := func(to string) string {
		return writeFile(t, dir, "shared.yaml", fmt.Sprintf("servers: {a: %s, b: %s}\nroutes:\n  - path: /x\n    servers: [%s]\nsticky: {mode: off}\n", a, b, to))
	}
	push := func(instanceFile, to string) (int64, string, int) {
		out, errOut, code := run("fleet", "push", "--instance", instanceFile, "--config", doc(to))
		return revisionOf(out), errOut, code
	}

	rev, errOut, code := push(ops, "a")
	if code != 0 || rev == 0 {
		t.Fatalf("push over TLS as lb: exit %d: %s", code, errOut)
	}
	l := startLBWith(t, dir, "lb-1", eps, fleetKeys)
	if got := l.get(t, "/x"); got != "a" || l.agent.Applied() != rev {
		t.Fatalf("/x went to %s at revision %d, want a at %d", got, l.agent.Applied(), rev)
	}
	if rev, errOut, code = push(ops, "b"); code != 0 {
		t.Fatalf("second push: exit %d: %s", code, errOut)
	}
	waitApplied(t, []*lb{l}, rev)
	if got := l.get(t, "/x"); got != "b" {
		t.Errorf("/x went to %s after the second push, want b", got)
	}
	waitFor(t, "fleet status lists lb-1", func() bool {
		out, _, code := run("fleet", "status", "--instance", ops)
		return code == 0 && strings.Contains(out, "1 live instances") && strings.Contains(out, "lb-1")
	})
	if _, errOut, code := run("fleet", "disable", "b", "--instance", ops); code != 0 {
		t.Fatalf("disable: %s", errOut)
	}
	waitFor(t, "lb-1 disables b", func() bool { s, _ := l.in.Engine().State("b"); return s == engine.StateDisabled })
	if _, errOut, code := run("fleet", "enable", "b", "--instance", ops); code != 0 {
		t.Fatalf("enable: %s", errOut)
	}
	waitFor(t, "lb-1 enables b", func() bool { s, _ := l.in.Engine().State("b"); return s == engine.StateUp })

	// Refused by etcd, with its reason.
	for _, c := range []struct{ what, keys, reason string }{
		{"a wrong password", tlsKeys + "  username: lb\n  password: wrong\n", "authentication failed"},
		{"no password: the certificate's name, nobody, is no user", tlsKeys, "permission denied"},
		{"a user without rights on the prefix", tlsKeys + "  username: other\n  password: other-pw\n", "permission denied"},
	} {
		_, errOut, code := push(instance("refused", c.keys), "a")
		if code != 1 || !strings.Contains(errOut, c.reason) {
			t.Errorf("%s: push exit %d, stderr %q; want exit 1 and %q", c.what, code, errOut, c.reason)
		}
	}
	if _, err := tryStartLBWith(t, dir, "lb-2", eps, tlsKeys+"  username: lb\n  password: wrong\n"); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("an instance with a wrong password and no cache: %v", err)
	}
	// Refused by TLS: no answer within a bound.
	for _, c := range []struct {
		what string
		fl   config.Fleet
	}{
		{"no client certificate", config.Fleet{Etcd: eps, TLS: &config.FleetTLS{CA: pki.CA}, Username: "lb", Password: "lb-pw"}},
		{"plain HTTP", config.Fleet{Etcd: []string{strings.Replace(eps[0], "https:", "http:", 1)}, Username: "lb", Password: "lb-pw"}},
	} {
		cl, err := fleet.Connect(&c.fl)
		if err == nil {
			gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, _, err = fleet.Get(gctx, cl, prefix)
			cancel()
			cl.Close()
		}
		if err == nil {
			t.Errorf("%s: etcd answered", c.what)
		}
	}
	out, _, code := run("fleet", "get", "--instance", ops)
	if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("# revision %d\n", rev)) {
		t.Errorf("after the refused pushes: exit %d, %q; want revision %d", code, out, rev)
	}
}

// startLBWith is tryStartLBWith, failing the test when the instance does
// not start.
func startLBWith(t *testing.T, dir, name string, endpoints []string, fleetKeys string) *lb {
	t.Helper()
	l, err := tryStartLBWith(t, dir, name, endpoints, fleetKeys)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l
}
