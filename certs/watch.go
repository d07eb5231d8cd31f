package certs

import (
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// watcher watches the directories of a store's files. Directories, not
// the files: a file replaced by a rename, or reached through a symbolic
// link that is swapped (Kubernetes updates a mounted Secret by pointing
// its `..data` link at a new directory), is a new inode that a watch on
// the old file would never report. It watches the directory each file's
// name is in and the one its symbolic links lead to, and follows the links
// again after every reload. Every event in them triggers a reload, which
// skips files whose contents did not change. Only the store's loop uses it.
type watcher struct {
	fs     *fsnotify.Watcher
	files  []string
	dirs   map[string]bool   // watched now
	failed map[string]string // directories that could not be watched, and why (reported once)
	logf   func(string, ...any)
}

func newWatcher(files []string, logf func(string, ...any)) (*watcher, error) {
	fs, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{fs: fs, files: files, dirs: map[string]bool{}, failed: map[string]string{}, logf: logf}
	w.rewatch()
	return w, nil
}

// rewatch watches the directories the files are in now and stops watching
// those they left.
func (w *watcher) rewatch() {
	if w == nil {
		return
	}
	want := make(map[string]bool, len(w.files))
	for _, f := range w.files {
		want[filepath.Dir(f)] = true
		if real, err := filepath.EvalSymlinks(f); err == nil {
			want[filepath.Dir(real)] = true
		}
	}
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			if msg := err.Error(); w.failed[d] != msg {
				w.failed[d] = msg
				w.logf("certs: cannot watch %s: %v; renewed files there will not be noticed", d, err)
			}
			continue
		}
		delete(w.failed, d)
		w.dirs[d] = true
	}
	for d := range w.dirs {
		if !want[d] {
			w.fs.Remove(d) // fails when the directory is gone, and its watch with it
			delete(w.dirs, d)
		}
	}
	for d := range w.failed {
		if !want[d] {
			delete(w.failed, d)
		}
	}
}

// saw notes an event: a watched directory that was removed or renamed
// away is no longer watched, and is watched again by rewatch if wanted.
func (w *watcher) saw(ev fsnotify.Event) {
	if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && w.dirs[ev.Name] {
		delete(w.dirs, ev.Name)
	}
}

func (w *watcher) close() { w.fs.Close() }
