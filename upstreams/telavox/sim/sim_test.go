package sim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/telavox/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func post(t *testing.T, url, token, query string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestGraphQL(t *testing.T) {
	center := simcc.New(simcc.Config{Seed: 1, Clock: simcc.NewManualClock(time.Date(2025, 3, 13, 12, 0, 0, 0, time.UTC)), HistoryDays: 1})
	s, src := sim.NewDemo(center)
	srv := httptest.NewServer(s)
	defer func() { srv.Close(); s.Close(); center.Close() }()
	tok := src.Secrets["token"]

	if code, _ := post(t, srv.URL, "", `query { callOverview { totalCount } }`); code != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d, want 401", code)
	}
	if code, _ := post(t, srv.URL, "bad", `query { callOverview { totalCount } }`); code != http.StatusUnauthorized {
		t.Errorf("bad token: HTTP %d, want 401", code)
	}
	_, out := post(t, srv.URL, tok, `query { callOverview { data { idCall nope } } }`)
	if out["errors"] == nil {
		t.Errorf("unknown field: %v, want errors", out)
	}
	// The document's own example, with its stray-space date format accepted in the filter.
	_, out = post(t, srv.URL, tok, `query {
  callOverview(filter: { startDate: "2025-03-13T08:00:00Z", endDate: "2025-03-13 T10:00:00Z" } first: 5) {
    data { idCall callDirection answered agentFirst { name phone } duration { total talk { total } ring { total } } time { start } }
    totalCount cursor hasNextPage
  }
}`)
	page, _ := out["data"].(map[string]any)["callOverview"].(map[string]any)
	want := len(center.Calls(time.Date(2025, 3, 13, 8, 0, 0, 0, time.UTC), time.Date(2025, 3, 13, 10, 0, 0, 0, time.UTC)))
	if page == nil || int(page["totalCount"].(float64)) != want || len(page["data"].([]any)) != 5 || page["hasNextPage"] != true {
		t.Fatalf("page = %v (center has %d calls)", out, want)
	}
	rec := page["data"].([]any)[0].(map[string]any)
	if start, _ := rec["time"].(map[string]any)["start"].(string); !strings.Contains(start, " T") {
		t.Errorf("time.start = %q, want the documented \"YYYY-MM-DD THH:MM:SSZ\"", start)
	}
	if _, ok := rec["voicemail"]; ok {
		t.Error("unrequested field returned")
	}
	if len(s.Requests()) != 4 || s.Requests()[3].Operation != "callOverview" {
		t.Errorf("requests = %+v", s.Requests())
	}
}
