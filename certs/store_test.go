package certs

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"l7lb/config"
)

// sniStore is a store of the certificates the selection tests choose
// among, each named by its first SAN.
func sniStore(t *testing.T, def int, extra ...[]string) *Store {
	dir := t.TempDir()
	sets := [][]string{
		{"example.com", "www.example.com"},
		{"*.example.com"},
		{"*.b.example.com"},
		{"api.example.com"},
	}
	sets = append(sets, extra...)
	cfg := config.ListenerTLS{MinVersion: tls.VersionTLS12, Default: def}
	for i, names := range sets {
		cfg.Certificates = append(cfg.Certificates, writePair(t, dir, "c"+string(rune('0'+i)), names...))
	}
	s, _ := newStore(t, cfg, Options{})
	return s
}

// fakeConn is a connection accepted on a local address, for hellos
// without SNI.
type fakeConn struct {
	net.Conn
	local net.Addr
}

func (c fakeConn) LocalAddr() net.Addr { return c.local }

func TestSNISelection(t *testing.T) {
	tests := []struct {
		name, serverName, want string
		def                    int
		local                  string // the address the client connected to
		extra                  []string
	}{
		{name: "exact", serverName: "example.com", want: "example.com"},
		{name: "second name of a certificate", serverName: "www.example.com", want: "example.com"},
		{name: "exact beats wildcard", serverName: "api.example.com", want: "api.example.com"},
		{name: "wildcard", serverName: "shop.example.com", want: "*.example.com"},
		{name: "wildcard of the longer suffix", serverName: "x.b.example.com", want: "*.b.example.com"},
		{name: "a wildcard matches one label only", serverName: "y.x.b.example.com", want: "example.com"},
		{name: "a wildcard does not match its bare domain", serverName: "b.example.com", want: "*.example.com"},
		{name: "upper case", serverName: "API.Example.COM", want: "api.example.com"},
		{name: "upper case wildcard", serverName: "Shop.EXAMPLE.com", want: "*.example.com"},
		{name: "trailing dot", serverName: "example.com.", want: "example.com"},
		{name: "trailing dot wildcard", serverName: "shop.example.com.", want: "*.example.com"},
		{name: "unknown name: the default", serverName: "example.org", def: 3, want: "api.example.com"},
		{name: "unknown name: the first without a default", serverName: "example.org", want: "example.com"},
		{name: "an empty first label is no wildcard match", serverName: ".example.com", want: "example.com"},
		{name: "no SNI: the default", serverName: "", def: 1, local: "127.0.0.1:443", want: "*.example.com"},
		{name: "no SNI: the certificate of the local IP", serverName: "", def: 1, local: "127.0.0.1:443", extra: []string{"127.0.0.1"}, want: "127.0.0.1"},
		{name: "no SNI: an IPv4-mapped local address", serverName: "", local: "[::ffff:127.0.0.1]:443", extra: []string{"127.0.0.1"}, want: "127.0.0.1"},
		{name: "no SNI: IPv6", serverName: "", local: "[::1]:443", extra: []string{"::1"}, want: "::1"},
		{name: "an IP sent as SNI", serverName: "127.0.0.1", extra: []string{"127.0.0.1"}, want: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra [][]string
			if tt.extra != nil {
				extra = [][]string{tt.extra}
			}
			s := sniStore(t, tt.def, extra...)
			hello := &tls.ClientHelloInfo{ServerName: tt.serverName}
			if tt.local != "" {
				a, err := net.ResolveTCPAddr("tcp", tt.local)
				if err != nil {
					t.Fatal(err)
				}
				hello.Conn = fakeConn{local: a}
			}
			c, err := s.getCertificate(hello)
			if err != nil {
				t.Fatal(err)
			}
			if got := Names(c)[0]; got != tt.want {
				t.Errorf("SNI %q: served %q, want %q", tt.serverName, got, tt.want)
			}
		})
	}
}

