package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGoldenEquivalence replays the node's golden cases (testdata/*.in.jsonl
// at the module root) through `l7lb serve` as real HTTP requests, with the
// configuration the case gives the node, and checks that every request
// reaches the server the golden reply names, with the path the golden
// reply says the server gets (rewritten_path, else the path), and that
// sticky cookies are set when the node sets them.
//
// Cases are taken whole or skipped whole, because a request left out would
// leave a balancer counter or a session table differently from the node's.
// A case is skipped, with the reason shown in -v output, when it:
//   - has a NAME.args file: its configuration comes from a file, not from
//     its messages;
//   - has a line that is not exactly one JSON message (the framing cases):
//     the node may still act on it, so the state cannot be followed;
//   - has a route balanced by least_request or peak_ewma, or bounded by
//     hash_balance_factor: serve chooses by the load it measures, the node
//     by rotation and pins (docs/protocol.md), by design;
//   - sends a request before init or a second init, or init lists no
//     server: serve always has its server list from the start;
//   - has a request that cannot be written as HTTP/1.1 (a header value
//     with a control character, a header name that is not a token), or
//     that the node does not answer.
//
// server_down and server_up become the admin API's POST
// /servers/{id}/disable and /enable, and a configuration change between
// two replayed requests (config, add_route, remove_route,
// set_default_servers) a PUT /config of the whole configuration then, sent
// before the next replayed request: a reload keeps balancer positions,
// sessions and server states as the node's changes do, and disable and
// enable are the node's marks, so both must decide alike.
//
// Requests the node answered 400 are left out of an otherwise replayed
// case: a 400 decides nothing, moves no counter and pins nothing, so the
// state that later requests see is the same (and serve's own 400s are the
// raw-socket tests' business). explain, stats, get_config and messages
// that are replies change nothing either and are ignored.
//
// A request body becomes a request on the wire (see wireRequest): `raw`
// is sent as written, re-terminated with CRLF; `session_id` and the
// `cookies` object go first in a Cookie header, since the node reads them
// before the Cookie header (an empty object is an empty Cookie header);
// the `host` field becomes Host when nothing else gives one, and a request
// with no host at all goes as HTTP/1.0, where Host is optional; a fragment
// is not sent, as no client sends one. Session ids the node issued
// ("lb-1") are replaced by those serve issued (random). The node's server
// hint cookie holds the plain server id, serve's a signed value: each hint
// is sent signed with the secret the replay gives serve, as serve would
// have set it, and the hint serve sets is compared by the server it names.
func TestGoldenEquivalence(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join(modRoot, "testdata", "*.in.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatal("no golden cases in testdata/")
	}
	var mu sync.Mutex
	replayed := map[string]int{} // case → requests replayed
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.jsonl")
		t.Run(name, func(t *testing.T) {
			gc, reason := loadGoldenCase(in)
			if reason != "" {
				t.Skip(reason)
			}
			if len(gc.requests) == 0 {
				t.Skip("no request the node answered 200 or 404")
			}
			t.Parallel()
			n := gc.replay(t)
			mu.Lock()
			replayed[name] = n
			mu.Unlock()
		})
	}
	// The parallel subtests run after this function returns; cleanups run
	// after them.
	t.Cleanup(func() {
		total := 0
		for _, n := range replayed {
			total += n
		}
		t.Logf("replayed %d requests of %d golden cases", total, len(replayed))
		// Guard against a filter that silently skips everything: every
		// family of routing rules must be represented.
		for _, family := range []string{"host-", "path-", "precedence-", "rewrite-", "sticky-", "hash-", "wrr-", "default-config-"} {
			found := false
			for name := range replayed {
				found = found || strings.HasPrefix(name, family)
			}
			if !found && !t.Failed() {
				t.Errorf("no %s* golden case was replayed", family)
			}
		}
	})
}

// goldenCase is what a replay needs: the serve configuration and the
// requests with the node's replies.
type goldenCase struct {
	servers        []string
	routes         []json.RawMessage
	defaultServers json.RawMessage // nil: all servers
	sticky         map[string]json.RawMessage
	requests       []goldenRequest
	initial        *goldenConfig // the configuration of the first request
}

