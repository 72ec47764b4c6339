package main

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	h := &histogram{}
	if h.quantile(0.5) != 0 || h.String() != "no samples" {
		t.Fatal("empty histogram reports samples")
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	h.record(-time.Second) // a clock step backwards counts as zero
	within := func(got, want time.Duration) bool {
		return got >= want && float64(got) <= float64(want)*growth*1.0001
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.9: 900 * time.Millisecond, 0.99: 990 * time.Millisecond} {
		if got := h.quantile(q); !within(got, want) {
			t.Errorf("quantile(%v) = %v, want %v within 5%%", q, got, want)
		}
	}
	if got := h.quantile(1); got != time.Second {
		t.Errorf("quantile(1) = %v, want the max 1s", got)
	}
	if h.count.Load() != 1001 {
		t.Errorf("count = %d", h.count.Load())
	}
}
