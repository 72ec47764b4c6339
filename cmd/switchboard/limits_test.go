package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadQueriesAreRefusedWithCodes covers the query-side bad input of the gateway core.
func TestBadQueriesAreRefusedWithCodes(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{})
	tok := g.tokens["telavox"].Full
	var aliases strings.Builder
	aliases.WriteString("{")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&aliases, " a%d: viewer { tenant }", i)
	}
	aliases.WriteString(" }")
	cases := []struct {
		name, query string
		code        string
	}{
		{"syntax", "{ viewer { tenant ", "GRAPHQL_PARSE_FAILED"},
		{"unknown field", "{ viewer { password } }", "GRAPHQL_VALIDATION_FAILED"},
		{"aliases", aliases.String(), "ALIAS_LIMIT_EXCEEDED"},
		{"page too large", "{ calls(first: 1000) { totalCount } }", "BAD_USER_INPUT"},
		{"bad cursor", `{ calls(after: "!!") { totalCount } }`, "BAD_USER_INPUT"},
		{"bad id", `{ call(id: "nope") { id } }`, "BAD_USER_INPUT"},
		{"inverted range", `{ calls(filter: {range: {from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z"}}) { totalCount } }`, "BAD_USER_INPUT"},
		{"bad datetime", `{ calls(filter: {range: {from: "yesterday", to: "2026-01-01T00:00:00Z"}}) { totalCount } }`, "BAD_USER_INPUT"},
		{"not supported", `{ reportJobs { totalCount } }`, "NOT_SUPPORTED"},
		{"directives", directives(12), "DIRECTIVE_LIMIT_EXCEEDED"},
		{"tokens", "{ viewer { " + strings.Repeat("tenant ", 16000) + "} }", "GRAPHQL_PARSE_FAILED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := g.query(t, tok, tc.query, nil)
			if len(r.codes()) == 0 || r.codes()[0] != tc.code {
				t.Fatalf("codes %v (%+v), want %s", r.codes(), r.Errors, tc.code)
			}
		})
	}
	t.Run("depth", func(t *testing.T) {
		deepQ := "query { __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } }"
		r := g.query(t, tok, deepQ, nil)
		if len(r.codes()) == 0 || r.codes()[0] != "DEPTH_LIMIT_EXCEEDED" {
			t.Fatalf("codes %v, want DEPTH_LIMIT_EXCEEDED", r.codes())
		}
	})
	t.Run("body too large", func(t *testing.T) {
		body := `{"query":"{ viewer { tenant } }","variables":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
		req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/graphql", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
}

// TestIntrospectionNeedsScopeWhenConfigured: with limits.introspectionScope, only tokens
// holding that scope may introspect.
func TestIntrospectionNeedsScopeWhenConfigured(t *testing.T) {
	g := startTestGatewayWith(t, vendorsNamed("telavox"), testSetup{mutate: func(_ context.Context, d *demo) {
		d.cfg.Limits.IntrospectionScope = "schema:read"
	}})
	r := g.query(t, g.tokens["telavox"].Full, `{ __schema { queryType { name } } }`, nil)
	if len(r.Errors) == 0 || r.Errors[0].Message != "introspection disabled" {
		t.Fatalf("introspection without the scope: %+v %s", r.Errors, r.Data)
	}
	m, err := minter(g.demo.cfg.Auth, g.demo.lookup)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint("telavox", []string{"schema:read"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := g.query(t, tok, `{ __schema { queryType { name } } }`, nil); len(r.Errors) != 0 {
		t.Fatalf("introspection with the scope: %+v", r.Errors)
	}
}

// directives is a valid operation with 2n directives on n aliased fields.
func directives(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " d%d: viewer @include(if: true) @skip(if: false) { tenant }", i)
	}
	return b.String() + " }"
}
