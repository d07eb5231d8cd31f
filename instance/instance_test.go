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
