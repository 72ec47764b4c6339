package resolvers

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache holds slow-moving answers (queue figures, agent lists, timeseries) for a short TTL
// and coalesces identical concurrent reads into one upstream call. Keys always start with
// the tenant, source and credentials identity, so no entry can serve another tenant.
type Cache struct {
	ttl     time.Duration
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]cacheEntry
	flight  singleflight.Group
	hits    atomic.Uint64
	misses  atomic.Uint64
}

type cacheEntry struct {
	value   any
	expires time.Time
}

// maxCacheEntries bounds memory; beyond it expired entries are swept, then all.
const maxCacheEntries = 10000

// NewCache returns a cache; ttl <= 0 disables storing (reads are still coalesced).
func NewCache(ttl time.Duration, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{ttl: ttl, now: now, entries: map[string]cacheEntry{}}
}

// Stats returns hits and misses so far.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

func cacheKey(s *Source, op string, args string) string {
	return s.Spec.Tenant + "\x00" + s.Spec.ID + "\x00" + s.Identity + "\x00" + op + "\x00" + args
}

// cached returns the stored value for key or computes it once for all concurrent callers.
func cached[T any](ctx context.Context, c *Cache, key string, load func(context.Context) (T, error)) (T, error) {
	if c == nil {
		return load(ctx)
	}
	if v, ok := c.get(key); ok {
		c.hits.Add(1)
		return v.(T), nil
	}
	c.misses.Add(1)
	ch := c.flight.DoChan(key, func() (any, error) {
		// A caller that missed just before another flight stored the value finds it here.
		if v, ok := c.get(key); ok {
			return v, nil
		}
		v, err := load(context.WithoutCancel(ctx))
		if err == nil {
			c.put(key, v)
		}
		return v, err
	})
	select {
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			var zero T
			return zero, res.Err
		}
		return res.Val.(T), nil
	}
}

func (c *Cache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || c.now().After(e.expires) {
		return nil, false
	}
	return e.value, true
}

func (c *Cache) put(key string, v any) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= maxCacheEntries {
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCacheEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = cacheEntry{value: v, expires: now.Add(c.ttl)}
}
