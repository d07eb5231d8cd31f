// Package health decides when a server is down: passively, from the
// failures the proxy meets, and actively, by probing a path. Both mark the
// verdict through a function the caller supplies (the engine's SetDown), so
// this package knows nothing of routing.
package health

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Mark records that a server is down (true) or up (false).
type Mark func(server string, down bool)

// Verdicts combines the passive and the active verdicts on each server,
// and a fleet's majority verdict (package fleet): a server is down while
// any holds it down, so that the end of a passive
// cooldown cannot bring back a server its probes still find failing. It
// marks only changes of the combined verdict.
type Verdicts struct {
	mark Mark

	mu      sync.Mutex
	passive map[string]bool // bounded by the servers configured
	active  map[string]bool
	fleet   map[string]bool // a majority of a fleet's live instances sees it down
}

// NewVerdicts returns a combiner that marks through mark.
func NewVerdicts(mark Mark) *Verdicts {
	return &Verdicts{mark: mark, passive: map[string]bool{}, active: map[string]bool{}, fleet: map[string]bool{}}
}

// Fleet records the fleet's verdict on server (docs/fleet.md): down when
// a majority of the fleet's live instances see it down.
func (v *Verdicts) Fleet(server string, down bool) { v.set(v.fleet, server, down) }

// Own returns the servers this process's own checks hold down, passive or
// active, without the fleet's verdict.
func (v *Verdicts) Own() map[string]bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	own := map[string]bool{}
	for s, down := range v.passive {
		own[s] = own[s] || down
	}
	for s, down := range v.active {
		own[s] = own[s] || down
	}
	return own
}

func (v *Verdicts) down(server string) bool {
	return v.passive[server] || v.active[server] || v.fleet[server]
}

// Passive records the passive verdict on server.
func (v *Verdicts) Passive(server string, down bool) { v.set(v.passive, server, down) }

// Active records the active verdict on server.
func (v *Verdicts) Active(server string, down bool) { v.set(v.active, server, down) }

func (v *Verdicts) set(verdicts map[string]bool, server string, down bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	before := v.down(server)
	verdicts[server] = down
	if after := v.down(server); after != before {
		v.mark(server, after)
	}
}

// Forget drops the verdicts on server, which is no longer configured (or
// is another server under the same id), without marking anything.
func (v *Verdicts) Forget(server string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.passive, server)
	delete(v.active, server)
	delete(v.fleet, server)
}

// Passive marks a server down after a run of consecutive failures, for a
// cooldown; then the server is tried again.
type Passive struct {
	fails    int
	cooldown time.Duration
	mark     Mark

	mu     sync.Mutex
	counts map[string]int // consecutive failures by server; bounded by the servers configured
	timers map[string]*time.Timer
	closed bool
}

// NewPassive returns a tracker marking a server down after fails
// consecutive failures, for cooldown.
func NewPassive(fails int, cooldown time.Duration, mark Mark) *Passive {
	return &Passive{fails: fails, cooldown: cooldown, mark: mark, counts: map[string]int{}, timers: map[string]*time.Timer{}}
}

// Failure records a connect failure or reset of server.
func (p *Passive) Failure(server string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.timers[server] != nil {
		return // already down: the cooldown decides when it is tried again
	}
	p.counts[server]++
	if p.counts[server] < p.fails {
		return
	}
	p.counts[server] = 0
	p.mark(server, true)
	var t *time.Timer
	t = time.AfterFunc(p.cooldown, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.timers[server] != t {
			return // ended already (Success, Forget), perhaps down again since
		}
		delete(p.timers, server)
		if !p.closed {
			p.mark(server, false)
		}
	})
	p.timers[server] = t
}

// SetThresholds changes the failures that mark a server down and the
// cooldown, for the failures and marks from now on.
func (p *Passive) SetThresholds(fails int, cooldown time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fails, p.cooldown = fails, cooldown
}

