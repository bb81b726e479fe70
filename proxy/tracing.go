package proxy

import (
	"context"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracing is OpenTelemetry tracing: off unless the standard environment asks
// for an OTLP exporter (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_TRACES_EXPORTER=otlp; the
// exporter reads the rest of OTEL_EXPORTER_OTLP_*, the SDK
// OTEL_TRACES_SAMPLER and OTEL_SERVICE_NAME). A tool call is a server span
// with the upstream request as a client child; W3C traceparent is read from
// the client's request and sent upstream.
type tracing struct {
	// enabled: spans are recorded and exported. Off, the tracer is a no-op
	// that still carries a client's trace context to the upstream, and no
	// span names or attributes are built.
	enabled  bool
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	shutdown func(context.Context) error
}

func tracingEnabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return getenv("OTEL_TRACES_EXPORTER") == "otlp" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
		getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// newTracing builds the tracer; it connects to nothing until spans are
// exported.
func newTracing(version string) (*tracing, error) {
	t := &tracing{
		tracer:   noop.NewTracerProvider().Tracer("api2mcp"),
		prop:     propagation.TraceContext{},
		shutdown: func(context.Context) error { return nil },
	}
	if !tracingEnabled(os.Getenv) {
		return t, nil
	}
	exp, err := otlptracehttp.New(context.Background())
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.version", version)))
	if err != nil {
		return nil, err
	}
	if os.Getenv("OTEL_SERVICE_NAME") == "" {
		res, _ = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", "api2mcp")))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)), sdktrace.WithResource(res))
	t.tracer = tp.Tracer("github.com/api2mcp/api2mcp/proxy")
	t.enabled = true
	t.shutdown = tp.Shutdown
	return t, nil
}

// traceparentHeader is W3C trace context's header, in canonical form.
const traceparentHeader = "Traceparent"

// startCall starts the server span of a call of tool, continuing the trace
// context in header.
func (t *tracing) startCall(ctx context.Context, header http.Header, tool, upstream string) (context.Context, trace.Span) {
	if !t.enabled && len(header[traceparentHeader]) == 0 {
		// No trace to record or carry on: nothing to extract or start.
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(header))
	if !t.enabled {
		return t.tracer.Start(ctx, "")
	}
	return t.tracer.Start(ctx, "tools/call "+tool, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("mcp.tool", tool), attribute.String("api2mcp.upstream", upstream)))
}

// startUpstream starts the client span of an upstream request.
func (t *tracing) startUpstream(ctx context.Context, method, upstream, host string) (context.Context, trace.Span) {
	if !t.enabled {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return ctx, trace.SpanFromContext(ctx) // no trace to carry on
		}
		return t.tracer.Start(ctx, "")
	}
	return t.tracer.Start(ctx, method+" "+upstream, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("server.address", host)))
}

// endSpan records a call's outcome on its span and ends it.
func endSpan(span trace.Span, outcome string, status int) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(attribute.String("api2mcp.outcome", outcome))
	if status > 0 {
		span.SetAttributes(attribute.Int("api2mcp.upstream_status", status))
	}
	if outcome != "ok" {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}
