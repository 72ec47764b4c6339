package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// The demo's token settings.
const (
	demoIssuer    = "switchboard-demo"
	demoAudience  = "switchboard"
	demoTokenTTL  = 24 * time.Hour
	demoSecretEnv = "SWITCHBOARD_DEMO_HS_SECRET"
)

// demoTokens are the ready tokens the demo prints and writes: full has every scope, basic
// lacks pii:read, raw:read and reports:write.
type demoTokens map[string]struct {
	Full  string `json:"full"`
	Basic string `json:"basic"`
}

func basicScopes() []string {
	return []string{auth.ScopeCallsRead, auth.ScopeAgentsRead, auth.ScopeQueuesRead}
}

// demo is a running demo environment: centers, simulators, and the config that points at them.
type demo struct {
	cfg     *config.Config
	secrets map[string]string
	sims    []*http.Server
	simSrvs []simServer
	hooks   []func(ctx context.Context, gatewayURL string)
	centers []*simcc.Center
	// bySource finds a source's simulated center and simulator: key "tenant/source".
	bySource map[string]demoSource
	wg       sync.WaitGroup
}

// demoSource is one running simulated source.
type demoSource struct {
	center  *simcc.Center
	handler simServer
}

// demoOptions tune the demo; tests use them to drive the centers' clocks.
type demoOptions struct {
	center func(tenant, vendor string) simcc.Config
}

// demoCenter is the default: a busy center placed in the time zone where it is late
// morning now, so live views move at whatever hour the demo runs.
func demoCenter(tenant, vendor string) simcc.Config {
	now := time.Now().UTC()
	local := 11 * time.Hour
	off := local - time.Duration(now.Hour())*time.Hour
	if off > 12*time.Hour {
		off -= 24 * time.Hour
	}
	return simcc.Config{Seed: seedOf(tenant + "/" + vendor), PeakCallsPerHour: 600, UTCOffset: off}
}

func (d *demo) lookup(name string) (string, bool) {
	v, ok := d.secrets[name]
	return v, ok
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// startDemo starts one simulated contact center per demo source and its vendor simulator
// on loopback, and returns the configuration of the demo tenants: `acme` with a source of
// every vendor, and one tenant per vendor named after it.
func startDemo(ctx context.Context, vendors []demoVendor, o demoOptions, log *slog.Logger) (*demo, error) {
	if o.center == nil {
		o.center = demoCenter
	}
	d := &demo{secrets: map[string]string{}, bySource: map[string]demoSource{}}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generating demo key: %w", err)
	}
	d.secrets[demoSecretEnv] = hex.EncodeToString(secret)
	d.cfg = &config.Config{
		Auth: config.Auth{Algorithms: []string{"HS256"}, Issuer: demoIssuer, Audience: demoAudience,
			HSSecret: &config.SecretRef{Env: demoSecretEnv}},
		Server: config.Server{AllowedOrigins: []string{"*"}},
	}
	acme := config.Tenant{ID: "acme"}
	var tenants []config.Tenant
	for _, v := range vendors {
		for _, tenant := range []string{"acme", v.name} {
			src, err := d.startSource(ctx, tenant, v, o, log)
			if err != nil {
				d.stop()
				return nil, err
			}
			if tenant == "acme" {
				acme.Sources = append(acme.Sources, src)
			} else {
				tenants = append(tenants, config.Tenant{ID: tenant, Sources: []config.Source{src}})
			}
		}
	}
	d.cfg.Tenants = append([]config.Tenant{acme}, tenants...)
	d.cfg.ApplyDefaults()
	if err := d.cfg.Validate(); err != nil {
		d.stop()
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return d, nil
}

func (d *demo) startSource(ctx context.Context, tenant string, v demoVendor, o demoOptions, log *slog.Logger) (config.Source, error) {
	names := map[string]string{"acme": "Acme Support", "telavox": "Nordic Telecom", "tvox": "Milano Assist", "ccai": "Pacific Help Desk", "portsip": "Lone Star Service", "sobot": "Singapore Care"}
	name := names[tenant]
	if tenant == "acme" {
		name = "Acme " + v.title
	}
	cc := o.center(tenant, v.name)
	cc.Name = name
	center := simcc.New(cc)
	d.centers = append(d.centers, center)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := center.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("simulated center stopped", "center", name, "err", err)
		}
	}()
	handler, simSrc, hook := v.sim(center)
	d.simSrvs = append(d.simSrvs, handler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return config.Source{}, fmt.Errorf("starting %s simulator: %w", v.name, err)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	d.sims = append(d.sims, hs)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		_ = hs.Serve(ln)
	}()
	id := v.name
	if tenant == "acme" {
		id = "acme-" + v.name
	}
	src := config.Source{ID: id, Vendor: v.name, Name: name, URL: "http://" + ln.Addr().String(), Options: simSrc.Options, Secrets: map[string]config.SecretRef{}}
	for k, val := range simSrc.Secrets {
		env := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace("DEMO_" + tenant + "_" + id + "_" + k))
		d.secrets[env] = val
		src.Secrets[k] = config.SecretRef{Env: env}
	}
	d.bySource[tenant+"/"+id] = demoSource{center: center, handler: handler}
	if hook != nil {
		d.hooks = append(d.hooks, func(ctx context.Context, gatewayURL string) { hook(ctx, gatewayURL, tenant, id) })
	}
	return src, nil
}

