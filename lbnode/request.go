package lbnode

import (
	"strings"

	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/jsonx"
	"l7lb/maelstrom"
	"l7lb/strview"
)

// request is an http_request (or explain) body, parsed in place: its strings
// alias the message buffer, and its slices are reused from message to
// message, so that parsing a request allocates nothing in steady state.
type request struct {
	fields // zeroed for each request
	// view holds the fields of `headers` (or `raw`), the `cookies` object
	// and whether there was one: the engine reads the request through it.
	view httpmsg.Headers
	head httpmsg.Head // reused by raw parsing
}

// fields are the scalar parts of a request.
type fields struct {
	method, path, host, sessionID, raw string
	hasMethod, hasPath, hasRaw         bool
	bad                                string // the first field of the wrong type
	// pathToken is the path's JSON token as received, when it has no
	// escapes: the reply can echo it as it is.
	pathToken []byte
}

// parse reads the body members into r. It returns the reason for a 400,
// or "". A field of the wrong type does not stop the reading, so that the
// path is echoed whatever the order of the fields.
func (r *request) parse(members []maelstrom.Member) string {
	// Field by field: a composite literal would also copy head onto itself.
	r.fields = fields{}
	r.view.Fields, r.view.Cookies, r.view.CookieSet = reuse(r.view.Fields), reuse(r.view.Cookies), false
	for i := 0; i < len(members); i = jsonx.Next(members, i) {
		r.field(members, i)
	}
	if r.hasRaw {
		// raw supplies the path, or there is none.
		r.path, r.hasPath, r.pathToken = "", false, nil
	}
	if r.bad != "" {
		return r.bad
	}
	if r.hasRaw {
		return r.parseRaw()
	}
	if r.view.Count("Host") > 1 {
		return "headers: more than one Host"
	}
	return ""
}

// keptFields bounds the capacity of the field slices kept from one request
// to the next, so that one huge request does not hold its memory forever.
const keptFields = 256

// reuse empties fields for the next request, keeping a moderate capacity.
func reuse(fields []httpmsg.Field) []httpmsg.Field {
	if cap(fields) > keptFields {
		return nil
	}
	return fields[:0]
}

// fail records the first field of the wrong type.
func (r *request) fail(reason string) {
	if r.bad == "" {
		r.bad = reason
	}
}

// field reads the member ms[i] of the body, which the members of its
// value follow. Unknown members are ignored.
func (r *request) field(ms []maelstrom.Member, i int) {
	m := &ms[i]
	switch string(m.Key) {
	case "method":
		r.hasMethod = r.str(&r.method, m, "method")
	case "path":
		r.hasPath = r.str(&r.path, m, "path")
		if m.Plain {
			r.pathToken = m.Value
		}
	case "host":
		r.str(&r.host, m, "host")
	case "session_id":
		r.str(&r.sessionID, m, "session_id")
	case "raw":
		r.hasRaw = true
		r.str(&r.raw, m, "raw")
	case "headers":
		r.view.Fields = r.view.Fields[:0]
		r.headerFields(m, ms[i+1:jsonx.Next(ms, i)])
	case "cookies":
		r.view.Cookies, r.view.CookieSet = r.view.Cookies[:0], true
		r.cookieFields(m, ms[i+1:jsonx.Next(ms, i)])
	}
}

// str stores the string value of m in *dst, or records field's wrong type.
func (r *request) str(dst *string, m *maelstrom.Member, field string) bool {
	s, ok := m.Text()
	if !ok {
		r.fail(field + ": expected a string")
		return false
	}
	*dst = s
	return true
}

// headerFields reads the headers object m, whose members are sub.
func (r *request) headerFields(m *maelstrom.Member, sub []maelstrom.Member) {
	if jsonx.KindOf(m.Value) != jsonx.Object {
		r.fail("headers: expected an object")
		return
	}
	for i := 0; i < len(sub); i = jsonx.Next(sub, i) {
		h := &sub[i]
		name := keyString(h.Key)
		if s, ok := h.Text(); ok {
			r.view.Fields = append(r.view.Fields, httpmsg.Field{Name: name, Value: s})
			continue
		}
		if jsonx.KindOf(h.Value) == jsonx.Array {
			jsonx.ArrayEach(h.Value, func(_ int, el []byte) error {
				if jsonx.KindOf(el) == jsonx.String {
					r.view.Fields = append(r.view.Fields, httpmsg.Field{Name: name, Value: jsonx.ValidString(el)})
				} else {
					r.fail("headers." + name + ": expected a string or a list of strings")
				}
				return nil
			})
			continue
		}
		r.fail("headers." + name + ": expected a string or a list of strings")
	}
}

// cookieFields reads the cookies object m, whose members are sub.
func (r *request) cookieFields(m *maelstrom.Member, sub []maelstrom.Member) {
	if jsonx.KindOf(m.Value) != jsonx.Object {
		r.fail("cookies: expected an object")
		return
	}
	for i := 0; i < len(sub); i = jsonx.Next(sub, i) {
		c := &sub[i]
		name := keyString(c.Key)
		if s, ok := c.Text(); ok {
			r.view.Cookies = append(r.view.Cookies, httpmsg.Field{Name: name, Value: s})
		} else {
			r.fail("cookies." + name + ": expected a string")
		}
	}
}

// parseRaw takes method, path and headers from the raw request head.
func (r *request) parseRaw() string {
	if err := httpmsg.ParseHead(r.raw, &r.head); err != nil {
		return "raw: " + err.Error()
	}
	r.method, r.hasMethod = r.head.Method, true
	r.path, r.hasPath = r.head.Target, true
	r.view.Fields = append(r.view.Fields[:0], r.head.Fields...)
	return ""
}

// hostHeader returns the Host header, or the `host` field when there is none.
func (r *request) hostHeader() string {
	if h, ok := r.view.Header("Host"); ok {
		return h
	}
	return r.host
}

// keyString returns a member's key as a string without copying: the key
// aliases the message, or is a copy of its own when it had escapes.
func keyString(key []byte) string {
	return strview.Of(key)
}

// ParseRequest reads a request given as the body of an explain message
// (a JSON object: method, path, host, headers, cookies, session_id, raw),
// as the node reads it, for other faces that take the same fields (the
// admin API's POST /explain). It returns the reason for a 400, or "".
func ParseRequest(body []byte) (engine.Request, string) {
	members, end, err := jsonx.IndexObject(nil, body, 2)
	if err != nil {
		return engine.Request{}, "body: " + err.Error()
	}
	if rest := strings.TrimSpace(string(body[end:])); rest != "" {
		return engine.Request{}, "body: data after the object"
	}
	return new(request).read(members)
}

// read parses the body members into r and returns the request to decide,
// or the reason for a 400. The request's strings alias the members.
func (r *request) read(members []maelstrom.Member) (engine.Request, string) {
	reason := r.parse(members)
	if reason == "" && !r.hasPath {
		reason = "missing path"
	}
	if reason != "" {
		return engine.Request{}, reason
	}
	method := r.method
	if !r.hasMethod {
		method = "GET"
	}
	return engine.Request{Method: method, Target: r.path, Host: r.hostHeader(), SessionID: r.sessionID, Headers: &r.view}, ""
}
