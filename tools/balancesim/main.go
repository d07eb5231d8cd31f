// Command balancesim compares l7lb's balancing policies on a simulated
// cluster: the real balancer pools (package balancer) choose, on a
// simulated clock, among servers whose speed is modelled. It prints, for
// each policy, the latency percentiles of all requests and the share of
// requests each server took, as a Markdown table.
//
//	go run ./tools/balancesim            # the table in BENCHMARKS.md
//	go run ./tools/balancesim -seconds 600 -rate 500 -seed 7
//
// The cluster: 8 servers, each running up to 8 requests at once and
// queueing the rest (first come, first served). Service times are
// exponential with a mean of 10 ms, except on the slow server, 10× slower
// (100 ms), and on the stalling server, which is as fast as the others but
// stops for 1 s every 10 s (a garbage collector's pause, a saturated
// disk): nothing it holds progresses during a stall. Requests arrive as a
// Poisson process (open loop: clients do not wait for each other), and a
// request's latency is from its arrival to its completion, which is also
// the response-time sample peak_ewma gets. Everything is deterministic
// for a seed: the arrivals and service times come from one seeded source,
// and the pools from seeded sources of their own.
package main

import (
	"container/heap"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"l7lb/balancer"
	"l7lb/config"
)

// Params describe one simulation.
type Params struct {
	Servers     int
	Workers     int           // requests a server runs at once
	Service     time.Duration // mean service time of a normal server
	SlowFactor  float64       // the slow server's service time multiplier
	Slow, Stall int           // positions of the slow and the stalling server
	StallEvery  time.Duration
	StallFor    time.Duration
	Rate        float64 // arrivals per second
	Duration    time.Duration
	Seed        uint64
}

// DefaultParams are the figures in BENCHMARKS.md.
func DefaultParams() Params {
	return Params{
		Servers: 8, Workers: 8, Service: 10 * time.Millisecond, SlowFactor: 10,
		Slow: 1, Stall: 4, StallEvery: 10 * time.Second, StallFor: time.Second,
		Rate: 400, Duration: 300 * time.Second, Seed: 1,
	}
}

// Result is one policy's outcome.
type Result struct {
	Policy                string
	Requests              int
	P50, P99, P999, Max   time.Duration
	Share                 []float64 // by server
	SlowShare, StallShare float64
}

// policies are the ones compared, in table order.
var policies = []struct {
	name   string
	policy balancer.Policy
}{
	{config.RoundRobin, balancer.RoundRobin},
	{config.LeastRequest, balancer.LeastRequest},
	{config.PeakEWMA, balancer.PeakEWMA},
}

func main() {
	p := DefaultParams()
	secs := flag.Float64("seconds", p.Duration.Seconds(), "simulated `seconds` of traffic")
	flag.Float64Var(&p.Rate, "rate", p.Rate, "arrivals per second")
	flag.Uint64Var(&p.Seed, "seed", p.Seed, "random seed")
	flag.Parse()
	p.Duration = time.Duration(*secs * float64(time.Second))
	var results []Result
	for _, pol := range policies {
		results = append(results, Simulate(p, pol.name, pol.policy))
	}
	WriteTable(os.Stdout, p, results)
}

// job is a request in the simulation.
type job struct {
	server  int
	arrival int64
	service int64 // ns of work
}

// event kinds.
const (
	evArrival = iota
	evDone
	evStallStart
	evStallEnd
)

