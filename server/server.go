// Package server wires HTTP: GraphQL over HTTP (POST, GET, SSE) and WebSocket on /graphql,
// GraphiQL at /, health and readiness, and vendor webhooks, with authentication and the
// abuse limits in front of every operation. It is the glue between auth, gqlgen and the
// resolvers; it holds no business logic.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/graph"
	"github.com/switchboard-cc/switchboard/resolvers"
	"github.com/switchboard-cc/switchboard/server/metrics"
	"github.com/switchboard-cc/switchboard/server/tracing"
	"github.com/switchboard-cc/switchboard/server/wallboard"
	"github.com/switchboard-cc/switchboard/server/wstransport"
)

// Options configure the server.
type Options struct {
	Resolver       *resolvers.Resolver
	Verifier       *auth.Verifier
	Limits         config.Limits
	AllowedOrigins []string
	Logger         *slog.Logger
	// GraphiQL serves the GraphiQL IDE at /.
	GraphiQL bool
	// GraphiQLHeaders pre-fill GraphiQL's header editor (the demo puts a token there).
	GraphiQLHeaders map[string]string
	// Metrics, when set, records operations and serves /metrics.
	Metrics *metrics.Metrics
	// WallboardTokens pre-fill the wallboard's sign-in per tenant (demo only).
	WallboardTokens map[string]string
	// Subscriptions counts open subscriptions per tenant; share one across reloads [new].
	Subscriptions *TenantCounter
	// Sessions owns acknowledged WebSocket connections (see wstransport.Sessions); share
	// one across reloads and close it at shutdown [nil: each stays in its HTTP handler].
	Sessions *wstransport.Sessions
	// LiveBuffer is how many events a shared subscription's subscriber may have queued
	// before they coalesce (config live.buffer) [256].
	LiveBuffer int
	// Tracer, when set, records a span per operation.
	Tracer trace.TracerProvider
	// OpsToken, when set, is the bearer token that unlocks /readyz and /metrics detail for
	// non-loopback callers; without it only loopback callers get the detail.
	OpsToken string
}

// TenantCounter counts open subscriptions per tenant.
type TenantCounter struct {
	mu sync.Mutex
	n  map[string]int
}

// NewTenantCounter returns an empty counter.
func NewTenantCounter() *TenantCounter { return &TenantCounter{n: map[string]int{}} }

// acquire takes one slot for tenant unless limit are taken; release gives it back.
func (c *TenantCounter) acquire(tenant string, limit int) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[tenant] >= limit {
		return nil, false
	}
	c.n[tenant]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.n[tenant]--; c.n[tenant] <= 0 {
			delete(c.n, tenant)
		}
	}, true
}

// Server is the gateway's HTTP handler.
type Server struct {
	opts   Options
	mux    *http.ServeMux
	logged http.Handler
	gql    *handler.Server
	log    *slog.Logger
	gzip   compressor
}

// New builds the handler.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Subscriptions == nil {
		o.Subscriptions = NewTenantCounter()
	}
	s := &Server{opts: o, mux: http.NewServeMux(), log: o.Logger}
	s.logged = s.withRequestLog(s.mux)
	s.gql = s.graphqlHandler()
	s.mux.Handle("/graphql", s.gzip.wrap(s.withBodyLimit(s.withHTTPAuth(withHTTPSpec(s.gql)))))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("POST /webhooks/{vendor}/{tenant}/{source}", http.HandlerFunc(s.webhook))
	if o.Metrics != nil {
		metricsHandler := o.Metrics.Handler()
		s.mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.opsDetail(r) {
				writeError(w, r, http.StatusForbidden, resolvers.CodeForbidden, "metrics are for loopback callers or the ops token")
				return
			}
			metricsHandler.ServeHTTP(w, r)
		}))
	}
	s.mux.Handle("GET "+resolvers.RecordingPath+"{id}", s.withHTTPAuth(http.HandlerFunc(s.recording)))
	s.mux.Handle("/wallboard", wallboard.Handler(wallboard.Options{DemoTokens: o.WallboardTokens}))
	if o.GraphiQL {
		h, err := graphiqlHandler(o.GraphiQLHeaders)
		if err != nil {
			return nil, fmt.Errorf("parsing GraphiQL page: %w", err)
		}
		s.mux.Handle("GET /{$}", h)
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.logged.ServeHTTP(w, r) }

type holderKey struct{}

func withPrincipalHolder(ctx context.Context, h *principalHolder) context.Context {
	return context.WithValue(ctx, holderKey{}, h)
}

