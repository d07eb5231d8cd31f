package config

import (
	"crypto/tls"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Listener is one address the proxy serves on and what it speaks there.
// `listen: ADDR` is the same as one plaintext Listener with that address.
type Listener struct {
	Address string
	TLS     *ListenerTLS // nil: plaintext HTTP

	// Plaintext listeners only.
	H2C           bool // HTTP/2 with prior knowledge, beside HTTP/1.1
	RedirectHTTPS int  // answer every request with 308 to https on this port; 0 = off

	// TLS listeners only.
	HSTS *HSTS // the Strict-Transport-Security header on every response; nil = none
}

// ListenerTLS is what a TLS listener serves: its certificates (selected by
// SNI from their names), the protocol floor and session resumption.
type ListenerTLS struct {
	Certificates []CertPair
	// Default indexes Certificates: the certificate for a client that sends
	// no server name, or one that no certificate has. 0 when Certificates is
	// empty (ACME only: the first ACME domain's certificate is the default).
	Default    int
	MinVersion uint16 // tls.VersionTLS12 or tls.VersionTLS13
	// Curves are the key exchange groups offered, in order of preference
	// (tls.Config.CurvePreferences); nil = Go's defaults, which put the
	// hybrid post-quantum X25519MLKEM768 first.
	Curves []tls.CurveID
	// SessionTicketKeys is a file of ticket keys shared by every instance
	// that serves this listener; "" = keys of this process only, rotated
	// automatically.
	SessionTicketKeys string
	ACME              *ACME // nil: no ACME
}

// CertPair is a certificate chain file and its private key file (PEM).
type CertPair struct{ Cert, Key string }

// ACME obtains and renews certificates for Domains from an ACME CA.
type ACME struct {
	CA      string   // directory URL
	Email   string   // contact for the CA; "" = none
	Domains []string // lower case, no trailing dot, no wildcard
	Storage string   // directory for the account key and certificates
	CARoot  string   // PEM file of the roots to trust for the CA's URL; "" = the system's
}

// HSTS is a Strict-Transport-Security policy (RFC 6797).
type HSTS struct {
	MaxAge            time.Duration // whole seconds
	IncludeSubdomains bool
}

// Value is the Strict-Transport-Security header value of h.
func (h HSTS) Value() string {
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge/time.Second), 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	return v
}

// Defaults of the listeners block.
const (
	DefaultACMECA     = "https://acme-v02.api.letsencrypt.org/directory" // Let's Encrypt
	DefaultHSTSMaxAge = 365 * 24 * time.Hour
)

// decodeListeners decodes `listen` or `listeners` of the file v into
// f.Listeners; with serve one of them is required. It runs after the other
// keys, so that the admin address is known.
func (d *decoder) decodeListeners(v *Value, f *File, serve bool) {
	if v.Kind != Map {
		return
	}
	listen, list := v.Get("listen"), v.Get("listeners")
	switch {
	case listen != nil && list != nil:
		d.fail("listeners", list, "give listen or listeners, not both")
	case listen != nil:
		if a, ok := d.address("listen", listen); ok {
			f.Listeners = []Listener{{Address: a}}
		}
	case list != nil:
		f.Listeners = d.listenerList("listeners", list)
	case serve:
		d.fail("listen", v, "missing (give listen or listeners)")
	}
	d.checkAddresses(list, f)
}

func (d *decoder) listenerList(path string, v *Value) []Listener {
	if !d.want(path, v, List) {
		return nil
	}
	if len(v.List) == 0 {
		d.fail(path, v, "must not be empty")
	}
	out := make([]Listener, 0, len(v.List))
	for i, el := range v.List {
		out = append(out, d.listener(Index(path, i), el))
	}
	return out
}

func (d *decoder) listener(path string, v *Value) Listener {
	var l Listener
	d.fields(path, v, map[string]func(string, *Value){
		"address": func(p string, val *Value) { l.Address, _ = d.address(p, val) },
		"tls":     func(p string, val *Value) { l.TLS = d.listenerTLS(p, val) },
		"h2c": func(p string, val *Value) {
			if d.want(p, val, Bool) {
				l.H2C = val.Bool
			}
		},
		"redirect_https": d.intTo(&l.RedirectHTTPS, 1, 65535),
		"hsts":           func(p string, val *Value) { l.HSTS = d.hsts(p, val) },
	})
	if v.Kind != Map {
		return l
	}
	if v.Get("address") == nil {
		d.fail(Join(path, "address"), v, "missing")
	}
	if v.Get("tls") != nil {
		if val := v.Get("h2c"); val != nil {
			d.fail(Join(path, "h2c"), val, "only on a plaintext listener (a TLS listener offers h2 by ALPN)")
		}
		if val := v.Get("redirect_https"); val != nil {
			d.fail(Join(path, "redirect_https"), val, "only on a plaintext listener")
		}
	} else if val := v.Get("hsts"); val != nil {
		d.fail(Join(path, "hsts"), val, "only on a TLS listener (browsers ignore it over plain HTTP)")
	}
	return l
}

