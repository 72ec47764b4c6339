package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

func TestUnauthenticatedAndBadRequests(t *testing.T) {
	clk := simcc.NewManualClock(time.Date(2025, 3, 13, 10, 30, 0, 0, time.UTC))
	cc := simcc.New(simcc.Config{Seed: 1, Clock: clk, HistoryDays: 1})
	defer cc.Close()
	s, src := NewDemo(cc)
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()
	if src.Secrets["appSecret"] != DemoAppSecret || src.Options["appId"] != DemoAppID {
		t.Fatalf("demo source %+v", src)
	}
	resp, err := http.Post(ts.URL+"/callservice/tm/tm-reports/maincdrs/_search", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Code int `json:"code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || env.Code != 401 {
		t.Fatalf("no token: HTTP %d code %d, want 401/401", resp.StatusCode, env.Code)
	}
	// A wrongly signed token request is refused inside a 200 envelope.
	resp, err = http.Post(ts.URL+"/tokens/company", "application/json",
		strings.NewReader(`{"responseType":"token","appId":"demo-app","currentTime":"1741861800000","sign":"00"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || env.Code != 4001 {
		t.Fatalf("bad sign: HTTP %d code %d, want 200/4001", resp.StatusCode, env.Code)
	}
	if got := len(s.Requests()); got != 2 {
		t.Fatalf("request log has %d entries, want 2", got)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestSignPush(t *testing.T) {
	// MD5("c" + "1" + "r" + "k") = MD5("c1rk")
	if got := SignPush("c", "1", "r", "k"); got != "133da7e7d49594c68aebb410e4aac3c7" {
		t.Fatalf("sign %q", got)
	}
}
