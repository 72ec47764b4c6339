package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	portsipsim "github.com/switchboard-cc/switchboard/upstreams/portsip/sim"
	sobotsim "github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
	telavoxsim "github.com/switchboard-cc/switchboard/upstreams/telavox/sim"
)

// lockedBuffer is a log sink safe for the gateway's goroutines and the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSecurityNoSecretLeaks runs the adversarial gateway with a debug-level log, drives every
// error path it can (bad tokens over HTTP and WebSocket, vendor 5xx, garbage, refused
// credentials, revoked vendor tokens, redirects, webhook forgeries, malformed requests), and
// asserts that no secret appears in any log line, error message or response body.
func TestSecurityNoSecretLeaks(t *testing.T) {
	logs := &lockedBuffer{}
	e := startAdversarialGateway(t, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	secrets := map[string]string{} // value -> where it comes from
	for env, v := range e.demo.secrets {
		if strings.HasSuffix(env, "_USERNAME") {
			continue // an account name, not a secret
		}
		secrets[v] = env
	}
	for _, v := range []string{telavoxsim.DemoToken, portsipsim.DemoPassword, sobotsim.DemoAppSecret, sobotsim.DemoAppKey, "demo-ccai-secret"} {
		secrets[v] = "simulator demo credential"
	}
	for tenant, tk := range e.tokens {
		secrets[tk.Full] = tenant + " full token"
		secrets[tk.Basic] = tenant + " basic token"
	}

	var bodies []string
	keep := func(r httpResult) { bodies = append(bodies, string(r.body)) }
	post := func(token, body string) {
		keep(e.do(t, http.MethodPost, "/graphql", token, "application/json", []byte(body)))
	}
	to := time.Now().Add(-time.Hour)
	vars := map[string]any{"from": to.Add(-2 * time.Hour), "to": to, "first": 5}

	// Bad tokens, over HTTP and WebSocket.
	parts := strings.Split(e.tokens["acme"].Full, ".")
	badTokens := []string{
		"not-a-jwt",
		parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("acme", allScopes)),
		e.hs(t, claims("acme", allScopes, "exp", time.Now().Add(-time.Hour).Unix())),
		e.hs(t, claims("acme", allScopes, "aud", "x")),
		e.hs(t, claims("globex", allScopes)),
		signToken(t, jwt.SigningMethodHS256, e.rsaPub, claims("acme", allScopes), "kid", advRSAKID),
		parts[0] + "." + strings.Repeat("A", 20000) + "." + parts[2],
	}
	for _, tok := range badTokens {
		post(tok, `{"query":"{ viewer { tenant } }"}`)
		c := e.mustDialRaw(t)
		wsSend(t, c, initMsg(tok))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, msg, err := c.Read(ctx)
		cancel()
		bodies = append(bodies, string(msg))
		if err != nil {
			bodies = append(bodies, err.Error())
		}
		if websocket.CloseStatus(err) == -1 && err == nil {
			t.Fatalf("bad token accepted over WebSocket: %s", msg)
		}
	}

	// Upstream failures: 5xx, garbage, refused credentials, redirect, revoked vendor tokens.
	for _, src := range []string{"f-ok", "f-5xx", "f-garbage", "f-badcreds", "f-redirect"} {
		v := map[string]any{"from": vars["from"], "to": vars["to"], "sources": []string{src}}
		keep(e.do(t, http.MethodPost, "/graphql", e.tokens["faulty"].Full, "application/json",
			mustJSON(t, map[string]any{"query": `query($from: DateTime!, $to: DateTime!, $sources: [ID!]) {
			  calls(filter: {range: {from: $from, to: $to}, sources: $sources}, first: 5) { edges { node { id raw customer { number } } } } }`, "variables": v})))
	}
	sobot := e.demo.bySource["acme/acme-sobot"].handler.(*sobotsim.Server)
	portsip := e.demo.bySource["acme/acme-portsip"].handler.(*portsipsim.Server)
	fullQuery := `query($from: DateTime!, $to: DateTime!, $first: Int) {
	  calls(filter: {range: {from: $from, to: $to}}, first: $first) { edges { node { id raw recordingUrl } } } }`
	keep(e.do(t, http.MethodPost, "/graphql", e.tokens["acme"].Full, "application/json", mustJSON(t, map[string]any{"query": fullQuery, "variables": vars})))
	sobot.RevokeTokens()
	sobot.FailNext(http.StatusOK, 401, "token expired")
	sobot.FailNext(http.StatusInternalServerError, 500, "boom")
	portsip.FailNext(http.StatusServiceUnavailable, 5)
	keep(e.do(t, http.MethodPost, "/graphql", e.tokens["acme"].Full, "application/json", mustJSON(t, map[string]any{"query": fullQuery, "variables": vars})))
	keep(e.do(t, http.MethodPost, "/graphql", e.tokens["acme"].Basic, "application/json", mustJSON(t, map[string]any{"query": fullQuery, "variables": vars})))

	// Webhook forgeries and bad pushes.
	for _, p := range []push{
		{path: sobotRoute, body: ringing("s1"), appKey: "guess"},
		{path: sobotRoute, body: ringing("s2"), timestamp: time.Now().Add(-time.Hour)},
		{path: sobotRoute, body: ringing("s3"), noHeaders: true},
		{path: sobotRoute, body: []byte("{not json")},
		{path: sobotRoute, body: []byte(`{"content":"ZW5jcnlwdGVk"}`)},
		{path: sobotRoute, body: []byte(`{"callID":"x","startTime":"yesterday"}`)},
		{path: sobotRoute, body: bytes.Repeat([]byte("a"), 2<<20)},
		{path: "/webhooks/sobot/acme/sobot", body: ringing("s4")},
	} {
		keep(e.push(t, p))
	}
	replay := push{path: sobotRoute, body: ringing("s5"), random: "secrets-replay"}
	keep(e.push(t, replay))
	keep(e.push(t, replay))

	// Malformed requests.
	post(e.tokens["acme"].Full, `{"query":`)
	// A client's request body (variables may hold a customer's number) is not logged either.
	secrets["client-pin-5d1e77"] = "a malformed request's body"
	post(e.tokens["acme"].Full, `{"query":"{ viewer { tenant } }","variables":{"pin":"client-pin-5d1e77"}`)
	post(e.tokens["acme"].Full, `[{"query":"{ viewer { tenant } }","variables":{"pin":"client-pin-5d1e77"}}]`)
	post(e.tokens["acme"].Full, `[{"query":"{ viewer { tenant } }"}]`)
	post(e.tokens["acme"].Full, `{"query":"{ viewer { password } }"}`)
	keep(e.do(t, http.MethodGet, "/readyz", "", "", nil))
	keep(e.do(t, http.MethodGet, "/metrics", "", "", nil))

	// The vendor tokens the gateway obtained and sent upstream are secrets too.
	for _, r := range sobot.Requests() {
		if tok := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); len(tok) >= 8 {
			secrets[tok] = "Sobot company token"
		}
	}

	time.Sleep(100 * time.Millisecond) // let asynchronous log lines (webhook warnings, stream health) land
	logText := logs.String()
	if !strings.Contains(logText, "f-badcreds") || !strings.Contains(logText, "bad signature") {
		t.Fatalf("the log does not show the error paths driven; is the logger wired? %d bytes", len(logText))
	}
	for v, from := range secrets {
		if len(v) < 6 {
			t.Fatalf("secret %s is too short to search for", from)
		}
		if strings.Contains(logText, v) {
			line := ""
			for l := range strings.SplitSeq(logText, "\n") {
				if strings.Contains(l, v) {
					line = l
					break
				}
			}
			t.Errorf("%s appears in the log: %.300s", from, line)
		}
		for _, b := range bodies {
			if strings.Contains(b, v) {
				t.Errorf("%s appears in a response: %.300s", from, b)
				break
			}
		}
	}
}
