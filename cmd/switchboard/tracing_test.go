package main

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchboard-cc/switchboard/server/tracing"
	sobotsim "github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
)

// TestTracesCoverOperationAndUpstream: one span per GraphQL operation, a child span per
// upstream request, and the W3C traceparent the vendor received carries the same trace.
func TestTracesCoverOperationAndUpstream(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewProvider(sdktrace.NewSimpleSpanProcessor(exp), tracing.Config{})
	defer func() { _ = tp.Shutdown(context.Background()) }()
	g := startTestGatewayWith(t, vendorsNamed("sobot"), testSetup{gateway: gatewayOptions{tracer: tp}})
	sim := g.demo.bySource["sobot/sobot"].handler.(*sobotsim.Server)
	sim.ResetRequests()
	to := time.Now().Add(-time.Hour)
	var page callPage
	g.mustData(t, g.tokens["sobot"].Full, callsQuery, map[string]any{"from": to.Add(-time.Hour), "to": to, "first": 3}, &page)

	var op sdktrace.ReadOnlySpan
	var upstream []sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		switch {
		case s.Name() == "graphql query calls":
			op = s
		case strings.HasPrefix(s.Name(), "upstream "):
			upstream = append(upstream, s)
		}
	}
	if op == nil || len(upstream) == 0 {
		t.Fatalf("spans: operation %v, %d upstream", op != nil, len(upstream))
	}
	traceID := op.SpanContext().TraceID()
	children := 0
	for _, s := range upstream {
		if s.SpanContext().TraceID() == traceID && s.Parent().SpanID() == op.SpanContext().SpanID() {
			children++
		}
	}
	if children == 0 {
		t.Fatal("no upstream span is a child of the operation span")
	}
	propagated := 0
	for _, r := range sim.Requests() {
		if strings.Contains(r.Header.Get("Traceparent"), traceID.String()) {
			propagated++
		}
	}
	if propagated == 0 {
		t.Fatal("the vendor never received the operation's traceparent")
	}
}
