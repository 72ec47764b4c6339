package main

import (
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/resolvers"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// TestExampleConfigBuilds keeps config/example.yaml valid: it parses and every source's
// driver builds (drivers do not contact vendors when built).
func TestExampleConfigBuilds(t *testing.T) {
	text, err := os.ReadFile("../../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(string) (string, bool) { return "0123456789abcdef0123456789abcdef-example", true }
	cfg, err := config.Parse(text, lookup)
	if err != nil {
		t.Fatal(err)
	}
	// File secrets are placeholders here; read every secret through env instead.
	envRe := regexp.MustCompile(`[^A-Za-z0-9]`)
	for i := range cfg.Tenants {
		for j := range cfg.Tenants[i].Sources {
			for name, ref := range cfg.Tenants[i].Sources[j].Secrets {
				if ref.File != "" {
					cfg.Tenants[i].Sources[j].Secrets[name] = config.SecretRef{Env: envRe.ReplaceAllString(ref.File, "_")}
				}
			}
		}
	}
	tenants, err := resolvers.BuildTenants(context.Background(), cfg, newRegistry(), func(upstreams.SourceSpec) upstreams.Deps { return upstreams.Deps{} }, lookup)
	if err != nil {
		t.Fatal(err)
	}
	defer tenants.Close()
	if n := len(tenants.All()); n != 5 {
		t.Fatalf("%d sources built, want 5", n)
	}
}