// started runs the simulators' hooks (webhook pushers) once the gateway serves.
func (d *demo) started(ctx context.Context, gatewayURL string) {
	for _, h := range d.hooks {
		h(ctx, gatewayURL)
	}
}

func (d *demo) stop() {
	for _, s := range d.sims {
		_ = s.Close()
	}
	for _, s := range d.simSrvs {
		s.Close()
	}
	for _, c := range d.centers {
		c.Close()
	}
	d.wg.Wait()
}

func (d *demo) tokens() (demoTokens, error) {
	m, err := minter(d.cfg.Auth, d.lookup)
	if err != nil {
		return nil, err
	}
	out := demoTokens{}
	now := time.Now()
	for _, t := range d.cfg.Tenants {
		full, err := m.Mint(t.ID, auth.AllScopes(), demoTokenTTL, now)
		if err != nil {
			return nil, err
		}
		basic, err := m.Mint(t.ID, basicScopes(), demoTokenTTL, now)
		if err != nil {
			return nil, err
		}
		out[t.ID] = struct {
			Full  string `json:"full"`
			Basic string `json:"basic"`
		}{full, basic}
	}
	return out, nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	tokensFile := fs.String("tokens-file", "", "write the demo tokens as JSON here once serving")
	logLevel := fs.String("log-level", "warn", "debug | info | warn | error")
	pprofAddr := fs.String("pprof-addr", "", "also serve Go profiles (/debug/pprof/) on this loopback address, for load measurements")
	maxSubs := fs.Int("max-subscriptions", 0, "live subscriptions allowed per tenant (0: the default 5000); load tests raise it")
	timeScale := fs.Float64("time-scale", 1, "run the simulated center of --time-scale-tenant this many times faster than real time (load runs: 105 makes about 100 call events/s; 0 stops its clock: no events, for idle subscribers)")
	scaleTenant := fs.String("time-scale-tenant", "telavox", "the tenant --time-scale applies to")
	export := fs.String("export", "", "write switchboard.yaml and its secrets (env) to this directory, so that `serve` in another process can use the demo's simulators (load runs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	log := newLogger(config.Log{Format: "text", Level: *logLevel}, stderr)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !(*timeScale == 0 || *timeScale >= 1 && *timeScale <= 10000) {
		return fmt.Errorf("--time-scale: want 0 or 1..10000, got %v", *timeScale)
	}
	opts := demoOptions{}
	if *timeScale != 1 {
		var clock simcc.Clock = simcc.NewManualClock(time.Now().UTC()) // 0: stands still
		if *timeScale > 0 {
			clock = simcc.NewScaledClock(*timeScale)
		}
		opts.center = func(tenant, vendor string) simcc.Config {
			cc := demoCenter(tenant, vendor)
			if tenant != *scaleTenant {
				return cc
			}
			cc.Clock, cc.SyncEvery = clock, 10*time.Millisecond
			return cc
		}
	}
	d, err := startDemo(ctx, demoVendors(), opts, log)
	if err != nil {
		return err
	}
	defer d.stop()
	toks, err := d.tokens()
	if err != nil {
		return err
	}
	if *maxSubs > 0 {
		d.cfg.Limits.SubscriptionsPerTenant = *maxSubs
	}
	wb := map[string]string{}
	for t, tk := range toks {
		wb[t] = tk.Full
	}
	g, err := buildGateway(ctx, d.cfg, d.lookup, newRegistry(), log, gatewayOptions{
		graphiqlHeaders: map[string]string{"Authorization": "Bearer " + toks["acme"].Full},
		wallboardTokens: wb,
	})
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	base := "http://" + ln.Addr().String()
	printDemo(stdout, base, d.cfg, toks)
	if *tokensFile != "" {
		b, _ := json.MarshalIndent(toks, "", "  ")
		if err := os.WriteFile(*tokensFile, b, 0o600); err != nil {
			_ = ln.Close()
			return fmt.Errorf("writing tokens file: %w", err)
		}
	}
	if *export != "" {
		if err := exportDemo(*export, d); err != nil {
			_ = ln.Close()
			return err
		}
	}
	d.started(ctx, base)
	return g.serve(ctx, ln)
}

