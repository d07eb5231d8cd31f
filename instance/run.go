package instance

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"l7lb/engine"
	"l7lb/filewatch"
	"l7lb/upgrade"
)

// executable is this binary's path, taken at start: an upgrade runs what
// is at that path then (the new binary, once installed over the old).
var executable, _ = os.Executable()

// upgradeTimeout bounds how long a new process may take to be ready.
const upgradeTimeout = time.Minute

// RunOptions are what Run does beside serving.
type RunOptions struct {
	Watch   bool   // reload when the configuration file (or a file it names) changes
	PIDFile string // "" for none
	// Signals are the signals Run acts on, from Signals (called before
	// Start, so that none is missed meanwhile); nil: Run catches them.
	Signals chan os.Signal
}

// Signals starts catching the signals Run acts on: SIGHUP, SIGUSR2,
// SIGINT and SIGTERM.
func Signals() chan os.Signal {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGTERM)
	return sigs
}

// Run serves until SIGINT or SIGTERM, or a successful upgrade, then drains
// and returns; SIGHUP reloads, SIGUSR2 upgrades. It returns the error of
// a listener that failed.
func (in *Instance) Run(ro RunOptions) error {
	sigs := ro.Signals
	if sigs == nil {
		sigs = Signals()
	}
	defer signal.Stop(sigs)

	var changes <-chan struct{}
	if ro.Watch {
		w, err := in.watch()
		if err != nil {
			in.logf("--watch: %v; reload with SIGHUP instead", err)
		} else {
			defer w.close()
			changes = w.changes
		}
	}
	if ro.PIDFile != "" {
		if err := writePIDFile(ro.PIDFile, os.Getpid()); err != nil {
			in.logf("--pid-file: %v", err)
		}
	}
	if err := in.o.Inherited.Ready(); err != nil {
		in.logf("telling the old process this one is ready: %v", err)
	}

	upgraded := false
	var err error
loop:
	for {
		select {
		case err = <-in.failed:
			break loop
		case <-changes:
			in.Reload()
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				in.logf("SIGHUP: reloading %s", in.o.Config)
				in.Reload()
			case syscall.SIGUSR2:
				if pid, err := in.Upgrade(); err != nil {
					in.logf("upgrade failed, this process (%d) goes on serving: %v", os.Getpid(), err)
					if ro.PIDFile != "" {
						writePIDFile(ro.PIDFile, os.Getpid()) // a new file says the attempt ended
					}
				} else {
					in.logf("upgrade: process %d is ready and serves; this one (%d) stops accepting and drains", pid, os.Getpid())
					upgraded = true
					break loop
				}
			default:
				in.logf("%v: stopping; requests in flight finish", sig)
				break loop
			}
		}
	}
	// A second SIGINT or SIGTERM during the drain closes what is left.
	ctx, now := context.WithCancel(context.Background())
	defer now()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-sigs:
				if sig == syscall.SIGINT || sig == syscall.SIGTERM {
					in.logf("%v again: closing the connections left now", sig)
					now()
					return
				}
			}
		}
	}()
	serr := in.ShutdownContext(ctx)
	if ro.PIDFile != "" && !upgraded {
		removePIDFile(ro.PIDFile, os.Getpid())
	}
	if err == nil && serr != nil && !errors.Is(serr, context.DeadlineExceeded) && !errors.Is(serr, context.Canceled) {
		err = serr
	}
	return err
}

// handover is the state an old process gives the new one on upgrade.
type handover struct {
	// StickySecret is the old process's random secret, so that the
	// cookies it issued stay valid; nil when it had none of its own.
	StickySecret []byte `json:"sticky_secret,omitempty"`
	// Servers are the operator's states (drained, disabled) by server,
	// with what is left of a drain.
	Servers map[string]serverHandover `json:"servers,omitempty"`
}

type serverHandover struct {
	State     string        `json:"state"`
	DrainLeft time.Duration `json:"drain_left,omitempty"`
}

