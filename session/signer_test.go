package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
)

var testSecret = []byte("test-secret")

// refEncode is an independent implementation of the documented format.
func refEncode(secret []byte, server string) string {
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
		// refEncode(testSecret, server).
		{"s1", "czE.7UM9_ryynXaQodqMeuP4kA"},
		{"", ".TBKPBnFXt9Mzofr4PXPo3w"},
		{"backend-eu-west-1", "YmFja2VuZC1ldS13ZXN0LTE.6d-WuO2UGZ_enCwX-IZRlA"},
	}
	s := NewSigner(testSecret)
	for _, tt := range tests {
		if ref := refEncode(testSecret, tt.server); ref != tt.want {
			t.Fatalf("refEncode(%q) = %q, the pinned value is %q", tt.server, ref, tt.want)
		}
		for range 2 { // computed, then cached
			if got := s.Encode(tt.server); got != tt.want {
				t.Errorf("Encode(%q) = %q, want %q", tt.server, got, tt.want)
			}
		}
	}
}

func TestSignerDecode(t *testing.T) {
	valid := refEncode(testSecret, "s1")
	tests := []struct {
		name, value string
		want        string // server, or "" when the value must be rejected
	}{
		{"valid", valid, "s1"},
		{"valid, long id", refEncode(testSecret, "backend-eu-west-1"), "backend-eu-west-1"},
		{"valid, odd bytes", refEncode(testSecret, "a.b\x00\xff"), "a.b\x00\xff"},
		{"other secret", refEncode([]byte("other"), "s1"), ""},
		{"server swapped", "czI" + valid[3:], ""},
		{"mac flipped", valid[:len(valid)-2] + "b" + valid[len(valid)-1:], ""},
		{"mac truncated", valid[:len(valid)-1], ""},
		{"mac extended", valid + "A", ""},
		{"mac padded", valid + "==", ""},
		{"mac trailing bits", valid[:len(valid)-1] + "B", ""},
		{"server trailing bits", "czF" + valid[3:], ""},
		{"line break", "cz\nE" + valid[3:], ""},
		{"padding in server", "czE=" + valid[3:], ""},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(valid), ""},
		{"no dot", strings.Replace(valid, ".", "", 1), ""},
		{"two dots", valid + ".", ""},
		{"empty", "", ""},
		{"only a dot", ".", ""},
		{"server only", "czE.", ""},
		{"not base64", "!!!." + valid[4:], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cold := NewSigner(testSecret) // nothing cached: the slow path
			warm := NewSigner(testSecret) // every server cached: the fast path
			for _, server := range []string{"s1", "s2", "backend-eu-west-1", "a.b\x00\xff"} {
				warm.Encode(server)
			}
			for _, s := range []*Signer{cold, warm} {
				got, ok := s.Decode(tt.value)
				if ok != (tt.want != "") || got != tt.want {
					t.Errorf("Decode(%q) = %q, %v, want %q", tt.value, got, ok, tt.want)
				}
			}
		})
	}
}

// TestSignerSharedSecret checks that instances sharing a secret accept each
// other's values and others do not.
func TestSignerSharedSecret(t *testing.T) {
	a, b := NewSigner([]byte("shared")), NewSigner([]byte("shared"))
	other := NewSigner([]byte("other"))
	v := a.Encode("s2")
	if got, ok := b.Decode(v); !ok || got != "s2" {
		t.Errorf("second instance: Decode = %q, %v, want s2, true", got, ok)
	}
	if got, ok := other.Decode(v); ok {
		t.Errorf("instance with another secret: Decode = %q, true", got)
	}
}

func TestNewSigner(t *testing.T) {
	secret := []byte("secret")
	s := NewSigner(secret)
	v := s.Encode("s1")
	secret[0] = 'X'
	if got := NewSigner([]byte("secret")).Encode("s1"); got != v || refEncode([]byte("secret"), "s1") != v {
		t.Error("the signer did not copy its secret")
	}
	defer func() {
		if recover() == nil {
			t.Error("NewSigner(nil) did not panic")
		}
	}()
	NewSigner(nil)
}

// TestSignerCacheBound checks that encoding many names keeps working once
// the cache is full.
func TestSignerCacheBound(t *testing.T) {
	s := NewSigner(testSecret)
	for i := range maxCached + 10 {
		server := fmt.Sprint("s", i)
		v := s.Encode(server)
		if got, ok := s.Decode(v); !ok || got != server || v != refEncode(testSecret, server) {
			t.Fatalf("server %q: value %q decodes to %q, %v", server, v, got, ok)
		}
	}
	if n := len(s.cache.Load().byServer); n != maxCached {
		t.Errorf("cache holds %d servers, want %d", n, maxCached)
	}
}

func TestSignerAllocs(t *testing.T) {
	s := NewSigner(testSecret)
	long := s.Encode("backend-eu-west-1")
	forged := long[:len(long)-1] + "x"
	for name, f := range map[string]func(){
		"Encode":           func() { s.Encode("backend-eu-west-1") },
		"Decode valid":     func() { s.Decode(long) },
		"Decode forged":    func() { s.Decode(forged) },
		"Decode malformed": func() { s.Decode("no-dot") },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

// TestSignerConcurrent encodes and decodes from many goroutines, for the
// race detector, while the cache fills.
func TestSignerConcurrent(t *testing.T) {
	s := NewSigner(testSecret)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				server := fmt.Sprint("s", (i+g)%50)
				if got, ok := s.Decode(s.Encode(server)); !ok || got != server {
					t.Errorf("Decode(Encode(%q)) = %q, %v", server, got, ok)
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
	f.Add("czE.7UM9_ryynXaQodqMeuP4kA", "s1", uint(0), byte(1))
	f.Add("", "", uint(3), byte(0x80))
	f.Add(".", "a.b", uint(1), byte('.'))
	f.Add("cz\nE.7UM9_ryynXaQodqMeuP4kA", "backend-eu-west-1", uint(30), byte(0xff))
	s := NewSigner(testSecret)
	f.Fuzz(func(t *testing.T, value, server string, pos uint, flip byte) {
		if got, ok := s.Decode(value); ok && s.Encode(got) != value {
			t.Fatalf("Decode(%q) accepted a value that is not Encode(%q) = %q", value, got, s.Encode(got))
		}
		v := s.Encode(server)
		if got, ok := s.Decode(v); !ok || got != server {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", server, got, ok)
		}
		if flip == 0 {
			flip = 1
		}
		b := []byte(v)
		b[pos%uint(len(b))] ^= flip
		if got, ok := s.Decode(string(b)); ok {
			t.Fatalf("Decode(%q), %q with a byte changed, = %q, true", string(b), v, got)
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
			s.Decode(v)
		}
	})
	b.Run("DecodeForged", func(b *testing.B) {
		forged := v[:len(v)-1] + "x"
		b.ReportAllocs()
		for b.Loop() {
			s.Decode(forged)
		}
	})
}
