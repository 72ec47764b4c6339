// Package bench is the Go side of the benchmark kit: vendor simulators on loopback behind a
// replay cache, and a gateway assembled the way `switchboard serve` assembles it, for the
// `go test -bench` benchmarks of bench_test.go. The load part lives in load.sh and cmd/.
package bench

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/bench/replay"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/live"
	"github.com/switchboard-cc/switchboard/resolvers"
	"github.com/switchboard-cc/switchboard/server"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/portsip"
	portsipsim "github.com/switchboard-cc/switchboard/upstreams/portsip/sim"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/sobot"
	sobotsim "github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
	"github.com/switchboard-cc/switchboard/upstreams/telavox"
	telavoxsim "github.com/switchboard-cc/switchboard/upstreams/telavox/sim"
)

// Vendors lists the vendors the benchmarks cover: REST or GraphQL call history with a simulator.
func Vendors() []string { return []string{sobot.Vendor, telavox.Vendor, portsip.Vendor} }

// SobotCallsPath is Sobot's calls search, the endpoint of the load benchmark.
const SobotCallsPath = "/callservice/tm/tm-reports/maincdrs/_search"

// Seed is the simulated center's seed: every run sees the same calls.
const Seed = 9

// unlimited lifts a driver's client-side rate limit (Telavox 10/s, PortSIP 83/s by default),
// which would otherwise be what a benchmark measures.
const unlimited = 1e9

// Sim is a vendor simulator serving on loopback behind a replay cache.
type Sim struct {
	Vendor string
	// Handler is the simulator behind the cache.
	Handler http.Handler
	URL     string
	Source  upstreams.SimSource
	Cache   *replay.Handler
	close   []func()
}

// Close stops the server, the simulator and its center.
func (s *Sim) Close() {
	for i := len(s.close) - 1; i >= 0; i-- {
		s.close[i]()
	}
}

type simHandler interface {
	http.Handler
	Close()
}

// StartSim starts vendor's simulator over a seeded center on clock. Requests key selects
// are answered from a cache after the first (a zero ttl turns the cache off), so a benchmark
// measures the client side, not the simulator's rendering.
func StartSim(vendor string, clock simcc.Clock, key replay.KeyFunc, ttl time.Duration) (*Sim, error) {
	center := simcc.New(simcc.Config{Name: "Bench Care", Seed: Seed, Clock: clock, HistoryDays: 2})
	var (
		h   simHandler
		src upstreams.SimSource
	)
	switch vendor {
	case sobot.Vendor:
		h, src = sobotsim.NewDemo(center)
		src.Options["pageSize"] = 20
	case telavox.Vendor:
		h, src = telavoxsim.NewDemo(center)
		src.Options["ratePerSecond"] = unlimited
	case portsip.Vendor:
		h, src = portsipsim.NewDemo(center)
		src.Options["ratePerSec"] = unlimited
	default:
		center.Close()
		return nil, fmt.Errorf("starting simulator: unknown vendor %q", vendor)
	}
	cache := replay.New(h, key, ttl, clock.Now)
	srv := httptest.NewServer(cache)
	return &Sim{Vendor: vendor, Handler: h, URL: srv.URL, Source: src, Cache: cache, close: []func(){center.Close, h.Close, srv.Close}}, nil
}

// Constructor returns the driver constructor of vendor.
func Constructor(vendor string) upstreams.Constructor {
	switch vendor {
	case sobot.Vendor:
		return sobot.New
	case telavox.Vendor:
		return telavox.New
	case portsip.Vendor:
		return portsip.New
	}
	return nil
}

// Spec is a source spec for the simulator.
func (s *Sim) Spec() upstreams.SourceSpec {
	return upstreams.SourceSpec{
		Tenant: "bench", ID: s.Vendor, Vendor: s.Vendor, Name: "Bench Care", URL: s.URL, Options: s.Source.Options,
		Secret: func(name string) (string, error) {
			v, ok := s.Source.Secrets[name]
			if !ok {
				return "", fmt.Errorf("secret %q is not set", name)
			}
			return v, nil
		},
	}
}

// Gateway is an assembled gateway with one tenant, "bench", whose one source is a simulator.
type Gateway struct {
	Handler http.Handler
	// Token is a bearer token of the tenant with the basic scopes.
	Token   string
	tenants *resolvers.Tenants
	hub     *live.Hub
}

// Close releases the hub and the drivers.
func (g *Gateway) Close() error {
	g.hub.Close()
	return g.tenants.Close()
}

// benchSecret is the HS256 key of the benchmark gateway (a benchmark, not a deployment).
const benchSecret = "bench-hs-secret-0123456789abcdef"

