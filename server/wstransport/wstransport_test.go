package wstransport_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/server/wstransport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	modern = "graphql-transport-ws"
	legacy = "graphql-ws"

	subscription = `subscription { name }`
)

// testConfig keeps keepalives out of the way unless a test asks for them.
func testConfig() wstransport.Config {
	return wstransport.Config{
		InitTimeout: 5 * time.Second,
		KeepAlive:   time.Hour,
		Authenticate: func(ctx context.Context, _ *http.Request, p map[string]any) (context.Context, time.Time, error) {
			if p["Authorization"] != "Bearer good" {
				return nil, time.Time{}, errors.New("bad token")
			}
			return ctx, time.Time{}, nil
		},
	}
}

type env struct {
	ts      *testserver.TestServer
	url     string
	started chan struct{} // one value per operation about to be dispatched
}

func startServer(t *testing.T, cfg wstransport.Config) *env {
	t.Helper()
	e := &env{ts: testserver.New(), started: make(chan struct{}, 16)}
	onOp := cfg.OnOperation
	cfg.OnOperation = func(ctx context.Context) (func(), error) {
		select {
		case e.started <- struct{}{}:
		default:
		}
		if onOp == nil {
			return nil, nil
		}
		return onOp(ctx)
	}
	e.ts.AddTransport(wstransport.Transport{Config: cfg})
	hs := httptest.NewServer(e.ts)
	t.Cleanup(hs.Close)
	e.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	return e
}

// push sends one subscription event once an operation has started, because
// the test server drops an event that no subscription is waiting for.
func (e *env) push(t *testing.T) {
	t.Helper()
	select {
	case <-e.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no operation started")
	}
	e.ts.SendNextSubscriptionMessage()
}

type msg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, url string, protos ...string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protos})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dialing %s: %v", url, err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: t, ws: ws}
}

// dialInit dials and completes connection_init with a good token.
func dialInit(t *testing.T, url, proto string) *client {
	t.Helper()
	c := dial(t, url, proto)
	c.send(msg{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer good"}`)})
	c.expect("connection_ack", "")
	if proto == legacy {
		c.expect("ka", "")
	}
	return c
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("writing %s: %v", s, err)
	}
}

func (c *client) send(m msg) {
	c.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

func (c *client) subscribe(proto, id, query string) {
	c.t.Helper()
	typ := "subscribe"
	if proto == legacy {
		typ = "start"
	}
	c.send(msg{ID: id, Type: typ, Payload: json.RawMessage(`{"query":` + quote(query) + `}`)})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (c *client) read() (msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return msg{}, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("decoding server message %s: %v", b, err)
	}
	return m, nil
}

// expect reads the next message and checks its type and id.
func (c *client) expect(typ, id string) msg {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatalf("want %s message, got %v", typ, err)
	}
	if m.Type != typ || m.ID != id {
		c.t.Fatalf("want type %q id %q, got %+v (payload %s)", typ, id, m, m.Payload)
	}
	return m
}

// expectClose reads until the server closes and checks the close frame.
func (c *client) expectClose(code websocket.StatusCode, reason string) {
	c.t.Helper()
	for {
		m, err := c.read()
		if err == nil {
			if m.Type == "connection_error" {
				continue
			}
			c.t.Fatalf("want close %d, got message %+v", code, m)
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("want close %d %q, got %v", code, reason, err)
		}
		if ce.Code != code || (reason != "" && ce.Reason != reason) {
			c.t.Fatalf("want close %d %q, got %d %q", code, reason, ce.Code, ce.Reason)
		}
		return
	}
}

// alive proves the connection is open and nothing was queued before the pong.
func (c *client) alive() {
	c.t.Helper()
	c.send(msg{Type: "ping", Payload: json.RawMessage(`{"probe":1}`)})
	c.expect("pong", "")
}

func TestCloseCodes(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(*wstransport.Config)
		steps  func(c *client)
		code   websocket.StatusCode
		reason string
	}{
		{
			name:   "4408 init timeout",
			cfg:    func(c *wstransport.Config) { c.InitTimeout = 50 * time.Millisecond },
			steps:  func(*client) {},
			code:   4408,
			reason: "Connection initialisation timeout",
		},
		{
			name: "4429 second init",
			steps: func(c *client) {
				c.sendRaw(`{"type":"connection_init","payload":{"Authorization":"Bearer good"}}`)
				c.expect("connection_ack", "")
				c.sendRaw(`{"type":"connection_init","payload":{"Authorization":"Bearer good"}}`)
			},
			code:   4429,
			reason: "Too many initialisation requests",
		},
		{
			name:   "4401 subscribe before ack",
			steps:  func(c *client) { c.subscribe(modern, "1", subscription) },
			code:   4401,
			reason: "Unauthorized",
		},
		{
			name:   "4403 rejected credentials",
			steps:  func(c *client) { c.sendRaw(`{"type":"connection_init","payload":{"Authorization":"Bearer bad"}}`) },
			code:   4403,
			reason: "Forbidden",
		},
		{
			name: "4409 duplicate id",
			steps: func(c *client) {
				c.sendRaw(`{"type":"connection_init","payload":{"Authorization":"Bearer good"}}`)
				c.expect("connection_ack", "")
				c.subscribe(modern, "op-1", subscription)
				c.subscribe(modern, "op-1", subscription)
			},
			code:   4409,
			reason: "Subscriber for op-1 already exists",
		},
		{
			name: "1009 message too big",
			cfg:  func(c *wstransport.Config) { c.MaxMessageBytes = 256 },
			steps: func(c *client) {
				c.sendRaw(`{"type":"connection_init","payload":{"pad":"` + strings.Repeat("x", 1024) + `"}}`)
			},
			code:   websocket.StatusMessageTooBig,
			reason: "", // worded by coder/websocket
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			url := startServer(t, cfg).url
			c := dial(t, url, modern)
			tc.steps(c)
			c.expectClose(tc.code, tc.reason)
		})
	}
}

