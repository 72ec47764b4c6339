package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/graph"
	"github.com/switchboard-cc/switchboard/resolvers"
	"github.com/switchboard-cc/switchboard/upstreams"
)

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, fmt.Errorf("--config is required")
	}
	return config.Load(path, os.LookupEnv)
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	pprofAddr := fs.String("pprof-addr", "", "also serve Go profiles (/debug/pprof/) on this loopback address, for load measurements")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	g, err := buildGateway(ctx, cfg, os.LookupEnv, newRegistry(), log, gatewayOptions{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	fmt.Fprintf(stdout, "switchboard %s serving on http://%s/graphql\n", version, ln.Addr())
	// SIGHUP reloads the file; a bad one is logged and the running configuration kept.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				_ = g.reloadFile(ctx, *path)
			}
		}
	}()
	return g.serve(ctx, ln)
}

func runToken(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	tenant := fs.String("tenant", "", "tenant id")
	scopes := fs.String("scopes", "calls:read,agents:read,queues:read", "comma-separated scopes")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if _, ok := cfg.Tenant(*tenant); !ok {
		return fmt.Errorf("tenant %q is not configured", *tenant)
	}
	m, err := minter(cfg.Auth, os.LookupEnv)
	if err != nil {
		return err
	}
	tok, err := m.Mint(*tenant, splitList(*scopes), *ttl, time.Now())
	if err != nil {
		return fmt.Errorf("minting token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// minter signs tokens with the configured HS key, using the first HS algorithm allowed.
func minter(c config.Auth, lookup config.Lookup) (*auth.Minter, error) {
	if c.HSSecret == nil {
		return nil, fmt.Errorf("auth.hsSecret is not configured: tokens can only be minted with an HS key")
	}
	secret, err := c.HSSecret.Resolve(lookup)
	if err != nil {
		return nil, err
	}
	alg := ""
	for _, a := range c.Algorithms {
		if len(a) == 5 && a[:2] == "HS" {
			alg = a
			break
		}
	}
	if alg == "" {
		return nil, fmt.Errorf("auth.algorithms allows no HS algorithm")
	}
	return auth.NewMinter(alg, []byte(secret), c.Issuer, c.Audience, c.TenantClaim, c.ScopesClaim)
}

func runSchema(stdout io.Writer) error {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}})
	formatter.NewFormatter(stdout, formatter.WithComments()).FormatSchema(es.Schema())
	return nil
}

func runCheckConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ac, err := authConfig(cfg.Auth, os.LookupEnv)
	if err != nil {
		return err
	}
	if _, err := auth.NewVerifier(ac, nil); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	// Every secret must resolve, so a deployment fails here and not at the first request.
	var problems []error
	n := 0
	for _, t := range cfg.Tenants {
		for _, src := range t.Sources {
			n++
			for name, ref := range src.Secrets {
				if _, err := ref.Resolve(os.LookupEnv); err != nil {
					problems = append(problems, fmt.Errorf("tenant %q source %q secret %q: %w", t.ID, src.ID, name, err))
				}
			}
		}
	}
	if err := errors.Join(problems...); err != nil {
		return err
	}
	tenants, err := resolvers.BuildTenants(ctx, cfg, newRegistry(), func(upstreams.SourceSpec) upstreams.Deps { return upstreams.Deps{} }, os.LookupEnv)
	if err != nil {
		return err
	}
	if err := tenants.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config OK: %d tenants, %d sources\n", len(cfg.Tenants), n)
	return nil
}

// servePprof serves the Go profiles on a loopback address of their own until stop.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--pprof-addr %q: want a loopback host:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof listener stopped", "err", err)
		}
	}()
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
