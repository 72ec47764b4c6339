package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRecordingsStreamThroughTheGateway: a Sobot recording is exposed as a gateway URL that
// streams the audio, fetched with the source's own token, to a caller holding pii:read only.
func TestRecordingsStreamThroughTheGateway(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("sobot"), demoOptions{})
	center := g.demo.bySource["sobot/sobot"].center
	to := center.Now().Add(-time.Hour)
	var page struct {
		Calls struct {
			Edges []struct {
				Node struct {
					ID           string
					RecordingURL *string `json:"recordingUrl"`
				}
			}
		}
	}
	g.mustData(t, g.tokens["sobot"].Full, `query($from: DateTime!, $to: DateTime!) { calls(filter: {range: {from: $from, to: $to}}, first: 100) { edges { node { id recordingUrl } } } }`,
		map[string]any{"from": to.Add(-3 * time.Hour), "to": to}, &page)
	var path string
	for _, e := range page.Calls.Edges {
		if e.Node.RecordingURL != nil {
			path = *e.Node.RecordingURL
			break
		}
	}
	if !strings.HasPrefix(path, "/recordings/") {
		t.Fatalf("recordingUrl %q is not a gateway URL", path)
	}
	get := func(token string) (int, string, []byte) {
		req, _ := http.NewRequest(http.MethodGet, g.srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	status, ct, body := get(g.tokens["sobot"].Full)
	if status != http.StatusOK || !strings.HasPrefix(ct, "audio/") || len(body) == 0 {
		t.Fatalf("full token: %d %q %d bytes", status, ct, len(body))
	}
	if status, _, _ := get(g.tokens["sobot"].Basic); status != http.StatusForbidden {
		t.Fatalf("basic token (no pii:read): %d, want 403", status)
	}
	if status, _, _ := get(""); status != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", status)
	}
	if status, _, _ := get(g.tokens["acme"].Full); status != http.StatusNotFound {
		t.Fatalf("another tenant: %d, want 404", status)
	}
	for _, secret := range g.demo.secrets {
		if strings.Contains(string(body), secret) {
			t.Fatal("the recording response carries a secret")
		}
	}
}
