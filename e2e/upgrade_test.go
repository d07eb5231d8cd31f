package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upgradeProc is a serve process whose output goes to files: the process
// an upgrade starts writes to the same ones, and outlives this one.
type upgradeProc struct {
	cmd            *exec.Cmd
	stderr, stdout string // file names
	done           chan struct{}
}

func (u *upgradeProc) log() string {
	b, _ := os.ReadFile(u.stderr)
	return string(b)
}

// startUpgradable starts serve on cfg with --pid-file pidFile, stderr and
// stdout in files, and waits until it serves.
func startUpgradable(t *testing.T, cfg, pidFile string, extra ...string) *upgradeProc {
	t.Helper()
	dir := t.TempDir()
	u := &upgradeProc{stderr: filepath.Join(dir, "stderr"), stdout: filepath.Join(dir, "stdout"), done: make(chan struct{})}
	errf, _ := os.Create(u.stderr)
	outf, _ := os.Create(u.stdout)
	defer errf.Close()
	defer outf.Close()
	u.cmd = exec.Command(bin, append([]string{"serve", "--config", cfg, "--pid-file", pidFile}, extra...)...)
	u.cmd.Env = childEnv()
	u.cmd.Stderr, u.cmd.Stdout = errf, outf
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { u.cmd.Wait(); close(u.done) }()
	t.Cleanup(func() {
		u.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-u.done:
		case <-time.After(stopTimeout):
			u.cmd.Process.Kill()
		}
	})
	if !waitFor(readyTimeout, func() bool { return strings.Contains(u.log(), readyPrefix) }) {
		t.Fatalf("serve not ready; stderr:\n%s", u.log())
	}
	return u
}

