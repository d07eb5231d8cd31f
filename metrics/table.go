package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"l7lb/engine"
	"l7lb/observe"
)

// Table holds the label children of one configuration's routes and servers,
// resolved when it is built or, for the combinations that may never
// happen (a status code, a sticky outcome), once on first use: counting a
// request then reads a slice and adds atomically. A nil *Table counts
// nothing.
type Table struct {
	m *Metrics
	// routes are the route label values by slot; slot 0, before them, is
	// "no route". A route's slot is its index + 1, or with collapsed,
	// one slot for every named route and one for the default route.
	routes    []string
	collapsed bool
	nroutes   int      // the configuration's routes, the default route included
	named     int      // of which named routes (all but the default route)
	servers   []string // by server index

	duration       []prometheus.Observer // by route slot
	received, sent []prometheus.Counter  // by route slot
	retries        []lazyCounter         // by route slot
	sticky         []lazyCounter         // by route slot × engine sticky outcome
	connect        []prometheus.Observer // by server index
	waiting        []prometheus.Observer // by server index

	// requests are counted in cells by route slot × server slot × method,
	// each holding the children of the statuses seen.
	cells []atomic.Pointer[cell]

	// retired is set once a newer table exists: its label children may
	// have been deleted, and must not be made again.
	retired atomic.Bool
}

// numSticky is the number of the engine's sticky outcomes.
const numSticky = int(engine.StickyHintInvalid) + 1

// OtherRoute is the route label value of every named route of a
// configuration with more routes than its maxRoutes (OpenTelemetry's
// name for the values beyond a bounded set, as http_request_method's
// _OTHER).
const OtherRoute = "_OTHER"

// Table returns the table of a configuration whose route indexes name
// routes (the default route last, as engine.Engine.Names gives them) and
// whose server indexes name servers. With more named routes than
// maxRoutes, they all count under OtherRoute: a scrape's size then does
// not grow with the routes. The series of routes and servers the
// previous table had and this one does not are deleted; those of names
// both have go on counting.
func (m *Metrics) Table(routes, servers []string, maxRoutes int) *Table {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &Table{m: m, nroutes: len(routes), named: len(routes), servers: append([]string(nil), servers...)}
	if t.named > 0 && routes[t.named-1] == engine.DefaultRoute {
		t.named--
	}
	if t.named > maxRoutes {
		t.collapsed = true
		t.routes = append([]string{OtherRoute}, routes[t.named:]...)
	} else {
		t.routes = append([]string(nil), routes...)
	}
	nr := len(t.routes) + 1
	t.duration = make([]prometheus.Observer, nr)
	t.received = make([]prometheus.Counter, nr)
	t.sent = make([]prometheus.Counter, nr)
	t.retries = make([]lazyCounter, nr)
	t.sticky = make([]lazyCounter, nr*numSticky)
	for r := range nr {
		name := t.routeName(r)
		t.duration[r] = m.duration.WithLabelValues(name)
		t.received[r] = m.received.WithLabelValues(name)
		t.sent[r] = m.sent.WithLabelValues(name)
	}
	t.connect = make([]prometheus.Observer, len(servers))
	t.waiting = make([]prometheus.Observer, len(servers))
	for s, name := range servers {
		t.connect[s] = m.connect.WithLabelValues(name)
		t.waiting[s] = m.waiting.WithLabelValues(name)
	}
	t.cells = make([]atomic.Pointer[cell], nr*(len(servers)+1)*int(observe.NumMethods))

	if old := m.current; old != nil {
		old.retired.Store(true)
		for _, name := range missing(old.routes, t.routes) {
			for _, v := range []*prometheus.CounterVec{m.requests, m.received, m.sent, m.retries, m.sticky} {
				v.DeletePartialMatch(prometheus.Labels{labelRoute: name})
			}
			m.duration.DeletePartialMatch(prometheus.Labels{labelRoute: name})
		}
		for _, name := range missing(old.servers, servers) {
			m.requests.DeletePartialMatch(prometheus.Labels{labelServer: name})
			m.connect.DeletePartialMatch(prometheus.Labels{labelServer: name})
			m.waiting.DeletePartialMatch(prometheus.Labels{labelServer: name})
		}
	}
	m.current = t
	return t
}

// missing returns the names of old that new does not have.
func missing(old, new []string) []string {
	have := make(map[string]bool, len(new))
	for _, n := range new {
		have[n] = true
	}
	var out []string
	for _, n := range old {
		if !have[n] {
			out = append(out, n)
		}
	}
	return out
}

