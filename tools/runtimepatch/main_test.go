package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	p := filePatch{fn: "func f() {", old: "old()", new: "new()"}
	const fn = "\nfunc f() {\n"
	for _, c := range []struct {
		name, src, want, err string
	}{
		{"inside f", "package runtime\n" + fn + "\told()\n}\n", "package runtime\n" + fn + "\tnew()\n}\n", ""},
		{"absent", "package runtime\n" + fn + "}\n", "", "there 0 times"},
		{"twice", fn + "old()\nold()\n}\n", "", "there 2 times"},
		{"before f", "old()\n" + fn + "}\n", "", "not inside func f() {"},
		{"in the function after f", fn + "}\n\nfunc g() {\n\told()\n}\n", "", "not inside func f() {"},
		{"no f", "package runtime\nold()\n", "", "not inside func f() {"},
	} {
		got, err := p.apply([]byte(c.src))
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

// build builds the program in ./testdata/pkg with this toolchain, with
// the -overlay flag overlay or, when it is empty, as it is.
func build(t *testing.T, dir, pkg, overlay string) string {
	t.Helper()
	name := pkg + "-stock"
	args := []string{"build"}
	if overlay != "" {
		name = pkg + "-patched"
		args = append(args, overlay)
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", append(args, "-o", bin, "./testdata/"+pkg)...)
	cmd.Env = append(os.Environ(), "GOFLAGS="+withoutOverlay(os.Getenv("GOFLAGS")))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return bin
}

// overlayFlag patches this toolchain into a temporary directory.
func overlayFlag(t *testing.T) (dir, flag string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a program twice, with a patched runtime")
	}
	dir = t.TempDir()
	flag, err := write("go", filepath.Join(dir, "overlay"))
	if err != nil {
		t.Fatalf("this toolchain cannot be patched: %v", err)
	}
	return dir, flag
}

// TestOrder builds a program that makes 16 sockets readable in turn while
// a goroutine waits on each, with this toolchain as it is and with the
// overlay, and checks the order the goroutines run in: the kernel's with
// the overlay, the reverse without (if a Go release changes that, the
// patch has no more reason to be and the Makefile should drop it).
func TestOrder(t *testing.T) {
	dir, flag := overlayFlag(t)
	var ascending, descending []string
	for i := range 16 {
		ascending = append(ascending, strconv.Itoa(i))
		descending = append(descending, strconv.Itoa(15-i))
	}
	for _, c := range []struct {
		overlay string
		want    []string
	}{
		{"", descending},
		{flag, ascending},
	} {
		bin := build(t, dir, "order", c.overlay)
		want := strings.Join(c.want, " ")
		// A reader that had not parked before the writes (a very slow
		// machine) changes the order: one attempt of three must show it.
		var got string
		for range 3 {
			out, err := exec.Command(bin).Output()
			if err != nil {
				t.Fatalf("%s: %v", bin, err)
			}
			if got = string(bytes.TrimSpace(out)); got == want {
				break
			}
		}
		if got != want {
			t.Errorf("%s ran the readers in the order %s, want %s", filepath.Base(bin), got, want)
		}
	}
}

// TestSysmon builds a program that makes a burst of system calls for each
// byte it reads from a socket, as it is and with the overlay, sends each
// 50 bytes 8 ms apart, and compares their threads' voluntary context
// switches: the stock sysmon polls every 20 µs through each 5 ms burst
// (about 25 times, where a 20 µs sleep lasts ~200), the patched one keeps
// its pace: a few switches per burst. Other load on the machine (CI runs
// packages in parallel) stretches sysmon's sleeps, which lowers the stock
// count, and adds wake-ups to both; so each build is judged by its run
// least disturbed: the stock's most switches, the patched's fewest. If a
// Go release stops the stock pattern, the test fails and says the patch
// can go.
func TestSysmon(t *testing.T) {
	dir, flag := overlayFlag(t)
	run := func(bin string) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cmd := exec.Command(bin, ln.Addr().String())
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			c.Write([]byte{1})
			time.Sleep(8 * time.Millisecond)
		}
		c.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		n, err := strconv.Atoi(string(bytes.TrimSpace(out.Bytes())))
		if err != nil {
			t.Fatalf("%s printed %q", bin, out.Bytes())
		}
		return n
	}
	runs := func(bin string) []int {
		return []int{run(bin), run(bin), run(bin)}
	}
	stocks, patcheds := runs(build(t, dir, "sysmon", "")), runs(build(t, dir, "sysmon", flag))
	stock, patched := slices.Max(stocks), slices.Min(patcheds)
	t.Logf("voluntary context switches over 50 bursts: stock %v, patched %v", stocks, patcheds)
	if patched*2 > stock {
		t.Errorf("patched runtime: %d context switches, stock %d: want at most half", patched, stock)
	}
}

// withoutOverlay is GOFLAGS without the -overlay and the patches' stamp
// the Makefile put there, for the stock build.
func withoutOverlay(goflags string) string {
	var keep []string
	for _, f := range strings.Fields(goflags) {
		if !strings.HasPrefix(f, "-overlay=") && !strings.HasPrefix(f, "--overlay=") && f != stampFlag() {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}