// NewGateway assembles the gateway as cmd/switchboard's buildGateway does (copied: cmd is
// package main), less the Prometheus metrics, with one tenant whose source is sim. now is
// the resolvers' clock.
func NewGateway(ctx context.Context, sim *Sim, now func() time.Time) (*Gateway, error) {
	env := map[string]string{"BENCH_HS_SECRET": benchSecret}
	src := config.Source{ID: sim.Vendor, Vendor: sim.Vendor, Name: "Bench Care", URL: sim.URL, Options: sim.Source.Options, Secrets: map[string]config.SecretRef{}}
	for k, v := range sim.Source.Secrets {
		env["BENCH_SECRET_"+k] = v
		src.Secrets[k] = config.SecretRef{Env: "BENCH_SECRET_" + k}
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	cfg := &config.Config{
		Auth:    config.Auth{Algorithms: []string{"HS256"}, Issuer: "bench", Audience: "switchboard", HSSecret: &config.SecretRef{Env: "BENCH_HS_SECRET"}},
		Tenants: []config.Tenant{{ID: "bench", Sources: []config.Source{src}}},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating bench config: %w", err)
	}
	log := slog.New(slog.DiscardHandler)

	// From here on as in cmd/switchboard/gateway.go buildGateway.
	v, err := auth.NewVerifier(auth.Config{
		Algorithms: cfg.Auth.Algorithms, Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, Leeway: cfg.Auth.Leeway.Duration,
		TenantClaim: cfg.Auth.TenantClaim, ScopesClaim: cfg.Auth.ScopesClaim, SourcesClaim: cfg.Auth.SourcesClaim,
		HSSecret: []byte(benchSecret),
	}, log)
	if err != nil {
		return nil, fmt.Errorf("building token verifier: %w", err)
	}
	reg := upstreams.NewRegistry()
	reg.Register(sim.Vendor, Constructor(sim.Vendor))
	base := upstreamHTTPClient()
	deps := func(upstreams.SourceSpec) upstreams.Deps { return upstreams.Deps{Logger: log, HTTPClient: base} }
	tenants, err := resolvers.BuildTenants(ctx, cfg, reg, deps, lookup)
	if err != nil {
		return nil, err
	}
	hub := live.New(live.Config{Linger: cfg.Live.Linger.Duration, Buffer: cfg.Live.Buffer}, log)
	res := &resolvers.Resolver{Tenants: tenants, Hub: hub, Logger: log, MaxPageSize: cfg.Limits.MaxPageSize, Now: now,
		Cache: resolvers.NewCache(cfg.Cache.TTL.Duration, now)}
	srv, err := server.New(server.Options{Resolver: res, Verifier: v, Limits: cfg.Limits, Logger: log})
	if err != nil {
		hub.Close()
		_ = tenants.Close()
		return nil, err
	}
	m, err := auth.NewMinter("HS256", []byte(benchSecret), cfg.Auth.Issuer, cfg.Auth.Audience, cfg.Auth.TenantClaim, cfg.Auth.ScopesClaim)
	if err != nil {
		hub.Close()
		_ = tenants.Close()
		return nil, fmt.Errorf("building token minter: %w", err)
	}
	tok, err := m.Mint("bench", []string{auth.ScopeCallsRead, auth.ScopeAgentsRead, auth.ScopeQueuesRead}, 24*time.Hour, time.Now())
	if err != nil {
		hub.Close()
		_ = tenants.Close()
		return nil, fmt.Errorf("minting token: %w", err)
	}
	return &Gateway{Handler: srv, Token: tok, tenants: tenants, hub: hub}, nil
}

// upstreamHTTPClient is cmd/switchboard's base client for drivers.
func upstreamHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 15 * time.Second
	t.ForceAttemptHTTP2 = true
	return &http.Client{Transport: t}
}

// CallsQuery is the benchmark's GraphQL query: one page of 20 calls with the fields a
// call list shows.
const CallsQuery = `{ calls(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id direction outcome startedAt answeredAt endedAt customer { number } durations { totalSeconds talkSeconds } agents { name } queues { name } } } } }`

// SobotToken asks a Sobot simulator for a company token the way Sobot clients do: a request
// signed with MD5(appId + currentTime + "token" + appSecret), currentTime being now.
func SobotToken(h http.Handler, appID, appSecret string, now time.Time) (string, error) {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	sum := md5.Sum([]byte(appID + ts + "token" + appSecret))
	body, _ := json.Marshal(map[string]string{"responseType": "token", "appId": appID, "currentTime": ts, "sign": hex.EncodeToString(sum[:])})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tokens/company", bytes.NewReader(body)))
	var out struct {
		Code int `json:"code"`
		Data struct {
			AccessToken string `json:"accessToken"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Data.AccessToken == "" {
		return "", fmt.Errorf("minting simulator token: HTTP %d code %d", rec.Code, out.Code)
	}
	return out.Data.AccessToken, nil
}
