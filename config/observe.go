package config

import (
	"net/url"
)

// AccessLog says how `l7lb serve` logs each request.
type AccessLog struct {
	Format string  // FormatText, FormatJSON or FormatCommon
	Path   string  // "stdout", or a file (absolute once loaded)
	Sample float64 // the share of requests below status 500 logged, 0 to 1
}

// The access-log formats.
const (
	FormatText   = "text"   // slog's text handler: key=value pairs
	FormatJSON   = "json"   // slog's JSON handler: one object per line
	FormatCommon = "common" // NCSA combined log format, then key=value pairs
)

// DefaultAccessLog is the access log when the file has no access_log: text
// lines on standard output, every request.
func DefaultAccessLog() AccessLog { return AccessLog{Format: FormatText, Path: "stdout", Sample: 1} }

// Tracing turns on OpenTelemetry tracing: a span per proxied request,
// exported over OTLP/HTTP.
type Tracing struct {
	// OTLPEndpoint is the URL spans are posted to (protobuf over HTTP);
	// /v1/traces is added to a URL without a path.
	OTLPEndpoint string
	// Sample is the share of new traces the proxy starts; a request that
	// arrives with a traceparent follows its sampled flag.
	Sample float64
}

func (d *decoder) accessLog(path string, v *Value) *AccessLog {
	if v.Kind == Bool {
		if !v.Bool {
			return nil
		}
		a := DefaultAccessLog()
		return &a
	}
	a := DefaultAccessLog()
	d.fields(path, v, map[string]func(string, *Value){
		"format": func(p string, v *Value) {
			if s, ok := d.str(p, v); ok {
				switch s {
				case FormatText, FormatJSON, FormatCommon:
					a.Format = s
				default:
					d.fail(p, v, "want json, text or common")
				}
			}
		},
		"path": func(p string, v *Value) {
			if s, ok := d.nonEmpty(p, v); ok {
				a.Path = s
			}
		},
		"sample": func(p string, v *Value) {
			if x, ok := d.number(p, v, 0, 1); ok {
				a.Sample = x
			}
		},
	})
	return &a
}

func (d *decoder) tracing(path string, v *Value) *Tracing {
	t := &Tracing{Sample: 1}
	d.fields(path, v, map[string]func(string, *Value){
		"otlp_endpoint": func(p string, v *Value) {
			s, ok := d.nonEmpty(p, v)
			if !ok {
				return
			}
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				d.fail(p, v, "want an http:// or https:// URL, such as http://127.0.0.1:4318")
				return
			}
			if u.Path == "" || u.Path == "/" {
				u.Path = "/v1/traces"
			}
			t.OTLPEndpoint = u.String()
		},
		"sample": func(p string, v *Value) {
			if x, ok := d.number(p, v, 0, 1); ok {
				t.Sample = x
			}
		},
	})
	if v.Kind == Map && v.Get("otlp_endpoint") == nil {
		d.fail(Join(path, "otlp_endpoint"), v, "missing")
	}
	return t
}