func notePrincipal(ctx context.Context, p *auth.Principal) {
	if h, ok := ctx.Value(holderKey{}).(*principalHolder); ok {
		h.p = p
	}
}

// Handle adds a route (metrics, wallboard) beside the gateway's own.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) graphqlHandler() *handler.Server {
	l := s.opts.Limits
	cfg := graph.Config{Resolvers: s.opts.Resolver}
	cfg.Directives.Scope = resolvers.ScopeDirective
	setComplexity(&cfg, l.MaxPageSize)
	srv := handler.New(graph.NewExecutableSchema(cfg))
	ws := wstransport.Config{
		InitTimeout:      l.InitTimeout.Or(10 * time.Second),
		KeepAlive:        l.KeepAlive.Or(25 * time.Second),
		MaxMessageBytes:  l.MaxMessageBytes,
		MaxSubscriptions: l.SubscriptionsPerConnection,
		OriginPatterns:   s.opts.AllowedOrigins,
		Authenticate:     s.authenticateWS,
		OnOperation:      s.onOperation,
		Share:            resolvers.ShareScope,
		Sessions:         s.opts.Sessions,
		QueueLimit:       s.opts.LiveBuffer,
		Logger:           s.log,
	}
	if o := s.opts.Resolver.Observer; o != nil {
		ws.OnSlowConsumer = func() { o.Dropped("slow_consumer") }
		ws.OnDelivered = o.Delivered
	}
	srv.AddTransport(wstransport.New(ws))
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	present := resolvers.PresentError(s.log)
	srv.SetErrorPresenter(present)
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		s.log.ErrorContext(ctx, "resolver panic", "panic", fmt.Sprint(v))
		return errors.New("internal error")
	})
	srv.SetParserTokenLimit(l.MaxTokens)
	if l.Introspection == nil || *l.Introspection {
		srv.Use(extension.Introspection{})
		if l.IntrospectionScope != "" {
			srv.Use(introspectionScope{scope: l.IntrospectionScope})
		}
	} else {
		srv.SetDisableSuggestion(true)
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.FixedComplexityLimit(l.MaxComplexity))
	srv.Use(shapeLimit{maxDepth: l.MaxDepth, maxAliases: l.MaxAliases, maxDirectives: l.MaxDirectives})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(resolvers.WithLoaders(ctx))
	})
	srv.AroundOperations(resolvers.EndSubscriptions(present))
	if tp := s.opts.Tracer; tp != nil {
		srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
			oc := graphql.GetOperationContext(ctx)
			var attrs []attribute.KeyValue
			if p, ok := auth.FromContext(ctx); ok {
				attrs = append(attrs, attribute.String("switchboard.tenant", p.Tenant))
			}
			ctx, span := tracing.StartOperation(ctx, tp, operationName(oc), attrs...)
			h := next(ctx)
			sub := oc.Operation != nil && oc.Operation.Operation == ast.Subscription
			return func(rctx context.Context) *graphql.Response {
				resp := h(trace.ContextWithSpan(rctx, span))
				if resp != nil && len(resp.Errors) > 0 {
					span.SetStatus(codes.Error, resp.Errors[0].Message)
				}
				if resp == nil || !sub {
					span.End()
				}
				return resp
			}
		})
	}
	if m := s.opts.Metrics; m != nil {
		srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
			resp := next(ctx)
			if resp == nil {
				return nil
			}
			oc := graphql.GetOperationContext(ctx)
			op, timed := operationName(oc), oc.Operation != nil && oc.Operation.Operation != ast.Subscription
			m.Operation(op, len(resp.Errors) > 0, time.Since(oc.Stats.OperationStart), timed)
			return resp
		})
	}
	return srv
}

// withBodyLimit reads the body up front so an oversized one is a clean 413 before parsing.
func (s *Server) withBodyLimit(next http.Handler) http.Handler {
	max := s.opts.Limits.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Method == http.MethodGet || isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			writeError(w, r, http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", fmt.Sprintf("request body larger than %d bytes", max))
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "BAD_REQUEST", "reading request body")
			return
		}
		if int64(len(b)) > max {
			writeError(w, r, http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", fmt.Sprintf("request body larger than %d bytes", max))
			return
		}
		if r.Method == http.MethodPost {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "application/json" && mt != "application/graphql-response+json" {
				// Simple-request content types (text/plain, forms) are what a cross-site form or
				// fetch can send without a preflight: never execute them (CSRF).
				writeError(w, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "POST bodies must be application/json")
				return
			}
			if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' || !json.Valid(t) {
				// Batches (a JSON array) are off; truncated JSON is the caller's mistake.
				writeError(w, r, http.StatusBadRequest, "BAD_REQUEST", "the body must be one JSON object (batching is not supported)")
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(w, r)
	})
}

