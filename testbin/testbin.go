// Package testbin gives tests the helper programs they run (an ACME server,
// ...) at the versions tools/bins/go.mod pins, built once into the
// git-ignored .cache/bin of the repository. `make bins` builds them all
// ahead, as CI does.
//
// A test that needs a program that cannot be built (no module proxy, no
// cached modules), or one from Debian that is not installed (Tool), is
// skipped with a message saying so, except under CI=true, where it fails:
// CI must never pass without having run it.
package testbin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]string{} // name → path, built by this process
)

// Path returns the path of the program name (the last element of its
// package path in tools/bins/go.mod, e.g. "pebble"), building it if it is
// missing or out of date.
func Path(t testing.TB, name string) string {
	t.Helper()
	p, err := build(name)
	if err == nil {
		return p
	}
	missing(t, fmt.Sprintf("testbin: cannot build %s: %v", name, err), " (run `make bins` with access to the Go module proxy)")
	return ""
}

// Tool returns the path of the installed program name (from Debian's
// package pkg), which .ci/run installs.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	missing(t, name+" is not installed (apt-get install "+pkg+"; .ci/run does)", "")
	return ""
}

// missing fails the test under CI=true, else skips it, saying what is
// missing (and, when skipped, how to get it).
func missing(t testing.TB, msg, hint string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED, NOT RUN: " + msg + hint)
}

func build(name string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[name]; ok {
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	goBin, err := goCommand()
	if err != nil {
		return "", err
	}
	mod := filepath.Join(root, "tools", "bins")
	pkgs, err := run(goBin, mod, "list", "tool")
	if err != nil {
		return "", err
	}
	var pkg string
	for _, p := range strings.Fields(pkgs) {
		if path.Base(p) == name {
			pkg = p
		}
	}
	if pkg == "" {
		return "", fmt.Errorf("no tool %s in %s/go.mod", name, mod)
	}
	dir := filepath.Join(root, ".cache", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	// go build leaves an up-to-date binary alone, so this is cheap once
	// built; the lock keeps test processes of other packages from writing
	// the same file at once.
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := run(goBin, mod, "build", "-o", out, pkg); err != nil {
		return "", err
	}
	built[name] = out
	return out, nil
}

// repoRoot is the directory above the working directory (a package's, in
// a test) that holds tools/bins/go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "bins", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no tools/bins/go.mod above the working directory")
		}
		dir = parent
	}
}

// goCommand is the go command on PATH, else the one of the toolchain that
// built the test.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("no go command on PATH")
	}
	return p, nil
}

func run(goBin, dir string, args ...string) (string, error) {
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	// GOFLAGS of the test run (say -race) are not wanted here.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly -buildvcs=false", "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