func TestInvalidMessages(t *testing.T) {
	cases := map[string]struct{ raw, reason string }{
		"not json":           {`hello`, "Invalid message received"},
		"unknown type":       {`{"type":"bogus"}`, `Unexpected message of type "bogus" received`},
		"server-only type":   {`{"type":"next","id":"1"}`, `Unexpected message of type "next" received`},
		"missing type":       {`{"id":"1"}`, `Unexpected message of type "" received`},
		"numeric id":         {`{"type":"complete","id":7}`, "Invalid message received"},
		"subscribe no id":    {`{"type":"subscribe","payload":{"query":"{ name }"}}`, "Invalid subscribe message: missing id"},
		"subscribe bad body": {`{"type":"subscribe","id":"1","payload":{"query":5}}`, "Invalid subscribe payload"},
		"subscribe no body":  {`{"type":"subscribe","id":"1"}`, "Invalid subscribe payload"},
		"ping bad payload":   {`{"type":"ping","payload":[1]}`, "Invalid ping payload"},
	}
	url := startServer(t, testConfig()).url
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := dialInit(t, url, modern)
			c.sendRaw(tc.raw)
			c.expectClose(4400, tc.reason)
		})
	}
	t.Run("init payload not an object", func(t *testing.T) {
		c := dial(t, url, modern)
		c.sendRaw(`{"type":"connection_init","payload":"token"}`)
		c.expectClose(4400, "Invalid connection_init payload")
	})
}

func TestPingPong(t *testing.T) {
	t.Run("client ping gets pong with its payload", func(t *testing.T) {
		url := startServer(t, testConfig()).url
		c := dial(t, url, modern)
		c.send(msg{Type: "ping", Payload: json.RawMessage(`{"n":42}`)})
		if m := c.expect("pong", ""); string(m.Payload) != `{"n":42}` {
			t.Fatalf("pong payload = %s, want the ping's", m.Payload)
		}
	})
	t.Run("server pings and tolerates pongs", func(t *testing.T) {
		cfg := testConfig()
		cfg.KeepAlive = 20 * time.Millisecond
		url := startServer(t, cfg).url
		c := dialInit(t, url, modern)
		for range 3 {
			c.expect("ping", "")
			c.send(msg{Type: "pong"})
		}
		c.send(msg{Type: "pong", Payload: json.RawMessage(`{"unsolicited":true}`)})
		c.subscribe(modern, "q", `{ name }`)
		for {
			m, err := c.read()
			if err != nil {
				t.Fatalf("reading query result: %v", err)
			}
			if m.Type != "ping" {
				if m.Type != "next" || m.ID != "q" {
					t.Fatalf("got %+v, want next for q", m)
				}
				return
			}
		}
	})
}

func TestSubscription(t *testing.T) {
	for _, proto := range []string{modern, legacy} {
		t.Run(proto, func(t *testing.T) {
			e := startServer(t, testConfig())
			url := e.url
			c := dialInit(t, url, proto)
			next := map[string]string{modern: "next", legacy: "data"}[proto]
			c.subscribe(proto, "s1", subscription)
			for i := range 2 {
				if i == 0 {
					e.push(t)
				} else {
					e.ts.SendNextSubscriptionMessage()
				}
				if m := c.expect(next, "s1"); string(m.Payload) != `{"data":{"name":"test"}}` {
					t.Fatalf("payload = %s", m.Payload)
				}
			}
			e.ts.SendCompleteSubscriptionMessage()
			c.expect("complete", "s1")
		})
	}
}

