package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/live"
	"github.com/switchboard-cc/switchboard/resolvers"
	"github.com/switchboard-cc/switchboard/server"
	"github.com/switchboard-cc/switchboard/server/metrics"
	"github.com/switchboard-cc/switchboard/server/tracing"
	"github.com/switchboard-cc/switchboard/server/wstransport"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// gateway is an assembled gateway. The parts that live across reloads (hub, cache, metrics,
// bus) are built once; the parts a reload replaces (verifier, drivers, resolver, HTTP
// handler) form a generation swapped atomically, so in-flight requests and open WebSockets
// keep the generation they started with.
type gateway struct {
	reg      *upstreams.Registry
	lookup   config.Lookup
	log      *slog.Logger
	opts     gatewayOptions
	hub      *live.Hub
	cache    *resolvers.Cache
	metrics  *metrics.Metrics
	counter  *server.TenantCounter
	sessions *wstransport.Sessions // WebSocket connections of every generation
	base     *http.Transport
	tracer   trace.TracerProvider
	closeBus func()

	reloadMu sync.Mutex // one reload at a time
	gen      atomic.Pointer[generation]
}

// generation is what one configuration builds.
type generation struct {
	cfg      *config.Config
	tenants  *resolvers.Tenants
	server   *server.Server
	verifier *auth.Verifier
}

func (g *gateway) current() *generation { return g.gen.Load() }

// ServeHTTP serves with the current generation.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.current().server.ServeHTTP(w, r)
}

