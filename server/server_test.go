package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/resolvers"
)

func newTestServer(t *testing.T, headers map[string]string) *Server {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{HSSecret: []byte(strings.Repeat("k", 32))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	cfg.ApplyDefaults()
	s, err := New(Options{Resolver: &resolvers.Resolver{Tenants: resolvers.NewTenants()}, Verifier: v, Limits: cfg.Limits,
		GraphiQL: true, GraphiQLHeaders: headers})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGraphiQLPage: / serves GraphiQL with the header editor pre-filled (JSON-escaped) and
// the graphql-ws client for subscriptions; other methods and paths are not the page.
func TestGraphiQLPage(t *testing.T) {
	s := newTestServer(t, map[string]string{"Authorization": "Bearer a</script>b"})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body, _ := io.ReadAll(rec.Body)
	page := string(body)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{"graphiql.min.js", "graphql-ws.min.js", "connectionParams", `Bearer a\u003c/script\u003eb`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "a</script>b") {
		t.Error("header value not escaped")
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("/nope: %d", rec.Code)
	}
}

// TestHealthzAndAuthErrorsNegotiate: /healthz needs no token; a missing token is a 401
// GraphQL error in the media type the client accepts.
func TestHealthzAndAuthErrorsNegotiate(t *testing.T) {
	s := newTestServer(t, nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ viewer { tenant } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/graphql-response+json") ||
		!strings.Contains(rec.Body.String(), `"UNAUTHENTICATED"`) || rec.Header().Get("X-Request-Id") == "" {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
