package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/maphash"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The contexts separate these MACs from any other use of the same secret,
// and the two formats from each other.
const (
	contextV2 = "l7lb-sticky-v2\x00"
	contextV1 = "l7lb-sticky-v1\x00"
)

// macLen is how many bytes of the HMAC-SHA256 a value carries: 128 bits
// cannot be forged by guessing and keep the cookie short.
const macLen = 16

// macText is the length of the MAC in unpadded base64url.
const macText = 22

// maxCached bounds the servers whose current value is cached. Servers are
// few; the bound only matters if a caller encodes names without limit.
const maxCached = 1024

// verifiedSlots is the size of the cache of verified values (a power of
// two): the values of that many clients are checked without a MAC.
const verifiedSlots = 4096

// b64 is unpadded base64url; Strict rejects non-zero trailing bits, so that
// every server id has exactly one accepted encoding.
var b64 = base64.RawURLEncoding.Strict()

// A Signer encodes server ids into sticky cookie values that name the
// server and the time they were issued, without revealing the server's
// address, and that cannot be forged without a secret. Instances sharing a
// secret accept each other's values. A Signer is safe for concurrent use.
//
// A value is
//
//	base64url(server id) "." issued "." base64url(MAC)
//
// with unpadded base64url; issued is the Unix time in seconds at which it
// was signed, in decimal; MAC is the first 16 bytes of
// HMAC-SHA256(secret, "l7lb-sticky-v2\x00" + the value up to its last dot).
//
// The first secret signs; every secret verifies, so that secrets rotate
// without breaking sessions. Values of the previous format (v1),
//
//	base64url(server id) "." base64url(HMAC-SHA256(secret, "l7lb-sticky-v1\x00" + server id)[:16])
//
// are still accepted, as Stale, so that they are re-issued once.
type Signer struct {
	keys [][]byte
	now  func() time.Time
	seed maphash.Seed
	// scratch holds the keyed MACs and buffers of a verification, so that
	// checking a value allocates nothing.
	scratch sync.Pool

	// verified caches values checked (or issued) before, by a hash of the
	// value: a client's value is checked without a MAC from its second
	// request on. A slot holds one value; a collision only costs a MAC.
	verified [verifiedSlots]atomic.Pointer[verifiedValue]

	// current holds each server's value for the current second, so that
	// issuing neither hashes nor allocates. The map is copied on write:
	// readers load it without a lock, and new servers are rare.
	current atomic.Pointer[map[string]*atomic.Pointer[stamped]]
	mu      sync.Mutex // serializes writers of current
}

type verifiedValue struct {
	value, server string
	issued        int64 // Unix seconds; 0 for a v1 value
	stale         bool  // signed by an older secret, or v1
}

type stamped struct {
	issued int64
	value  string
}

type scratch struct {
	macs []hash.Hash // one per key
	in   []byte
	dec  []byte
	sum  [sha256.Size]byte
	enc  [macText]byte
}

// Verdict is what checking a cookie value found.
type Verdict uint8

// The verdicts.
const (
	Invalid Verdict = iota // malformed, or signed by no secret of the Signer
	Valid                  // signed by the first secret, not expired
	Stale                  // valid, but signed by an older secret or in the v1 format: Resign it
	Expired                // signed, but issued longer ago than the max age
)

// Cookie is a checked cookie value.
type Cookie struct {
	Server  string
	Issued  int64 // Unix seconds; 0 for a v1 value
	Verdict Verdict
}

