// Command switchboard-load opens many real graphql-transport-ws subscribers against a
// running Switchboard gateway on this machine and reports connect rate, events received,
// event-to-subscriber latency, the gateway's memory per subscriber and its upstream
// connections. It is a measuring tool, not a test: it only talks to loopback addresses and
// is bounded in subscribers and time.
//
// Latency is measured from each event's `at` field (when the gateway's hub received the
// change from the upstream driver) to when this tool read the message from its socket; both clocks are
// this machine's. Snapshot and RESYNC events are not counted, their `at` is the item's last
// change. Once subscribed, sockets are read by a few receive loops (epoll on Linux), not a
// goroutine each, so that the tool costs the shared machine as little as it can.
//
// --floor measures the machine instead of a gateway: the tool fans events out to its own
// loopback sockets with an ideal writer, so a gateway's figures can be held against what
// the machine allows at all.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds that keep a run from turning into a denial of service of the machine.
const (
	maxSubscribers = 50000
	maxDuration    = 30 * time.Minute
)

type options struct {
	url, token, tokensFile, tenant, query, debugURL, cpuProfile string
	subscribers, stall, pid, loops, floorWriters                int
	duration, settle                                            time.Duration
	connectRate, floor                                          float64
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-load:", err)
		os.Exit(1)
	}
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("switchboard-load", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "gateway base URL (loopback only)")
	fs.StringVar(&o.token, "token", "", "bearer token")
	fs.StringVar(&o.tokensFile, "tokens-file", "", "the demo's tokens file (JSON tenant -> {full, basic}); with --tenant")
	fs.StringVar(&o.tenant, "tenant", "telavox", "tenant whose full token to use from --tokens-file, and whose streams to count")
	fs.IntVar(&o.subscribers, "subscribers", 100, "concurrent subscribers, one WebSocket each")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to measure the held subscribers")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait this long after the last subscriber connected before measuring; only events after that are timed")
	fs.StringVar(&o.query, "query", "subscription { callEvents { seq kind at } }", "subscription document; its events need `seq`, `kind` and `at`")
	fs.Float64Var(&o.connectRate, "connect-rate", 500, "new connections per second")
	fs.IntVar(&o.stall, "stall", 0, "subscribers (of --subscribers) that subscribe and then never read (with the smallest receive buffer, so that the gateway notices within seconds)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write this tool's own CPU profile of the held period to this file (is the load generator the bottleneck?)")
	fs.IntVar(&o.pid, "pid", 0, "gateway process id, to read its RSS from /proc")
	fs.StringVar(&o.debugURL, "debug-url", "", "URL whose body reports the gateway's goroutines (pprof goroutine?debug=1 or JSON with \"goroutines\"); default: /readyz")
	fs.Float64Var(&o.floor, "floor", 0, "no gateway: measure this machine's floor, with this many events/s fanned out by an ideal writer in this process to --subscribers loopback sockets")
	fs.IntVar(&o.floorWriters, "floor-writers", runtime.GOMAXPROCS(0), "with --floor: writer goroutines")
	fs.IntVar(&o.loops, "loops", runtime.GOMAXPROCS(0), "receive loops (threads reading the subscribers' sockets)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.subscribers < 1 || o.subscribers > maxSubscribers:
		return o, fmt.Errorf("--subscribers: want 1..%d", maxSubscribers)
	case o.stall < 0 || o.stall > o.subscribers:
		return o, errors.New("--stall: want 0..subscribers")
	case o.duration <= 0 || o.duration > maxDuration:
		return o, fmt.Errorf("--duration: want up to %v", maxDuration)
	case o.settle < 0 || o.settle > time.Minute:
		return o, errors.New("--settle: want 0..1m")
	case o.connectRate <= 0:
		return o, errors.New("--connect-rate: want > 0")
	case o.loops < 1 || o.loops > 64 || o.floorWriters < 1 || o.floorWriters > 64:
		return o, errors.New("--loops, --floor-writers: want 1..64")
	case o.floor < 0 || o.floor > 100000:
		return o, errors.New("--floor: want 0..100000 events/s")
	case o.floor > 0:
		return o, nil // no gateway to reach
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return o, fmt.Errorf("--url %q: want http://host:port", o.url)
	}
	if err := loopback(u.Hostname()); err != nil {
		return o, err
	}
	if o.debugURL == "" {
		o.debugURL = strings.TrimSuffix(o.url, "/") + "/readyz"
	}
	if o.token == "" && o.tokensFile != "" {
		b, err := os.ReadFile(o.tokensFile)
		if err != nil {
			return o, fmt.Errorf("reading tokens file: %w", err)
		}
		var toks map[string]struct{ Full string }
		if err := json.Unmarshal(b, &toks); err != nil {
			return o, fmt.Errorf("decoding tokens file: %w", err)
		}
		o.token = toks[o.tenant].Full
	}
	if o.token == "" {
		return o, errors.New("no token: give --token, or --tokens-file with a known --tenant")
	}
	return o, nil
}

