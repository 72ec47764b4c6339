package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// sharedCallEvents is the subscription the shared-subscription tests send.
const sharedCallEvents = `subscription { callEvents { seq kind call { id outcome answeredAt endedAt } } }`

// callEventMsg is one callEvents message as a client sees it.
type callEventMsg struct {
	seq       uint64
	kind, key string
	value     string // the call's fields that change
}

// readCallEvents reads w's callEvents messages of operation id until one has seq >= until or
// the deadline passes; it runs in a goroutine, so it reports instead of failing the test.
func readCallEvents(w *wsClient, until func() uint64, deadline time.Time) ([]callEventMsg, error) {
	return readCallEventsUntil(w, func(e callEventMsg, _ int) bool {
		u := until()
		return u > 0 && e.seq >= u && e.kind != "SNAPSHOT"
	}, deadline)
}

// readCallEventsUntil reads callEvents messages until stop says so of the last (and how
// many were read) or the deadline passes (which closes the connection).
func readCallEventsUntil(w *wsClient, stop func(e callEventMsg, n int) bool, deadline time.Time) ([]callEventMsg, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var out []callEventMsg
	for {
		var m struct {
			ID, Type string
			Payload  struct {
				Data struct {
					CallEvents struct {
						Seq, Kind string
						Call      struct{ ID, Outcome, AnsweredAt, EndedAt string }
					}
				}
				Errors []any
			}
		}
		if err := wsjson.Read(ctx, w.conn, &m); err != nil {
			return out, fmt.Errorf("after %d events: %w", len(out), err)
		}
		if m.Type == "ping" {
			continue
		}
		if m.Type != "next" || len(m.Payload.Errors) > 0 {
			return out, fmt.Errorf("unexpected message %+v", m)
		}
		e := m.Payload.Data.CallEvents
		seq, err := strconv.ParseUint(e.Seq, 10, 64)
		if err != nil {
			return out, fmt.Errorf("seq %q: %w", e.Seq, err)
		}
		out = append(out, callEventMsg{seq: seq, kind: e.Kind, key: e.Call.ID,
			value: strings.Join([]string{e.Call.Outcome, e.Call.AnsweredAt, e.Call.EndedAt}, "|")})
		if stop(out[len(out)-1], len(out)) {
			return out, nil
		}
	}
}

// deliveredTotal reads switchboard_live_events_delivered_total for topic from /metrics.
func deliveredTotal(t *testing.T, g *testGateway, topic string) int {
	t.Helper()
	resp, err := http.Get(g.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	prefix := `switchboard_live_events_delivered_total{topic="` + topic + `"} `
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s%s: %v", prefix, v, err)
			}
			return int(n)
		}
	}
	t.Fatalf("/metrics has no %s", prefix)
	return 0
}

// stateAt replays a subscriber's view (snapshot, then deltas) up to seq.
func stateAt(msgs []callEventMsg, seq uint64) map[string]string {
	st := map[string]string{}
	for _, m := range msgs {
		if m.seq > seq {
			break
		}
		switch m.kind {
		case "REMOVE":
			delete(st, m.key)
		default:
			st[m.key] = m.value
		}
	}
	return st
}

