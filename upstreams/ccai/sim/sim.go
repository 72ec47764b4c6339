// Package sim simulates the CCAI Platform calls endpoint (GET /manager/api/v1/calls) over
// the shared synthetic contact center: HTTP Basic auth, every documented filter, page/per
// paging with Link and total/per-page headers, a per-customer rate limit answered with 429
// and Retry-After, and JSON error bodies. The vendor has no push: every request renders
// the center as of its clock, and updated_at moves as calls progress.
package sim

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// Path is the endpoint the simulator serves.
const Path = "/manager/api/v1/calls"

// Config tunes the simulator. Zero values take the defaults in brackets.
type Config struct {
	Key, Secret string  // Basic credentials [ccai-key / ccai-secret]
	RatePerSec  float64 // requests per second before 429 [10]
	Burst       int     // requests allowed at once [the rate, rounded up]
	DefaultPer  int     // page size when per is absent [25]
}

// RequestRecord is one request as the simulator saw it.
type RequestRecord struct {
	Method string
	Path   string
	Query  url.Values
	Status int
}

// Server is the simulated endpoint; it is an http.Handler.
type Server struct {
	center *simcc.Center
	cfg    Config
	dir    *directory

	mu     sync.Mutex
	reqLog simcc.RequestLog[RequestRecord]
	tokens float64
	last   time.Time
	// The center is a pure function of its clock, so one rendering serves every request
	// until the clock moves.
	cacheAt time.Time
	cache   []*rendered
}

// New builds a simulator for center.
func New(center *simcc.Center, cfg Config) *Server {
	if cfg.Key == "" {
		cfg.Key = "ccai-key"
	}
	if cfg.Secret == "" {
		cfg.Secret = "ccai-secret"
	}
	if cfg.RatePerSec <= 0 {
		cfg.RatePerSec = 10
	}
	if cfg.Burst <= 0 {
		cfg.Burst = int(math.Ceil(cfg.RatePerSec))
	}
	if cfg.DefaultPer <= 0 {
		cfg.DefaultPer = 25
	}
	return &Server{center: center, cfg: cfg, dir: newDirectory(center), tokens: float64(cfg.Burst), last: time.Now()}
}

// NewDemo is a simulator with demo credentials and the source settings to reach it.
func NewDemo(center *simcc.Center) (*Server, upstreams.SimSource) {
	s := New(center, Config{Key: "demo-ccai-key", Secret: "demo-ccai-secret"})
	return s, upstreams.SimSource{
		Options: map[string]any{"pollInterval": "2s"},
		Secrets: map[string]string{"key": "demo-ccai-key", "secret": "demo-ccai-secret"},
	}
}

// Close stops nothing: the simulator has no goroutines (the vendor has no push).
func (s *Server) Close() {}

// Requests returns the request log.
func (s *Server) Requests() []RequestRecord {
	return s.reqLog.All()
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.reqLog.Reset()
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.reqLog.Add(RequestRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Status: rec.status})
	}()
	if wait, ok := s.allow(); !ok {
		rec.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(rec, http.StatusTooManyRequests, "Too Many Requests", "Rate limit exceeded")
		return
	}
	if strings.TrimSuffix(r.URL.Path, "/") != Path {
		writeError(rec, http.StatusNotFound, "Not Found", "No route matches "+r.URL.Path)
		return
	}
	if r.Method != http.MethodGet {
		rec.Header().Set("Allow", http.MethodGet)
		writeError(rec, http.StatusMethodNotAllowed, "Method Not Allowed", "Only GET is supported")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.Key)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Secret)) != 1 {
		rec.Header().Set("WWW-Authenticate", `Basic realm="Application"`)
		writeError(rec, http.StatusUnauthorized, "Unauthorized", "Invalid company key or secret")
		return
	}
	s.list(rec, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// allow takes a token from the bucket, or says how long until one is there.
func (s *Server) allow() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.tokens = min(float64(s.cfg.Burst), s.tokens+now.Sub(s.last).Seconds()*s.cfg.RatePerSec)
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return 0, true
	}
	return time.Duration((1 - s.tokens) / s.cfg.RatePerSec * float64(time.Second)), false
}

func writeError(w http.ResponseWriter, status int, errText, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": errText, "message": msg, "status": status})
}

type badParam string

// filter is the parsed query.
type filter struct {
	times   []timeBound
	nums    []numBound
	lists   map[string][]string
	verify  *bool
	sortCol string
	desc    bool
	page    int
	per     int
}

type timeBound struct {
	get  func(*rendered) *time.Time
	t    time.Time
	from bool
}

type numBound struct {
	get  func(*rendered) *int
	v    float64
	from bool
}

