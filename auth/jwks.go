package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// maxJWKSBytes bounds the JWKS response; real sets are a few kilobytes.
const maxJWKSBytes = 1 << 20

// jwksCache holds the keys of one JWKS URL. Lookups take the read lock only;
// a refresh runs one at a time (sem) and at most once per minRefresh, however
// many unknown kids arrive.
type jwksCache struct {
	url        *url.URL
	client     *http.Client
	ttl        time.Duration
	minRefresh time.Duration
	now        func() time.Time
	logger     *slog.Logger
	sem        chan struct{} // capacity 1: the refresh slot

	mu          sync.RWMutex
	byKID       map[string][]pubKey
	all         []pubKey
	fetchedAt   time.Time // last successful fetch; zero = never loaded
	attemptedAt time.Time // last fetch attempt, for the rate limit
	lastErr     error
	fetches     uint64 // fetch attempts, for metrics
}

func newJWKSCache(u *url.URL, client *http.Client, ttl, minRefresh time.Duration, now func() time.Time, logger *slog.Logger) *jwksCache {
	return &jwksCache{
		url: u, client: client, ttl: ttl, minRefresh: minRefresh, now: now,
		logger: logger.With("jwks_host", u.Host),
		sem:    make(chan struct{}, 1),
	}
}

// defaultHTTPClient refuses redirects to another host or from https to http,
// so that a compromised redirect cannot substitute someone else's keys.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			first := via[0].URL
			switch {
			case len(via) >= 3:
				return errors.New("too many redirects")
			case req.URL.Host != first.Host:
				return errors.New("redirect to another host refused")
			case first.Scheme == "https" && req.URL.Scheme != "https":
				return errors.New("redirect from https to http refused")
			}
			return nil
		},
	}
}

// keys returns the cached keys with the given kid, or all keys when kid is
// "". It refreshes first (rate limited) when the cache is stale or the kid is
// unknown. Stale keys keep serving while the JWKS URL is unreachable; only a
// cache that never loaded reports ErrKeysUnavailable.
func (c *jwksCache) keys(ctx context.Context, kid string) ([]pubKey, error) {
	ks, fresh := c.lookup(kid)
	if len(ks) > 0 && fresh {
		return ks, nil
	}
	// Always through refresh: it waits for a fetch in flight, whose result
	// this caller needs as much as the one that started it.
	if err := c.refresh(ctx); err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("refreshing JWKS: %w", ctx.Err())
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.fetchedAt.IsZero() {
		reason := "not loaded yet"
		if c.lastErr != nil {
			reason = c.lastErr.Error()
		}
		return nil, fmt.Errorf("%s: %w", reason, ErrKeysUnavailable)
	}
	return c.lookupLocked(kid), nil
}

func (c *jwksCache) lookup(kid string) (ks []pubKey, fresh bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fresh = !c.fetchedAt.IsZero() && c.now().Sub(c.fetchedAt) < c.ttl
	return c.lookupLocked(kid), fresh
}

func (c *jwksCache) lookupLocked(kid string) []pubKey {
	if kid == "" {
		return c.all
	}
	return c.byKID[kid]
}

func (c *jwksCache) due() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.attemptedAt.IsZero() || c.now().Sub(c.attemptedAt) >= c.minRefresh
}

// refresh fetches the set unless the rate limit says the last attempt, maybe
// one this caller waited for, is recent enough. The returned error is for the caller's ctx handling only; the
// outcome is recorded in the cache.
func (c *jwksCache) refresh(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	if !c.due() {
		return nil
	}

	c.mu.Lock()
	prevAttempt := c.attemptedAt
	c.attemptedAt = c.now()
	c.fetches++
	c.mu.Unlock()

	keys, err := c.fetch(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the JWKS URL, so
			// the next caller may try at once.
			c.attemptedAt = prevAttempt
			return err
		}
		c.lastErr = err
		c.logger.Warn("JWKS refresh failed; keeping cached keys", "error", err, "cached_keys", len(c.all))
		return err
	}
	c.lastErr = nil
	c.fetchedAt = c.now()
	c.all = keys
	c.byKID = make(map[string][]pubKey, len(keys))
	for _, k := range keys {
		if k.kid != "" {
			c.byKID[k.kid] = append(c.byKID[k.kid], k)
		}
	}
	c.logger.Info("JWKS refreshed", "keys", len(keys))
	return nil
}

func (c *jwksCache) fetch(ctx context.Context) ([]pubKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("building JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may carry credentials in its query.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("fetching JWKS from %s: %w", c.url.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBytes))
		return nil, fmt.Errorf("fetching JWKS from %s: HTTP status %d", c.url.Host, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading JWKS from %s: %w", c.url.Host, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("reading JWKS from %s: larger than %d bytes", c.url.Host, maxJWKSBytes)
	}
	keys, skipped, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("parsing JWKS from %s: %w", c.url.Host, err)
	}
	for _, s := range skipped {
		c.logger.Debug("JWKS key skipped", "reason", s)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("parsing JWKS from %s: no usable signing key (%d skipped)", c.url.Host, len(skipped))
	}
	return keys, nil
}
