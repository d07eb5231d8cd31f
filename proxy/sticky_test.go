package proxy

import (
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestInsertCookie(t *testing.T) {
	b1, _ := captureBackend(t, "Set-Cookie: app=1\r\n")
	b2, _ := captureBackend(t, "Set-Cookie: app=2\r\n")
	e := setup(t, `"sticky": {"secure": true, "max_age": "1h"}, "routes": [{"path": "/*", "servers": ["s1", "s2"]}]`,
		map[string]string{"s1": b1.addr(), "s2": b2.addr()})
	r := e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	cookies := r.headers.Values("Set-Cookie")
	want := regexp.MustCompile(`^l7lb=([A-Za-z0-9_-]+\.[0-9]+\.[A-Za-z0-9_-]{22}); Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=3600$`)
	if len(cookies) != 2 || cookies[0] != "app=1" || !want.MatchString(cookies[1]) {
		t.Fatalf("Set-Cookie %q", cookies)
	}
	value := want.FindStringSubmatch(cookies[1])[1]
	for range 3 {
		r := e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\nCookie: theme=dark; l7lb=" + value + "\r\n\r\n")
		if got := r.headers.Values("Set-Cookie"); !slices.Equal(got, []string{"app=1"}) {
			t.Errorf("pinned request: Set-Cookie %q, want the server's only", got)
		}
	}
	if n := b2.accepted.Load(); n != 0 {
		t.Errorf("the other server got %d connections", n)
	}
}

// TestTableCookies checks the table modes on the proxy: a random session
// id and a signed hint; a plain server id as hint is ignored and replaced.
func TestTableCookies(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, `"sticky": {"mode": "auto"}`, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nCookie: theme=dark\r\n\r\n")
	r := readResp(t, br, false)
	sid := regexp.MustCompile(`^session_id=([A-Za-z0-9_-]{22}); Path=/; HttpOnly; SameSite=Lax$`)
	hint := regexp.MustCompile(`^backend=(czE\.[0-9]+\.[A-Za-z0-9_-]{22}); Path=/; SameSite=Lax$`)
	got := r.headers.Values("Set-Cookie")
	if len(got) != 2 || !sid.MatchString(got[0]) || !hint.MatchString(got[1]) {
		t.Fatalf("Set-Cookie %q, want a random session id and a signed hint for s1", got)
	}
	cookies := "session_id=" + sid.FindStringSubmatch(got[0])[1] + "; backend=" + hint.FindStringSubmatch(got[1])[1]
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nCookie: "+cookies+"\r\n\r\n")
	if r := readResp(t, br, false); len(r.headers.Values("Set-Cookie")) != 0 {
		t.Errorf("pinned request: Set-Cookie %q", r.headers.Values("Set-Cookie"))
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nCookie: session_id=unknown; backend=s1\r\n\r\n")
	r = readResp(t, br, false)
	if got := r.headers.Values("Set-Cookie"); len(got) != 2 || got[0] != "session_id=unknown; Path=/; HttpOnly; SameSite=Lax" || !hint.MatchString(got[1]) {
		t.Errorf("unsigned hint: Set-Cookie %q, want the session id and a signed hint", got)
	}
	if log := e.accessLog(3); !strings.Contains(log, " s1 sticky=hint-invalid ") {
		t.Errorf("access log:\n%s", log)
	}
}

// TestRepinOnRetry: a pinned server that cannot be reached gives way to
// another, and the client is told.
func TestRepinOnRetry(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, `"routes": [{"path": "/*", "servers": ["s1", "s2"]}]`,
		map[string]string{"s1": deadAddr(t), "s2": b.addr()})
	r := e.roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r.status != 200 || len(r.headers.Values("Set-Cookie")) != 1 {
		t.Fatalf("%d, Set-Cookie %q", r.status, r.headers.Values("Set-Cookie"))
	}
	if log := e.accessLog(1); !regexp.MustCompile(` s2 sticky=repinned `).MatchString(log) {
		t.Errorf("access log:\n%s", log)
	}
}

// TestHeaderView checks the proxy's reading of cookies against the one
// header view all faces share (httpmsg.Headers): an empty cookie value
// counts as absent, so a later cookie of the same name is the session.
func TestHeaderView(t *testing.T) {
	b, _ := captureBackend(t, "")
	e := setup(t, `"sticky": {"mode": "auto"}`, map[string]string{"s1": b.addr()})
	c, br := e.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nCookie: session_id=; theme=dark\r\ncookie: session_id=abc\r\n\r\n")
	r := readResp(t, br, false)
	if got := r.headers.Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("Set-Cookie %q: the session abc was not read", got)
	}
	if log := e.accessLog(1); !regexp.MustCompile(` s1 sticky=new-pin `).MatchString(log) {
		t.Errorf("access log:\n%s", log)
	}
}
