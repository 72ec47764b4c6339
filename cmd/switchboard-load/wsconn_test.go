package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The measuring client speaks WebSocket as a full library does: upgrade with a
// subprotocol, masked frames out, 7/16/64-bit lengths, fragments, pings and close in.
func TestWSConnAgainstALibraryServer(t *testing.T) {
	big := strings.Repeat("x", 70000)
	srv := libraryServer("graphql-transport-ws", func(ctx context.Context, c *websocket.Conn) {
		_, in, err := c.Read(ctx)
		if err != nil {
			return
		}
		// Echo, then a long message, a fragmented one, a ping, and a close.
		_ = c.Write(ctx, websocket.MessageText, in)
		_ = c.Write(ctx, websocket.MessageText, []byte(big))
		fw, _ := c.Writer(ctx, websocket.MessageText)
		_, _ = fw.Write([]byte("frag"))
		_, _ = fw.Write([]byte("mented")) // the library may send these as separate frames
		_ = fw.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		go func() { _, _, _ = c.Read(ctx) }() // reads the pong
		if err := c.Ping(pctx); err != nil {
			t.Errorf("ping: %v", err)
		}
		_ = c.Close(websocket.StatusNormalClosure, "bye")
	})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", "graphql-transport-ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.writeText([]byte(`{"type":"connection_init"}`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"type":"connection_init"}`, big, "fragmented"} {
		got, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("read %.40q (%d bytes), want %.40q (%d bytes)", got, len(got), want, len(want))
		}
	}
	if _, err := c.read(); !errors.Is(err, errClosed) {
		t.Fatalf("after the ping: %v, want the close", err)
	}
}

func TestWSConnRefusesAWrongSubprotocol(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-ws"}})
		if err == nil {
			c.CloseNow()
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dialWS(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), "graphql-transport-ws", nil); err == nil {
		t.Fatal("dialed although the server chose no offered subprotocol")
	}
}

// libraryServer accepts WebSocket connections offering proto with a full library and hands
// each to serve.
func libraryServer(proto string, serve func(ctx context.Context, c *websocket.Conn)) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{proto}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(r.Context(), c)
	}))
}
