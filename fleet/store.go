// Package fleet keeps the instances of an l7lb fleet on one configuration
// and one view of the servers, through etcd (docs/fleet.md): the shared
// configuration under <prefix>/config, applied by every instance through
// its live-reload path; fleet-wide server states under <prefix>/servers/;
// each instance's record (address, applied revision, version, apply
// error, its own view of the servers) under <prefix>/members/, held by a
// lease; and the fleet's sticky secret under <prefix>/sticky-secret.
package fleet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"l7lb/config"
)

// The keys under a fleet's prefix. An instance's record is two keys under
// its lease: members/<name>, what the other instances act on (its view of
// the servers), written when that changes; and applied/<name>, what it
// runs, written on every push. Instances watch every key but applied/, so
// that a push costs etcd one record event per instance rather than one
// per instance for every instance (N² in a fleet of N); only status reads
// applied/. applied/ sorts first under the prefix: the watch starts after
// it (watchFrom).
const (
	keyApplied = "/applied/"
	keyConfig  = "/config"
	keySecret  = "/sticky-secret"
	keyServers = "/servers/"
	keyMembers = "/members/"
)

// watchFrom is the first key an instance watches: the first after
// applied/.
func watchFrom(prefix string) string { return clientv3.GetPrefixRangeEnd(prefix + keyApplied) }

// Lease is how long a silent instance stays a member.
const Lease = 10 * time.Second

// dialTimeout bounds each attempt to reach etcd.
const dialTimeout = 3 * time.Second

