package live

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 5 * time.Second

// upstream is a fake vendor stream: each connection hands its Sink to the test, which then
// plays the vendor by calling it; fail makes the current connection return an error.
type upstream struct {
	sinks  chan upstreams.Sink
	fail   chan error
	opens  atomic.Int32
	active atomic.Int32
}

func newUpstream() *upstream {
	return &upstream{sinks: make(chan upstreams.Sink, 16), fail: make(chan error)}
}

func (u *upstream) open(ctx context.Context, sink upstreams.Sink) error {
	u.opens.Add(1)
	u.active.Add(1)
	defer u.active.Add(-1)
	u.sinks <- sink
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-u.fail:
		return err
	}
}

func (u *upstream) next(t testing.TB) upstreams.Sink {
	t.Helper()
	select {
	case s := <-u.sinks:
		return s
	case <-time.After(timeout):
		t.Fatal("upstream was not opened")
		return nil
	}
}

func key(tenant string) StreamKey {
	return StreamKey{Tenant: tenant, Source: "s1", Identity: "id1", Topic: upstreams.TopicAgents}
}

func subscribe(t testing.TB, h *Hub, k StreamKey, u *upstream, after *uint64) *Subscription {
	t.Helper()
	sub, err := h.Subscribe(t.Context(), k, u.open, SubscribeOptions{After: after})
	if err != nil {
		t.Fatalf("subscribing: %v", err)
	}
	sub.Events() // these tests read the channel; TestNextNeedsNoGoroutine covers Next
	return sub
}

func recv(t testing.TB, sub *Subscription) Event {
	t.Helper()
	select {
	case e, ok := <-sub.Events():
		if !ok {
			t.Fatalf("events closed: %v", sub.Err())
		}
		return e
	case <-time.After(timeout):
		t.Fatal("no event")
		return Event{}
	}
}

// expect receives len(want) events and compares kind, key and value ("KIND key=value").
func expect(t testing.TB, sub *Subscription, want ...string) []Event {
	t.Helper()
	var got []Event
	for _, w := range want {
		e := recv(t, sub)
		got = append(got, e)
		if s := fmt.Sprintf("%s %s=%v", e.Kind, e.Key, e.Value); s != w {
			t.Fatalf("event %d: got %q, want %q", len(got), s, w)
		}
	}
	return got
}

