package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The h2rate case's load generator: HTTP/2 over TLS at a fixed rate, open
// loop. h2load keeps -c × -m streams in flight and sends the next request
// when one ends (a closed loop), so it runs as fast as the slowest of
// itself, the proxy and the backend; on this machine that is itself and
// the backend, whose core it saturates, and its p99 is mostly its own
// queue (the three proxies' within a few percent of each other). Here each
// connection sends its share of -rate requests per second on a schedule,
// whatever the answers do, and a request's latency runs from the moment
// the client woke to send it (Go's timers wake within about a millisecond
// of when a request is due, alike for every proxy) to the end of its
// response; a request that has to wait for one of the connection's
// h2rateStreams to end counts that wait too: a proxy that stalls is not
// spared the requests due meanwhile (no coordinated omission, as wrk2).

// h2rateSummary is what the h2rate client prints, as JSON: errors are
// other statuses, resets and requests unanswered at the end; Seconds runs
// from the first request due to the last one due; latencies from the
// send's start to the response's end.
type h2rateSummary struct {
	clientSummary
	// Behind is the share of requests whose send started 2 ms or more
	// after they were due: the client itself did not keep the rate.
	Behind float64 `json:"behind"`
}

// h2rateStreams is the most requests in flight on one connection (the
// proxies' default SETTINGS_MAX_CONCURRENT_STREAMS is 100 or more): a
// request due beyond it waits, late.
const h2rateStreams = 100

// h2rateLoad sends rate requests per second for d over conns connections
// to addr, and waits up to 5 s for the last answers.
func h2rateLoad(addr string, conns int, rate float64, d time.Duration) h2rateSummary {
	cfg := &tls.Config{
		InsecureSkipVerify: true, // a self-signed certificate
		ServerName:         "bench",
		MinVersion:         tls.VersionTLS13,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		NextProtos:         []string{"h2"},
	}
	interval := time.Duration(float64(conns) / rate * float64(time.Second)) // on one connection
	n := max(1, int(d/interval))                                            // requests per connection
	start := time.Now().Add(500 * time.Millisecond)                         // after every connection is up
	var (
		mu   sync.Mutex
		sum  h2rateSummary
		lats []float64
		wg   sync.WaitGroup
	)
	behind := 0
	for k := range conns {
		wg.Go(func() {
			// Connections start spread over one interval.
			first := start.Add(interval * time.Duration(k) / time.Duration(conns))
			r := runH2rateConn(addr, cfg, first, interval, n)
			mu.Lock()
			defer mu.Unlock()
			lats = append(lats, r.lats...)
			sum.Errors += r.errors
			behind += r.behind
			if r.err != nil && sum.FirstErr == "" {
				sum.FirstErr = r.err.Error()
			}
		})
	}
	wg.Wait()
	sum.Seconds = (time.Duration(n) * interval).Seconds()
	sum.Requests = int64(len(lats))
	sum.Behind = float64(behind) / float64(n*conns)
	slices.Sort(lats)
	sum.P50, sum.P99 = percentile(lats, 50), percentile(lats, 99)
	return sum
}

// h2rateConn is one connection's outcome.
type h2rateConn struct {
	lats   []float64 // ms, of the 200 answers
	errors int64
	behind int
	err    error // the first
}

