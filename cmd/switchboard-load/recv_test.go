package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestScan(t *testing.T) {
	msg := []byte(`{"id":"1","type":"next","payload":{"data":{"agentUpdates":{"seq":"1777","kind":"UPSERT","at":"2026-01-02T03:04:05.123456789Z"}}}}`)
	if _, got := field(msg, "kind"); string(got) != "UPSERT" {
		t.Fatalf("kind = %q", got)
	}
	rest, seq := field(msg, "seq")
	if string(seq) != "1777" || !strings.HasPrefix(string(rest), `,"kind"`) {
		t.Fatalf("seq = %q, rest %q", seq, rest)
	}
	if _, got := fieldAfter(msg, rest, "type"); string(got) != "next" { // before rest: found in the whole message
		t.Fatalf("type = %q", got)
	}
	if _, got := field(msg, "missing"); got != nil {
		t.Fatalf("missing = %q", got)
	}
}

// serverFrame is an unmasked frame as the gateway sends it.
func serverFrame(opcode byte, fin bool, p string) []byte {
	if fin {
		opcode |= 0x80
	}
	return append(appendHeader(nil, opcode, len(p), false), p...)
}

func next(seq int, kind string, at time.Time) string {
	return fmt.Sprintf(`{"id":"1","type":"next","payload":{"data":{"callEvents":{"seq":"%d","kind":"%s","at":"%s"}}}}`,
		seq, kind, at.Format(time.RFC3339Nano))
}

// unmask decodes the client frames a stream wrote.
func unmask(t *testing.T, b []byte) (opcode byte, payload string) {
	t.Helper()
	if len(b) < 6 || b[1]&0x80 == 0 || int(b[1]&0x7f) != len(b)-6 {
		t.Fatalf("client frame %x: want one short masked frame", b)
	}
	p := make([]byte, len(b)-6)
	for i := range p {
		p[i] = b[6+i] ^ b[2+i%4]
	}
	return b[0] & 0x0f, string(p)
}

// A subscriber's bytes arrive in reads cut anywhere: every cut gives the same counts, the
// latency is from each event's at to the read that completed it, and the last subscriber
// per event is the slowest one.
func TestTallyFeedsFramesCutAnywhere(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var wire []byte
	wire = append(wire, serverFrame(opText, true, next(1, "SNAPSHOT", at))...) // not timed
	wire = append(wire, serverFrame(opText, true, next(2, "UPSERT", at))...)
	end2 := len(wire)
	msg3 := next(3, "REMOVE", at.Add(time.Millisecond))
	wire = append(wire, serverFrame(opText, false, msg3[:20])...) // fragmented, a ping between
	wire = append(wire, serverFrame(opPing, true, "hi")...)
	wire = append(wire, serverFrame(0, true, msg3[20:])...)
	end3 := len(wire)
	wire = append(wire, serverFrame(opText, true, `{"type":"ping"}`)...)
	var measuring window
	measuring.start(at.Add(-time.Hour))
	for cut := 0; cut <= len(wire); cut++ {
		tl := newTally(&measuring, slog.New(slog.DiscardHandler))
		var written [][]byte
		s := &stream{write: func(b []byte) error { written = append(written, b); return nil }}
		if err := tl.feed(s, wire[:cut], at.Add(10*time.Millisecond)); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if err := tl.feed(s, wire[cut:], at.Add(20*time.Millisecond)); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if tl.events != 3 || tl.deltas != 2 || len(s.pending) != 0 {
			t.Fatalf("cut %d: events %d deltas %d pending %d, want 3, 2, 0", cut, tl.events, tl.deltas, len(s.pending))
		}
		if len(written) != 2 {
			t.Fatalf("cut %d: wrote %d frames, want a pong and a graphql pong", cut, len(written))
		}
		if op, p := unmask(t, written[0]); op != opPong || p != "hi" {
			t.Fatalf("cut %d: first reply %x %q, want the pong", cut, op, p)
		}
		if op, p := unmask(t, written[1]); op != opText || p != `{"type":"pong"}` {
			t.Fatalf("cut %d: second reply %x %q", cut, op, p)
		}
		// Each event is timed by the read that completed it: at +10ms or +20ms.
		want2, want3 := 20*time.Millisecond, 19*time.Millisecond
		if cut >= end2 {
			want2 = 10 * time.Millisecond
		}
		if cut >= end3 {
			want3 = 9 * time.Millisecond
		}
		if tl.lastPerEvent[2].latency != want2 || tl.lastPerEvent[3].latency != want3 {
			t.Fatalf("cut %d: per event %v", cut, tl.lastPerEvent)
		}
	}

	// Two loops' tallies merge into the slowest subscriber per event.
	a, b := newTally(&measuring, nil), newTally(&measuring, nil)
	s := &stream{write: func([]byte) error { return nil }}
	for seq := 1; seq <= 100; seq++ {
		m := serverFrame(opText, true, next(seq, "UPSERT", at))
		_ = a.feed(s, m, at.Add(time.Millisecond))
		_ = b.feed(s, m, at.Add(time.Duration(seq)*time.Millisecond))
	}
	a.add(b)
	h := a.lastSubscriber()
	if h.count.Load() != 100 || h.quantile(1) != 100*time.Millisecond || a.deltas != 200 {
		t.Fatalf("merged: n=%d max=%v deltas=%d", h.count.Load(), h.quantile(1), a.deltas)
	}
	if p50 := h.quantile(0.5); p50 < 50*time.Millisecond || p50 > 53*time.Millisecond {
		t.Fatalf("p50 = %v", p50)
	}
	if spans := a.lastSubscriberOver(at, 50*time.Millisecond); len(spans) != 1 || spans[0] != 100*time.Millisecond {
		t.Fatalf("spans: %v", spans)
	}
	if s := a.slowest(2); len(s) != 2 || s[0].latency != 100*time.Millisecond || s[1].latency != 99*time.Millisecond {
		t.Fatalf("slowest: %v", s)
	}

	// An event from before the window opened is counted but not timed; before the window
	// opens nothing is counted; a complete ends the subscriber.
	late := newTally(&measuring, nil)
	measuring.start(at.Add(time.Millisecond))
	_ = late.feed(s, serverFrame(opText, true, next(7, "UPSERT", at)), at.Add(time.Second))
	_ = late.feed(s, serverFrame(opText, true, next(8, "UPSERT", at.Add(time.Millisecond))), at.Add(time.Second))
	if late.events != 2 || late.deltas != 1 || len(late.lastPerEvent) != 1 {
		t.Fatalf("window: events %d deltas %d timed %d, want 2, 1, 1", late.events, late.deltas, len(late.lastPerEvent))
	}
	measuring.stop()
	c := newTally(&measuring, slog.New(slog.DiscardHandler))
	if err := c.feed(s, serverFrame(opText, true, next(5, "UPSERT", at)), at); err != nil || c.events != 0 {
		t.Fatalf("unmeasured: err %v, events %d", err, c.events)
	}
	if err := c.feed(s, serverFrame(opText, true, `{"id":"1","type":"complete"}`), at); !errors.Is(err, errEnded) || c.errors != 1 {
		t.Fatalf("complete: err %v, errors %d", err, c.errors)
	}
}