type gatewayOptions struct {
	graphiqlHeaders map[string]string
	wallboardTokens map[string]string
	// tracer overrides the configured tracer provider (tests use an in-memory one).
	tracer trace.TracerProvider
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// authConfig turns the YAML auth section into the verifier's config, reading key material.
func authConfig(c config.Auth, lookup config.Lookup) (auth.Config, error) {
	ac := auth.Config{
		Algorithms: c.Algorithms, Issuer: c.Issuer, Audience: c.Audience, Leeway: c.Leeway.Duration,
		TenantClaim: c.TenantClaim, ScopesClaim: c.ScopesClaim, SourcesClaim: c.SourcesClaim,
		JWKSURL: c.JWKSURL, JWKSMinRefresh: c.JWKSMinRefresh.Duration,
	}
	if c.HSSecret != nil {
		s, err := c.HSSecret.Resolve(lookup)
		if err != nil {
			return ac, fmt.Errorf("auth.hsSecret: %w", err)
		}
		ac.HSSecret = []byte(s)
	}
	for _, p := range c.PEMFiles {
		b, err := os.ReadFile(p.File)
		if err != nil {
			return ac, fmt.Errorf("auth.pemFiles: %w", err)
		}
		ac.PEMKeys = append(ac.PEMKeys, auth.PEMKey{KID: p.KID, PEM: b})
	}
	return ac, nil
}

func buildGateway(ctx context.Context, cfg *config.Config, lookup config.Lookup, reg *upstreams.Registry, log *slog.Logger, o gatewayOptions) (*gateway, error) {
	g := &gateway{reg: reg, lookup: lookup, log: log, opts: o, base: upstreamTransport(), counter: server.NewTenantCounter(), sessions: wstransport.NewSessions(), tracer: o.tracer}
	if g.tracer == nil {
		tp, _, err := tracing.Setup(ctx, tracing.Config{Endpoint: cfg.Tracing.Endpoint, Insecure: cfg.Tracing.Insecure,
			SampleRatio: cfg.Tracing.SampleRatio, ServiceName: cfg.Tracing.ServiceName})
		if err != nil {
			return nil, err
		}
		g.tracer = tp
	}
	if !cfg.Metrics.Disabled {
		g.metrics = metrics.New(cfg.Metrics.TenantLabel, metrics.Sources{
			Streams: func() []metrics.StreamSample { return streamSamples(g.hub, g.currentTenants()) },
			Cache:   func() (uint64, uint64) { return g.cache.Stats() },
			JWKSRefreshes: func() uint64 {
				if gen := g.gen.Load(); gen != nil {
					return gen.verifier.JWKSRefreshes()
				}
				return 0
			},
		})
	}
	hubCfg := live.Config{Linger: cfg.Live.Linger.Duration, Buffer: cfg.Live.Buffer, MaxTenantSubscribers: cfg.Live.MaxTenantSubscribers}
	closeBus, err := connectBus(cfg.Live.NATS, &hubCfg, log)
	if err != nil {
		return nil, err
	}
	g.closeBus = closeBus
	g.hub = live.New(hubCfg, log.With("component", "live"))
	g.cache = resolvers.NewCache(cfg.Cache.TTL.Duration, nil)
	gen, err := g.assemble(ctx, cfg, nil)
	if err != nil {
		g.hub.Close()
		closeBus()
		return nil, err
	}
	g.gen.Store(gen)
	return g, nil
}

func (g *gateway) currentTenants() *resolvers.Tenants {
	if gen := g.gen.Load(); gen != nil {
		return gen.tenants
	}
	return nil
}

// assemble builds a generation from cfg. Drivers of sources that prev already has with the
// same settings and credentials are reused, so their live streams go on undisturbed.
func (g *gateway) assemble(ctx context.Context, cfg *config.Config, prev *generation) (*generation, error) {
	ac, err := authConfig(cfg.Auth, g.lookup)
	if err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(ac, g.log.With("component", "auth"))
	if err != nil {
		return nil, fmt.Errorf("building token verifier: %w", err)
	}
	var reuse resolvers.ReuseFunc
	if prev != nil {
		reuse = prev.tenants.Reusable
	}
	tenants, err := resolvers.BuildTenantsReusing(ctx, cfg, g.reg, g.depsFor, g.lookup, reuse)
	if err != nil {
		return nil, err
	}
	res := &resolvers.Resolver{Tenants: tenants, Hub: g.hub, Logger: g.log.With("component", "resolvers"),
		MaxPageSize: cfg.Limits.MaxPageSize, Cache: g.cache}
	if g.metrics != nil {
		res.Observer = g.metrics
	}
	graphiql := cfg.Server.GraphiQL == nil || *cfg.Server.GraphiQL
	opsToken := ""
	if cfg.Server.OpsToken != nil {
		if opsToken, err = cfg.Server.OpsToken.Resolve(g.lookup); err != nil {
			_ = tenants.CloseExcept(prevTenants(prev))
			return nil, fmt.Errorf("server.opsToken: %w", err)
		}
	}
	srv, err := server.New(server.Options{
		Resolver: res, Verifier: v, Limits: cfg.Limits, AllowedOrigins: cfg.Server.AllowedOrigins,
		Logger: g.log.With("component", "server"), GraphiQL: graphiql, GraphiQLHeaders: g.opts.graphiqlHeaders,
		Metrics: g.metrics, WallboardTokens: g.opts.wallboardTokens, Subscriptions: g.counter, Sessions: g.sessions, LiveBuffer: cfg.Live.Buffer, Tracer: enabledTracer(g.tracer), OpsToken: opsToken,
	})
	if err != nil {
		_ = tenants.CloseExcept(prevTenants(prev))
		return nil, err
	}
	return &generation{cfg: cfg, tenants: tenants, server: srv, verifier: v}, nil
}

func prevTenants(prev *generation) *resolvers.Tenants {
	if prev == nil {
		return nil
	}
	return prev.tenants
}

// depsFor gives a source its logger and an HTTP client instrumented for it.
func (g *gateway) depsFor(spec upstreams.SourceSpec) upstreams.Deps {
	rt := http.RoundTripper(g.base)
	if g.metrics != nil {
		rt = g.metrics.Transport(g.base, spec.Tenant, spec.Vendor, spec.ID)
	}
	rt = tracing.Transport(g.tracer, rt, spec.Tenant, spec.Vendor, spec.ID)
	return upstreams.Deps{
		Logger:     g.log.With("component", "upstreams", "tenant", spec.Tenant, "source", spec.ID, "vendor", spec.Vendor),
		HTTPClient: &http.Client{Transport: rt},
	}
}

// reload applies a new configuration: tenants, sources, keys and limits. A configuration that
// does not validate or build is refused and the running one kept. Hub, cache, metrics and
// bus settings need a restart.
func (g *gateway) reload(ctx context.Context, cfg *config.Config) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	prev := g.current()
	next, err := g.assemble(ctx, cfg, prev)
	if err != nil {
		g.log.Error("configuration refused, keeping the running one", "err", err)
		return err
	}
	g.gen.Store(next)
	// Drivers the new generation did not take over are closed; their streams end.
	if err := prev.tenants.CloseExcept(next.tenants); err != nil {
		g.log.Warn("closing replaced sources", "err", err)
	}
	g.log.Info("configuration reloaded", "tenants", len(cfg.Tenants))
	return nil
}

