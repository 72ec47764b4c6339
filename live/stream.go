package live

import (
	"bytes"
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

// stream is one upstream stream on this replica: its state, replay window and subscribers,
// and either the upstream connection (while this replica owns it) or a mirror of the owner.
type stream struct {
	key    StreamKey
	open   Opener
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	link   Link
	remote bool          // the bus crosses processes: the owner publishes, the others mirror
	wake   chan struct{} // capacity 1: a mirror lost sync

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
	floor    uint64 // replay holds every event after floor up to seq
	subs     map[*Subscription]struct{}
	// pending holds subscriptions that arrived before the stream had any state to offer
	// (a mirror not yet synced), with their resume cursors; the first sync starts them.
	pending    map[*Subscription]*uint64
	owner      bool
	synced     bool // state and seq follow the owner (the owner itself is always synced)
	everSynced bool
	adopted    bool   // the state came from another replica
	epoch      uint64 // the current owner's lease epoch
	jump       uint64 // added to the next seq after taking over from another replica
	backlog    []wireMsg
	busReason  string // why the bus is unusable; empty when it works
	connects   int
	status     model.HealthStatus
	reason     string
	since      time.Time
}

func newStream(key StreamKey, open Opener, base uint64, cancel context.CancelFunc, cfg Config, log *slog.Logger) *stream {
	remote := cfg.Bus != nil
	return &stream{
		key: key, open: open, cfg: cfg, log: log, cancel: cancel, remote: remote, wake: make(chan struct{}, 1),
		items: map[string]entry{}, seq: base, floor: base, subs: map[*Subscription]struct{}{},
		pending: map[*Subscription]*uint64{}, synced: !remote, everSynced: !remote,
		status: model.HealthStatusUnknown, since: cfg.Now(),
	}
}

// run takes the stream's lease when it can and then holds the upstream connection; while
// another replica holds it, run keeps the mirror in sync and retries the lease.
func (st *stream) run(ctx context.Context) {
	st.log.Debug("live stream started")
	defer st.log.Debug("live stream stopped")
	defer func() {
		if err := st.link.Close(); err != nil {
			st.log.Warn("leaving live stream bus", slog.Any("err", err))
		}
	}()
	retry := max(st.link.TTL()/3, 10*time.Millisecond)
	for {
		actx, cancel := context.WithTimeout(ctx, retry)
		epoch, ok, err := st.link.Acquire(actx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			st.busFailed(fmt.Errorf("acquiring lease: %w", err))
		case ok:
			st.lead(ctx, epoch)
		default:
			st.follow(ctx, retry)
		}
		t := time.NewTimer(retry/2 + rand.N(retry/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-st.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// busFailed marks the stream degraded and its mirror out of sync: messages may be lost.
func (st *stream) busFailed(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.busReason == "" {
		st.log.Warn("live stream bus unavailable", slog.Any("err", err))
	}
	st.busReason = "bus unavailable: " + err.Error()
	st.synced = false
}

// lead holds the upstream connection while the lease is ours, renewing it every third of
// its TTL. It gives the connection up once the lease may have expired unrenewed, so two
// replicas never both hold it.
func (st *stream) lead(ctx context.Context, epoch uint64) {
	st.becomeOwner(epoch)
	defer st.resign()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.connectLoop(cctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	ttl := st.link.TTL()
	if ttl <= 0 {
		<-ctx.Done()
		return
	}
	every := ttl / 3
	valid := time.Now().Add(ttl - every)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sent := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, every)
		err := st.link.Renew(rctx)
		rcancel()
		switch {
		case err == nil:
			valid = sent.Add(ttl - every)
			st.setBusReason("")
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrLeaseLost):
			st.log.Warn("live stream lease lost to another replica")
			return
		case time.Now().After(valid):
			st.log.Warn("live stream lease expired unrenewed; closing upstream", slog.Any("err", err))
			st.setBusReason("bus unavailable: lease expired: " + err.Error())
			return
		default:
			st.setBusReason("bus unavailable: renewing lease: " + err.Error())
		}
	}
}

func (st *stream) becomeOwner(epoch uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.owner, st.epoch, st.backlog, st.busReason = true, epoch, nil, ""
	if st.adopted {
		// Events the old owner sent that this mirror missed may have reached other
		// replicas' clients under the seqs that follow; skip past them.
		st.jump = seqSpan
	}
	st.markSyncedLocked()
	st.log.Debug("live stream owned", slog.Uint64("epoch", epoch))
}

func (st *stream) resign() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.owner, st.synced = false, false
	st.setHealthLocked(model.HealthStatusConnecting, "waiting for another replica to take the stream")
}

func (st *stream) setBusReason(reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.busReason = reason
}

// follow brings the mirror back in sync with the owner when it lost it.
func (st *stream) follow(ctx context.Context, timeout time.Duration) {
	st.mu.Lock()
	st.busReason = ""
	synced := st.synced
	st.mu.Unlock()
	if synced {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := st.link.Sync(sctx)
	if err != nil {
		if !errors.Is(err, ErrNoOwner) && ctx.Err() == nil {
			st.log.Warn("syncing live stream from its owner", slog.Any("err", err))
		}
		return
	}
	if err := st.applySnapshot(b); err != nil {
		st.log.Warn("applying live stream snapshot", slog.Any("err", err))
	}
}

// connectLoop connects until ctx is done, waiting a growing, jittered delay after each failure.
func (st *stream) connectLoop(ctx context.Context) {
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
	if old, ok := st.items[key]; ok && st.sameLocked(old.value, value) {
		return
	}
	at := st.cfg.Now()
	st.items[key] = entry{value: value, at: at}
	st.emitLocked(Event{Kind: model.EventKindUpsert, Key: key, Value: value, At: at})
}

// sameLocked reports whether two values are equal. A value mirrored from another replica is
// a decoded copy, so across a bus their encodings are compared too.
func (st *stream) sameLocked(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	if !st.remote {
		return false
	}
	ea, err := st.cfg.Codec.Encode(st.key.Topic, a)
	if err != nil {
		return false
	}
	eb, err := st.cfg.Codec.Encode(st.key.Topic, b)
	return err == nil && bytes.Equal(ea, eb)
}

func (st *stream) removeLocked(key string) {
	old, ok := st.items[key]
	if !ok {
		return
	}
	delete(st.items, key)
	st.emitLocked(Event{Kind: model.EventKindRemove, Key: key, Value: old.value, At: st.cfg.Now()})
}

// emitLocked numbers a change of the owned stream, delivers it and publishes it.
func (st *stream) emitLocked(e Event) {
	prev := st.seq
	e.Seq = st.seq + 1 + st.jump
	st.jump = 0
	st.recordLocked(e)
	st.publishLocked(prev, e)
}

// recordLocked keeps e for resume and queues it to every subscriber.
func (st *stream) recordLocked(e Event) {
	st.seq = e.Seq
	if len(st.replay) < st.cfg.Replay {
		st.replay = append(st.replay, e)
	} else {
		st.floor = st.replay[st.rHead].Seq
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
	changed := status != st.status || reason != st.reason
	if status != st.status {
		st.since = st.cfg.Now()
		if status != model.HealthStatusLive {
			st.log.Info("live stream health", slog.String("status", string(status)), slog.String("reason", reason))
		}
	}
	st.status, st.reason = status, reason
	if changed {
		st.publishHealthLocked()
	}
}

// attach registers sub and queues what it must see first: the snapshot, the events after
// *after, or a RESYNC snapshot when those are no longer held. A mirror that has never been
// in sync defers this to its first sync.
func (st *stream) attach(sub *Subscription, after *uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.everSynced {
		st.pending[sub] = after
		return
	}
	st.subs[sub] = struct{}{}
	sub.start(st.firstLocked(after), st.seq)
}

func (st *stream) firstLocked(after *uint64) []Event {
	switch {
	case after == nil:
		return st.snapshotLocked(model.EventKindSnapshot)
	case st.floor <= *after && *after <= st.seq:
		n := len(st.replay)
		i := n
		for i > 0 && st.replay[(st.rHead+i-1)%n].Seq > *after {
			i--
		}
		var out []Event
		for ; i < n; i++ {
			out = append(out, st.replay[(st.rHead+i)%n])
		}
		return out
	default:
		return st.resyncLocked()
	}
}

// resyncLocked is the snapshot that replaces a subscriber's view: one RESYNC event with an
// empty Key and nil Value when the state is empty, so the client still learns to clear it.
func (st *stream) resyncLocked() []Event {
	first := st.snapshotLocked(model.EventKindResync)
	if len(first) == 0 {
		first = []Event{{Seq: st.seq, Kind: model.EventKindResync, At: st.cfg.Now()}}
	}
	return first
}

// markSyncedLocked starts the subscriptions that waited for the first sync.
func (st *stream) markSyncedLocked() {
	st.synced, st.everSynced = true, true
	for sub, after := range st.pending {
		st.subs[sub] = struct{}{}
		sub.start(st.firstLocked(after), st.seq)
	}
	clear(st.pending)
}

func (st *stream) detach(sub *Subscription) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.subs, sub)
	delete(st.pending, sub)
}

func (st *stream) endAll(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for sub := range st.subs {
		sub.end(err)
	}
	for sub := range st.pending {
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

// subscribers counts the subscribers the stream's subscriptions serve.
func (st *stream) subscribers() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for sub := range st.subs {
		n += sub.weight()
	}
	for sub := range st.pending {
		n += sub.weight()
	}
	return n
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
	info := StreamInfo{
		Key: st.key, Connects: st.connects, Status: st.status, Reason: st.reason,
		Since: st.since, Seq: st.seq, Items: len(st.items), Owned: st.owner,
	}
	if st.busReason != "" {
		if info.Status != model.HealthStatusDown {
			info.Status = model.HealthStatusDegraded
		}
		info.Reason = st.busReason
	}
	return info
}
