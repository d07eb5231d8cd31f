package config

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Revision names one accepted configuration of a running proxy: N counts
// the configurations it accepted, from 1; Hash is the first 16 hex digits
// of the SHA-256 of the canonical configuration (see File.Hash), the same
// for the same content on every instance.
type Revision struct {
	N    uint64
	Hash string
}

func (r Revision) String() string { return strconv.FormatUint(r.N, 10) + " " + r.Hash }

// Canonical returns f in the form a configuration file takes, every
// default written out, as plain maps and lists: decoding it again gives f
// back. File names are absolute. Secrets (sticky.secrets, admin_token)
// are written as they are; see Redact.
func (f *File) Canonical() map[string]any {
	m := f.Config.Canonical(nil)
	if f.DefaultServers == nil {
		delete(m, "default_servers") // all servers, as the file said by omitting it
	}
	servers := make(map[string]any, len(f.Servers))
	for _, s := range f.Servers {
		switch {
		case s.TLS != nil:
			servers[s.ID] = map[string]any{"url": s.URL, "weight": s.Weight, "tls": s.TLS.canonical()}
		case s.Weight > 1:
			servers[s.ID] = map[string]any{"url": s.URL, "weight": s.Weight}
		default:
			servers[s.ID] = s.URL
		}
	}
	m["servers"] = servers
	if st, ok := m["sticky"].(map[string]any); ok && f.Sticky.Secure == SecureAuto {
		st["secure"] = "auto" // written out as every default here; the node has no such key
	}
	if len(f.Listeners) == 1 && f.Listeners[0].plain() {
		m["listen"] = f.Listeners[0].Address
	} else if len(f.Listeners) > 0 {
		list := make([]any, len(f.Listeners))
		for i := range f.Listeners {
			list[i] = f.Listeners[i].canonical()
		}
		m["listeners"] = list
	}
	if f.Admin != "" {
		m["admin"] = f.Admin
	}
	if f.AdminToken != "" {
		m["admin_token"] = f.AdminToken
	}
	t := f.Timeouts
	m["timeouts"] = map[string]any{"connect": t.Connect.String(), "response_header": t.ResponseHeader.String(),
		"read_header": t.ReadHeader.String(), "idle": t.Idle.String(), "backend_idle": t.BackendIdle.String()}
	l := f.Limits
	m["limits"] = map[string]any{"max_header_bytes": l.MaxHeaderBytes, "max_headers": l.MaxHeaders,
		"max_conns_per_server": l.MaxConnsPerServer, "max_idle_per_server": l.MaxIdlePerServer, "max_client_conns": l.MaxClientConns,
		"max_concurrent_streams": l.MaxConcurrentStreams}
	m["health"] = map[string]any{"fails": f.Health.Fails, "cooldown": f.Health.Cooldown.String(), "panic": f.Panic}
	m["drain_timeout"] = f.DrainTimeout.String()
	m["via"] = f.Via
	trusted := make([]string, len(f.TrustedProxies))
	for i, p := range f.TrustedProxies {
		trusted[i] = p.String()
	}
	m["trusted_proxies"] = trusted
	m["slow_start"] = f.SlowStart.String()
	if f.Fleet != nil {
		// With the shared keys the fleet gave: the effective
		// configuration, whose hash changes with each push.
		m["fleet"] = f.Fleet.canonical()
	}
	if o := f.Outliers; o != nil {
		m["outliers"] = map[string]any{
			"consecutive_5xx":             o.Consecutive5xx,
			"interval":                    o.Interval.String(),
			"base_ejection_time":          o.BaseEjectionTime.String(),
			"max_ejection_time":           o.MaxEjectionTime.String(),
			"max_ejection_percent":        o.MaxEjectionPercent,
			"success_rate_minimum_hosts":  o.SuccessRateMinimumHosts,
			"success_rate_request_volume": o.SuccessRateRequestVolume,
			"success_rate_stdev_factor":   o.SuccessRateStdevFactor,
		}
	}
	if a := f.AccessLog; a != nil {
		m["access_log"] = map[string]any{"format": a.Format, "path": a.Path, "sample": a.Sample}
	} else {
		m["access_log"] = false
	}
	m["metrics"] = map[string]any{"max_routes": f.Metrics.MaxRoutes}
	if t := f.Tracing; t != nil {
		m["tracing"] = map[string]any{"otlp_endpoint": t.OTLPEndpoint, "sample": t.Sample}
	}
	return m
}

