package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strconv"
	"testing"
	"time"

	"l7lb/config"
	"l7lb/httpmsg"
	"l7lb/session"
)

// t0 is the tests' clock: 2023-11-14T22:13:20Z.
const t0 = 1700000000

func signerAt(unix int64, secret string, older ...string) *session.Signer {
	var keys [][]byte
	for _, k := range older {
		keys = append(keys, []byte(k))
	}
	s := session.NewSigner([]byte(secret), keys...)
	s.SetClock(func() time.Time { return time.Unix(unix, 0) })
	return s
}

// proxyEngine returns an engine with the options the HTTP proxy sets.
func proxyEngine(t *testing.T, signer *session.Signer, sticky config.Sticky, servers ...string) *Engine {
	t.Helper()
	e := New(func(msg string) { t.Log("warn:", msg) })
	e.SetOptions(Options{Signer: signer, SignHints: true, NewSessionID: session.NewID})
	e.Init("lb", servers)
	mustApply(t, e, &config.Config{Routes: []config.Route{
		{Name: "a", Path: "/a/*", Servers: []string{"s1", "s2"}},
		{Name: "b", Path: "/b/*", Servers: []string{"s3"}},
	}, Sticky: sticky})
	return e
}

func cookieHeaders(kv ...string) *httpmsg.Headers {
	h := &httpmsg.Headers{CookieSet: true}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Cookies = append(h.Cookies, httpmsg.Field{Name: kv[i], Value: kv[i+1]})
	}
	return h
}

var (
	randomID = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	nodeID   = regexp.MustCompile(`^lb-[0-9]+$`) // the node's ids
)

// TestRandomSessionIDs checks that with NewSessionID the table modes issue
// 128-bit random ids, not <node id>-<n>; the node's ids are TestStickySteps'.
func TestRandomSessionIDs(t *testing.T) {
	e := proxyEngine(t, signerAt(t0, "k"), config.Sticky{Cookie: "session_id", ServerCookie: "backend", Mode: config.ModeAlways, MaxSessions: 100}, "s1", "s2", "s3")
	seen := map[string]bool{}
	for range 50 {
		d := decide(e, Request{Target: "/a/x"})
		if d.Sticky != StickyIssued || !randomID.MatchString(d.SessionID) || nodeID.MatchString(d.SessionID) || seen[d.SessionID] {
			t.Fatalf("issued %q (%v): want a new 22-character base64url id", d.SessionID, d.Sticky)
		}
		seen[d.SessionID] = true
		if again := decide(e, Request{Target: "/a/x", SessionID: d.SessionID}); again.Sticky != StickyHit || again.Server != d.Server {
			t.Fatalf("the issued id is not pinned: %v %s, want hit %s", again.Sticky, again.Server, d.Server)
		}
	}
	if d := explain(e, Request{Target: "/a/x"}); !randomID.MatchString(d.SessionID) {
		t.Errorf("explain issued %q", d.SessionID)
	}
}

// TestSignedHints checks the table modes with signed hints: a hint that
// is not the signer's value is ignored, the decision says hint-invalid,
// and the client gets a signed hint in its place; a signed hint works as
// a plain one does for the node.
func TestSignedHints(t *testing.T) {
	signer := signerAt(t0, "k")
	sticky := config.Sticky{Cookie: "session_id", ServerCookie: "backend", Mode: config.ModeAuto, MaxSessions: 100}
	for _, tt := range []struct {
		name      string
		down      string // a server to mark down first
		pin       string // a session to pin first, on the route a
		req       Request
		server    string
		sticky    Sticky
		setCookie string // the session id set, "" for none
	}{
		{name: "signed hint, no session", req: Request{Target: "/a/x", Headers: cookieHeaders("backend", signer.Encode("s2"))},
			server: "s2", sticky: StickyHint},
		{name: "plain hint, no session", req: Request{Target: "/a/x", Headers: cookieHeaders("backend", "s2")},
			server: "s1", sticky: StickyHintInvalid, setCookie: "new"},
		{name: "hint of another secret", req: Request{Target: "/a/x", Headers: cookieHeaders("backend", signerAt(t0, "other").Encode("s2"))},
			server: "s1", sticky: StickyHintInvalid, setCookie: "new"},
		{name: "signed hint, unknown session", req: Request{Target: "/a/x", SessionID: "u1", Headers: cookieHeaders("backend", signer.Encode("s2"))},
			server: "s2", sticky: StickyHint},
		{name: "forged hint, unknown session", req: Request{Target: "/a/x", SessionID: "u1", Headers: cookieHeaders("backend", "s2")},
			server: "s1", sticky: StickyHintInvalid, setCookie: "u1"},
		{name: "forged hint, session hit", pin: "u1", req: Request{Target: "/a/x", SessionID: "u1", Headers: cookieHeaders("backend", "s2")},
			server: "s1", sticky: StickyHit},
		{name: "forged hint, pinned server down", pin: "u1", down: "s1", req: Request{Target: "/a/x", SessionID: "u1", Headers: cookieHeaders("backend", "s1")},
			server: "s2", sticky: StickyHintInvalid, setCookie: "u1"},
		{name: "forged hint, other pool", pin: "u1", req: Request{Target: "/b/x", SessionID: "u1", Headers: cookieHeaders("backend", "s3")},
			server: "s3", sticky: StickyOtherPool},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := proxyEngine(t, signer, sticky, "s1", "s2", "s3")
			if tt.pin != "" {
				if d := decide(e, Request{Target: "/a/x", SessionID: tt.pin}); d.Server != "s1" {
					t.Fatalf("pinned to %s, want s1", d.Server)
				}
			}
			if tt.down != "" {
				e.SetDown(tt.down, true)
			}
			d := decide(e, tt.req)
			if d.Status != 200 || d.Server != tt.server || d.Sticky != tt.sticky || d.SetCookie != (tt.setCookie != "") {
				t.Fatalf("%d %s %v set-cookie %v, want %s %v %v", d.Status, d.Server, d.Sticky, d.SetCookie, tt.server, tt.sticky, tt.setCookie != "")
			}
			if !d.SetCookie {
				return
			}
			if tt.setCookie == "new" && !randomID.MatchString(d.SessionID) || tt.setCookie != "new" && d.SessionID != tt.setCookie {
				t.Errorf("session id %q, want %s", d.SessionID, tt.setCookie)
			}
			if c := signer.Decode(d.ServerCookieValue, 0); c.Verdict != session.Valid || c.Server != d.Server {
				t.Errorf("hint cookie %q decodes to %+v, want %s", d.ServerCookieValue, c, d.Server)
			}
			// The cookies set bring the client back to its server.
			back := decide(e, Request{Target: tt.req.Target, SessionID: d.SessionID, Headers: cookieHeaders("backend", d.ServerCookieValue)})
			if back.Server != d.Server || back.Sticky != StickyHit {
				t.Errorf("with the cookies set: %s %v, want %s hit", back.Server, back.Sticky, d.Server)
			}
		})
	}
	// Without signed hints (the node), a hint is the plain server id.
	e := newEngine(t, "s1", "s2", "s3")
	if d := decide(e, Request{Target: "/api/x", Headers: cookieHeaders("backend", "s2")}); d.Server != "s2" || d.Sticky != StickyHint {
		t.Errorf("node: plain hint gave %s %v, want s2 hint", d.Server, d.Sticky)
	}
}