// reloadFile reads path and reloads.
func (g *gateway) reloadFile(ctx context.Context, path string) error {
	cfg, err := config.Load(path, g.lookup)
	if err != nil {
		g.log.Error("configuration refused, keeping the running one", "err", err)
		return err
	}
	return g.reload(ctx, cfg)
}

// connectBus sets hubCfg.Bus to NATS when configured (starting the embedded server if asked)
// and returns how to close it; without NATS the hub uses its in-process bus.
func connectBus(n *config.NATS, hubCfg *live.Config, log *slog.Logger) (func(), error) {
	if n == nil {
		return func() {}, nil
	}
	url := n.URL
	var embedded *live.EmbeddedServer
	if n.Embedded {
		var err error
		if embedded, err = live.EmbeddedNATS(live.EmbeddedConfig{Port: n.EmbeddedPort, StoreDir: n.StoreDir}); err != nil {
			return nil, fmt.Errorf("starting embedded NATS: %w", err)
		}
		if url == "" {
			url = embedded.URL()
		}
		log.Info("embedded NATS serving", "url", embedded.URL())
	}
	stop := func() {
		if embedded != nil {
			embedded.Shutdown()
		}
	}
	nc, err := nats.Connect(url, nats.Name("switchboard "+n.ReplicaID), nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second), nats.RetryOnFailedConnect(true))
	if err != nil {
		stop()
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	bus, err := live.NewNATSBus(nc, live.NATSConfig{ReplicaID: n.ReplicaID, LeaseTTL: n.LeaseTTL.Duration, Bucket: n.Bucket, Prefix: n.Prefix},
		log.With("component", "live-bus"))
	if err != nil {
		nc.Close()
		stop()
		return nil, fmt.Errorf("joining the NATS bus: %w", err)
	}
	hubCfg.Bus = bus
	return func() {
		nc.Close()
		stop()
	}, nil
}

// upstreamTransport is the base transport every driver's client wraps: pooled keep-alive
// connections, HTTP/2 where offered, bounded header timeout. No response header timeout
// would suit SSE, so streaming drivers rely on their own read deadlines.
func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 15 * time.Second
	t.ForceAttemptHTTP2 = true
	return t
}

// streamSamples describes the hub's streams for metrics, with each source's vendor.
func streamSamples(hub *live.Hub, tenants *resolvers.Tenants) []metrics.StreamSample {
	if hub == nil || tenants == nil {
		return nil
	}
	var out []metrics.StreamSample
	for _, st := range hub.Streams() {
		vendor := "unknown"
		if t, ok := tenants.Get(st.Key.Tenant); ok {
			if s, ok := t.Source(st.Key.Source); ok {
				vendor = s.Spec.Vendor
			}
		}
		out = append(out, metrics.StreamSample{Tenant: st.Key.Tenant, Vendor: vendor, Source: st.Key.Source, Topic: string(st.Key.Topic),
			Status: string(st.Status), Subscribers: st.Subscribers, Connects: st.Connects})
	}
	return out
}

// stopLive ends the subscriptions, each with its reason, then the WebSocket connections
// (close code 1001); every goroutine of both has stopped when it returns.
func (g *gateway) stopLive() {
	g.hub.Close()
	g.sessions.Close()
}

// serve runs the HTTP server on ln until ctx ends, then shuts down in order: HTTP server
// (draining requests), hub (ending subscriptions and upstream streams), drivers.
func (g *gateway) serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	g.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), g.current().cfg.Server.ShutdownTimeout.Or(10*time.Second))
	defer cancel()
	g.stopLive()
	g.closeBus()
	var errs []error
	if err := hs.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("shutting down HTTP server: %w", err))
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	if err := tracing.Shutdown(sctx, g.tracer); err != nil {
		errs = append(errs, fmt.Errorf("flushing traces: %w", err))
	}
	if err := g.current().tenants.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, p)
	}
	return out
}

// enabledTracer is tp when it records, nil otherwise (no per-operation hook at all).
func enabledTracer(tp trace.TracerProvider) trace.TracerProvider {
	if tracing.Enabled(tp) {
		return tp
	}
	return nil
}
