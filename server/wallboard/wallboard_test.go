package wallboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/switchboard-cc/switchboard/server/wallboard"
	"github.com/switchboard-cc/switchboard/server/wallboard/wallboardtest"
)

func TestHandlerServesSelfContainedPage(t *testing.T) {
	h := wallboard.Handler(wallboard.Options{DemoTokens: map[string]string{"acme": `</script><b>x`}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wallboard", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if strings.Contains(body, "</script><b>") || !strings.Contains(body, `\u003c/script\u003e\u003cb\u003ex`) {
		t.Errorf("demo token not escaped inside the page")
	}
	for _, ext := range []string{"http://", "https://", "src=", "href="} {
		if strings.Contains(body, ext) {
			t.Errorf("page refers to something outside itself: %q", ext)
		}
	}
	csp := rec.Header().Get("Content-Security-Policy")
	var scriptSrc string
	for _, d := range strings.Split(csp, ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "script-src ") {
			scriptSrc = d
		}
	}
	if !strings.HasPrefix(scriptSrc, "script-src 'sha256-") || strings.Contains(scriptSrc, "unsafe") {
		t.Errorf("CSP does not pin the script: %q", csp)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
	}

	prod := httptest.NewRecorder()
	wallboard.Handler(wallboard.Options{}).ServeHTTP(prod, httptest.NewRequest(http.MethodGet, "/wallboard", nil))
	if !strings.Contains(prod.Body.String(), `id="demo-tokens">null</script>`) {
		t.Errorf("production page carries demo tokens")
	}

	post := httptest.NewRecorder()
	h.ServeHTTP(post, httptest.NewRequest(http.MethodPost, "/wallboard", nil))
	if post.Code != http.StatusMethodNotAllowed || post.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d allow %q", post.Code, post.Header().Get("Allow"))
	}
}

