// Package httpc is the HTTP plumbing shared by REST and GraphQL-over-HTTP drivers: a client
// per source with a rate limit, a retry budget with full jitter for idempotent requests,
// Retry-After, response size caps, no redirects to other hosts, and errors classified into
// upstreams.Error so that clients see the source and never a secret.
package httpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
)

// Config tunes a Client. Zero values take the defaults in brackets.
type Config struct {
	Timeout      time.Duration // per attempt [10s]
	MaxBodyBytes int64         // response body cap [8 MiB]
	Retries      int           // extra attempts for idempotent requests [2]
	BackoffBase  time.Duration // first retry wait cap, doubled each retry [200ms]
	MaxRetryWait time.Duration // longest Retry-After honoured [10s]
	RatePerSec   float64       // client-side request rate limit; 0 = unlimited
	Burst        int           // bucket size [1]
	// BreakerThreshold consecutive failed attempts (transport errors, 5xx) open the circuit
	// [5]; while open, requests fail at once for BreakerCooldown [10s], then one probe may pass.
	BreakerThreshold int
	BreakerCooldown  time.Duration
}

// Client sends requests to one source.
type Client struct {
	spec    upstreams.SourceSpec
	base    *url.URL
	http    *http.Client
	cfg     Config
	limiter *limiter
	// Requests counts attempts sent (tests and metrics read it).
	mu        sync.Mutex
	requests  int
	coalesced int
	breaker   breaker
	// flights coalesces identical concurrent idempotent requests: a client belongs to one
	// (tenant, source, credentials), so the key needs only the request itself.
	flights map[string]*flight
}

// New builds a client for spec.URL. base may be nil (a default transport is used).
func New(spec upstreams.SourceSpec, base *http.Client, cfg Config) (*Client, error) {
	u, err := url.Parse(spec.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("source %q: url %q is not an absolute URL", spec.ID, spec.URL)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = 200 * time.Millisecond
	}
	if cfg.MaxRetryWait == 0 {
		cfg.MaxRetryWait = 10 * time.Second
	}
	if cfg.BreakerThreshold == 0 {
		cfg.BreakerThreshold = 5
	}
	if cfg.BreakerCooldown == 0 {
		cfg.BreakerCooldown = 10 * time.Second
	}
	var rt http.RoundTripper = http.DefaultTransport
	if base != nil && base.Transport != nil {
		rt = base.Transport
	}
	host := u.Host
	hc := &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != host {
				return fmt.Errorf("redirect to another host %q refused", req.URL.Host)
			}
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	c := &Client{spec: spec, base: u, http: hc, cfg: cfg, flights: map[string]*flight{}}
	// A transport that reports per-source state (the gateway's metrics) learns the breaker.
	if bt, ok := rt.(interface{ TrackBreaker(func() int) }); ok {
		bt.TrackBreaker(c.BreakerState)
	}
	if cfg.RatePerSec > 0 {
		c.limiter = newLimiter(cfg.RatePerSec, cfg.Burst)
	}
	return c, nil
}

// URL resolves a path (with query) against the source's base URL, keeping its path prefix.
func (c *Client) URL(path string, q url.Values) string {
	u := *c.base
	u.Path = joinPath(c.base.Path, path)
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func joinPath(a, b string) string {
	switch {
	case a == "" || a == "/":
		return b
	case len(b) > 0 && b[0] == '/':
		if a[len(a)-1] == '/' {
			return a + b[1:]
		}
		return a + b
	default:
		return a + "/" + b
	}
}

// Coalesced returns how many calls joined another caller's identical request in flight.
func (c *Client) Coalesced() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.coalesced
}

// Requests returns how many attempts this client has sent.
func (c *Client) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// Response is a fully read response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Request describes one call. Build sets the headers (auth) on each attempt, so a token
// refreshed between attempts is used.
type Request struct {
	Op         string // gerund phrase for errors: "listing calls"
	Method     string
	URL        string
	Body       []byte
	Header     http.Header
	Idempotent bool // GET is always idempotent
	Build      func(*http.Request) error
}

// Do sends r, retrying idempotent requests on 5xx, 429 and transport errors within the
// retry budget. A non-2xx final status is returned as a *upstreams.Error classified by
// status; the Response is returned too so drivers can read vendor error bodies.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	idempotent := r.Idempotent || r.Method == "" || r.Method == http.MethodGet || r.Method == http.MethodHead
	if !idempotent {
		return c.do(ctx, r, false)
	}
	return c.shared(ctx, r)
}

// flight is one upstream request shared by every concurrent identical caller. It runs
// detached from any one caller's cancellation and is cancelled when the last waiter leaves.
type flight struct {
	done    chan struct{}
	resp    *Response
	err     error
	waiters int
	cancel  context.CancelFunc
}

func (c *Client) shared(ctx context.Context, r Request) (*Response, error) {
	key := r.Method + " " + r.URL + "\x00" + string(r.Body)
	c.mu.Lock()
	f, joined := c.flights[key]
	if !joined {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		c.flights[key] = f
		go func() {
			f.resp, f.err = c.do(fctx, r, true)
			c.mu.Lock()
			delete(c.flights, key)
			c.mu.Unlock()
			cancel()
			close(f.done)
		}()
	} else {
		c.coalesced++
	}
	f.waiters++
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.resp, f.err
	case <-ctx.Done():
		c.mu.Lock()
		if f.waiters--; f.waiters == 0 {
			f.cancel()
		}
		c.mu.Unlock()
		return nil, c.spec.Errorf(r.Op, upstreams.ErrUnavailable, ctx.Err(), "cancelled")
	}
}

