package live

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

const leaseTTL = time.Second

// textCodec carries the tests' values (ints and strings) as their text.
type textCodec struct{}

func (textCodec) Encode(_ upstreams.Topic, v any) ([]byte, error) { return fmt.Appendf(nil, "%v", v), nil }
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
