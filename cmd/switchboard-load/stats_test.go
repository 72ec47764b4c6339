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

func TestLastDeliveryKeepsSlowestPerEvent(t *testing.T) {
	l := newLastDelivery()
	for seq := uint64(1); seq <= 100; seq++ { // three subscribers, in different shards
		l.record(0, seq, time.Millisecond)
		l.record(1, seq, time.Duration(seq)*time.Millisecond)
		l.record(66, seq, 0)
	}
	h := l.histogram()
	if h.count.Load() != 100 || h.quantile(1) != 100*time.Millisecond {
		t.Fatalf("per-event maxima: n=%d max=%v", h.count.Load(), h.quantile(1))
	}
	if p50 := h.quantile(0.5); p50 < 50*time.Millisecond || p50 > 53*time.Millisecond {
		t.Fatalf("p50 = %v", p50)
	}
}

func TestScan(t *testing.T) {
	msg := []byte(`{"id":"1","type":"next","payload":{"data":{"agentUpdates":{"seq":"1777","kind":"UPSERT","at":"2026-01-02T03:04:05.123456789Z"}}}}`)
	if got := string(field(msg, "kind")); got != "UPSERT" {
		t.Fatalf("kind = %q", got)
	}
	if got := string(field(msg, "seq")); got != "1777" {
		t.Fatalf("seq = %q", got)
	}
	if got := string(field(msg, "missing")); got != "" {
		t.Fatalf("missing = %q", got)
	}
}
