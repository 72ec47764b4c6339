package main

import (
	"fmt"
	"math"
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

// merge adds o's samples to h.
func (h *histogram) merge(o *histogram) {
	for i := range o.buckets {
		h.buckets[i].Add(o.buckets[i].Load())
	}
	h.count.Add(o.count.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
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
