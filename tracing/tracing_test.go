package tracing

import (
	"context"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"l7lb/engine"
	"l7lb/observe"
)

const clientParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

var traceparent = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$`)

// spans exports what has ended and returns the exported spans.
func spans(t *testing.T, tr *Tracer, exp *tracetest.InMemoryExporter) tracetest.SpanStubs {
	t.Helper()
	if err := tr.provider.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return exp.GetSpans()
}

func exchange(status int) *observe.Exchange {
	return &observe.Exchange{Route: 0, Server: 0, RouteName: "api", ServerName: "s1", Status: status, Start: time.Unix(1000, 0),
		Duration: 3 * time.Millisecond, Method: "GET", Target: "/a?b", Proto: "HTTP/1.1", Host: "shop.example.com",
		Client: "192.0.2.1", Sticky: engine.StickyHit, Retries: 1, Sent: 10, Received: 20, Connect: -1, Upstream: -1}
}

// TestContinue: a request with a valid traceparent gets a child span of
// it, and the server gets the child's traceparent.
func TestContinue(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := NewWithExporter(exp, 0) // sample 0: only the client's sampled flag decides
	s := tr.Start(time.Unix(1000, 0), "GET", clientParent, "vendor=x")
	m := traceparent.FindStringSubmatch(s.Traceparent)
	if m == nil || m[1] != "4bf92f3577b34da6a3ce929d0e0e4736" || m[2] == "00f067aa0ba902b7" || m[3] != "01" {
		t.Fatalf("server's traceparent %q: want the client's trace, a new span id, sampled", s.Traceparent)
	}
	if s.TraceID != m[1] {
		t.Errorf("TraceID %s", s.TraceID)
	}
	s.End(exchange(502))
	got := spans(t, tr, exp)
	if len(got) != 1 {
		t.Fatalf("%d spans, want 1", len(got))
	}
	sp := got[0]
	if sp.Parent.SpanID().String() != "00f067aa0ba902b7" || !sp.Parent.IsRemote() || sp.SpanContext.SpanID().String() != m[2] {
		t.Errorf("span %s, parent %s: want the client's span as parent", sp.SpanContext.SpanID(), sp.Parent.SpanID())
	}
	if sp.SpanContext.TraceState().Get("vendor") != "x" {
		t.Errorf("tracestate not carried: %v", sp.SpanContext.TraceState())
	}
	if sp.Name != "GET api" || sp.SpanKind != trace.SpanKindServer || sp.Status.Code != codes.Error {
		t.Errorf("name %q kind %v status %v", sp.Name, sp.SpanKind, sp.Status)
	}
	if !sp.StartTime.Equal(time.Unix(1000, 0)) || !sp.EndTime.Equal(time.Unix(1000, 0).Add(3*time.Millisecond)) {
		t.Errorf("times %v %v", sp.StartTime, sp.EndTime)
	}
	want := map[attribute.Key]attribute.Value{
		"http.request.method":       attribute.StringValue("GET"),
		"http.response.status_code": attribute.IntValue(502),
		"http.route":                attribute.StringValue("api"),
		"url.path":                  attribute.StringValue("/a?b"),
		"server.address":            attribute.StringValue("shop.example.com"),
		"network.protocol.version":  attribute.StringValue("1.1"),
		"l7lb.server":               attribute.StringValue("s1"),
		"l7lb.sticky":               attribute.StringValue("hit"),
		"http.request.resend_count": attribute.IntValue(1),
	}
	have := map[attribute.Key]attribute.Value{}
	for _, kv := range sp.Attributes {
		have[kv.Key] = kv.Value
	}
	for k, v := range want {
		if have[k] != v {
			t.Errorf("%s = %v, want %v", k, have[k].Emit(), v.Emit())
		}
	}
}

// TestNewTrace: without a traceparent, or with one that is not valid, a
// new trace starts, sampled at the configured share.
func TestNewTrace(t *testing.T) {
	for _, parent := range []string{"", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		exp := tracetest.NewInMemoryExporter()
		tr := NewWithExporter(exp, 1)
		s := tr.Start(time.Now(), "POST", parent, "")
		m := traceparent.FindStringSubmatch(s.Traceparent)
		if m == nil || m[1] == "4bf92f3577b34da6a3ce929d0e0e4736" || m[3] != "01" {
			t.Errorf("parent %q: server's traceparent %q, want a new sampled trace", parent, s.Traceparent)
		}
		x := exchange(200)
		x.RouteName = ""
		s.End(x)
		if got := spans(t, tr, exp); len(got) != 1 || got[0].Parent.IsValid() || got[0].Name != "POST" || got[0].Status.Code == codes.Error {
			t.Errorf("parent %q: spans %+v", parent, got)
		}
	}
}

// TestNotSampled: a client's unsampled trace, and new traces at sample 0,
// record nothing, yet the server still gets a traceparent of the trace.
func TestNotSampled(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := NewWithExporter(exp, 1)
	s := tr.Start(time.Now(), "GET", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "")
	if m := traceparent.FindStringSubmatch(s.Traceparent); m == nil || m[1] != "4bf92f3577b34da6a3ce929d0e0e4736" || m[3] != "00" {
		t.Errorf("server's traceparent %q: want the client's trace, unsampled", s.Traceparent)
	}
	s.End(exchange(200))
	tr0 := NewWithExporter(exp, 0)
	s = tr0.Start(time.Now(), "GET", "", "")
	if m := traceparent.FindStringSubmatch(s.Traceparent); m == nil || m[3] != "00" {
		t.Errorf("sample 0: server's traceparent %q, want unsampled", s.Traceparent)
	}
	s.End(exchange(200))
	tr0.provider.ForceFlush(context.Background())
	if got := spans(t, tr, exp); len(got) != 0 {
		t.Errorf("%d spans exported, want none", len(got))
	}
}