// goldenConfig is the routing configuration at some point of a case.
type goldenConfig struct {
	routes         []json.RawMessage
	defaultServers json.RawMessage
	sticky         map[string]json.RawMessage
}

// snapshot returns the configuration now; builtin: the built-in routes.
func (gc *goldenCase) snapshot(builtin bool) *goldenConfig {
	c := &goldenConfig{routes: slices.Clone(gc.routes), defaultServers: gc.defaultServers, sticky: maps.Clone(gc.sticky)}
	if builtin {
		c.routes = builtinRoutes(gc.servers)
	}
	return c
}

// use makes c the case's configuration.
func (gc *goldenCase) use(c *goldenConfig) {
	gc.routes, gc.defaultServers, gc.sticky = c.routes, c.defaultServers, c.sticky
}

// goldenRequest is an http_request and the node's reply to it.
type goldenRequest struct {
	msgID string
	body  map[string]json.RawMessage
	reply goldenReply
	marks []goldenMark // server_down and server_up sent before it
	// reconfig is the configuration to PUT before it: the one the node
	// had then, when it changed since the request before.
	reconfig *goldenConfig
}

// goldenMark is a server_down (down) or server_up the node accepted.
type goldenMark struct {
	server string
	down   bool
}

type goldenReply struct {
	Status        int     `json:"status"`
	RoutedTo      string  `json:"routed_to"`
	Path          *string `json:"path"`
	RewrittenPath *string `json:"rewritten_path"`
	SetCookie     string  `json:"set_cookie"`
}

// routeFields are the keys of an add_route body that make up the route.
var routeFields = []string{"name", "host", "hosts", "path", "methods", "headers", "servers", "balance", "weights", "hash_on", "rewrite", "sticky", "least_request", "peak_ewma", "hash_balance_factor"}