// withHTTPAuth verifies the bearer token of every non-WebSocket request; WebSockets
// authenticate in connection_init (or the upgrade header) inside the transport.
func (s *Server) withHTTPAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := auth.BearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
			writeError(w, r, http.StatusUnauthorized, resolvers.CodeUnauthenticated, "missing bearer token")
			return
		}
		p, err := s.verify(r.Context(), tok)
		if err != nil {
			s.authFailed(w, r, err)
			return
		}
		notePrincipal(r.Context(), p)
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

var errUnknownTenant = errors.New("tenant is not configured")

func (s *Server) verify(ctx context.Context, tok string) (*auth.Principal, error) {
	p, err := s.opts.Verifier.Verify(ctx, tok)
	if err != nil {
		return nil, err
	}
	if _, ok := s.opts.Resolver.Tenants.Get(p.Tenant); !ok {
		return nil, errUnknownTenant
	}
	return p, nil
}

func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, auth.ErrKeysUnavailable):
		s.log.WarnContext(r.Context(), "token keys unavailable", "err", err)
		writeError(w, r, http.StatusServiceUnavailable, "AUTH_UNAVAILABLE", "token signing keys are unavailable, retry later")
	case errors.Is(err, errUnknownTenant):
		writeError(w, r, http.StatusForbidden, resolvers.CodeForbidden, "the token's tenant is not served here")
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard", error="invalid_token"`)
		msg := "invalid token"
		if errors.Is(err, auth.ErrUnauthenticated) {
			msg = "invalid token: " + strings.TrimSuffix(err.Error(), ": "+auth.ErrUnauthenticated.Error())
		}
		writeError(w, r, http.StatusUnauthorized, resolvers.CodeUnauthenticated, msg)
	}
}

func (s *Server) authenticateWS(ctx context.Context, r *http.Request, payload map[string]any) (context.Context, time.Time, error) {
	tok, ok := tokenFromInit(payload)
	if !ok {
		tok, ok = auth.BearerToken(r.Header.Get("Authorization"))
	}
	if !ok {
		return nil, time.Time{}, errors.New("missing bearer token")
	}
	p, err := s.verify(ctx, tok)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("verifying token: %w", err)
	}
	notePrincipal(ctx, p)
	return auth.WithPrincipal(ctx, p), p.ExpiresAt, nil
}

func tokenFromInit(payload map[string]any) (string, bool) {
	for _, m := range []map[string]any{payload, asMap(payload["headers"])} {
		for _, k := range []string{"Authorization", "authorization"} {
			if v, ok := m[k].(string); ok {
				return auth.BearerToken(v)
			}
		}
	}
	return "", false
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// onOperation enforces the per-tenant subscription limit across connections.
func (s *Server) onOperation(ctx context.Context) (func(), error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return nil, errors.New("unauthenticated")
	}
	if oc := graphql.GetOperationContext(ctx); oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return func() {}, nil
	}
	release, ok := s.opts.Subscriptions.acquire(p.Tenant, s.opts.Limits.SubscriptionsPerTenant)
	if !ok {
		return nil, fmt.Errorf("subscription limit of %d for the tenant reached", s.opts.Limits.SubscriptionsPerTenant)
	}
	return release, nil
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// isStream reports a WebSocket upgrade or a server-sent-events request: responses that
// middleware must pass through untouched.
func isStream(r *http.Request) bool {
	return isUpgrade(r) || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with a GraphQL error body, so clients parse every failure one way, in
// the media type the client accepts.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", negotiated(r)+"; charset=utf-8")
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}}})
}

// operationName labels an operation by its type and root fields (bounded by the schema,
// unlike client-chosen operation names): "query calls,queues".
func operationName(oc *graphql.OperationContext) string {
	if oc == nil || oc.Operation == nil {
		return "invalid"
	}
	var fields []string
	for _, sel := range oc.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			fields = append(fields, f.Name)
		}
	}
	slices.Sort(fields)
	fields = slices.Compact(fields)
	if len(fields) > 4 {
		fields = append(fields[:4], "...")
	}
	return string(oc.Operation.Operation) + " " + strings.Join(fields, ",")
}