func (d *decoder) listenerTLS(path string, v *Value) *ListenerTLS {
	t := &ListenerTLS{MinVersion: tls.VersionTLS12}
	var def *Value
	d.fields(path, v, map[string]func(string, *Value){
		"certificates": func(p string, val *Value) { t.Certificates = d.certPairs(p, val) },
		"default": func(p string, val *Value) {
			if _, ok := d.nonEmpty(p, val); ok {
				def = val
			}
		},
		"min_version": func(p string, val *Value) {
			if ver, ok := d.tlsVersion(p, val); ok {
				t.MinVersion = ver
			}
		},
		"session_ticket_keys": func(p string, val *Value) { t.SessionTicketKeys, _ = d.nonEmpty(p, val) },
		"acme":                func(p string, val *Value) { t.ACME = d.acme(p, val) },
		"curves":              func(p string, val *Value) { t.Curves = d.curves(p, val) },
	})
	if v.Kind != Map {
		return t
	}
	if val := v.Get("curves"); val != nil && t.MinVersion < tls.VersionTLS13 && len(t.Curves) > 0 && !slices.ContainsFunc(t.Curves, isClassicalCurve) {
		d.fail(Join(path, "curves"), val, `only TLS 1.3 groups, so a TLS 1.2 client could not connect: add a classical one (x25519, p256) or set min_version "1.3"`)
	}
	if v.Get("certificates") == nil && v.Get("acme") == nil {
		d.fail(Join(path, "certificates"), v, "missing (give certificates, acme or both)")
	}
	if def != nil {
		t.Default = -1
		names := make([]string, len(t.Certificates))
		for i, c := range t.Certificates {
			names[i] = c.Cert
			if c.Cert == def.Str && t.Default < 0 {
				t.Default = i
			}
		}
		if t.Default < 0 {
			msg := "no certificates entry has this cert"
			if len(names) > 0 {
				msg += " (want one of " + strings.Join(names, ", ") + ")"
			}
			d.fail(Join(path, "default"), def, msg)
			t.Default = 0
		}
	}
	return t
}

// certPairs decodes a list of {cert, key}, each file named once.
func (d *decoder) certPairs(path string, v *Value) []CertPair {
	if !d.want(path, v, List) {
		return nil
	}
	if len(v.List) == 0 {
		d.fail(path, v, "must not be empty")
	}
	out := make([]CertPair, 0, len(v.List))
	for i, el := range v.List {
		p := Index(path, i)
		cert, key, ok := d.pair(p, el, "cert", "key")
		if !ok {
			continue
		}
		if cert == "" || key == "" {
			field := "cert"
			if cert != "" {
				field = "key"
			}
			d.fail(Join(p, field), el.Get(field), "must not be empty")
			continue
		}
		for j, prev := range out {
			if prev.Cert == cert {
				d.fail(Join(p, "cert"), el.Get("cert"), "duplicate "+cert+" (also certificates["+strconv.Itoa(j)+"])")
			}
		}
		out = append(out, CertPair{Cert: cert, Key: key})
	}
	return out
}

// tlsVersion decodes "1.2" or "1.3"; an unquoted YAML 1.2 is a number with
// the same text, and is taken too.
func (d *decoder) tlsVersion(path string, v *Value) (uint16, bool) {
	if v.Kind == String || v.Kind == Number {
		switch v.Str {
		case "1.2":
			return tls.VersionTLS12, true
		case "1.3":
			return tls.VersionTLS13, true
		case "1.0", "1.1":
			d.fail(path, v, `TLS 1.0 and 1.1 are not offered (RFC 8996); want "1.2" or "1.3"`)
			return 0, false
		}
	}
	d.fail(path, v, `want "1.2" or "1.3"`)
	return 0, false
}

