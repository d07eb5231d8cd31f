package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPatch(t *testing.T) {
	const fn = "\nfunc netpoll(delay int64) (gList, int32) {\n"
	for _, c := range []struct {
		name, src, want, err string
	}{
		{"the loop in netpoll", "package runtime\n" + fn + "\t" + forward + "\n\t}\n}\n",
			"package runtime\n" + fn + "\t" + backward + "\n\t}\n}\n", ""},
		{"no loop", "package runtime\n" + fn + "}\n", "", "there 0 times"},
		{"two loops", fn + forward + "}\n" + forward + "}\n}\n", "", "there 2 times"},
		{"the loop outside netpoll", forward + "}\n" + fn + "}\n", "", "not inside func netpoll"},
		{"no netpoll", "package runtime\n" + forward + "}\n", "", "not inside func netpoll"},
	} {
		got, err := patch([]byte(c.src))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one with %q", c.name, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err == "" && string(got) != c.want:
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}

// TestOrder builds a program that makes 16 sockets readable in turn while
// a goroutine waits on each, with this toolchain as it is and with the
// overlay, and checks the order the goroutines run in: the kernel's with
// the overlay, the reverse without (if a Go release changes that, the
// patch has no more reason to be and the Makefile should drop it).
func TestOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program twice, with a patched runtime")
	}
	dir := t.TempDir()
	flag, err := write("go", filepath.Join(dir, "overlay"))
	if err != nil {
		t.Fatalf("this toolchain cannot be patched: %v", err)
	}
	var ascending, descending []string
	for i := range 16 {
		ascending = append(ascending, strconv.Itoa(i))
		descending = append(descending, strconv.Itoa(15-i))
	}
	for _, c := range []struct {
		name, overlay string
		want          []string
	}{
		{"stock", "", descending},
		{"patched", flag, ascending},
	} {
		bin := filepath.Join(dir, c.name)
		args := []string{"build", "-o", bin}
		if c.overlay != "" {
			args = append(args, c.overlay)
		}
		build := exec.Command("go", append(args, "./testdata/order")...)
		build.Env = append(os.Environ(), "GOFLAGS="+withoutOverlay(os.Getenv("GOFLAGS")))
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("%s build: %v\n%s", c.name, err, out)
		}
		want := strings.Join(c.want, " ")
		// A reader that had not parked before the writes (a very slow
		// machine) changes the order: one attempt of three must show it.
		var got string
		for range 3 {
			out, err := exec.Command(bin).Output()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got = string(bytes.TrimSpace(out)); got == want {
				break
			}
		}
		if got != want {
			t.Errorf("%s runtime ran the readers in the order %s, want %s", c.name, got, want)
		}
	}
}

// withoutOverlay is GOFLAGS without an -overlay the Makefile put there, for
// the stock build.
func withoutOverlay(goflags string) string {
	var keep []string
	for _, f := range strings.Fields(goflags) {
		if !strings.HasPrefix(f, "-overlay=") && !strings.HasPrefix(f, "--overlay=") {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}