func loopback(host string) error {
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("resolving %q: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("--url host %q is not a loopback address; this tool only loads local gateways", host)
		}
	}
	return nil
}

// counters are the connect phase's totals, updated by every subscriber; the receive loops
// count the events.
type counters struct {
	window            window
	connected, failed atomic.Int64
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	wsURL := "ws" + strings.TrimPrefix(strings.TrimSuffix(o.url, "/"), "http") + "/graphql"
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: -1}}

	before := probe(ctx, client, o)
	c := &counters{}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Receive loops (one per core by default), each with its own tally.
	loops := make([]*loop, o.loops)
	var loopsDone sync.WaitGroup
	for i := range loops {
		l, err := newLoop(newTally(&c.window, log))
		if err != nil {
			return err
		}
		loops[i] = l
		loopsDone.Go(func() { l.run(runCtx) })
	}
	dial := func(ctx context.Context, stall bool) (*wsConn, error) { return connect(ctx, wsURL, o, stall) }
	if o.floor > 0 {
		fl, err := newFloor(o.floor, o.floorWriters)
		if err != nil {
			return err
		}
		loopsDone.Go(func() { fl.run(runCtx) })
		dial = fl.dial
	}
	var wg sync.WaitGroup
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.connectRate))
	var ready sync.WaitGroup
	for i := range o.subscribers {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		if ctx.Err() != nil {
			break
		}
		ready.Add(1)
		wg.Go(func() {
			subscriber(runCtx, dial, i < o.stall, loops[i%len(loops)], c, ready.Done, log)
		})
	}
	tick.Stop()
	ready.Wait()
	connectTime := time.Since(start)
	held := probe(ctx, client, o)
	fmt.Fprintf(out, "connected %d/%d subscribers (%d stalled, %d failed) in %v: %.0f/s\n",
		c.connected.Load(), o.subscribers, o.stall, c.failed.Load(), connectTime.Round(time.Millisecond),
		float64(c.connected.Load())/connectTime.Seconds())

	// The last joiners' snapshots and the connect burst's garbage settle first.
	select {
	case <-ctx.Done():
	case <-time.After(o.settle):
	}
	measured, cpu0 := time.Now(), cpuTime()
	c.window.start(measured)
	stopProfile, err := startProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(o.duration):
	}
	c.window.stop()
	if err := stopProfile(); err != nil {
		return err
	}
	window, cpu := time.Since(measured), cpuTime()-cpu0
	after := probe(context.Background(), client, o)
	cancel()
	wg.Wait()
	loopsDone.Wait()
	total := newTally(&c.window, log)
	for _, l := range loops {
		total.add(l.t)
	}

	fmt.Fprintf(out, "held %v: %d events received (%.0f/s), %d deltas timed, %d subscriptions ended early, %d error messages\n",
		window.Round(time.Millisecond), total.events, float64(total.events)/window.Seconds(), total.deltas, total.ended, total.errors)
	if total.reads > 0 {
		fmt.Fprintf(out, "socket reads: %.0f/s, %.1f messages each\n", float64(total.reads)/window.Seconds(), float64(total.events)/float64(total.reads))
	}
	fmt.Fprintf(out, "latency, every delivery:             %v\n", &total.perDelivery)
	fmt.Fprintf(out, "latency, last subscriber per event:  %v\n", total.lastSubscriber())
	if spans := total.lastSubscriberOver(measured, 5*time.Second); len(spans) > 1 {
		fmt.Fprint(out, "p99 to the last subscriber, each 5 s of the hold:")
		for _, d := range spans {
			fmt.Fprintf(out, " %v", round(d))
		}
		fmt.Fprintln(out)
	}
	if slow := total.slowest(3); len(slow) > 0 {
		fmt.Fprint(out, "slowest events (latency at time into the hold):")
		for _, e := range slow {
			fmt.Fprintf(out, " %v at %v;", round(e.latency), e.at.Sub(measured).Round(10*time.Millisecond))
		}
		fmt.Fprintln(out)
	}
	if cpu > 0 {
		fmt.Fprintf(out, "this tool's CPU while held: %.2f cores\n", cpu.Seconds()/window.Seconds())
	}
	if o.floor > 0 {
		return nil
	}
	fmt.Fprintf(out, "gateway before: %v\n", before)
	fmt.Fprintf(out, "gateway held:   %v\n", held)
	fmt.Fprintf(out, "gateway end:    %v\n", after)
	if n := float64(c.connected.Load()); before.rssKiB > 0 && held.rssKiB > 0 && n > 0 {
		fmt.Fprintf(out, "RSS growth per subscriber: %.1f KiB once connected, %.1f KiB at the end\n",
			float64(held.rssKiB-before.rssKiB)/n, float64(after.rssKiB-before.rssKiB)/n)
	}
	return nil
}

