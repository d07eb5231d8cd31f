// Package lbnode is the Maelstrom face of l7lb: it registers the load
// balancer's message handlers on a maelstrom.Node and translates between
// message bodies and the engine. It holds no routing logic of its own.
package lbnode

import (
	"encoding/binary"
	"errors"
	"strconv"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/jsonx"
	"l7lb/maelstrom"
	"l7lb/strview"
)

// handler holds the per-node scratch space that the hot path reuses.
type handler struct {
	node *maelstrom.Node
	eng  *engine.Engine
	req  request
	er   engine.Request // reused: a request on the stack would escape through decide's func value
	dec  engine.Decision
	resp response
	// ahead holds the http_requests read ahead of their turn (see
	// prefetch), aheadN of them from aheadFirst on, oldest first: those
	// the node holds behind the one it handles, and that one.
	ahead              [engine.PrefetchDepth + 1]readAhead
	aheadFirst, aheadN int
	pf                 *engine.Prefetcher
}

// readAhead is an http_request read ahead of its turn: its handler takes it
// as it is rather than reading the message again.
type readAhead struct {
	body   *byte // the first byte of the message's body: which message it is
	req    request
	er     engine.Request
	reason string
}

// Register installs the load balancer's handlers on n, over e.
func Register(n *maelstrom.Node, e *engine.Engine) { register(n, e, true) }

// register is Register, with or without reading http_requests ahead: the
// tests compare the two.
func register(n *maelstrom.Node, e *engine.Engine, ahead bool) {
	h := &handler{node: n, eng: e, pf: e.NewPrefetcher()}
	n.Handle("init", h.init)
	n.Handle("http_request", h.httpRequest)
	if ahead {
		n.Ahead("http_request", engine.PrefetchDepth, h.prefetch)
	}
	n.Handle("explain", h.explain)
	n.Handle("add_route", h.addRoute)
	n.Handle("remove_route", h.removeRoute)
	n.Handle("set_default_servers", h.setDefaultServers)
	n.Handle("config", h.config)
	n.Handle("get_config", h.getConfig)
	n.Handle("server_down", func(m *maelstrom.Message) error { return h.setDown(m, true) })
	n.Handle("server_up", func(m *maelstrom.Message) error { return h.setDown(m, false) })
	n.Handle("stats", h.stats)
}