// Redacted is what Redact writes in place of a secret.
const Redacted = "<redacted>"

// Redact replaces the secrets of a canonical configuration (Canonical's
// result, changed in place) with Redacted, and returns the field paths it
// replaced.
func Redact(m map[string]any) []string {
	var paths []string
	if _, ok := m["admin_token"]; ok {
		m["admin_token"] = Redacted
		paths = append(paths, "admin_token")
	}
	if st, ok := m["sticky"].(map[string]any); ok {
		if secrets, ok := st["secrets"].([]string); ok {
			red := make([]string, len(secrets))
			for i := range red {
				red[i] = Redacted
			}
			st["secrets"] = red
			paths = append(paths, "sticky.secrets")
		}
	}
	return paths
}

// Hash returns the first 16 hex digits of the SHA-256 of f's canonical
// form in JSON (object keys sorted), for Revision.
func (f *File) Hash() string {
	b, err := json.Marshal(f.Canonical())
	if err != nil {
		panic("config: canonical form does not encode: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// canonical returns the tls block of a server, its files and names as
// given (the files absolute), insecure_skip_verify written out.
func (t *ServerTLS) canonical() map[string]any {
	m := map[string]any{"insecure_skip_verify": t.InsecureSkipVerify}
	for k, v := range map[string]string{"ca": t.CA, "server_name": t.ServerName, "cert": t.Cert, "key": t.Key} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// plain reports whether l is a plaintext listener with nothing but an
// address: what `listen: ADDR` says.
func (l *Listener) plain() bool {
	return l.TLS == nil && !l.H2C && l.RedirectHTTPS == 0 && l.HSTS == nil
}

func (l *Listener) canonical() map[string]any {
	m := map[string]any{"address": l.Address}
	if l.H2C {
		m["h2c"] = true
	}
	if l.RedirectHTTPS != 0 {
		m["redirect_https"] = l.RedirectHTTPS
	}
	if h := l.HSTS; h != nil {
		m["hsts"] = map[string]any{"max_age": h.MaxAge.String(), "include_subdomains": h.IncludeSubdomains}
	}
	if t := l.TLS; t != nil {
		tm := map[string]any{"session_ticket_keys": t.SessionTicketKeys}
		if t.SessionTicketKeys == "" {
			delete(tm, "session_ticket_keys")
		}
		tm["min_version"] = "1.2"
		if t.MinVersion == tls.VersionTLS13 {
			tm["min_version"] = "1.3"
		}
		if len(t.Curves) > 0 {
			names := make([]any, len(t.Curves))
			for i, c := range t.Curves {
				names[i] = curveName(c)
			}
			tm["curves"] = names
		}
		if len(t.Certificates) > 0 {
			certs := make([]any, len(t.Certificates))
			for i, c := range t.Certificates {
				certs[i] = map[string]any{"cert": c.Cert, "key": c.Key}
			}
			tm["certificates"] = certs
			tm["default"] = t.Certificates[t.Default].Cert
		}
		if a := t.ACME; a != nil {
			am := map[string]any{"ca": a.CA, "domains": a.Domains, "storage": a.Storage}
			if a.Email != "" {
				am["email"] = a.Email
			}
			if a.CARoot != "" {
				am["ca_root"] = a.CARoot
			}
			tm["acme"] = am
		}
		m["tls"] = tm
	}
	return m
}

// NamedFiles returns the files f names that are read once, when a
// configuration is applied, rather than watched: what `serve --watch`
// watches beside the configuration file. They are the ACME CA roots of
// listeners and the files of servers' tls blocks. (Listeners'
// certificates, keys and session ticket keys are watched by the certs
// package itself.)
func (f *File) NamedFiles() []string {
	var files []string
	for _, l := range f.Listeners {
		if l.TLS != nil && l.TLS.ACME != nil && l.TLS.ACME.CARoot != "" {
			files = append(files, l.TLS.ACME.CARoot)
		}
	}
	for _, s := range f.Servers {
		if t := s.TLS; t != nil {
			for _, name := range []string{t.CA, t.Cert, t.Key} {
				if name != "" {
					files = append(files, name)
				}
			}
		}
	}
	return files
}

// IsLoopback reports whether the host of addr (host:port) is a loopback
// address or "localhost".
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
