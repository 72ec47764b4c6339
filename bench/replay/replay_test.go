package replay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestIgnoringFieldsCachesAcrossRanges(t *testing.T) {
	var calls int
	sim := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		_, _ = io.WriteString(w, "answer")
	})
	now := time.Unix(1000, 0)
	h := New(sim, IgnoringFields("/search", "startTime", "endTime"), time.Second, func() time.Time { return now })
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(path, body string) string {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post("/search", `{"startTime":1,"endTime":2,"pageNum":1}`)
	if got := post("/search", `{"pageNum":1, "endTime":4,"startTime":3}`); got != "answer" || calls != 1 {
		t.Errorf("same search, other range: %q after %d simulator calls, want a cache hit", got, calls)
	}
	post("/search", `{"startTime":1,"endTime":2,"pageNum":2}`)
	post("/other", `{"pageNum":1}`)
	if calls != 3 {
		t.Errorf("%d simulator calls, want 3 (another page and another path are not hits)", calls)
	}
	now = now.Add(2 * time.Second)
	post("/search", `{"startTime":1,"endTime":2,"pageNum":1}`)
	if hits, misses := h.Stats(); calls != 4 || hits != 1 || misses != 3 {
		t.Errorf("after the TTL: %d simulator calls, %d hits, %d misses; want 4, 1, 3", calls, hits, misses)
	}
}