// init tells the engine the node id and the servers: node_ids without the
// node itself. The runtime has checked the fields and replies init_ok.
func (h *handler) init(*maelstrom.Message) error {
	self := h.node.ID()
	servers := make([]string, 0, len(h.node.NodeIDs()))
	for _, id := range h.node.NodeIDs() {
		if id != self && !contains(servers, id) {
			servers = append(servers, id)
		}
	}
	h.eng.Init(self, servers)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decide reads msg's body, or takes it as read ahead, and runs decide on
// it. It returns the request read, and false when it answered a malformed
// body with a 400 itself.
func (h *handler) decide(msg *maelstrom.Message, decide func(*engine.Request, *engine.Decision)) (*request, bool) {
	r, er, reason := &h.req, &h.er, ""
	if a := &h.ahead[h.aheadFirst]; h.aheadN > 0 && a.body == &msg.Body[0] {
		h.aheadFirst, h.aheadN = (h.aheadFirst+1)%len(h.ahead), h.aheadN-1
		r, er, reason = &a.req, &a.er, a.reason
	} else {
		h.er, reason = h.req.read(msg.Members)
	}
	if reason != "" {
		h.dec = engine.Decision{Status: 400, Error: reason, Rewritten: h.dec.Rewritten[:0]}
		return r, false
	}
	decide(er, &h.dec)
	return r, true
}

// prefetch reads an http_request buffered behind the one being handled,
// for its handler to take, and has the engine start loading what deciding
// it will read: with many routes, the cache misses of the requests
// buffered overlap instead of following one another. Reading a request
// changes nothing but the reader's scratch space.
func (h *handler) prefetch(msg *maelstrom.Message) {
	if h.aheadN == len(h.ahead) {
		// Not met by its handler: never so, as the node shows only the
		// messages it will hand it, but a stale one must not stay.
		h.aheadFirst, h.aheadN = (h.aheadFirst+1)%len(h.ahead), h.aheadN-1
	}
	a := &h.ahead[(h.aheadFirst+h.aheadN)%len(h.ahead)]
	h.aheadN++
	a.body = &msg.Body[0]
	if a.er, a.reason = a.req.read(msg.Members); a.reason == "" {
		h.pf.Add(&a.er)
	}
}

func (h *handler) httpRequest(msg *maelstrom.Message) error {
	r, ok := h.decide(msg, h.eng.Route)
	if !ok {
		h.eng.CountStatus(h.dec.Status)
	}
	h.resp = response{d: &h.dec, path: r.path, pathToken: r.pathToken, hasPath: r.hasPath}
	return h.node.ReplyFields(msg, "http_response", &h.resp)
}

func (h *handler) explain(msg *maelstrom.Message) error {
	h.decide(msg, h.eng.Explain)
	return h.node.Reply(msg, "explain_ok", h.dec.Explanation())
}

// response writes an http_response body: error, path, rewritten_path,
// routed_to, set_cookie, status, in that (alphabetical) order.
type response struct {
	d         *engine.Decision
	path      string
	pathToken []byte // path's token as received, when it had no escapes
	hasPath   bool
}

func (r *response) AppendFields(b []byte) []byte {
	d := r.d
	if d.Status != 200 {
		b = append(b, `,"error":`...)
		b = jsonx.AppendString(b, d.Error)
	}
	if r.hasPath {
		b = append(b, `,"path":`...)
		// A token without escapes is what AppendString writes for ASCII
		// text (and valid UTF-8, which takes longer to check).
		if r.pathToken != nil && ascii(r.pathToken) {
			b = append(b, r.pathToken...)
		} else {
			b = jsonx.AppendString(b, r.path)
		}
	}
	if d.Status == 200 && d.HasRewrite {
		b = append(b, `,"rewritten_path":`...)
		b = jsonx.AppendString(b, strview.Of(d.Rewritten))
	}
	if d.Server != "" {
		b = append(b, `,"routed_to":`...)
		b = jsonx.AppendString(b, d.Server)
	}
	if d.SetCookie {
		b = append(b, `,"set_cookie":`...)
		b = appendSetCookie(b, d)
	}
	b = append(b, `,"status":`...)
	if s := d.Status; 100 <= s && s <= 999 { // every status the engine gives
		return append(b, byte('0'+s/100), byte('0'+s/10%10), byte('0'+s%10))
	}
	return strconv.AppendInt(b, int64(d.Status), 10)
}

// ascii reports whether b is all ASCII, eight bytes at a time.
func ascii(b []byte) bool {
	var acc uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		acc |= binary.LittleEndian.Uint64(b[i:])
	}
	if len(b) >= 8 {
		acc |= binary.LittleEndian.Uint64(b[len(b)-8:]) // the rest, overlapping
	} else {
		for ; i < len(b); i++ {
			acc |= uint64(b[i])
		}
	}
	return acc&0x8080808080808080 == 0
}

// appendSetCookie writes set_cookie: `<cookie>=<id>; <server_cookie>=<server>`.
func appendSetCookie(b []byte, d *engine.Decision) []byte {
	v := make([]byte, 0, 64)
	v = append(v, d.CookieName...)
	v = append(v, '=')
	v = append(v, d.SessionID...)
	v = append(v, "; "...)
	v = append(v, d.ServerCookieName...)
	v = append(v, '=')
	v = append(v, d.ServerCookieValue...)
	return jsonx.AppendString(b, strview.Of(v))
}

// rpcError turns a configuration error into error 12 naming the first
// offending field.
func rpcError(err error) error {
	var es config.Errors
	if errors.As(err, &es) && len(es) > 0 {
		return maelstrom.NewRPCError(maelstrom.MalformedRequest, es[0].Error())
	}
	return maelstrom.NewRPCError(maelstrom.MalformedRequest, err.Error())
}