// TestSharedSubscriptionHandOver: clients that send the same subscription share one
// execution (one hub subscription serving them all), and each one that joins while the
// center is busy gets its own snapshot, then exactly the stream's events after it: no
// gap, no duplicate, the same order, and at a later seq the same state as the first
// client, whose view started before everyone else's.
func TestSharedSubscriptionHandOver(t *testing.T) {
	fast := demoOptions{center: func(tenant, vendor string) simcc.Config {
		c := busyCenter(tenant, vendor)
		c.Clock, c.SyncEvery = simcc.NewScaledClock(40), 10*time.Millisecond
		return c
	}}
	g := startTestGateway(t, vendorsNamed("telavox"), fast)
	tok := g.tokens["telavox"].Full

	const n = 8
	clients := make([]*wsClient, n)
	type result struct {
		msgs []callEventMsg
		err  error
	}
	results := make([]chan result, n)
	// The seq every reader reads up to, set once all have joined.
	targets := make([]chan uint64, n)
	deadline := time.Now().Add(60 * time.Second)
	for i := range clients {
		clients[i] = g.dialWS(t, tok)
		clients[i].subscribe("1", sharedCallEvents)
		results[i], targets[i] = make(chan result, 1), make(chan uint64, 1)
		var target uint64
		until := func() uint64 {
			select {
			case target = <-targets[i]:
			default:
			}
			return target
		}
		go func() {
			msgs, err := readCallEvents(clients[i], until, deadline)
			results[i] <- result{msgs, err}
		}()
		time.Sleep(150 * time.Millisecond) // events flow between the joins
	}

	// All joined: one hub subscription serves them.
	waitStreamLive(t, g, "telavox", "telavox", "calls", n)
	for _, s := range g.gw.hub.Streams() {
		if s.Key.Tenant == "telavox" && s.Key.Topic == "calls" && (s.Subscriptions != 1 || s.Connects != 1) {
			t.Fatalf("calls stream: %d hub subscriptions and %d upstream connects for %d clients; want 1 and 1", s.Subscriptions, s.Connects, n)
		}
	}
	// A seq every client must reach: the stream's a little after the last join.
	time.Sleep(time.Second)
	var last uint64
	for _, s := range g.gw.hub.Streams() {
		if s.Key.Tenant == "telavox" && s.Key.Topic == "calls" {
			last = s.Seq
		}
	}
	for _, ch := range targets {
		ch <- last
	}

	views := make([][]callEventMsg, n)
	for i, r := range results {
		res := <-r
		if res.err != nil {
			t.Fatalf("client %d: %v", i, res.err)
		}
		views[i] = res.msgs
	}
	// Every message a client got was counted as a delivery, the shared ones per subscriber.
	received := 0
	for _, v := range views {
		received += len(v)
	}
	if n := deliveredTotal(t, g, "calls"); n < received {
		t.Fatalf("switchboard_live_events_delivered_total{topic=\"calls\"} = %d, below the %d events the clients received", n, received)
	}
	ref := views[0]
	for i, v := range views {
		// The view starts with its snapshot, all at one seq S, then deltas after S in order.
		var snap uint64
		j := 0
		for ; j < len(v) && v[j].kind == "SNAPSHOT"; j++ {
			if j > 0 && v[j].seq != snap {
				t.Fatalf("client %d: snapshot at seqs %d and %d", i, snap, v[j].seq)
			}
			snap = v[j].seq
		}
		deltas := v[j:]
		if len(deltas) == 0 {
			t.Fatalf("client %d got no events after its snapshot", i)
		}
		for k, d := range deltas {
			if d.kind != "UPSERT" && d.kind != "REMOVE" {
				t.Fatalf("client %d: %s event after the snapshot", i, d.kind)
			}
			if d.seq <= snap || (k > 0 && d.seq <= deltas[k-1].seq) {
				t.Fatalf("client %d: delta seq %d after %d (snapshot at %d)", i, d.seq, max(snap, deltas[max(k-1, 0)].seq), snap)
			}
		}
		t.Logf("client %d: snapshot of %d calls at seq %d, then %d events", i, j, snap, len(deltas))
		if i == 0 {
			continue
		}
		// The same events as the first client from the first it got, none missed.
		var want []callEventMsg
		for _, d := range ref {
			if d.kind != "SNAPSHOT" && d.seq >= deltas[0].seq && d.seq <= last {
				want = append(want, d)
			}
		}
		var got []callEventMsg
		for _, d := range deltas {
			if d.seq <= last {
				got = append(got, d)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("client %d: %d events from seq %d differ from the first client's %d", i, len(got), deltas[0].seq, len(want))
		}
		// Its snapshot plus those events is the first client's state.
		if a, b := fmt.Sprint(stateAt(v, last)), fmt.Sprint(stateAt(ref, last)); a != b {
			t.Fatalf("client %d: state at seq %d\n%s\nfirst client's\n%s", i, last, a, b)
		}
	}
}

// TestSubscriptionsShareOnlyWithinAScope: identical subscriptions share an execution only
// among callers with the same tenant, scopes and source restriction; a token with other
// scopes, a different document and a stopped client each count as they should.
func TestSubscriptionsShareOnlyWithinAScope(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{center: busyCenter})
	full, basic := g.tokens["telavox"].Full, g.tokens["telavox"].Basic
	subscriptions := func(n int) {
		t.Helper()
		waitStreamLive(t, g, "telavox", "telavox", "calls", n)
	}
	hubSubs := func() int {
		for _, s := range g.gw.hub.Streams() {
			if s.Key.Tenant == "telavox" && s.Key.Topic == "calls" {
				return s.Subscriptions
			}
		}
		return 0
	}
	var ws []*wsClient
	for range 3 {
		w := g.dialWS(t, full)
		w.subscribe("1", sharedCallEvents)
		ws = append(ws, w)
	}
	b := g.dialWS(t, basic)
	b.subscribe("1", sharedCallEvents)
	other := g.dialWS(t, full)
	other.subscribe("1", `subscription { callEvents { seq kind call { id } } }`)
	subscriptions(5)
	if n := hubSubs(); n != 3 {
		t.Fatalf("%d hub subscriptions for 3 full-scope clients, 1 basic-scope and 1 other document; want 3", n)
	}
	// A client that stops leaves its group; the last one out ends it.
	ws[0].send(map[string]any{"id": "1", "type": "complete"})
	subscriptions(4)
	for _, w := range ws[1:] {
		w.send(map[string]any{"id": "1", "type": "complete"})
	}
	subscriptions(2)
	if n := hubSubs(); n != 2 {
		t.Fatalf("%d hub subscriptions after the full-scope group left; want 2", n)
	}
	// The id is free again at once, and a new start joins as the group's first.
	ws[1].subscribe("1", sharedCallEvents)
	if _, ok := ws[1].nextData(time.Now().Add(20 * time.Second)); !ok {
		t.Fatal("resubscribing with the same id got nothing")
	}
	subscriptions(3)
}

