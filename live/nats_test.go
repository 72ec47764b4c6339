package live

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

const leaseTTL = time.Second

// textCodec carries the tests' values (ints and strings) as their text.
type textCodec struct{}

func (textCodec) Encode(_ upstreams.Topic, v any) ([]byte, error) {
	return fmt.Appendf(nil, "%v", v), nil
}
func (textCodec) Decode(_ upstreams.Topic, b []byte) (any, error) {
	if string(b) == "garbage" {
		return nil, errors.New("garbage value")
	}
	return string(b), nil
}

// exclusive is an upstream that records how many connections were open at once.
type exclusive struct {
	*upstream
	mu       sync.Mutex
	now, max int
}

func newExclusive() *exclusive { return &exclusive{upstream: newUpstream()} }

func (x *exclusive) open(ctx context.Context, sink upstreams.Sink) error {
	x.mu.Lock()
	x.now++
	x.max = max(x.max, x.now)
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		x.now--
		x.mu.Unlock()
	}()
	return x.upstream.open(ctx, sink)
}

func (x *exclusive) maxOpen() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.max
}

func startNATS(t testing.TB, cfg EmbeddedConfig) *EmbeddedServer {
	t.Helper()
	srv, err := EmbeddedNATS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func dial(t testing.TB, u string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(u, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0))
	if err != nil {
		t.Fatalf("connecting to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// replica is one gateway's hub on its own NATS connection.
func replica(t testing.TB, u, id string) (*Hub, *nats.Conn) {
	t.Helper()
	nc := dial(t, u)
	bus, err := NewNATSBus(nc, NATSConfig{ReplicaID: id, LeaseTTL: leaseTTL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Bus: bus, Codec: textCodec{}, Linger: time.Hour, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond}, nil)
	t.Cleanup(h.Close)
	return h, nc
}

func owned(h *Hub) bool {
	s := h.Streams()
	return len(s) == 1 && s[0].Owned
}

// await reads sub until an event carries key=value, whatever its kind.
func await(t testing.TB, sub *Subscription, key, value string) Event {
	t.Helper()
	for {
		e := recv(t, sub)
		if e.Key == key && fmt.Sprint(e.Value) == value {
			return e
		}
	}
}

func TestNATSOneOwnerTakeoverAndResume(t *testing.T) {
	srv := startNATS(t, EmbeddedConfig{})
	defer srv.Shutdown()
	ha, nca := replica(t, srv.URL(), "a")
	hb, ncb := replica(t, srv.URL(), "b")
	u := newExclusive()
	subA := mustSubscribe(t, ha, u, nil)
	subB := mustSubscribe(t, hb, u, nil)
	sink := u.next(t)
	waitFor(t, "one owner", func() bool { return owned(ha) != owned(hb) })
	owner, ownerNC, follower, fsub, osub := ha, nca, hb, subB, subA
	if owned(hb) {
		owner, ownerNC, follower, fsub, osub = hb, ncb, ha, subA, subB
	}
	// The follower's subscription starts at its first sync, before or after this change.
	sink.Upsert("a", 1)
	ea := expect(t, osub, "UPSERT a=1")[0]
	if e := await(t, fsub, "a", "1"); e.Seq != ea.Seq {
		t.Fatalf("follower seq %d, owner seq %d", e.Seq, ea.Seq)
	}
	sink.Upsert("b", 2)
	eb := expect(t, osub, "UPSERT b=2")[0]
	if e := expect(t, fsub, "UPSERT b=2")[0]; e.Seq != eb.Seq {
		t.Fatalf("follower seq %d, owner seq %d", e.Seq, eb.Seq)
	}
	if s, _ := follower.State(key("t1")); fmt.Sprint(s) != "[{a 1} {b 2}]" {
		t.Fatalf("follower State = %v", s)
	}

	t.Run("resume on the other replica", func(t *testing.T) {
		r := mustSubscribe(t, follower, u, &ea.Seq)
		defer r.Close()
		if e := expect(t, r, "UPSERT b=2")[0]; e.Seq != eb.Seq {
			t.Fatalf("replayed seq %d, want %d", e.Seq, eb.Seq)
		}
	})

	// The owner dies without releasing its lease: the follower takes over once it expires.
	ownerNC.Close()
	owner.Close()
	sink = u.next(t)
	waitFor(t, "the follower to own the stream", func() bool { return owned(follower) })
	sink.Reset([]upstreams.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "c", Value: 3}})
	ec := expect(t, fsub, "UPSERT c=3")[0]
	if ec.Seq <= eb.Seq {
		t.Fatalf("seq %d after takeover does not follow %d", ec.Seq, eb.Seq)
	}
	t.Run("resume after takeover", func(t *testing.T) {
		r := mustSubscribe(t, follower, u, &eb.Seq)
		defer r.Close()
		expect(t, r, "UPSERT c=3")
	})
	if n, m := u.opens.Load(), u.maxOpen(); n != 2 || m != 1 {
		t.Fatalf("%d opens, %d at once; want 2 and 1", n, m)
	}
	if s := follower.Streams()[0]; s.Status != model.HealthStatusLive || s.Connects != 1 {
		t.Fatalf("follower stream %+v", s)
	}
}

func mustSubscribe(t testing.TB, h *Hub, u *exclusive, after *uint64) *Subscription {
	t.Helper()
	sub, err := h.Subscribe(t.Context(), key("t1"), u.open, SubscribeOptions{After: after})
	if err != nil {
		t.Fatalf("subscribing: %v", err)
	}
	return sub
}

// Both replicas subscribe at the same moment, for many streams: each stream is opened once.
func TestNATSLeaseRace(t *testing.T) {
	srv := startNATS(t, EmbeddedConfig{})
	defer srv.Shutdown()
	ha, _ := replica(t, srv.URL(), "a")
	hb, _ := replica(t, srv.URL(), "b")
	for i := range 25 {
		k := key(fmt.Sprintf("race%d", i))
		u := newExclusive()
		var subs [2]*Subscription
		var wg sync.WaitGroup
		start := make(chan struct{})
		for j, h := range []*Hub{ha, hb} {
			wg.Go(func() {
				<-start
				sub, err := h.Subscribe(t.Context(), k, u.open, SubscribeOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				subs[j] = sub
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		sink := u.next(t)
		sink.Upsert("k", i)
		// Both subscriptions seeing the change means the loser tried the lease and synced.
		for _, sub := range subs {
			await(t, sub, "k", strconv.Itoa(i))
			sub.Close()
		}
		if n, m := u.opens.Load(), u.maxOpen(); n != 1 || m != 1 {
			t.Fatalf("round %d: %d opens, %d at once; want 1", i, n, m)
		}
	}
}

// The NATS server goes away: the owner gives the upstream up once its lease may have
// expired and every replica reports the bus; when the server is back, one replica takes the
// stream again and every subscriber receives again.
func TestNATSServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startNATS(t, EmbeddedConfig{StoreDir: dir})
	port := srv.Port()
	ha, _ := replica(t, srv.URL(), "a")
	hb, _ := replica(t, srv.URL(), "b")
	u := newExclusive()
	subA, subB := mustSubscribe(t, ha, u, nil), mustSubscribe(t, hb, u, nil)
	sink := u.next(t)
	sink.Upsert("a", 1)
	await(t, subA, "a", "1")
	await(t, subB, "a", "1")

	srv.Shutdown()
	degraded := func(h *Hub) bool {
		s := h.Streams()[0]
		return s.Status != model.HealthStatusLive && strings.Contains(s.Reason, "bus unavailable")
	}
	waitFor(t, "both replicas to report the bus", func() bool { return degraded(ha) && degraded(hb) })
	waitFor(t, "the upstream to be given up", func() bool { return u.active.Load() == 0 })

	srv = startNATS(t, EmbeddedConfig{Port: port, StoreDir: dir})
	defer srv.Shutdown()
	sink = u.next(t)
	sink.Reset([]upstreams.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}})
	await(t, subA, "b", "2")
	await(t, subB, "b", "2")
	waitFor(t, "both replicas live", func() bool {
		return ha.Streams()[0].Status == model.HealthStatusLive && hb.Streams()[0].Status == model.HealthStatusLive
	})
	if m := u.maxOpen(); m != 1 {
		t.Fatalf("%d upstream connections at once", m)
	}
}

// Garbage on the bus, and a change the mirror cannot decode, make it resync, not fail.
func TestNATSGarbageResyncs(t *testing.T) {
	srv := startNATS(t, EmbeddedConfig{})
	defer srv.Shutdown()
	ha, _ := replica(t, srv.URL(), "a")
	u := newExclusive()
	subA := mustSubscribe(t, ha, u, nil)
	sink := u.next(t)
	waitFor(t, "a to own", func() bool { return owned(ha) })
	hb, ncb := replica(t, srv.URL(), "b")
	subB := mustSubscribe(t, hb, u, nil)
	sink.Upsert("a", 1)
	await(t, subA, "a", "1")
	await(t, subB, "a", "1")
	subject := "switchboard.t1.s1.agents.i" + hashHex("id1") + ".events"
	for _, junk := range []string{"{", `{"epoch":1e30}`, `{"kind":"UPSERT","prev":1,"seq":2}`} {
		if err := ncb.Publish(subject, []byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	sink.Upsert("g", "garbage") // the follower cannot decode it: it resyncs, and fails again
	sink.Upsert("g", "fine")
	await(t, subA, "g", "fine")
	await(t, subB, "g", "fine")
	if u.opens.Load() != 1 {
		t.Fatalf("%d opens", u.opens.Load())
	}
}

func TestTenantSubscriberCap(t *testing.T) {
	h := New(Config{MaxTenantSubscribers: 2}, nil)
	defer h.Close()
	u := newUpstream()
	a := subscribe(t, h, key("t1"), u, nil)
	subscribe(t, h, key("t1"), u, nil)
	if _, err := h.Subscribe(t.Context(), key("t1"), u.open, SubscribeOptions{}); !errors.Is(err, ErrTooManySubscribers) {
		t.Fatalf("third subscription: %v", err)
	}
	subscribe(t, h, key("t2"), newUpstream(), nil) // another tenant is not affected
	a.Close()
	waitFor(t, "a slot", func() bool {
		sub, err := h.Subscribe(t.Context(), key("t1"), u.open, SubscribeOptions{})
		if err == nil {
			sub.Close()
		}
		return err == nil
	})
}

// BenchmarkNATSFanOut1000 measures one change on the owner delivered through NATS to 1000
// subscribers of another replica, until the follower has applied the last change.
func BenchmarkNATSFanOut1000(b *testing.B) {
	srv := startNATS(b, EmbeddedConfig{})
	defer srv.Shutdown()
	owner, _ := replica(b, srv.URL(), "a")
	follower, _ := replica(b, srv.URL(), "b")
	u := newExclusive()
	osub := mustSubscribe(b, owner, u, nil)
	sink := u.next(b)
	waitFor(b, "a to own", func() bool { return owned(owner) })
	var delivered atomic.Int64
	var readers sync.WaitGroup
	subs := make([]*Subscription, 1000)
	for i := range subs {
		subs[i] = mustSubscribe(b, follower, u, nil)
	}
	sink.Upsert("warm", 0)
	for _, sub := range subs {
		await(b, sub, "warm", "0")
		readers.Go(func() {
			for range sub.Events() {
				delivered.Add(1)
			}
		})
	}
	go func() {
		for range osub.Events() {
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	// Not b.Loop: it would stop the timer before the follower has drained.
	for i := range b.N {
		sink.Upsert(fmt.Sprintf("agent-%d", i%64), i)
	}
	last := fmt.Sprintf("agent-%d", b.N%64)
	sink.Upsert(last, "end")
	waitFor(b, "the last change on the follower", func() bool {
		s, _ := follower.State(key("t1"))
		for _, it := range s {
			if it.Key == last && it.Value == "end" {
				return true
			}
		}
		return false
	})
	b.StopTimer()
	follower.Close()
	owner.Close()
	readers.Wait()
	b.ReportMetric(float64(delivered.Load())/float64(b.N), "deliveries/op")
}
