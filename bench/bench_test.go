package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/bench/replay"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	sobotsim "github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
)

// clock is fixed so that every iteration sends the same upstream request (and the replay
// cache answers it) and sees the same calls.
func clock() *simcc.ManualClock {
	return simcc.NewManualClock(time.Now().UTC().Truncate(time.Minute))
}

func startSim(tb testing.TB, vendor string, c *simcc.ManualClock) *Sim {
	tb.Helper()
	s, err := StartSim(vendor, c, replay.Exact, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

func newDriver(tb testing.TB, s *Sim, c *simcc.ManualClock) upstreams.CallLister {
	tb.Helper()
	d, err := Constructor(s.Vendor)(context.Background(), s.Spec(), upstreams.Deps{HTTPClient: upstreamHTTPClient(), Now: c.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return d.(upstreams.CallLister)
}

func callQuery(c *simcc.ManualClock) upstreams.CallQuery {
	now := c.Now()
	return upstreams.CallQuery{Range: upstreams.TimeRange{From: now.Add(-24 * time.Hour), To: now}, First: 20}
}

// BenchmarkListCalls is one page of 20 calls through each vendor's driver: request
// building, HTTP on loopback, decoding and mapping to the canonical model. The simulator
// answers from the replay cache after the first request, so its rendering is not measured.
func BenchmarkListCalls(b *testing.B) {
	for _, vendor := range Vendors() {
		b.Run(vendor, func(b *testing.B) {
			c := clock()
			d := newDriver(b, startSim(b, vendor, c), c)
			q := callQuery(c)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p, err := d.ListCalls(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Edges) != 20 {
					b.Fatalf("%d calls, want 20", len(p.Edges))
				}
			}
		})
	}
}

// BenchmarkUpstreamRoundTrip is the floor under the two benchmarks above and below: one
// POST of the Sobot calls search on loopback, answered from the replay cache, body read.
func BenchmarkUpstreamRoundTrip(b *testing.B) {
	c := clock()
	s := startSim(b, "sobot", c)
	tok := sobotToken(b, s, c)
	now := c.Now()
	body, _ := json.Marshal(map[string]any{"startTime": now.Add(-24 * time.Hour).UnixMilli(), "endTime": now.UnixMilli(), "pageNum": 1, "pageSize": 20, "hideNumber": 2})
	client := upstreamHTTPClient()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+SobotCallsPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("HTTP %d", resp.StatusCode)
		}
	}
}

func sobotToken(tb testing.TB, s *Sim, c *simcc.ManualClock) string {
	tb.Helper()
	tok, err := SobotToken(s.Handler, sobotsim.DemoAppID, sobotsim.DemoAppSecret, c.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func newGateway(tb testing.TB, vendor string) (*Gateway, *Sim) {
	tb.Helper()
	c := clock()
	s := startSim(tb, vendor, c)
	g, err := NewGateway(context.Background(), s, c.Now)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = g.Close() })
	return g, s
}

func post(g *Gateway, query string) *httptest.ResponseRecorder {
	body, _ := json.Marshal(map[string]string{"query": query})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.Token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, req)
	return rec
}

// callsAnswer is the part of the answer the checks read.
type callsAnswer struct {
	Data struct {
		Calls struct {
			Edges []struct {
				Node map[string]any `json:"node"`
			} `json:"edges"`
		} `json:"calls"`
	} `json:"data"`
	Errors []json.RawMessage `json:"errors"`
}

// BenchmarkGraphQLCalls is the resolver path: the benchmark's GraphQL query (20 calls)
// through the gateway's HTTP handler (auth, parsing, validation, resolvers, driver, JSON)
// against each simulator on loopback, answered from the replay cache. Allocations include
// the simulator side of the round trip (see BenchmarkUpstreamRoundTrip).
func BenchmarkGraphQLCalls(b *testing.B) {
	for _, vendor := range Vendors() {
		b.Run(vendor, func(b *testing.B) {
			g, _ := newGateway(b, vendor)
			b.ReportAllocs()
			for b.Loop() {
				rec := post(g, CallsQuery)
				if rec.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// TestGatewayAnswersCalls checks the benchmark's harness once per vendor (no load): the
// query answers 20 calls without errors, and a repeated query reaches the simulator's cache.
func TestGatewayAnswersCalls(t *testing.T) {
	for _, vendor := range Vendors() {
		t.Run(vendor, func(t *testing.T) {
			g, s := newGateway(t, vendor)
			for range 2 {
				rec := post(g, CallsQuery)
				var a callsAnswer
				if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK || len(a.Errors) > 0 {
					t.Fatalf("HTTP %d, %v: %s", rec.Code, err, rec.Body)
				}
				if n := len(a.Data.Calls.Edges); n != 20 {
					t.Fatalf("%d calls, want 20", n)
				}
			}
			if hits, _ := s.Cache.Stats(); hits == 0 {
				t.Error("the repeated query never reached the replay cache")
			}
		})
	}
}
