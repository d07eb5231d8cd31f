package health

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestActiveSpeaksTheServersProtocol: probes of an https:// server go over
// TLS with its configuration, those of an h2c:// server in HTTP/2 with
// prior knowledge; a server that only speaks those would look down
// otherwise.
func TestActiveSpeaksTheServersProtocol(t *testing.T) {
	var protos atomic.Value
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto)
		if r.TLS == nil && r.ProtoMajor != 2 {
			w.WriteHeader(http.StatusServiceUnavailable) // only HTTP/2 or TLS is healthy
		}
	})
	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()
	h2c := httptest.NewUnstartedServer(h)
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Start()
	defer h2c.Close()

	for _, tt := range []struct {
		name   string
		target Target
		proto  string
	}{
		{"https", Target{Server: "s1", Addr: tlsSrv.Listener.Addr().String(), TLS: &tls.Config{InsecureSkipVerify: true}}, "HTTP/1.1"},
		{"h2c", Target{Server: "s1", Addr: h2c.Listener.Addr().String(), H2C: true}, "HTTP/2.0"},
	} {
		tt.target.Path, tt.target.Interval, tt.target.Timeout = "/", 10*time.Millisecond, time.Second
		var m marks
		protos.Store("")
		p := NewProber(m.mark)
		p.Set([]Target{tt.target})
		// Until a probe got through, and a few more after it (a slow
		// handshake under the race detector must not fail the test).
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if p, _ := protos.Load().(string); p != "" {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		p.Close()
		if got := m.String(); got != "" {
			t.Errorf("%s: marked %q", tt.name, got)
		}
		if p, _ := protos.Load().(string); p != tt.proto {
			t.Errorf("%s: probed in %q, want %s", tt.name, p, tt.proto)
		}
	}
}
