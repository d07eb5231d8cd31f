package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var testSecret = []byte("test-secret")

// t0 is the clock of the tests: 2023-11-14T22:13:20Z.
const t0 = 1700000000

func fixedClock(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

func newTestSigner(secret []byte, older ...[]byte) *Signer {
	s := NewSigner(secret, older...)
	s.SetClock(fixedClock(t0))
	return s
}

// refEncode is an independent implementation of the documented format.
func refEncode(secret []byte, server string, issued int64) string {
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString([]byte(server)) + "." + strconv.FormatInt(issued, 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("l7lb-sticky-v2\x00" + payload))
	return payload + "." + enc.EncodeToString(m.Sum(nil)[:16])
}

// refEncodeV1 is the previous format, which is still accepted.
func refEncodeV1(secret []byte, server string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("l7lb-sticky-v1\x00" + server))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(server)) + "." + enc.EncodeToString(m.Sum(nil)[:16])
}

func TestSignerEncode(t *testing.T) {
	tests := []struct {
		server, want string
	}{
		// Pinned so that a change of format is caught; each equals
		// refEncode(testSecret, server, t0), computed with Python's hmac.
		{"s1", "czE.1700000000.9xAjFi7TPN_erfakEwP78w"},
		{"", ".1700000000.8GEDtnseLfjg9O1IG_igpw"},
		{"backend-eu-west-1", "YmFja2VuZC1ldS13ZXN0LTE.1700000000.9BXU5XUmgnZ4aPJzsRo6xg"},
	}
	s := newTestSigner(testSecret)
	for _, tt := range tests {
		if ref := refEncode(testSecret, tt.server, t0); ref != tt.want {
			t.Fatalf("refEncode(%q) = %q, the pinned value is %q", tt.server, ref, tt.want)
		}
		for range 2 { // computed, then cached
			if got := s.Encode(tt.server); got != tt.want {
				t.Errorf("Encode(%q) = %q, want %q", tt.server, got, tt.want)
			}
		}
	}
	// A second later, the value is issued anew.
	now := int64(t0)
	s = NewSigner(testSecret)
	s.SetClock(func() time.Time { return time.Unix(now, 0) })
	first := s.Encode("s1")
	now++
	if got, want := s.Encode("s1"), refEncode(testSecret, "s1", t0+1); got != want || got == first {
		t.Errorf("a second later Encode = %q, want %q", got, want)
	}
}

func TestSignerDecode(t *testing.T) {
	valid := refEncode(testSecret, "s1", t0)
	parts := strings.Split(valid, ".")
	mac := parts[2]
	tests := []struct {
		name, value string
		want        string // server, or "" when the value must be rejected
		verdict     Verdict
	}{
		{"valid", valid, "s1", Valid},
		{"valid, long id", refEncode(testSecret, "backend-eu-west-1", t0), "backend-eu-west-1", Valid},
		{"valid, odd bytes", refEncode(testSecret, "a.b\x00\xff", t0), "a.b\x00\xff", Valid},
		{"valid, issued earlier", refEncode(testSecret, "s1", 12345), "s1", Valid},
		{"previous format", refEncodeV1(testSecret, "s1"), "s1", Stale},
		{"previous format, other secret", refEncodeV1([]byte("other"), "s1"), "", Invalid},
		{"other secret", refEncode([]byte("other"), "s1", t0), "", Invalid},
		{"server swapped", "czI." + parts[1] + "." + mac, "", Invalid},
		{"issued changed", parts[0] + ".1700000001." + mac, "", Invalid},
		{"issued with a leading zero", parts[0] + ".01700000000." + mac, "", Invalid},
		{"issued zero", refEncode(testSecret, "s1", 0), "", Invalid},
		{"issued not a number", parts[0] + ".17e8." + mac, "", Invalid},
		{"issued empty", parts[0] + ".." + mac, "", Invalid},
		{"mac flipped", valid[:len(valid)-2] + "b" + valid[len(valid)-1:], "", Invalid},
		{"mac truncated", valid[:len(valid)-1], "", Invalid},
		{"mac extended", valid + "A", "", Invalid},
		{"mac padded", valid + "==", "", Invalid},
		{"mac trailing bits", valid[:len(valid)-1] + "B", "", Invalid},
		{"server trailing bits", "czF." + parts[1] + "." + mac, "", Invalid},
		{"line break", "cz\nE." + parts[1] + "." + mac, "", Invalid},
		{"line break, previous format", strings.Replace(refEncodeV1(testSecret, "s1"), "cz", "cz\n", 1), "", Invalid},
		{"padding in server", "czE=." + parts[1] + "." + mac, "", Invalid},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(valid), "", Invalid},
		{"no dot", strings.ReplaceAll(valid, ".", ""), "", Invalid},
		{"three dots", "x." + valid, "", Invalid},
		{"empty", "", "", Invalid},
		{"only dots", "..", "", Invalid},
		{"server only", "czE.", "", Invalid},
		{"not base64", "!!!." + parts[1] + "." + mac, "", Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cold := newTestSigner(testSecret) // nothing cached: the slow path
			warm := newTestSigner(testSecret) // every server cached: the fast path
			for _, server := range []string{"s1", "s2", "backend-eu-west-1", "a.b\x00\xff"} {
				warm.Encode(server)
			}
			for _, s := range []*Signer{cold, warm} {
				for range 2 { // checked, then perhaps cached
					c := s.Decode(tt.value, 0)
					if c.Verdict != tt.verdict || c.Server != tt.want {
						t.Errorf("Decode(%q) = %+v, want %q, %v", tt.value, c, tt.want, tt.verdict)
					}
				}
			}
		})
	}
}