// TestSharedSubscriptionsLeaveNoGoroutines: after clients that shared subscriptions stop
// them, drop their connections or are still subscribed at shutdown, no goroutine of the
// gateway is left: connections, writers, groups and their hub subscriptions all end.
func TestSharedSubscriptionsLeaveNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // runs after the gateway's cleanup
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{center: func(tenant, vendor string) simcc.Config {
		c := busyCenter(tenant, vendor)
		c.Clock, c.SyncEvery = simcc.NewScaledClock(40), 10*time.Millisecond
		return c
	}})
	tok := g.tokens["telavox"].Full
	ws := make([]*wsClient, 6)
	for i := range ws {
		ws[i] = g.dialWS(t, tok)
		ws[i].subscribe("1", sharedCallEvents)
		if _, ok := ws[i].nextData(time.Now().Add(20 * time.Second)); !ok {
			t.Fatalf("client %d got nothing", i)
		}
	}
	ws[0].send(map[string]any{"id": "1", "type": "complete"})
	_ = ws[1].conn.CloseNow()
	waitStreamLive(t, g, "telavox", "telavox", "calls", 4)
	// Shutting down with four clients subscribed: each is told its subscription ended
	// (UNAVAILABLE, then complete), then its connection is closed with 1001.
	type end struct {
		codes []string
		err   error
	}
	ends := make(chan end, 5)
	for _, w := range append([]*wsClient{ws[0]}, ws[2:]...) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var codes []string
			for {
				var m struct {
					Type    string
					Payload struct{ Errors []gqlError }
				}
				if err := wsjson.Read(ctx, w.conn, &m); err != nil {
					ends <- end{codes, err}
					return
				}
				for _, e := range m.Payload.Errors {
					codes = append(codes, fmt.Sprint(e.Extensions["code"]))
				}
			}
		}()
	}
	g.gw.stopLive()
	unavailable := 0
	for range 5 {
		e := <-ends
		if websocket.CloseStatus(e.err) != websocket.StatusGoingAway {
			t.Errorf("a connection ended with %v, want close 1001", e.err)
		}
		if slices.Contains(e.codes, "UNAVAILABLE") {
			unavailable++
		}
	}
	if unavailable != 4 { // the client that stopped its subscription has nothing to be told
		t.Errorf("%d clients told UNAVAILABLE, want the 4 still subscribed", unavailable)
	}
}