// loadGoldenCase reads a case and its replies and derives what to replay,
// or returns why the case cannot be replayed.
func loadGoldenCase(in string) (*goldenCase, string) {
	base := strings.TrimSuffix(in, ".in.jsonl")
	if fileExists(base + ".args") {
		return nil, "configuration from a file (" + filepath.Base(base) + ".args), not from messages"
	}
	msgs, ok := readMessages(in)
	if !ok {
		return nil, "framing case: a line is not exactly one JSON message"
	}
	outs, ok := readMessages(base + ".out.jsonl")
	if !ok {
		return nil, "unreadable replies"
	}
	replies := map[string]map[string]json.RawMessage{}
	for _, o := range outs {
		if id, ok := o["in_reply_to"]; ok {
			replies[compact(id)] = o
		}
	}

	gc := &goldenCase{}
	var marks []goldenMark // sent since the last replayed request
	inited, builtin := false, true
	changed := false // the configuration changed since the last replayed request
	for _, body := range msgs {
		typ := str(body["type"])
		idRaw, hasID := body["msg_id"]
		id := compact(idRaw)
		reply := replies[id]
		failed := hasID && str(reply["type"]) == "error"
		if _, isReply := body["in_reply_to"]; isReply || typ == "error" || strings.HasSuffix(typ, "_ok") {
			continue // replies are never acted on
		}
		switch typ {
		case "init":
			if inited {
				return nil, "a second init"
			}
			inited = true
			var self string
			var ids []string
			json.Unmarshal(body["node_id"], &self)
			json.Unmarshal(body["node_ids"], &ids)
			for _, s := range ids {
				if s != self && !slices.Contains(gc.servers, s) {
					gc.servers = append(gc.servers, s)
				}
			}
			if len(gc.servers) == 0 {
				return nil, "init lists no server"
			}
		case "config", "add_route", "remove_route", "set_default_servers":
			if !hasID {
				return nil, "a configuration message without msg_id: its reply cannot be found"
			}
			if failed {
				continue // a rejected change changes nothing
			}
			changed = true
			switch typ {
			case "config":
				builtin = false
				gc.routes = nil
				var routes []json.RawMessage
				json.Unmarshal(body["routes"], &routes)
				gc.routes = routes
				gc.defaultServers = body["default_servers"]
				gc.sticky = nil
				if s, ok := body["sticky"]; ok {
					json.Unmarshal(s, &gc.sticky)
				}
			case "add_route":
				if builtin {
					gc.routes, builtin = nil, false
				}
				// The reply names the route (route-N when the body has no
				// name); serve's config must carry that name.
				name := str(reply["route"])
				route := map[string]json.RawMessage{}
				for _, f := range routeFields {
					if v, ok := body[f]; ok {
						route[f] = v
					}
				}
				route["name"], _ = json.Marshal(name)
				raw, _ := json.Marshal(route)
				if i := routeIndex(gc.routes, name); i >= 0 {
					gc.routes[i] = raw
				} else {
					gc.routes = append(gc.routes, raw)
				}
			case "remove_route":
				if builtin {
					gc.routes = builtinRoutes(gc.servers)
				}
				if i := routeIndex(gc.routes, str(body["name"])); i >= 0 {
					gc.routes = slices.Delete(gc.routes, i, i+1)
				}
			case "set_default_servers":
				gc.defaultServers = body["servers"]
			}
		case "server_down", "server_up":
			if !hasID {
				return nil, "a " + typ + " without msg_id: its reply cannot be found"
			}
			if !failed {
				marks = append(marks, goldenMark{server: str(body["server"]), down: typ == "server_down"})
			}
		case "http_request":
			if !hasID {
				return nil, "an http_request without msg_id: its reply cannot be found"
			}
			if !inited {
				return nil, "a request before init"
			}
			if reply == nil {
				return nil, "an http_request the node does not answer"
			}
			var r goldenReply
			rb, _ := json.Marshal(reply)
			json.Unmarshal(rb, &r)
			switch r.Status {
			case 400:
				continue
			case 200, 404, 503:
			default:
				return nil, fmt.Sprintf("a request answered %d", r.Status)
			}
			if why := unrepresentable(body); why != "" {
				return nil, why
			}
			req := goldenRequest{msgID: id, body: body, reply: r, marks: marks}
			if len(gc.requests) == 0 {
				gc.initial = gc.snapshot(builtin)
			} else if changed {
				req.reconfig = gc.snapshot(builtin)
			}
			changed = false
			gc.requests = append(gc.requests, req)
			marks = nil
		}
	}
	if !inited {
		return nil, "no init"
	}
	if len(gc.requests) == 0 {
		return gc, ""
	}
	configs := []*goldenConfig{gc.initial}
	for _, r := range gc.requests {
		if r.reconfig != nil {
			configs = append(configs, r.reconfig)
		}
	}
	for _, c := range configs {
		for _, r := range c.routes {
			var v struct {
				Balance           string
				HashBalanceFactor *float64 `json:"hash_balance_factor"`
			}
			json.Unmarshal(r, &v)
			if v.Balance == "least_request" || v.Balance == "peak_ewma" || v.HashBalanceFactor != nil {
				return nil, "a load-aware route: serve balances by measured load, the node by rotation and pins"
			}
		}
	}
	gc.use(gc.initial)
	return gc, ""
}

// readMessages returns the body of every line of a JSONL file; ok is false
// when a non-blank line is not exactly one JSON object with a body.
func readMessages(name string) ([]map[string]json.RawMessage, bool) {
	f, err := os.Open(name)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var env struct{ Body map[string]json.RawMessage }
		dec := json.NewDecoder(bytes.NewReader(line))
		if dec.Decode(&env) != nil || dec.More() || env.Body == nil {
			return nil, false
		}
		out = append(out, env.Body)
	}
	return out, sc.Err() == nil
}

// builtinRoutes is the node's built-in configuration (docs/protocol.md):
// with three servers or more, api (/api/*) to the first two and web
// (/web/*) to the third.
func builtinRoutes(servers []string) []json.RawMessage {
	if len(servers) < 3 {
		return nil
	}
	api, _ := json.Marshal(map[string]any{"name": "api", "path": "/api/*", "servers": servers[:2]})
	web, _ := json.Marshal(map[string]any{"name": "web", "path": "/web/*", "servers": servers[2:3]})
	return []json.RawMessage{api, web}
}