// TestSNIHandshakes checks the selection through real handshakes: the
// TLS configuration of the store on a listener, a TLS client per name.
func TestSNIHandshakes(t *testing.T) {
	dir := t.TempDir()
	cfg := config.ListenerTLS{MinVersion: tls.VersionTLS12, Default: 1, Certificates: []config.CertPair{
		writePair(t, dir, "site", "site.example", "www.site.example"),
		writePair(t, dir, "wild", "*.wild.example"),
		writePair(t, dir, "ip", "127.0.0.1"),
	}}
	s, _ := newStore(t, cfg, Options{})
	addr := serveEcho(t, s.TLSConfig())
	for sni, want := range map[string]string{
		"site.example":     "site.example,www.site.example",
		"www.site.example": "site.example,www.site.example",
		"a.wild.example":   "*.wild.example",
		"A.Wild.Example":   "*.wild.example",
		"other.example":    "*.wild.example", // the default
		"":                 "127.0.0.1",      // no SNI: the address connected to
	} {
		if got, _ := served(t, addr, sni); got != want {
			t.Errorf("SNI %q: served %s, want %s", sni, got, want)
		}
	}
}

// TestDualKeyTypes checks that of an ECDSA and an RSA certificate for the
// same name, a client that supports ECDSA gets the first, one that does
// not gets the RSA one.
func TestDualKeyTypes(t *testing.T) {
	dir := t.TempDir()
	ec := writePair(t, dir, "ec", "dual.example")
	rc, rk := rsaPair(t, "dual.example")
	rsa := config.CertPair{Cert: dir + "/rsa.pem", Key: dir + "/rsa-key.pem"}
	writeFile(t, rsa.Cert, rc)
	writeFile(t, rsa.Key, rk)
	s, _ := newStore(t, config.ListenerTLS{MinVersion: tls.VersionTLS12, Certificates: []config.CertPair{ec, rsa}}, Options{})
	addr := serveEcho(t, s.TLSConfig())
	for _, tt := range []struct {
		name    string
		client  *tls.Config
		wantAlg string
	}{
		{"ECDSA", &tls.Config{}, "ECDSA"},
		{"RSA only, TLS 1.2", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, "RSA"},
	} {
		c := dial(t, addr, "dual.example", tt.client)
		if got := c.ConnectionState().PeerCertificates[0].PublicKeyAlgorithm.String(); got != tt.wantAlg {
			t.Errorf("%s client: got an %s certificate, want %s", tt.name, got, tt.wantAlg)
		}
		c.Close()
	}
}

func TestTLSConfigOptions(t *testing.T) {
	dir := t.TempDir()
	cfg := config.ListenerTLS{MinVersion: tls.VersionTLS13, Certificates: []config.CertPair{writePair(t, dir, "a", "a.example")}}
	for _, tt := range []struct {
		opts   Options
		protos []string
	}{
		{Options{}, []string{"http/1.1"}},
		{Options{HTTP2: true}, []string{"h2", "http/1.1"}},
	} {
		s, _ := newStore(t, cfg, tt.opts)
		addr := serveEcho(t, s.TLSConfig())
		c := dial(t, addr, "a.example", &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		want := tt.protos[0]
		if got := c.ConnectionState().NegotiatedProtocol; got != want {
			t.Errorf("HTTP2 %v: negotiated %q, want %q", tt.opts.HTTP2, got, want)
		}
		if !slices.Equal(s.TLSConfig().NextProtos, tt.protos) {
			t.Errorf("NextProtos %v, want %v", s.TLSConfig().NextProtos, tt.protos)
		}
		c.Close()
	}

	// No tls.curves: Go's defaults, hybrid post-quantum first for a client
	// that offers it.
	s, _ := newStore(t, cfg, Options{})
	c := dial(t, serveEcho(t, s.TLSConfig()), "a.example", &tls.Config{})
	if got := c.ConnectionState().CurveID; got != tls.X25519MLKEM768 {
		t.Errorf("key exchange with Go's defaults %v, want X25519MLKEM768", got)
	}
	c.Close()

	pinned := cfg
	pinned.Curves = []tls.CurveID{tls.X25519}
	s, _ = newStore(t, pinned, Options{})
	addr := serveEcho(t, s.TLSConfig())
	// TLS 1.3 is the floor: a TLS 1.2 client is refused.
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err == nil {
		conn.Close()
		t.Error("a TLS 1.2 client was served by a listener with min_version 1.3")
	}
	// X25519 pinned: a client offering only P-256 is refused, one offering
	// X25519 among others gets it.
	conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.CurveP256}})
	if err == nil {
		conn.Close()
		t.Error("a P-256-only client was served with X25519 pinned")
	}
	c = dial(t, addr, "a.example", &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.CurveP256, tls.X25519}})
	if got := c.ConnectionState().CurveID; got != tls.X25519 {
		t.Errorf("key exchange %v, want X25519", got)
	}
	c.Close()
}

