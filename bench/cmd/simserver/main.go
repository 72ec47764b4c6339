// Command simserver serves the Sobot simulator (upstreams/sobot/sim) standalone on a fixed
// loopback port with a fixed seed, as the REST upstream of the load benchmark (bench/load.sh).
// It writes a ready Sobot company token to a file, so peers that do not sign token requests
// (the minimal proxy, Hive Gateway) can call the simulator directly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/switchboard-cc/switchboard/bench"
	"github.com/switchboard-cc/switchboard/bench/replay"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
)

// Fixed credentials of the benchmark's Sobot source (the load script's gateway config uses them).
const (
	appID     = "bench-app"
	appSecret = "bench-secret"
	companyID = "bench-company"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address (loopback)")
	seed := flag.Uint64("seed", 9, "simulated center seed")
	peak := flag.Float64("peak", 120, "peak inbound calls per hour of the simulated center")
	tokenFile := flag.String("token-file", "", "write a company token (valid 24h) to this file")
	cacheTTL := flag.Duration("cache", time.Second, "answer repeated calls searches (range ignored) from a cache for this long; 0 = every request renders")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	center := simcc.New(simcc.Config{Name: "Bench Care", Seed: *seed, PeakCallsPerHour: *peak, HistoryDays: 2})
	defer center.Close()
	s := sim.New(center, sim.Config{AppID: appID, AppSecret: appSecret, CompanyID: companyID, TokenTTL: 24 * time.Hour})
	defer s.Close()
	var h http.Handler = s
	if *cacheTTL > 0 {
		h = replay.New(s, replay.IgnoringFields(bench.SobotCallsPath, "startTime", "endTime"), *cacheTTL, nil)
	}
	if *tokenFile != "" {
		tok, err := bench.SobotToken(s, appID, appSecret, center.Now())
		if err != nil {
			return err
		}
		if err := os.WriteFile(*tokenFile, []byte(tok+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing token file: %w", err)
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	// The simulator logs every request for tests; under load that log would grow without
	// bound, so it is dropped every second.
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.ResetRequests()
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("simserver serving Sobot on http://%s (seed %d, cache %s)\n", ln.Addr(), *seed, *cacheTTL)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	serr := hs.Shutdown(sctx)
	stop()
	wg.Wait()
	if c, ok := h.(*replay.Handler); ok {
		hits, misses := c.Stats()
		log.Info("cache", "hits", hits, "misses", misses)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return serr
}
