package health

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// marks records the marks made, in order.
type marks struct {
	mu  sync.Mutex
	got []string
}

func (m *marks) mark(server string, down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	state := "up"
	if down {
		state = "down"
	}
	m.got = append(m.got, server+" "+state)
}

func (m *marks) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.got, ", ")
}

// expect fails the test unless the marks so far are want.
func (m *marks) expect(t *testing.T, want, after string) {
	t.Helper()
	if got := m.String(); got != want {
		t.Fatalf("after %s: marks %q, want %q", after, got, want)
	}
}

// waitFor polls until m reads want, for at most two seconds.
func waitFor(t *testing.T, m *marks, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for m.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("marks %q, want %q", m, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPassiveThresholdAndCooldown(t *testing.T) {
	var m marks
	p := NewPassive(3, 50*time.Millisecond, m.mark)
	defer p.Close()
	p.Failure("s1")
	p.Failure("s1")
	p.Success("s1") // ends the run
	p.Failure("s1")
	p.Failure("s1")
	m.expect(t, "", "a broken run")
	p.Failure("s1")
	m.expect(t, "s1 down", "3 failures")
	p.Failure("s1") // already down: no second mark
	waitFor(t, &m, "s1 down, s1 up")
}

func TestVerdictsCombine(t *testing.T) {
	tests := []struct {
		name  string
		steps func(v *Verdicts)
		want  string
	}{
		{"passive alone", func(v *Verdicts) { v.Passive("s1", true); v.Passive("s1", false) }, "s1 down, s1 up"},
		{"active holds it down", func(v *Verdicts) {
			v.Active("s1", true)
			v.Passive("s1", true)
			v.Passive("s1", false) // the cooldown ends, the probes still fail
		}, "s1 down"},
		{"both clear", func(v *Verdicts) {
			v.Passive("s1", true)
			v.Active("s1", true)
			v.Passive("s1", false)
			v.Active("s1", false)
		}, "s1 down, s1 up"},
		{"repeats are not marked", func(v *Verdicts) { v.Active("s1", true); v.Active("s1", true); v.Active("s2", false) }, "s1 down"},
	}
	for _, tt := range tests {
		var m marks
		tt.steps(NewVerdicts(m.mark))
		if got := m.String(); got != tt.want {
			t.Errorf("%s: marks %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestActiveDownAfterTwoFailuresUpAfterTwoSuccesses(t *testing.T) {
	var failing atomic.Bool
	var probes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	var m marks
	p := NewProber(m.mark)
	target := Target{Server: "s1", Addr: srv.Listener.Addr().String(), Path: "/healthz", Interval: 10 * time.Millisecond, Timeout: time.Second}
	p.Set([]Target{target})
	defer p.Close()

	time.Sleep(50 * time.Millisecond)
	if got := m.String(); got != "" {
		t.Fatalf("a healthy server was marked: %q", got)
	}
	failing.Store(true)
	waitFor(t, &m, "s1 down")
	failing.Store(false)
	waitFor(t, &m, "s1 down, s1 up")
	if probes.Load() < 4 {
		t.Errorf("only %d probes", probes.Load())
	}
	// The same target again goes on; another one restarts it.
	if stopped := p.Set([]Target{target}); len(stopped) != 0 {
		t.Errorf("Set with the same target stopped %v", stopped)
	}
	target.Path = "/other"
	if stopped := p.Set([]Target{target}); len(stopped) != 1 || stopped[0] != "s1" {
		t.Errorf("Set with a changed target stopped %v, want [s1]", stopped)
	}
	if stopped := p.Set(nil); len(stopped) != 1 {
		t.Errorf("Set(nil) stopped %v, want [s1]", stopped)
	}
}

// TestStoppedProbeMarksNothing: a probe cut short by Close (or by a new
// configuration replacing its target) is no verdict on the server: one
// failure followed by a probe aborted mid-flight must not mark it down.
func TestStoppedProbeMarksNothing(t *testing.T) {
	var probes atomic.Int64
	hanging := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probes.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		select {
		case hanging <- struct{}{}:
		default:
		}
		select { // the second probe waits until the prober is stopped
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	var m marks
	p := NewProber(m.mark)
	p.Set([]Target{{Server: "s1", Addr: srv.Listener.Addr().String(), Path: "/", Interval: 10 * time.Millisecond, Timeout: 10 * time.Second}})
	select {
	case <-hanging:
	case <-time.After(5 * time.Second):
		p.Close()
		t.Fatal("the second probe never came")
	}
	p.Close()
	if got := m.String(); got != "" {
		t.Fatalf("a probe stopped mid-flight counted as a failure: marked %q", got)
	}
}

// TestPassiveSuccessEndsCooldown: a server held down that answers (it gets
// requests only when its pool panics) is up at once, not at the end of the
// cooldown, and a later run of failures marks it down again.
func TestPassiveSuccessEndsCooldown(t *testing.T) {
	var m marks
	p := NewPassive(2, time.Hour, m.mark)
	defer p.Close()
	p.Failure("s1")
	p.Failure("s1")
	p.Success("s2") // another server's success changes nothing
	m.expect(t, "s1 down", "2 failures")
	p.Success("s1") // within the hour's cooldown
	m.expect(t, "s1 down, s1 up", "a success")
	p.Success("s1") // up already: no second mark
	p.Failure("s1")
	p.Failure("s1")
	m.expect(t, "s1 down, s1 up, s1 down", "2 more failures")
}