// refValue is the documented insert-mode cookie format, written here
// independently of session.Signer.
func refValue(secret, server string, issued int64) string {
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString([]byte(server)) + "." + strconv.FormatInt(issued, 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("l7lb-sticky-v2\x00" + payload))
	return payload + "." + enc.EncodeToString(m.Sum(nil)[:16])
}

// TestInsertCookieAgeAndRotation checks insert mode with sticky.max_age
// and secrets [new, old]: a cookie older than max_age is not honoured and
// is re-issued (expired); a cookie signed by the old secret is honoured
// and re-signed by the new one with its issue time kept; a forged one is
// replaced (invalid).
func TestInsertCookieAgeAndRotation(t *testing.T) {
	now := int64(t0)
	signer := session.NewSigner([]byte("new"), []byte("old"))
	signer.SetClock(func() time.Time { return time.Unix(now, 0) })
	sticky := config.Sticky{Cookie: "l7lb", ServerCookie: "backend", Mode: config.ModeInsert, MaxSessions: 100, MaxAge: time.Hour}
	for _, tt := range []struct {
		name   string
		cookie string
		server string
		sticky Sticky
		value  string // the cookie set; "" for none
	}{
		{"fresh", refValue("new", "s2", t0-600), "s2", StickyHit, ""},
		{"just within max_age", refValue("new", "s2", t0-3600), "s2", StickyHit, ""},
		{"older than max_age", refValue("new", "s2", t0-3601), "s1", StickyExpired, refValue("new", "s1", t0)},
		{"old secret", refValue("old", "s2", t0-600), "s2", StickyHit, refValue("new", "s2", t0-600)},
		{"old secret, older than max_age", refValue("old", "s2", t0-7200), "s1", StickyExpired, refValue("new", "s1", t0)},
		{"unknown secret", refValue("other", "s2", t0), "s1", StickyInvalid, refValue("new", "s1", t0)},
		{"no cookie", "", "s1", StickyIssued, refValue("new", "s1", t0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := proxyEngine(t, signer, sticky, "s1", "s2", "s3")
			req := Request{Target: "/a/x", Headers: cookieHeaders()}
			if tt.cookie != "" {
				req.Headers = cookieHeaders("l7lb", tt.cookie)
			}
			d := decide(e, req)
			value := ""
			if d.SetCookie {
				value = d.CookieValue
			}
			if d.Status != 200 || d.Server != tt.server || d.Sticky != tt.sticky || value != tt.value {
				t.Errorf("%d %s %v cookie %q, want %s %v %q", d.Status, d.Server, d.Sticky, value, tt.server, tt.sticky, tt.value)
			}
		})
	}
	// A re-signed cookie keeps its issue time, so rotation does not make
	// a session outlive max_age.
	e := proxyEngine(t, signer, sticky, "s1", "s2", "s3")
	now = t0 + 3001
	if d := decide(e, Request{Target: "/a/x", Headers: cookieHeaders("l7lb", refValue("new", "s2", t0-600))}); d.Sticky != StickyExpired {
		t.Errorf("a re-signed cookie past max_age: %v, want expired", d.Sticky)
	}
}
