package config

import "time"

// Canonical returns c in the form DecodeConfig accepts, every default
// written out, as plain maps and lists: decoding it again gives c back.
// defaults are the servers that a nil DefaultServers stands for.
func (c *Config) Canonical(defaults []string) map[string]any {
	routes := make([]any, len(c.Routes))
	for i := range c.Routes {
		routes[i] = c.Routes[i].Canonical()
	}
	def := c.DefaultServers
	if def == nil {
		def = defaults
	}
	sticky := map[string]any{
		"cookie":        c.Sticky.Cookie,
		"server_cookie": c.Sticky.ServerCookie,
		"mode":          c.Sticky.Mode,
		"max_sessions":  c.Sticky.MaxSessions,
	}
	// The proxy's settings, written only when set: the node has none.
	if len(c.Sticky.Secrets) > 0 {
		sticky["secrets"] = c.Sticky.Secrets
	}
	switch c.Sticky.Secure {
	case SecureAlways:
		sticky["secure"] = true
	case SecureNever:
		sticky["secure"] = false
	}
	if c.Sticky.MaxAge > 0 {
		sticky["max_age"] = c.Sticky.MaxAge.String()
	}
	return map[string]any{
		"routes":          routes,
		"default_servers": nonNil(def),
		"sticky":          sticky,
	}
}

// Canonical returns r in the form DecodeRoute accepts, defaults included.
func (r *Route) Canonical() map[string]any {
	m := map[string]any{
		"name":    r.Name,
		"path":    r.Path,
		"servers": nonNil(r.Servers),
		"balance": r.Balance,
	}
	switch len(r.Hosts) {
	case 0:
	case 1:
		m["host"] = r.Hosts[0]
	default:
		m["hosts"] = r.Hosts
	}
	if r.Methods != nil {
		m["methods"] = r.Methods
	}
	if r.Headers != nil {
		h := make(map[string]string, len(r.Headers))
		for _, x := range r.Headers {
			h[x.Name] = x.Value
		}
		m["headers"] = h
	}
	if r.Weights != nil {
		w := make(map[string]any, len(r.Weights))
		for k, v := range r.Weights {
			w[k] = v
		}
		m["weights"] = w
	}
	if r.HashOn != "" {
		m["hash_on"] = r.HashOn
	}
	if rw := r.Rewrite; rw != nil {
		switch {
		case rw.StripPrefix != nil:
			m["rewrite"] = map[string]any{"strip_prefix": *rw.StripPrefix}
		case rw.ReplacePath != nil:
			m["rewrite"] = map[string]any{"replace_path": *rw.ReplacePath}
		case rw.ReplacePrefix != nil:
			m["rewrite"] = map[string]any{"replace_prefix": map[string]any{"from": rw.ReplacePrefix.From, "to": rw.ReplacePrefix.To}}
		case rw.Regex != nil:
			m["rewrite"] = map[string]any{"regex": map[string]any{"pattern": rw.Regex.Pattern, "replacement": rw.Regex.Replacement}}
		}
	}
	if r.Sticky != nil {
		m["sticky"] = *r.Sticky
	}
	if lr := r.LeastRequest; lr != nil {
		m["least_request"] = map[string]any{"choices": lr.Choices, "active_request_bias": lr.ActiveRequestBias}
	}
	if pe := r.PeakEWMA; pe != nil {
		m["peak_ewma"] = map[string]any{"decay": pe.Decay.String(), "default_rtt": pe.DefaultRTT.String()}
	}
	if r.HashBalanceFactor > 0 {
		m["hash_balance_factor"] = float64(r.HashBalanceFactor) / 100
	}
	if r.SlowStartSet {
		m["slow_start"] = r.SlowStart.String()
	}
	if r.HostRewrite != "" {
		m["host_rewrite"] = r.HostRewrite
	}
	if t := r.Timeouts; t != nil {
		tm := map[string]any{}
		setDuration(tm, "connect", t.Connect)
		setDuration(tm, "response_header", t.ResponseHeader)
		m["timeouts"] = tm
	}
	if hc := r.HealthCheck; hc != nil {
		hm := map[string]any{"path": hc.Path}
		setDuration(hm, "interval", hc.Interval)
		setDuration(hm, "timeout", hc.Timeout)
		m["health_check"] = hm
	}
	return m
}

// nonNil keeps an empty list a list ([] rather than null) when encoded.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// setDuration writes d under key when it is set.
func setDuration(m map[string]any, key string, d time.Duration) {
	if d > 0 {
		m[key] = d.String()
	}
}