// body parses msg's body as a configuration value. A repeated key is
// error 12 naming it.
func body(msg *maelstrom.Message) (*config.Value, error) {
	v, err := config.ParseJSON(msg.Body)
	var repeated config.Errors
	switch {
	case errors.As(err, &repeated):
		return nil, rpcError(err)
	case err != nil:
		return nil, maelstrom.NewRPCError(maelstrom.MalformedRequest, "malformed body: "+err.Error())
	}
	return v, nil
}

func (h *handler) addRoute(msg *maelstrom.Message) error {
	v, err := body(msg)
	if err != nil {
		return err
	}
	r, err := config.DecodeRoute(v)
	if err != nil {
		return rpcError(err)
	}
	name, err := h.eng.AddRoute(r)
	if err != nil {
		return rpcError(err)
	}
	return h.node.Reply(msg, "add_route_ok", map[string]any{"route": name})
}

func (h *handler) removeRoute(msg *maelstrom.Message) error {
	v, err := body(msg)
	if err != nil {
		return err
	}
	name, err := stringField(v, "name")
	if err != nil {
		return err
	}
	if err := h.eng.RemoveRoute(name); err != nil {
		if errors.Is(err, engine.ErrNoRoute) {
			return maelstrom.NewRPCError(maelstrom.KeyDoesNotExist, err.Error())
		}
		return rpcError(err)
	}
	return h.node.Reply(msg, "remove_route_ok", nil)
}

// stringField returns the string member key of v, or error 12 naming it.
func stringField(v *config.Value, key string) (string, error) {
	f := v.Get(key)
	switch {
	case f == nil:
		return "", maelstrom.NewRPCError(maelstrom.MalformedRequest, key+": missing")
	case f.Kind != config.String:
		return "", maelstrom.NewRPCError(maelstrom.MalformedRequest, key+": expected a string")
	}
	return f.Str, nil
}

func (h *handler) setDefaultServers(msg *maelstrom.Message) error {
	v, err := body(msg)
	if err != nil {
		return err
	}
	servers, err := config.DecodeServers(v.Get("servers"), "servers")
	if err != nil {
		return rpcError(err)
	}
	if err := h.eng.SetDefaultServers(servers); err != nil {
		return rpcError(err)
	}
	return h.node.Reply(msg, "set_default_servers_ok", nil)
}

func (h *handler) config(msg *maelstrom.Message) error {
	v, err := body(msg)
	if err != nil {
		return err
	}
	cfg, err := config.DecodeConfig(v, true)
	if err != nil {
		return rpcError(err)
	}
	if err := h.eng.Apply(cfg); err != nil {
		return rpcError(err)
	}
	return h.node.Reply(msg, "config_ok", nil)
}

func (h *handler) getConfig(msg *maelstrom.Message) error {
	cfg, servers := h.eng.Config()
	return h.node.Reply(msg, "get_config_ok", map[string]any{"config": cfg.Canonical(servers)})
}

func (h *handler) setDown(msg *maelstrom.Message, down bool) error {
	v, err := body(msg)
	if err != nil {
		return err
	}
	server, err := stringField(v, "server")
	if err != nil {
		return err
	}
	if err := h.eng.SetDown(server, down); err != nil {
		return maelstrom.NewRPCError(maelstrom.MalformedRequest, "server: "+err.Error())
	}
	typ := "server_up_ok"
	if down {
		typ = "server_down_ok"
	}
	return h.node.Reply(msg, typ, nil)
}

func (h *handler) stats(msg *maelstrom.Message) error {
	s := h.eng.Stats()
	routed := make(map[string]any, len(s.Routed))
	for k, n := range s.Routed {
		routed[k] = n
	}
	statuses := make(map[string]any, len(s.Statuses))
	for code, n := range s.Statuses {
		statuses[strconv.Itoa(code)] = n
	}
	return h.node.Reply(msg, "stats_ok", map[string]any{"routed": routed, "statuses": statuses, "sessions": s.Sessions})
}