func expectNothing(t testing.TB, sub *Subscription) {
	t.Helper()
	select {
	case e := <-sub.Events():
		t.Fatalf("unexpected event %+v", e)
	case <-time.After(20 * time.Millisecond):
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func queued(sub *Subscription) int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return len(sub.queue) - sub.head
}

func TestSnapshotThenDelta(t *testing.T) {
	h := New(Config{}, nil)
	defer h.Close()
	u := newUpstream()
	first := subscribe(t, h, key("t1"), u, nil)
	sink := u.next(t)
	sink.Reset([]upstreams.Item{{Key: "b", Value: 1}, {Key: "a", Value: 1}})
	evs := expect(t, first, "UPSERT b=1", "UPSERT a=1")
	if evs[1].Seq != evs[0].Seq+1 {
		t.Fatalf("seqs %d, %d are not consecutive", evs[0].Seq, evs[1].Seq)
	}

	late := subscribe(t, h, key("t1"), u, nil)
	snap := expect(t, late, "SNAPSHOT a=1", "SNAPSHOT b=1")
	if snap[0].Seq != evs[1].Seq {
		t.Fatalf("snapshot seq %d, want the stream's seq %d", snap[0].Seq, evs[1].Seq)
	}
	sink.Upsert("c", 1)
	sink.Upsert("c", 1) // unchanged: no event
	sink.Remove("a")
	sink.Remove("zz") // unknown: no event
	sink.Upsert("b", 2)
	for _, sub := range []*Subscription{first, late} {
		d := expect(t, sub, "UPSERT c=1", "REMOVE a=1", "UPSERT b=2")
		if d[0].Seq != evs[1].Seq+1 || d[2].Seq != evs[1].Seq+3 {
			t.Fatalf("delta seqs %d..%d do not follow %d", d[0].Seq, d[2].Seq, evs[1].Seq)
		}
	}
	items, ok := h.State(key("t1"))
	if !ok || fmt.Sprint(items) != "[{b 2} {c 1}]" {
		t.Fatalf("State = %v, %v", items, ok)
	}
	if info := h.Streams(); len(info) != 1 || info[0].Status != model.HealthStatusLive || info[0].Subscribers != 2 || info[0].Items != 2 {
		t.Fatalf("Streams = %+v", info)
	}
}

func TestSubscribersShareOneConnection(t *testing.T) {
	h := New(Config{}, nil)
	defer h.Close()
	u := newUpstream()
	subs := make([]*Subscription, 100)
	var wg sync.WaitGroup
	for i := range subs {
		wg.Go(func() { subs[i] = subscribe(t, h, key("t1"), u, nil) })
	}
	wg.Wait()
	sink := u.next(t)
	sink.Upsert("a", 1)
	for _, sub := range subs {
		expect(t, sub, "UPSERT a=1")
	}
	info := h.Streams()
	if u.opens.Load() != 1 || len(info) != 1 || info[0].Connects != 1 || info[0].Subscribers != 100 {
		t.Fatalf("opens %d, streams %+v; want one connection for 100 subscribers", u.opens.Load(), info)
	}
}

func TestLingerClosesAndReopens(t *testing.T) {
	h := New(Config{Linger: 10 * time.Millisecond}, nil)
	defer h.Close()
	u := newUpstream()
	sub := subscribe(t, h, key("t1"), u, nil)
	u.next(t).Upsert("a", 1)
	expect(t, sub, "UPSERT a=1")
	sub.Close()
	if _, ok := <-sub.Events(); ok {
		t.Fatal("events still open after Close")
	}
	waitFor(t, "the stream to close", func() bool { return len(h.Streams()) == 0 && u.active.Load() == 0 })
	if _, ok := h.State(key("t1")); ok {
		t.Fatal("State of a closed stream")
	}

	again := subscribe(t, h, key("t1"), u, nil)
	u.next(t).Upsert("b", 1)
	expect(t, again, "UPSERT b=1") // no snapshot: the state went with the old stream
	if n := u.opens.Load(); n != 2 {
		t.Fatalf("opens = %d, want 2", n)
	}
}

func TestLingerKeepsStreamForReturningSubscriber(t *testing.T) {
	h := New(Config{Linger: time.Hour}, nil)
	defer h.Close()
	u := newUpstream()
	sub := subscribe(t, h, key("t1"), u, nil)
	u.next(t).Upsert("a", 1)
	expect(t, sub, "UPSERT a=1")
	sub.Close()
	waitFor(t, "no subscribers", func() bool { return h.Streams()[0].Subscribers == 0 })
	again := subscribe(t, h, key("t1"), u, nil)
	expect(t, again, "SNAPSHOT a=1")
	if n := u.opens.Load(); n != 1 {
		t.Fatalf("opens = %d, want 1", n)
	}
}

func TestReconnectEmitsOnlyDifferences(t *testing.T) {
	h := New(Config{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}, nil)
	defer h.Close()
	u := newUpstream()
	sub := subscribe(t, h, key("t1"), u, nil)
	old := u.next(t)
	old.Reset([]upstreams.Item{{Key: "a", Value: 1}, {Key: "b", Value: 1}, {Key: "c", Value: 1}})
	expect(t, sub, "UPSERT a=1", "UPSERT b=1", "UPSERT c=1")

	u.fail <- errors.New("connection reset by peer")
	sink := u.next(t)
	old.Upsert("z", 1) // a late call on the dead connection must be ignored
	sink.Reset([]upstreams.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "d", Value: 1}})
	sink.Upsert("e", 1)
	expect(t, sub, "UPSERT b=2", "UPSERT d=1", "REMOVE c=1", "UPSERT e=1")
	if info := h.Streams()[0]; info.Connects != 2 || info.Status != model.HealthStatusLive {
		t.Fatalf("Streams = %+v", info)
	}
}

