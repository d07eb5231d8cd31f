// Package admin serves the proxy's admin listener: liveness, statistics as
// JSON with the build's version, metrics (package metrics), the running
// configuration (read, replaced, reloaded), the servers' states (drain,
// disable, enable) and explain. Writes need the bearer token; reads need
// it too when the listener is not on loopback.
package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"l7lb/buildinfo"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/lbnode"
)

// Control is the running proxy the admin API reads and drives.
type Control interface {
	Engine() *engine.Engine
	// ProxyStats returns the proxy's counters, JSON-encodable.
	ProxyStats() any
	// Running returns the running configuration and its revision.
	Running() (*config.File, config.Revision)
	// Reloads counts the configurations accepted and rejected.
	Reloads() (accepted, rejected uint64)
	// Token returns the bearer token ("" for none) and whether reads
	// need it too (the admin address is not loopback).
	Token() (token string, readsNeedIt bool)
	// Apply validates data (a configuration document) and, unless
	// dryRun, applies it as a reload does. Configuration errors are a
	// *config.Located.
	Apply(data []byte, dryRun bool) (*Outcome, error)
	// Reload reads the configuration file again and applies it.
	Reload() (*Outcome, error)
	// Logf reports on stderr.
	Logf(format string, args ...any)
}

// Outcome is the result of a configuration write.
type Outcome struct {
	Revision  config.Revision // the running revision after it
	Unchanged bool            // the configuration was the running one
	DryRun    bool
	// Proposed is the hash the configuration has (dry runs).
	Proposed string
	Changes  config.Changes
	Diff     string // unified diff of the canonical YAML, secrets redacted
}

// Handler serves the admin API over c, and metrics (nil for none) on
// /metrics.
func Handler(c Control, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		s := c.Engine().Stats()
		statuses := make(map[string]uint64, len(s.Statuses))
		for code, n := range s.Statuses {
			statuses[strconv.Itoa(code)] = n
		}
		_, rev := c.Running()
		accepted, rejected := c.Reloads()
		writeJSON(w, http.StatusOK, map[string]any{
			"routed":   s.Routed,
			"statuses": statuses,
			"sessions": s.Sessions,
			"down":     s.Down,
			"panics":   s.Panics,
			"servers":  serverStates(s),
			"proxy":    c.ProxyStats(),
			"version":  buildinfo.Get().String(),
			"config":   map[string]any{"revision": rev.N, "hash": rev.Hash, "reloads": map[string]uint64{"accepted": accepted, "rejected": rejected}},
		})
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /explain", explainQuery(c.Engine()))
	mux.HandleFunc("POST /explain", explainBody(c.Engine()))
	mux.HandleFunc("GET /config", getConfig(c))
	mux.HandleFunc("PUT /config", write(c, putConfig(c)))
	mux.HandleFunc("POST /reload", write(c, func(w http.ResponseWriter, r *http.Request) string {
		out, err := c.Reload()
		return answerOutcome(w, out, err)
	}))
	mux.HandleFunc("GET /servers", listServers(c))
	for _, action := range []string{"drain", "disable", "enable"} {
		mux.HandleFunc("POST /servers/{id}/"+action, write(c, setServer(c, action)))
	}
	return authorize(c, mux)
}

