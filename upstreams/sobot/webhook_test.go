package sobot

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

const mainPush = `{"callID":" 6bf3cbb167a14c7521993665adba687b ","callType":2,"screenNumber":"18618256606","gatewayNumber":"95588",
"startTime":1637068156419,"bridgeTime":1637068456419,"endTime":1637068556419,"duration":"100","totalDuration":"120","callResult":8,"hangupDisposition":3,
"recordUrl":"https:// record.soboten.com/recordings/cc37 ","companyId":" 825072edbd914f47aa8704de02f1cdb6 "}`

// hookEnv is a driver's webhook handler on loopback with a calls stream registered.
type hookEnv struct {
	d    *Driver
	url  string
	now  time.Time
	sink *upstreamstest.Sink
}

func newHookEnv(t *testing.T, opts map[string]any, secrets map[string]string) *hookEnv {
	t.Helper()
	if opts == nil {
		opts = map[string]any{}
	}
	if _, ok := opts["companyId"]; !ok {
		opts["companyId"] = "comp"
	}
	h := &hookEnv{now: time.Date(2021, 11, 16, 13, 20, 0, 0, time.UTC), sink: &upstreamstest.Sink{}}
	h.d = newTestDriver(t, testSpec("http://127.0.0.1:1", opts, secrets), func() time.Time { return h.now })
	ts := httptest.NewServer(h.d.Webhook())
	t.Cleanup(ts.Close)
	h.url = ts.URL + "/webhooks/sobot/t1/sb1"
	upstreamstest.StartStream(t, h.d, upstreams.TopicCalls, h.sink)
	h.sink.WaitFor(t, "the calls snapshot", func(ev []upstreamstest.Event) bool { return len(ev) > 0 })
	return h
}

// post sends body signed with key (the test's appKey is "key") at ts with random code rc.
func (h *hookEnv) post(t *testing.T, method, body string, ts time.Time, rc, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tsStr := strconv.FormatInt(ts.UnixMilli(), 10)
	req.Header.Set("X-Log-TimeStamp", tsStr)
	req.Header.Set("X-Log-RandomCode", rc)
	req.Header.Set("X-Log-Sign", sim.SignPush("comp", tsStr, rc, key))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	http.DefaultClient.CloseIdleConnections()
	return resp.StatusCode, string(b)
}

func TestWebhookValidMainTalkList(t *testing.T) {
	h := newHookEnv(t, nil, nil)
	if code, body := h.post(t, http.MethodPost, mainPush, h.now, "r1", "key"); code != http.StatusOK {
		t.Fatalf("valid push: %d %s", code, body)
	}
	ev := h.sink.WaitFor(t, "upsert then remove", func(ev []upstreamstest.Event) bool { return len(ev) >= 3 })
	up := ev[1].Value.(*model.Call)
	if ev[1].Op != "upsert" || ev[2].Op != "remove" || up.VendorID != "6bf3cbb167a14c7521993665adba687b" || up.Outcome != model.OutcomeAnswered {
		t.Fatalf("sink got %+v", ev)
	}
	if up.RecordingURL == nil || *up.RecordingURL != "https://record.soboten.com/recordings/cc37" {
		t.Fatalf("recording URL %v", up.RecordingURL)
	}
}

func TestWebhookCallLifecycle(t *testing.T) {
	h := newHookEnv(t, nil, nil)
	pushes := []string{
		`{"messageID":"EventRinging","callID":" c42 ","callType":2,"customerNumber":"+4670000","creationTime":1637068156419}`,
		`{"messageID":"EventEstablished","callID":" c42 ","agentUUID":" a01 ","agentName":"Ann","creationTime":1637068166419}`,
		`{"callID":" c42 ","partyId":" p1 ","agentUUID":" a01 ","agentName":"Ann","alertTime":1637068160419,"answerTime":1637068166419,"endTime":1637068266419,"duration":100,"callResult":3}`,
		`{"callID":" c42 ","callType":2,"startTime":1637068156419,"bridgeTime":1637068166419,"endTime":1637068266419,"callResult":8,"duration":"100"}`,
	}
	for i, p := range pushes {
		if code, body := h.post(t, http.MethodPost, p, h.now, "lc"+strconv.Itoa(i), "key"); code != http.StatusOK {
			t.Fatalf("push %d: %d %s", i, code, body)
		}
	}
	ev := h.sink.WaitFor(t, "the call's life", func(ev []upstreamstest.Event) bool { return len(ev) >= 6 })
	ops := []string{}
	for _, e := range ev[1:] {
		ops = append(ops, string(e.Op))
	}
	if strings.Join(ops, ",") != "upsert,upsert,upsert,upsert,remove" {
		t.Fatalf("ops %v", ops)
	}
	if c := ev[1].Value.(*model.Call); c.Outcome != model.OutcomeInProgress || c.Direction != model.DirectionInbound {
		t.Fatalf("ringing call = %+v", c)
	}
	if c := ev[2].Value.(*model.Call); c.AnsweredAt == nil || len(c.Agents) != 1 {
		t.Fatalf("established call = %+v", c)
	}
	final := ev[4].Value.(*model.Call)
	if final.Outcome != model.OutcomeAnswered || len(final.Legs) != 1 || final.Legs[0].ID != "p1" {
		t.Fatalf("final call = %+v legs %v", final, final.Legs)
	}
}

