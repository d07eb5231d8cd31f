package corpus

import (
	"net"
	"strconv"
	"strings"
)

// Limits of the configuration the corpora run under: l7lb's defaults.
const (
	modelHeadBytes  = 65536 // limits.max_header_bytes
	modelFields     = 100   // limits.max_headers
	modelChunkLine  = 4096  // a chunk-size line must fit the proxy's read buffer
	modelTrailerMax = 100   // fields of a trailer section
)

// Expect returns the verdict l7lb should give raw, sent on one connection
// that is then half-closed, with every request routed to a server that
// answers. It is a model written from the rules README.md and
// docs/config.md state for the proxy (RFC 9112 strictly, plus l7lb's
// choices), independently of the parser it checks:
//
//   - empty lines (CRLF or LF) before a request line are skipped, up to
//     max_header_bytes of them, else 400;
//   - a head not ended before the stream is answered nothing; one over
//     max_header_bytes is 431;
//   - the request line is METHOD SP target SP version, the method a token,
//     else 400; an HTTP-version (HTTP/DIGIT.DIGIT) but HTTP/1.0 and
//     HTTP/1.1 is 505, any other third part 400;
//   - fields: a line starting with SP or HTAB (obs-fold), a name that is
//     not a token directly followed by ":", a value with a control byte
//     but HTAB (a bare CR included), a second Host: 400; a 101st field: 431;
//     the first of these in reading order decides;
//   - framing: Content-Length a number or a list of the same number, equal
//     in every field; Transfer-Encoding exactly one field, "chunked", not
//     with Content-Length nor in HTTP/1.0; else 400;
//   - HTTP/1.1 without Host; a host (absolute-form authority, else Host)
//     not uri-host [":" port]; userinfo: 400;
//   - the target: origin-form, or absolute-form http(s) with a host; the
//     path free of control bytes, space and DEL and with well-formed
//     percent-escapes; the query free of control bytes, space and DEL; the
//     fragment dropped: else 400;
//   - a chunked body strict (hex size, well-formed extensions, CRLF line
//     ends, CRLF after data, a trailer section of valid fields): else 400;
//     a body cut short by the end of the stream is answered nothing;
//   - a forwarded request's target is the client's own when its path is
//     normal, else the normalized path (escapes of unreserved characters
//     decoded, other escapes' hex upper-cased, "//" merged, dot-segments
//     removed) with the query;
//   - after Connection: close, or an HTTP/1.0 request without keep-alive,
//     nothing more is read.
func Expect(raw []byte) string {
	var items []string
	s := string(raw)
	for {
		skipped := 0
		for {
			switch {
			case strings.HasPrefix(s, "\r\n"):
				s, skipped = s[2:], skipped+2
			case strings.HasPrefix(s, "\n"):
				s, skipped = s[1:], skipped+1
			default:
				goto done
			}
			if skipped > modelHeadBytes {
				return join(append(items, "400"))
			}
		}
	done:
		if s == "" {
			return join(items)
		}
		head, rest, ok := cutHead(s)
		if !ok {
			if len(s) > modelHeadBytes {
				items = append(items, "431")
			}
			return join(items)
		}
		if len(head) > modelHeadBytes {
			return join(append(items, "431"))
		}
		req, status := parse(head)
		if status != "" {
			return join(append(items, status))
		}
		var n int
		switch {
		case req.chunked:
			var bad bool
			n, rest, bad, ok = chunkedBody(rest)
			if bad {
				return join(append(items, "400"))
			}
		default:
			ok = int64(len(rest)) >= req.length
			if ok {
				n, rest = int(req.length), rest[req.length:]
			}
		}
		if !ok {
			return join(items)
		}
		items = append(items, "fwd "+req.method+" "+req.upstream+" "+strconv.Itoa(n))
		if req.close {
			return join(items)
		}
		s = rest
	}
}

func join(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, sep)
}

// cutHead splits off the head, through the empty line that ends it.
func cutHead(s string) (head, rest string, ok bool) {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			return "", "", false
		}
		line := s[i : i+j]
		i += j + 1
		if line == "" || line == "\r" {
			return s[:i], s[i:], true
		}
	}
	return "", "", false
}

