package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/auth"
)

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

const cliConfig = `
auth:
  issuer: me
  audience: switchboard
  hsSecret: {env: CLI_TEST_HS}
tenants:
  - id: acme
    sources:
      - id: acme-ccai
        vendor: ccai
        url: http://127.0.0.1:1
        secrets: {key: {env: CLI_TEST_KEY}, secret: {env: CLI_TEST_SECRET}}
`

func TestCLICommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(cliConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("s", 40)
	t.Setenv("CLI_TEST_HS", secret)
	t.Setenv("CLI_TEST_KEY", "k")

	out, _, err := runCLI(t, "schema")
	if err != nil || !strings.Contains(out, "type Query") || !strings.Contains(out, "callEvents") {
		t.Fatalf("schema: %v %.200s", err, out)
	}
	committed, err := os.ReadFile("../../schema.graphql")
	if err != nil || string(committed) != out {
		t.Fatal("schema.graphql is not the output of `switchboard schema`")
	}
	if out, _, err := runCLI(t, "version"); err != nil || !strings.HasPrefix(out, "switchboard ") {
		t.Fatalf("version: %q %v", out, err)
	}

	if _, _, err := runCLI(t, "check-config", "--config", cfg); err == nil || !strings.Contains(err.Error(), "CLI_TEST_SECRET") {
		t.Fatalf("check-config with a missing secret: %v", err)
	}
	t.Setenv("CLI_TEST_SECRET", "v")
	if out, _, err := runCLI(t, "check-config", "--config", cfg); err != nil || !strings.Contains(out, "1 tenants, 1 sources") {
		t.Fatalf("check-config: %q %v", out, err)
	}

	out, _, err = runCLI(t, "token", "--config", cfg, "--tenant", "acme", "--scopes", "calls:read,pii:read", "--ttl", "5m")
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{HSSecret: []byte(secret), Issuer: "me", Audience: "switchboard"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), strings.TrimSpace(out))
	if err != nil || p.Tenant != "acme" || !p.Has("pii:read") || p.Has("raw:read") || time.Until(p.ExpiresAt) > 6*time.Minute {
		t.Fatalf("minted token: %+v %v", p, err)
	}
	if _, _, err := runCLI(t, "token", "--config", cfg, "--tenant", "nobody"); err == nil {
		t.Fatal("minted a token for an unknown tenant")
	}
	if _, _, err := runCLI(t, "frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// TestSSESubscription: subscriptions also work over server-sent events.
func TestSSESubscription(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("telavox"), demoOptions{center: busyCenter})
	body, _ := json.Marshal(map[string]any{"query": "subscription { callEvents { seq kind call { id } } }"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+g.tokens["telavox"].Full)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"callEvents"`) {
			return
		}
	}
	t.Fatalf("no callEvents event over SSE: %v", sc.Err())
}