// do sends r with the retry budget.
func (c *Client) do(ctx context.Context, r Request, idempotent bool) (*Response, error) {
	attempts := 1
	if idempotent {
		attempts += c.cfg.Retries
	}
	var lastErr error
	var resp *Response
	for i := 0; i < attempts; i++ {
		if i > 0 {
			wait := fullJitter(c.cfg.BackoffBase, i)
			if ra := retryAfter(resp); ra > 0 {
				wait = min(ra, c.cfg.MaxRetryWait)
			}
			if err := sleep(ctx, wait); err != nil {
				return nil, c.spec.Errorf(r.Op, upstreams.ErrUnavailable, err, "cancelled while retrying")
			}
		}
		resp, lastErr = c.once(ctx, r)
		if lastErr == nil {
			if resp.Status < 300 {
				return resp, nil
			}
			lastErr = c.statusError(r.Op, resp)
			if !retryableStatus(resp.Status) {
				return resp, lastErr
			}
			continue
		}
		if ctx.Err() != nil {
			break
		}
	}
	return resp, lastErr
}

func (c *Client) once(ctx context.Context, r Request) (resp *Response, err error) {
	if !c.allow() {
		return nil, c.spec.Errorf(r.Op, upstreams.ErrUnavailable, nil, "circuit open after repeated failures; retrying later")
	}
	parent := ctx
	defer func() {
		// A caller giving up says nothing about the source's health.
		c.record(err == nil && resp.Status < 500, parent.Err() != nil)
	}()
	if c.limiter != nil {
		if err := c.limiter.wait(ctx); err != nil {
			return nil, c.spec.Errorf(r.Op, upstreams.ErrUnavailable, err, "cancelled while rate limited")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return nil, c.spec.Errorf(r.Op, upstreams.ErrBadArgument, err, "building request")
	}
	for k, vs := range r.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if r.Build != nil {
		if err := r.Build(req); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.requests++
	c.mu.Unlock()
	hr, err := c.http.Do(req)
	if err != nil {
		// The url.Error may carry the URL with credentials in the query: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, c.spec.Errorf(r.Op, upstreams.ErrUnavailable, err, "request failed: "+err.Error())
	}
	defer hr.Body.Close()
	b, err := io.ReadAll(io.LimitReader(hr.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, c.spec.Errorf(r.Op, upstreams.ErrUnavailable, err, "reading response body")
	}
	if int64(len(b)) > c.cfg.MaxBodyBytes {
		return nil, c.spec.Errorf(r.Op, upstreams.ErrBadResponse, nil, fmt.Sprintf("response larger than %d bytes", c.cfg.MaxBodyBytes))
	}
	return &Response{Status: hr.StatusCode, Header: hr.Header, Body: b}, nil
}

func (c *Client) statusError(op string, resp *Response) error {
	detail := "HTTP " + strconv.Itoa(resp.Status)
	var kind error
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		kind = upstreams.ErrUnauthorized
	case resp.Status == http.StatusNotFound:
		kind = upstreams.ErrNotFound
	case resp.Status == http.StatusTooManyRequests:
		kind = upstreams.ErrRateLimited
	case resp.Status >= 500:
		kind = upstreams.ErrUnavailable
	case resp.Status == http.StatusBadRequest || resp.Status == http.StatusUnprocessableEntity:
		kind = upstreams.ErrBadArgument
	default:
		kind = upstreams.ErrUpstreamStatus
	}
	return c.spec.Errorf(op, kind, nil, detail)
}

func retryableStatus(s int) bool {
	return s == http.StatusTooManyRequests || s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout || s == http.StatusInternalServerError
}

func retryAfter(r *Response) time.Duration {
	if r == nil {
		return 0
	}
	v := r.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// fullJitter is AWS's "full jitter": uniform in [0, base*2^attempt).
func fullJitter(base time.Duration, attempt int) time.Duration {
	ceiling := base << min(attempt, 10)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// limiter is a token bucket.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	if burst < 1 {
		burst = 1
	}
	return &limiter{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
		if l.tokens >= 1 {
			l.tokens--
			l.mu.Unlock()
			return nil
		}
		need := time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
		l.mu.Unlock()
		if err := sleep(ctx, need); err != nil {
			return err
		}
	}
}

// Backoff returns the wait before reconnect attempt n (0-based) for streams: exponential
// from base up to max, with full jitter.
func Backoff(base, max time.Duration, attempt int) time.Duration {
	d := base << min(attempt, 16)
	if d <= 0 || d > max {
		d = max
	}
	return time.Duration(rand.Int64N(int64(d)/2+1)) + d/2
}

// Breaker states.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// breaker is a consecutive-failure circuit breaker; guarded by Client.mu.
type breaker struct {
	failures  int
	openUntil time.Time
	probing   bool
}

func (c *Client) allow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &c.breaker
	if b.failures < c.cfg.BreakerThreshold {
		return true
	}
	if time.Now().Before(b.openUntil) || b.probing {
		return false
	}
	b.probing = true // half-open: this one request decides
	return true
}

func (c *Client) record(ok, cancelled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &c.breaker
	b.probing = false
	if cancelled {
		return
	}
	if ok {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= c.cfg.BreakerThreshold {
		b.openUntil = time.Now().Add(c.cfg.BreakerCooldown)
	}
}

// BreakerState reports BreakerClosed, BreakerHalfOpen or BreakerOpen.
func (c *Client) BreakerState() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &c.breaker
	switch {
	case b.failures < c.cfg.BreakerThreshold:
		return BreakerClosed
	case time.Now().Before(b.openUntil):
		return BreakerOpen
	default:
		return BreakerHalfOpen
	}
}
