//go:build unix

package wstransport_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A client that stops reading is closed once a write to it has waited WriteTimeout, and
// that is counted like a subscription ended for being slow; a client beside it that keeps
// reading is still served.
func TestStalledClientIsClosedAndCounted(t *testing.T) {
	var slow atomic.Int32
	cfg := testConfig()
	cfg.SendBuffer = 4096
	cfg.WriteTimeout = 300 * time.Millisecond
	cfg.OnSlowConsumer = func() { slow.Add(1) }
	e := startServer(t, cfg)

	// The stalled client asks for a small receive buffer, subscribes, and reads no more.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{
		Subprotocols: []string{modern},
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	stalled := &client{t: t, ws: ws}
	stalled.send(msg{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer good"}`)})
	stalled.expect("connection_ack", "")
	stalled.subscribe(modern, "1", subscription)
	<-e.started

	// The reading client takes the events the stalled one can no longer be given.
	reader := dialInit(t, e.url, modern)
	reader.subscribe(modern, "1", subscription)
	<-e.started
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			if _, err := reader.read(); err != nil {
				return
			}
		}
	}()
	for slow.Load() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the stalled client was never closed")
		}
		e.ts.SendNextSubscriptionMessage()
	}
	// The stalled connection is closed: reading it drains what was sent, then fails.
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the stalled connection is still open")
			}
			break
		}
	}
	if n := slow.Load(); n != 1 {
		t.Fatalf("counted %d slow consumers, want 1", n)
	}
	e.ts.SendNextSubscriptionMessage() // the reader is still served
	_ = reader.ws.Close(websocket.StatusNormalClosure, "")
	<-readerDone
}
