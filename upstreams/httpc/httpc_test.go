package httpc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
)

func newClient(t *testing.T, h http.Handler, cfg Config) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(upstreams.SourceSpec{ID: "s1", Vendor: "v", URL: srv.URL + "/api"}, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestRetriesIdempotentWithRetryAfterButNotPost(t *testing.T) {
	var hits atomic.Int32
	c, _ := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`ok`))
	}), Config{BackoffBase: time.Millisecond})
	resp, err := c.Do(context.Background(), Request{Op: "getting", URL: c.URL("/x", nil)})
	if err != nil || string(resp.Body) != "ok" || hits.Load() != 2 {
		t.Fatalf("GET: %v %v after %d hits", resp, err, hits.Load())
	}
	hits.Store(0)
	_, err = c.Do(context.Background(), Request{Op: "posting", Method: http.MethodPost, URL: c.URL("/x", nil), Body: []byte("{}")})
	if !errors.Is(err, upstreams.ErrUnavailable) || hits.Load() != 1 {
		t.Fatalf("POST retried or misclassified: %v after %d hits", err, hits.Load())
	}
}

func TestClassifiesStatusesAndKeepsPathPrefix(t *testing.T) {
	c, _ := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/auth":
			w.WriteHeader(http.StatusUnauthorized)
		case "/api/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/api/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}), Config{Retries: -1})
	for path, want := range map[string]error{"/auth": upstreams.ErrUnauthorized, "/missing": upstreams.ErrNotFound, "/busy": upstreams.ErrRateLimited, "/bad": upstreams.ErrBadArgument} {
		_, err := c.Do(context.Background(), Request{Op: "getting", URL: c.URL(path, nil)})
		var ue *upstreams.Error
		if !errors.Is(err, want) || !errors.As(err, &ue) || ue.Source != "s1" {
			t.Errorf("%s: %v, want %v from source s1", path, err, want)
		}
	}
}

func TestBodyCapAndForeignRedirect(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("followed a redirect to another host") }))
	defer other.Close()
	c, _ := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/big" {
			_, _ = w.Write([]byte(strings.Repeat("x", 2048)))
			return
		}
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}), Config{MaxBodyBytes: 1024, Retries: -1})
	if _, err := c.Do(context.Background(), Request{Op: "getting", URL: c.URL("/big", nil)}); !errors.Is(err, upstreams.ErrBadResponse) {
		t.Fatalf("oversized body: %v", err)
	}
	if _, err := c.Do(context.Background(), Request{Op: "getting", URL: c.URL("/redirect", nil)}); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("redirect: %v", err)
	}
}

func TestIdenticalConcurrentRequestsAreCoalesced(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	c, _ := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		_, _ = w.Write([]byte(r.URL.RawQuery))
	}), Config{})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Do(context.Background(), Request{Op: "getting", URL: c.URL("/q", map[string][]string{"a": {"1"}})})
			if err != nil || string(resp.Body) != "a=1" {
				t.Errorf("%v %v", resp, err)
			}
		}()
	}
	for hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the other callers join the flight
	close(release)
	wg.Wait()
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d upstream requests for 50 identical concurrent ones", n)
	}
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	var hits atomic.Int32
	var healthy atomic.Bool
	c, _ := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}), Config{Retries: -1, BreakerThreshold: 3, BreakerCooldown: 50 * time.Millisecond})
	get := func() error {
		_, err := c.Do(context.Background(), Request{Op: "getting", URL: c.URL("/x", nil)})
		return err
	}
	for i := 0; i < 3; i++ {
		_ = get()
	}
	if c.BreakerState() != BreakerOpen {
		t.Fatalf("state %d after 3 failures", c.BreakerState())
	}
	before := hits.Load()
	if err := get(); err == nil || !strings.Contains(err.Error(), "circuit open") || hits.Load() != before {
		t.Fatalf("open circuit let a request through: %v", err)
	}
	healthy.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for c.BreakerState() != BreakerHalfOpen && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := get(); err != nil || c.BreakerState() != BreakerClosed {
		t.Fatalf("probe after cooldown: %v, state %d", err, c.BreakerState())
	}
}

func TestRateLimitSpacesRequests(t *testing.T) {
	var hits atomic.Int32
	c, _ := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }), Config{RatePerSec: 1, Burst: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	for i := 0; i < 4; i++ {
		_, _ = c.Do(ctx, Request{Op: "getting", URL: c.URL("/x", map[string][]string{"i": {string(rune('a' + i))}})})
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d requests passed a 1/s limiter with burst 2 in 800ms, want 2", n)
	}
}
