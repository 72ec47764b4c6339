package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func vendorsNamed(names ...string) []demoVendor {
	var out []demoVendor
	for _, v := range demoVendors() {
		for _, n := range names {
			if v.name == n {
				out = append(out, v)
			}
		}
	}
	return out
}

type callPage struct {
	Calls struct {
		Edges []struct {
			Cursor string
			Node   struct {
				ID       string
				VendorID string
				Outcome  string
				Source   struct{ ID, Vendor string }
				Customer *struct{ Number *string }
			}
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
		TotalCount *int
	}
}

const callsQuery = `query($from: DateTime!, $to: DateTime!, $first: Int, $after: String, $sources: [ID!]) {
  calls(filter: {range: {from: $from, to: $to}, sources: $sources}, first: $first, after: $after) {
    edges { cursor node { id vendorId outcome source { id vendor } customer { number } } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}`

// TestTelavoxCallsPageToTheEndMatchGroundTruth pages the telavox tenant's calls and compares
// them, in order, with the simulated center's own record.
func TestTelavoxCallsPageToTheEndMatchGroundTruth(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{})
	center := g.demo.bySource["telavox/telavox"].center
	to := center.Now().Add(-time.Hour).Truncate(time.Second)
	from := to.Add(-6 * time.Hour)
	var want []string
	for _, c := range center.Calls(from, to) {
		want = append(want, c.UUID)
	}
	if len(want) < 10 {
		t.Fatalf("ground truth has only %d calls", len(want))
	}
	tok := g.tokens["telavox"].Full

	var first callPage
	g.mustData(t, tok, callsQuery, map[string]any{"from": from, "to": to, "first": 5}, &first)
	if n := len(first.Calls.Edges); n != 5 {
		t.Fatalf("first page has %d calls, want 5", n)
	}
	if first.Calls.TotalCount == nil || *first.Calls.TotalCount != len(want) {
		t.Fatalf("totalCount %v, want %d", first.Calls.TotalCount, len(want))
	}

	var got []string
	seen := map[string]bool{}
	var after any
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("paging did not end")
		}
		var p callPage
		g.mustData(t, tok, callsQuery, map[string]any{"from": from, "to": to, "first": 37, "after": after}, &p)
		for _, e := range p.Calls.Edges {
			if seen[e.Node.ID] {
				t.Fatalf("call %s returned twice", e.Node.VendorID)
			}
			seen[e.Node.ID] = true
			if e.Node.Source.ID != "telavox" || e.Node.Source.Vendor != "telavox" {
				t.Fatalf("call from source %+v", e.Node.Source)
			}
			got = append(got, e.Node.VendorID)
		}
		if !p.Calls.PageInfo.HasNextPage {
			break
		}
		after = *p.Calls.PageInfo.EndCursor
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("paged %d calls, ground truth has %d; first got %v want %v", len(got), len(want), head(got), head(want))
	}
}

func head(s []string) []string { return s[:min(3, len(s))] }

// TestCallEventsShareOneUpstreamStream subscribes 100 clients of one tenant to callEvents and
// checks they get live events while the gateway holds one upstream stream, and runs their
// identical subscription once (one hub subscription serves them all).
func TestCallEventsShareOneUpstreamStream(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{center: busyCenter})
	tok := g.tokens["telavox"].Full
	const n = 100
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = g.dialWS(t, tok)
		clients[i].subscribe("1", `subscription { callEvents { seq kind call { id outcome source { id } } } }`)
	}
	for i, c := range clients {
		m := c.read(30 * time.Second)
		if m["type"] != "next" {
			t.Fatalf("client %d: expected next, got %v", i, m)
		}
	}
	streams := readyStreams(t, g)
	calls := 0
	for _, s := range streams {
		if s.Tenant == "telavox" && s.Topic == "calls" {
			calls++
			if s.Subscribers != n || s.Connects != 1 || s.Subscriptions != 1 {
				t.Fatalf("calls stream: %d subscribers, %d upstream connects, %d hub subscriptions; want %d, 1 and 1", s.Subscribers, s.Connects, s.Subscriptions, n)
			}
		}
	}
	if calls != 1 {
		t.Fatalf("%d calls streams for the tenant, want 1: %+v", calls, streams)
	}
}

type readyStream struct {
	Tenant, Source, Topic      string
	Subscribers, Subscriptions int
	Connects                   int `json:"upstreamConnects"`
}

func readyStreams(t *testing.T, g *testGateway) []readyStream {
	t.Helper()
	resp, err := http.Get(g.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ Streams []readyStream }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r.Streams
}

