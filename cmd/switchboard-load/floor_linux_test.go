package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// --floor runs the whole measurement without a gateway: its writer's events reach every
// subscriber through the receive loops, and the report says so (events in flight when the
// window opened are counted but not timed).
func TestFloorFansOutToEverySubscriber(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, []string{"--floor", "200", "--subscribers", "20", "--connect-rate", "2000", "--duration", "1s", "--settle", "0s"}, &out); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	m := regexp.MustCompile(`(\d+) events received .*, (\d+) deltas timed, (\d+) subscriptions ended early`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("report: %s", report)
	}
	events, _ := strconv.Atoi(m[1])
	deltas, _ := strconv.Atoi(m[2])
	if events < 20 || deltas < 20 || deltas > events || m[3] != "0" || !strings.Contains(report, "connected 20/20") {
		t.Fatalf("report: %s", report)
	}
	if !strings.Contains(report, "last subscriber per event:  p50") {
		t.Fatalf("no per-event latency: %s", report)
	}
}