// exportDemo writes the demo's tenants as a configuration for `serve` (listening on
// 127.0.0.1:8090) and the secrets it names as an env file, both readable by the owner only.
func exportDemo(dir string, d *demo) error {
	type exportedAuth struct {
		Algorithms []string          `yaml:"algorithms"`
		Issuer     string            `yaml:"issuer"`
		Audience   string            `yaml:"audience"`
		HSSecret   *config.SecretRef `yaml:"hsSecret"`
	}
	out := struct {
		Server  map[string]any  `yaml:"server"`
		Auth    exportedAuth    `yaml:"auth"`
		Limits  map[string]any  `yaml:"limits"`
		Tenants []config.Tenant `yaml:"tenants"`
	}{
		Server:  map[string]any{"addr": "127.0.0.1:8090"},
		Auth:    exportedAuth{d.cfg.Auth.Algorithms, d.cfg.Auth.Issuer, d.cfg.Auth.Audience, d.cfg.Auth.HSSecret},
		Limits:  map[string]any{"subscriptionsPerTenant": d.cfg.Limits.SubscriptionsPerTenant},
		Tenants: d.cfg.Tenants,
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding the exported config: %w", err)
	}
	keys := make([]string, 0, len(d.secrets))
	for k := range d.secrets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var env strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&env, "%s=%s\n", k, d.secrets[k])
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "switchboard.yaml"), b, 0o600); err != nil {
		return fmt.Errorf("--export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(env.String()), 0o600); err != nil {
		return fmt.Errorf("--export: %w", err)
	}
	return nil
}

func printDemo(w io.Writer, base string, cfg *config.Config, toks demoTokens) {
	fmt.Fprintf(w, "Switchboard %s demo — every vendor simulated on loopback\n\n", version)
	fmt.Fprintf(w, "  GraphiQL   %s/   (header editor pre-filled with acme's full token)\n", base)
	fmt.Fprintf(w, "  GraphQL    %s/graphql   (POST, GET, SSE; WebSocket graphql-transport-ws and graphql-ws)\n", base)
	fmt.Fprintf(w, "  Wallboard  %s/wallboard   (pick a tenant: one screen, every vendor)\n", base)
	fmt.Fprintf(w, "  Health     %s/healthz   %s/readyz   %s/metrics\n\n", base, base, base)
	fmt.Fprintln(w, "Tenants and tokens (send as  Authorization: Bearer <token>):")
	for _, t := range cfg.Tenants {
		var srcs []string
		for _, s := range t.Sources {
			srcs = append(srcs, s.ID)
		}
		fmt.Fprintf(w, "\n  %s  sources: %s\n    full:  %s\n    basic: %s\n", t.ID, strings.Join(srcs, ", "), toks[t.ID].Full, toks[t.ID].Basic)
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}
