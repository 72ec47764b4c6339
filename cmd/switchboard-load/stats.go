package main

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// growth is the ratio between histogram bucket bounds: each figure is reported within 5%.
const growth = 1.05

// histogram counts durations in log-spaced buckets from 1µs to about 17 minutes; it is safe
// for concurrent use without locks, so thousands of readers can record into one.
type histogram struct {
	buckets [430]atomic.Int64
	count   atomic.Int64
	max     atomic.Int64 // nanoseconds
}

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return min(int(math.Log(us)/math.Log(growth))+1, 429)
}

// upperBound is the largest duration bucket i holds.
func upperBound(i int) time.Duration {
	return time.Duration(math.Pow(growth, float64(i)) * float64(time.Microsecond))
}

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.buckets[bucketOf(d)].Add(1)
	h.count.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile returns the upper bound of the bucket holding the q-th fraction of the samples,
// capped by the largest sample; 0 without samples.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= max(rank, 1) {
			return min(upperBound(i), time.Duration(h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

func (h *histogram) String() string {
	if h.count.Load() == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v  (n=%d)", round(h.quantile(0.50)), round(h.quantile(0.90)),
		round(h.quantile(0.99)), round(time.Duration(h.max.Load())), h.count.Load())
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// lastDelivery keeps, per event, the latency of the subscriber that received it last: the
// figure the gateway's fan-out is judged by. Sharded by subscriber, not by event: every
// subscriber records the same event at about the same moment, and one lock per event would
// serialize ten thousand readers; the shards are merged at the end.
type lastDelivery struct {
	shards [64]struct {
		mu  sync.Mutex
		max map[uint64]time.Duration
	}
}

func newLastDelivery() *lastDelivery {
	l := &lastDelivery{}
	for i := range l.shards {
		l.shards[i].max = map[uint64]time.Duration{}
	}
	return l
}

// record notes that subscriber got event seq after d.
func (l *lastDelivery) record(subscriber int, seq uint64, d time.Duration) {
	s := &l.shards[subscriber%len(l.shards)]
	s.mu.Lock()
	if old, ok := s.max[seq]; !ok || d > old {
		s.max[seq] = d
	}
	s.mu.Unlock()
}

// histogram returns the per-event maxima as a histogram.
func (l *lastDelivery) histogram() *histogram {
	all := map[uint64]time.Duration{}
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for seq, d := range s.max {
			if old, ok := all[seq]; !ok || d > old {
				all[seq] = d
			}
		}
		s.mu.Unlock()
	}
	h := &histogram{}
	for _, d := range all {
		h.record(d)
	}
	return h
}
