package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

type entry struct {
	value any
	at    time.Time
}

// stream is one upstream stream: its connection loop, state, replay window and subscribers.
type stream struct {
	key    StreamKey
	open   Opener
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc

	// Guarded by Hub.mu.
	refs      int
	linger    *time.Timer
	lingerGen uint64

	mu       sync.Mutex
	items    map[string]entry
	hasState bool
	seq      uint64
	replay   []Event // ring of the last cfg.Replay events; replay[rHead] is the oldest
	rHead    int
	subs     map[*Subscription]struct{}
	connects int
	status   model.HealthStatus
	reason   string
	since    time.Time
}

func newStream(key StreamKey, open Opener, base uint64, cancel context.CancelFunc, cfg Config, log *slog.Logger) *stream {
	return &stream{
		key: key, open: open, cfg: cfg, log: log, cancel: cancel,
		items: map[string]entry{}, seq: base, subs: map[*Subscription]struct{}{},
		status: model.HealthStatusUnknown, since: cfg.Now(),
	}
}

// run connects until ctx is done, waiting a growing, jittered delay after each failure.
func (st *stream) run(ctx context.Context) {
	st.log.Debug("live stream started")
	defer st.log.Debug("live stream stopped")
	attempt := 0
	for {
		c := st.connect()
		err := st.call(ctx, c)
		delivered := st.hangUp(c)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("upstream ended the stream")
		}
		if delivered {
			attempt = 0
		}
		st.setHealth(model.HealthStatusDown, err.Error())
		delay := backoff(st.cfg.BackoffBase, st.cfg.BackoffMax, attempt)
		attempt++
		st.log.Warn("live stream disconnected", slog.Any("err", err), slog.Int("attempt", attempt), slog.Duration("retry_in", delay))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// call runs the opener, turning a driver panic into a connection error so that one broken
// document cannot take the gateway down.
func (st *stream) call(ctx context.Context, c *conn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("streaming %s: panic: %v", st.key.Topic, r)
		}
	}()
	return st.open(ctx, c)
}

// backoff draws a delay in [0, min(max, base*2^attempt)].
func backoff(base, maxDelay time.Duration, attempt int) time.Duration {
	ceil := base
	for i := 0; i < attempt && ceil < maxDelay; i++ {
		ceil *= 2
	}
	return rand.N(min(ceil, maxDelay) + 1)
}

// conn is the Sink of one connection. Calls after the connection ended are ignored, so a
// driver goroutine that outlives Stream cannot corrupt the state of the next connection.
type conn struct {
	st        *stream
	dead      bool // guarded by st.mu
	delivered bool // guarded by st.mu
}

var _ upstreams.Sink = (*conn)(nil)

func (st *stream) connect() *conn {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.connects++
	st.setHealthLocked(model.HealthStatusConnecting, st.reason)
	return &conn{st: st}
}

func (st *stream) hangUp(c *conn) (delivered bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c.dead = true
	return c.delivered
}

// begin locks the stream for a sink call; false (unlocked) when the connection is over.
func (c *conn) begin(data bool) bool {
	c.st.mu.Lock()
	if c.dead {
		c.st.mu.Unlock()
		return false
	}
	if data {
		c.delivered = true
		c.st.hasState = true
		// Data arriving means the stream is up, whether or not the driver says so.
		if s := c.st.status; s != model.HealthStatusLive && s != model.HealthStatusDegraded {
			c.st.setHealthLocked(model.HealthStatusLive, "")
		}
	}
	return true
}

func (c *conn) Reset(items []upstreams.Item) {
	if !c.begin(true) {
		return
	}
	defer c.st.mu.Unlock()
	st := c.st
	seen := make(map[string]struct{}, len(items))
	for _, it := range items {
		seen[it.Key] = struct{}{}
		st.upsertLocked(it.Key, it.Value)
	}
	var gone []string
	for k := range st.items {
		if _, ok := seen[k]; !ok {
			gone = append(gone, k)
		}
	}
	slices.Sort(gone)
	for _, k := range gone {
		st.removeLocked(k)
	}
}

