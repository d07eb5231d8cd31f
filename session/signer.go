package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// signContext separates these MACs from any other use of the same secret.
const signContext = "l7lb-sticky-v1\x00"

// macLen is how many bytes of the HMAC-SHA256 a value carries: 128 bits
// cannot be forged by guessing and keep the cookie short.
const macLen = 16

// maxCached bounds the cache of encoded values. Servers are few; the bound
// only matters if a caller encodes names without limit.
const maxCached = 1024

// b64 is unpadded base64url; Strict rejects non-zero trailing bits, so that
// every server id has exactly one accepted encoding.
var b64 = base64.RawURLEncoding.Strict()

// Signer encodes server ids into sticky cookie values that name the server
// without revealing its address and that cannot be forged without the
// secret. Instances sharing a secret accept each other's values. A Signer
// is safe for concurrent use.
//
// A value is
//
//	base64url(server id) + "." + base64url(HMAC-SHA256(secret, "l7lb-sticky-v1\x00" + server id)[:16])
//
// with unpadded base64url.
type Signer struct {
	secret []byte

	// cache holds the values of the servers seen so far, so that the hot
	// paths neither hash nor allocate. It is copied on write: readers load
	// it without a lock, and new servers are rare.
	cache atomic.Pointer[signerCache]
	mu    sync.Mutex // serializes writers of cache
}

type signerCache struct {
	byServer map[string]string       // server id → value
	byPrefix map[string]cachedServer // base64url(server id) → its value
}

type cachedServer struct {
	server, value string
}

// NewSigner returns a Signer using secret, which is copied. The secret
// should be at least 32 random bytes. NewSigner panics on an empty secret,
// which would make every value forgeable.
func NewSigner(secret []byte) *Signer {
	if len(secret) == 0 {
		panic("session: empty signing secret")
	}
	s := &Signer{secret: append([]byte(nil), secret...)}
	s.cache.Store(&signerCache{byServer: map[string]string{}, byPrefix: map[string]cachedServer{}})
	return s
}

// Encode returns the cookie value for server.
func (s *Signer) Encode(server string) string {
	if v, ok := s.cache.Load().byServer[server]; ok {
		return v
	}
	v := s.sign(server)
	s.remember(server, v)
	return v
}

// Decode checks a cookie value and returns the server id it names. ok is
// false when the value is malformed or its MAC does not match.
func (s *Signer) Decode(value string) (server string, ok bool) {
	prefix, _, found := strings.Cut(value, ".")
	if !found {
		return "", false
	}
	// The part before the dot is public, so looking it up is no leak; the
	// whole value is then compared in constant time.
	if c, ok := s.cache.Load().byPrefix[prefix]; ok {
		if !equal(value, c.value) {
			return "", false
		}
		return c.server, true
	}
	b, err := b64.DecodeString(prefix)
	if err != nil {
		return "", false
	}
	server = string(b)
	// Comparing with the canonical encoding checks the MAC and rejects
	// every other spelling of it (such as the line breaks base64 skips).
	want := s.sign(server)
	if !equal(value, want) {
		return "", false
	}
	s.remember(server, want)
	return server, true
}

// sign computes the value for server.
func (s *Signer) sign(server string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(signContext))
	m.Write([]byte(server))
	mac := m.Sum(nil)[:macLen]
	var b strings.Builder
	b.Grow(b64.EncodedLen(len(server)) + 1 + b64.EncodedLen(macLen))
	b.WriteString(b64.EncodeToString([]byte(server)))
	b.WriteByte('.')
	b.WriteString(b64.EncodeToString(mac))
	return b.String()
}

// remember adds server and its value to the cache, unless it is full.
func (s *Signer) remember(server, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cache.Load()
	if _, ok := old.byServer[server]; ok || len(old.byServer) >= maxCached {
		return
	}
	c := &signerCache{
		byServer: make(map[string]string, len(old.byServer)+1),
		byPrefix: make(map[string]cachedServer, len(old.byPrefix)+1),
	}
	maps.Copy(c.byServer, old.byServer)
	maps.Copy(c.byPrefix, old.byPrefix)
	// The server id may alias a caller's buffer; the prefix of value is a
	// fresh string, and so is this copy.
	server = strings.Clone(server)
	c.byServer[server] = value
	c.byPrefix[value[:strings.IndexByte(value, '.')]] = cachedServer{server, value}
	s.cache.Store(c)
}

// equal reports whether a and b are equal in time that depends only on
// their lengths, which are public. crypto/subtle wants byte slices, and
// converting the strings would allocate.
func equal(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range len(a) {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
