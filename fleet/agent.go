package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"l7lb/config"
	"l7lb/engine"
)

// Instance is what the agent drives: an instance of l7lb serve.
type Instance interface {
	// ApplyShared applies a shared configuration through the live-reload
	// path; an error leaves the last good configuration running.
	ApplyShared(config.Document) error
	Engine() *engine.Engine
	Hash() string                          // of the running configuration
	OwnDown() map[string]bool              // the servers its own checks hold down
	SetFleetDown(server string, down bool) // the fleet's majority verdict
}

// Options configure an Agent.
type Options struct {
	Fleet   *config.Fleet
	Address string // where this instance serves, for status
	Version string
	Logf    func(format string, args ...any)
	// Client, when set, is the etcd client the agent uses instead of
	// connecting its own to Fleet.Etcd (Fleet's TLS and credentials are
	// then the client's business); the agent does not close it. Agents of
	// one process share one this way: one connection, one keep-alive,
	// their watches and leases multiplexed on it (tools/fleetsim).
	Client *clientv3.Client
}

// Agent keeps one instance in its fleet.
type Agent struct {
	o      Options
	client *clientv3.Client
	in     Instance

	mu        sync.Mutex
	applied   int64 // revision of the shared configuration running; never goes back
	attempted int64 // the latest revision tried, applied or not
	cluster   uint64
	applyErr  error
	states    map[string]ServerState      // the fleet-wide states applied
	fleetDown map[string]bool             // the majority verdicts given
	kvs       map[string]*mvccpb.KeyValue // the prefix as read, by key under it
	members   map[string]Presence         // the members' records of kvs, parsed
	secret    []byte
	published [2]string // the applied and presence records last written
	rev       int64     // the store's revision read so far
	started   time.Time

	stop context.CancelFunc
	done chan struct{}
}

// Start is what an instance starts with.
type Start struct {
	Shared    config.Document
	Secret    []byte // the fleet's sticky secret
	FromCache bool
}

// New connects to the fleet's etcd (lazily) and reads what the instance
// starts with: the whole prefix at one revision, or, when etcd cannot be
// reached within a few seconds, the cache file.
func New(o Options) (*Agent, *Start, error) {
	c := o.Client
	if c == nil {
		var err error
		if c, err = Connect(o.Fleet); err != nil {
			return nil, nil, err
		}
	}
	a := &Agent{o: o, client: c, states: map[string]ServerState{}, fleetDown: map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*dialTimeout)
	defer cancel()
	st, err := a.readAll(ctx)
	if err == nil {
		return a, st, nil
	}
	if errors.Is(err, errNoConfig) {
		a.closeClient()
		return nil, nil, err
	}
	if cached, cerr := a.readCache(); cerr == nil {
		o.Logf("fleet: etcd unreachable (%v): serving the cached shared configuration, revision %d, from %s", err, a.applied, o.Fleet.Cache)
		return a, cached, nil
	} else if o.Fleet.Cache != "" {
		o.Logf("fleet: cache %s: %v", o.Fleet.Cache, cerr)
	}
	a.closeClient()
	return nil, nil, fmt.Errorf("fleet: etcd %s: %v, and no cache to start from", strings.Join(o.Fleet.Etcd, ","), err)
}

var errNoConfig = errors.New("no shared configuration")

