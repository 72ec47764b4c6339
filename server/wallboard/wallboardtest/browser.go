// Package wallboardtest drives the wallboard page in headless Chromium over the Chrome
// DevTools Protocol (a WebSocket, so no browser-automation dependency), for the wallboard's
// own tests and for end-to-end tests against a real gateway.
package wallboardtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Environment and paths the tests agree on.
const (
	// ChromiumPath is where Debian's chromium package installs the browser.
	ChromiumPath = "/usr/bin/chromium"
	// RequireEnv set to 1 turns a missing Chromium from a skip into a failure (CI).
	RequireEnv = "SWITCHBOARD_REQUIRE_CHROMIUM"
	// ScreenshotEnv names the PNG file a check writes; default a file in the test's temp dir.
	ScreenshotEnv = "SWITCHBOARD_SCREENSHOT"
)

// Browser is one headless Chromium with one page, driven over CDP.
type Browser struct {
	cmd     *exec.Cmd
	dir     string
	conn    *websocket.Conn
	session string
	exited  chan struct{} // closed when the process has been waited for
	readerC chan struct{} // closed when the CDP reader has returned

	mu         sync.Mutex
	nextID     int64
	pending    map[int64]chan reply
	exceptions []string
	closed     bool
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// RequireBrowser starts Chromium for a test and closes it when the test ends. Without
// Chromium the test is skipped, or fails when RequireEnv is 1.
func RequireBrowser(t testing.TB) *Browser {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("chromium is required (%s=1): %v", RequireEnv, err)
		}
		t.Skipf("chromium not installed (%v); apt-get install chromium to run this test", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Launch(ctx, ChromiumPath)
	if err != nil {
		t.Fatalf("launching chromium: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Logf("closing chromium: %v", err)
		}
	})
	return b
}

// ScreenshotPath is ScreenshotEnv's value, or name in a temp dir of the test.
func ScreenshotPath(t testing.TB, name string) string {
	if p := os.Getenv(ScreenshotEnv); p != "" {
		return p
	}
	return filepath.Join(t.TempDir(), name)
}

// Launch starts headless Chromium at path with a fresh profile and opens a blank page.
func Launch(ctx context.Context, path string) (*Browser, error) {
	dir, err := os.MkdirTemp("", "switchboard-chromium-")
	if err != nil {
		return nil, fmt.Errorf("creating profile dir: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "chromium.log"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("creating chromium log: %w", err)
	}
	profile := filepath.Join(dir, "profile")
	cmd := exec.Command(path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--disable-breakpad", "--mute-audio",
		"--hide-scrollbars", "--window-size=1600,1000", "--remote-debugging-port=0",
		"--user-data-dir="+profile, "about:blank")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	b := &Browser{cmd: cmd, dir: dir, exited: make(chan struct{}), readerC: make(chan struct{}), pending: map[int64]chan reply{}}
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(b.exited)
	}()
	if err := b.attach(ctx, profile); err != nil {
		tail := b.logTail()
		_ = b.Close()
		return nil, fmt.Errorf("%w (chromium log: %s)", err, tail)
	}
	return b, nil
}

func (b *Browser) attach(ctx context.Context, profile string) error {
	// Chromium writes the port it chose and the browser target's path into the profile.
	var wsURL string
	for wsURL == "" {
		if data, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) == 2 {
				wsURL = "ws://127.0.0.1:" + lines[0] + lines[1]
				break
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for DevToolsActivePort: %w", ctx.Err())
		case <-b.exited:
			return errors.New("chromium exited before serving DevTools")
		case <-time.After(50 * time.Millisecond):
		}
	}
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		return fmt.Errorf("dialing DevTools: %w", err)
	}
	conn.SetReadLimit(64 << 20) // screenshots arrive as one base64 message
	b.conn = conn
	go b.read()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		return err
	}
	b.session = att.SessionID
	for _, m := range []string{"Runtime.enable", "Page.enable"} {
		if err := b.call(ctx, b.session, m, nil, nil); err != nil {
			return err
		}
	}
	return b.call(ctx, b.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": false}, nil)
}

