package engine

import (
	"fmt"
	"time"
)

// Whether a server takes requests is one mechanism for both faces: the
// node's server_down and server_up, the admin API's drain, disable and
// enable, and the proxy's health checks all set bits of the server's live
// state, which every decision reads (health.Up, health.Keeps). The state
// is kept by server id across configuration changes; a server that leaves
// the configuration loses it, and comes back enabled.

// The bits of server.out: a server takes new requests when none is set.
const (
	outUnhealthy uint32 = 1 << iota // marked down by the health checks
	outDraining                     // drained by the operator: its sessions stay until drainUntil
	outDisabled                     // disabled by the operator (the node's server_down)
)

// The states of a server, as Stats and the admin API name them.
const (
	StateUp       = "up"
	StateDraining = "draining"
	StateDisabled = "disabled"
	StateDown     = "down"
)

// state names what s does now: the operator's state first, then the
// health checks'.
func (s *server) state(now int64) string {
	out := s.out.Load()
	switch {
	case out&outDisabled != 0:
		return StateDisabled
	case out&outDraining != 0 && now >= s.drainUntil.Load():
		return StateDisabled
	case out&outDraining != 0:
		return StateDraining
	case out&outUnhealthy != 0:
		return StateDown
	}
	return StateUp
}

// update sets the bits of mask to those of bits, and starts the slow
// start of a server that takes new requests again.
func (s *server) update(mask, bits uint32, now int64) {
	for {
		old := s.out.Load()
		next := old&^mask | bits
		if s.out.CompareAndSwap(old, next) {
			if old != 0 && next == 0 {
				s.cameBack(now)
			}
			return
		}
	}
}

// known returns the live state of a known server.
func (e *Engine) known(server string) (*server, error) {
	st := e.st.Load()
	i, ok := st.index[server]
	if !ok || i >= len(st.servers) {
		return nil, fmt.Errorf("unknown server %s", server)
	}
	return st.health.live[i], nil
}

// SetDown disables a known server (the node's server_down) or enables it
// again (server_up): the same as Disable and Enable.
func (e *Engine) SetDown(server string, down bool) error {
	if down {
		return e.Disable(server)
	}
	return e.Enable(server)
}

// Enable lets a known server take requests again (when healthy), ending a
// drain or a disable; it then ramps up by its slow start.
func (e *Engine) Enable(server string) error {
	return e.setOut(server, outDraining|outDisabled, 0)
}

// Disable takes a known server out of service now: no new requests, and
// its sessions move to other servers. Requests in flight finish.
func (e *Engine) Disable(server string) error {
	return e.setOut(server, outDraining|outDisabled, outDisabled)
}

// Drain stops new requests and new sessions to a known server; the
// sessions pinned to it stay for timeout, after which it is as disabled.
// Draining a server that drains already keeps its deadline.
func (e *Engine) Drain(server string, timeout time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.known(server)
	if err != nil {
		return err
	}
	if s.out.Load()&outDraining != 0 {
		return nil
	}
	s.drainUntil.Store(e.now() + int64(timeout))
	s.update(outDraining|outDisabled, outDraining, e.now())
	return nil
}

// SetHealthy records the health checks' verdict on a known server.
func (e *Engine) SetHealthy(server string, healthy bool) error {
	bits := uint32(0)
	if !healthy {
		bits = outUnhealthy
	}
	return e.setOut(server, outUnhealthy, bits)
}

func (e *Engine) setOut(server string, mask, bits uint32) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.known(server)
	if err != nil {
		return err
	}
	s.update(mask, bits, e.now())
	return nil
}

// State returns the state of a known server (StateUp, ...).
func (e *Engine) State(server string) (string, error) {
	s, err := e.known(server)
	if err != nil {
		return "", err
	}
	return s.state(e.now()), nil
}

// Operator returns the operator's state of a known server, StateUp
// (enabled), StateDraining or StateDisabled, and what is left of a drain;
// the health checks' verdict is not in it.
func (e *Engine) Operator(server string) (state string, drainLeft time.Duration) {
	s, err := e.known(server)
	if err != nil {
		return StateUp, 0
	}
	out, now := s.out.Load(), e.now()
	switch {
	case out&outDisabled != 0:
		return StateDisabled, 0
	case out&outDraining != 0 && now < s.drainUntil.Load():
		return StateDraining, time.Duration(s.drainUntil.Load() - now)
	case out&outDraining != 0:
		return StateDisabled, 0
	}
	return StateUp, 0
}