// Fallback is for an instance that could not start with the shared
// configuration read from etcd (err): it returns the cache's, the last
// good one, when it is of an earlier revision of the same cluster, and
// reports err as the failure to apply etcd's revision. The sticky secret
// stays etcd's.
func (a *Agent) Fallback(err error) (*Start, error) {
	c, cerr := a.loadCache()
	if cerr != nil {
		return nil, cerr
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.Cluster != a.cluster || c.Revision >= a.attempted {
		return nil, errors.New("the cache is not of an earlier revision of this etcd cluster")
	}
	a.applied, a.applyErr = c.Revision, err
	a.o.Logf("fleet: shared configuration revision %d not applied, serving the cached revision %d from %s: %v", a.attempted, c.Revision, a.o.Fleet.Cache, err)
	st := a.cacheStart(c)
	st.Secret = a.secret
	return st, nil
}

// readAll reads the prefix at one revision for the start.
func (a *Agent) readAll(ctx context.Context) (*Start, error) {
	secret, err := ensureSecret(ctx, a.client, a.o.Fleet.Prefix)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Get(ctx, a.o.Fleet.Prefix+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	a.snapshot(resp)
	kv := a.kvs[keyConfig]
	if kv == nil {
		return nil, fmt.Errorf("%w under %s: push one with `l7lb fleet push`", errNoConfig, a.o.Fleet.Prefix)
	}
	a.applied, a.attempted, a.secret = kv.ModRevision, kv.ModRevision, secret
	return &Start{Shared: a.document(kv), Secret: secret}, nil
}

func (a *Agent) snapshot(resp *clientv3.GetResponse) {
	a.kvs = make(map[string]*mvccpb.KeyValue, len(resp.Kvs))
	a.members = map[string]Presence{}
	for _, kv := range resp.Kvs {
		key := strings.TrimPrefix(string(kv.Key), a.o.Fleet.Prefix)
		a.kvs[key] = kv
		a.member(key, false)
	}
	a.cluster, a.rev = resp.Header.ClusterId, resp.Header.Revision
}

// document names a shared configuration for its errors.
func (a *Agent) document(kv *mvccpb.KeyValue) config.Document {
	return config.Document{Name: fmt.Sprintf("etcd:%s%s@%d", a.o.Fleet.Prefix, keyConfig, kv.ModRevision), Data: kv.Value}
}

// cache is the cache file's content.
type cache struct {
	Prefix   string `json:"prefix"`
	Cluster  uint64 `json:"cluster"`
	Revision int64  `json:"revision"`
	Config   string `json:"config"`
	Secret   string `json:"secret"`
}

func (a *Agent) readCache() (*Start, error) {
	c, err := a.loadCache()
	if err != nil {
		return nil, err
	}
	a.applied, a.attempted, a.cluster, a.secret = c.Revision, c.Revision, c.Cluster, []byte(c.Secret)
	return a.cacheStart(c), nil
}

func (a *Agent) loadCache() (*cache, error) {
	if a.o.Fleet.Cache == "" {
		return nil, errors.New("no fleet.cache")
	}
	b, err := os.ReadFile(a.o.Fleet.Cache)
	if err != nil {
		return nil, err
	}
	var c cache
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c.Prefix != a.o.Fleet.Prefix {
		return nil, fmt.Errorf("it holds prefix %s, not %s", c.Prefix, a.o.Fleet.Prefix)
	}
	return &c, nil
}

func (a *Agent) cacheStart(c *cache) *Start {
	doc := config.Document{Name: fmt.Sprintf("%s (cache of etcd:%s%s@%d)", a.o.Fleet.Cache, c.Prefix, keyConfig, c.Revision), Data: []byte(c.Config)}
	return &Start{Shared: doc, Secret: []byte(c.Secret), FromCache: true}
}

// writeCache writes the cache file atomically, readable by its owner only
// (it holds secrets).
func (a *Agent) writeCache(kv *mvccpb.KeyValue) {
	if a.o.Fleet.Cache == "" {
		return
	}
	b, _ := json.Marshal(cache{Prefix: a.o.Fleet.Prefix, Cluster: a.cluster, Revision: kv.ModRevision, Config: string(kv.Value), Secret: string(a.secret)})
	tmp := a.o.Fleet.Cache + ".tmp"
	err := os.MkdirAll(filepath.Dir(tmp), 0o755)
	if err == nil {
		err = os.WriteFile(tmp, b, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, a.o.Fleet.Cache)
	}
	if err != nil {
		a.o.Logf("fleet: writing the cache: %v", err)
	}
}

// Run keeps in in the fleet until Close: membership under a lease, the
// watch of the prefix, the health observations. It returns at once.
func (a *Agent) Run(in Instance, address string) {
	a.in, a.o.Address = in, address
	// The instance runs what it started with: when that is etcd's
	// configuration, it is the cache from now on (else an instance that
	// sees no push before etcd goes down could not start again).
	if kv := a.kvs[keyConfig]; kv != nil && kv.ModRevision == a.applied && a.applyErr == nil {
		a.writeCache(kv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stop, a.done = cancel, make(chan struct{})
	go func() {
		defer close(a.done)
		first := true
		for ctx.Err() == nil {
			err := a.session(ctx, first)
			first = false
			if ctx.Err() != nil {
				return
			}
			a.o.Logf("fleet: %v; serving on with revision %d, trying again", err, a.Applied())
			a.clearVerdicts()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
}

// Applied returns the revision of the shared configuration running.
func (a *Agent) Applied() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

// Close leaves the fleet (the member record goes at once) and stops.
func (a *Agent) Close() {
	if a.stop != nil {
		a.stop()
		<-a.done
	}
	a.closeClient()
}

// closeClient closes the etcd client when the agent connected it.
func (a *Agent) closeClient() {
	if a.o.Client == nil {
		a.client.Close()
	}
}

// session is one connected stretch: a lease, the record, a read of the
// whole prefix, then the watch, until something fails.
func (a *Agent) session(ctx context.Context, first bool) error {
	s, err := concurrency.NewSession(a.client, concurrency.WithTTL(int(Lease/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("lease: %v", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		a.client.Revoke(rctx, s.Lease()) // leave at once, rather than in a lease
		cancel()
		s.Orphan()
	}()
	a.published = [2]string{}
	if !first || a.kvs == nil {
		gctx, cancel := context.WithTimeout(ctx, 2*dialTimeout)
		resp, err := a.client.Get(gctx, a.o.Fleet.Prefix+"/", clientv3.WithPrefix())
		cancel()
		if err != nil {
			return fmt.Errorf("reading %s: %v", a.o.Fleet.Prefix, err)
		}
		if resp.Header.ClusterId != a.cluster && a.cluster != 0 {
			a.o.Logf("fleet: etcd cluster %x replaced %x: its revisions start anew", resp.Header.ClusterId, a.cluster)
			a.mu.Lock()
			a.applied, a.attempted = 0, 0
			a.mu.Unlock()
		}
		a.snapshot(resp)
	}
	rev := a.rev
	a.reconcile(ctx, s.Lease())
	wctx, stopWatch := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer stopWatch()
	watch := a.client.Watch(wctx, watchFrom(a.o.Fleet.Prefix), clientv3.WithRange(clientv3.GetPrefixRangeEnd(a.o.Fleet.Prefix+"/")), clientv3.WithRev(rev+1))
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.Done():
			return errors.New("lease lost")
		case <-tick.C:
			a.reconcile(ctx, s.Lease()) // own health changes, drains ending
		case w, ok := <-watch:
			if !ok {
				return errors.New("watch ended")
			}
			if w.CompactRevision != 0 {
				return fmt.Errorf("watch compacted at %d: reading everything again", w.CompactRevision)
			}
			if err := w.Err(); err != nil {
				return fmt.Errorf("watch: %v", err)
			}
			// The configuration and the states are acted on at once;
			// the members' records, which every record written
			// changes for every agent (N² events in a fleet of N),
			// at the next tick.
			var configChanged, statesChanged bool
			for _, ev := range w.Events {
				key := strings.TrimPrefix(string(ev.Kv.Key), a.o.Fleet.Prefix)
				if ev.Type == clientv3.EventTypeDelete {
					delete(a.kvs, key)
				} else {
					a.kvs[key] = ev.Kv
				}
				a.member(key, ev.Type == clientv3.EventTypeDelete)
				configChanged = configChanged || key == keyConfig
				statesChanged = statesChanged || strings.HasPrefix(key, keyServers)
			}
			a.rev = max(a.rev, w.Header.Revision)
			if configChanged {
				a.applyConfig()
				a.publish(ctx, s.Lease())
			}
			if statesChanged || configChanged {
				a.applyStates()
			}
		}
	}
}

// reconcile brings the instance in line with what was read: a newer
// shared configuration, the fleet-wide server states, the majority
// verdicts; then publishes the member record when it changed.
func (a *Agent) reconcile(ctx context.Context, lease clientv3.LeaseID) {
	a.applyConfig()
	a.applyStates()
	a.applyMajority()
	a.publish(ctx, lease)
}

// member keeps the parsed record of the member at key, when key is one.
func (a *Agent) member(key string, deleted bool) {
	name, ok := strings.CutPrefix(key, keyMembers)
	if !ok {
		return
	}
	var m Presence
	if deleted || json.Unmarshal(a.kvs[key].Value, &m) != nil {
		delete(a.members, name)
		return
	}
	a.members[name] = m
}

// applyConfig applies the shared configuration when it is newer than the
// one last tried.
func (a *Agent) applyConfig() {
	if kv := a.kvs[keyConfig]; kv != nil {
		a.mu.Lock()
		newer := kv.ModRevision > a.attempted
		if kv.ModRevision < a.applied {
			a.o.Logf("fleet: etcd holds revision %d, older than the running %d: kept (a revision never goes back)", kv.ModRevision, a.applied)
		}
		a.mu.Unlock()
		if newer {
			err := a.in.ApplyShared(a.document(kv))
			a.mu.Lock()
			a.attempted = kv.ModRevision
			a.applyErr = err
			if err == nil {
				a.applied = kv.ModRevision
			}
			a.mu.Unlock()
			if err == nil {
				a.o.Logf("fleet: applied the shared configuration, revision %d", kv.ModRevision)
				a.writeCache(kv)
			} else {
				a.o.Logf("fleet: shared configuration revision %d not applied, revision %d stays: %v", kv.ModRevision, a.Applied(), err)
			}
		}
	}
}

// applyStates applies the fleet-wide server states through the engine's
// own drain, disable and enable, the admin API's mechanism.
func (a *Agent) applyStates() {
	eng := a.in.Engine()
	want := map[string]ServerState{}
	for key, kv := range a.kvs {
		if id, ok := strings.CutPrefix(key, keyServers); ok {
			var st ServerState
			if json.Unmarshal(kv.Value, &st) == nil {
				want[id] = st
			}
		}
	}
	for id, st := range want {
		var err error
		switch st.State {
		case StateDraining:
			if left := time.Until(st.Until); left > 0 {
				err = eng.Drain(id, left)
			} else {
				err = eng.Disable(id)
			}
		case StateDisabled:
			err = eng.Disable(id)
		}
		if err == nil && a.states[id] != st {
			a.o.Logf("fleet: server %s is %s fleet-wide", id, st.State)
		}
	}
	for id := range a.states {
		if _, ok := want[id]; !ok {
			if eng.Enable(id) == nil {
				a.o.Logf("fleet: server %s is enabled fleet-wide", id)
			}
		}
	}
	a.states = want
}

// applyMajority holds down the servers a majority of the live members
// see down (docs/fleet.md); this instance counts with its own view now.
func (a *Agent) applyMajority() {
	own := a.in.OwnDown()
	live := 1
	downs := map[string]int{}
	for s, d := range own {
		if d {
			downs[s]++
		}
	}
	for name, m := range a.members {
		if name == a.o.Fleet.Name {
			continue
		}
		live++
		for s, up := range m.Servers {
			if !up {
				downs[s]++
			}
		}
	}
	verdict := map[string]bool{}
	for _, s := range a.in.Engine().Servers() {
		verdict[s] = downs[s]*2 > live
	}
	for s, down := range verdict {
		if a.fleetDown[s] != down {
			a.in.SetFleetDown(s, down)
			if down {
				a.o.Logf("fleet: server %s is down for a majority of the %d live instances", s, live)
			}
		}
	}
	a.fleetDown = verdict
}

// clearVerdicts drops the majority verdicts when etcd cannot be read:
// the members' views are out of date; the instance's own checks go on.
func (a *Agent) clearVerdicts() {
	for s, down := range a.fleetDown {
		if down {
			a.in.SetFleetDown(s, false)
		}
	}
	a.fleetDown = map[string]bool{}
}

// publish writes the member's records that changed.
func (a *Agent) publish(ctx context.Context, lease clientv3.LeaseID) {
	if a.started.IsZero() {
		a.started = time.Now().UTC()
	}
	own := a.in.OwnDown()
	p := Presence{Name: a.o.Fleet.Name, Address: a.o.Address, Version: a.o.Version, Started: a.started, Servers: map[string]bool{}}
	for _, s := range a.in.Engine().Servers() {
		p.Servers[s] = !own[s]
	}
	ap := Applied{Hash: a.in.Hash()}
	a.mu.Lock()
	ap.Revision = a.applied
	if a.applyErr != nil {
		ap.Error, ap.ErrorRevision = a.applyErr.Error(), a.attempted
	}
	a.mu.Unlock()
	for i, rec := range []struct {
		key string
		v   any
	}{{keyApplied, ap}, {keyMembers, p}} { // applied/ first: a new member shows with it
		b, _ := json.Marshal(rec.v)
		if string(b) == a.published[i] {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, dialTimeout)
		_, err := a.client.Put(pctx, a.o.Fleet.Prefix+rec.key+a.o.Fleet.Name, string(b), clientv3.WithLease(lease))
		cancel()
		if err == nil {
			a.published[i] = string(b)
		}
	}
}