// TestSignerRotation checks secrets: [new, old]: a value signed with the
// old secret is accepted as Stale and re-signed with the new one, keeping
// its issue time; a Signer with the old secret alone rejects the re-signed
// value, one with the new alone rejects the old value.
func TestSignerRotation(t *testing.T) {
	oldKey, newKey := []byte("old-secret"), []byte("new-secret")
	before := newTestSigner(oldKey)
	after := newTestSigner(newKey, oldKey)
	v := before.Encode("s2")
	c := after.Decode(v, 0)
	if c.Verdict != Stale || c.Server != "s2" || c.Issued != t0 {
		t.Fatalf("old value after rotation: %+v, want s2 issued %d, Stale", c, t0)
	}
	r := after.Resign(c)
	if want := refEncode(newKey, "s2", t0); r != want {
		t.Errorf("Resign = %q, want %q", r, want)
	}
	if c := after.Decode(r, 0); c.Verdict != Valid || c.Server != "s2" {
		t.Errorf("re-signed value: %+v, want s2 Valid", c)
	}
	if c := before.Decode(r, 0); c.Verdict != Invalid {
		t.Errorf("a Signer with the old secret only accepted the new value: %+v", c)
	}
	if c := newTestSigner(newKey).Decode(v, 0); c.Verdict != Invalid {
		t.Errorf("a Signer without the old secret accepted the old value: %+v", c)
	}
	// The previous format under an older secret is Stale too; Resign
	// issues it now.
	c = after.Decode(refEncodeV1(oldKey, "s3"), 0)
	if c.Verdict != Stale || c.Server != "s3" || c.Issued != 0 {
		t.Fatalf("v1 value under the old secret: %+v", c)
	}
	if r := after.Resign(c); r != refEncode(newKey, "s3", t0) {
		t.Errorf("Resign of a v1 value = %q", r)
	}
}

func TestSignerMaxAge(t *testing.T) {
	now := int64(t0)
	s := NewSigner(testSecret, []byte("older"))
	s.SetClock(func() time.Time { return time.Unix(now, 0) })
	v := s.Encode("s1")
	old := refEncode([]byte("older"), "s1", t0)
	v1 := refEncodeV1(testSecret, "s1")
	for _, tt := range []struct {
		age    int64
		maxAge time.Duration
		value  string
		want   Verdict
	}{
		{0, time.Minute, v, Valid},
		{60, time.Minute, v, Valid},
		{61, time.Minute, v, Expired},
		{1 << 30, 0, v, Valid},
		{61, time.Minute, old, Expired},
		{59, time.Minute, old, Stale},
		{1 << 30, time.Minute, v1, Stale},
	} {
		now = t0 + tt.age
		if c := s.Decode(tt.value, tt.maxAge); c.Verdict != tt.want || c.Server != "s1" {
			t.Errorf("%s after %ds, max age %v: %+v, want %v", tt.value, tt.age, tt.maxAge, c, tt.want)
		}
	}
}

