// Package upgrade replaces a running process by a new one without closing
// its listening sockets, as HAProxy's -x and Envoy's hot restart do: the
// old process starts the new binary, hands it its listeners (file
// descriptors, so the kernel's accept queues carry on and no connection is
// refused), and some state of its own; once the new process says it is
// ready, the old one stops accepting and drains.
//
// The design follows github.com/cloudflare/tableflip: a readiness pipe the
// child writes one byte to, and a pipe the parent never writes to, whose
// end tells the child its parent has exited; a process whose parent is
// still alive does not upgrade again, so that old processes never pile
// up. tableflip itself does not fit: its set of files cannot lose a
// listener that a reload removed, so the port would stay bound.
package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"time"
)

// envVar tells a process it was started by an upgrade, and where its
// files are: JSON of handoff.
const envVar = "L7LB_UPGRADE"

// handoff says which file descriptor of the child is which.
type handoff struct {
	Ready     int            `json:"ready"`  // write one byte here when ready
	Parent    int            `json:"parent"` // reads EOF when the parent has exited
	State     int            `json:"state"`  // the parent's state, until EOF
	Listeners map[string]int `json:"listeners"`
}

// readyByte is what a ready child writes.
const readyByte = 'R'

// Files are what a parent hands its child: listeners by a name both agree
// on (their address), and opaque state.
type Files struct {
	Listeners map[string]net.Listener
	State     []byte
}

// Start starts exe with args (and the environment env, to which the
// handoff is added), hands it f, and waits until it is ready, it exits or
// timeout passes (it is then killed). The listeners stay open in this
// process too: the caller closes them once it stops accepting.
func Start(exe string, args, env []string, f Files, timeout time.Duration) (pid int, err error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer readyR.Close()
	parentR, parentW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return 0, err
	}
	stateR, stateW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		parentR.Close()
		parentW.Close()
		return 0, err
	}
	files := []*os.File{readyW, parentR, stateR}
	closeFiles := func() {
		for _, f := range files {
			f.Close()
		}
	}
	h := handoff{Ready: 3, Parent: 4, State: 5, Listeners: map[string]int{}}
	names := make([]string, 0, len(f.Listeners))
	for name := range f.Listeners {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		file, err := listenerFile(f.Listeners[name])
		if err != nil {
			closeFiles()
			parentW.Close()
			stateW.Close()
			return 0, fmt.Errorf("listener %s: %v", name, err)
		}
		h.Listeners[name] = 3 + len(files)
		files = append(files, file)
	}
	spec, _ := json.Marshal(h)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(withoutVar(env), envVar+"="+string(spec))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	err = cmd.Start()
	closeFiles() // the child has its copies
	if err != nil {
		parentW.Close()
		stateW.Close()
		return 0, err
	}
	go func() {
		stateW.Write(f.State)
		stateW.Close()
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan bool, 1)
	go func() {
		var b [1]byte
		n, _ := readyR.Read(b[:])
		ready <- n == 1 && b[0] == readyByte
	}()
	fail := func(err error) (int, error) {
		parentW.Close()
		return 0, err
	}
	select {
	case ok := <-ready:
		if ok {
			keepOpen(parentW)
			return cmd.Process.Pid, nil
		}
		cmd.Process.Kill()
		return fail(fmt.Errorf("new process %d: %v", cmd.Process.Pid, <-exited))
	case err := <-exited:
		if err == nil {
			err = errors.New("exited")
		}
		return fail(fmt.Errorf("new process %d: %v", cmd.Process.Pid, err))
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-exited
		return fail(fmt.Errorf("new process %d: not ready after %v; killed", cmd.Process.Pid, timeout))
	}
}

// keptOpen holds the parent's end of the parent pipe until the process
// exits: its closing, by the kernel, tells the child the parent is gone.
var (
	keptMu   sync.Mutex
	keptOpen []*os.File
)

func keepOpen(f *os.File) {
	keptMu.Lock()
	keptOpen = append(keptOpen, f)
	keptMu.Unlock()
}

// listenerFile returns a duplicate of ln's file descriptor.
func listenerFile(ln net.Listener) (*os.File, error) {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("a %T has no file descriptor to hand over", ln)
	}
	return fl.File()
}

func withoutVar(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if len(kv) < len(envVar)+1 || kv[:len(envVar)+1] != envVar+"=" {
			out = append(out, kv)
		}
	}
	return out
}

// Inherited is what a process started by an upgrade received.
type Inherited struct {
	listeners map[string]net.Listener
	State     []byte
	ready     *os.File
	parent    chan struct{} // closed when the parent has exited
}

// Inherit returns what the parent handed this process, or nil when it was
// not started by an upgrade. It unsets the environment variable, so that
// the process's own children do not take it for theirs.
func Inherit() (*Inherited, error) {
	spec, ok := os.LookupEnv(envVar)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(envVar)
	var h handoff
	if err := json.Unmarshal([]byte(spec), &h); err != nil {
		return nil, fmt.Errorf("%s: %v", envVar, err)
	}
	in := &Inherited{listeners: map[string]net.Listener{}, parent: make(chan struct{})}
	in.ready = os.NewFile(uintptr(h.Ready), "ready")
	parent := os.NewFile(uintptr(h.Parent), "parent")
	go func() {
		io.Copy(io.Discard, parent)
		parent.Close()
		close(in.parent)
	}()
	state := os.NewFile(uintptr(h.State), "state")
	data, err := io.ReadAll(io.LimitReader(state, 1<<20))
	state.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the state of the old process: %v", err)
	}
	in.State = data
	for name, fd := range h.Listeners {
		f := os.NewFile(uintptr(fd), "listener "+name)
		ln, err := net.FileListener(f)
		f.Close() // FileListener made its own copy
		if err != nil {
			in.Close()
			return nil, fmt.Errorf("listener %s (fd %s): %v", name, strconv.Itoa(fd), err)
		}
		in.listeners[name] = ln
	}
	return in, nil
}

// Take returns the inherited listener called name, once; nil when there
// is none.
func (in *Inherited) Take(name string) net.Listener {
	if in == nil {
		return nil
	}
	ln := in.listeners[name]
	delete(in.listeners, name)
	return ln
}

// Ready tells the parent that this process serves: the parent then stops
// accepting and drains. The inherited listeners nobody took are closed.
func (in *Inherited) Ready() error {
	if in == nil {
		return nil
	}
	in.Close()
	_, err := in.ready.Write([]byte{readyByte})
	in.ready.Close()
	return err
}

// Close closes the inherited listeners nobody took.
func (in *Inherited) Close() {
	for name, ln := range in.listeners {
		ln.Close()
		delete(in.listeners, name)
	}
}

// ParentRunning reports whether the process that started this one by an
// upgrade has not exited yet (it drains).
func (in *Inherited) ParentRunning() bool {
	if in == nil {
		return false
	}
	select {
	case <-in.parent:
		return false
	default:
		return true
	}
}
