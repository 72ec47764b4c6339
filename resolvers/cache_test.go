package resolvers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheCoalescesAndExpires(t *testing.T) {
	now := time.Unix(0, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := NewCache(2*time.Second, clock)
	var calls atomic.Int32
	release := make(chan struct{})
	load := func(context.Context) (int, error) {
		calls.Add(1)
		<-release
		return 42, nil
	}
	var wg sync.WaitGroup
	results := make([]int, 200)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := cached(context.Background(), c, "t\x00s\x00id\x00queues\x00", load)
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}()
	}
	// Let every caller join the one flight before it finishes.
	for c.misses.Load()+c.hits.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d loads for 200 concurrent identical reads, want 1", n)
	}
	for _, v := range results {
		if v != 42 {
			t.Fatalf("result %d", v)
		}
	}
	if _, err := cached(context.Background(), c, "t\x00s\x00id\x00queues\x00", load); err != nil || calls.Load() != 1 {
		t.Fatalf("fresh entry not served from cache: %d loads", calls.Load())
	}
	mu.Lock()
	now = now.Add(3 * time.Second)
	mu.Unlock()
	if _, err := cached(context.Background(), c, "t\x00s\x00id\x00queues\x00", load); err != nil || calls.Load() != 2 {
		t.Fatalf("expired entry reused: %d loads", calls.Load())
	}
}

func TestCacheDoesNotKeepErrorsOrCrossKeys(t *testing.T) {
	c := NewCache(time.Minute, nil)
	boom := errors.New("boom")
	n := 0
	fail := func(context.Context) (string, error) { n++; return "", boom }
	for range 2 {
		if _, err := cached(context.Background(), c, "a", fail); !errors.Is(err, boom) {
			t.Fatalf("error %v", err)
		}
	}
	if n != 2 {
		t.Fatalf("error was cached: %d loads", n)
	}
	a, _ := cached(context.Background(), c, cacheKey(&Source{Identity: "x"}, "q", ""), func(context.Context) (string, error) { return "tenant A", nil })
	b, _ := cached(context.Background(), c, cacheKey(&Source{Identity: "y"}, "q", ""), func(context.Context) (string, error) { return "tenant B", nil })
	if a == b {
		t.Fatal("different identities shared an entry")
	}
}
