package sim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/tvox/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg sim.Config) (*simcc.ManualClock, *simcc.Center, *sim.Server, *httptest.Server) {
	t.Helper()
	clock := simcc.NewManualClock(time.Date(2025, 3, 4, 10, 30, 0, 0, time.UTC))
	center := simcc.New(simcc.Config{Seed: 42, Clock: clock})
	srv := sim.New(center, cfg)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.CloseClientConnections(); hs.Close(); srv.Close(); center.Close() })
	return clock, center, srv, hs
}

func post(t *testing.T, hs *httptest.Server, query string, cookies ...*http.Cookie) (*http.Response, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, hs.URL+sim.Path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return resp, out
}

func login(t *testing.T, hs *httptest.Server) (token string, session *http.Cookie) {
	t.Helper()
	resp, out := post(t, hs, `mutation { login(username: "admin", password: "admin") { session { id expiresIn } authToken { accessToken expiresIn } supervisor } }`)
	data := out["data"].(map[string]any)["login"].(map[string]any)
	for _, c := range resp.Cookies() {
		if c.Name == sim.SessionCookie {
			session = c
		}
	}
	if session == nil {
		t.Fatal("login set no session cookie")
	}
	return data["authToken"].(map[string]any)["accessToken"].(string), session
}

func TestHTTP(t *testing.T) {
	_, _, srv, hs := start(t, sim.Config{})
	if resp, _ := post(t, hs, `{ version { server { major } } }`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no auth: status %d, want 401", resp.StatusCode)
	}
	if resp, _ := post(t, hs, `{ version { server { major } } }`, &http.Cookie{Name: sim.AccessTokenCookie, Value: "forged"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: status %d, want 401", resp.StatusCode)
	}
	_, out := post(t, hs, `mutation { login(username: "admin", password: "wrong") { username } }`)
	if out["data"] != nil || out["errors"] == nil {
		t.Fatalf("wrong password: %v", out)
	}
	tok, session := login(t, hs)

	// Access-token cookie, session cookie, and GET ?query= all work.
	_, out = post(t, hs, `{ serverHealth { status } users(filter: {}) { username statuses { CALL } } }`, &http.Cookie{Name: sim.AccessTokenCookie, Value: tok})
	if got := out["data"].(map[string]any)["serverHealth"].(map[string]any)["status"]; got != "PASS" {
		t.Fatalf("serverHealth = %v", got)
	}
	if n := len(out["data"].(map[string]any)["users"].([]any)); n != 12 {
		t.Errorf("users = %d, want the center's 12 agents", n)
	}
	if resp, _ := post(t, hs, `{ version { server { major } } }`, session); resp.StatusCode != http.StatusOK {
		t.Errorf("session cookie: status %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, hs.URL+sim.Path+"?query="+url.QueryEscape(`{version{server{major minor patch}}}`), nil)
	req.AddCookie(&http.Cookie{Name: sim.AccessTokenCookie, Value: tok})
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"server":{"major":1,"minor":0,"patch":3}`) {
		t.Errorf("GET version: %s", b)
	}

	// The schema validates: unknown fields and missing required arguments are errors.
	for _, q := range []string{`{ nope }`, `{ users { username } }`, `{ serviceStats(filter: {CALL: {services: ["q1"]}}) { channelStats { receivedCalls } } }`} {
		_, out = post(t, hs, q, &http.Cookie{Name: sim.AccessTokenCookie, Value: tok})
		if out["errors"] == nil {
			t.Errorf("%s: want a validation error, got %v", q, out)
		}
	}
	if n := len(srv.Requests()); n != 10 {
		t.Errorf("request log has %d entries, want 10", n)
	}
}

func TestSubscriptionSendsOnlyChanges(t *testing.T) {
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto, func(t *testing.T) {
			clock, center, _, hs := start(t, sim.Config{})
			tok, _ := login(t, hs)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, hs.URL+sim.Path, &websocket.DialOptions{Subprotocols: []string{proto}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			send := func(v any) {
				b, _ := json.Marshal(v)
				if err := c.Write(ctx, websocket.MessageText, b); err != nil {
					t.Fatal(err)
				}
			}
			readMsg := func() (map[string]any, error) {
				for {
					_, b, err := c.Read(ctx)
					if err != nil {
						return nil, err
					}
					var m map[string]any
					_ = json.Unmarshal(b, &m)
					if m["type"] != "ka" && m["type"] != "ping" {
						return m, nil
					}
				}
			}
			read := func() map[string]any {
				m, err := readMsg()
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			send(map[string]any{"type": "connection_init", "payload": map[string]string{"accessToken": tok}})
			if m := read(); m["type"] != "connection_ack" {
				t.Fatalf("want connection_ack, got %v", m)
			}
			start := map[string]string{"graphql-transport-ws": "subscribe", "graphql-ws": "start"}[proto]
			send(map[string]any{"id": "1", "type": start, "payload": map[string]any{
				"query": `subscription { users(filter: {}) { mutation username name activeProfile statuses { CALL } } }`}})
			// Advance until some agent changes state.
			var m map[string]any
			msgs := make(chan map[string]any, 1)
			errs := make(chan error, 1)
			go func() {
				m, err := readMsg()
				if err != nil {
					errs <- err
					return
				}
				msgs <- m
			}()
			for m == nil {
				clock.Advance(30 * time.Second)
				center.Sync()
				select {
				case m = <-msgs:
				case err := <-errs:
					t.Fatal(err)
				case <-time.After(50 * time.Millisecond):
				}
			}
			want := map[string]string{"graphql-transport-ws": "next", "graphql-ws": "data"}[proto]
			if m["type"] != want || m["id"] != "1" {
				t.Fatalf("got %v, want a %s for subscription 1", m, want)
			}
			users := m["payload"].(map[string]any)["data"].(map[string]any)["users"].([]any)
			if len(users) == 0 || len(users) == 12 {
				t.Fatalf("want only the changed users, got %d", len(users))
			}
			for _, u := range users {
				u := u.(map[string]any)
				if u["mutation"] != "UPDATED" || u["username"] == nil {
					t.Errorf("changed user must carry mutation UPDATED and its username: %v", u)
				}
				if u["name"] != nil {
					t.Errorf("an unchanged name must be null: %v", u)
				}
			}
		})
	}
}

func TestSubscriptionAuth(t *testing.T) {
	_, _, _, hs := start(t, sim.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, hs.URL+sim.Path, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":{"accessToken":"forged"}}`))
	_, _, err = c.Read(ctx)
	if websocket.CloseStatus(err) != 4403 {
		t.Fatalf("forged token: %v, want close 4403", err)
	}
}