// TestSharedSubscriptionResume: a client that resubscribes with the cursor of the last
// event it got first gets exactly the events it missed (replayed by its own start), then
// its group's events after them, the same sequence as a client that never left; a cursor
// the gateway no longer holds gets a RESYNC snapshot instead.
func TestSharedSubscriptionResume(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{center: func(tenant, vendor string) simcc.Config {
		c := busyCenter(tenant, vendor)
		c.Clock, c.SyncEvery = simcc.NewScaledClock(40), 10*time.Millisecond
		return c
	}})
	tok := g.tokens["telavox"].Full
	const q = `subscription($after: String) { callEvents(after: $after) { seq kind cursor call { id outcome answeredAt endedAt } } }`
	type ev struct {
		seq          uint64
		kind, cursor string
	}
	read := func(w *wsClient, until func(ev) bool) []ev {
		t.Helper()
		var out []ev
		for deadline := time.Now().Add(30 * time.Second); ; {
			m := w.read(time.Until(deadline))
			if m["type"] != "next" {
				t.Fatalf("unexpected message %v", m)
			}
			e := m["payload"].(map[string]any)["data"].(map[string]any)["callEvents"].(map[string]any)
			seq, err := strconv.ParseUint(e["seq"].(string), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			x := ev{seq, e["kind"].(string), e["cursor"].(string)}
			out = append(out, x)
			if until(x) {
				return out
			}
		}
	}
	subscribe := func(w *wsClient, after string) {
		vars := map[string]any{}
		if after != "" {
			vars["after"] = after
		}
		w.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": q, "variables": vars}})
	}
	ref := g.dialWS(t, tok) // stays subscribed: what it gets is what the others missed
	subscribe(ref, "")
	b := g.dialWS(t, tok)
	subscribe(b, "")
	deltas := 0
	got := read(b, func(e ev) bool {
		if e.kind == "UPSERT" || e.kind == "REMOVE" {
			deltas++
		}
		return deltas == 3
	})
	last := got[len(got)-1]
	_ = b.conn.CloseNow()
	time.Sleep(500 * time.Millisecond) // events it misses

	// The events the reference client saw after the last one b got, up to a later seq.
	var missed []ev
	read(ref, func(e ev) bool {
		if e.kind != "SNAPSHOT" && e.seq > last.seq {
			missed = append(missed, e)
		}
		return len(missed) >= 5
	})
	target := missed[len(missed)-1].seq
	b2 := g.dialWS(t, tok)
	subscribe(b2, last.cursor)
	resumed := read(b2, func(e ev) bool { return e.seq >= target })
	var gotSeqs, wantSeqs []uint64
	for _, e := range resumed {
		if e.kind != "UPSERT" && e.kind != "REMOVE" {
			t.Fatalf("resumed subscription sent %s (seq %d); want the missed events", e.kind, e.seq)
		}
		gotSeqs = append(gotSeqs, e.seq)
	}
	for _, e := range missed {
		wantSeqs = append(wantSeqs, e.seq)
	}
	if fmt.Sprint(gotSeqs) != fmt.Sprint(wantSeqs) {
		t.Fatalf("resumed after seq %d: got seqs %v, the others got %v", last.seq, gotSeqs, wantSeqs)
	}

	// A cursor from long ago (seq 1) is outside what the gateway holds: RESYNC.
	old := base64.RawURLEncoding.EncodeToString([]byte(`{"telavox":1}`))
	b3 := g.dialWS(t, tok)
	subscribe(b3, old)
	if first := read(b3, func(ev) bool { return true }); first[0].kind != "RESYNC" {
		t.Fatalf("stale cursor: first event %s, want RESYNC", first[0].kind)
	}
}

