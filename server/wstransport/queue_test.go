package wstransport

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/switchboard-cc/switchboard/live"
)

// A connection's queue: in order while the subscriber keeps up; once a quarter of the limit
// waits, an event replaces the waiting one of its operation and key (moved to the back);
// at the limit, an event with nothing to replace is refused (the operation is then ended),
// while final messages always get in.
func TestQueueCoalescesWhenBehind(t *testing.T) {
	c := &conn{cfg: Config{QueueLimit: 8}, shared: newGroups(slog.New(slog.DiscardHandler))}
	push := func(id, key string, final bool) bool {
		ok, _ := c.enqueue(outMsg{id: id, typ: "next", key: key, payload: []byte(key), final: final})
		return ok
	}
	order := func() string {
		s := ""
		for _, m := range c.queue {
			s += m.id + ":" + m.key + " "
		}
		return s
	}
	push("1", "a", false)
	push("1", "a", false) // not behind yet (1 < 8/4): both kept
	if got := order(); got != "1:a 1:a " {
		t.Fatalf("queue %q", got)
	}
	push("1", "b", false) // 2 waiting: behind from now on
	push("1", "a", false) // replaces the last 1:a, moved to the back
	push("2", "a", false) // another operation's key a is its own
	if got := order(); got != "1:a 1:b 1:a 2:a " {
		t.Fatalf("queue %q", got)
	}
	for i := range 4 {
		if !push("1", fmt.Sprint("k", i), false) {
			t.Fatalf("refused k%d below the limit", i)
		}
	}
	if push("1", "new", false) {
		t.Fatal("accepted a new key at the limit")
	}
	if !push("1", "k0", false) || !push("1", "", true) {
		t.Fatal("refused a replacement or a final message at the limit")
	}
	if got := order(); got != "1:a 1:b 1:a 2:a 1:k1 1:k2 1:k3 1:k0 1: " {
		t.Fatalf("queue %q", got)
	}
	c.purge("1")
	if got := order(); got != "2:a " {
		t.Fatalf("after purge: %q", got)
	}
}

// A member whose connection is closing is not a slow consumer: nothing is reported, and
// the member stays until its connection's teardown takes it out of the group.
func TestDeliverSkipsClosingConnections(t *testing.T) {
	slow := 0
	gs := newGroups(slog.New(slog.DiscardHandler))
	c := &conn{cfg: Config{QueueLimit: 8, OnSlowConsumer: func() { slow++ }}, shared: gs}
	c.closeQueue()
	g := &group{key: "k", cancel: func() {}}
	m := &member{c: c, id: "1", g: g, started: true, after: position{"s", 0}}
	g.addLocked(m)
	g.deliver(t.Context(), live.Mark{Source: "s", Topic: "calls", Seq: 1, Key: "a"}, []byte(`{}`), false)
	if slow != 0 || len(g.members) != 1 || g.ended {
		t.Fatalf("slow consumers %d, members %d, ended %v: want 0, 1, false", slow, len(g.members), g.ended)
	}
}

// Under load the writers' ring is never empty: connections taken are dropped from it as
// more are scheduled, so its array stays the size of what waits, not of what was written.
func TestWritersRingStaysBounded(t *testing.T) {
	w := &writers{max: 0} // no goroutines: the test takes connections itself
	cs := []*conn{{}, {}, {}}
	w.scheduleAll(cs)
	for range 100000 {
		c := w.next()
		if c == nil {
			t.Fatal("ring ran empty")
		}
		w.schedule(c) // written, and more came meanwhile
	}
	if n := len(w.dirty) - w.head; n != 3 {
		t.Fatalf("%d waiting, want 3", n)
	}
	if cap(w.dirty) > 64 {
		t.Fatalf("ring array holds %d entries for 3 waiting", cap(w.dirty))
	}
}