// runH2rateConn sends n GET / on one connection, the i-th due at
// first + i·interval, and reads the answers.
func runH2rateConn(addr string, cfg *tls.Config, first time.Time, interval time.Duration, n int) (r h2rateConn) {
	fail := func(err error) h2rateConn {
		r.errors = int64(n) - int64(len(r.lats))
		if r.err == nil {
			r.err = err
		}
		return r
	}
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fail(err)
	}
	defer raw.Close()
	end := first.Add(time.Duration(n)*interval + 5*time.Second)
	raw.SetDeadline(end)
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return fail(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		return fail(fmt.Errorf("ALPN %q, want h2", p))
	}
	var wmu sync.Mutex // the framer's writes, and the encoder
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		return fail(err)
	}
	if err := fr.WriteSettings(); err != nil {
		return fail(err)
	}
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)

	// sent[i] is when request i (stream 2i+1) started, in Unix ns: set
	// by the sender before the request leaves, read by the reader.
	sent := make([]atomic.Int64, n)
	over := make([]bool, n) // the reader's: answered or failed
	slots := make(chan struct{}, h2rateStreams)
	var done sync.WaitGroup
	done.Add(1)
	readerDone := make(chan struct{})
	var readErr error
	var lats []float64
	answered, failed := 0, 0
	finish := func(id uint32, ok bool, why error) {
		i := int(id / 2)
		if id%2 == 0 || i >= n || over[i] || sent[i].Load() == 0 {
			return
		}
		over[i] = true
		<-slots
		if ok {
			answered++
			lats = append(lats, float64(time.Now().UnixNano()-sent[i].Load())/1e6)
			return
		}
		failed++
		if readErr == nil {
			readErr = why
		}
	}
	go func() {
		defer done.Done()
		defer close(readerDone)
		consumed := 0
		for answered+failed < n {
			f, err := fr.ReadFrame()
			if err != nil {
				readErr = err
				return
			}
			id := f.Header().StreamID
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					wmu.Lock()
					fr.WriteSettingsAck()
					wmu.Unlock()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					wmu.Lock()
					fr.WritePing(true, f.Data)
					wmu.Unlock()
				}
			case *http2.GoAwayFrame:
				readErr = fmt.Errorf("GOAWAY %v", f.ErrCode)
				return
			case *http2.RSTStreamFrame:
				finish(id, false, fmt.Errorf("stream %d reset: %v", id, f.ErrCode))
			case *http2.MetaHeadersFrame:
				if s := f.PseudoValue("status"); s != "200" {
					finish(id, false, fmt.Errorf("status %q", s))
				} else if f.StreamEnded() {
					finish(id, true, nil)
				}
			case *http2.DataFrame:
				consumed += int(f.Length)
				if consumed >= 1<<14 {
					// Only the connection's window runs low: each
					// stream's bodies are small.
					wmu.Lock()
					fr.WriteWindowUpdate(0, uint32(consumed))
					wmu.Unlock()
					consumed = 0
				}
				if f.StreamEnded() {
					finish(id, true, nil)
				}
			}
		}
	}()

	var sendErr error
send:
	for i := range n {
		at := first.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		woke := time.Now()
		if woke.Sub(at) >= 2*time.Millisecond {
			r.behind++
		}
		select {
		case slots <- struct{}{}:
		case <-readerDone:
			sendErr = errors.New("the connection ended before every request was sent")
			break send
		}
		sent[i].Store(woke.UnixNano())
		wmu.Lock()
		blk.Reset()
		for _, f := range [...]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
			{Name: ":authority", Value: addr}, {Name: ":path", Value: "/"}} {
			enc.WriteField(f)
		}
		sendErr = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: blk.Bytes(), EndStream: true, EndHeaders: true})
		wmu.Unlock()
		if sendErr != nil {
			break
		}
	}
	if sendErr != nil {
		raw.Close() // ends the reader
	}
	done.Wait()
	r.lats = lats
	r.errors = int64(n - answered)
	r.err = errors.Join(sendErr, readErr)
	if r.errors == 0 {
		r.err = nil
	}
	return r
}

// runH2rateClient is the entry point of `httpbench h2rate-client`.
func runH2rateClient(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: httpbench h2rate-client ADDR CONNS RATE DURATION")
	}
	conns, err := strconv.Atoi(args[1])
	if err != nil || conns < 1 {
		return fmt.Errorf("connections %q: want a positive number", args[1])
	}
	rate, err := strconv.ParseFloat(args[2], 64)
	if err != nil || rate <= 0 {
		return fmt.Errorf("rate %q: want requests per second, more than 0", args[2])
	}
	d, err := time.ParseDuration(args[3])
	if err != nil {
		return err
	}
	return printJSON(h2rateLoad(args[0], conns, rate, d))
}

func parseH2rateSummary(out []byte) (h2rateSummary, error) {
	var s h2rateSummary
	if err := json.Unmarshal(bytes.TrimSpace(out), &s); err != nil {
		return s, fmt.Errorf("h2rate client output %.80q: %v", out, err)
	}
	if s.FirstErr != "" && s.Requests == 0 {
		return s, errors.New(s.FirstErr)
	}
	return s, nil
}
