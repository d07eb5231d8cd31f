package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAccessLogAndTracing(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "l7lb.yaml")
	read := func(doc string) (*File, error) {
		t.Helper()
		if err := os.WriteFile(name, []byte("listen: 127.0.0.1:8080\nservers: {s1: http://127.0.0.1:9001}\n"+doc), 0o644); err != nil {
			t.Fatal(err)
		}
		f, _, err := ReadFile(name, true)
		return f, err
	}
	for _, tt := range []struct {
		doc       string
		accessLog *AccessLog
		tracing   *Tracing
	}{
		{"", &AccessLog{Format: FormatText, Path: "stdout", Sample: 1}, nil},
		{"access_log: false\n", nil, nil},
		{"access_log: true\n", &AccessLog{Format: FormatText, Path: "stdout", Sample: 1}, nil},
		{"access_log: {format: json, path: logs/access.log, sample: 0.5}\n", &AccessLog{Format: FormatJSON, Path: filepath.Join(dir, "logs/access.log"), Sample: 0.5}, nil},
		{"access_log: {format: common, path: /var/log/a.log, sample: 0}\n", &AccessLog{Format: FormatCommon, Path: "/var/log/a.log", Sample: 0}, nil},
		{"tracing: {otlp_endpoint: 'http://127.0.0.1:4318'}\n", &AccessLog{Format: FormatText, Path: "stdout", Sample: 1}, &Tracing{OTLPEndpoint: "http://127.0.0.1:4318/v1/traces", Sample: 1}},
		{"tracing: {otlp_endpoint: 'https://c.example/otlp/traces', sample: 0.01}\n", &AccessLog{Format: FormatText, Path: "stdout", Sample: 1}, &Tracing{OTLPEndpoint: "https://c.example/otlp/traces", Sample: 0.01}},
	} {
		f, err := read(tt.doc)
		if err != nil {
			t.Errorf("%q: %v", tt.doc, err)
			continue
		}
		if (f.AccessLog == nil) != (tt.accessLog == nil) || f.AccessLog != nil && *f.AccessLog != *tt.accessLog {
			t.Errorf("%q: access log %+v, want %+v", tt.doc, f.AccessLog, tt.accessLog)
		}
		if (f.Tracing == nil) != (tt.tracing == nil) || f.Tracing != nil && *f.Tracing != *tt.tracing {
			t.Errorf("%q: tracing %+v, want %+v", tt.doc, f.Tracing, tt.tracing)
		}
	}
	for _, tt := range []struct{ doc, want string }{
		{"access_log: {format: xml}\n", "3: access_log.format: want json, text or common"},
		{"access_log: {path: ''}\n", "3: access_log.path: must not be empty"},
		{"access_log: {sample: 2}\n", "3: access_log.sample: must be a number from 0 to 1"},
		{"access_log: {buffer: 4k}\n", "3: access_log.buffer: unknown field"},
		{"access_log: yes please\n", "3: access_log: expected an object"},
		{"tracing: {sample: 0.5}\n", "3: tracing.otlp_endpoint: missing"},
		{"tracing: {otlp_endpoint: '127.0.0.1:4317'}\n", "3: tracing.otlp_endpoint: want an http:// or https:// URL"},
		{"tracing: {otlp_endpoint: 'grpc://c:4317'}\n", "3: tracing.otlp_endpoint: want an http:// or https:// URL"},
		{"tracing: {otlp_endpoint: 'http://c:4318', sample: -1}\n", "3: tracing.sample: must be a number from 0 to 1"},
	} {
		_, err := read(tt.doc)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.doc, err, tt.want)
		}
	}
}
