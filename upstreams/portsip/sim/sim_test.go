package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

type client struct {
	t     *testing.T
	base  string
	token string
}

func newSim(t *testing.T) (*Server, *client, *simcc.ManualClock) {
	t.Helper()
	clk := simcc.NewManualClock(time.Date(2025, 10, 1, 15, 0, 0, 0, time.UTC))
	cc := simcc.New(simcc.Config{Seed: 3, Clock: clk})
	srv, _ := NewDemo(cc)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close(); cc.Close() })
	return srv, &client{t: t, base: hs.URL + "/api"}, clk
}

func (c *client) login(form url.Values) (int, map[string]any) {
	resp, err := http.PostForm(c.base+"/login/oauth/token", form)
	if err != nil {
		c.t.Fatal(err)
	}
	return decode(c.t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("body %s: %v", b, err)
		}
	}
	return resp.StatusCode, m
}

func (c *client) do(method, path, body string) (int, map[string]any) {
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return decode(c.t, resp)
}

func errCode(m map[string]any) string {
	errs, _ := m["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	return errs[0].(map[string]any)["code"].(string)
}

func TestTokenLifecycle(t *testing.T) {
	_, c, clk := newSim(t)
	pw := url.Values{"grant_type": {"password"}, "username": {DemoUsername}, "password": {DemoPassword}, "client_id": {DemoClientID}}
	bad := url.Values{"grant_type": {"password"}, "username": {DemoUsername}, "password": {"nope"}, "client_id": {DemoClientID}}
	if st, m := c.login(bad); st != http.StatusUnauthorized || errCode(m) != "INVALID_CREDENTIALS" {
		t.Fatalf("bad password: %d %v", st, m)
	}
	st, m := c.login(pw)
	if st != http.StatusOK || m["token_type"] != "Bearer" || m["expires_in"].(float64) != 1800 {
		t.Fatalf("login: %d %v", st, m)
	}
	c.token = m["access_token"].(string)
	body := `{"start_time":"2025-10-01T00:00:00+00:00","end_time":"2025-10-01T01:00:00+00:00"}`
	if st, _ := c.do("POST", "/dataflow/analytics/calls/history", body); st != http.StatusOK {
		t.Fatalf("with token: %d", st)
	}
	clk.Advance(31 * time.Minute)
	if st, m := c.do("POST", "/dataflow/analytics/calls/history", body); st != http.StatusUnauthorized || errCode(m) != "UNAUTHORIZED" {
		t.Fatalf("expired token: %d %v", st, m)
	}
	st, m2 := c.login(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "client_id": {DemoClientID}})
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %v", st, m2)
	}
	if st, _ := c.login(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "client_id": {DemoClientID}}); st != http.StatusUnauthorized {
		t.Fatalf("a used refresh token must not work again: %d", st)
	}
}

func TestDocumentedLimits(t *testing.T) {
	_, c, _ := newSim(t)
	_, m := c.login(url.Values{"grant_type": {"password"}, "username": {DemoUsername}, "password": {DemoPassword}, "client_id": {DemoClientID}})
	c.token = m["access_token"].(string)
	for name, tc := range map[string]struct {
		method, path, body, code string
	}{
		"time without offset":     {"POST", "/dataflow/analytics/calls/history", `{"start_time":"2025-10-01T00:00:00","end_time":"2025-10-01T01:00:00+00:00"}`, "INVALID_TIME_FORMAT"},
		"history needs a range":   {"POST", "/dataflow/analytics/calls/history", `{}`, "INVALID_TIME_RANGE"},
		"top over 100":            {"POST", "/dataflow/analytics/calls/history?top=101", `{"start_time":"2025-10-01T00:00:00Z","end_time":"2025-10-01T01:00:00Z"}`, "INVALID_PARAMETER"},
		"queue range over 24 h":   {"POST", "/dataflow/queues/timeseries", `{"queue":"8000","start_time":"2025-09-29T00:00:00Z","end_time":"2025-09-30T00:00:01Z"}`, "TIME_RANGE_TOO_LARGE"},
		"interval 30m":            {"POST", "/dataflow/queues/timeseries", `{"queue":"8000","interval":"30m","start_time":"2025-09-29T00:00:00Z","end_time":"2025-09-29T01:00:00Z"}`, "INVALID_INTERVAL"},
		"volume under a day":      {"POST", "/dataflow/analytics/calls/timeseries", `{"start_time":"2025-09-29T00:00:00Z","end_time":"2025-09-29T23:00:00Z"}`, "INVALID_TIME_RANGE"},
		"unknown queue":           {"POST", "/dataflow/queues/summary", `{"queues":[{"number":"9","sla_secs":20}]}`, "INVALID_QUEUE"},
		"job with a 4-field cron": {"POST", "/dataflow/report_jobs", `{"type":"QUEUE","format":"CSV","schedule_name":"x","cron_expr":"1 0 * *","recipients":"a@example.com"}`, "INVALID_CRON_EXPR"},
		"job with bad recipients": {"POST", "/dataflow/report_jobs", `{"type":"QUEUE","format":"CSV","schedule_name":"x","cron_expr":"1 0 * * *","recipients":"a@example.com;nobody"}`, "INVALID_RECIPIENTS"},
	} {
		if st, m := c.do(tc.method, tc.path, tc.body); st != http.StatusBadRequest || errCode(m) != tc.code {
			t.Errorf("%s: %d %v, want 400 %s", name, st, m, tc.code)
		}
	}
	st, m := c.do("POST", "/dataflow/analytics/calls/history?$top=2&$skip=1&$count=true", `{"start_time":"2025-10-01T08:00:00-04:00","end_time":"2025-10-01T11:00:00-04:00"}`)
	if items, _ := m["items"].([]any); st != http.StatusOK || len(items) != 2 || m["count"].(float64) < 3 {
		t.Fatalf("OData-style paging: %d %v", st, m)
	}
	first := m["items"].([]any)[0].(map[string]any)
	if !strings.HasSuffix(first["start_time"].(string), "+00:00") || first["status"] == "" {
		t.Errorf("call record %v", first)
	}
	if st, m := c.do("POST", "/dataflow/analytics/calls/history/1", `{}`); st != http.StatusNotFound || errCode(m) != "NOT_FOUND" {
		t.Errorf("unknown session: %d %v", st, m)
	}
}