type event struct {
	at   int64
	kind int
	job  *job
	seq  int64 // orders simultaneous events by creation
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// server is a simulated server.
type server struct {
	busy       int    // workers in use
	queue      []*job // waiting for a worker
	inFlight   int    // claimed by the balancer and not done
	stallStart int64
	stalled    bool
	ewma       balancer.EWMA
	done       int
}

// sim is the simulation state, and the balancer.Load its pool reads.
type sim struct {
	p       Params
	now     int64
	servers []*server
	events  eventQueue
	seq     int64
	rng     *rand.Rand
	decay   time.Duration
	latency []int64
}

func (s *sim) Up(int) bool                     { return true }
func (s *sim) Active(i int) int                { return s.servers[i].inFlight }
func (s *sim) Ramp(int, time.Duration) float64 { return 1 }
func (s *sim) Claim(i, limit int) bool {
	if limit > 0 && s.servers[i].inFlight >= limit {
		return false
	}
	s.servers[i].inFlight++
	return true
}
func (s *sim) Latency(i int, decay, def time.Duration) float64 {
	return s.servers[i].ewma.Value(s.now, decay, def)
}

func (s *sim) push(at int64, kind int, j *job) {
	s.seq++
	heap.Push(&s.events, event{at: at, kind: kind, job: j, seq: s.seq})
}

// Simulate runs the cluster of p under one policy.
func Simulate(p Params, name string, policy balancer.Policy) Result {
	s := &sim{p: p, rng: rand.New(rand.NewPCG(p.Seed, 0xba1a)), decay: config.DefaultEWMADecay}
	members := make([]balancer.Server, p.Servers)
	for i := range members {
		s.servers = append(s.servers, &server{})
		members[i] = balancer.Server{Index: i, Name: fmt.Sprintf("s%d", i+1), Weight: 1}
	}
	lr, pe := config.DefaultLeastRequest(), config.DefaultPeakEWMA()
	pool := balancer.NewPoolOptions(policy, members, balancer.Options{
		Choices: lr.Choices, ActiveRequestBias: lr.ActiveRequestBias,
		Decay: pe.Decay, DefaultRTT: pe.DefaultRTT,
		Measured: true, Seed: p.Seed,
	})
	end := int64(p.Duration)
	s.push(s.nextArrival(), evArrival, nil)
	for t := int64(p.StallEvery) / 2; t < end; t += int64(p.StallEvery) {
		s.push(t, evStallStart, nil)
		s.push(t+int64(p.StallFor), evStallEnd, nil)
	}
	for s.events.Len() > 0 {
		ev := heap.Pop(&s.events).(event)
		s.now = ev.at
		switch ev.kind {
		case evArrival:
			if s.now >= end {
				continue // no more arrivals; let the rest finish
			}
			i, _ := pool.Pick(s, "")
			mean := float64(p.Service)
			if i == p.Slow {
				mean *= p.SlowFactor
			}
			j := &job{server: i, arrival: s.now, service: int64(s.rng.ExpFloat64() * mean)}
			s.start(i, j)
			s.push(s.now+s.nextArrival(), evArrival, nil)
		case evDone:
			srv := s.servers[ev.job.server]
			if srv.stalled {
				// Frozen: the work left at the stall's start waits for its end.
				s.push(ev.at+int64(s.p.StallFor), evDone, ev.job)
				continue
			}
			s.finish(ev.job)
		case evStallStart:
			srv := s.servers[p.Stall]
			srv.stalled, srv.stallStart = true, s.now
		case evStallEnd:
			srv := s.servers[p.Stall]
			srv.stalled = false
			for srv.busy < p.Workers && len(srv.queue) > 0 {
				j := srv.queue[0]
				srv.queue = srv.queue[1:]
				srv.busy++
				s.push(s.now+j.service, evDone, j)
			}
		}
	}
	return s.result(name)
}

func (s *sim) nextArrival() int64 {
	return int64(s.rng.ExpFloat64() / s.p.Rate * float64(time.Second))
}

// start gives j to server i: a worker now, or the queue.
func (s *sim) start(i int, j *job) {
	srv := s.servers[i]
	if srv.busy < s.p.Workers && !srv.stalled {
		srv.busy++
		s.push(s.now+j.service, evDone, j)
		return
	}
	srv.queue = append(srv.queue, j)
}

// finish completes j: its latency is a sample, its worker takes the next.
func (s *sim) finish(j *job) {
	srv := s.servers[j.server]
	rtt := s.now - j.arrival
	s.latency = append(s.latency, rtt)
	srv.ewma.Observe(rtt, s.now, s.decay)
	srv.inFlight--
	srv.done++
	srv.busy--
	if len(srv.queue) > 0 {
		next := srv.queue[0]
		srv.queue = srv.queue[1:]
		srv.busy++
		s.push(s.now+next.service, evDone, next)
	}
}

func (s *sim) result(name string) Result {
	lat := slices.Clone(s.latency)
	slices.Sort(lat)
	q := func(f float64) time.Duration { return time.Duration(lat[min(len(lat)-1, int(f*float64(len(lat))))]) }
	r := Result{Policy: name, Requests: len(lat), P50: q(0.50), P99: q(0.99), P999: q(0.999), Max: time.Duration(lat[len(lat)-1])}
	for _, srv := range s.servers {
		r.Share = append(r.Share, float64(srv.done)/float64(len(lat)))
	}
	r.SlowShare, r.StallShare = r.Share[s.p.Slow], r.Share[s.p.Stall]
	return r
}

// WriteTable writes the results as Markdown.
func WriteTable(w io.Writer, p Params, results []Result) {
	fmt.Fprintf(w, "%d servers × %d workers, service %v exponential; s%d %g× slower; s%d stalls %v every %v; %g requests/s for %v (seed %d)\n\n",
		p.Servers, p.Workers, p.Service, p.Slow+1, p.SlowFactor, p.Stall+1, p.StallFor, p.StallEvery, p.Rate, p.Duration, p.Seed)
	head := "| policy | requests | p50 ms | p99 ms | p99.9 ms | max ms |"
	sep := "|---|--:|--:|--:|--:|--:|"
	for i := range p.Servers {
		tag := ""
		switch i {
		case p.Slow:
			tag = " (slow)"
		case p.Stall:
			tag = " (stalls)"
		}
		head += fmt.Sprintf(" s%d%s |", i+1, tag)
		sep += "--:|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
	for _, r := range results {
		var b strings.Builder
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |", r.Policy, r.Requests, ms(r.P50), ms(r.P99), ms(r.P999), ms(r.Max))
		for _, sh := range r.Share {
			fmt.Fprintf(&b, " %.1f%% |", 100*sh)
		}
		fmt.Fprintln(w, b.String())
	}
}
