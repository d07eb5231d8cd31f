// Package filewatch reports that files changed: the configuration file of
// `serve --watch`, the certificate and key files of a TLS listener. It
// watches the files' directories, not the files: a file replaced by a
// rename, or reached through a symbolic link that is swapped (Kubernetes
// updates a mounted Secret or ConfigMap by pointing its `..data` link at a
// new directory), is a new inode that a watch on the old one would never
// report. It watches the directory each file's name is in and the one its
// symbolic links lead to, and follows the links again after every burst
// of events. Every event in those directories counts; callers compare
// contents to skip what did not change.
package filewatch

import (
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Timing: a burst of events (a copy writes several times, a Kubernetes
// update renames twice) is one change once it has been quiet for Quiet,
// or Max after it began.
const (
	Quiet = 100 * time.Millisecond
	Max   = time.Second
)

// Watcher watches the directories of a set of files.
type Watcher struct {
	fs      *fsnotify.Watcher
	files   func() []string
	logf    func(string, ...any)
	changes chan struct{}
	done    chan struct{}

	// Owned by the loop.
	dirs   map[string]bool   // watched now
	failed map[string]string // directories that could not be watched, and why (reported once)
}

// New watches the directories of the files files returns (asked again
// after every burst of events, so the set may change) until Close; logf
// reports what cannot be watched.
func New(files func() []string, logf func(string, ...any)) (*Watcher, error) {
	fs, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{fs: fs, files: files, logf: logf, changes: make(chan struct{}, 1), done: make(chan struct{}),
		dirs: map[string]bool{}, failed: map[string]string{}}
	w.rewatch()
	go w.loop()
	return w, nil
}

// Changes receives a value after each burst of events in the watched
// directories.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Close stops watching.
func (w *Watcher) Close() {
	close(w.done)
	w.fs.Close()
}

func (w *Watcher) loop() {
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	var burst time.Time // when the pending burst began; zero when none
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			// A watched directory removed or renamed away is no
			// longer watched; rewatch watches it again if wanted.
			if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && w.dirs[ev.Name] {
				delete(w.dirs, ev.Name)
			}
			now := time.Now()
			if burst.IsZero() {
				burst = now
			}
			quiet.Reset(min(Quiet, burst.Add(Max).Sub(now)))
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.logf("watching files: %v", err)
		case <-quiet.C:
			burst = time.Time{}
			w.rewatch()
			select {
			case w.changes <- struct{}{}:
			default: // one pending change is enough
			}
		}
	}
}

// rewatch watches the directories the files are in now and stops watching
// those they left.
func (w *Watcher) rewatch() {
	files := w.files()
	want := make(map[string]bool, len(files))
	for _, f := range files {
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
				w.logf("cannot watch %s: %v; changes there will not be noticed", d, err)
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
