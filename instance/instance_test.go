package instance

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"l7lb/config"
)

type observer struct{ applied, rejected int }

func (o *observer) ConfigApplied(config.Revision, time.Time) { o.applied++ }
func (o *observer) ConfigRejected()                          { o.rejected++ }

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestApply drives an instance through its configuration changes in
// process: a rejected one changes nothing and is counted, an accepted one
// opens a new listener and takes effect, removing it stops it accepting,
// the same configuration again keeps the revision, and a dry run changes
// nothing.
func TestApply(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	first, second := freeAddr(t), freeAddr(t)
	base := fmt.Sprintf("servers: {s1: %s}\nsticky: {mode: \"off\"}\n", backend.URL)
	one := fmt.Sprintf("listen: %q\n", first) + base
	two := fmt.Sprintf("listeners: [{address: %q}, {address: %q}]\n", first, second) + base
	file := filepath.Join(t.TempDir(), "l7lb.yaml")
	os.WriteFile(file, []byte(one), 0o644)
	obs := &observer{}
	var log strings.Builder
	in, err := Start(Options{Config: file, Stderr: &log, Observer: obs, Env: Env{StickySecret: []byte("k"), NodeID: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Shutdown()
	get := func(addr string) error {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(first); err != nil {
		t.Fatal(err)
	}

	_, err = in.Apply([]byte(base+"listen: nope\n"), false)
	var loc *config.Located
	if !errors.As(err, &loc) || loc.Problems[0].Field != "listen" || loc.Problems[0].Line != 3 {
		t.Errorf("an invalid configuration: %v", err)
	}
	if in.Revision().N != 1 || obs.rejected != 1 || obs.applied != 1 {
		t.Errorf("after a rejection: revision %v, observed %+v", in.Revision(), obs)
	}

	out, err := in.Apply([]byte(two), true)
	if err != nil || !out.DryRun || len(out.Changes.Listeners.Added) != 1 || in.Revision().N != 1 {
		t.Fatalf("dry run: %+v %v", out, err)
	}
	if get(second) == nil {
		t.Error("a dry run opened a listener")
	}
	if out, err = in.Apply([]byte(two), false); err != nil || out.Revision.N != 2 {
		t.Fatalf("apply: %+v %v", out, err)
	}
	if err := get(second); err != nil {
		t.Errorf("the new listener: %v", err)
	}
	if len(in.Addrs()) != 2 {
		t.Errorf("addresses %v", in.Addrs())
	}
	if out, err = in.Apply([]byte(one), false); err != nil || out.Revision.N != 3 || out.Changes.Listeners.Removed[0] != second {
		t.Fatalf("apply: %+v %v", out, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for get(second) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if get(second) == nil {
		t.Error("the removed listener still accepts")
	}
	if out, err = in.Apply([]byte(one), false); err != nil || !out.Unchanged || out.Revision.N != 3 {
		t.Errorf("the same configuration again: %+v %v", out, err)
	}
	// A listener that cannot be bound rejects the whole configuration.
	taken, _ := net.Listen("tcp", "127.0.0.1:0")
	defer taken.Close()
	_, err = in.Apply([]byte(fmt.Sprintf("listeners: [{address: %q}, {address: %q}]\n", first, taken.Addr())+base), false)
	var le *ListenError
	if !errors.As(err, &le) || in.Revision().N != 3 {
		t.Errorf("an address in use: %v, revision %v", err, in.Revision())
	}
	if !strings.Contains(log.String(), "configuration rejected, revision 3") {
		t.Errorf("log:\n%s", log.String())
	}
}

// TestAccessLogAcrossReloads: a reload that leaves access_log as it was
// keeps the log open; one that moves it writes the next lines to the new
// file (with the new revision); a path that cannot be opened rejects the
// configuration, counted, and the log goes on; access_log: false stops it.
func TestAccessLogAcrossReloads(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	dir := t.TempDir()
	addr := freeAddr(t)
	doc := func(extra string) []byte {
		return []byte(fmt.Sprintf("listen: %q\nservers: {s1: %s}\nsticky: {mode: \"off\"}\n", addr, backend.URL) + extra)
	}
	logAt := func(name string) string {
		return fmt.Sprintf("access_log: {format: json, path: %q}\n", filepath.Join(dir, name))
	}
	file := filepath.Join(dir, "l7lb.yaml")
	os.WriteFile(file, doc(logAt("a.log")), 0o644)
	obs := &observer{}
	var stderr strings.Builder
	in, err := Start(Options{Config: file, AccessLog: io.Discard, Stderr: &stderr, Observer: obs, Env: Env{StickySecret: []byte("k"), NodeID: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Shutdown()
	request := func(path string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// lines waits for name to hold n lines and returns them.
	lines := func(name string, n int) []string {
		t.Helper()
		var data []byte
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if data, _ = os.ReadFile(filepath.Join(dir, name)); strings.Count(string(data), "\n") >= n {
				break
			}
		}
		out := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if strings.Count(string(data), "\n") != n {
			t.Fatalf("%s: want %d lines:\n%s", name, n, data)
		}
		return out
	}
	request("/one")
	lines("a.log", 1)
	first := in.obs.log

	if _, err := in.Apply(doc(logAt("a.log")+"via: false\n"), false); err != nil {
		t.Fatal(err)
	}
	if in.obs.log != first {
		t.Error("a reload that left access_log as it was opened the log again")
	}
	request("/two")
	if l := lines("a.log", 2); !strings.Contains(l[1], `"config_revision":"2-`) {
		t.Errorf("line after the reload: %s", l[1])
	}

	if _, err := in.Apply(doc(logAt("b.log")), false); err != nil {
		t.Fatal(err)
	}
	request("/three")
	if l := lines("b.log", 1); !strings.Contains(l[0], `"path":"/three"`) || !strings.Contains(l[0], `"config_revision":"3-`) {
		t.Errorf("the moved log: %s", l)
	}
	lines("a.log", 2)

	_, err = in.Apply(doc(fmt.Sprintf("access_log: {path: %q}\n", filepath.Join(dir, "missing", "c.log"))), false)
	var loc *config.Located
	if !errors.As(err, &loc) || loc.Problems[0].Field != "access_log.path" || loc.Problems[0].Line != 4 || in.Revision().N != 3 || obs.rejected != 1 {
		t.Errorf("an access log that cannot be opened: %v, revision %v, observed %+v", err, in.Revision(), obs)
	}
	request("/four")
	lines("b.log", 2)

	if _, err := in.Apply(doc("access_log: false\n"), false); err != nil {
		t.Fatal(err)
	}
	request("/five")
	time.Sleep(50 * time.Millisecond) // lines are written within microseconds
	lines("b.log", 2)
	if obs.applied != 4 {
		t.Errorf("observed %+v, want 4 applied", obs)
	}
}
