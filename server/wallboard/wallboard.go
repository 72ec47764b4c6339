// Package wallboard serves the live wallboard: one static page (HTML, CSS and plain
// JavaScript, no build step, nothing fetched from elsewhere) that signs in with a token,
// queries queues and agents from /graphql on the same origin, follows queueUpdates and
// agentUpdates over graphql-transport-ws, and shows calls waiting, longest wait, service
// level against warn/alert thresholds, agents by state and each agent's time in state.
//
// The gateway mounts it with
//
//	srv.Handle("GET /wallboard", wallboard.Handler(wallboard.Options{DemoTokens: tokens}))
//
// A kiosk screen can open /wallboard#token=<JWT>; the fragment never reaches the server.
// ?warn=80&alert=60 set the service-level thresholds in percent.
package wallboard

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

//go:embed wallboard.html
var page string

const demoTokensMarker = "{{DEMO_TOKENS}}"

// Options configure the wallboard page.
type Options struct {
	// DemoTokens maps a tenant to a ready token; the sign-in form offers them in a dropdown.
	// Nil in production, where the page must never carry credentials.
	DemoTokens map[string]string
}

// Handler serves the wallboard page at whatever path it is mounted on (GET and HEAD).
func Handler(opts Options) http.Handler {
	// Marshalling a map[string]string cannot fail; the encoder escapes <, > and & so a
	// token cannot close the <script> element it is written into.
	tokens, _ := json.Marshal(opts.DemoTokens)
	body := []byte(strings.Replace(page, demoTokensMarker, string(tokens), 1))
	csp := "default-src 'none'; script-src " + scriptHashes(page) +
		"; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store") // demo tokens are in the page
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(body)
	})
}

// scriptHashes lists the CSP hashes of the page's executable inline scripts, so the page
// runs nothing but its own code even if some text ever ends up in its markup.
func scriptHashes(html string) string {
	var out []string
	for rest := html; ; {
		i := strings.Index(rest, "<script>")
		if i < 0 {
			break
		}
		rest = rest[i+len("<script>"):]
		j := strings.Index(rest, "</script>")
		if j < 0 {
			break
		}
		sum := sha256.Sum256([]byte(rest[:j]))
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		rest = rest[j:]
	}
	if len(out) == 0 {
		return "'none'"
	}
	return strings.Join(out, " ")
}