func TestSingleResult(t *testing.T) {
	url := startServer(t, testConfig()).url
	c := dialInit(t, url, modern)
	c.subscribe(modern, "q1", `query { name }`)
	if m := c.expect("next", "q1"); string(m.Payload) != `{"data":{"name":"test"}}` {
		t.Fatalf("payload = %s", m.Payload)
	}
	c.expect("complete", "q1")
	// The id is free again once the operation completed.
	c.subscribe(modern, "q1", `mutation { name }`)
	if m := c.expect("next", "q1"); !strings.Contains(string(m.Payload), "mutations are not supported") {
		t.Fatalf("payload = %s", m.Payload)
	}
	c.expect("complete", "q1")
}

func TestClientCompleteStopsOperation(t *testing.T) {
	released := make(chan string, 4)
	cfg := testConfig()
	cfg.OnOperation = func(context.Context) (func(), error) {
		return func() { released <- "released" }, nil
	}
	e := startServer(t, cfg)
	url := e.url
	c := dialInit(t, url, modern)
	c.subscribe(modern, "s1", subscription)
	e.push(t)
	c.expect("next", "s1")
	c.send(msg{ID: "s1", Type: "complete"})
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("operation still running after the client completed it")
	}
	c.alive() // no complete was sent back
	c.send(msg{ID: "unknown", Type: "complete"})
	c.alive()
}

func TestOperationErrors(t *testing.T) {
	t.Run("validation error has no complete", func(t *testing.T) {
		url := startServer(t, testConfig()).url
		c := dialInit(t, url, modern)
		c.subscribe(modern, "bad", `{ nope }`)
		m := c.expect("error", "bad")
		var errs []map[string]any
		if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
			t.Fatalf("error payload %s is not an array of GraphQL errors: %v", m.Payload, err)
		}
		if !strings.Contains(errs[0]["message"].(string), "nope") {
			t.Fatalf("error %v does not name the field", errs[0])
		}
		c.alive()
	})
	t.Run("legacy error then complete", func(t *testing.T) {
		url := startServer(t, testConfig()).url
		c := dialInit(t, url, legacy)
		c.subscribe(legacy, "bad", `{ nope }`)
		c.expect("error", "bad")
		c.expect("complete", "bad")
	})
	t.Run("OnOperation refusal", func(t *testing.T) {
		cfg := testConfig()
		cfg.OnOperation = func(context.Context) (func(), error) { return nil, errors.New("tenant over quota") }
		url := startServer(t, cfg).url
		c := dialInit(t, url, modern)
		c.subscribe(modern, "s1", subscription)
		if m := c.expect("error", "s1"); !strings.Contains(string(m.Payload), "tenant over quota") {
			t.Fatalf("payload = %s", m.Payload)
		}
		c.alive()
	})
	t.Run("MaxSubscriptions", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxSubscriptions = 1
		e := startServer(t, cfg)
		url := e.url
		c := dialInit(t, url, modern)
		c.subscribe(modern, "s1", subscription)
		c.subscribe(modern, "s2", subscription)
		if m := c.expect("error", "s2"); !strings.Contains(string(m.Payload), "LIMIT_EXCEEDED") {
			t.Fatalf("payload = %s", m.Payload)
		}
		e.push(t)
		c.expect("next", "s1")
	})
}

func TestTokenExpiry(t *testing.T) {
	for _, proto := range []string{modern, legacy} {
		t.Run(proto, func(t *testing.T) {
			cfg := testConfig()
			cfg.Authenticate = func(ctx context.Context, _ *http.Request, _ map[string]any) (context.Context, time.Time, error) {
				return ctx, time.Now().Add(100 * time.Millisecond), nil
			}
			url := startServer(t, cfg).url
			c := dialInit(t, url, proto)
			c.subscribe(proto, "s1", subscription)
			if proto == legacy {
				if m := c.expect("connection_error", ""); !strings.Contains(string(m.Payload), "token expired") {
					t.Fatalf("connection_error payload = %s", m.Payload)
				}
			}
			c.expectClose(4403, "Forbidden: token expired")
		})
	}
}

func TestExpiredAtInit(t *testing.T) {
	cfg := testConfig()
	cfg.Authenticate = func(ctx context.Context, _ *http.Request, _ map[string]any) (context.Context, time.Time, error) {
		return ctx, time.Now().Add(-time.Second), nil
	}
	url := startServer(t, cfg).url
	c := dial(t, url, modern)
	c.send(msg{Type: "connection_init"})
	c.expectClose(4403, "Forbidden: token expired")
}

