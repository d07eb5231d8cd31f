package filewatch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestChanges: an edit in place, a rename over the file and a swapped
// symbolic link to the file's directory (as Kubernetes does) each give
// one change; a file elsewhere gives none.
func TestChanges(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	for _, d := range []string{v1, v2} {
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "f"), []byte(d), 0o644)
	}
	data := filepath.Join(dir, "..data")
	os.Symlink(v1, data)
	file := filepath.Join(dir, "f")
	os.Symlink(filepath.Join("..data", "f"), file)
	other := t.TempDir()

	w, err := New(func() []string { return []string{file} }, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	expect := func(what string, change bool) {
		t.Helper()
		select {
		case <-w.Changes():
			if !change {
				t.Errorf("%s: a change", what)
			}
		case <-time.After(Max + 500*time.Millisecond):
			if change {
				t.Errorf("%s: no change", what)
			}
		}
	}
	os.WriteFile(filepath.Join(other, "x"), []byte("x"), 0o644)
	expect("a file elsewhere", false)
	os.WriteFile(filepath.Join(v1, "f"), []byte("edited"), 0o644)
	expect("an edit in place through the links", true)
	tmp := filepath.Join(dir, "..data_tmp")
	os.Symlink(v2, tmp)
	os.Rename(tmp, data)
	expect("a swapped link", true)
	os.WriteFile(filepath.Join(v2, "f"), []byte("after the swap"), 0o644)
	expect("an edit in the directory the link leads to now", true)
}