func (c *conn) Upsert(key string, value any) {
	if c.begin(true) {
		c.st.upsertLocked(key, value)
		c.st.mu.Unlock()
	}
}

func (c *conn) Remove(key string) {
	if c.begin(true) {
		c.st.removeLocked(key)
		c.st.mu.Unlock()
	}
}

func (c *conn) SetHealth(status model.HealthStatus, reason string) {
	if c.begin(false) {
		c.st.setHealthLocked(status, reason)
		c.st.mu.Unlock()
	}
}

func (st *stream) upsertLocked(key string, value any) {
	if old, ok := st.items[key]; ok && reflect.DeepEqual(old.value, value) {
		return
	}
	at := st.cfg.Now()
	st.items[key] = entry{value: value, at: at}
	st.emitLocked(Event{Kind: model.EventKindUpsert, Key: key, Value: value, At: at})
}

func (st *stream) removeLocked(key string) {
	old, ok := st.items[key]
	if !ok {
		return
	}
	delete(st.items, key)
	st.emitLocked(Event{Kind: model.EventKindRemove, Key: key, Value: old.value, At: st.cfg.Now()})
}

func (st *stream) emitLocked(e Event) {
	st.seq++
	e.Seq = st.seq
	if len(st.replay) < st.cfg.Replay {
		st.replay = append(st.replay, e)
	} else {
		st.replay[st.rHead] = e
		st.rHead = (st.rHead + 1) % len(st.replay)
	}
	for sub := range st.subs {
		sub.push(e)
	}
}

func (st *stream) setHealth(status model.HealthStatus, reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.setHealthLocked(status, reason)
}

func (st *stream) setHealthLocked(status model.HealthStatus, reason string) {
	if !status.IsValid() {
		status = model.HealthStatusUnknown
	}
	if status != st.status {
		st.since = st.cfg.Now()
		if status != model.HealthStatusLive {
			st.log.Info("live stream health", slog.String("status", string(status)), slog.String("reason", reason))
		}
	}
	st.status, st.reason = status, reason
}

// attach registers sub and queues what it must see first: the snapshot, the events after
// *after, or a RESYNC snapshot when those are no longer held.
func (st *stream) attach(sub *Subscription, after *uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.subs[sub] = struct{}{}
	var first []Event
	switch {
	case after == nil:
		first = st.snapshotLocked(model.EventKindSnapshot)
	case *after <= st.seq && st.seq-*after <= uint64(len(st.replay)):
		n := int(st.seq - *after)
		for i := len(st.replay) - n; i < len(st.replay); i++ {
			first = append(first, st.replay[(st.rHead+i)%len(st.replay)])
		}
	default:
		first = st.snapshotLocked(model.EventKindResync)
		if len(first) == 0 {
			first = []Event{{Seq: st.seq, Kind: model.EventKindResync, At: st.cfg.Now()}}
		}
	}
	sub.start(first)
}

func (st *stream) detach(sub *Subscription) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.subs, sub)
}

func (st *stream) endAll(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for sub := range st.subs {
		sub.end(err)
	}
}

func (st *stream) snapshotLocked(kind model.EventKind) []Event {
	out := make([]Event, 0, len(st.items))
	for k, e := range st.items {
		out = append(out, Event{Seq: st.seq, Kind: kind, Key: k, Value: e.value, At: e.at})
	}
	slices.SortFunc(out, func(a, b Event) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (st *stream) state() ([]upstreams.Item, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.hasState {
		return nil, false
	}
	out := make([]upstreams.Item, 0, len(st.items))
	for k, e := range st.items {
		out = append(out, upstreams.Item{Key: k, Value: e.value})
	}
	slices.SortFunc(out, func(a, b upstreams.Item) int { return strings.Compare(a.Key, b.Key) })
	return out, true
}

func (st *stream) info() StreamInfo {
	st.mu.Lock()
	defer st.mu.Unlock()
	return StreamInfo{
		Key: st.key, Connects: st.connects, Status: st.status, Reason: st.reason,
		Since: st.since, Seq: st.seq, Items: len(st.items),
	}
}
