package fleet_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load is clients sending requests to one instance, each one request
// after the other, paced, until stopped; bounded in count (maxPerClient)
// and time (maxLoad). Every request is recorded: its id (also sent in the
// X-Load-Id header, for the backends), when it was sent and answered, the
// backend that answered (the body) or why it failed.
type load struct {
	name    string
	stopped chan struct{}
	wg      sync.WaitGroup
	early   atomic.Bool  // a client ended on a bound before stop
	done    atomic.Int64 // requests answered or failed

	mu      sync.Mutex
	records []record
}

type record struct {
	id         string
	sent, done time.Time
	backend    string
	err        string // "" when the answer was a 200
}

const (
	maxPerClient = 20000
	maxLoad      = 3 * time.Minute
	loadPace     = 5 * time.Millisecond
)

// startLoad starts clients sending GET path to the instance l; stop it
// with stop (also at the test's end).
func startLoad(t *testing.T, l *lb, path string, clients int) *load {
	ld := &load{name: l.name, stopped: make(chan struct{})}
	deadline := time.Now().Add(maxLoad)
	for c := 0; c < clients; c++ {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-ld.stopped:
					return
				default:
				}
				if i == maxPerClient || time.Now().After(deadline) {
					ld.early.Store(true)
					return
				}
				ld.one(client, fmt.Sprintf("%s/%d/%d", l.name, c, i), "http://"+l.addr+path)
				time.Sleep(loadPace)
			}
		}()
	}
	t.Cleanup(func() { ld.stop() })
	return ld
}

func (ld *load) one(client *http.Client, id, url string) {
	r := record{id: id}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Load-Id", id)
	r.sent = time.Now()
	resp, err := client.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		r.backend = string(b)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
	}
	r.done = time.Now()
	if err != nil {
		r.err = err.Error()
	}
	ld.mu.Lock()
	ld.records = append(ld.records, r)
	ld.mu.Unlock()
	ld.done.Add(1)
}

// stop stops the clients, waits for their last requests and returns
// every record; idempotent.
func (ld *load) stop() []record {
	select {
	case <-ld.stopped:
	default:
		close(ld.stopped)
	}
	ld.wg.Wait()
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.records
}

// check stops ld and fails the test when a request failed or a client
// ended on a bound before it was stopped (the load did not cover the
// scenario); it returns the number of requests.
func (ld *load) check(t *testing.T) int {
	t.Helper()
	recs := ld.stop()
	failed := 0
	for _, r := range recs {
		if r.err != "" {
			if failed < 10 {
				t.Errorf("%s: request %s sent at %s failed: %s", ld.name, r.id, r.sent.Format("15:04:05.000"), r.err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%s: %d of %d requests failed", ld.name, failed, len(recs))
	}
	if ld.early.Load() {
		t.Errorf("%s: the load reached its bound (%d requests a client, %v) before the scenario ended", ld.name, maxPerClient, maxLoad)
	}
	return len(recs)
}

// progress waits (bounded) until n more of ld's requests than now are
// done: the instance is under load in the current phase (a hung instance
// holds at most one request a client).
func (ld *load) progress(t *testing.T, what string, n int64) {
	t.Helper()
	from := ld.done.Load()
	waitFor(t, fmt.Sprintf("%s: %d requests done %s", ld.name, n, what), func() bool { return ld.done.Load() >= from+n })
}
