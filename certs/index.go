package certs

import (
	"crypto/tls"
	"net"
	"net/netip"
	"strings"

	"l7lb/httpmsg"
)

// index maps server names to certificates, built once per set of loaded
// certificates so that choosing one is a map lookup or two per handshake.
type index struct {
	certs    []*tls.Certificate            // every certificate, in configuration order
	exact    map[string][]*tls.Certificate // DNS names and IP addresses
	wildcard map[string][]*tls.Certificate // "*.example.com" under "example.com"
	fallback *tls.Certificate              // the default; nil when there is none
}

// newIndex indexes certs by the names in their leaves' SANs, in order: for
// a name that several certificates have, the first one the client supports
// is chosen (an ECDSA and an RSA certificate for the same names, say).
// certs[def] is the default; def < 0 means none.
func newIndex(certs []*tls.Certificate, def int) *index {
	ix := &index{certs: certs, exact: map[string][]*tls.Certificate{}, wildcard: map[string][]*tls.Certificate{}}
	for _, c := range certs {
		for _, name := range Names(c) {
			if suffix, ok := strings.CutPrefix(name, "*."); ok {
				ix.wildcard[suffix] = append(ix.wildcard[suffix], c)
			} else {
				ix.exact[name] = append(ix.exact[name], c)
			}
		}
	}
	if def >= 0 && def < len(certs) {
		ix.fallback = certs[def]
	}
	return ix
}

// Names returns the names a certificate is served for: the DNS names of its
// leaf's SANs, lower case without a trailing dot, then its IP addresses.
// Names other than exact ones and "*." wildcards of one label (RFC 6125
// 6.4.3 partial wildcards such as "w*.example.com") are left out: no
// client would accept the certificate for them.
func Names(c *tls.Certificate) []string {
	if c.Leaf == nil {
		return nil
	}
	names := make([]string, 0, len(c.Leaf.DNSNames)+len(c.Leaf.IPAddresses))
	for _, n := range c.Leaf.DNSNames {
		n = normalName(n)
		if n == "" || strings.Contains(strings.TrimPrefix(n, "*."), "*") {
			continue
		}
		names = append(names, n)
	}
	for _, ip := range c.Leaf.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			names = append(names, a.Unmap().String())
		}
	}
	return names
}

// normalName is a server name (or a Host header) as the index compares it:
// ASCII lower case, with no trailing dot (and no port). It does not
// allocate for a name that is already so.
func normalName(name string) string {
	return httpmsg.NormalizeHost(name)
}

// lookup chooses the certificate for a client hello: the certificate with
// its exact name, else the one with the wildcard for the name less its
// first label, else the default. A wildcard matches exactly one label, so
// at most one wildcard can match a name: it is also the longest. A client
// without SNI (an IP literal in its URL) gets the certificate with the IP
// address it connected to, else the default. nil when nothing matches and
// there is no default.
func (ix *index) lookup(hello *tls.ClientHelloInfo) *tls.Certificate {
	name := hello.ServerName
	if name == "" {
		name = localIP(hello.Conn)
	} else {
		name = normalName(name)
	}
	if name != "" {
		if cs := ix.exact[name]; cs != nil {
			return pick(cs, hello)
		}
		if dot := strings.IndexByte(name, '.'); dot > 0 {
			if cs := ix.wildcard[name[dot+1:]]; cs != nil {
				return pick(cs, hello)
			}
		}
	}
	return ix.fallback
}

// pick returns the first of cs the client supports, or the first when it
// supports none (the handshake then fails as it would have anyway).
func pick(cs []*tls.Certificate, hello *tls.ClientHelloInfo) *tls.Certificate {
	if len(cs) > 1 {
		for _, c := range cs {
			if hello.SupportsCertificate(c) == nil {
				return c
			}
		}
	}
	return cs[0]
}

// localIP returns the address a connection was accepted on, as the index
// writes IP names, or "".
func localIP(c net.Conn) string {
	if c == nil {
		return ""
	}
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap().String()
		}
	}
	return ""
}