// Forget drops what p knows of server, which is no longer configured (or
// is another server under the same id): its failures, and its cooldown,
// which then marks nothing.
func (p *Passive) Forget(server string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.counts, server)
	if t := p.timers[server]; t != nil {
		t.Stop()
		delete(p.timers, server)
	}
}

// Success records a good exchange with server, ending its run of
// failures, and its cooldown if it is down: a server held down gets
// requests only in panic (config health.panic), and one that answers
// them is back.
func (p *Passive) Success(server string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts[server] != 0 {
		p.counts[server] = 0
	}
	if t := p.timers[server]; t != nil && !p.closed {
		t.Stop()
		delete(p.timers, server)
		p.mark(server, false)
	}
}

// Close stops the cooldown timers.
func (p *Passive) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, t := range p.timers {
		t.Stop()
	}
}

// Target is a server to probe.
type Target struct {
	Server string
	Addr   string // host:port
	// TLS probes over TLS with this configuration (an https:// server);
	// nil for plaintext.
	TLS *tls.Config
	// H2C probes in HTTP/2 with prior knowledge (an h2c:// server).
	H2C      bool
	Path     string
	Interval time.Duration
	Timeout  time.Duration
}

// Thresholds of active checks: a server is down after this many failed
// checks in a row and up after this many good ones.
const (
	DownAfter = 2
	UpAfter   = 2
)

// Prober runs the active checks: each target is probed every interval; a
// probe is good when the server answers GET path with a status below 500
// within the timeout.
type Prober struct {
	mark Mark

	mu      sync.Mutex
	running map[string]*probing // by server
	wg      sync.WaitGroup
}

type probing struct {
	target Target
	stop   context.CancelFunc
}

// NewProber returns a prober marking through mark, probing nothing yet.
func NewProber(mark Mark) *Prober {
	return &Prober{mark: mark, running: map[string]*probing{}}
}

// Set makes targets the servers probed. A target probed already with the
// same settings goes on as it was, its verdict kept; the others start
// afresh (as up). It returns the servers no longer probed with the same
// settings, whose active verdict the caller should drop.
func (p *Prober) Set(targets []Target) (stopped []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := make(map[string]Target, len(targets))
	for _, t := range targets {
		want[t.Server] = t
	}
	for server, r := range p.running {
		if t, ok := want[server]; !ok || t != r.target {
			r.stop()
			delete(p.running, server)
			stopped = append(stopped, server)
		}
	}
	for _, t := range targets {
		if p.running[t.Server] != nil {
			continue
		}
		ctx, stop := context.WithCancel(context.Background())
		p.running[t.Server] = &probing{target: t, stop: stop}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			probeLoop(ctx, t, p.mark)
		}()
	}
	return stopped
}

// Close stops every probe and waits for them to end.
func (p *Prober) Close() {
	p.Set(nil)
	p.wg.Wait()
}

func probeLoop(ctx context.Context, t Target, mark Mark) {
	tr := &http.Transport{
		DialContext:       (&net.Dialer{Timeout: t.Timeout}).DialContext,
		MaxIdleConns:      1,
		DisableKeepAlives: false,
	}
	scheme := "http"
	switch {
	case t.TLS != nil:
		scheme = "https"
		tr.TLSClientConfig = t.TLS.Clone()
		tr.ForceAttemptHTTP2 = true
	case t.H2C:
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	client := &http.Client{
		Timeout:       t.Timeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	url := scheme + "://" + t.Addr + t.Path
	var good, bad int
	down := false
	tick := time.NewTicker(t.Interval)
	defer tick.Stop()
	for {
		ok := probe(ctx, client, url)
		if ctx.Err() != nil {
			return // stopped mid-probe: the server said nothing, so nothing is marked
		}
		if ok {
			good, bad = good+1, 0
			if down && good >= UpAfter {
				down = false
				mark(t.Server, false)
			}
		} else {
			good, bad = 0, bad+1
			if !down && bad >= DownAfter {
				down = true
				mark(t.Server, true)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "l7lb-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}