// NewSigner returns a Signer that signs with secret and also accepts
// values signed with each of older. The secrets are copied and should be
// at least 32 random bytes each. NewSigner panics on an empty secret,
// which would make every value forgeable.
func NewSigner(secret []byte, older ...[]byte) *Signer {
	s := &Signer{now: time.Now, seed: maphash.MakeSeed()}
	for _, k := range append([][]byte{secret}, older...) {
		if len(k) == 0 {
			panic("session: empty signing secret")
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	s.scratch.New = func() any {
		sc := &scratch{}
		for _, k := range s.keys {
			sc.macs = append(sc.macs, hmac.New(sha256.New, k))
		}
		return sc
	}
	s.current.Store(&map[string]*atomic.Pointer[stamped]{})
	return s
}

// SetClock makes the Signer read the time from now instead of time.Now.
// Call it before any other method.
func (s *Signer) SetClock(now func() time.Time) { s.now = now }

// NewID returns a new random session id: 128 bits from crypto/rand in
// unpadded base64url (22 characters), which nobody can guess and which
// says nothing about the instance that issued it.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Encode returns the cookie value for server, issued now.
func (s *Signer) Encode(server string) string {
	now := s.now().Unix()
	slot := (*s.current.Load())[server]
	if slot != nil {
		if st := slot.Load(); st != nil && st.issued == now {
			return st.value
		}
	}
	v := s.sign(server, now)
	if slot == nil {
		slot = s.slot(server)
	}
	if slot != nil {
		slot.Store(&stamped{issued: now, value: v})
	}
	return v
}

// Resign returns c's value signed with the first secret, in the current
// format, with its issue time kept (a v1 value is issued now).
func (s *Signer) Resign(c Cookie) string {
	if c.Issued == 0 {
		return s.Encode(c.Server)
	}
	return s.sign(c.Server, c.Issued)
}

// Decode checks a cookie value. With maxAge above zero, a value issued
// longer ago is Expired; a v1 value, whose issue time is unknown, is Stale
// (re-issued now) rather than Expired.
func (s *Signer) Decode(value string, maxAge time.Duration) Cookie {
	v := s.verified[maphash.String(s.seed, value)&(verifiedSlots-1)].Load()
	// The slot is public (it follows from the value); the value is then
	// compared in constant time.
	if v == nil || !equal(value, v.value) {
		if v = s.verify(value); v == nil {
			return Cookie{}
		}
	}
	c := Cookie{Server: v.server, Issued: v.issued, Verdict: Valid}
	switch {
	case maxAge > 0 && v.issued != 0 && s.now().Sub(time.Unix(v.issued, 0)) > maxAge:
		c.Verdict = Expired
	case v.stale:
		c.Verdict = Stale
	}
	return c
}

// verify checks value with every secret and caches it when it is valid.
func (s *Signer) verify(value string) *verifiedValue {
	dot := strings.LastIndexByte(value, '.')
	// base64 decoding skips line breaks: a v1 value, whose MAC covers
	// the decoded server id, would have more than one spelling.
	if dot < 0 || len(value)-dot-1 != macText || strings.ContainsAny(value, "\r\n") {
		return nil
	}
	payload, mac := value[:dot], value[dot+1:]
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	var issued int64
	var err error
	if prefix, text, ok := strings.Cut(payload, "."); ok {
		if issued = parseIssued(text); issued == 0 {
			return nil
		}
		sc.in = append(sc.in[:0], prefix...)
		if sc.dec, err = b64.AppendDecode(sc.dec[:0], sc.in); err != nil {
			return nil
		}
		sc.in = append(append(sc.in[:0], contextV2...), payload...)
	} else {
		sc.in = append(sc.in[:0], payload...)
		if sc.dec, err = b64.AppendDecode(sc.dec[:0], sc.in); err != nil {
			return nil
		}
		sc.in = append(append(sc.in[:0], contextV1...), sc.dec...)
	}
	key := -1
	for i, m := range sc.macs {
		m.Reset()
		m.Write(sc.in)
		b64.Encode(sc.enc[:], m.Sum(sc.sum[:0])[:macLen])
		if equalBytes(mac, sc.enc[:]) && key < 0 {
			key = i
		}
	}
	if key < 0 {
		return nil
	}
	v := &verifiedValue{value: strings.Clone(value), server: string(sc.dec), issued: issued, stale: issued == 0 || key > 0}
	s.verified[maphash.String(s.seed, value)&(verifiedSlots-1)].Store(v)
	return v
}

// parseIssued parses a canonical positive decimal Unix time, or returns 0.
func parseIssued(s string) int64 {
	if s == "" || s[0] == '0' || len(s) > 18 {
		return 0
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// sign returns the value for server issued at issued, signed with the
// first secret, and caches it as verified.
func (s *Signer) sign(server string, issued int64) string {
	var b strings.Builder
	b.Grow(b64.EncodedLen(len(server)) + 21 + macText)
	b.WriteString(b64.EncodeToString([]byte(server)))
	b.WriteByte('.')
	b.WriteString(strconv.FormatInt(issued, 10))
	m := hmac.New(sha256.New, s.keys[0])
	m.Write([]byte(contextV2))
	m.Write([]byte(b.String()))
	b.WriteByte('.')
	b.WriteString(b64.EncodeToString(m.Sum(nil)[:macLen]))
	v := b.String()
	s.verified[maphash.String(s.seed, v)&(verifiedSlots-1)].Store(&verifiedValue{value: v, server: strings.Clone(server), issued: issued})
	return v
}

// slot returns the cache slot of server's current value, adding it unless
// the cache is full (then nil).
func (s *Signer) slot(server string) *atomic.Pointer[stamped] {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.current.Load()
	if slot, ok := old[server]; ok {
		return slot
	}
	if len(old) >= maxCached {
		return nil
	}
	c := make(map[string]*atomic.Pointer[stamped], len(old)+1)
	maps.Copy(c, old)
	// The server id may alias a caller's buffer.
	slot := new(atomic.Pointer[stamped])
	c[strings.Clone(server)] = slot
	s.current.Store(&c)
	return slot
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

// equalBytes is equal for a string and a byte slice.
func equalBytes(a string, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range len(a) {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