func TestNewFailsOnABadPair(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a", "a.example")
	b := writePair(t, dir, "b", "b.example")
	for _, tt := range []struct {
		pair config.CertPair
		want string
	}{
		{config.CertPair{Cert: a.Cert, Key: b.Key}, b.Key + " does not match the certificate in " + a.Cert},
		{config.CertPair{Cert: dir + "/none.pem", Key: a.Key}, "no such file"},
		{config.CertPair{Cert: a.Key, Key: a.Key}, a.Key + ": failed to find certificate PEM data"},
		{config.CertPair{Cert: a.Cert, Key: a.Cert}, a.Cert + ": found a certificate rather than a key"},
	} {
		_, err := New(config.ListenerTLS{Certificates: []config.CertPair{tt.pair}}, Options{Logf: t.Logf})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.pair, err, tt.want)
		}
	}
}

func TestExpiryWarnings(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for _, tt := range []struct {
		name      string
		from, to  time.Time
		wantInLog string
	}{
		{"valid", now.Add(-time.Hour), now.Add(90 * 24 * time.Hour), ""},
		{"expired", now.Add(-48 * time.Hour), now.Add(-time.Hour), "expired at"},
		{"not yet valid", now.Add(time.Hour), now.Add(48 * time.Hour), "not valid before"},
		{"two weeks of a year left", now.Add(-351 * 24 * time.Hour), now.Add(13 * 24 * time.Hour), "expires at"},
		{"a sixth of a short life left", now.Add(-5 * 24 * time.Hour), now.Add(23 * time.Hour), "expires at"},
		{"more than a sixth of a short life left", now.Add(-4 * 24 * time.Hour), now.Add(2 * 24 * time.Hour), ""},
	} {
		c, k, err := SelfSigned([]string{"a.example"}, tt.from, tt.to)
		if err != nil {
			t.Fatal(err)
		}
		p := config.CertPair{Cert: dir + "/c.pem", Key: dir + "/k.pem"}
		writeFile(t, p.Cert, c)
		writeFile(t, p.Key, k)
		_, logs := newStore(t, config.ListenerTLS{Certificates: []config.CertPair{p}}, Options{})
		got := logs.count("certs: warning: the certificate for a.example")
		if tt.wantInLog == "" && got != 0 || tt.wantInLog != "" && logs.count(tt.wantInLog) != 1 {
			t.Errorf("%s: logged %q, want a warning containing %q", tt.name, logs.lines, tt.wantInLog)
		}
	}
}

// BenchmarkGetCertificate measures choosing a certificate for a handshake
// among 1,000 names and 100 wildcards: two map lookups at most.
func BenchmarkGetCertificate(b *testing.B) {
	dir := b.TempDir()
	cfg := config.ListenerTLS{MinVersion: tls.VersionTLS12}
	for i := range 100 {
		names := []string{fmt.Sprintf("*.w%d.example", i)}
		for j := range 10 {
			names = append(names, fmt.Sprintf("h%d-%d.example", i, j))
		}
		cfg.Certificates = append(cfg.Certificates, writePair(b, dir, fmt.Sprint(i), names...))
	}
	s, _ := newStore(b, cfg, Options{})
	hellos := []*tls.ClientHelloInfo{{ServerName: "h57-3.example"}, {ServerName: "x.w42.example"}, {ServerName: "unknown.example"}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if c, _ := s.getCertificate(hellos[i%len(hellos)]); c == nil {
			b.Fatal("no certificate")
		}
	}
}
