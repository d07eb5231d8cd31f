//go:build linux

package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// parkedConns returns n connections whose goroutines wait in fifoWait.wait
// and then append their index to *order, and a wait for all of them.
func parkedConns(t *testing.T, n int, order *[]int) ([]*clientConn, func()) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	cs := make([]*clientConn, n)
	for i := range cs {
		c := &clientConn{}
		c.loop.fifo.wake = make(chan struct{}, 1)
		cs[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !c.loop.fifo.wait() {
				t.Error("wait expired")
			}
			mu.Lock()
			*order = append(*order, i)
			mu.Unlock()
		}()
	}
	for _, c := range cs {
		for c.loop.fifo.state.Load() != fifoParked {
			runtime.Gosched()
		}
	}
	runtime.Gosched() // each from its CAS into the channel receive
	return cs, wg.Wait
}

// TestWakeAllOrder: on one processor the connections woken run in the
// order given, which readying them in that order would turn around (the
// scheduler's runnext slot). The race detector shuffles the scheduler.
func TestWakeAllOrder(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector randomizes the scheduler")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n = 16
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}

	var order []int
	cs, wait := parkedConns(t, n, &order)
	wakeAll(cs)
	wait()
	if !slices.Equal(order, want) {
		t.Errorf("wakeAll ran %v, want %v", order, want)
	}

	// What wakeAll works around: readied in order, the last runs first.
	order = nil
	cs, wait = parkedConns(t, n, &order)
	for _, c := range cs {
		c.loop.fifo.mark()
		c.loop.fifo.wake <- struct{}{}
	}
	wait()
	if want := append([]int{n - 1}, want[:n-1]...); !slices.Equal(order, want) {
		t.Errorf("readied in order, ran %v, want %v", order, want)
	}
}

// TestWakeAllSkipsRunning: a connection in the list whose goroutine does
// not wait is marked ready, not sent a wake, and the first that waits runs
// first.
func TestWakeAllSkipsRunning(t *testing.T) {
	if !raceEnabled {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	var order []int
	cs, wait := parkedConns(t, 3, &order)
	running := &clientConn{}
	running.loop.fifo.wake = make(chan struct{}, 1)
	wakeAll(append([]*clientConn{running}, cs...))
	wait()
	if len(order) != 3 {
		t.Errorf("woke %v", order)
	}
	if !raceEnabled && order[0] != 0 {
		t.Errorf("ran %v, want 0 first", order)
	}
	if got := running.loop.fifo.state.Load(); got != fifoReady || len(running.loop.fifo.wake) != 0 {
		t.Errorf("running connection: state %d, %d wakes", got, len(running.loop.fifo.wake))
	}
}

// TestFIFOWaitRace: a readiness or an expiry that comes between the read
// that found nothing and the wait ends the wait at once; one that comes
// during it wakes it.
func TestFIFOWaitRace(t *testing.T) {
	var f fifoWait
	f.wake = make(chan struct{}, 1)
	if f.mark() {
		t.Fatal("mark: a running goroutine reported waiting")
	}
	if !f.wait() || f.state.Load() != fifoRunning {
		t.Fatal("wait after a readiness: not at once, or state not running")
	}

	done := make(chan bool)
	go func() { done <- f.wait() }()
	for f.state.Load() != fifoParked {
		runtime.Gosched()
	}
	if !f.mark() {
		t.Fatal("mark: the waiting goroutine not reported")
	}
	f.wake <- struct{}{}
	if !<-done {
		t.Fatal("woken wait reported expired")
	}

	f.expire()
	if f.wait() {
		t.Fatal("wait after expire: not expired")
	}
}

// TestIdleWaiterServes: keep-alive connections that served requests wait
// in the idle waiter; requests sent on all of them at once are answered;
// the idle timeout closes them and leaves none registered; a stop closes
// those left at once and, the last gone, the waiter.
func TestIdleWaiterServes(t *testing.T) {
	b, _, _ := echoBackend(t)
	e := setup(t, offSticky+`, "timeouts": {"idle": "400ms"}`, map[string]string{"s1": b.addr()})
	const n = 10
	type client struct {
		c  net.Conn
		br *bufio.Reader
	}
	used := func() []client {
		cs := make([]client, n)
		for i := range cs {
			cs[i].c, cs[i].br = e.dial()
			for range 3 {
				io.WriteString(cs[i].c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
				expectEcho(t, cs[i].c, cs[i].br, "GET /a ", 2*time.Second)
			}
		}
		return cs
	}
	registered := func() int {
		w := &e.p.idlers
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.n
	}
	waitRegistered := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); registered() != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections registered, want %d", registered(), want)
			}
		}
	}

	cs := used()
	waitRegistered(n)
	for _, c := range cs {
		io.WriteString(c.c, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
	}
	for _, c := range cs {
		expectEcho(t, c.c, c.br, "GET /b ", 2*time.Second)
	}
	start := time.Now()
	for _, c := range cs {
		if !closedWithin(c.c, c.br, 3*time.Second) {
			t.Fatal("idle connection kept")
		}
	}
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
	waitRegistered(0)

	cs = used()
	waitRegistered(n)
	start = time.Now()
	if err := e.p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if !closedWithin(c.c, c.br, time.Second) {
			t.Fatal("idle connection not closed by Shutdown")
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	w := &e.p.idlers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n != 0 || !w.closed {
		t.Errorf("after Shutdown: %d registered, closed %v", w.n, w.closed)
	}
	for fd, c := range w.conns {
		if c != nil {
			t.Errorf("socket %d still registered", fd)
		}
	}
}