// TestSharedStartsAtOneSeqAreTheSame: clients that join a shared subscription while the
// stream stands still get the same start (sent again, not executed again), and a client
// that joins after the stream moved gets the new state, not the earlier start: its snapshot
// is the state the first client's view reaches.
func TestSharedStartsAtOneSeqAreTheSame(t *testing.T) {
	opts, clk := frozenDemo(600)
	g := startTestGateway(t, vendorsNamed("telavox"), opts)
	tok := g.tokens["telavox"].Full
	// settle waits until the stream's seq stays put for half a second; it returns the seq
	// and how many calls the stream holds.
	settle := func() (uint64, int) {
		t.Helper()
		var seq uint64
		items := 0
		still := time.Now()
		for deadline := time.Now().Add(20 * time.Second); time.Since(still) < 500*time.Millisecond; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the stream never stood still")
			}
			for _, s := range g.gw.hub.Streams() {
				if s.Key.Tenant == "telavox" && s.Key.Topic == "calls" && s.Seq != seq {
					seq, items, still = s.Seq, s.Items, time.Now()
				}
			}
		}
		return seq, items
	}
	// start reads a client's start: one SNAPSHOT event per call the stream holds, at seq.
	start := func(w *wsClient, seq uint64, items int) []callEventMsg {
		t.Helper()
		msgs, err := readCallEventsUntil(w, func(_ callEventMsg, n int) bool { return n == items }, time.Now().Add(20*time.Second))
		if err != nil {
			t.Fatalf("start: %d events, %v", len(msgs), err)
		}
		for _, m := range msgs {
			if m.kind != "SNAPSHOT" || m.seq != seq {
				t.Fatalf("start event %+v, want SNAPSHOT at seq %d", m, seq)
			}
		}
		return msgs
	}
	warm := g.dialWS(t, tok) // the stream loads the center's state, then stands still
	warm.subscribe("1", `subscription { callEvents { seq } }`)
	waitStreamLive(t, g, "telavox", "telavox", "calls", 1)
	seq, items := settle()
	for range 24 { // find an hour of the simulated day with calls in progress
		if items > 0 {
			break
		}
		moveClock(clk, time.Hour)
		seq, items = settle()
	}
	a := g.dialWS(t, tok)
	a.subscribe("1", sharedCallEvents)
	first := start(a, seq, items)
	b := g.dialWS(t, tok)
	b.subscribe("1", sharedCallEvents)
	if got := start(b, seq, items); fmt.Sprint(got) != fmt.Sprint(first) {
		t.Fatalf("second start at the same seq differs:\n%v\n%v", got, first)
	}
	// The center moves on; a, still subscribed, sees the changes.
	moveClock(clk, 20*time.Minute)
	later, laterItems := settle()
	if later == seq {
		t.Fatal("the stream did not move after the clock did")
	}
	deltas, err := readCallEventsUntil(a, func(e callEventMsg, _ int) bool { return e.seq >= later }, time.Now().Add(20*time.Second))
	if err != nil {
		t.Fatalf("events after the clock moved: %v", err)
	}
	c := g.dialWS(t, tok)
	c.subscribe("1", sharedCallEvents)
	if laterItems == 0 {
		t.Skip("no calls in progress after the move: nothing to compare") // the simulated day's quiet hour
	}
	third := start(c, later, laterItems)
	view := append(append([]callEventMsg{}, first...), deltas...)
	if a, b := fmt.Sprint(stateAt(view, later)), fmt.Sprint(stateAt(third, later)); a != b {
		t.Fatalf("later start\n%s\nthe first client's view at its seq\n%s", b, a)
	}
}
