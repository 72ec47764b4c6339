package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/bench"
	"github.com/switchboard-cc/switchboard/bench/replay"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	sobotsim "github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
)

type answer struct {
	Data struct {
		Calls struct {
			TotalCount int `json:"totalCount"`
			Edges      []struct {
				Node map[string]any `json:"node"`
			} `json:"edges"`
		} `json:"calls"`
	} `json:"data"`
	Errors []any `json:"errors"`
}

func ask(t *testing.T, h http.Handler, token string) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": bench.CallsQuery})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK || len(a.Errors) > 0 {
		t.Fatalf("HTTP %d, %v: %s", rec.Code, err, rec.Body)
	}
	return a
}

// TestSameAnswerAsSwitchboard keeps the reference honest: for the benchmark's query the
// proxy answers the same calls, field for field, as the gateway does.
func TestSameAnswerAsSwitchboard(t *testing.T) {
	clock := simcc.NewManualClock(time.Now().UTC().Truncate(time.Minute))
	sim, err := bench.StartSim("sobot", clock, replay.Exact, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	g, err := bench.NewGateway(context.Background(), sim, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Close() }()
	simToken, err := bench.SobotToken(sim.Handler, sobotsim.DemoAppID, sobotsim.DemoAppSecret, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{client: http.DefaultClient, url: sim.URL + bench.SobotCallsPath, token: "Bearer " + simToken,
		secret: []byte("proxy-test-secret-0123456789abcdef"), source: "sobot", now: clock.Now}
	m, err := auth.NewMinter("HS256", p.secret, "bench", "switchboard", "tenant", "scope")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint("bench", []string{auth.ScopeCallsRead}, time.Hour, clock.Now())
	if err != nil {
		t.Fatal(err)
	}

	want, got := ask(t, g.Handler, g.Token), ask(t, p, tok)
	if len(got.Data.Calls.Edges) != 20 {
		t.Fatalf("proxy answered %d calls, want 20", len(got.Data.Calls.Edges))
	}
	if diff := cmp.Diff(want.Data.Calls.TotalCount, got.Data.Calls.TotalCount); diff != "" {
		t.Errorf("totalCount (-gateway +proxy):\n%s", diff)
	}
	for i := range want.Data.Calls.Edges {
		if diff := cmp.Diff(want.Data.Calls.Edges[i].Node, got.Data.Calls.Edges[i].Node); diff != "" {
			t.Errorf("call %d (-gateway +proxy):\n%s", i, diff)
		}
	}
}

func TestRefusesBadToken(t *testing.T) {
	p := &proxy{secret: []byte("proxy-test-secret-0123456789abcdef"), now: time.Now}
	for _, h := range []string{"", "Bearer x.y.z", "Basic abc"} {
		if p.authorized(h) {
			t.Errorf("authorized(%q) = true", h)
		}
	}
}
