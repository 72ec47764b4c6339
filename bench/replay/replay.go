// Package replay puts a short-lived response cache in front of a vendor simulator, so a load
// benchmark measures the gateway and not the simulator's rendering of a whole day of calls
// on every request. It is benchmark plumbing, never used by the gateway itself.
package replay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// KeyFunc derives the cache key of a request from the request and its body; "" means the
// request is not cached (it always reaches the simulator).
type KeyFunc func(r *http.Request, body []byte) string

// Handler answers repeated requests with the simulator's earlier answer for up to TTL.
type Handler struct {
	next http.Handler
	key  KeyFunc
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]entry
	hits    uint64
	misses  uint64
}

type entry struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

// maxEntries bounds the cache: past it, the whole cache is dropped (benchmarks ask few
// distinct questions, so this only guards against a client that varies its requests).
const maxEntries = 1024

// maxBody bounds a request body read to compute its key.
const maxBody = 1 << 20

// New caches next's 200 answers by key for ttl. now may be nil (time.Now).
func New(next http.Handler, key KeyFunc, ttl time.Duration, now func() time.Time) *Handler {
	if now == nil {
		now = time.Now
	}
	return &Handler{next: next, key: key, ttl: ttl, now: now, entries: map[string]entry{}}
}

// Stats returns the cache hits and misses so far.
func (h *Handler) Stats() (hits, misses uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits, h.misses
}

// ServeHTTP answers from the cache or from the simulator.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	k := ""
	if h.ttl > 0 {
		k = h.key(r, body)
	}
	if k == "" {
		h.next.ServeHTTP(w, r)
		return
	}
	now := h.now()
	h.mu.Lock()
	e, ok := h.entries[k]
	if ok && now.Before(e.expires) {
		h.hits++
		h.mu.Unlock()
		write(w, e)
		return
	}
	h.misses++
	h.mu.Unlock()

	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	e = entry{status: rec.Code, header: rec.Header().Clone(), body: rec.Body.Bytes(), expires: now.Add(h.ttl)}
	if e.status == http.StatusOK {
		h.mu.Lock()
		if len(h.entries) >= maxEntries {
			clear(h.entries)
		}
		h.entries[k] = e
		h.mu.Unlock()
	}
	write(w, e)
}

func write(w http.ResponseWriter, e entry) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}

// Exact keys a request by method, path, query, Authorization header and body: a repeated
// identical request is answered from the cache.
func Exact(r *http.Request, body []byte) string {
	return r.Method + " " + r.URL.RequestURI() + "\x00" + r.Header.Get("Authorization") + "\x00" + string(body)
}

// IgnoringFields keys POSTs to path like Exact but without the named top-level fields of
// the JSON body (for example a time range that moves with the clock); other requests are
// not cached.
func IgnoringFields(path string, fields ...string) KeyFunc {
	return func(r *http.Request, body []byte) string {
		if r.Method != http.MethodPost || r.URL.Path != path {
			return ""
		}
		var doc map[string]json.RawMessage
		if json.Unmarshal(body, &doc) != nil {
			return ""
		}
		for _, f := range fields {
			delete(doc, f)
		}
		b, err := json.Marshal(doc) // map keys sorted: the key does not depend on field order
		if err != nil {
			return ""
		}
		return Exact(r, b)
	}
}
