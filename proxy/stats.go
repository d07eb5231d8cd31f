package proxy

import "sync/atomic"

// errKind classifies what went wrong with a request, for Stats.
type errKind uint8

const (
	errBadRequest    errKind = iota // a malformed request: 400 or 505
	errHeaderSize                   // 431
	errReadTimeout                  // a request head not read in time
	errClientAbort                  // the client left mid-request
	errNoRoute                      // 404
	errNoServer                     // 503: no server up, or the pool full
	errConnect                      // a server not reached (each attempt)
	errServerBroke                  // a server connection broke
	errBadResponse                  // a malformed response: 502
	errServerTimeout                // 504
	errTLSHandshake                 // a TLS handshake failed or timed out
	errHTTP2                        // an HTTP/2 protocol error or abuse: a stream or connection reset
	numErrKinds
)

var errKindNames = [numErrKinds]string{
	"bad_request", "header_too_large", "read_timeout", "client_abort", "no_route",
	"no_server", "connect", "server_broken", "bad_response", "server_timeout",
	"tls_handshake", "http2",
}

// counters are the proxy's own statistics.
type counters struct {
	requests atomic.Uint64
	rejected atomic.Uint64
	errors   [numErrKinds]atomic.Uint64
}

func (p *Proxy) count(k errKind) { p.stats.errors[k].Add(1) }

// Stats is a snapshot of the proxy's counters, for the admin endpoint.
type Stats struct {
	ClientConns   int                    `json:"client_conns"`   // client connections open
	AcceptedConns uint64                 `json:"accepted_conns"` // client connections served since start
	RejectedConns uint64                 `json:"rejected_conns"` // closed at once at Limits.MaxClientConns
	Requests      uint64                 `json:"requests"`       // request heads read
	Servers       map[string]ServerStats `json:"servers"`        // by server id
	// Errors counts failures by kind: bad_request, header_too_large,
	// read_timeout, client_abort, no_route, no_server, connect,
	// server_broken, bad_response, server_timeout, tls_handshake, http2.
	// Kinds that never happened are absent.
	Errors map[string]uint64 `json:"errors"`
}

// ServerStats are the counters of one server.
type ServerStats struct {
	Open            int    `json:"open"`             // connections open, idle ones included
	Idle            int    `json:"idle"`             // connections pooled for reuse
	Requests        uint64 `json:"requests"`         // responses received
	Failures        uint64 `json:"failures"`         // connections that failed or broke
	ConnectFailures uint64 `json:"connect_failures"` // dials that failed
	Timeouts        uint64 `json:"timeouts"`         // response heads not received in time (504)
}

// Stats returns the counters: those of the servers configured now.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	open := len(p.conns)
	p.mu.Unlock()
	snap := p.cur.Load()
	s := Stats{
		ClientConns:   open,
		AcceptedConns: p.nconns.Load(),
		RejectedConns: p.stats.rejected.Load(),
		Requests:      p.stats.requests.Load(),
		Servers:       make(map[string]ServerStats, len(snap.backends)),
		Errors:        map[string]uint64{},
	}
	for _, b := range snap.backends {
		o, i := b.counts()
		s.Servers[b.id] = ServerStats{Open: o, Idle: i, Requests: b.requests.Load(), Failures: b.failures.Load(),
			ConnectFailures: b.connectFailures.Load(), Timeouts: b.timeouts.Load()}
	}
	for k := range p.stats.errors {
		if n := p.stats.errors[k].Load(); n > 0 {
			s.Errors[errKindNames[k]] = n
		}
	}
	return s
}
