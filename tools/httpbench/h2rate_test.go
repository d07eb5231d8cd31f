package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"l7lb/testbin"
)

// h2Server serves HTTP/2 over TLS on loopback with handler, and returns
// its address.
func h2Server(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	pair := testPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2"}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestH2rateLoad: the client sends its rate for its duration, every
// request answered counts once, and its latencies include the server's
// time.
func TestH2rateLoad(t *testing.T) {
	var served atomic.Int64
	addr := h2Server(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(2 * time.Millisecond)
		w.Write([]byte("ok\n"))
	})
	s := h2rateLoad(addr, 4, 400, 500*time.Millisecond)
	if s.Errors != 0 || s.FirstErr != "" {
		t.Fatalf("got %+v, want no errors", s)
	}
	// 4 connections × 50 requests: 500 ms at 400 requests per second.
	if s.Requests != 200 || served.Load() != 200 {
		t.Errorf("%d answers, %d requests served; want 200 and 200", s.Requests, served.Load())
	}
	if s.Seconds != 0.5 {
		t.Errorf("seconds %v, want 0.5", s.Seconds)
	}
	if s.P50 < 2 || s.P99 < s.P50 {
		t.Errorf("p50 %v ms, p99 %v ms: want at least the server's 2 ms, in order", s.P50, s.P99)
	}
	if r := s.result(); r.rps != 400 {
		t.Errorf("rps %v, want 400", r.rps)
	}
}

// TestH2rateErrors: answers other than 200 are errors, not latencies.
func TestH2rateErrors(t *testing.T) {
	var n atomic.Int64
	addr := h2Server(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	s := h2rateLoad(addr, 2, 200, 200*time.Millisecond)
	if s.Requests+s.Errors != 40 || s.Errors != 20 || !strings.Contains(s.FirstErr, `status "503"`) {
		t.Errorf("got %+v, want 20 answers, 20 errors naming status 503", s)
	}
	if _, err := parseH2rateSummary([]byte(`{"requests":0,"errors":5,"first_error":"refused"}`)); err == nil || err.Error() != "refused" {
		t.Errorf("a run with no answer: error %v, want refused", err)
	}
}

// TestH2loadRunOwnLog: each h2load run's percentiles are its own, though
// h2load appends to a log it finds: a fast run, then a slow one in the same
// directory, must give the slow one's median, not the pair's.
func TestH2loadRunOwnLog(t *testing.T) {
	testbin.Tool(t, "h2load", "nghttp2-client")
	var slow atomic.Bool
	addr := h2Server(t, func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			time.Sleep(20 * time.Millisecond)
		}
		w.Write([]byte("ok\n"))
	})
	dir := t.TempDir()
	run := func() loadResult {
		t.Helper()
		r, err := h2loadRun(exec.Command, dir, "https://"+addr+"/", 2, 2, 0, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.errors != 0 || r.requests == 0 {
			t.Fatalf("got %+v, want requests and no errors", r)
		}
		return r
	}
	fast := run()
	slow.Store(true)
	r := run()
	if fast.p50 >= 20 || r.p50 < 20 || r.p99 < r.p50 {
		t.Errorf("fast run p50 %v ms, slow run p50 %v p99 %v ms: want under 20, then at least the server's 20 ms, in order", fast.p50, r.p50, r.p99)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d files left in the run directory, want none", len(entries))
	}
}
