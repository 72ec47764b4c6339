package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

func get(t *testing.T, hs *httptest.Server, method, path, user, pass string) (*http.Response, map[string]any, []any) {
	t.Helper()
	req, _ := http.NewRequest(method, hs.URL+path, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	var arr []any
	if json.Unmarshal(b, &obj) != nil && json.Unmarshal(b, &arr) != nil {
		t.Fatalf("%s %s: body is not JSON: %s", method, path, b)
	}
	return resp, obj, arr
}

func TestEndpoint(t *testing.T) {
	clock := simcc.NewManualClock(time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC))
	center := simcc.New(simcc.Config{Seed: 3, Clock: clock, HistoryDays: 1})
	defer center.Close()
	srv := New(center, Config{Key: "k", Secret: "s", RatePerSec: 1e6})
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	for _, c := range []struct {
		method, path, user string
		status             int
	}{
		{"GET", Path, "", http.StatusUnauthorized},
		{"GET", Path, "x", http.StatusUnauthorized},
		{"POST", Path, "k", http.StatusMethodNotAllowed},
		{"GET", "/manager/api/v1/agents", "k", http.StatusNotFound},
		{"GET", Path + "?updated_at[from]=yesterday", "k", http.StatusBadRequest},
		{"GET", Path + "?page=0", "k", http.StatusBadRequest},
		{"GET", Path + "?sort_column=password", "k", http.StatusBadRequest},
	} {
		resp, obj, _ := get(t, hs, c.method, c.path, c.user, "s")
		if resp.StatusCode != c.status || obj["error"] == nil || obj["message"] == nil || obj["status"] != float64(c.status) {
			t.Errorf("%s %s: %d %v, want %d with a JSON error", c.method, c.path, resp.StatusCode, obj, c.status)
		}
	}

	resp, _, arr := get(t, hs, "GET", Path+"?per=500&call_status[]=finished&call_type[]=IvrCall&sort_column=created_at", "k", "s")
	if resp.StatusCode != 200 || len(arr) != 100 || resp.Header.Get("per-page") != "100" || resp.Header.Get("total") == "" {
		t.Fatalf("page: %d, %d calls, headers %v", resp.StatusCode, len(arr), resp.Header)
	}
	if l := resp.Header.Get("Link"); !strings.Contains(l, `page=2&per=100`) || !strings.Contains(l, `rel="next"`) || !strings.Contains(l, `rel="last"`) {
		t.Errorf("Link %q", l)
	}
	for _, x := range arr {
		c := x.(map[string]any)
		if c["status"] != "finished" || c["call_type"] != "Voice Inbound (IVR)" {
			t.Fatalf("filter not applied: %v %v", c["status"], c["call_type"])
		}
	}
	resp, _, arr = get(t, hs, "GET", Path+"?id[]=3&id[]=5&per=10", "k", "s")
	if len(arr) != 2 || resp.Header.Get("total") != "2" || strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Errorf("id[]: %d calls, total %s, Link %s", len(arr), resp.Header.Get("total"), resp.Header.Get("Link"))
	}
	if n := len(srv.Requests()); n != 9 {
		t.Errorf("request log has %d entries, want 9", n)
	}
	srv.ResetRequests()
	if len(srv.Requests()) != 0 {
		t.Error("ResetRequests kept entries")
	}
}

func TestRateLimit(t *testing.T) {
	center := simcc.New(simcc.Config{Seed: 3, Clock: simcc.NewManualClock(time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC)), HistoryDays: 1})
	defer center.Close()
	srv := New(center, Config{Key: "k", Secret: "s", RatePerSec: 0.5, Burst: 2})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	codes := []int{}
	for range 3 {
		resp, obj, _ := get(t, hs, "GET", Path+"?per=1", "k", "s")
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") == "" || obj["status"] != float64(429)) {
			t.Errorf("429 without Retry-After or JSON body: %v %v", resp.Header, obj)
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Errorf("codes %v, want 200 200 429", codes)
	}
}