func TestFailingUpstreamReportsDown(t *testing.T) {
	h := New(Config{BackoffBase: time.Hour}, nil)
	defer h.Close()
	var opens atomic.Int32
	open := func(ctx context.Context, sink upstreams.Sink) error {
		opens.Add(1)
		return errors.New("dialing vendor: connection refused")
	}
	sub, err := h.Subscribe(t.Context(), key("t1"), open, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	waitFor(t, "health DOWN", func() bool {
		info := h.Streams()[0]
		return info.Status == model.HealthStatusDown && strings.Contains(info.Reason, "connection refused")
	})
	if _, ok := h.State(key("t1")); ok {
		t.Fatal("State reported for a stream that never delivered data")
	}
}

func TestResume(t *testing.T) {
	h := New(Config{Replay: 4}, nil)
	defer h.Close()
	u := newUpstream()
	sub := subscribe(t, h, key("t1"), u, nil)
	sink := u.next(t)
	for i := 1; i <= 3; i++ {
		sink.Upsert(fmt.Sprintf("k%d", i), i)
	}
	evs := expect(t, sub, "UPSERT k1=1", "UPSERT k2=2", "UPSERT k3=3")

	t.Run("replay", func(t *testing.T) {
		r := subscribe(t, h, key("t1"), u, &evs[0].Seq)
		defer r.Close()
		got := expect(t, r, "UPSERT k2=2", "UPSERT k3=3")
		if got[0].Seq != evs[1].Seq || got[1].Seq != evs[2].Seq {
			t.Fatalf("replayed seqs %d, %d; want %d, %d", got[0].Seq, got[1].Seq, evs[1].Seq, evs[2].Seq)
		}
		expectNothing(t, r)
	})
	t.Run("up to date", func(t *testing.T) {
		r := subscribe(t, h, key("t1"), u, &evs[2].Seq)
		defer r.Close()
		expectNothing(t, r)
	})
	for i := 4; i <= 6; i++ {
		sink.Upsert(fmt.Sprintf("k%d", i), i)
	}
	expect(t, sub, "UPSERT k4=4", "UPSERT k5=5", "UPSERT k6=6")
	resync := []string{"RESYNC k1=1", "RESYNC k2=2", "RESYNC k3=3", "RESYNC k4=4", "RESYNC k5=5", "RESYNC k6=6"}
	future := evs[2].Seq + 1000
	for name, after := range map[string]uint64{"too old": evs[0].Seq, "unknown": future} {
		t.Run(name, func(t *testing.T) {
			r := subscribe(t, h, key("t1"), u, &after)
			defer r.Close()
			expect(t, r, resync...)
			sink.Remove("k6")
			expect(t, r, "REMOVE k6=6")
			sink.Upsert("k6", 6)
			expect(t, r, "UPSERT k6=6")
		})
	}
	t.Run("empty state", func(t *testing.T) {
		u2 := newUpstream()
		var zero uint64
		r := subscribe(t, h, key("t2"), u2, &zero)
		defer r.Close()
		expect(t, r, "RESYNC =<nil>")
	})
}

func TestSlowConsumerCoalescesThenEnds(t *testing.T) {
	h := New(Config{Buffer: 4}, nil)
	defer h.Close()
	u := newUpstream()
	fast := subscribe(t, h, key("t1"), u, nil)
	slow := subscribe(t, h, key("t1"), u, nil)
	sink := u.next(t)
	// Each step waits for the fast subscriber, so only the slow one ever falls behind.
	step := func(k string, v int) {
		sink.Upsert(k, v)
		expect(t, fast, fmt.Sprintf("UPSERT %s=%d", k, v))
	}
	for i := range 4 {
		step(fmt.Sprintf("k%d", i), 0)
	}
	waitFor(t, "the slow pump to hold k0", func() bool { return queued(slow) == 3 })
	step("k4", 0) // slow's queue is now full: k1 k2 k3 k4
	for v := 1; v <= 50; v++ {
		step("k2", v)
	}
	got := expect(t, slow, "UPSERT k0=0", "UPSERT k1=0", "UPSERT k3=0", "UPSERT k4=0", "UPSERT k2=50")
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("seqs not increasing: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}

	waitFor(t, "the slow queue to drain", func() bool { return queued(slow) == 0 })
	for i := 5; i <= 10; i++ { // one held by the pump, four queued, then one too many
		step(fmt.Sprintf("k%d", i), 0)
	}
	waitFor(t, "the slow subscription to end", func() bool { return slow.Err() != nil })
	for range slow.Events() {
	}
	if !errors.Is(slow.Err(), ErrSlowConsumer) {
		t.Fatalf("Err = %v, want ErrSlowConsumer", slow.Err())
	}
	step("k11", 0)
	waitFor(t, "the slow subscriber to be released", func() bool { return h.Streams()[0].Subscribers == 1 })
}

func TestSnapshotIsNotCountedAgainstBuffer(t *testing.T) {
	h := New(Config{Buffer: 2}, nil)
	defer h.Close()
	u := newUpstream()
	first := subscribe(t, h, key("t1"), u, nil)
	sink := u.next(t)
	var items []upstreams.Item
	for i := range 10 {
		items = append(items, upstreams.Item{Key: fmt.Sprintf("k%d", i), Value: 0})
	}
	sink.Reset(items)
	waitFor(t, "state", func() bool { s, _ := h.State(key("t1")); return len(s) == 10 })
	first.Close()

	slow := subscribe(t, h, key("t1"), u, nil)
	waitFor(t, "the pump to hold k0", func() bool { return queued(slow) == 9 })
	sink.Upsert("x1", 0)
	sink.Upsert("x2", 0) // deltas now at the bound
	sink.Upsert("k3", 1) // patches the undelivered snapshot entry
	sink.Remove("k5")    // drops it
	expect(t, slow, "SNAPSHOT k0=0", "SNAPSHOT k1=0", "SNAPSHOT k2=0", "SNAPSHOT k3=1", "SNAPSHOT k4=0",
		"SNAPSHOT k6=0", "SNAPSHOT k7=0", "SNAPSHOT k8=0", "SNAPSHOT k9=0", "UPSERT x1=0", "UPSERT x2=0")
	if err := slow.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
}

func TestTenantsAreIsolated(t *testing.T) {
	h := New(Config{}, nil)
	defer h.Close()
	ua, ub := newUpstream(), newUpstream()
	a := subscribe(t, h, key("tenant-a"), ua, nil)
	b := subscribe(t, h, key("tenant-b"), ub, nil)
	sa, sb := ua.next(t), ub.next(t)
	sa.Upsert("call-1", "A")
	sb.Upsert("call-1", "B")
	sa.Upsert("call-2", "A")
	sb.Upsert("call-3", "B")
	expect(t, a, "UPSERT call-1=A", "UPSERT call-2=A")
	expect(t, b, "UPSERT call-1=B", "UPSERT call-3=B")
	if s, _ := h.State(key("tenant-b")); fmt.Sprint(s) != "[{call-1 B} {call-3 B}]" {
		t.Fatalf("tenant-b State = %v", s)
	}
	other := key("tenant-a")
	other.Identity = "id2"
	uc := newUpstream()
	c := subscribe(t, h, other, uc, nil)
	uc.next(t).Upsert("call-9", "C")
	expect(t, c, "UPSERT call-9=C")
	if n := len(h.Streams()); n != 3 {
		t.Fatalf("%d streams, want 3", n)
	}
	expectNothing(t, a)
}

func TestContextEndsSubscription(t *testing.T) {
	h := New(Config{Linger: time.Hour}, nil)
	defer h.Close()
	u := newUpstream()
	ctx, cancel := context.WithCancel(t.Context())
	sub, err := h.Subscribe(ctx, key("t1"), u.open, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.next(t)
	cancel()
	for range sub.Events() {
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}
	waitFor(t, "release", func() bool { return h.Streams()[0].Subscribers == 0 })
	if _, err := h.Subscribe(ctx, key("t1"), u.open, SubscribeOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with a done context: %v", err)
	}
	if _, err := h.Subscribe(t.Context(), StreamKey{Source: "s1", Topic: upstreams.TopicCalls}, u.open, SubscribeOptions{}); err == nil {
		t.Fatal("Subscribe without a tenant succeeded")
	}
}

func TestCloseStopsEverything(t *testing.T) {
	h := New(Config{Buffer: 1, Linger: time.Hour}, nil)
	ua, ub := newUpstream(), newUpstream()
	a := subscribe(t, h, key("t1"), ua, nil)
	b := subscribe(t, h, key("t2"), ub, nil)
	lingering := subscribe(t, h, key("t3"), newUpstream(), nil)
	ua.next(t).Upsert("a", 1) // never read: the pump is blocked sending it
	ub.next(t)
	lingering.Close()

	h.Close()
	for _, sub := range []*Subscription{a, b} {
		for range sub.Events() {
		}
		if !errors.Is(sub.Err(), ErrHubClosed) {
			t.Fatalf("Err = %v, want ErrHubClosed", sub.Err())
		}
	}
	if ua.active.Load() != 0 || ub.active.Load() != 0 {
		t.Fatal("upstream connections still open after Close")
	}
	if _, err := h.Subscribe(t.Context(), key("t1"), ua.open, SubscribeOptions{}); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	a.Close() // after the hub: must not block
	h.Close()
	goleak.VerifyNone(t)
}

// BenchmarkFanOut1000 measures one upstream change delivered to 1000 subscribers that drain
// their channels concurrently (coalescing keeps any that fall behind alive).
func BenchmarkFanOut1000(b *testing.B) {
	h := New(Config{}, nil)
	u := newUpstream()
	var delivered atomic.Int64
	var readers sync.WaitGroup
	for range 1000 {
		sub := subscribe(b, h, key("t1"), u, nil)
		readers.Go(func() {
			for range sub.Events() {
				delivered.Add(1)
			}
		})
	}
	sink := u.next(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sink.Upsert(fmt.Sprintf("agent-%d", i%64), i)
	}
	b.StopTimer()
	h.Close()
	readers.Wait()
	b.ReportMetric(float64(delivered.Load())/float64(b.N), "deliveries/op")
}

// TestNextNeedsNoGoroutine: consumers that pull with Next get the same snapshot-then-delta
// order without a goroutine per subscription, and leave the stream when their context ends.
func TestNextNeedsNoGoroutine(t *testing.T) {
	h := New(Config{}, nil)
	defer h.Close()
	u := newUpstream()
	ctx, cancel := context.WithCancel(t.Context())
	first, err := h.Subscribe(ctx, key("t1"), u.open, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sink := u.next(t)
	sink.Reset([]upstreams.Item{{Key: "a", Value: 1}})
	if e, ok := first.Next(ctx); !ok || e.Kind != model.EventKindUpsert || e.Key != "a" {
		t.Fatalf("first event %+v %v", e, ok)
	}
	before := runtime.NumGoroutine()
	subs := make([]*Subscription, 100)
	for i := range subs {
		if subs[i], err = h.Subscribe(ctx, key("t1"), u.open, SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if grown := runtime.NumGoroutine() - before; grown > 10 {
		t.Fatalf("100 pull subscriptions started %d goroutines", grown)
	}
	sink.Upsert("b", 2)
	for i, s := range subs {
		if e, ok := s.Next(ctx); !ok || e.Kind != model.EventKindSnapshot || e.Key != "a" {
			t.Fatalf("sub %d: snapshot %+v %v", i, e, ok)
		}
		if e, ok := s.Next(ctx); !ok || e.Kind != model.EventKindUpsert || e.Key != "b" {
			t.Fatalf("sub %d: delta %+v %v", i, e, ok)
		}
	}
	cancel()
	waitFor(t, "the subscriptions to leave", func() bool { return len(h.Streams()) == 0 || h.Streams()[0].Subscribers == 0 })
	if _, ok := subs[0].Next(t.Context()); ok {
		t.Fatal("Next after the context ended")
	}
	for _, s := range subs {
		s.Close()
	}
	first.Close()
}

// The options a shared subscription uses (see Feed): one subscriber's start alone
// (InitialOnly, OnAttach with the start's seq), a group's changes alone (DeltasOnly), a
// group that lags without being ended (Shared), and the group's weight in Streams.
func TestSharedSubscriptionOptions(t *testing.T) {
	h := New(Config{Buffer: 2}, nil)
	defer h.Close()
	u := newUpstream()
	sub := func(opts SubscribeOptions) *Subscription {
		t.Helper()
		s, err := h.Subscribe(t.Context(), key("t1"), u.open, opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	group := sub(SubscribeOptions{DeltasOnly: true, Shared: true})
	sink := u.next(t)
	sink.Reset([]upstreams.Item{{Key: "a", Value: 1}, {Key: "b", Value: 1}})
	group.Events()
	expect(t, group, "UPSERT a=1", "UPSERT b=1") // changes after it attached

	var attachedAt atomic.Uint64
	start := sub(SubscribeOptions{InitialOnly: true, OnAttach: func(seq uint64) { attachedAt.Store(seq) }})
	snap := expect(t, start, "SNAPSHOT a=1", "SNAPSHOT b=1")
	if attachedAt.Load() == 0 || snap[0].Seq != attachedAt.Load() {
		t.Fatalf("OnAttach got seq %d, the snapshot is at %d", attachedAt.Load(), snap[0].Seq)
	}
	sink.Upsert("c", 1)
	if _, ok := <-start.Events(); ok || start.Err() != nil {
		t.Fatalf("the start went on past its snapshot (err %v)", start.Err())
	}
	expect(t, group, "UPSERT c=1")

	// A late group member counts, and a late DeltasOnly subscription gets no snapshot.
	group.SetShares(10)
	waitFor(t, "the group to count for its members", func() bool { return h.Streams()[0].Subscribers == 10 })
	late := sub(SubscribeOptions{DeltasOnly: true})
	late.Events()
	expectNothing(t, late)
	late.Close()

	// Shared: far past Buffer (2) with new keys, the group lags but is not ended.
	for i := range 20 {
		sink.Upsert(fmt.Sprintf("k%d", i), i)
	}
	for i := range 20 {
		expect(t, group, fmt.Sprintf("UPSERT k%d=%d", i, i))
	}
	if group.Err() != nil {
		t.Fatalf("the shared subscription ended: %v", group.Err())
	}
	if s := h.Streams()[0]; s.Subscriptions != 1 || s.Subscribers != 10 {
		t.Fatalf("Streams: %d subscriptions serving %d subscribers, want 1 and 10", s.Subscriptions, s.Subscribers)
	}
}
