package main

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"l7lb/config"
)

// TestL7lbConfigPinsX25519 checks that the config given to l7lb decodes,
// and that on TLS it pins X25519 as the peers' configs do (unless told
// not to, for binaries without tls.curves).
func TestL7lbConfigPinsX25519(t *testing.T) {
	cert := certFiles{cert: "/tmp/c.pem", key: "/tmp/k.pem"}
	for _, c := range allCases {
		for _, pin := range []bool{true, false} {
			v, err := config.ParseYAML([]byte(l7lbConfig(c, 8443, 9001, 9002, cert, pin)))
			if err != nil {
				t.Fatalf("%s: %v", c.id, err)
			}
			f, err := config.DecodeFile(v, true)
			if err != nil {
				t.Fatalf("%s pin=%v: %v", c.id, pin, err)
			}
			if f.Limits.MaxIdlePerServer != idlePool {
				t.Errorf("%s: max_idle_per_server %d, want %d", c.id, f.Limits.MaxIdlePerServer, idlePool)
			}
			ln := f.Listeners[0]
			if !c.tls {
				if ln.TLS != nil {
					t.Errorf("%s: a TLS listener", c.id)
				}
				continue
			}
			var want []tls.CurveID
			if pin {
				want = []tls.CurveID{tls.X25519}
			}
			if ln.TLS == nil || !slices.Equal(ln.TLS.Curves, want) || ln.TLS.MinVersion != tls.VersionTLS13 {
				t.Errorf("%s pin=%v: tls %+v, want TLS 1.3 and curves %v", c.id, pin, ln.TLS, want)
			}
		}
	}
}

func TestParsePeers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"haproxy,nginx", []string{"haproxy", "nginx"}, false},
		{"haproxy", []string{"haproxy"}, false},
		{"", nil, false},
		{"envoy", nil, true},
		{"haproxy,haproxy", nil, true},
	} {
		got, err := parsePeers(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("parsePeers(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	// Without nginx the results order has no nginx either.
	r := newResults(&options{peers: []string{"haproxy"}, l7lbs: l7lbFlags{{name: "a"}}})
	var names []string
	for _, p := range r.order(2) {
		names = append(names, p.name)
	}
	if !slices.Equal(names, []string{"haproxy", "a"}) {
		t.Errorf("run 2 order %v, want [haproxy a]", names)
	}
}

// TestPeersForwardLikeL7lb checks that HAProxy's and nginx's configs add
// every field l7lb adds by default (docs/config.md, "Forwarding fields",
// and via), with the case's proto, so that the backend on the load core
// parses the same request head from all three.
func TestPeersForwardLikeL7lb(t *testing.T) {
	fields := []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-IP", "X-Request-Id", "Via"}
	for _, c := range allCases {
		for name, conf := range map[string]string{
			"haproxy": haproxyConfig(c, 8443, 9001, 9002, certFiles{}),
			"nginx":   nginxConfig(c, "/tmp/d", 8443, 9001, 9002, certFiles{}),
		} {
			for _, f := range fields {
				// HAProxy's option forwardfor adds X-Forwarded-For.
				if !strings.Contains(strings.ToLower(conf), strings.ToLower(f)) && (f != "X-Forwarded-For" || !strings.Contains(conf, "option forwardfor")) {
					t.Errorf("%s %s: no %s", name, c.id, f)
				}
			}
			if name == "haproxy" && (!strings.Contains(conf, "X-Forwarded-Proto "+scheme(c)) || !strings.Contains(conf, "proto="+scheme(c))) {
				t.Errorf("haproxy %s: proto not %s", c.id, scheme(c))
			}
			// Via on responses too, as l7lb adds it to both.
			if !strings.Contains(conf, "http-response add-header Via") && !strings.Contains(conf, "add_header Via") {
				t.Errorf("%s %s: no Via on responses", name, c.id)
			}
		}
	}
}
