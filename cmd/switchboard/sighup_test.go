package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ccaisim "github.com/switchboard-cc/switchboard/upstreams/ccai/sim"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// syncBuffer is a goroutine-safe writer for the command's output.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeReloadsOnSIGHUP runs `switchboard serve`, changes a limit in its file and sends
// SIGHUP: the new limit applies, an open subscription stays open, and a broken file is
// refused with the running configuration kept.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	center := simcc.New(simcc.Config{Seed: 3, HistoryDays: 1})
	sim, src := ccaisim.NewDemo(center)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer sim.Close()
	t.Setenv("SIGHUP_TEST_HS", strings.Repeat("h", 40))
	t.Setenv("SIGHUP_TEST_KEY", src.Secrets["key"])
	t.Setenv("SIGHUP_TEST_SECRET", src.Secrets["secret"])
	path := filepath.Join(t.TempDir(), "config.yaml")
	write := func(aliases string) {
		cfg := fmt.Sprintf(`server: {addr: "127.0.0.1:0"}
limits: {maxAliases: %s}
auth: {hsSecret: {env: SIGHUP_TEST_HS}}
tenants:
  - id: t1
    sources:
      - {id: c1, vendor: ccai, url: %q, secrets: {key: {env: SIGHUP_TEST_KEY}, secret: {env: SIGHUP_TEST_SECRET}}}
`, aliases, simSrv.URL)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("5")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", path}, &out, &errOut) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addr := regexp.MustCompile(`serving on (http://[0-9.:]+)/graphql`)
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("serve did not start: %s %s", out.String(), errOut.String())
	}
	tokOut, _, err := runCLI(t, "token", "--config", path, "--tenant", "t1")
	if err != nil {
		t.Fatal(err)
	}
	g := &testGateway{srv: httptest.NewUnstartedServer(nil)}
	g.srv.URL = base
	tok := strings.TrimSpace(tokOut)
	aliasesOK := func() bool { return len(g.query(t, tok, aliasQuery(8), nil).Errors) == 0 }
	if aliasesOK() {
		t.Fatal("8 aliases accepted under a limit of 5")
	}
	ws := g.dialWS(t, tok)
	ws.subscribe("1", `subscription { sourceHealth { source { id } health { status } } }`)
	if m := ws.read(20 * time.Second); m["type"] != "next" {
		t.Fatalf("subscription: %v", m)
	}

	write("10")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !aliasesOK(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new limit never applied after SIGHUP")
		}
	}
	ws.send(map[string]any{"type": "ping"})
	if m := ws.read(10 * time.Second); m["type"] != "pong" && m["type"] != "next" {
		t.Fatalf("subscription connection after reload: %v", m)
	}

	write("[broken")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(errOut.String()+out.String(), "configuration refused") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !aliasesOK() {
		t.Fatal("the running configuration was lost after a broken file")
	}
}
