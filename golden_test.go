package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGolden runs every testdata/NAME.in.jsonl through the built binary and
// compares its stdout byte for byte with testdata/NAME.out.jsonl. An optional
// testdata/NAME.args holds extra command-line arguments, one per line.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("testdata", "*.in.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatal("no testdata/*.in.jsonl cases")
	}

	bin := filepath.Join(t.TempDir(), "l7lb")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.jsonl")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runGolden(t, bin, in, strings.TrimSuffix(in, ".in.jsonl"))
		})
	}
}

func runGolden(t *testing.T, bin, in, base string) {
	want, err := os.ReadFile(base + ".out.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	if data, err := os.ReadFile(base + ".args"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				args = append(args, line)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	stdin, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	runErr := cmd.Run()

	if ctx.Err() != nil {
		t.Errorf("timed out after 10s")
	} else if runErr != nil {
		t.Errorf("node did not exit 0 at EOF: %v", runErr)
	}
	if got := stdout.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("stdout differs from %s.out.jsonl:\n%s", filepath.Base(base), lineDiff(want, got))
	}
	if t.Failed() && stderr.Len() > 0 {
		t.Logf("stderr (first 2000 bytes):\n%.2000s", stderr.String())
	}
}

// lineDiff lists the first differing lines (1-based) as want/got pairs.
func lineDiff(want, got []byte) string {
	w := strings.SplitAfter(string(want), "\n")
	g := strings.SplitAfter(string(got), "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl == gl {
			continue
		}
		if shown == 5 {
			b.WriteString("...\n")
			break
		}
		shown++
		fmt.Fprintf(&b, "line %d:\n  want: %q\n  got:  %q\n", i+1, wl, gl)
	}
	fmt.Fprintf(&b, "(%d lines wanted, %d got)", strings.Count(string(want), "\n"), strings.Count(string(got), "\n"))
	return b.String()
}
