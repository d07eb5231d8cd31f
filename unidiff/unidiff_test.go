package unidiff

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnified(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	b := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n"
	want := `--- old
+++ new
@@ -1,4 +1,4 @@
 a
-b
+B
 c
 d
@@ -10,2 +10,3 @@
 j
 k
+l
`
	if got := Unified("old", "new", a, b, 2); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := Unified("old", "new", a, a, 3); got != "" {
		t.Errorf("equal texts: %q", got)
	}
}

// TestAgainstPatch checks that patch(1), when present, turns a into b
// with the diff, for a few edits.
func TestAgainstPatch(t *testing.T) {
	patch, err := exec.LookPath("patch")
	if err != nil {
		t.Skip("no patch(1)")
	}
	cases := [][2]string{
		{"", "x\n"},
		{"x\n", ""},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "0\n1\n2\n4\n5\n6\n7\nseven\n8\n9\n10\n11\n"},
		{"a\nb\na\nb\na\n", "b\na\nb\na\nb\n"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		file := filepath.Join(dir, "f")
		os.WriteFile(file, []byte(c[0]), 0o644)
		d := Unified("f", "f", c[0], c[1], 3)
		cmd := exec.Command(patch, "-s", file)
		cmd.Stdin = strings.NewReader(d)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("patch: %v\n%s\ndiff:\n%s", err, out, d)
		}
		got, _ := os.ReadFile(file)
		if string(got) != c[1] {
			t.Errorf("patched %q, want %q\ndiff:\n%s", got, c[1], d)
		}
	}
}