func readPIDFile(name string) int {
	b, _ := os.ReadFile(name)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// stopPID ends a process this test did not start itself (an upgrade's),
// by its id.
func stopPID(t *testing.T, pid int) {
	if !alive(pid) {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !waitFor(stopTimeout, func() bool { return !alive(pid) }) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("process %d still running %v after SIGTERM; killed", pid, stopTimeout)
	}
}

// TestUpgradeUnderLoad upgrades a serving process with SIGUSR2 while
// clients loop through it, on keep-alive connections and on new ones:
// no request fails, no connection is refused, the new process writes its
// id to the pid file, the old one drains and exits, the sticky cookies
// issued under a random secret stay valid, a drained server stays
// drained, and a second upgrade is refused while the old process drains.
func TestUpgradeUnderLoad(t *testing.T) {
	bs := newBackends(t, 3)
	dir := t.TempDir()
	admin := freePort(t)
	cfg := filepath.Join(dir, "l7lb.yaml")
	pidFile := filepath.Join(dir, "l7lb.pid")
	os.WriteFile(cfg, []byte(serversYAML(freePort(t), bs)+fmt.Sprintf("admin: %q\nadmin_token: %s\ndrain_timeout: 60s\n", admin, adminToken)), 0o644)
	old := startUpgradable(t, cfg, pidFile)
	oldPID := old.cmd.Process.Pid
	if got := readPIDFile(pidFile); got != oldPID {
		t.Fatalf("pid file holds %d, want %d", got, oldPID)
	}
	addr := strings.TrimSpace(strings.SplitN(strings.SplitN(old.log(), readyPrefix, 2)[1], "\n", 2)[0])

	// A sticky session under the random secret, and s3 drained.
	sticky := newClient(t, true)
	first := get(t, sticky, addr, "", "/").Backend
	if code, body := adminDo(t, admin, "POST", "/servers/s3/drain", adminToken, ""); code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}
	if first == "s3" {
		first = "" // drained: it may move after drain_timeout
	}

	var stop atomic.Bool
	var sent, failed atomic.Int64
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	loop := func(c *http.Client) {
		for !stop.Load() && sent.Add(1) < 100000 {
			resp, err := c.Get("http://" + addr + "/")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if len(errs) < 10 {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
			}
		}
	}
	for range 4 {
		wg.Go(func() { loop(newClient(t, false)) }) // keep-alive
	}
	for range 2 {
		c := newClient(t, false)
		c.Transport.(*http.Transport).DisableKeepAlives = true // a new connection each time
		wg.Go(func() { loop(c) })
	}
	time.Sleep(300 * time.Millisecond)
	old.cmd.Process.Signal(syscall.SIGUSR2)
	if !waitFor(30*time.Second, func() bool { p := readPIDFile(pidFile); return p != 0 && p != oldPID }) {
		t.Fatalf("no new process in the pid file; stderr:\n%s", old.log())
	}
	newPID := readPIDFile(pidFile)
	defer stopPID(t, newPID)
	// A second upgrade while the old process drains is refused.
	syscall.Kill(newPID, syscall.SIGUSR2)
	if !waitFor(5*time.Second, func() bool { return strings.Contains(old.log(), "still draining") }) && alive(oldPID) {
		t.Errorf("a second upgrade during the drain was not refused; stderr:\n%s", old.log())
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	select {
	case <-old.done:
	case <-time.After(10 * time.Second):
		t.Errorf("the old process did not exit after draining")
	}
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed through the upgrade: %v", failed.Load(), sent.Load(), errs)
	}
	if first != "" {
		if r := get(t, sticky, addr, "", "/"); r.Backend != first {
			t.Errorf("the sticky session moved from %s to %s across the upgrade (random secret not handed over?)", first, r.Backend)
		}
	}
	_, servers := adminDo(t, admin, "GET", "/servers", "", "")
	if !strings.Contains(servers, `"id": "s3"`) || !strings.Contains(strings.SplitN(servers, `"id": "s3"`, 2)[1], `"state": "draining"`) {
		t.Errorf("s3 is not draining in the new process:\n%s", servers)
	}
	log := old.log()
	for _, want := range []string{"upgrade: process " + strconv.Itoa(newPID) + " is ready", "started by an upgrade", "server s3 is draining, as the old process had it"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	t.Logf("%d requests through the upgrade, none failed", sent.Load())

	// serve --upgrade: the same, from the command line.
	out, err := exec.Command(bin, "serve", "--upgrade", "--config", cfg, "--pid-file", pidFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "upgraded") {
		t.Errorf("serve --upgrade: %v\n%s\n%s", err, out, old.log())
	}
	third := readPIDFile(pidFile)
	defer stopPID(t, third)
	if third == newPID || !waitFor(10*time.Second, func() bool { return !alive(newPID) }) {
		t.Errorf("after serve --upgrade: pid file %d, process %d alive %v", third, newPID, alive(newPID))
	}
	if r := get(t, newClient(t, false), addr, "", "/"); r.Status != 200 {
		t.Errorf("after serve --upgrade: %d", r.Status)
	}
}

// TestUpgradeFailureKeepsServing checks that a new process that cannot
// start (its configuration became invalid) leaves the old one serving,
// and that serve --upgrade reports the failure.
func TestUpgradeFailureKeepsServing(t *testing.T) {
	bs := newBackends(t, 1)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "l7lb.yaml")
	pidFile := filepath.Join(dir, "l7lb.pid")
	good := serversYAML(freePort(t), bs)
	os.WriteFile(cfg, []byte(good), 0o644)
	old := startUpgradable(t, cfg, pidFile)
	addr := strings.TrimSpace(strings.SplitN(strings.SplitN(old.log(), readyPrefix, 2)[1], "\n", 2)[0])
	os.WriteFile(cfg, []byte(good+"default_servers: [nope]\n"), 0o644)
	old.cmd.Process.Signal(syscall.SIGUSR2)
	if !waitFor(20*time.Second, func() bool { return strings.Contains(old.log(), "upgrade failed") }) {
		t.Fatalf("no failure logged; stderr:\n%s", old.log())
	}
	if r := get(t, newClient(t, false), addr, "", "/"); r.Status != 200 || readPIDFile(pidFile) != old.cmd.Process.Pid {
		t.Errorf("after a failed upgrade: %d, pid file %d", r.Status, readPIDFile(pidFile))
	}
	// serve --upgrade checks the configuration first.
	cmd := exec.Command(bin, "serve", "--upgrade", "--config", cfg, "--pid-file", pidFile)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "unknown server nope") {
		t.Errorf("serve --upgrade with a bad configuration: %v\n%s", err, out)
	}
}

// TestSecondSignalClosesNow: SIGTERM drains (a request in flight may take
// up to drain_timeout); a second SIGTERM closes what is left at once.
func TestSecondSignalClosesNow(t *testing.T) {
	hold := make(chan struct{})
	b := newHandlerBackend(t, "s1", func(w http.ResponseWriter, r *http.Request) { <-hold })
	t.Cleanup(func() { close(hold) })
	p := startServe(t, []*backend{b}, "drain_timeout: 60s\n")
	go newClient(t, false).Get("http://" + p.Addr + "/")
	if !waitFor(5*time.Second, func() bool { return b.count() == 1 }) {
		t.Fatal("the request did not arrive")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	select {
	case <-p.done:
		t.Fatal("serve exited with a request in flight after one SIGTERM")
	default:
	}
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if time.Since(start) > 5*time.Second || p.err != nil {
			t.Errorf("exited %v after the second SIGTERM, with %v", time.Since(start), p.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running after a second SIGTERM; stderr:\n%s", p.stderr)
	}
}