// startProfile starts a CPU profile to path ("" = none) and returns what stops it.
func startProfile(path string) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// subscriber connects one subscriber and hands its socket to l; a stalled one holds its
// connection unread until ctx ends.
func subscriber(ctx context.Context, dial func(ctx context.Context, stall bool) (*wsConn, error), stall bool, l *loop, c *counters, ready func(), log *slog.Logger) {
	defer ready()
	conn, err := dial(ctx, stall)
	if err != nil {
		c.failed.Add(1)
		if ctx.Err() == nil {
			log.Warn("connecting", "err", err)
		}
		return
	}
	if stall {
		c.connected.Add(1)
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		return
	}
	if err := l.add(conn); err != nil {
		c.failed.Add(1)
		log.Warn("connecting", "err", err)
		return
	}
	c.connected.Add(1)
}

// connect opens one subscriber's WebSocket and subscribes. A stalled subscriber asks for
// the smallest receive buffer, so that its stall reaches the gateway within seconds rather
// than after the megabytes the system would buffer for it.
func connect(ctx context.Context, wsURL string, o options, stall bool) (*wsConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var control func(string, string, syscall.RawConn) error
	if stall {
		control = smallReceiveBuffer
	}
	conn, err := dialWS(dctx, wsURL, "graphql-transport-ws", control)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(dctx, func() { _ = conn.Close() })
	defer stop()
	fail := func(err error) (*wsConn, error) {
		_ = conn.Close()
		if dctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, dctx.Err())
		}
		return nil, err
	}
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + o.token}})
	if err := conn.writeText(init); err != nil {
		return fail(fmt.Errorf("sending connection_init: %w", err))
	}
	ack, err := conn.read()
	if err != nil {
		return fail(fmt.Errorf("reading connection_ack: %w", err))
	}
	if _, t := field(ack, "type"); string(t) != "connection_ack" {
		return fail(fmt.Errorf("connection_init answered with %q", t))
	}
	sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": o.query}})
	if err := conn.writeText(sub); err != nil {
		return fail(fmt.Errorf("sending subscribe: %w", err))
	}
	return conn, nil
}

// gateway is what the gateway says about itself at one moment.
type gateway struct {
	rssKiB     int64
	goroutines int64
	streams    int
	connects   int
	subs       int
}

func (g gateway) String() string {
	rss, gr := "n/a", "n/a"
	if g.rssKiB > 0 {
		rss = fmt.Sprintf("%.1f MiB", float64(g.rssKiB)/1024)
	}
	if g.goroutines > 0 {
		gr = strconv.FormatInt(g.goroutines, 10)
	}
	return fmt.Sprintf("RSS %s, goroutines %s, %d live streams of the tenant with %d subscribers, %d upstream connects", rss, gr, g.streams, g.subs, g.connects)
}

func probe(ctx context.Context, client *http.Client, o options) gateway {
	var g gateway
	if o.pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", o.pid)); err == nil {
			for line := range strings.Lines(string(b)) {
				if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					g.rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				}
			}
		}
	}
	var ready struct {
		Streams []struct {
			Tenant      string `json:"tenant"`
			Subscribers int    `json:"subscribers"`
			Connects    int    `json:"upstreamConnects"`
		} `json:"streams"`
	}
	if b := get(ctx, client, strings.TrimSuffix(o.url, "/")+"/readyz"); b != nil {
		_ = json.Unmarshal(b, &ready)
	}
	for _, s := range ready.Streams {
		if s.Tenant == o.tenant {
			g.streams++
			g.connects += s.Connects
			g.subs += s.Subscribers
		}
	}
	goroutineTotal := regexp.MustCompile(`goroutine profile: total (\d+)|"goroutines"\s*:\s*(\d+)`)
	if m := goroutineTotal.FindSubmatch(get(ctx, client, o.debugURL)); m != nil {
		g.goroutines, _ = strconv.ParseInt(string(m[1])+string(m[2]), 10, 64)
	}
	return g
}

func get(ctx context.Context, client *http.Client, u string) []byte {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return b
}
