package accesslog

import (
	"io"
	"os"
	"runtime"
	"sync"
)

// maxPending bounds the bytes waiting for the writer goroutine; past it,
// the line's writer writes them itself (the log's speed then bounds the
// proxy's, rather than its memory growing).
const maxPending = 256 << 10

// writer collects access-log lines and writes them in batches, promptly.
//
// A line is appended to a buffer; the first line into an empty buffer
// wakes a writer goroutine, which lets the goroutines ready to run go
// first (their requests' lines join the batch), then swaps the buffer for
// an empty one and writes it with one system call. Under load the cost is
// a fraction of a system call per line; when idle, a line is written
// microseconds after its request ended.
type writer struct {
	mu      sync.Mutex // guards pending
	pending []byte

	wmu   sync.Mutex // serializes writes and reopening; guards out, file, spare
	spare []byte
	out   io.Writer
	file  *os.File // nil for stdout
	path  string

	wake chan struct{} // cap 1: there is something to write
	done chan struct{} // closed by close
	quit chan struct{} // closed when the goroutine has returned
}

func newWriter(path string, stdout io.Writer) (*writer, error) {
	w := &writer{out: stdout, wake: make(chan struct{}, 1), done: make(chan struct{}), quit: make(chan struct{})}
	if path != "stdout" {
		f, err := openLog(path)
		if err != nil {
			return nil, err
		}
		w.out, w.file, w.path = f, f, path
	}
	go w.run()
	return w, nil
}

func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

// Write takes one whole line (slog handlers write each record at once).
func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	first := len(w.pending) == 0
	w.pending = append(w.pending, p...)
	full := len(w.pending) >= maxPending
	w.mu.Unlock()
	switch {
	case full:
		w.flush()
	case first:
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (w *writer) run() {
	defer close(w.quit)
	for {
		select {
		case <-w.wake:
			// Woken by a channel send, this goroutine would run next,
			// as soon as the request's goroutine blocks, and write one
			// line per system call; yielding first puts it behind the
			// goroutines with requests ready to serve.
			runtime.Gosched()
			w.flush()
		case <-w.done:
			w.flush()
			return
		}
	}
}

// flush writes what is pending. A write error is not reported: a proxy
// does not stop serving because its log cannot be written.
func (w *writer) flush() {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	batch := w.pending
	w.pending = w.spare[:0]
	w.mu.Unlock()
	if len(batch) > 0 {
		w.out.Write(batch)
	}
	if cap(batch) > 4*maxPending {
		batch = nil // a burst once is no reason to keep its memory
	}
	w.spare = batch
}

// reopen writes what is pending to the old file, then opens the file by
// its name again.
func (w *writer) reopen() error {
	if w.file == nil {
		return nil
	}
	w.flush()
	f, err := openLog(w.path)
	if err != nil {
		return err
	}
	w.wmu.Lock()
	old := w.file
	w.out, w.file = f, f
	w.wmu.Unlock()
	return old.Close()
}

func (w *writer) close() error {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.quit
	if w.file != nil {
		return w.file.Close()
	}
	return nil
}