// authorize asks for the bearer token on every write, and on reads when
// the admin address is not loopback.
func authorize(c Control, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, reads := c.Token()
		writing := r.Method != http.MethodGet && r.Method != http.MethodHead && !(r.Method == http.MethodPost && r.URL.Path == "/explain")
		if !writing && !reads {
			next.ServeHTTP(w, r)
			return
		}
		if token == "" {
			writeError(w, http.StatusForbidden, errors.New("admin writes are off: set admin_token in the configuration or L7LB_ADMIN_TOKEN"), "", 0)
			return
		}
		given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(given), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="l7lb admin"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token (Authorization: Bearer TOKEN)"), "", 0)
			if writing {
				c.Logf("admin: %s %s: refused: no valid token", r.Method, r.URL.Path)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// write wraps a write endpoint, which returns what it did, with its log
// line: the endpoint, the outcome and the running revision.
func write(c Control, h func(http.ResponseWriter, *http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		outcome := h(w, r)
		_, rev := c.Running()
		target := r.URL.Path
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		c.Logf("admin: %s %s from %s: %s; revision %d %s", r.Method, target, r.RemoteAddr, outcome, rev.N, rev.Hash)
	}
}

// maxConfigBytes bounds a configuration document sent to PUT /config.
const maxConfigBytes = 8 << 20

func putConfig(c Control) func(http.ResponseWriter, *http.Request) string {
	return func(w http.ResponseWriter, r *http.Request) string {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBytes))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body: %v", err), "", 0)
			return "rejected: body too large"
		}
		dry := false
		switch v := r.URL.Query().Get("dry_run"); v {
		case "", "0", "false":
		case "1", "true":
			dry = true
		default:
			writeError(w, http.StatusBadRequest, fmt.Errorf("dry_run: want 1 or 0, got %q", v), "", 0)
			return "rejected: bad dry_run"
		}
		out, err := c.Apply(data, dry)
		return answerOutcome(w, out, err)
	}
}

// answerOutcome answers a configuration write and returns what it did.
func answerOutcome(w http.ResponseWriter, out *Outcome, err error) string {
	if err != nil {
		var loc *config.Located
		if errors.As(err, &loc) {
			writeProblems(w, loc)
			return fmt.Sprintf("rejected: %d problems, first %s", len(loc.Problems), strings.SplitN(loc.Error(), "\n", 2)[0])
		}
		writeError(w, http.StatusInternalServerError, err, "", 0)
		return "failed: " + err.Error()
	}
	body := map[string]any{
		"revision":  map[string]any{"n": out.Revision.N, "hash": out.Revision.Hash},
		"unchanged": out.Unchanged,
		"changes":   out.Changes,
		"diff":      out.Diff,
	}
	what := "accepted"
	switch {
	case out.DryRun:
		body["dry_run"] = true
		body["proposed"] = out.Proposed
		what = "dry run: valid"
	case out.Unchanged:
		what = "accepted: unchanged"
	}
	writeJSON(w, http.StatusOK, body)
	return what
}

// writeProblems answers 422 with every problem of a configuration: the
// first as {error, field, line}, all under problems.
func writeProblems(w http.ResponseWriter, loc *config.Located) {
	problems := make([]map[string]any, len(loc.Problems))
	for i, p := range loc.Problems {
		problems[i] = problem(p.Msg, p.Field, p.Line)
	}
	body := problem(loc.Problems[0].Msg, loc.Problems[0].Field, loc.Problems[0].Line)
	body["problems"] = problems
	body["message"] = loc.Error()
	writeJSON(w, http.StatusUnprocessableEntity, body)
}

func problem(msg, field string, line int) map[string]any {
	return map[string]any{"error": msg, "field": field, "line": line}
}

// writeError answers status with {error, field, line}.
func writeError(w http.ResponseWriter, status int, err error, field string, line int) {
	writeJSON(w, status, problem(err.Error(), field, line))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// getConfig serves the running configuration in the form --config takes:
// YAML, or JSON when the Accept header prefers application/json. Secrets
// are redacted unless the request carries the token.
func getConfig(c Control) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, rev := c.Running()
		token, _ := c.Token()
		given, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		redact := token == "" || subtle.ConstantTimeCompare([]byte(given), []byte(token)) != 1
		w.Header().Set("L7LB-Revision", fmt.Sprintf("%d %s", rev.N, rev.Hash))
		if redact {
			w.Header().Set("L7LB-Redacted", strings.Join(config.Redact(f.Canonical()), ", "))
		}
		if wantsJSON(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(f.JSON(redact))
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(f.YAML(redact))
	}
}

// wantsJSON reports whether an Accept header names application/json
// before any YAML type (or without one).
func wantsJSON(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json":
			return true
		case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
			return false
		}
	}
	return false
}