func TestLegacyProtocol(t *testing.T) {
	t.Run("start data stop complete", func(t *testing.T) {
		e := startServer(t, testConfig())
		url := e.url
		c := dialInit(t, url, legacy)
		c.subscribe(legacy, "1", subscription)
		e.push(t)
		c.expect("data", "1")
		c.send(msg{ID: "1", Type: "stop"})
		c.expect("complete", "1")
		c.send(msg{Type: "connection_terminate"})
		c.expectClose(websocket.StatusNormalClosure, "terminated")
	})
	t.Run("ka every KeepAlive", func(t *testing.T) {
		cfg := testConfig()
		cfg.KeepAlive = 20 * time.Millisecond
		url := startServer(t, cfg).url
		c := dialInit(t, url, legacy)
		for range 3 {
			c.expect("ka", "")
		}
	})
	t.Run("connection_error on rejected credentials", func(t *testing.T) {
		url := startServer(t, testConfig()).url
		c := dial(t, url, legacy)
		c.sendRaw(`{"type":"connection_init","payload":{"Authorization":"Bearer bad"}}`)
		if m := c.expect("connection_error", ""); string(m.Payload) != `{"message":"Forbidden"}` {
			t.Fatalf("payload = %s", m.Payload)
		}
		c.expectClose(4403, "Forbidden")
	})
	t.Run("graphql-transport-ws types are invalid", func(t *testing.T) {
		url := startServer(t, testConfig()).url
		c := dialInit(t, url, legacy)
		c.send(msg{Type: "ping"})
		c.expect("connection_error", "")
		c.expectClose(4400, `Unexpected message of type "ping" received`)
	})
}

func TestNegotiation(t *testing.T) {
	url := startServer(t, testConfig()).url
	t.Run("prefers graphql-transport-ws", func(t *testing.T) {
		c := dial(t, url, legacy, modern)
		if got := c.ws.Subprotocol(); got != modern {
			t.Fatalf("negotiated %q, want %q", got, modern)
		}
	})
	t.Run("legacy when only it is offered", func(t *testing.T) {
		if got := dial(t, url, "foo", legacy).ws.Subprotocol(); got != legacy {
			t.Fatalf("negotiated %q, want %q", got, legacy)
		}
	})
	for name, protos := range map[string][]string{"nothing offered": nil, "unknown offered": {"foo"}} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protos})
			if err == nil {
				_ = ws.CloseNow()
				t.Fatal("upgrade accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("want HTTP 400, got %v (%v)", resp, err)
			}
			_ = resp.Body.Close()
		})
	}
	t.Run("foreign origin rejected", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			Subprotocols: []string{modern},
			HTTPHeader:   http.Header{"Origin": {"https://evil.example"}},
		})
		if err == nil {
			_ = ws.CloseNow()
			t.Fatal("cross-origin upgrade accepted")
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("want HTTP 403, got %v (%v)", resp, err)
		}
		_ = resp.Body.Close()
	})
}

type opCounter struct{ started, released atomic.Int32 }

type counterKey struct{}

// TestNoLeaks drops clients with operations running and checks that Do
// returns only after every operation of its connection has ended, even when
// Authenticate hands back a context the connection cannot cancel.
func TestNoLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ts := testserver.New()
	cfg := testConfig()
	cfg.KeepAlive = 10 * time.Millisecond
	cfg.Authenticate = func(ctx context.Context, _ *http.Request, _ map[string]any) (context.Context, time.Time, error) {
		return context.WithoutCancel(ctx), time.Time{}, nil
	}
	started := make(chan struct{}, 16)
	cfg.OnOperation = func(ctx context.Context) (func(), error) {
		n := ctx.Value(counterKey{}).(*opCounter)
		n.started.Add(1)
		started <- struct{}{}
		return func() {
			time.Sleep(20 * time.Millisecond) // widen the window in which Do could return early
			n.released.Add(1)
		}, nil
	}
	ts.AddTransport(wstransport.Transport{Config: cfg})
	unfinished := make(chan int32, 8)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := &opCounter{}
		ts.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), counterKey{}, n)))
		unfinished <- n.started.Load() - n.released.Load()
	}))
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	protos := []string{modern, legacy, modern}
	for i, proto := range protos {
		c := dialInit(t, url, proto)
		c.subscribe(proto, "a", subscription)
		c.subscribe(proto, "b", subscription)
		for range 2 {
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("operation not started")
			}
		}
		if i == 1 {
			_ = c.ws.Close(websocket.StatusNormalClosure, "bye")
		} else {
			_ = c.ws.CloseNow()
		}
	}
	for range protos {
		select {
		case n := <-unfinished:
			if n != 0 {
				t.Errorf("Do returned with %d operations still running", n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Do did not return after the client left")
		}
	}
}
