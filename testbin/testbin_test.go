package testbin

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestPathBuildsAPinnedTool(t *testing.T) {
	p := Path(t, "pebble")
	out, err := exec.Command(p, "-version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Pebble version") {
		t.Errorf("%s -version: %v, %s", p, err, out)
	}
}

// TestPathSkipsOrFails checks what a test gets for a program that cannot
// be built: a skip, or under CI=true a failure (checked in a child
// process, since it fails the test that asks).
func TestPathSkipsOrFails(t *testing.T) {
	if os.Getenv("TESTBIN_CHILD") == "1" {
		Path(t, "no-such-tool")
		return
	}
	t.Setenv("CI", "")
	var skipped bool
	t.Run("local", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Path(t, "no-such-tool")
	})
	if !skipped {
		t.Error("a program that cannot be built did not skip the test")
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestPathSkipsOrFails$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTBIN_CHILD=1", "CI=true")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "cannot build no-such-tool") {
		t.Errorf("under CI=true: %v\n%s\nwant the test to fail naming the program", err, out)
	}
}
