package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func decodeFile(t *testing.T, doc string) (*File, error) {
	t.Helper()
	v, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return DecodeFile(v, true)
}

const minimalServe = "listen: 127.0.0.1:8080\nservers: {s1: http://127.0.0.1:9001}\n"

func TestTrustedProxies(t *testing.T) {
	f, err := decodeFile(t, minimalServe+"trusted_proxies: [10.0.0.0/8, 192.0.2.7, \"::1\", \"2001:db8::/32\", 10.1.2.3/16]\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("10.1.0.0/16"),
	}
	if !reflect.DeepEqual(f.TrustedProxies, want) {
		t.Errorf("TrustedProxies %v, want %v", f.TrustedProxies, want)
	}
	if f, err := decodeFile(t, minimalServe); err != nil || f.TrustedProxies != nil {
		t.Errorf("default: %v, %v; want none", f.TrustedProxies, err)
	}
}

func TestServeKeyErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"trusted_proxies: 10.0.0.0/8\n", "trusted_proxies: expected a list of strings"},
		{"trusted_proxies: [10.0.0.0/8, example.com]\n", `trusted_proxies[1]: want an IP address or CIDR prefix such as 10.0.0.0/8, got "example.com"`},
		{"trusted_proxies: [10.0.0.0/33]\n", `trusted_proxies[0]: want an IP address or CIDR prefix such as 10.0.0.0/8, got "10.0.0.0/33"`},
		{"trusted_proxies: [\"fe80::1%eth0\"]\n", `trusted_proxies[0]: want an IP address or CIDR prefix such as 10.0.0.0/8, got "fe80::1%eth0"`},
		{"trusted_proxies: [\"\"]\n", "trusted_proxies[0]: must not be empty"},
		{"via: yes please\n", "via: expected a boolean"},
		{"metrics: {max_routes: -1}\n", "metrics.max_routes: "},
		{"metrics: {max_routes: 1.5}\n", "metrics.max_routes: "},
		{"metrics: {max_route: 10}\n", "metrics.max_route: unknown field"},
		{"metrics: 10\n", "metrics: "},
	}
	for _, tt := range tests {
		_, err := decodeFile(t, minimalServe+tt.doc)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestVia(t *testing.T) {
	for doc, want := range map[string]bool{"": true, "via: true\n": true, "via: false\n": false} {
		f, err := decodeFile(t, minimalServe+doc)
		if err != nil || f.Via != want {
			t.Errorf("%q: Via %v, %v; want %v", doc, f.Via, err, want)
		}
	}
}

func TestMetricsMaxRoutes(t *testing.T) {
	for doc, want := range map[string]int{"": DefaultMetricsMaxRoutes, "metrics: {}\n": DefaultMetricsMaxRoutes,
		"metrics: {max_routes: 0}\n": 0, "metrics: {max_routes: 100000}\n": 100000} {
		f, err := decodeFile(t, minimalServe+doc)
		if err != nil || f.Metrics.MaxRoutes != want {
			t.Errorf("%q: MaxRoutes %d, %v; want %d", doc, f.Metrics.MaxRoutes, err, want)
		}
	}
}