// Upgrade starts the binary at this process's path with its arguments,
// hands it the listeners and the state that must survive (the random
// sticky secret, drained and disabled servers), and waits until it is
// ready. It returns the new process's id; on error this process goes on
// as it was.
func (in *Instance) Upgrade() (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case in.stopping:
		return 0, errors.New("shutting down")
	case in.o.Config == "-":
		return 0, errors.New("the configuration came from standard input, which a new process cannot read again; start serve with --config FILE")
	case in.o.Inherited.ParentRunning():
		return 0, errors.New("the process this one replaced is still draining; upgrade again once it has exited")
	case executable == "":
		return 0, errors.New("the path of this binary is unknown")
	}
	files := upgrade.Files{Listeners: map[string]net.Listener{}}
	for addr, s := range in.listeners {
		files.Listeners[addr] = s.ln
	}
	if in.adm != nil {
		files.Listeners["admin "+in.adm.addr] = in.adm.ln
	}
	h := handover{Servers: map[string]serverHandover{}}
	if in.o.Env.Random {
		h.StickySecret = in.o.Env.StickySecret
	}
	for _, s := range in.cur.File.Servers {
		state, left := in.eng.Operator(s.ID)
		if state != engine.StateUp {
			h.Servers[s.ID] = serverHandover{State: state, DrainLeft: left}
		}
	}
	files.State, _ = json.Marshal(h)
	in.logf("upgrade: starting %s", executable)
	return upgrade.Start(executable, os.Args[1:], os.Environ(), files, upgradeTimeout)
}

// takeHandover applies what the old process handed over: its random
// sticky secret (before the first compile), then its servers' states.
func takeHandover(inh *upgrade.Inherited, env *Env) (*handover, error) {
	if inh == nil || len(inh.State) == 0 {
		return nil, nil
	}
	var h handover
	if err := json.Unmarshal(inh.State, &h); err != nil {
		return nil, fmt.Errorf("the old process's state: %v", err)
	}
	if h.StickySecret != nil && env.Random {
		env.StickySecret = h.StickySecret
	}
	return &h, nil
}

func (in *Instance) restoreServers(h *handover) {
	if h == nil {
		return
	}
	for id, s := range h.Servers {
		var err error
		switch s.State {
		case engine.StateDraining:
			err = in.eng.Drain(id, s.DrainLeft)
		case engine.StateDisabled:
			err = in.eng.Disable(id)
		}
		if err == nil {
			in.logf("server %s is %s, as the old process had it", id, s.State)
		}
	}
}

// writePIDFile writes pid to name, atomically (a new file renamed over the
// old: one who waits for it sees a new file).
func writePIDFile(name string, pid int) error {
	tmp := name + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// removePIDFile removes name when it still holds pid.
func removePIDFile(name string, pid int) {
	if b, err := os.ReadFile(name); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid) {
		os.Remove(name)
	}
}

// watcher reports changes of the contents of the configuration file and
// the files it names (see filewatch for how they are watched).
type watcher struct {
	fw      *filewatch.Watcher
	in      *Instance
	changes chan struct{}
	done    chan struct{}
}

func (in *Instance) watch() (*watcher, error) {
	if in.o.Config == "-" {
		return nil, errors.New("the configuration came from standard input: nothing to watch")
	}
	w := &watcher{in: in, changes: make(chan struct{}, 1), done: make(chan struct{})}
	fw, err := filewatch.New(w.files, func(format string, args ...any) { in.logf("--watch: "+format, args...) })
	if err != nil {
		return nil, err
	}
	w.fw = fw
	go w.loop()
	return w, nil
}

// files returns the files watched: the configuration file and those the
// running configuration names.
func (w *watcher) files() []string {
	f, _ := w.in.Running()
	return append([]string{w.in.o.Config}, f.NamedFiles()...)
}

// digest returns a digest of the watched files' contents.
func (w *watcher) digest() [32]byte {
	h := sha256.New()
	for _, name := range w.files() {
		b, _ := os.ReadFile(name)
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// loop passes on the changes that changed contents.
func (w *watcher) loop() {
	last := w.digest()
	for {
		select {
		case <-w.done:
			return
		case <-w.fw.Changes():
			if d := w.digest(); d != last {
				last = d
				w.in.logf("--watch: %s changed: reloading", w.in.o.Config)
				select {
				case w.changes <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (w *watcher) close() {
	close(w.done)
	w.fw.Close()
}
