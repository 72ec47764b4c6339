package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// ErrSlowConsumer ends a subscription that fell more than Config.Buffer distinct keys behind.
var ErrSlowConsumer = errors.New("live: subscriber too slow, events dropped")

// CodeSlowConsumer is the extensions.code of the GraphQL error that ends a subscriber
// for falling behind, whichever layer ends it.
const CodeSlowConsumer = "SLOW_CONSUMER"

// SlowConsumerMessage is that error's message for a subscriber behind source's stream.
func SlowConsumerMessage(source string) string {
	return fmt.Sprintf("subscription ended: it fell more than the live buffer behind source %s (slow consumer); resubscribe with the last cursor", source)
}

// ErrTooManySubscribers is returned by Subscribe when a tenant is at Config.MaxTenantSubscribers.
var ErrTooManySubscribers = errors.New("live: too many live subscriptions for the tenant")

// ErrHubClosed is returned by Subscribe after Close and ends the open subscriptions.
var ErrHubClosed = errors.New("live: hub closed")

// seqSpan separates the Seq ranges of two incarnations of one stream that start within the
// same clock tick; no stream emits that many events.
const seqSpan = 1 << 32

// StreamKey identifies one upstream stream. Identity is an opaque hash of the credentials
// the source connects with, so principals with different upstream credentials never share
// a stream.
type StreamKey struct {
	Tenant, Source, Identity string
	Topic                    upstreams.Topic
}

func (k StreamKey) String() string {
	return k.Tenant + "/" + k.Source + "/" + string(k.Topic)
}

// Opener makes one upstream connection and feeds sink until ctx is done (it then returns
// ctx.Err() or nil) or the connection fails. The hub calls it again with backoff.
type Opener func(ctx context.Context, sink upstreams.Sink) error

// Config tunes the hub. Zero values take the defaults in brackets.
type Config struct {
	// Linger keeps a stream open this long after its last subscriber left [5s].
	Linger time.Duration
	// Buffer is how many delta events a subscriber may have queued before coalescing [256].
	Buffer int
	// Replay is how many recent events a stream keeps for resume [1024].
	Replay int
	// BackoffBase and BackoffMax bound the reconnect delay, doubled per failed attempt and
	// drawn uniformly below the bound (full jitter) [500ms, 30s].
	BackoffBase, BackoffMax time.Duration
	// Now is the clock for event times [time.Now].
	Now func() time.Time
	// Bus carries stream ownership and events between replicas [nil: in-process, this hub
	// owns every stream].
	Bus Bus
	// Codec encodes values for a Bus [ModelCodec].
	Codec Codec
	// MaxTenantSubscribers caps one tenant's live subscriptions on this hub [0: no cap].
	MaxTenantSubscribers int
}

func (c Config) withDefaults() Config {
	if c.Linger <= 0 {
		c.Linger = 5 * time.Second
	}
	if c.Buffer <= 0 {
		c.Buffer = 256
	}
	if c.Replay <= 0 {
		c.Replay = 1024
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 500 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 30 * time.Second
	}
	c.BackoffMax = max(c.BackoffMax, c.BackoffBase)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Codec == nil {
		c.Codec = ModelCodec{}
	}
	return c
}

// Event is one change of a stream's state, or one item of a snapshot.
type Event struct {
	Seq  uint64
	Kind model.EventKind
	Key  string
	// Value is the item as it is now; for REMOVE, as it was last seen.
	Value any
	// At is when the hub received the change (for snapshot items: the item's last change).
	At time.Time
}

// SubscribeOptions tunes one subscription.
type SubscribeOptions struct {
	// After resumes after this Seq: the missed events if the stream still holds them,
	// otherwise a RESYNC snapshot.
	After *uint64
	// InitialOnly ends the subscription cleanly (Err nil) once its initial events (the
	// snapshot, replay or RESYNC) are consumed: one subscriber's start, handed over to a
	// shared subscription for what follows (see Feed).
	InitialOnly bool
	// DeltasOnly skips the initial events: the subscription sees only changes after it
	// attached (and any later RESYNC), for a shared subscription whose subscribers each
	// get their own start.
	DeltasOnly bool
	// Shared marks a subscription that serves many subscribers (see Feed), which is never
	// ended for falling behind: past Buffer it keeps one queued event per key (latest
	// wins), so it holds at most the keys that changed while it lagged. Its consumer
	// never waits on a client, so it lags only when the gateway is short of CPU, and
	// ending it would end every one of its subscribers at once.
	Shared bool
	// OnAttach, if set, is called under the stream's lock with the stream's Seq each time
	// the subscription's view is (re)started: the initial events hold the state up to it.
	OnAttach func(seq uint64)
}

// StreamInfo describes an open stream, for health and metrics.
type StreamInfo struct {
	Key StreamKey
	// Subscribers counts the subscribers served, each member of a shared subscription
	// included.
	Subscribers int
	// Subscriptions counts the hub's subscriptions to the stream: a shared subscription
	// is one, however many subscribers it serves.
	Subscriptions int
	// Connects counts the upstream connections opened so far.
	Connects int
	Status   model.HealthStatus
	Reason   string
	Since    time.Time
	Seq      uint64
	Items    int
	// Owned is true while this replica holds the upstream connection (always, without a Bus).
	Owned bool
}