// curveNames maps the names tls.curves takes to the groups they stand
// for: Go's names in lower case, and the IANA (RFC 8446) names of the
// NIST curves, which OpenSSL, HAProxy (curves) and nginx (ssl_ecdh_curve)
// take too. The first name of a group is how the canonical form writes it.
var curveNames = []struct {
	name  string
	curve tls.CurveID
}{
	{"x25519", tls.X25519},
	{"p256", tls.CurveP256},
	{"p384", tls.CurveP384},
	{"p521", tls.CurveP521},
	{"x25519mlkem768", tls.X25519MLKEM768},
	{"secp256r1mlkem768", tls.SecP256r1MLKEM768},
	{"secp384r1mlkem1024", tls.SecP384r1MLKEM1024},
	{"secp256r1", tls.CurveP256},
	{"prime256v1", tls.CurveP256},
	{"secp384r1", tls.CurveP384},
	{"secp521r1", tls.CurveP521},
}

// curveChoices lists the canonical names, for an error.
var curveChoices = func() string {
	var names []string
	for _, n := range curveNames {
		if curveName(n.curve) == n.name {
			names = append(names, n.name)
		}
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}()

// curveName is the canonical name of c (see curveNames).
func curveName(c tls.CurveID) string {
	for _, n := range curveNames {
		if n.curve == c {
			return n.name
		}
	}
	return c.String()
}

// isClassicalCurve reports whether c is an elliptic curve group, which TLS
// 1.2 can use too (the hybrid post-quantum ones are TLS 1.3 only).
func isClassicalCurve(c tls.CurveID) bool {
	switch c {
	case tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521:
		return true
	}
	return false
}

// curves decodes a list of key exchange group names (case-insensitive),
// each group once, in order of preference.
func (d *decoder) curves(path string, v *Value) []tls.CurveID {
	list, ok := d.strings(path, v)
	if !ok {
		return nil
	}
	if len(list) == 0 {
		d.fail(path, v, "must not be empty (leave curves out for Go's defaults)")
		return nil
	}
	out := make([]tls.CurveID, 0, len(list))
	for i, s := range list {
		p, el := Index(path, i), v.List[i]
		c, found := tls.CurveID(0), false
		for _, n := range curveNames {
			if strings.EqualFold(s, n.name) {
				c, found = n.curve, true
				break
			}
		}
		if !found {
			d.fail(p, el, "unknown group "+strconv.Quote(s)+" (want "+curveChoices+")")
			continue
		}
		if j := slices.Index(out, c); j >= 0 {
			d.fail(p, el, "duplicate "+curveName(c)+" (also "+Index(path, j)+")")
			continue
		}
		out = append(out, c)
	}
	return out
}

func (d *decoder) acme(path string, v *Value) *ACME {
	a := &ACME{CA: DefaultACMECA}
	d.fields(path, v, map[string]func(string, *Value){
		"ca": func(p string, val *Value) {
			if s, ok := d.nonEmpty(p, val); ok {
				if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
					d.fail(p, val, "want the https:// URL of the CA's ACME directory")
				}
				a.CA = s
			}
		},
		"email": func(p string, val *Value) {
			if s, ok := d.nonEmpty(p, val); ok {
				if at := strings.IndexByte(s, '@'); at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t,") {
					d.fail(p, val, "want an email address")
				}
				a.Email = s
			}
		},
		"domains": func(p string, val *Value) { a.Domains = d.acmeDomains(p, val) },
		"storage": func(p string, val *Value) { a.Storage, _ = d.nonEmpty(p, val) },
		"ca_root": func(p string, val *Value) { a.CARoot, _ = d.nonEmpty(p, val) },
	})
	if v.Kind == Map {
		if v.Get("domains") == nil {
			d.fail(Join(path, "domains"), v, "missing")
		}
		if v.Get("storage") == nil {
			d.fail(Join(path, "storage"), v, "missing (the account key and the certificates are kept there; without it every start would order new certificates)")
		}
	}
	return a
}

