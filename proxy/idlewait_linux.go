//go:build linux

package proxy

import (
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// idleWaiter wakes the plaintext client connections that wait for their
// next request in the order the kernel saw them become readable.
//
// Go's poller runs each batch of goroutines it readies last first
// (netpollready pushes each to the head of a list), so of the connections
// that became readable together the first waits for all the others: with
// 50 keep-alive clients a batch holds 3.5 of them on average and up to
// 50, which is most of the proxy's p99 above HAProxy's. The waiter keeps
// those sockets in an epoll set of its own (edge-triggered); its goroutine
// waits for the set through Go's poller, and readies the connections of
// each epoll_wait in the kernel's order (see wakeAll).
type idleWaiter struct {
	once   sync.Once
	mu     sync.Mutex
	f      *os.File      // the epoll set, which Go's poller waits on
	epfd   int           // f's descriptor (f.Fd would make it blocking)
	conns  []*fifoWait // registered, by socket
	n      int           // how many are registered
	closed bool          // no more: shut down, or the set could not be made
	events [128]syscall.EpollEvent
	woken  []*fifoWait // the waiter goroutine's, reused
}

// start makes the epoll set and its goroutine.
func (w *idleWaiter) start() {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err == nil {
		if err = syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
		}
	}
	if err != nil {
		w.closed = true
		return
	}
	// A non-blocking descriptor given to os.NewFile goes into Go's poller.
	w.epfd = fd
	w.f = os.NewFile(uintptr(fd), "idle-connections")
	raw, err := w.f.SyscallConn()
	if err != nil {
		w.f.Close()
		w.closed = true
		return
	}
	go raw.Read(w.poll) // returns when f is closed
}

// add registers c, whose socket is fd, and reports whether it is in the
// set. A socket is in it until it is closed (closing it removes it).
func (w *idleWaiter) add(c *fifoWait, fd int) bool {
	w.once.Do(w.start)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: int32(fd)}
	if syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, fd, &ev) != nil {
		return false
	}
	if fd >= len(w.conns) {
		w.conns = append(w.conns, make([]*fifoWait, fd+1-len(w.conns))...)
	}
	w.conns[fd] = c
	w.n++
	return true
}

// remove forgets c before its socket fd is closed: an event the waiter
// has already taken for fd then wakes nothing. The last one gone after
// the proxy stopped closes the set.
func (w *idleWaiter) remove(c *fifoWait, fd int, stopped bool) {
	w.mu.Lock()
	if w.conns[fd] == c {
		w.conns[fd] = nil
	}
	w.n--
	last := w.n == 0 && stopped && !w.closed
	w.closed = w.closed || last
	w.mu.Unlock()
	if last {
		// Unlocked: the close waits for poll to return.
		w.f.Close()
	}
}

// poll is the raw read's function: it takes every event ready and wakes
// their connections, and returns false to wait for more.
func (w *idleWaiter) poll(fd uintptr) bool {
	for {
		n, err := syscall.EpollWait(int(fd), w.events[:], 0)
		if err == syscall.EINTR {
			continue
		}
		if n <= 0 {
			break
		}
		w.mu.Lock()
		for _, e := range w.events[:n] {
			if c := w.conns[e.Fd]; c != nil {
				w.woken = append(w.woken, c)
			}
		}
		w.mu.Unlock()
		if n < len(w.events) {
			break
		}
	}
	wakeAll(w.woken)
	clear(w.woken)
	w.woken = w.woken[:0]
	return false
}

// wakeAll wakes the connections of cs, in order, that wait.
//
// A goroutine readied by another runs next (the runqueue's runnext slot),
// pushing the one there before to the tail of the queue: readying g1..gn
// in turn runs gn, then g1..gn-1. So the first to wake is readied last.
func wakeAll(cs []*fifoWait) {
	first := -1
	for i, c := range cs {
		if !c.mark() {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		c.wake <- struct{}{}
	}
	if first >= 0 {
		cs[first].wake <- struct{}{}
	}
}

// The states of a connection registered with the idle waiter.
const (
	fifoRunning int32 = iota // its goroutine runs
	fifoParked               // its goroutine waits on wake
	fifoReady                // readable since its goroutine last waited
)

// fifoWait is a connection's part of the idle waiter.
type fifoWait struct {
	w       *idleWaiter // registered with; nil before
	fd      int
	state   atomic.Int32
	wake    chan struct{} // one send per fifoParked ended
	expired atomic.Bool   // the idle timeout or a stop ended the wait
	until   atomic.Int64  // the idle wait's deadline, UnixNano
	timeout atomic.Int64  // the idle timeout, for the timer
	timer   *time.Timer   // checks until
}

// mark records a readiness and reports whether the goroutine waits, for
// the caller to send it wake.
func (f *fifoWait) mark() bool { return f.state.Swap(fifoReady) == fifoParked }

// expire ends the wait for good.
func (f *fifoWait) expire() {
	f.expired.Store(true)
	if f.mark() {
		f.wake <- struct{}{}
	}
}

// setIdle starts an idle wait of at most d; d <= 0 is none.
func (f *fifoWait) setIdle(d time.Duration) {
	until := int64(math.MaxInt64)
	if d > 0 {
		until = time.Now().Add(d).UnixNano()
	}
	f.until.Store(until)
	if f.timeout.Swap(int64(d)) != int64(d) {
		f.timer.Reset(max(d, 0)) // the timeout changed: look at once
	}
}

// wait waits for a readiness since the goroutine last ran, and reports
// false when the wait expired instead.
func (f *fifoWait) wait() bool {
	if f.state.CompareAndSwap(fifoRunning, fifoParked) {
		<-f.wake
	}
	f.state.Store(fifoRunning)
	return !f.expired.Load()
}

// idleCheck is the timer's function: it expires a wait past its deadline,
// else looks again at the deadline, or, for a connection not waiting, an
// idle timeout from now (its next wait's deadline is no earlier).
func (f *fifoWait) idleCheck() {
	now := time.Now().UnixNano()
	until := f.until.Load()
	switch {
	case f.state.Load() == fifoParked && now >= until:
		f.expire()
		return
	case until <= now:
		// Running, maybe only for a moment between two waits.
		until = now + max(f.timeout.Load()>>6, int64(time.Millisecond))
	}
	f.timer.Reset(time.Duration(until - now))
}

var srvWaiter idleWaiter

func (a *awaiter) fifoWrite(p []byte) int {
	f := &a.f
	if f.w == nil {
		a.raw.Control(func(fd uintptr) { f.fd = int(fd) })
		f.wake = make(chan struct{}, 1)
		if !srvWaiter.add(f, f.fd) {
			panic("srvWaiter")
		}
		f.w = &srvWaiter
	}
	f.state.Store(fifoRunning)
	n, err := syscall.Write(f.fd, p)
	if err != nil || n < len(p) {
		return max(n, 0)
	}
	f.wait()
	return n
}