func parseFilter(q url.Values, defPer int) (*filter, error) {
	f := &filter{lists: map[string][]string{}, page: 1, per: defPer, sortCol: "id"}
	timeFields := map[string]func(*rendered) *time.Time{
		"connected_at": func(r *rendered) *time.Time { return r.connected },
		"updated_at":   func(r *rendered) *time.Time { return &r.updated },
		"queued_at":    func(r *rendered) *time.Time { return r.queued },
	}
	numFields := map[string]func(*rendered) *int{
		"rating":        func(r *rendered) *int { return r.doc.Rating },
		"call_duration": func(r *rendered) *int { return &r.doc.CallDuration },
		"hold_duration": func(r *rendered) *int { return &r.doc.HoldDuration },
	}
	for name, get := range timeFields {
		for _, side := range []string{"from", "to"} {
			v := q.Get(name + "[" + side + "]")
			if v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, badParam(name + "[" + side + "]")
			}
			f.times = append(f.times, timeBound{get: get, t: t, from: side == "from"})
		}
	}
	for name, get := range numFields {
		for _, side := range []string{"from", "to"} {
			v := q.Get(name + "[" + side + "]")
			if v == "" {
				continue
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, badParam(name + "[" + side + "]")
			}
			f.nums = append(f.nums, numBound{get: get, v: n, from: side == "from"})
		}
	}
	for _, k := range []string{"id", "agent_id", "end_user_id", "call_status", "call_fail_reason", "call_type", "support_number"} {
		if vs := q[k+"[]"]; len(vs) > 0 {
			f.lists[k] = vs
		}
	}
	if v := q.Get("verified[]"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, badParam("verified[]")
		}
		f.verify = &b
	}
	if v := q.Get("sort_column"); v != "" {
		if !slices.Contains([]string{"id", "created_at", "updated_at", "connected_at", "queued_at", "call_duration"}, v) {
			return nil, badParam("sort_column")
		}
		f.sortCol = v
	}
	switch strings.ToLower(q.Get("sort_direction")) {
	case "", "asc":
	case "desc":
		f.desc = true
	default:
		return nil, badParam("sort_direction")
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, badParam("page")
		}
		f.page = n
	}
	if v := q.Get("per"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, badParam("per")
		}
		f.per = min(n, 100)
	}
	return f, nil
}

func (e badParam) Error() string { return "Invalid value for parameter " + string(e) }

func (f *filter) match(r *rendered) bool {
	for _, b := range f.times {
		t := b.get(r)
		if t == nil || (b.from && t.Before(b.t)) || (!b.from && t.After(b.t)) {
			return false
		}
	}
	for _, b := range f.nums {
		v := b.get(r)
		if v == nil || (b.from && float64(*v) < b.v) || (!b.from && float64(*v) > b.v) {
			return false
		}
	}
	in := func(key, v string) bool { vs, ok := f.lists[key]; return !ok || slices.Contains(vs, v) }
	anyIn := func(key string, vs []string) bool {
		want, ok := f.lists[key]
		if !ok {
			return true
		}
		for _, v := range vs {
			if slices.Contains(want, v) {
				return true
			}
		}
		return false
	}
	return in("id", strconv.FormatInt(r.doc.ID, 10)) && anyIn("agent_id", r.agents) &&
		in("end_user_id", r.endUser) && in("call_status", r.doc.Status) &&
		in("call_fail_reason", r.doc.FailReason) && in("call_type", r.kind) &&
		in("support_number", r.support) && (f.verify == nil || *f.verify == r.doc.Verified)
}

func (f *filter) less(a, b *rendered) int {
	key := func(r *rendered) (time.Time, int64) {
		switch f.sortCol {
		case "created_at":
			return r.created, 0
		case "updated_at":
			return r.updated, 0
		case "connected_at":
			if r.connected != nil {
				return *r.connected, 0
			}
		case "queued_at":
			if r.queued != nil {
				return *r.queued, 0
			}
		case "call_duration":
			return time.Time{}, int64(r.doc.CallDuration)
		}
		return time.Time{}, 0
	}
	ta, na := key(a)
	tb, nb := key(b)
	c := cmp.Or(ta.Compare(tb), cmp.Compare(na, nb), cmp.Compare(a.doc.ID, b.doc.ID))
	if f.desc {
		return -c
	}
	return c
}

// calls renders the center's calls as of now; internal (agent to agent) calls are not
// CCAI call records.
func (s *Server) calls() []*rendered {
	now := s.center.Now()
	s.mu.Lock()
	if s.cache != nil && s.cacheAt.Equal(now) {
		defer s.mu.Unlock()
		return s.cache
	}
	s.mu.Unlock()
	all := s.center.Calls(s.center.Start(), now.Add(time.Second))
	out := make([]*rendered, 0, len(all))
	for _, c := range all {
		if c.Direction == simcc.DirectionInternal {
			continue
		}
		out = append(out, s.dir.render(c, now))
	}
	s.mu.Lock()
	s.cache, s.cacheAt = out, now
	s.mu.Unlock()
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := parseFilter(q, s.cfg.DefaultPer)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	var hits []*rendered
	for _, c := range s.calls() {
		if f.match(c) {
			hits = append(hits, c)
		}
	}
	slices.SortStableFunc(hits, f.less)
	total := len(hits)
	lastPage := max(1, (total+f.per-1)/f.per)
	lo := min((f.page-1)*f.per, total)
	hi := min(lo+f.per, total)
	docs := make([]*callDoc, 0, hi-lo)
	for _, c := range hits[lo:hi] {
		docs = append(docs, c.doc)
	}
	link := func(page int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		if r.TLS != nil {
			u.Scheme = "https"
		}
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("page", strconv.Itoa(page))
		qq.Set("per", strconv.Itoa(f.per))
		u.RawQuery = qq.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	links := []string{link(1, "first")}
	if f.page > 1 {
		links = append(links, link(min(f.page-1, lastPage), "prev"))
	}
	if f.page < lastPage {
		links = append(links, link(f.page+1, "next"))
	}
	links = append(links, link(lastPage, "last"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Link", strings.Join(links, ", "))
	h.Set("total", strconv.Itoa(total))
	h.Set("per-page", strconv.Itoa(f.per))
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(docs)
}