type modelRequest struct {
	method, upstream string
	chunked, close   bool
	length           int64
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// parse checks a head and returns the request, or the status answering it.
func parse(head string) (modelRequest, string) {
	var req modelRequest
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	lines = lines[:len(lines)-1] // the empty line
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	first := lines[0]
	parts := strings.Split(first, " ")
	switch {
	case strings.IndexByte(first, '\r') >= 0:
		return req, "400"
	case len(parts) != 3 || !isToken(parts[0]) || parts[1] == "" || parts[2] == "":
		return req, "400"
	case parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0":
		if v := parts[2]; len(v) == 8 && strings.HasPrefix(v, "HTTP/") && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]) {
			return req, "505" // an HTTP-version the proxy does not speak
		}
		return req, "400"
	}
	method, target, http11 := parts[0], parts[1], parts[2] == "HTTP/1.1"
	var hosts, tes int
	var host, te string
	var lengths []string
	var connection []string
	for n, l := range lines[1:] {
		if l[0] == ' ' || l[0] == '\t' {
			return req, "400"
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isToken(name) {
			return req, "400"
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < 0x20 && c != '\t' || c == 0x7f {
				return req, "400"
			}
		}
		switch strings.ToLower(name) {
		case "host":
			if hosts++; hosts > 1 {
				return req, "400"
			}
			host = value
		case "content-length":
			lengths = append(lengths, value)
		case "transfer-encoding":
			tes++
			te = value
		case "connection":
			connection = append(connection, value)
		}
		if n+1 > modelFields {
			return req, "431"
		}
	}
	// Framing.
	req.length = -1
	for _, v := range lengths {
		for _, e := range strings.Split(v, ",") {
			e = strings.Trim(e, " \t")
			n, err := strconv.ParseInt(e, 10, 64)
			if err != nil || e == "" || e[0] == '+' || e[0] == '-' || req.length >= 0 && n != req.length {
				return req, "400"
			}
			req.length = n
		}
	}
	switch {
	case tes > 1, tes == 1 && !strings.EqualFold(te, "chunked"), tes == 1 && req.length >= 0, tes == 1 && !http11:
		return req, "400"
	case http11 && hosts == 0:
		return req, "400"
	}
	req.chunked = tes == 1
	if req.length < 0 {
		req.length = 0
	}
	// The host and the target.
	path := target
	if target[0] != '/' {
		scheme, rest, ok := strings.Cut(target, "://")
		if !ok || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
			return req, "400"
		}
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		if strings.IndexByte(authority, '@') >= 0 {
			return req, "400"
		}
		if authority == "" || authority[0] == ':' {
			return req, "400"
		}
		host, path = authority, rest[end:]
		if path == "" || path[0] != '/' {
			path = "/" + path
		}
	}
	if !validHost(host) {
		return req, "400"
	}
	upstream, ok := normalizeTarget(path)
	if !ok {
		return req, "400"
	}
	req.method, req.upstream = method, upstream
	keepAlive := false
	for _, v := range connection {
		for _, t := range strings.Split(v, ",") {
			switch strings.ToLower(strings.Trim(t, " \t")) {
			case "close":
				req.close = true
			case "keep-alive":
				keepAlive = true
			}
		}
	}
	if !http11 && !keepAlive {
		req.close = true
	}
	return req, ""
}

