package upstreamstest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSinkRecordsInOrderAndKeepsState(t *testing.T) {
	s := &upstreamstest.Sink{}
	s.SetHealth(model.HealthStatusConnecting, "")
	s.Reset([]upstreams.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}})
	s.Upsert("c", 3)
	s.Remove("a")
	s.SetHealth(model.HealthStatusLive, "ok")
	if st := s.State(); len(st) != 2 || st["b"] != 2 || st["c"] != 3 || s.Get("a") != nil {
		t.Errorf("state %v", st)
	}
	if st, reason := s.Health(); st != model.HealthStatusLive || reason != "ok" {
		t.Errorf("health %s %q", st, reason)
	}
	if n := len(s.Events()); n != 5 {
		t.Errorf("%d events, want 5", n)
	}
	b, err := json.Marshal(s.Changes())
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"Op":"reset","Items":[{"Key":"a","Value":1},{"Key":"b","Value":2}]},{"Op":"upsert","Key":"c","Value":3},{"Op":"remove","Key":"a"}]`
	if string(b) != want {
		t.Errorf("changes %s, want %s", b, want)
	}
	s.Reset(nil)
	if s.Count(upstreamstest.OpReset) != 2 || len(s.State()) != 0 {
		t.Errorf("after a second reset: %d resets, state %v", s.Count(upstreamstest.OpReset), s.State())
	}
}

func get(t *testing.T, s *upstreamstest.Server) (int, string) {
	t.Helper()
	resp, err := s.Client().Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerFaults(t *testing.T) {
	s := upstreamstest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"ok":true}`) }))
	s.FailWith(http.StatusBadGateway)
	get(t, s)
	if code, _ := get(t, s); code != http.StatusBadGateway || s.Faulted() != 2 {
		t.Errorf("failing: %d after %d faults", code, s.Faulted())
	}
	s.Rewrite(func(_ *http.Request, rec *httptest.ResponseRecorder) { rec.Body.Truncate(3) })
	if code, body := get(t, s); code != http.StatusOK || body != `{"o` {
		t.Errorf("rewritten: %d %q", code, body)
	}
	s.Heal()
	if code, body := get(t, s); code != http.StatusOK || body != `{"ok":true}` {
		t.Errorf("healed: %d %q", code, body)
	}
}

// A hijacked connection, as a WebSocket holds, is dropped too.
func TestServerDropsHijackedStreams(t *testing.T) {
	release := make(chan struct{})
	s := upstreamstest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		<-release
	}))
	defer close(release)
	req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || s.OpenStreams() != 1 {
		t.Fatalf("status %d, %d open streams", resp.StatusCode, s.OpenStreams())
	}
	read := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 1))
		read <- err
	}()
	s.DropConnections()
	select {
	case err := <-read:
		if !errors.Is(err, io.EOF) {
			t.Errorf("read after the drop: %v, want EOF", err)
		}
	case <-time.After(upstreamstest.Deadline):
		t.Error("the hijacked connection survived the drop")
	}
}
