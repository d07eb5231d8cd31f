// Package e2e tests l7lb as its users run it: the real binary, started as
// `l7lb serve` on a loopback listener, in front of real HTTP servers
// (httptest), driven by real clients (net/http, raw sockets, curl). It also
// replays the node's golden cases through serve and checks the `check` and
// `explain` commands.
//
// The package holds tests only. TestMain builds the binary once per run.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	// bin is the l7lb binary built for this run.
	bin string
	// modRoot is the module's root directory (where go.mod is).
	modRoot string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if modRoot, err = findModuleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// A temporary directory rather than the source tree: parallel runs of
	// the suite (and of other packages' tests) never share a binary.
	dir, err := os.MkdirTemp("", "l7lb-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "l7lb")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = modRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findModuleRoot asks the go tool where go.mod is, falling back to the
// parent directory (this package sits one level below the root).
func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
		return filepath.Dir(gomod), nil
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the module root: %v", err)
	}
	return root, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