// TestWallboardInChromium drives the page against fakeGateway, a stand-in for the gateway's
// /graphql that answers queries and pushes subscription events with changing figures.
func TestWallboardInChromium(t *testing.T) {
	b := wallboardtest.RequireBrowser(t)
	const token = "good-token"
	f := newFakeGateway(t, token)
	url := f.srv.URL + "/wallboard"
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	wait := func(t *testing.T, expr string) json.RawMessage {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var v json.RawMessage
		if err := b.Poll(wctx, expr, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("shows live figures that change", func(t *testing.T) {
		shot := wallboardtest.ScreenshotPath(t, "wallboard.png")
		res, err := wallboardtest.Check{URL: url, Token: token, Screenshot: shot, Timeout: 10 * time.Second}.Run(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", shot)
		if res.Queues != 3 || res.Agents != 7 || !slices.Equal(res.Vendors, []string{"sobot", "telavox", "tvox"}) {
			t.Errorf("page shows %d queues, %d agents, vendors %v", res.Queues, res.Agents, res.Vendors)
		}
		if _, ok := res.After["queue-q1-waiting"]; !ok {
			t.Errorf("no queue-q1-waiting on screen: %v", res.After)
		}
		inits, subs, posts := f.seen()
		if len(inits) == 0 || inits[0] != "Bearer "+token {
			t.Errorf("connection_init Authorization = %q", inits)
		}
		if !slices.Contains(subs, "queueUpdates") || !slices.Contains(subs, "agentUpdates") {
			t.Errorf("subscriptions = %v", subs)
		}
		if posts < 2 {
			t.Errorf("%d authorized queries, want the queues and agents queries", posts)
		}
		// Service-level colours follow the thresholds, and the thresholds are editable.
		levels := `(() => {
  const out = [];
  for (const q of document.querySelectorAll('article.queue')) {
    const sl = parseInt(q.querySelector('[data-testid$="-sl"]').textContent, 10);
    const warn = Number(document.querySelector('[data-testid="sl-warn"]').value), alert = Number(document.querySelector('[data-testid="sl-alert"]').value);
    const want = sl < alert ? 'alert' : sl < warn ? 'warn' : 'ok';
    if (q.dataset.level !== want) return 'queue ' + q.dataset.testid + ' at ' + sl + '% is ' + q.dataset.level + ', want ' + want;
    out.push(q.dataset.level);
  }
  return out.length ? out : null;
})()`
		var got []string
		if err := json.Unmarshal(wait(t, levels), &got); err != nil {
			t.Fatalf("service-level colours: %v", err)
		}
		setWarn := func(v int) string {
			return fmt.Sprintf(`(() => { const i = document.querySelector('[data-testid="sl-warn"]'); i.value = %d; i.dispatchEvent(new Event('input')); return true; })()`, v)
		}
		if err := b.Eval(ctx, setWarn(101), nil); err != nil {
			t.Fatal(err)
		}
		wait(t, `[...document.querySelectorAll('article.queue')].every((q) => q.dataset.level === 'warn' || q.dataset.level === 'alert')`)
		if err := b.Eval(ctx, setWarn(80), nil); err != nil { // the profile keeps it for later subtests
			t.Fatal(err)
		}
	})

	t.Run("reconnects after the socket drops", func(t *testing.T) {
		before := f.dropSockets()
		deadline := time.Now().Add(15 * time.Second)
		for f.connections() <= before {
			if time.Now().After(deadline) {
				t.Fatalf("no new connection after the drop (%d before)", before)
			}
			time.Sleep(50 * time.Millisecond)
		}
		wait(t, `document.querySelector('[data-testid="status"]').textContent === 'live' && document.querySelector('[data-testid="errors"]').hidden`)
	})

	t.Run("unsupported agents are shown once, not retried", func(t *testing.T) {
		f.mu.Lock()
		f.noAgents = true
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.noAgents = false
			f.mu.Unlock()
		}()
		if err := b.Navigate(ctx, url+"?no-agents#token="+token); err != nil {
			t.Fatal(err)
		}
		wait(t, `document.querySelector('[data-testid="status"]').textContent === 'live' && document.querySelector('[data-testid="no-agents"]').textContent.includes('not supported')`)
		before := f.connections()
		// Long enough for the first reconnect (about a second) of a page that took the
		// completed stream for a dropped connection.
		time.Sleep(2500 * time.Millisecond)
		var banner string
		if err := b.Eval(ctx, `document.querySelector('[data-testid="errors"]').hidden ? '' : document.querySelector('[data-testid="errors"]').textContent`, &banner); err != nil {
			t.Fatal(err)
		}
		if n := f.connections(); n != before || banner != "" {
			t.Errorf("connections %d -> %d, error banner %q", before, n, banner)
		}
	})

	t.Run("kiosk link signs in from the fragment", func(t *testing.T) {
		// A query makes it a new document rather than a fragment change of the open one.
		if err := b.Navigate(ctx, url+"?kiosk#token="+token); err != nil {
			t.Fatal(err)
		}
		wait(t, `document.querySelector('[data-testid="status"]').textContent === 'live' && location.hash === ''`)
	})

	t.Run("bad token is reported", func(t *testing.T) {
		if err := b.Navigate(ctx, url); err != nil {
			t.Fatal(err)
		}
		err := b.Eval(ctx, `(() => { document.querySelector('[data-testid="token-input"]').value = 'wrong'; document.querySelector('[data-testid="sign-in"]').click(); })()`, nil)
		if err != nil {
			t.Fatal(err)
		}
		var msg string
		if err := json.Unmarshal(wait(t, `document.querySelector('[data-testid="signin-error"]').textContent`), &msg); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msg, "invalid token") {
			t.Errorf("sign-in error = %q", msg)
		}
		wait(t, `document.getElementById('board').hidden && !document.getElementById('signin').hidden`)
	})

	t.Run("demo dropdown fills the token", func(t *testing.T) {
		if err := b.Navigate(ctx, url); err != nil {
			t.Fatal(err)
		}
		var first, second string
		if err := b.Eval(ctx, `document.querySelector('[data-testid="token-input"]').value`, &first); err != nil {
			t.Fatal(err)
		}
		pick := `(() => { const s = document.querySelector('[data-testid="tenant-select"]'); s.value = 'sobot'; s.dispatchEvent(new Event('change')); return document.querySelector('[data-testid="token-input"]').value; })()`
		if err := b.Eval(ctx, pick, &second); err != nil {
			t.Fatal(err)
		}
		if first != token || second != "sobot-token" {
			t.Errorf("token field: %q, then %q after choosing sobot", first, second)
		}
	})
}

// TestWallboardAgainstGateway runs the same browser check against a running gateway, for
// example the demo. With the wallboard mounted by the gateway:
//
//	go run ./cmd/switchboard --tokens-file /tmp/tokens.json &
//	SWITCHBOARD_WALLBOARD_URL=http://127.0.0.1:8080/wallboard \
//	SWITCHBOARD_WALLBOARD_TOKEN=$(jq -r .acme.full /tmp/tokens.json) \
//	SWITCHBOARD_SCREENSHOT=$PWD/wallboard.png go test -run TestWallboardAgainstGateway -v ./server/wallboard/
//
// With SWITCHBOARD_GATEWAY_URL=http://127.0.0.1:8080 instead of SWITCHBOARD_WALLBOARD_URL the
// test serves the page itself and proxies /graphql to that gateway (same origin for the page).
func TestWallboardAgainstGateway(t *testing.T) {
	url, gateway, token := os.Getenv("SWITCHBOARD_WALLBOARD_URL"), os.Getenv("SWITCHBOARD_GATEWAY_URL"), os.Getenv("SWITCHBOARD_WALLBOARD_TOKEN")
	if url == "" && gateway == "" || token == "" {
		t.Skip("set SWITCHBOARD_WALLBOARD_TOKEN and SWITCHBOARD_WALLBOARD_URL or SWITCHBOARD_GATEWAY_URL to check a running gateway")
	}
	b := wallboardtest.RequireBrowser(t)
	if url == "" {
		target, err := neturl.Parse(gateway)
		if err != nil {
			t.Fatalf("SWITCHBOARD_GATEWAY_URL: %v", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /wallboard", wallboard.Handler(wallboard.Options{}))
		mux.Handle("/graphql", httputil.NewSingleHostReverseProxy(target))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		url = srv.URL + "/wallboard"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	shot := wallboardtest.ScreenshotPath(t, "wallboard.png")
	res, err := wallboardtest.Check{URL: url, Token: token, Screenshot: shot, Timeout: 45 * time.Second}.Run(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d queues, %d agents, vendors %v; screenshot %s", res.Queues, res.Agents, res.Vendors, shot)
	for k, v := range res.After {
		if res.Before[k] != v {
			t.Logf("%s: %q -> %q", k, res.Before[k], v)
		}
	}
}

// fakeGateway stands in for the gateway's /graphql (the page is under test, not the
// gateway): POST answers the queues and agents queries, and graphql-transport-ws pushes a
// snapshot and then a changed queue and agent every 250 ms.
type fakeGateway struct {
	srv   *httptest.Server
	token string
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup

	mu    sync.Mutex
	n     int
	kick  chan struct{} // closed to drop every open socket
	conns int
	posts int
	// noAgents makes agents NOT_SUPPORTED, as for a tenant whose sources have none: the
	// query fails, the subscription sends its error and then complete.
	noAgents bool
	inits    []string
	subs     []string
}

func newFakeGateway(t *testing.T, token string) *fakeGateway {
	f := &fakeGateway{token: token, start: time.Now(), stop: make(chan struct{}), kick: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /wallboard", wallboard.Handler(wallboard.Options{DemoTokens: map[string]string{"acme": token, "sobot": "sobot-token"}}))
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			f.serveWS(w, r)
			return
		}
		f.servePOST(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(f.stop)
		f.srv.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeGateway) bump() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return f.n
}

func (f *fakeGateway) seen() (inits, subs []string, posts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.inits), slices.Clone(f.subs), f.posts
}

func (f *fakeGateway) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// dropSockets closes every open socket and returns the connection count before.
func (f *fakeGateway) dropSockets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.kick)
	f.kick = make(chan struct{})
	return f.conns
}

func fakeVendor(i int) string { return [...]string{"telavox", "tvox", "sobot"}[i%3] }

func fakeStates() [5]string {
	return [...]string{"AVAILABLE", "ON_CALL", "WRAP_UP", "NOT_READY", "RINGING"}
}

func (f *fakeGateway) agent(j, n int) map[string]any {
	names := []string{"Ada Lind", "Bo Ek", "Cai Berg", "Dana Holm", "Eli Strand", "Fia Dahl", "Gus Nyberg"}
	return map[string]any{
		"id": fmt.Sprintf("a%d", j+1), "name": names[j], "state": fakeStates()[(n/3+j)%5],
		"stateSince": f.start.Add(-time.Duration(j*41+5) * time.Second).UTC().Format(time.RFC3339),
		"source":     map[string]any{"id": "src-" + fakeVendor(j), "vendor": fakeVendor(j)},
	}
}

func (f *fakeGateway) queue(i, n int) map[string]any {
	byState := map[string]int{}
	for j := i; j < 7; j += 3 {
		byState[f.agent(j, n)["state"].(string)]++
	}
	var abs []map[string]any
	for _, s := range fakeStates() {
		if byState[s] > 0 {
			abs = append(abs, map[string]any{"state": s, "count": byState[s]})
		}
	}
	waiting := (n + i) % 6
	return map[string]any{
		"id": fmt.Sprintf("q%d", i+1), "name": []string{"Support", "Sales", "Billing"}[i], "slaSeconds": 20,
		"source": map[string]any{"id": "src-" + fakeVendor(i), "vendor": fakeVendor(i)},
		"stats": map[string]any{
			"callsWaiting": waiting, "longestWaitSeconds": waiting * 17,
			"serviceLevel": []float64{0.93, 0.74, 0.52}[(n/8+i)%3],
			"offered":      120 + n + 10*i, "answered": 100 + n*9/10, "abandoned": 4 + n/10,
			"agentsByState": abs,
		},
	}
}

func (f *fakeGateway) servePOST(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"message":"invalid token: signature is invalid","extensions":{"code":"UNAUTHENTICATED"}}]}`)
		return
	}
	var req struct{ Query string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := f.bump()
	f.mu.Lock()
	f.posts++
	f.mu.Unlock()
	f.mu.Lock()
	noAgents := f.noAgents
	f.mu.Unlock()
	var data map[string]any
	switch {
	case noAgents && strings.Contains(req.Query, "agents") && !strings.Contains(req.Query, "queues"):
		_, _ = io.WriteString(w, `{"errors":[{"message":"agents are not supported by sources [src-x]","extensions":{"code":"NOT_SUPPORTED"}}],"data":null}`)
		return
	case strings.Contains(req.Query, "queues"):
		var qs []any
		for i := range 3 {
			qs = append(qs, f.queue(i, n))
		}
		data = map[string]any{"queues": qs}
	case strings.Contains(req.Query, "agents"):
		var as []any
		for j := range 7 {
			as = append(as, f.agent(j, n))
		}
		data = map[string]any{"agents": as}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

type wsMsg struct {
	ID      string         `json:"id,omitempty"`
	Type    string         `json:"type"`
	Payload map[string]any `json:"payload,omitempty"`
}

func (f *fakeGateway) serveWS(w http.ResponseWriter, r *http.Request) {
	f.wg.Add(1)
	defer f.wg.Done()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return
	}
	if c.Subprotocol() != "graphql-transport-ws" {
		_ = c.Close(4400, "graphql-transport-ws required")
		return
	}
	f.mu.Lock()
	f.conns++
	kick := f.kick
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	msgs := make(chan wsMsg, 16)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			var m wsMsg
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		_ = c.CloseNow()
		<-readDone
	}()
	send := func(m wsMsg) bool {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return wsjson.Write(wctx, c, m) == nil
	}
	next := func(id, field string, kind string, n, k int) bool {
		key, obj := "queue", map[string]any(nil)
		if field == "agentUpdates" {
			key, obj = "agent", f.agent(k%7, n)
		} else {
			obj = f.queue(k%3, n)
		}
		return send(wsMsg{ID: id, Type: "next", Payload: map[string]any{"data": map[string]any{field: map[string]any{"kind": kind, key: obj}}}})
	}

	select {
	case m := <-msgs:
		auth, _ := m.Payload["Authorization"].(string)
		f.mu.Lock()
		f.inits = append(f.inits, auth)
		f.mu.Unlock()
		if m.Type != "connection_init" || auth != "Bearer "+f.token {
			_ = c.Close(4403, "Forbidden")
			return
		}
	case <-time.After(5 * time.Second):
		_ = c.Close(4408, "Connection initialisation timeout")
		return
	case <-readDone:
		return
	}
	if !send(wsMsg{Type: "connection_ack"}) {
		return
	}
	subs := map[string]string{}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case m := <-msgs:
			switch m.Type {
			case "subscribe":
				q, _ := m.Payload["query"].(string)
				field, count := "queueUpdates", 3
				if strings.Contains(q, "agentUpdates") {
					field, count = "agentUpdates", 7
				}
				f.mu.Lock()
				f.subs = append(f.subs, field)
				n, noAgents := f.n, f.noAgents
				f.mu.Unlock()
				if noAgents && field == "agentUpdates" {
					errs := []any{map[string]any{"message": "live agents are not supported by sources [src-x]", "extensions": map[string]any{"code": "NOT_SUPPORTED"}}}
					if !send(wsMsg{ID: m.ID, Type: "next", Payload: map[string]any{"errors": errs, "data": nil}}) || !send(wsMsg{ID: m.ID, Type: "complete"}) {
						return
					}
					continue
				}
				subs[m.ID] = field
				for k := range count {
					if !next(m.ID, field, "SNAPSHOT", n, k) {
						return
					}
				}
			case "complete":
				delete(subs, m.ID)
			case "ping":
				send(wsMsg{Type: "pong"})
			}
		case <-tick.C:
			n := f.bump()
			for id, field := range subs {
				if !next(id, field, "UPSERT", n, n) {
					return
				}
			}
		case <-kick:
			_ = c.Close(websocket.StatusServiceRestart, "restarting")
			return
		case <-f.stop:
			_ = c.Close(websocket.StatusGoingAway, "stopping")
			return
		case <-readDone:
			return
		}
	}
}
