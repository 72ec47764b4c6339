package main

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/server/wallboard/wallboardtest"
)

// TestWallboardShowsEveryVendorLive opens /wallboard in headless Chromium as acme (one
// source of every vendor) and checks that the numbers on screen change as the centers run.
// It skips without /usr/bin/chromium unless SWITCHBOARD_REQUIRE_CHROMIUM=1 (CI sets it).
func TestWallboardShowsEveryVendorLive(t *testing.T) {
	b := wallboardtest.RequireBrowser(t)
	g := startTestGateway(t, demoVendors(), demoOptions{center: busyCenter})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := wallboardtest.Check{
		URL: g.srv.URL + "/wallboard", Token: g.tokens["acme"].Full,
		Screenshot: wallboardtest.ScreenshotPath(t, "wallboard-acme.png"), Timeout: 90 * time.Second,
	}.Run(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Queues == 0 || res.Agents == 0 {
		t.Fatalf("wallboard shows %d queues and %d agents", res.Queues, res.Agents)
	}
	if len(res.Vendors) < 4 {
		t.Fatalf("vendors on screen: %v", res.Vendors)
	}
	if maps.Equal(res.Before, res.After) {
		t.Fatal("no figure changed on screen")
	}
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Fatalf("page exceptions: %v", ex)
	}
}