// Connect returns a client of the etcd cluster fl names. It does not wait
// for a connection: each request does, within its context.
func Connect(fl *config.Fleet) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: fl.Etcd, DialTimeout: dialTimeout, Username: fl.Username, Password: fl.Password,
		Logger: zap.NewNop(), DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: 3 * time.Second}
	if t := fl.TLS; t != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.CA != "" {
			pem, err := os.ReadFile(t.CA)
			if err != nil {
				return nil, fmt.Errorf("fleet.tls.ca: %v", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("fleet.tls.ca: %s holds no PEM certificate", t.CA)
			}
		}
		if t.Cert != "" {
			pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
			if err != nil {
				return nil, fmt.Errorf("fleet.tls: %v", err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		cfg.TLS = tc
	}
	return clientv3.New(cfg)
}

// ErrConflict is a push whose --if-revision is not the configuration's
// revision any more.
var ErrConflict = errors.New("the shared configuration changed")

// Push writes data, a shared configuration validated already, in one
// transaction; with ifRevision >= 0, only when the configuration's
// revision is still ifRevision (0: none was pushed yet). It returns the
// new revision, or ErrConflict with the current one.
func Push(ctx context.Context, c *clientv3.Client, prefix string, data []byte, ifRevision int64) (int64, error) {
	key := prefix + keyConfig
	var cmp []clientv3.Cmp
	if ifRevision >= 0 {
		cmp = append(cmp, clientv3.Compare(clientv3.ModRevision(key), "=", ifRevision))
	}
	resp, err := c.Txn(ctx).If(cmp...).Then(clientv3.OpPut(key, string(data))).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		cur := int64(0)
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			cur = kvs[0].ModRevision
		}
		return cur, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Get returns the shared configuration and its revision; nil, 0 when none
// was pushed.
func Get(ctx context.Context, c *clientv3.Client, prefix string) ([]byte, int64, error) {
	resp, err := c.Get(ctx, prefix+keyConfig)
	if err != nil || len(resp.Kvs) == 0 {
		return nil, 0, err
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// Fleet-wide server states, as the admin API names them.
const (
	StateDraining = "draining"
	StateDisabled = "disabled"
	StateEnabled  = "enabled"
)

// ServerState is a fleet-wide operator state of a server.
type ServerState struct {
	State string    `json:"state"` // draining or disabled
	Until time.Time `json:"until,omitzero"`
}

// SetState sets the fleet-wide state of server: drained (its sessions
// stay until drainTimeout from now, the same instant on every instance),
// disabled, or enabled (the state removed). server must be a server of
// the shared configuration.
func SetState(ctx context.Context, c *clientv3.Client, prefix, server, state string, drainTimeout time.Duration) error {
	data, _, err := Get(ctx, c, prefix)
	if err != nil {
		return err
	}
	if !hasServer(data, server) {
		return fmt.Errorf("unknown server %s: not in the shared configuration", server)
	}
	key := prefix + keyServers + server
	if state == StateEnabled {
		_, err = c.Delete(ctx, key)
		return err
	}
	st := ServerState{State: state}
	if state == StateDraining {
		st.Until = time.Now().Add(drainTimeout).UTC()
	}
	b, _ := json.Marshal(st)
	_, err = c.Put(ctx, key, string(b))
	return err
}

// hasServer reports whether the shared document data names server.
func hasServer(data []byte, server string) bool {
	v, err := config.Parse(data)
	if err != nil || v.Kind != config.Map {
		return false
	}
	s := v.Get("servers")
	return s != nil && s.Get(server) != nil
}

// Member is an instance's record in the fleet: its two keys.
type Member struct {
	Presence
	Applied

	// Heartbeat is how long ago the lease was last renewed (status only).
	Heartbeat time.Duration `json:"-"`
}

// Presence is an instance's members/<name> key: what the other instances
// read.
type Presence struct {
	Name    string          `json:"name"`
	Address string          `json:"address"`
	Version string          `json:"version"`
	Servers map[string]bool `json:"servers"` // its own checks' view: server → up
	Started time.Time       `json:"started"`
}

// Applied is an instance's applied/<name> key: what it runs.
type Applied struct {
	Revision int64  `json:"revision"` // of the shared configuration it runs; 0: none from etcd yet
	Hash     string `json:"hash"`     // of its whole configuration
	// Error is why it could not apply the shared configuration of
	// ErrorRevision; "" when it runs the latest.
	Error         string `json:"error,omitempty"`
	ErrorRevision int64  `json:"error_revision,omitempty"`
}

// Status is the fleet as `l7lb fleet status` shows it.
type Status struct {
	Revision int64    // of the shared configuration in etcd
	Members  []Member // by name
	States   map[string]ServerState
}

// ReadStatus reads every live member, the configuration's revision and
// the fleet-wide server states.
func ReadStatus(ctx context.Context, c *clientv3.Client, prefix string) (*Status, error) {
	resp, err := c.Get(ctx, prefix+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	st := &Status{States: map[string]ServerState{}}
	applied := map[string]Applied{}
	for _, kv := range resp.Kvs {
		if name, ok := strings.CutPrefix(strings.TrimPrefix(string(kv.Key), prefix), keyApplied); ok {
			var ap Applied
			if json.Unmarshal(kv.Value, &ap) == nil {
				applied[name] = ap
			}
		}
	}
	for _, kv := range resp.Kvs {
		key := strings.TrimPrefix(string(kv.Key), prefix)
		switch {
		case key == keyConfig:
			st.Revision = kv.ModRevision
		case strings.HasPrefix(key, keyServers):
			var s ServerState
			if json.Unmarshal(kv.Value, &s) == nil {
				st.States[strings.TrimPrefix(key, keyServers)] = s
			}
		case strings.HasPrefix(key, keyMembers):
			var m Member
			if json.Unmarshal(kv.Value, &m.Presence) != nil {
				continue
			}
			if ap, ok := applied[strings.TrimPrefix(key, keyMembers)]; ok {
				m.Applied = ap
			} else {
				// An instance of a version before applied/ keeps
				// these fields, same names, in its one record.
				json.Unmarshal(kv.Value, &m.Applied)
			}
			if ttl, err := c.TimeToLive(ctx, clientv3.LeaseID(kv.Lease)); err == nil && ttl.TTL > 0 {
				m.Heartbeat = time.Duration(ttl.GrantedTTL-ttl.TTL) * time.Second
			}
			st.Members = append(st.Members, m)
		}
	}
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].Name < st.Members[j].Name })
	return st, nil
}

// ensureSecret returns the fleet's sticky secret, creating it when the
// fleet has none (the first instance to start does).
func ensureSecret(ctx context.Context, c *clientv3.Client, prefix string) ([]byte, error) {
	key := prefix + keySecret
	b := make([]byte, 32)
	rand.Read(b)
	fresh := base64.RawStdEncoding.EncodeToString(b)
	resp, err := c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, fresh)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return nil, err
	}
	if resp.Succeeded {
		return []byte(fresh), nil
	}
	return resp.Responses[0].GetResponseRange().Kvs[0].Value, nil
}
