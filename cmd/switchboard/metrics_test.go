package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsAfterTraffic drives queries and a subscription, then scrapes /metrics.
func TestMetricsAfterTraffic(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{center: busyCenter})
	tok := g.tokens["telavox"].Full
	var out callPage
	to := time.Now().Add(-time.Hour)
	g.mustData(t, tok, callsQuery, map[string]any{"from": to.Add(-time.Hour), "to": to, "first": 5}, &out)
	g.query(t, tok, `{ queues { stats { offered } } }`, nil)
	g.query(t, tok, `{ queues { stats { offered } } }`, nil)
	g.query(t, tok, `{ nope }`, nil)
	ws := g.dialWS(t, tok)
	ws.subscribe("1", `subscription { callEvents { seq } }`)
	if m := ws.read(30 * time.Second); m["type"] != "next" {
		t.Fatalf("subscription: %v", m)
	}
	resp, err := http.Get(g.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`switchboard_graphql_operations_total{operation="query calls",outcome="ok"} 1`,
		`switchboard_graphql_operations_total{operation="invalid",outcome="error"} 1`,
		`switchboard_graphql_operation_duration_seconds_bucket{operation="query calls"`,
		`switchboard_upstream_requests_total{outcome="2xx",source="telavox",vendor="telavox"}`,
		`switchboard_upstream_request_duration_seconds_bucket{source="telavox",vendor="telavox"`,
		`switchboard_live_streams{status="LIVE",topic="calls",vendor="telavox"} 1`,
		`switchboard_live_subscribers{topic="calls",vendor="telavox"} 1`,
		`switchboard_live_upstream_connects{topic="calls",vendor="telavox"} 1`,
		`switchboard_live_events_delivered_total{topic="calls"}`,
		`switchboard_cache_hits_total 1`,
		`switchboard_cache_hit_ratio`,
		`switchboard_circuit_breaker_state{source="telavox",vendor="telavox"} 0`,
		`switchboard_jwks_refreshes_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, g.demo.secrets[demoSecretEnv]) || strings.Contains(text, tok) {
		t.Error("/metrics leaks a secret")
	}
}