// validHost checks uri-host [":" port] (RFC 3986 3.2.2) without
// percent-encoding, an empty host allowed alone.
func validHost(s string) bool {
	if s == "" {
		return true
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		ip := net.ParseIP(s[1:end])
		if ip == nil || ip.To4() != nil && !strings.Contains(s[1:end], ":") || strings.Contains(s, "%") {
			return false
		}
		host, port = "", s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if host == "" {
			return false
		}
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-._~!$&'()*+,;=", c) >= 0:
		default: // percent-encoding included: l7lb refuses it in hosts
			return false
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n > 65535 || len(port) > 5 || strings.IndexAny(port, "+-") >= 0 {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// normalizeTarget returns the target l7lb forwards for the origin-form
// target t, or false when the engine refuses it.
func normalizeTarget(t string) (string, bool) {
	if i := strings.IndexByte(t, '#'); i >= 0 {
		t = t[:i]
	}
	path, query, _ := strings.Cut(t, "?")
	if query != "" || strings.Contains(t, "?") {
		query = "?" + query
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c == 0x7f {
			return "", false
		}
	}
	var segs []string
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
			return "", false
		}
		v, _ := strconv.ParseUint(path[i+1:i+3], 16, 8)
		if d := byte(v); 'a' <= d && d <= 'z' || 'A' <= d && d <= 'Z' || '0' <= d && d <= '9' || strings.IndexByte("-._~", d) >= 0 {
			b.WriteByte(d)
		} else {
			b.WriteString("%" + strings.ToUpper(path[i+1:i+3]))
		}
		i += 2
	}
	for _, seg := range strings.Split(b.String(), "/")[1:] {
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	norm := "/" + strings.Join(segs, "/")
	last := strings.Split(b.String(), "/")
	if len(segs) > 0 {
		if tail := last[len(last)-1]; tail == "" || tail == "." || tail == ".." {
			norm += "/" // a path ending in a slash or a dot-segment keeps its final slash
		}
	}
	if norm == path {
		return path + query, true
	}
	return norm + query, true
}

// chunkedBody reads a chunked body off s: the data's length and what
// follows the body; bad when its framing is invalid, ok false when s ends
// first.
func chunkedBody(s string) (n int, rest string, bad, ok bool) {
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return 0, "", len(s) > modelChunkLine, false
		}
		line := s[:i+1]
		if len(line) > modelChunkLine || !strings.HasSuffix(line, "\r\n") {
			return 0, "", true, false
		}
		size, good := chunkSize(line[:len(line)-2])
		if !good {
			return 0, "", true, false
		}
		s = s[i+1:]
		if size == 0 {
			break
		}
		if int64(len(s)) < size+2 {
			return 0, "", false, false // the CRLF after the data is checked once both bytes came
		}
		if s[size:size+2] != "\r\n" {
			return 0, "", true, false
		}
		n += int(size)
		s = s[size+2:]
	}
	for fields := 0; ; fields++ {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return 0, "", false, false
		}
		line := s[:i+1]
		s = s[i+1:]
		if !strings.HasSuffix(line, "\r\n") {
			return 0, "", true, false
		}
		line = line[:len(line)-2]
		if line == "" {
			return n, s, false, true
		}
		name, value, found := strings.Cut(line, ":")
		if !found || !isToken(name) || fields >= modelTrailerMax {
			return 0, "", true, false
		}
		for j := 0; j < len(value); j++ {
			if c := value[j]; c < 0x20 && c != '\t' || c == 0x7f {
				return 0, "", true, false
			}
		}
	}
}

// chunkSize parses chunk-size *( BWS ";" BWS token [ BWS "=" BWS ( token
// / quoted-string ) ] ).
func chunkSize(line string) (int64, bool) {
	i := 0
	for i < len(line) && isHex(line[i]) {
		i++
	}
	if i == 0 || len(strings.TrimLeft(line[:i], "0")) > 15 {
		return 0, false // l7lb's bound: 60 bits
	}
	size, _ := strconv.ParseInt(line[:i], 16, 64)
	rest := line[i:]
	ows := func() { rest = strings.TrimLeft(rest, " \t") }
	token := func() string {
		j := 0
		for j < len(rest) && isToken(rest[j:j+1]) {
			j++
		}
		t := rest[:j]
		rest = rest[j:]
		return t
	}
	for {
		ows()
		if rest == "" {
			return size, true
		}
		if rest[0] != ';' {
			return 0, false
		}
		rest = rest[1:]
		ows()
		if token() == "" {
			return 0, false
		}
		ows()
		if rest == "" || rest[0] != '=' {
			continue
		}
		rest = rest[1:]
		ows()
		if token() != "" {
			continue
		}
		if rest == "" || rest[0] != '"' {
			return 0, false
		}
		j := 1
		for ; j < len(rest) && rest[j] != '"'; j++ {
			c := rest[j]
			if c == '\\' {
				j++
				if j == len(rest) {
					return 0, false
				}
				c = rest[j]
			}
			if c < 0x20 && c != '\t' || c == 0x7f {
				return 0, false
			}
		}
		if j == len(rest) {
			return 0, false
		}
		rest = rest[j+1:]
	}
}
