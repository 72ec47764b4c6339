// Package tracing sets up OpenTelemetry: an OTLP/HTTP exporter when configured (off
// otherwise), a span per GraphQL operation and per upstream request, and W3C trace context
// propagated to the vendors.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Config enables tracing.
type Config struct {
	// Endpoint is the OTLP/HTTP collector, e.g. "collector:4318"; empty turns tracing off.
	Endpoint string
	// Insecure sends without TLS.
	Insecure bool
	// SampleRatio is the share of new traces kept, 0..1 [1].
	SampleRatio float64
	// ServiceName names the service [switchboard].
	ServiceName string
}

// Setup returns the tracer provider and its shutdown; a no-op provider when Endpoint is empty.
func Setup(ctx context.Context, c Config) (trace.TracerProvider, func(context.Context) error, error) {
	if c.Endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(c.Endpoint)}
	if c.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("creating OTLP exporter: %w", err)
	}
	tp := NewProvider(sdktrace.NewBatchSpanProcessor(exp), c)
	return tp, tp.Shutdown, nil
}

// NewProvider builds an SDK provider around a span processor (tests pass an in-memory one).
func NewProvider(sp sdktrace.SpanProcessor, c Config) *sdktrace.TracerProvider {
	ratio := c.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	name := c.ServiceName
	if name == "" {
		name = "switchboard"
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))),
	)
}

// Enabled reports whether tp records anything.
func Enabled(tp trace.TracerProvider) bool {
	_, off := tp.(noop.TracerProvider)
	return tp != nil && !off
}

// Shutdown flushes an SDK provider; other providers need nothing.
func Shutdown(ctx context.Context, tp trace.TracerProvider) error {
	if s, ok := tp.(interface{ Shutdown(context.Context) error }); ok {
		return s.Shutdown(ctx)
	}
	return nil
}

const instrumentation = "github.com/switchboard-cc/switchboard"

// Transport wraps a source's transport: a client span per request and the W3C
// traceparent header injected. Only the path is recorded, never the query (it can carry
// vendor parameters) or headers (they carry credentials).
func Transport(tp trace.TracerProvider, next http.RoundTripper, tenant, vendor, source string) http.RoundTripper {
	if !Enabled(tp) {
		return next
	}
	return &transport{next: next, tracer: tp.Tracer(instrumentation), attrs: []attribute.KeyValue{
		attribute.String("switchboard.tenant", tenant), attribute.String("switchboard.vendor", vendor), attribute.String("switchboard.source", source),
	}}
}

type transport struct {
	next   http.RoundTripper
	tracer trace.Tracer
	attrs  []attribute.KeyValue
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := t.tracer.Start(r.Context(), "upstream "+r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(t.attrs, attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path), attribute.String("server.address", r.URL.Host))...))
	defer span.End()
	r = r.Clone(ctx)
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		span.SetStatus(codes.Error, "request failed")
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, "HTTP "+strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}

// TrackBreaker passes breaker registration through to the wrapped transport.
func (t *transport) TrackBreaker(state func() int) {
	if bt, ok := t.next.(interface{ TrackBreaker(func() int) }); ok {
		bt.TrackBreaker(state)
	}
}

// StartOperation starts the span of one GraphQL operation.
func StartOperation(ctx context.Context, tp trace.TracerProvider, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tp.Tracer(instrumentation).Start(ctx, "graphql "+name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}
