package admin

import "l7lb/engine"

// serverState is the live state of one server as /stats shows it.
type serverState struct {
	State     string            `json:"state"` // up, draining, disabled, down
	InFlight  int64             `json:"in_flight"`
	EWMAms    float64           `json:"ewma_ms"` // 0 before a sample
	Ejected   bool              `json:"ejected"`
	Ejections map[string]uint64 `json:"ejections"` // by rule: consecutive_5xx, success_rate
	SlowStart float64           `json:"slow_start"`
}

func serverStates(s engine.Stats) map[string]serverState {
	out := make(map[string]serverState, len(s.Servers))
	for name, st := range s.Servers {
		out[name] = serverState{State: st.State, InFlight: st.InFlight, EWMAms: st.EWMA, Ejected: st.Ejected, Ejections: st.Ejections, SlowStart: st.SlowStart}
	}
	return out
}