// TestTokensAreChecked covers the token failures that must answer 401.
func TestTokensAreChecked(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{})
	secret := []byte(g.demo.secrets[demoSecretEnv])
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	good := jwt.MapClaims{"tenant": "telavox", "scope": "calls:read", "iss": demoIssuer, "aud": demoAudience, "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	valid := sign(jwt.SigningMethodHS256, secret, good)
	parts := strings.Split(valid, ".")
	cases := map[string]string{
		"none":           "",
		"forged":         parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good),
		"expired":        sign(jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())),
		"wrong audience": sign(jwt.SigningMethodHS256, secret, with("aud", "someone-else")),
		"wrong issuer":   sign(jwt.SigningMethodHS256, secret, with("iss", "someone-else")),
		"other key":      sign(jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), good),
		"garbage":        "not-a-jwt",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			r := g.query(t, tok, `{ viewer { tenant } }`, nil)
			if r.Status != http.StatusUnauthorized || len(r.codes()) != 1 || r.codes()[0] != "UNAUTHENTICATED" {
				t.Fatalf("status %d codes %v, want 401 UNAUTHENTICATED", r.Status, r.codes())
			}
		})
	}
	if r := g.query(t, valid, `{ viewer { tenant } }`, nil); r.Status != 200 || len(r.Errors) != 0 {
		t.Fatalf("valid token refused: %d %+v", r.Status, r.Errors)
	}
}

// TestScopesMaskAndForbid: a basic token sees masked numbers, no raw, and no report jobs.
func TestScopesMaskAndForbid(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{})
	center := g.demo.bySource["telavox/telavox"].center
	to := center.Now().Add(-time.Hour)
	vars := map[string]any{"from": to.Add(-3 * time.Hour), "to": to, "first": 10}
	q := `query($from: DateTime!, $to: DateTime!, $first: Int) { calls(filter: {range: {from: $from, to: $to}}, first: $first) { edges { node { customer { number } raw } } } }`

	var full struct {
		Calls struct {
			Edges []struct {
				Node struct {
					Customer struct{ Number string }
					Raw      json.RawMessage
				}
			}
		}
	}
	g.mustData(t, g.tokens["telavox"].Full, q, vars, &full)
	if len(full.Calls.Edges) == 0 {
		t.Fatal("no calls")
	}
	r := g.query(t, g.tokens["telavox"].Basic, q, vars)
	var basic struct {
		Calls struct {
			Edges []struct {
				Node struct {
					Customer struct{ Number string }
					Raw      json.RawMessage
				}
			}
		}
	}
	if err := json.Unmarshal(r.Data, &basic); err != nil {
		t.Fatal(err)
	}
	for i, e := range basic.Calls.Edges {
		clear := full.Calls.Edges[i].Node.Customer.Number
		masked := e.Node.Customer.Number
		if masked == clear || !strings.Contains(masked, "*") || masked[len(masked)-3:] != clear[len(clear)-3:] {
			t.Fatalf("number %q masked as %q", clear, masked)
		}
		if string(e.Node.Raw) != "null" || len(full.Calls.Edges[i].Node.Raw) < 10 {
			t.Fatalf("raw for basic %s, for full %d bytes", e.Node.Raw, len(full.Calls.Edges[i].Node.Raw))
		}
	}
	forbidden := 0
	for _, c := range r.codes() {
		if c == "FORBIDDEN" {
			forbidden++
		}
	}
	if forbidden != len(basic.Calls.Edges) {
		t.Fatalf("%d FORBIDDEN errors for %d raw fields: %v", forbidden, len(basic.Calls.Edges), r.codes())
	}
	rj := g.query(t, g.tokens["telavox"].Basic, `{ reportJobs { totalCount } }`, nil)
	if fmt.Sprint(rj.codes()) != "[FORBIDDEN]" {
		t.Fatalf("reportJobs with basic token: %v", rj.codes())
	}
}

// TestTenantIsolation: a tenant cannot name, read or address another tenant's sources.
func TestTenantIsolation(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{})
	var v struct {
		Viewer struct {
			Tenant  string
			Sources []struct{ ID string }
		}
	}
	g.mustData(t, g.tokens["telavox"].Full, `{ viewer { tenant sources { id } } }`, nil, &v)
	if v.Viewer.Tenant != "telavox" || len(v.Viewer.Sources) != 1 || v.Viewer.Sources[0].ID != "telavox" {
		t.Fatalf("viewer: %+v", v.Viewer)
	}
	center := g.demo.bySource["acme/acme-telavox"].center
	to := center.Now().Add(-time.Hour)
	r := g.query(t, g.tokens["telavox"].Full, callsQuery, map[string]any{"from": to.Add(-time.Hour), "to": to, "sources": []string{"acme-telavox"}})
	if fmt.Sprint(r.codes()) != "[BAD_USER_INPUT]" {
		t.Fatalf("naming acme's source: %v", r.codes())
	}
	var acme callPage
	g.mustData(t, g.tokens["acme"].Full, callsQuery, map[string]any{"from": to.Add(-time.Hour), "to": to, "first": 1}, &acme)
	if len(acme.Calls.Edges) != 1 {
		t.Fatal("acme has no calls")
	}
	r = g.query(t, g.tokens["telavox"].Full, `query($id: ID!) { call(id: $id) { id } }`, map[string]any{"id": acme.Calls.Edges[0].Node.ID})
	if fmt.Sprint(r.codes()) != "[NOT_FOUND]" {
		t.Fatalf("reading acme's call: %v %s", r.codes(), r.Data)
	}
}