func routeIndex(routes []json.RawMessage, name string) int {
	for i, r := range routes {
		var v struct{ Name string }
		json.Unmarshal(r, &v)
		if v.Name == name {
			return i
		}
	}
	return -1
}

// unrepresentable says why a request cannot be sent as HTTP/1.1, or "".
func unrepresentable(body map[string]json.RawMessage) string {
	for _, h := range requestHeaders(body) {
		name, value, _ := strings.Cut(h, ":")
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) }) {
			return fmt.Sprintf("header name %q is not a token", name)
		}
		if strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return fmt.Sprintf("header %s has a control character", name)
		}
	}
	return ""
}

// requestHeaders returns the header lines of a request body (before
// sticky cookies are added), as "Name: value".
func requestHeaders(body map[string]json.RawMessage) []string {
	if raw, ok := body["raw"]; ok {
		_, hs := parseRaw(str(raw))
		return hs
	}
	var headers map[string]json.RawMessage
	json.Unmarshal(body["headers"], &headers)
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names) // a JSON object has no order that matters here
	var out []string
	for _, n := range names {
		var one string
		var many []string
		if json.Unmarshal(headers[n], &one) == nil {
			out = append(out, n+": "+one)
		} else if json.Unmarshal(headers[n], &many) == nil {
			for _, v := range many {
				out = append(out, n+": "+v)
			}
		}
	}
	return out
}

// parseRaw splits a raw request head into its request line and header
// lines, up to the empty line (the node ignores what follows it). Line
// ends are LF or CRLF.
func parseRaw(raw string) (string, []string) {
	lines := strings.Split(raw, "\n")
	var hs []string
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if i == 0 {
			continue
		}
		if l == "" {
			break
		}
		hs = append(hs, l)
	}
	return strings.TrimSuffix(lines[0], "\r"), hs
}

// stickyNames returns the session and server cookie names of the case.
func (gc *goldenCase) stickyNames() (cookie, server string) {
	cookie, server = "session_id", "backend"
	json.Unmarshal(gc.sticky["cookie"], &cookie)
	json.Unmarshal(gc.sticky["server_cookie"], &server)
	return cookie, server
}

// serveConfig writes the case's configuration for serve, in JSON so that
// the servers keep the order init gave them (the default pool's order).
func (gc *goldenCase) serveConfig(listen, admin string, urls map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  \"listen\": %q,\n  \"admin\": %q,\n  \"admin_token\": %q,\n  \"servers\": {", listen, admin, adminToken)
	for i, s := range gc.servers {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n    %s: %q", mustJSON(s), urls[s])
	}
	b.WriteString("\n  },\n  \"routes\": [")
	for i, r := range gc.routes {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    ")
		b.Write(r)
	}
	b.WriteString("\n  ]")
	if gc.defaultServers != nil {
		fmt.Fprintf(&b, ",\n  \"default_servers\": %s", gc.defaultServers)
	}
	// The node's modes: serve would default to insert.
	sticky := map[string]json.RawMessage{"mode": json.RawMessage(`"auto"`), "secret": json.RawMessage(mustJSON(goldenSecret))}
	for k, v := range gc.sticky {
		sticky[k] = v
	}
	fmt.Fprintf(&b, ",\n  \"sticky\": %s\n}\n", mustJSON(sticky))
	return b.String()
}

