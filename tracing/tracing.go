// Package tracing is the proxy's optional OpenTelemetry tracing: a span
// per proxied request, continuing the trace of the client's W3C
// traceparent (or starting one), whose own traceparent the server gets,
// exported over OTLP/HTTP.
//
// The proxy holds a nil *Tracer when tracing is off: each request then
// pays one nil check, nothing else.
package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"l7lb/buildinfo"
	"l7lb/config"
	"l7lb/observe"
)

// Tracer starts the spans of requests. Its methods are safe for concurrent
// use.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// New returns a tracer exporting to c.OTLPEndpoint, which starts c.Sample
// of new traces and follows the sampled flag of a client's traceparent.
func New(c config.Tracing) (*Tracer, error) {
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(c.OTLPEndpoint),
		otlptracehttp.WithTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	return NewWithExporter(exp, c.Sample), nil
}

// NewWithExporter returns a tracer exporting to exp in batches.
func NewWithExporter(exp sdktrace.SpanExporter, sample float64) *Tracer {
	b := buildinfo.Get()
	res := resource.NewSchemaless(attribute.String("service.name", "l7lb"), attribute.String("service.version", b.Version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sample))),
	)
	return &Tracer{provider: tp, tracer: tp.Tracer("l7lb/proxy")}
}

// Shutdown exports the spans not yet exported, within ctx.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

// Span is the span of one request.
type Span struct {
	span trace.Span
	// Traceparent is the W3C traceparent of this span, to send the
	// server; TraceID its trace id in hex, for the access log.
	Traceparent, TraceID string
}

// headers is a propagation carrier over the two trace-context fields.
type headers struct{ traceparent, tracestate string }

func (h *headers) Get(key string) string {
	switch key {
	case "traceparent":
		return h.traceparent
	case "tracestate":
		return h.tracestate
	}
	return ""
}

func (h *headers) Set(key, value string) {
	switch key {
	case "traceparent":
		h.traceparent = value
	case "tracestate":
		h.tracestate = value
	}
}

func (h *headers) Keys() []string { return []string{"traceparent", "tracestate"} }

var traceContext propagation.TraceContext

// Start starts the span of a request received at start with the method
// given, as a child of the client's traceparent and tracestate when they
// are valid (W3C Trace Context), else as the root of a new trace.
func (t *Tracer) Start(start time.Time, method, traceparent, tracestate string) *Span {
	ctx := traceContext.Extract(context.Background(), &headers{traceparent: traceparent, tracestate: tracestate})
	ctx, span := t.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	var out headers
	traceContext.Inject(ctx, &out)
	return &Span{span: span, Traceparent: out.traceparent, TraceID: span.SpanContext().TraceID().String()}
}

// End ends the span with what x says happened: the span is named after
// the method and route (OpenTelemetry's "{method} {route}"), and has the
// HTTP attributes of the semantic conventions, the route and server
// chosen, and an error status for a 5xx answer.
func (s *Span) End(x *observe.Exchange) {
	if s.span.IsRecording() {
		method := observe.MethodOf(x.Method).String()
		if x.RouteName != "" {
			s.span.SetName(method + " " + x.RouteName)
		}
		attrs := []attribute.KeyValue{
			attribute.String("http.request.method", method),
			attribute.String("url.path", x.Target),
			attribute.String("server.address", x.Host),
			attribute.String("client.address", x.Client),
			attribute.String("network.protocol.version", protocolVersion(x.Proto)),
			attribute.String("user_agent.original", x.UserAgent),
			attribute.Int64("http.request.size", x.Received),
			attribute.Int64("http.response.size", x.Sent),
			attribute.Int("http.request.resend_count", x.Retries),
		}
		if x.Status > 0 {
			attrs = append(attrs, attribute.Int("http.response.status_code", x.Status))
		}
		if x.RouteName != "" {
			attrs = append(attrs, attribute.String("http.route", x.RouteName))
		}
		if x.ServerName != "" {
			attrs = append(attrs, attribute.String("l7lb.server", x.ServerName))
		}
		if x.Sticky != 0 {
			attrs = append(attrs, attribute.String("l7lb.sticky", x.Sticky.String()))
		}
		s.span.SetAttributes(attrs...)
		if x.Status >= 500 || x.Status == 0 {
			s.span.SetStatus(codes.Error, "")
		}
	}
	s.span.End(trace.WithTimestamp(x.Start.Add(x.Duration)))
}

// protocolVersion returns "1.1" for "HTTP/1.1".
func protocolVersion(proto string) string {
	if len(proto) > 5 && proto[:5] == "HTTP/" {
		return proto[5:]
	}
	return proto
}
