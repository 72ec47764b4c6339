package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// TestSlowSubscriberIsEndedWithAnError: a WebSocket subscriber that stops reading while the
// upstream keeps producing is ended once more than live.buffer events for distinct calls
// wait for it (events of a call already waiting replace each other), and when it reads
// again its last message for the operation is a GraphQL error with code SLOW_CONSUMER,
// then complete. Other clients of the tenant keep being served.
func TestSlowSubscriberIsEndedWithAnError(t *testing.T) {
	// The center runs 300× real time: a few hundred call events a second.
	fast := demoOptions{center: func(tenant, vendor string) simcc.Config {
		c := demoCenter(tenant, vendor)
		c.Clock, c.SyncEvery = simcc.NewScaledClock(300), 10*time.Millisecond
		return c
	}}
	g := startTestGatewayWith(t, vendorsNamed("telavox"), testSetup{demo: fast, mutate: func(_ context.Context, d *demo) {
		d.cfg.Live.Buffer = 2
	}})
	tok := g.tokens["telavox"].Full

	// A small receive buffer, so that the gateway's writes block soon after the client stops reading.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(g.srv.URL, "http") + "/graphql"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 22)
	read := func() map[string]any {
		t.Helper()
		var m map[string]any
		if err := wsjson.Read(ctx, c, &m); err != nil {
			t.Fatalf("reading: %v", err)
		}
		return m
	}
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + tok}}); err != nil {
		t.Fatal(err)
	}
	if m := read(); m["type"] != "connection_ack" {
		t.Fatalf("want connection_ack, got %v", m)
	}
	if err := wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { callEvents { seq kind call { id outcome raw } } }`}}); err != nil {
		t.Fatal(err)
	}

	// Stop reading until the gateway has ended the subscription.
	ended := func() bool {
		var health any
		g.mustData(t, tok, `{ viewer { tenant } }`, nil, &health) // the gateway keeps serving
		for _, s := range g.gw.hub.Streams() {
			if s.Key.Tenant == "telavox" && s.Key.Topic == "calls" && s.Subscribers == 0 {
				return true
			}
		}
		return false
	}
	for !ended() {
		if ctx.Err() != nil {
			t.Fatal("the stalled subscription was never ended")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Read again: events until the operation's last message.
	var last map[string]any
	for {
		m := read()
		if m["type"] == "ping" {
			_ = wsjson.Write(ctx, c, map[string]any{"type": "pong"})
		}
		if m["id"] != "1" {
			continue
		}
		if m["type"] == "complete" {
			break
		}
		if m["type"] != "next" {
			t.Fatalf("unexpected message %v", m)
		}
		last = m
	}
	b, _ := json.Marshal(last)
	var p struct {
		Payload struct {
			Errors []struct {
				Message    string         `json:"message"`
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &p); err != nil || len(p.Payload.Errors) != 1 || p.Payload.Errors[0].Extensions["code"] != "SLOW_CONSUMER" {
		t.Fatalf("last message before complete: %s; want one SLOW_CONSUMER error", b)
	}
	if !strings.Contains(p.Payload.Errors[0].Message, "telavox") {
		t.Fatalf("error %q does not name the source", p.Payload.Errors[0].Message)
	}
}
