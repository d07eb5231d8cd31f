package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// The handshake case's load generator. wrk cannot be used for it: it keeps
// each connection's TLS session across reconnections (SSL_clear keeps a good
// session), so with Connection: close almost every handshake is a resumed
// one (measured: 948 of 949 against nginx), which skips the certificate
// signature. h2load opens each connection once. So the harness runs itself,
// pinned to the load core, as a client that makes every request on a new
// connection with a full handshake: no session cache, TLS 1.3, X25519 as
// its only key share, which pins X25519 for all three proxies alike.

// clientSummary is what the harness's own load clients (handshake-client,
// h2rate-client) print, as JSON.
type clientSummary struct {
	Requests int64   `json:"requests"` // 200 answers with the whole body
	Errors   int64   `json:"errors"`   // anything else (each client says what else counts)
	Seconds  float64 `json:"seconds"`
	P50      float64 `json:"p50_ms"` // each client says from when to the end of the response
	P99      float64 `json:"p99_ms"`
	FirstErr string  `json:"first_error,omitempty"`
}

func (s clientSummary) result() loadResult {
	r := loadResult{requests: s.Requests, errors: s.Errors, p50: s.P50, p99: s.P99}
	if s.Seconds > 0 {
		r.rps = float64(s.Requests) / s.Seconds
	}
	return r
}

var handshakeRequest = []byte("GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")

// handshakeLoad runs conns clients against addr for d. Its errors are
// anything but a 200 with the whole body, resumed or non-X25519 handshakes
// too; its latencies run from connect to the end of the response.
func handshakeLoad(addr string, conns int, d time.Duration) clientSummary {
	cfg := &tls.Config{
		InsecureSkipVerify: true, // a self-signed certificate; the signature is still checked
		ServerName:         "bench",
		MinVersion:         tls.VersionTLS13,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		NextProtos:         []string{"http/1.1"},
	}
	start := time.Now()
	end := start.Add(d)
	var (
		mu   sync.Mutex
		sum  clientSummary
		lats []float64
		wg   sync.WaitGroup
	)
	for range conns {
		wg.Go(func() {
			var mine []float64
			var errs int64
			var firstErr error
			buf := make([]byte, 0, 1024)
			// At least one request each, even when this goroutine starts
			// after end (a busy machine): a run never measures nothing.
			for first := true; first || time.Now().Before(end); first = false {
				t0 := time.Now()
				var err error
				buf, err = oneHandshakeRequest(addr, cfg, buf[:0])
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				mine = append(mine, float64(time.Since(t0))/1e6)
			}
			mu.Lock()
			lats = append(lats, mine...)
			sum.Errors += errs
			if firstErr != nil && sum.FirstErr == "" {
				sum.FirstErr = firstErr.Error()
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	sum.Seconds = time.Since(start).Seconds()
	sum.Requests = int64(len(lats))
	slices.Sort(lats)
	sum.P50, sum.P99 = percentile(lats, 50), percentile(lats, 99)
	return sum
}

func oneHandshakeRequest(addr string, cfg *tls.Config, buf []byte) ([]byte, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return buf, err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return buf, err
	}
	if st := c.ConnectionState(); st.DidResume || st.CurveID != tls.X25519 {
		return buf, fmt.Errorf("handshake resumed=%v group=%v, want a full X25519 one", st.DidResume, st.CurveID)
	}
	if _, err := c.Write(handshakeRequest); err != nil {
		return buf, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf))
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf, err
		}
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) || !bytes.HasSuffix(buf, []byte("\r\n\r\nok\n")) {
		return buf, fmt.Errorf("answer %.40q, want 200 with body ok", buf)
	}
	return buf, nil
}

// runHandshakeClient is the entry point of `httpbench handshake-client`.
func runHandshakeClient(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: httpbench handshake-client ADDR CONNS DURATION")
	}
	var conns int
	if _, err := fmt.Sscan(args[1], &conns); err != nil || conns < 1 {
		return fmt.Errorf("connections %q: want a positive number", args[1])
	}
	d, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	return printJSON(handshakeLoad(args[0], conns, d))
}

// printJSON prints a client's summary as one JSON line, which the
// harness reads back from the client's output.
func printJSON(summary any) error {
	out, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func parseHandshakeSummary(out []byte) (loadResult, error) {
	var s clientSummary
	if err := json.Unmarshal(bytes.TrimSpace(out), &s); err != nil {
		return loadResult{}, fmt.Errorf("handshake client output %.80q: %v", out, err)
	}
	if s.FirstErr != "" {
		logf("handshake client: %d errors, the first: %s", s.Errors, s.FirstErr)
	}
	return s.result(), nil
}