// acmeDomains decodes the names ACME obtains certificates for: host names
// of two labels or more, normalised to lower case without a trailing dot.
func (d *decoder) acmeDomains(path string, v *Value) []string {
	list, ok := d.strings(path, v)
	if !ok {
		return nil
	}
	if len(list) == 0 {
		d.fail(path, v, "must not be empty")
	}
	out := make([]string, 0, len(list))
	for i, s := range list {
		p, el := Index(path, i), v.List[i]
		name := strings.ToLower(strings.TrimSuffix(s, "."))
		switch {
		case strings.Contains(name, "*"):
			d.fail(p, el, "a wildcard needs the DNS-01 challenge, which l7lb does not answer; list each name")
			continue
		case isIP(name):
			d.fail(p, el, "an IP address; ACME here is for host names")
			continue
		case !validHostname(name):
			d.fail(p, el, "not a host name of two labels or more")
			continue
		}
		for _, prev := range out {
			if prev == name {
				d.fail(p, el, "duplicate "+name)
			}
		}
		out = append(out, name)
	}
	return out
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

// validHostname reports whether s is a DNS host name (LDH labels of 1 to 63
// bytes, 253 in all) with at least two labels.
func validHostname(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (d *decoder) hsts(path string, v *Value) *HSTS {
	h := &HSTS{MaxAge: DefaultHSTSMaxAge}
	d.fields(path, v, map[string]func(string, *Value){
		"max_age": func(p string, val *Value) {
			// 0 is meaningful: it tells browsers to forget the policy.
			if val.Kind == Number && val.Str == "0" || val.Kind == String && (val.Str == "0" || val.Str == "0s") {
				h.MaxAge = 0
			} else if dur, ok := d.duration(p, val); ok {
				h.MaxAge = dur.Truncate(time.Second)
			}
		},
		"include_subdomains": func(p string, val *Value) {
			if d.want(p, val, Bool) {
				h.IncludeSubdomains = val.Bool
			}
		},
	})
	return h
}

// checkAddresses reports listeners that would bind the same address as an
// earlier one or as the admin listener (see clash).
func (d *decoder) checkAddresses(list *Value, f *File) {
	path := func(i int) string {
		if list == nil {
			return "listen"
		}
		return Join(Index("listeners", i), "address")
	}
	for i, l := range f.Listeners {
		for j := range i {
			if msg := clash(l.Address, f.Listeners[j].Address, path(j)); msg != "" {
				d.fail(path(i), nil, msg)
				break
			}
		}
		if f.Admin != "" {
			if msg := clash(f.Admin, l.Address, path(i)); msg != "" {
				d.fail("admin", nil, msg)
			}
		}
	}
}

// clash says why a socket bound to a cannot coexist with one bound to b,
// the address of the field other, or returns "": the same host and port,
// or the same port with either host a wildcard. An empty host and :: take
// the port on every address (on Linux an IPv6 wildcard socket takes IPv4
// too), 0.0.0.0 on every IPv4 address; a host name is assumed to overlap a
// wildcard.
func clash(a, b, other string) string {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return ""
	}
	ia, erra := netip.ParseAddr(ha)
	ib, errb := netip.ParseAddr(hb)
	switch {
	case strings.EqualFold(ha, hb) || erra == nil && errb == nil && ia.Unmap() == ib.Unmap():
		return "the same address as " + other + " (" + b + ")"
	case takesAll(hb, ha):
		return "overlaps " + other + " (" + b + " takes port " + pb + " on every address)"
	case takesAll(ha, hb):
		return "overlaps " + other + " (" + a + " takes port " + pa + " on every address)"
	}
	return ""
}

// resolvePaths makes the file names of the listeners, the servers and the
// access log absolute, relative to dir (the configuration file's
// directory), so that they do not depend on where l7lb was started.
func (f *File) resolvePaths(dir string) {
	if f.Fleet != nil {
		f.Fleet.resolve(dir)
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if a := f.AccessLog; a != nil && a.Path != "stdout" {
		abs(&a.Path)
	}
	for i := range f.Listeners {
		t := f.Listeners[i].TLS
		if t == nil {
			continue
		}
		for j := range t.Certificates {
			abs(&t.Certificates[j].Cert)
			abs(&t.Certificates[j].Key)
		}
		abs(&t.SessionTicketKeys)
		if t.ACME != nil {
			abs(&t.ACME.Storage)
			abs(&t.ACME.CARoot)
		}
	}
	for i := range f.Servers {
		if t := f.Servers[i].TLS; t != nil {
			abs(&t.CA)
			abs(&t.Cert)
			abs(&t.Key)
		}
	}
}

// ListenerWarnings returns what is valid in the listeners block but likely
// a mistake: a redirect_https to a port that no TLS listener of the file
// has (right only when something else serves HTTPS there).
func (f *File) ListenerWarnings() Errors {
	tlsPorts := map[string]bool{}
	for _, l := range f.Listeners {
		if _, port, err := net.SplitHostPort(l.Address); err == nil && l.TLS != nil {
			tlsPorts[port] = true
		}
	}
	var ws Errors
	for i, l := range f.Listeners {
		if port := strconv.Itoa(l.RedirectHTTPS); l.RedirectHTTPS != 0 && !tlsPorts[port] {
			ws = append(ws, &FieldError{Path: Join(Index("listeners", i), "redirect_https"), Msg: "no TLS listener here has port " + port})
		}
	}
	return ws
}