// read dispatches replies to their callers and keeps the page's uncaught exceptions.
func (b *Browser) read() {
	defer close(b.readerC)
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			b.closed = true
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m struct {
			ID     int64           `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			reply
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		b.mu.Lock()
		if ch, ok := b.pending[m.ID]; ok && m.ID != 0 {
			ch <- m.reply
			delete(b.pending, m.ID)
		}
		if m.Method == "Runtime.exceptionThrown" {
			var p struct {
				Details struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			_ = json.Unmarshal(m.Params, &p)
			b.exceptions = append(b.exceptions, p.Details.Text+" "+p.Details.Exception.Description)
		}
		b.mu.Unlock()
	}
}

func (b *Browser) call(ctx context.Context, session, method string, params, out any) error {
	ch := make(chan reply, 1)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("calling %s: browser connection closed", method)
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", method, err)
	}
	if err := b.conn.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("sending %s: %w", method, err)
	}
	select {
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("calling %s: %w", method, ctx.Err())
	case r, ok := <-ch:
		switch {
		case !ok:
			return fmt.Errorf("calling %s: browser connection closed", method)
		case r.Error != nil:
			return fmt.Errorf("calling %s: %s (%d)", method, r.Error.Message, r.Error.Code)
		case out != nil:
			if err := json.Unmarshal(r.Result, out); err != nil {
				return fmt.Errorf("decoding %s result: %w", method, err)
			}
		}
		return nil
	}
}

// Navigate loads url in the page and waits until the document has loaded.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, b.session, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("navigating to %s: %s", url, res.ErrorText)
	}
	var ok bool
	return b.Poll(ctx, `document.readyState === 'complete' && location.href !== 'about:blank'`, &ok)
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise) and decodes its
// JSON value into out, which may be nil.
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	params := map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}
	if err := b.call(ctx, b.session, "Runtime.evaluate", params, &res); err != nil {
		return err
	}
	if res.Exception != nil {
		return fmt.Errorf("evaluating %q: %s %s", expr, res.Exception.Text, res.Exception.Exception.Description)
	}
	if out == nil || len(res.Result.Value) == 0 {
		return nil
	}
	if err := json.Unmarshal(res.Result.Value, out); err != nil {
		return fmt.Errorf("decoding value of %q: %w", expr, err)
	}
	return nil
}

// Poll evaluates expr every 100 ms until it yields something other than null, undefined,
// false, 0 or "", decodes that into out, and gives up when ctx ends.
func (b *Browser) Poll(ctx context.Context, expr string, out any) error {
	for {
		var v json.RawMessage
		if err := b.Eval(ctx, expr, &v); err != nil {
			return err
		}
		switch s := strings.TrimSpace(string(v)); s {
		case "", "null", "false", "0", `""`:
		default:
			return json.Unmarshal(v, out)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", expr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Screenshot saves the page's viewport as a PNG file.
func (b *Browser) Screenshot(ctx context.Context, path string) error {
	var res struct {
		Data string `json:"data"`
	}
	if err := b.call(ctx, b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		return fmt.Errorf("decoding screenshot: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating screenshot dir: %w", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("writing screenshot: %w", err)
	}
	return nil
}

// Exceptions returns the page's uncaught JavaScript exceptions so far.
func (b *Browser) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}

// Close ends Chromium (gracefully, then by kill), waits for it and removes its profile.
func (b *Browser) Close() error {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = b.call(ctx, "", "Browser.close", nil, nil) // the reply may be lost as the browser goes
		cancel()
	}
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	if b.conn != nil {
		_ = b.conn.CloseNow()
		<-b.readerC
	}
	if err := os.RemoveAll(b.dir); err != nil {
		return fmt.Errorf("removing chromium profile: %w", err)
	}
	return nil
}

func (b *Browser) logTail() string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "chromium.log"))
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}