func TestWebhookRefusals(t *testing.T) {
	h := newHookEnv(t, map[string]any{"webhookMaxBytes": 2048}, nil)
	cases := []struct {
		name, method, body string
		ts                 time.Time
		rc, key            string
		want               int
		msg                string
	}{
		{"forged", http.MethodPost, mainPush, h.now, "f1", "not-the-key", http.StatusUnauthorized, "X-Log-Sign"},
		{"stale", http.MethodPost, mainPush, h.now.Add(-6 * time.Minute), "s1", "key", http.StatusUnauthorized, "stale"},
		{"future", http.MethodPost, mainPush, h.now.Add(6 * time.Minute), "s2", "key", http.StatusUnauthorized, "stale"},
		{"encrypted", http.MethodPost, `{"content":"LuB+VCYAKuhhkZ27SyQmemjwFUYO"}`, h.now, "e1", "key", http.StatusUnsupportedMediaType, "encrypted"},
		{"too large", http.MethodPost, `{"callID":"` + strings.Repeat("x", 4096) + `"}`, h.now, "b1", "key", http.StatusRequestEntityTooLarge, "larger"},
		{"not json", http.MethodPost, `callID=1`, h.now, "j1", "key", http.StatusBadRequest, "JSON"},
		{"broken document", http.MethodPost, `{"callID":" c9 ","startTime":"soon"}`, h.now, "d1", "key", http.StatusUnprocessableEntity, "startTime"},
		{"unknown kind", http.MethodPost, `{"hello":1}`, h.now, "u1", "key", http.StatusUnprocessableEntity, "unknown push"},
		{"method", http.MethodGet, ``, h.now, "m1", "key", http.StatusMethodNotAllowed, "POST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := h.post(t, c.method, c.body, c.ts, c.rc, c.key)
			if code != c.want || !strings.Contains(body, c.msg) {
				t.Fatalf("status %d body %s, want %d containing %q", code, body, c.want, c.msg)
			}
		})
	}
	if n := len(h.sink.Changes()); n != 1 {
		t.Fatalf("refused pushes reached the sink: %d events", n)
	}
}

func TestWebhookReplay(t *testing.T) {
	h := newHookEnv(t, nil, nil)
	if code, _ := h.post(t, http.MethodPost, mainPush, h.now, "same", "key"); code != http.StatusOK {
		t.Fatalf("first push: %d", code)
	}
	if code, body := h.post(t, http.MethodPost, mainPush, h.now, "same", "key"); code != http.StatusConflict || !strings.Contains(body, "replayed") {
		t.Fatalf("replayed push: %d %s", code, body)
	}
	// Once the window has passed the code is forgotten, and the timestamp is stale anyway.
	h.now = h.now.Add(10 * time.Minute)
	if code, _ := h.post(t, http.MethodPost, mainPush, h.now.Add(-10*time.Minute), "same", "key"); code != http.StatusUnauthorized {
		t.Fatalf("old replay: %d, want 401", code)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(3)
	now := time.Now()
	for _, code := range []string{"a", "b", "c", "d"} {
		if !c.add(code, now.Add(time.Minute), now) {
			t.Fatalf("fresh code %s refused", code)
		}
	}
	if c.order.Len() != 3 || len(c.seen) != 3 {
		t.Fatalf("cache holds %d/%d codes, want 3", c.order.Len(), len(c.seen))
	}
	if c.add("d", now.Add(time.Minute), now) {
		t.Fatal("held code accepted twice")
	}
}

func TestWebhookWithoutAppKey(t *testing.T) {
	h := newHookEnv(t, nil, map[string]string{"appSecret": "secret"})
	if code, _ := h.post(t, http.MethodPost, mainPush, h.now, "k1", "key"); code != http.StatusServiceUnavailable {
		t.Fatalf("push without a configured appKey: %d, want 503", code)
	}
}

func TestPusherFeedsLiveTopics(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	hook := httptest.NewServer(e.d.Webhook())
	t.Cleanup(hook.Close)
	calls, agents := &upstreamstest.Sink{}, &upstreamstest.Sink{}
	upstreamstest.StartStream(t, e.d, upstreams.TopicCalls, calls)
	upstreamstest.StartStream(t, e.d, upstreams.TopicAgents, agents)
	calls.WaitFor(t, "calls snapshot", func(ev []upstreamstest.Event) bool { return len(ev) > 0 })
	agents.WaitFor(t, "agents snapshot", func(ev []upstreamstest.Event) bool { return len(ev) > 0 })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.srv.StartPusher(ctx, hook.URL+"/webhooks/sobot/t1/sb1", "comp", "key")
	e.Clock.Advance(15 * time.Minute)
	e.Center.Sync()
	ev := calls.WaitFor(t, "a pushed call that ended", func(ev []upstreamstest.Event) bool {
		for _, x := range ev {
			if x.Op == "remove" {
				return true
			}
		}
		return false
	})
	var removed string
	for _, x := range ev {
		if x.Op == "remove" {
			removed = x.Key
			break
		}
	}
	if c, ok := e.Center.Call(removed); !ok || c.EndedAt.IsZero() {
		t.Fatalf("removed call %q has not ended in the center", removed)
	}
	want := centerStates(e.Center)
	agents.WaitFor(t, "agent states from SSE and status pushes", func(ev []upstreamstest.Event) bool { return sameStates(agentStates(ev), want) })
	cancel()
	e.srv.Close()
	if sent, failed := e.srv.Pushes(); sent == 0 || failed != 0 {
		t.Fatalf("pushes sent %d failed %d", sent, failed)
	}
}