// Hub owns the live streams. The zero value is not usable; call New.
type Hub struct {
	cfg Config
	log *slog.Logger
	// wg counts stream goroutines, subscription pumps and pending linger callbacks.
	wg sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	streams  map[StreamKey]*stream
	tenants  map[string]int // subscriptions per tenant
	nextBase uint64
}

// New returns a hub; logger nil discards logs.
func New(cfg Config, logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg.withDefaults(), log: logger, streams: map[StreamKey]*stream{}, tenants: map[string]int{}}
}

// Subscribe attaches to the stream of key, starting it with open if it is not running. The
// subscription ends when ctx is done, on Close, when it falls too far behind, or when the
// hub closes.
func (h *Hub) Subscribe(ctx context.Context, key StreamKey, open Opener, opts SubscribeOptions) (*Subscription, error) {
	if key.Tenant == "" || key.Source == "" || key.Topic == "" {
		return nil, fmt.Errorf("subscribing to %q: tenant, source and topic are required", key)
	}
	if open == nil {
		return nil, fmt.Errorf("subscribing to %q: no opener", key)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("subscribing to %q: %w", key, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	if n := h.cfg.MaxTenantSubscribers; n > 0 && h.tenants[key.Tenant] >= n {
		return nil, fmt.Errorf("subscribing to %q: %w (%d)", key, ErrTooManySubscribers, n)
	}
	st := h.streams[key]
	if st == nil {
		var err error
		if st, err = h.startLocked(key, open); err != nil {
			return nil, err
		}
	}
	h.tenants[key.Tenant]++
	st.refs++
	if st.linger != nil {
		if st.linger.Stop() {
			h.wg.Done()
		}
		st.linger = nil
	}
	sub := newSubscription(h, st, h.cfg.Buffer, opts)
	st.attach(sub, opts.After)
	// No goroutine per subscription: the context ending is a callback, and delivery runs
	// in the consumer (Next) unless it asks for a channel (Events).
	sub.stopAfter = context.AfterFunc(ctx, sub.ctxDone)
	return sub, nil
}

func (h *Hub) startLocked(key StreamKey, open Opener) (*stream, error) {
	base := h.nextBase
	if now := h.cfg.Now().UnixNano(); now > 0 {
		base = max(base, uint64(now))
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := newStream(key, open, base, cancel, h.cfg, h.log.With(
		slog.String("tenant", key.Tenant), slog.String("source", key.Source), slog.String("topic", string(key.Topic))))
	var bus Bus = localBus{}
	if h.cfg.Bus != nil {
		bus = h.cfg.Bus
	}
	link, err := bus.Join(key, st)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("joining stream %q on the bus: %w", key, err)
	}
	st.link = link
	h.nextBase = base + seqSpan
	h.streams[key] = st
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		st.run(ctx)
	}()
	return st, nil
}

// release detaches sub and schedules the stream's end when it was the last subscriber.
func (h *Hub) release(st *stream, sub *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st.detach(sub)
	st.refs--
	if h.tenants[st.key.Tenant]--; h.tenants[st.key.Tenant] <= 0 {
		delete(h.tenants, st.key.Tenant)
	}
	if st.refs > 0 || h.closed {
		return
	}
	st.lingerGen++
	gen := st.lingerGen
	h.wg.Add(1)
	st.linger = time.AfterFunc(h.cfg.Linger, func() {
		defer h.wg.Done()
		h.expire(st, gen)
	})
}

func (h *Hub) expire(st *stream, gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A subscriber that came back, or a newer linger, wins over this callback.
	if h.closed || st.refs > 0 || st.lingerGen != gen || h.streams[st.key] != st {
		return
	}
	delete(h.streams, st.key)
	st.linger = nil
	st.cancel()
}

// State returns the current items of key's stream, sorted by key; false when the stream is
// not open or has received no state yet.
func (h *Hub) State(key StreamKey) ([]upstreams.Item, bool) {
	h.mu.Lock()
	st := h.streams[key]
	h.mu.Unlock()
	if st == nil {
		return nil, false
	}
	return st.state()
}

// Streams describes the open streams, sorted by key.
func (h *Hub) Streams() []StreamInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]StreamInfo, 0, len(h.streams))
	for _, st := range h.streams {
		info := st.info()
		info.Subscribers, info.Subscriptions = st.subscribers(), st.refs
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b StreamInfo) int {
		return cmp.Or(cmp.Compare(a.Key.Tenant, b.Key.Tenant), cmp.Compare(a.Key.Source, b.Key.Source),
			cmp.Compare(a.Key.Topic, b.Key.Topic), cmp.Compare(a.Key.Identity, b.Key.Identity))
	})
	return out
}

// Close stops every stream, ends every subscription with ErrHubClosed and waits for all
// goroutines of the hub. It is safe to call more than once.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for _, st := range h.streams {
			if st.linger != nil && st.linger.Stop() {
				h.wg.Done()
			}
			st.cancel()
			st.endAll(ErrHubClosed)
		}
		clear(h.streams)
	}
	h.mu.Unlock()
	h.wg.Wait()
}
