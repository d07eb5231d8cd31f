package e2e

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a small OTLP/HTTP trace collector: it takes the
// protobuf export requests on /v1/traces and keeps their spans.
type otlpReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var export coltrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &export)
		}
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
			t.Errorf("OTLP export: %s %s %s: %v", req.Method, req.URL.Path, req.Header.Get("Content-Type"), err)
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					r.services = append(r.services, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) received() ([]*tracepb.Span, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...), append([]string(nil), r.services...)
}

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)

// TestTracing: with tracing on, a request carrying a traceparent gets a
// span in the client's trace, a request without one starts a trace; the
// server gets the proxy span's traceparent; the spans reach an OTLP/HTTP
// collector, and the access log has their trace ids.
func TestTracing(t *testing.T) {
	recv := newOTLPReceiver(t)
	b := newHandlerBackend(t, "s1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	p := startServe(t, []*backend{b}, fmt.Sprintf(`
sticky: {mode: "off"}
routes: [{name: api, path: /api/*, servers: [s1]}]
tracing: {otlp_endpoint: %q}
`, recv.srv.URL))
	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	c := newClient(t, false)
	req := request(t, "GET", p.Addr, "example.com", "/api/x", nil)
	req.Header.Set("Traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	do(t, c, req)
	first, _ := b.last()
	do(t, c, request(t, "GET", p.Addr, "example.com", "/api/y", nil))
	second, _ := b.last()

	m1 := traceparentRE.FindStringSubmatch(first.Header.Get("Traceparent"))
	m2 := traceparentRE.FindStringSubmatch(second.Header.Get("Traceparent"))
	if m1 == nil || m1[1] != clientTrace || m1[2] == clientSpan || len(first.Header.Values("Traceparent")) != 1 {
		t.Fatalf("server got traceparent %q, want the client's trace with the proxy's span", first.Header.Values("Traceparent"))
	}
	if m2 == nil || m2[1] == clientTrace {
		t.Fatalf("server got traceparent %q, want a new trace", second.Header.Get("Traceparent"))
	}
	p.stop(t) // exports what is left
	spans, services := recv.received()
	if len(spans) != 2 || len(services) == 0 || services[0] != "l7lb" {
		t.Fatalf("collector got %d spans, services %v; stderr:\n%s", len(spans), services, p.stderr)
	}
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.SpanId)] = s
	}
	s1, s2 := byID[m1[2]], byID[m2[2]]
	if s1 == nil || s2 == nil {
		t.Fatalf("the spans the server saw were not exported: %v", byID)
	}
	if hex.EncodeToString(s1.TraceId) != clientTrace || hex.EncodeToString(s1.ParentSpanId) != clientSpan {
		t.Errorf("span 1: trace %x parent %x, want the client's", s1.TraceId, s1.ParentSpanId)
	}
	if hex.EncodeToString(s2.TraceId) != m2[1] || len(s2.ParentSpanId) != 0 {
		t.Errorf("span 2: trace %x parent %x, want a root of the server's trace", s2.TraceId, s2.ParentSpanId)
	}
	if s1.Name != "GET api" || s1.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("span 1: %q %v", s1.Name, s1.Kind)
	}
	attrs := map[string]string{}
	for _, a := range s1.Attributes {
		attrs[a.Key] = strings.Trim(a.Value.String(), " ")
	}
	for k, v := range map[string]string{"http.response.status_code": "int_value:200", "http.route": `string_value:"api"`, "l7lb.server": `string_value:"s1"`} {
		if !strings.Contains(attrs[k], v) {
			t.Errorf("span 1: %s = %s, want %s", k, attrs[k], v)
		}
	}
	log := p.stdout.String()
	for _, id := range []string{m1[1], m2[1]} {
		if !strings.Contains(log, "trace_id="+id) {
			t.Errorf("access log lacks trace_id=%s:\n%s", id, log)
		}
	}
}