// replay runs the case through serve and returns how many requests it sent.
func (gc *goldenCase) replay(t *testing.T) int {
	var bs []*backend
	urls := map[string]string{}
	for _, s := range gc.servers {
		b := newBackend(t, s)
		bs = append(bs, b)
		urls[s] = b.URL
	}
	var p *serveProc
	admin := ""
	for attempt := 0; ; attempt++ {
		addr := freePort(t)
		admin = freePort(t)
		cfg := gc.serveConfig(addr, admin, urls)
		var err error
		if p, err = launch(t, writeFile(t, "serve.json", cfg), serveOpts{args: []string{"--access-log=false"}}); err == nil {
			break
		}
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			continue
		}
		t.Fatalf("starting serve: %v\nconfig:\n%s", err, cfg)
	}

	cookieName, serverCookie := gc.stickyNames()
	issued := map[string]string{} // session id the node issued → the one serve issued
	for _, r := range gc.requests {
		if r.reconfig != nil {
			gc.use(r.reconfig)
			cfg := gc.serveConfig(p.Addr, admin, urls)
			if code, body := adminDo(t, admin, "PUT", "/config", adminToken, cfg); code != 200 {
				t.Fatalf("before msg_id %s: PUT /config: %d %s\n%s", r.msgID, code, body, cfg)
			}
		}
		for _, m := range r.marks {
			action := "enable"
			if m.down {
				action = "disable"
			}
			if code, body := adminDo(t, admin, "POST", "/servers/"+m.server+"/"+action, adminToken, ""); code != 200 {
				t.Fatalf("before msg_id %s: %s %s: %d %s", r.msgID, action, m.server, code, body)
			}
		}
		method, head := gc.wireRequest(r.body, issued)
		resp, _, err := rawExchange(p.Addr, head, method)
		if err != nil {
			t.Fatalf("msg_id %s: %v\nrequest:\n%s", r.msgID, err, head)
		}
		where := fmt.Sprintf("msg_id %s (%s)", r.msgID, strings.SplitN(head, "\r\n", 2)[0])
		want := r.reply
		if resp.StatusCode != want.Status {
			t.Errorf("%s: status %d, golden %d", where, resp.StatusCode, want.Status)
			continue
		}
		if want.Status != 200 {
			continue
		}
		if got := resp.Header.Get("X-Backend"); got != want.RoutedTo {
			t.Errorf("%s: reached %q, golden %q", where, got, want.RoutedTo)
			continue
		}
		if wantPath, ok := expectedPath(want); ok {
			seen, _ := backendByID(bs, want.RoutedTo).last()
			if seen.URI != wantPath {
				t.Errorf("%s: %s received path %q, golden %q", where, want.RoutedTo, seen.URI, wantPath)
			}
		}
		set := map[string]string{}
		for _, c := range resp.Cookies() {
			set[c.Name] = c.Value
		}
		if want.SetCookie == "" {
			if len(set) > 0 {
				t.Errorf("%s: serve set cookies %v, the node none", where, set)
			}
			continue
		}
		wantSID, wantServer := parseGoldenSetCookie(want.SetCookie, cookieName, serverCookie)
		if set[cookieName] == "" || set[serverCookie] == "" || hintServer(t, set[serverCookie]) != wantServer {
			t.Errorf("%s: serve set cookies %v, golden set_cookie %q", where, set, want.SetCookie)
			continue
		}
		issued[wantSID] = set[cookieName]
	}
	return len(gc.requests)
}

