package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/config"
)

func aliasQuery(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d: viewer { tenant }", i)
	}
	return b.String() + " }"
}

// TestReloadAppliesLimitsAndKeepsSubscriptions: a reload with a changed limit takes effect
// at once, an open subscription on an unchanged source keeps receiving on the same upstream
// stream, and a broken configuration is refused with the running one kept.
func TestReloadAppliesLimitsAndKeepsSubscriptions(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox", "tvox"), demoOptions{center: busyCenter})
	tok := g.tokens["telavox"].Full
	ws := g.dialWS(t, tok)
	ws.subscribe("1", `subscription { callEvents { seq } }`)
	if m := ws.read(30 * time.Second); m["type"] != "next" {
		t.Fatalf("subscription: %v", m)
	}
	if r := g.query(t, tok, aliasQuery(40), nil); len(r.codes()) == 0 || r.codes()[0] != "ALIAS_LIMIT_EXCEEDED" {
		t.Fatalf("before reload: %v", r.codes())
	}

	old := g.gw.current()
	next := *old.cfg
	next.Limits.MaxAliases = 50
	next.Tenants = append([]config.Tenant(nil), old.cfg.Tenants...)
	for i, tc := range next.Tenants {
		if tc.ID == "tvox" { // a changed source elsewhere must not disturb telavox
			srcs := append([]config.Source(nil), tc.Sources...)
			srcs[0].Name = "Renamed"
			next.Tenants[i].Sources = srcs
		}
	}
	if err := g.gw.reload(context.Background(), &next); err != nil {
		t.Fatal(err)
	}
	if r := g.query(t, tok, aliasQuery(40), nil); len(r.Errors) != 0 {
		t.Fatalf("after reload the new limit does not apply: %+v", r.Errors)
	}
	if m := ws.read(30 * time.Second); m["type"] != "next" {
		t.Fatalf("subscription after reload: %v", m)
	}
	for _, s := range readyStreams(t, g) {
		if s.Tenant == "telavox" && s.Topic == "calls" && (s.Connects != 1 || s.Subscribers != 1) {
			t.Fatalf("telavox stream was disturbed: %+v", s)
		}
	}
	telavoxOld, _ := old.tenants.Get("telavox")
	telavoxNew, _ := g.gw.current().tenants.Get("telavox")
	if telavoxOld.Sources[0] != telavoxNew.Sources[0] {
		t.Fatal("unchanged telavox source got a new driver")
	}
	tvoxOld, _ := old.tenants.Get("tvox")
	tvoxNew, _ := g.gw.current().tenants.Get("tvox")
	if tvoxOld.Sources[0] == tvoxNew.Sources[0] {
		t.Fatal("changed tvox source kept its old driver")
	}

	broken := next
	broken.Tenants = append([]config.Tenant{{ID: "x", Sources: []config.Source{{ID: "s", Vendor: "nonesuch", URL: "http://127.0.0.1:1"}}}}, next.Tenants...)
	if err := g.gw.reload(context.Background(), &broken); err == nil {
		t.Fatal("a configuration with an unknown vendor was accepted")
	}
	if g.gw.current().cfg.Limits.MaxAliases != 50 {
		t.Fatal("the running configuration was not kept")
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("limits: {maxAliases: [}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.gw.reloadFile(context.Background(), bad); err == nil {
		t.Fatal("a broken file was accepted")
	}
	if r := g.query(t, tok, aliasQuery(40), nil); len(r.Errors) != 0 {
		t.Fatalf("running configuration lost after refused reloads: %+v", r.Errors)
	}
}