// The receive loop takes a real socket over from the handshake: what the gateway sent
// right behind the ack is counted, later events too, and pings are answered on the socket.
func TestLoopReadsAHandedOverSocket(t *testing.T) {
	at := time.Now().Add(-time.Millisecond)
	var measuring window
	measuring.start(at.Add(-time.Hour))
	pinged := make(chan error, 1)
	srv := libraryServer("graphql-transport-ws", func(ctx context.Context, c *websocket.Conn) {
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_ack"}`))
		_ = c.Write(ctx, websocket.MessageText, []byte(next(1, "UPSERT", at))) // behind the ack
		if _, _, err := c.Read(ctx); err != nil {                              // the subscribe
			return
		}
		for seq := 2; seq <= 50; seq++ {
			_ = c.Write(ctx, websocket.MessageText, []byte(next(seq, "UPSERT", at)))
		}
		go func() { _, _, _ = c.Read(ctx) }() // reads the pong
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		pinged <- c.Ping(pctx)
		<-ctx.Done()
	})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialWS(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), "graphql-transport-ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := conn.read(); err != nil || string(msg) != `{"type":"connection_ack"}` {
		t.Fatalf("ack: %q %v", msg, err)
	}
	tl := newTally(&measuring, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l, err := newLoop(tl)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { l.run(runCtx) })
	if err := conn.writeText([]byte(`{"id":"1","type":"subscribe"}`)); err != nil {
		t.Fatal(err)
	}
	if err := l.add(conn); err != nil {
		t.Fatal(err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("ping through the loop: %v", err)
	}
	stop()
	wg.Wait()
	if tl.deltas != 50 || len(tl.lastPerEvent) != 50 || tl.ended != 0 {
		t.Fatalf("deltas %d, events %d, ended %d: want 50, 50, 0", tl.deltas, len(tl.lastPerEvent), tl.ended)
	}
}

func TestFieldSkipsKeysInsideNames(t *testing.T) {
	msg := []byte(`{"xseq":"1","a":"seq\":\"","seq":"7"}`)
	if _, got := field(msg, "seq"); string(got) != "7" {
		t.Fatalf("seq = %q", got)
	}
}