// serverInfo is one server as GET /servers shows it.
type serverInfo struct {
	ID       string  `json:"id"`
	URL      string  `json:"url"`
	State    string  `json:"state"`
	InFlight int64   `json:"in_flight"`
	Ejected  bool    `json:"ejected"`
	Routed   uint64  `json:"routed"`
	EWMAms   float64 `json:"ewma_ms"`
}

func listServers(c Control) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		f, _ := c.Running()
		s := c.Engine().Stats()
		out := make([]serverInfo, 0, len(f.Servers))
		for _, sv := range f.Servers {
			st := s.Servers[sv.ID]
			out = append(out, serverInfo{ID: sv.ID, URL: sv.URL, State: st.State, InFlight: st.InFlight, Ejected: st.Ejected, Routed: s.Routed[sv.ID], EWMAms: st.EWMA})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		writeJSON(w, http.StatusOK, map[string]any{"servers": out})
	}
}

func setServer(c Control, action string) func(http.ResponseWriter, *http.Request) string {
	return func(w http.ResponseWriter, r *http.Request) string {
		id := r.PathValue("id")
		e := c.Engine()
		f, _ := c.Running()
		var err error
		switch action {
		case "drain":
			err = e.Drain(id, f.DrainTimeout)
		case "disable":
			err = e.Disable(id)
		default:
			err = e.Enable(id)
		}
		if err != nil {
			writeError(w, http.StatusNotFound, err, "id", 0)
			return "rejected: " + err.Error()
		}
		state, _ := e.State(id)
		body := map[string]any{"id": id, "state": state}
		if action == "drain" {
			body["drain_timeout"] = f.DrainTimeout.String()
		}
		writeJSON(w, http.StatusOK, body)
		return fmt.Sprintf("server %s %s", id, state)
	}
}

// explainQuery serves GET /explain: the request is given by the query:
// url (origin-form or absolute, required), method (GET by default) and
// header, repeatable, as "Name: value".
func explainQuery(e *engine.Engine) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		target := q.Get("url")
		method := q.Get("method")
		if method == "" {
			method = "GET"
		}
		if target == "" {
			writeError(w, http.StatusBadRequest, errors.New("missing: the request's target, /path?query or http://host/path"), "url", 0)
			return
		}
		var fields []httpmsg.Field
		for _, h := range q["header"] {
			name, value, ok := strings.Cut(h, ":")
			if !ok || !httpmsg.ValidToken(strings.TrimSpace(name)) {
				writeError(w, http.StatusBadRequest, fmt.Errorf("want 'Name: value', got %q", h), "header", 0)
				return
			}
			fields = append(fields, httpmsg.Field{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
		}
		view := &httpmsg.Headers{Fields: fields}
		req := engine.Request{Method: method, Target: target, Headers: view}
		req.Host, _ = view.Header("Host")
		explain(w, e, &req)
	}
}

// explainBody serves POST /explain: the request is a JSON object with the
// fields of the node's explain message (method, path, host, headers,
// cookies, session_id, raw), read by the node's own reader.
func explainBody(e *engine.Engine) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, err, "", 0)
			return
		}
		req, reason := lbnode.ParseRequest(data)
		if reason != "" {
			field, _, _ := strings.Cut(reason, ":")
			writeError(w, http.StatusBadRequest, errors.New(reason), field, 0)
			return
		}
		explain(w, e, &req)
	}
}

// explain answers the decision the live engine makes for req, changing
// nothing: the node's explain_ok fields, with the live inputs of the
// choice, and path, the target the server would get.
func explain(w http.ResponseWriter, e *engine.Engine, req *engine.Request) {
	var d engine.Decision
	if _, err := httpmsg.RequestHost(req.Target, req.Host); err != nil {
		// The proxy answers 400 before it asks the engine, as l7lb
		// explain says.
		writeJSON(w, http.StatusOK, map[string]any{"status": 400, "sticky": engine.StickyNone.String(), "error": err.Error()})
		return
	}
	e.Explain(req, &d)
	out := d.Explanation()
	if d.Status == 200 && !d.HasRewrite {
		out["path"] = d.Upstream
	}
	writeJSON(w, http.StatusOK, out)
}