func TestNewSigner(t *testing.T) {
	secret := []byte("secret")
	s := newTestSigner(secret)
	v := s.Encode("s1")
	secret[0] = 'X'
	if got := newTestSigner([]byte("secret")).Encode("s1"); got != v || refEncode([]byte("secret"), "s1", t0) != v {
		t.Error("the signer did not copy its secret")
	}
	for _, keys := range [][][]byte{{nil}, {[]byte("a"), nil}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewSigner(%q) did not panic", keys)
				}
			}()
			NewSigner(keys[0], keys[1:]...)
		}()
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(b) != 16 || len(id) != 22 {
			t.Fatalf("NewID() = %q: want 22 characters of base64url for 16 bytes (%v)", id, err)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

// TestSignerCacheBound checks that encoding many names keeps working once
// the cache is full.
func TestSignerCacheBound(t *testing.T) {
	s := newTestSigner(testSecret)
	for i := range maxCached + 10 {
		server := fmt.Sprint("s", i)
		v := s.Encode(server)
		if c := s.Decode(v, 0); c.Verdict != Valid || c.Server != server || v != refEncode(testSecret, server, t0) {
			t.Fatalf("server %q: value %q decodes to %+v", server, v, c)
		}
	}
	if n := len(*s.current.Load()); n != maxCached {
		t.Errorf("cache holds %d servers, want %d", n, maxCached)
	}
}

func TestSignerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newTestSigner(testSecret, []byte("older"))
	long := s.Encode("backend-eu-west-1")
	forged := long[:len(long)-1] + "x"
	for name, f := range map[string]func(){
		"Encode":              func() { s.Encode("backend-eu-west-1") },
		"Decode valid":        func() { s.Decode(long, 0) },
		"Decode with max age": func() { s.Decode(long, time.Hour) },
		"Decode forged":       func() { s.Decode(forged, 0) },
		"Decode malformed":    func() { s.Decode("no-dot", 0) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

// TestSignerConcurrent encodes and decodes from many goroutines, for the
// race detector, while the caches fill.
func TestSignerConcurrent(t *testing.T) {
	s := NewSigner(testSecret)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				server := fmt.Sprint("s", (i+g)%50)
				if c := s.Decode(s.Encode(server), time.Hour); c.Verdict != Valid || c.Server != server {
					t.Errorf("Decode(Encode(%q)) = %+v", server, c)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzSignerDecode checks that Decode never panics, accepts only canonical
// values, round-trips every server id and rejects any changed byte.
func FuzzSignerDecode(f *testing.F) {
	f.Add("czE.1700000000.9xAjFi7TPN_erfakEwP78w", "s1", uint(0), byte(1))
	f.Add("", "", uint(3), byte(0x80))
	f.Add(".", "a.b", uint(1), byte('.'))
	f.Add(refEncodeV1(testSecret, "s1"), "backend-eu-west-1", uint(30), byte(0xff))
	f.Add("cz\nE.1700000000.fZ7H-FLdcg9zE8XjBkOQVQ", "s2", uint(16), byte(1))
	s := newTestSigner(testSecret)
	f.Fuzz(func(t *testing.T, value, server string, pos uint, flip byte) {
		if c := s.Decode(value, 0); c.Verdict != Invalid {
			want := refEncodeV1(testSecret, c.Server)
			if c.Issued != 0 {
				want = refEncode(testSecret, c.Server, c.Issued)
			}
			if value != want {
				t.Fatalf("Decode(%q) accepted a value that is not the canonical %q", value, want)
			}
		}
		v := s.Encode(server)
		if c := s.Decode(v, 0); c.Verdict != Valid || c.Server != server {
			t.Fatalf("Decode(Encode(%q)) = %+v", server, c)
		}
		if flip == 0 {
			flip = 1
		}
		b := []byte(v)
		b[pos%uint(len(b))] ^= flip
		if c := s.Decode(string(b), 0); c.Verdict != Invalid {
			t.Fatalf("Decode(%q), %q with a byte changed, = %+v", string(b), v, c)
		}
	})
}

func BenchmarkSigner(b *testing.B) {
	s := NewSigner(testSecret)
	v := s.Encode("backend-eu-west-1")
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Encode("backend-eu-west-1")
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Decode(v, time.Hour)
		}
	})
	b.Run("DecodeForged", func(b *testing.B) {
		forged := v[:len(v)-1] + "x"
		b.ReportAllocs()
		for b.Loop() {
			s.Decode(forged, time.Hour)
		}
	})
}
