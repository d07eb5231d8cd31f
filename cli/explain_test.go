package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplainHeaderView checks explain's reading of -H headers against the
// one header view all faces share (httpmsg.Headers).
func TestExplainHeaderView(t *testing.T) {
	file := filepath.Join(t.TempDir(), "l7lb.yaml")
	err := os.WriteFile(file, []byte("listen: 127.0.0.1:8080\nservers: {s1: http://127.0.0.1:9001}\nsticky: {mode: auto}\n"+
		"routes: [{name: prod, headers: {X-Env: prod}, servers: [s1]}]\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		headers     []string
		field, want string
	}{
		{[]string{"Cookie: session_id=; session_id=abc"}, "sticky", "new-pin"},
		{[]string{"Cookie: session_id=", "Cookie: session_id=abc"}, "sticky", "new-pin"},
		{[]string{"Coo\u212aie: session_id=abc"}, "sticky", "none"},
		{[]string{"cookie: session_id=abc"}, "sticky", "new-pin"},
		{[]string{"X-ENV: prod"}, "route", "prod"},
	}
	for _, tt := range tests {
		args := []string{"--config", file}
		for _, h := range tt.headers {
			args = append(args, "-H", h)
		}
		args = append(args, "GET", "http://a.example/x")
		var stdout, stderr strings.Builder
		if code := Main(append([]string{"explain"}, args...), strings.NewReader(""), &stdout, &stderr); code != exitOK {
			t.Fatalf("%q: exit %d: %s", tt.headers, code, stderr.String())
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil {
			t.Fatal(err)
		}
		if out[tt.field] != tt.want {
			t.Errorf("%q: %s = %v, want %s (%s)", tt.headers, tt.field, out[tt.field], tt.want, stdout.String())
		}
	}
}

// TestExplainBadHost: explain answers as the proxy does, 400, for a host
// the proxy refuses.
func TestExplainBadHost(t *testing.T) {
	file := filepath.Join(t.TempDir(), "l7lb.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:8080\nservers: {s1: http://127.0.0.1:9001}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-H", "Host: a b", "GET", "/x"}, `{"error":"invalid Host","status":400,"sticky":"none"}`},
		{[]string{"GET", "http://u:p@a.example/x"}, `{"error":"userinfo in the request-target","status":400,"sticky":"none"}`},
		{[]string{"GET", "http://[::1/x"}, `{"error":"invalid Host","status":400,"sticky":"none"}`},
	} {
		var stdout, stderr strings.Builder
		if code := Main(append([]string{"explain", "--config", file}, tt.args...), strings.NewReader(""), &stdout, &stderr); code != exitOK {
			t.Fatalf("%q: exit %d: %s", tt.args, code, stderr.String())
		}
		if got := strings.TrimSpace(stdout.String()); got != tt.want {
			t.Errorf("%q: %s, want %s", tt.args, got, tt.want)
		}
	}
}