// wireRequest writes a golden request body as an HTTP/1.x request head and
// returns its method too. Session ids the node issued are replaced by the
// ones serve issued in their place (node ids are "<node id>-<n>", serve's
// "<hostname>-<n>").
func (gc *goldenCase) wireRequest(body map[string]json.RawMessage, issued map[string]string) (string, string) {
	method, target, version := "GET", "", "HTTP/1.1"
	if raw, ok := body["raw"]; ok {
		line, _ := parseRaw(str(raw))
		parts := strings.Split(line, " ")
		method, target, version = parts[0], parts[1], parts[2]
	} else {
		if m, ok := body["method"]; ok {
			method = str(m)
		}
		target = str(body["path"])
	}
	// Clients never send a fragment; the node drops it anyway.
	target, _, _ = strings.Cut(target, "#")

	var headers []string
	hasHost := false
	for _, h := range requestHeaders(body) {
		name, value, _ := strings.Cut(h, ":")
		switch {
		case strings.EqualFold(name, "Host"):
			hasHost = true
		case strings.EqualFold(name, "Cookie"):
			h = name + ": " + gc.mapCookies(strings.TrimLeft(value, " \t"), issued)
		}
		headers = append(headers, h)
	}
	if !hasHost {
		if host, ok := body["host"]; ok {
			headers = append(headers, "Host: "+str(host))
			hasHost = true
		}
	}
	// An HTTP/1.1 request must have a Host; one the node saw without any
	// host goes as HTTP/1.0, where Host is optional.
	if !hasHost && version == "HTTP/1.1" {
		version = "HTTP/1.0"
	}

	// The body's session_id and cookies object come first in one Cookie
	// header: the node reads them before the Cookie header.
	cookieName, serverCookie := gc.stickyNames()
	var pairs []string
	if sid := str(body["session_id"]); sid != "" {
		pairs = append(pairs, cookieName+"="+mapID(sid, issued))
	}
	_, hasCookies := body["cookies"]
	var cookies map[string]string
	json.Unmarshal(body["cookies"], &cookies)
	names := make([]string, 0, len(cookies))
	for n := range cookies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := mapID(cookies[n], issued)
		if n == serverCookie {
			v = signHint(v)
		}
		pairs = append(pairs, n+"="+v)
	}
	if len(pairs) > 0 || hasCookies {
		// An empty cookies object still "carries cookies" for the node;
		// an empty Cookie header is its HTTP form.
		headers = append([]string{"Cookie: " + strings.Join(pairs, "; ")}, headers...)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\n", method, target, version)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return method, b.String()
}

// goldenSecret signs serve's sticky cookies in the replays.
const goldenSecret = "golden-equivalence"

// signHint returns the hint serve would have set for the node's plain hint
// server; an empty hint stays empty (absent, for both).
func signHint(server string) string {
	if server == "" {
		return ""
	}
	return signedValue(goldenSecret, server, time.Now().Unix())
}

// hintServer returns the server a hint serve set names.
func hintServer(t *testing.T, value string) string {
	server, _ := signedServer(t, value)
	return server
}

// mapCookies replaces, in a Cookie header value, every value that is a
// session id the node issued by serve's, and signs the server hint.
func (gc *goldenCase) mapCookies(header string, issued map[string]string) string {
	_, serverCookie := gc.stickyNames()
	parts := strings.Split(header, ";")
	for i, p := range parts {
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		switch {
		case ok && name == serverCookie:
			parts[i] = name + "=" + signHint(value)
		case ok:
			parts[i] = name + "=" + mapID(value, issued)
		default:
			parts[i] = strings.TrimSpace(p)
		}
	}
	return strings.Join(parts, "; ")
}

func mapID(v string, issued map[string]string) string {
	if m, ok := issued[v]; ok {
		return m
	}
	return v
}

// parseGoldenSetCookie splits a golden set_cookie, "C=ID; S=SERVER".
func parseGoldenSetCookie(sc, cookieName, serverCookie string) (sid, server string) {
	for _, p := range strings.Split(sc, "; ") {
		name, value, _ := strings.Cut(p, "=")
		switch name {
		case cookieName:
			sid = value
		case serverCookie:
			server = value
		}
	}
	return sid, server
}

// expectedPath returns the request-target the server should receive: the
// golden rewritten_path, else the golden path in origin form. Without a
// rewrite, serve forwards the normalized path, which the golden reply does
// not give: the path is compared only when it is already normal.
func expectedPath(r goldenReply) (string, bool) {
	if r.RewrittenPath != nil {
		return *r.RewrittenPath, true
	}
	if r.Path == nil {
		return "", false
	}
	p, _, _ := strings.Cut(*r.Path, "#")
	for _, scheme := range []string{"http://", "https://"} {
		if len(p) >= len(scheme) && strings.EqualFold(p[:len(scheme)], scheme) {
			rest := p[len(scheme):]
			i := strings.IndexAny(rest, "/?")
			if i < 0 {
				return "/", true
			}
			p = rest[i:]
			if p[0] == '?' {
				p = "/" + p
			}
		}
	}
	path, _, _ := strings.Cut(p, "?")
	if strings.Contains(path, "%") || strings.Contains(path, "//") || strings.Contains(path+"/", "/./") || strings.Contains(path+"/", "/../") {
		return "", false
	}
	return p, true
}

func str(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
