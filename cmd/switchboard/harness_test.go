package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// testGateway is the demo environment with the gateway on an httptest server.
type testGateway struct {
	demo   *demo
	gw     *gateway
	srv    *httptest.Server
	tokens demoTokens
}

func startTestGateway(t *testing.T, vendors []demoVendor, o demoOptions) *testGateway {
	return startTestGatewayWith(t, vendors, testSetup{demo: o})
}

// testSetup tunes startTestGatewayWith.
type testSetup struct {
	demo    demoOptions
	gateway gatewayOptions
	// log receives the gateway's logs [discarded].
	log *slog.Logger
	// mutate may change the demo before the gateway is built (limits, auth, extra tenants);
	// tokens are minted after it, so tenants it adds get theirs.
	mutate func(ctx context.Context, d *demo)
}

func startTestGatewayWith(t *testing.T, vendors []demoVendor, ts testSetup) *testGateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := ts.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d, err := startDemo(ctx, vendors, ts.demo, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stop := func() { cancel(); d.stop() }
	if ts.mutate != nil {
		ts.mutate(ctx, d)
		d.cfg.ApplyDefaults()
		if err := d.cfg.Validate(); err != nil {
			stop()
			t.Fatalf("test config: %v", err)
		}
	}
	toks, err := d.tokens()
	if err != nil {
		stop()
		t.Fatal(err)
	}
	g, err := buildGateway(ctx, d.cfg, d.lookup, newRegistry(), log, ts.gateway)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	d.started(ctx, srv.URL)
	t.Cleanup(func() {
		cancel()
		g.stopLive()
		srv.CloseClientConnections()
		srv.Close()
		_ = g.current().tenants.Close()
		d.stop()
	})
	return &testGateway{demo: d, gw: g, srv: srv, tokens: toks}
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func (e gqlResponse) codes() []string {
	var out []string
	for _, x := range e.Errors {
		c, _ := x.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

// query POSTs a GraphQL operation with a bearer token ("" = none).
func (g *testGateway) query(t *testing.T, token, q string, vars map[string]any) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decoding response %q: %v", b, err)
	}
	out.Status = resp.StatusCode
	return out
}

// mustData runs q and decodes data into dst, failing on any error.
func (g *testGateway) mustData(t *testing.T, token, q string, vars map[string]any, dst any) {
	t.Helper()
	r := g.query(t, token, q, vars)
	if len(r.Errors) > 0 || r.Status != 200 {
		t.Fatalf("query failed: status %d errors %+v", r.Status, r.Errors)
	}
	if err := json.Unmarshal(r.Data, dst); err != nil {
		t.Fatal(err)
	}
}

// wsClient speaks graphql-transport-ws.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func (g *testGateway) dialWS(t *testing.T, token string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(g.srv.URL, "http") + "/graphql"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 22)
	w := &wsClient{t: t, conn: c}
	t.Cleanup(func() { _ = c.CloseNow() })
	w.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	if m := w.read(10 * time.Second); m["type"] != "connection_ack" {
		t.Fatalf("expected connection_ack, got %v", m)
	}
	return w
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, w.conn, v); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wsClient) read(timeout time.Duration) map[string]any {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var m map[string]any
		if err := wsjson.Read(ctx, w.conn, &m); err != nil {
			w.t.Fatalf("reading websocket: %v", err)
		}
		if m["type"] == "ping" {
			w.send(map[string]any{"type": "pong"})
			continue
		}
		return m
	}
}

func (w *wsClient) subscribe(id, q string) {
	w.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": q}})
}

// busyCenter is a center at its local late morning with a high call rate, so live tests see
// events within seconds at any hour of the day.
func busyCenter(tenant, vendor string) simcc.Config {
	c := demoCenter(tenant, vendor)
	c.PeakCallsPerHour = 300
	c.HistoryDays = 1
	return c
}
