package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAccessLogFileReopen: access_log to a file in JSON; logrotate renames
// the file and sends SIGUSR1; the next lines go to a new file of the old
// name, and none is lost.
func TestAccessLogFileReopen(t *testing.T) {
	bs := newBackends(t, 1)
	path := filepath.Join(t.TempDir(), "access.log")
	p := startServe(t, bs, fmt.Sprintf("sticky: {mode: \"off\"}\naccess_log: {format: json, path: %q}\n", path))
	c := newClient(t, false)
	get(t, c, p.Addr, "example.com", "/before")
	lines := waitLines(t, path, 1)
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first["path"] != "/before" || first["status"] != 200.0 || first["server"] != "s1" {
		t.Fatalf("first line: %v %s", err, lines[0])
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGUSR1)
	// The reopen happens soon after the signal; a request logged before
	// it still goes to the renamed file, which is what logrotate expects.
	if !waitFor(3*time.Second, func() bool { _, err := os.Stat(path); return err == nil }) {
		t.Fatalf("no new %s after SIGUSR1; stderr:\n%s", path, p.stderr)
	}
	get(t, c, p.Addr, "example.com", "/after")
	lines = waitLines(t, path, 1)
	if !strings.Contains(lines[0], `"path":"/after"`) {
		t.Errorf("new file: %s", lines)
	}
	if old, _ := os.ReadFile(path + ".1"); strings.Count(string(old), "\n") != 1 {
		t.Errorf("rotated file:\n%s", old)
	}
	if out := p.stdout.String(); out != "" {
		t.Errorf("stdout has lines with the log in a file:\n%s", out)
	}
}

// TestAccessLogFlagOff: --access-log=false turns off the log the
// configuration asks for.
func TestAccessLogFlagOff(t *testing.T) {
	bs := newBackends(t, 1)
	path := filepath.Join(t.TempDir(), "access.log")
	p := startServeOpts(t, bs, fmt.Sprintf("access_log: {path: %q}\n", path), serveOpts{args: []string{"--access-log=false"}})
	c := newClient(t, false)
	get(t, c, p.Addr, "example.com", "/")
	// logrotate's SIGUSR1 does not end a proxy that has no log file.
	p.cmd.Process.Signal(syscall.SIGUSR1)
	time.Sleep(100 * time.Millisecond)
	get(t, c, p.Addr, "example.com", "/")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s exists (%v) with --access-log=false", path, err)
	}
}

// waitLines waits (up to 3 s) for the file at path to hold n lines.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var data []byte
	waitFor(3*time.Second, func() bool {
		data, _ = os.ReadFile(path)
		return strings.Count(string(data), "\n") >= n
	})
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < n || lines[0] == "" {
		t.Fatalf("%s: %d lines, want %d:\n%s", path, len(lines), n, data)
	}
	return lines
}