// slot returns the slot of a route index: 0 for none, or for an index out
// of the table's range (a decision made on another configuration).
func (t *Table) slot(route int) int {
	switch {
	case route < 0 || route >= t.nroutes:
		return 0
	case !t.collapsed:
		return route + 1
	case route < t.named:
		return 1
	default:
		return 2 // the default route
	}
}

// routeName returns the label value of a route slot: "" for no route.
func (t *Table) routeName(slot int) string {
	if slot == 0 {
		return ""
	}
	return t.routes[slot-1]
}

func (t *Table) serverName(slot int) string {
	if slot == 0 {
		return ""
	}
	return t.servers[slot-1]
}

// Observe counts the request x describes. An index out of the table's
// range (a decision made on another configuration) counts as none.
func (t *Table) Observe(x *observe.Exchange) {
	if t == nil {
		return
	}
	r := t.slot(x.Route)
	s := x.Server + 1
	if s < 0 || s > len(t.servers) {
		s = 0
	}
	t.received[r].Add(float64(x.Received))
	t.sent[r].Add(float64(x.Sent))
	if x.Retries > 0 {
		if c := t.retries[r].get(t, func() prometheus.Counter { return t.m.retries.WithLabelValues(t.routeName(r)) }); c != nil {
			c.Add(float64(x.Retries))
		}
	}
	if k := int(x.Sticky); k > 0 && k < numSticky {
		if c := t.sticky[r*numSticky+k].get(t, func() prometheus.Counter {
			return t.m.sticky.WithLabelValues(t.routeName(r), engine.Sticky(k).String())
		}); c != nil {
			c.Inc()
		}
	}
	if s > 0 {
		if x.Connect >= 0 {
			t.connect[s-1].Observe(x.Connect.Seconds())
		}
		if x.Upstream >= 0 {
			t.waiting[s-1].Observe(x.Upstream.Seconds())
		}
	}
	if x.Status < 100 || x.Status > 599 {
		return // nothing was answered: the request is not counted
	}
	t.duration[r].Observe(x.Duration.Seconds())
	method := observe.MethodOf(x.Method)
	i := (r*(len(t.servers)+1)+s)*int(observe.NumMethods) + int(method)
	c := t.cells[i].Load()
	if c == nil {
		c = t.newCell(i)
	}
	if counter := c.counter(t, x.Status, func() prometheus.Counter {
		return t.m.requests.WithLabelValues(t.routeName(r), t.serverName(s), method.String(), strconv.Itoa(x.Status))
	}); counter != nil {
		counter.Inc()
	}
}

func (t *Table) newCell(i int) *cell {
	c := new(cell)
	if t.cells[i].CompareAndSwap(nil, c) {
		return c
	}
	return t.cells[i].Load()
}

// lazyCounter is a label child made on first use.
type lazyCounter struct {
	p  atomic.Pointer[prometheus.Counter]
	mu sync.Mutex
}

// get returns the child, making it with newChild the first time, or nil when
// t is retired and it was never made.
func (l *lazyCounter) get(t *Table, newChild func() prometheus.Counter) prometheus.Counter {
	if p := l.p.Load(); p != nil {
		return *p
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.p.Load(); p != nil {
		return *p
	}
	if t.retired.Load() {
		return nil
	}
	c := newChild()
	l.p.Store(&c)
	return c
}

// cellStatuses is how many status codes a cell holds in its array; more
// (rare: a route, server and method that saw that many codes) go to a map.
const cellStatuses = 8

// cell holds the request counters of one route, server and method, by
// status code. Readers scan codes[:n] without a lock: a code and its
// counter are written before n is raised to include them.
type cell struct {
	n        atomic.Int32
	codes    [cellStatuses]int32
	counters [cellStatuses]prometheus.Counter

	mu   sync.Mutex
	more map[int]prometheus.Counter
}

func (c *cell) counter(t *Table, status int, newChild func() prometheus.Counter) prometheus.Counter {
	n := int(c.n.Load())
	for i := range n {
		if int(c.codes[i]) == status {
			return c.counters[i]
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n = int(c.n.Load())
	for i := range n {
		if int(c.codes[i]) == status {
			return c.counters[i]
		}
	}
	if m, ok := c.more[status]; ok {
		return m
	}
	if t.retired.Load() {
		return nil
	}
	counter := newChild()
	if n < cellStatuses {
		c.codes[n], c.counters[n] = int32(status), counter
		c.n.Store(int32(n + 1))
		return counter
	}
	if c.more == nil {
		c.more = map[int]prometheus.Counter{}
	}
	c.more[status] = counter
	return counter
}
