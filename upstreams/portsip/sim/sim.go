// Package sim simulates a PortSIP PBX's Data Flow REST API over the shared synthetic contact
// center (simcc): the OAuth token endpoint, the queue, agent and call analytics with their
// documented limits (24 h per queue request, 1 to 365 days for call volume, top at most 100),
// the errors document, top/skip/count paging and report jobs kept in memory.
package sim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// Config sets the simulated PBX's credentials and rendering.
type Config struct {
	Username, Password string
	// ClientID is the OAuth client_id the token endpoint accepts.
	ClientID string
	// TokenTTL is the access token lifetime on the center's clock [30m].
	TokenTTL time.Duration
	// Location is the zone times are written in [a fixed zone at the center's UTC offset].
	Location *time.Location
}

// RequestRecord is one request the server received.
type RequestRecord struct {
	Method string
	Path   string
	Query  url.Values
	Body   string
}

// Server is the simulated PBX; it implements http.Handler.
type Server struct {
	center *simcc.Center
	cfg    Config
	loc    *time.Location
	mux    *http.ServeMux

	mu      sync.Mutex
	access  map[string]time.Time // access token -> expiry
	refresh map[string]bool
	reqLog  simcc.RequestLog[RequestRecord]
	fail    []int // statuses of the next Data Flow requests to fail
	jobs    []*job
	logs    []*logEntry
	nextID  int64
}

// New builds a server rendering center.
func New(center *simcc.Center, cfg Config) *Server {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 30 * time.Minute
	}
	loc := cfg.Location
	if loc == nil {
		off := center.Config().UTCOffset
		loc = time.FixedZone(fmt.Sprintf("UTC%+d", int(off.Hours())), int(off/time.Second))
	}
	s := &Server{center: center, cfg: cfg, loc: loc, mux: http.NewServeMux(),
		access: map[string]time.Time{}, refresh: map[string]bool{}, nextID: 700551909773148160}
	s.routes()
	return s
}

// Demo credentials of NewDemo.
const (
	DemoUsername = "dataflow-admin"
	DemoPassword = "demo-portsip-pass"
	DemoClientID = "switchboard"
)

// NewDemo returns a server with demo credentials and the Options and Secrets a gateway
// source needs for it (spec.URL is the server's URL; the driver adds the /api prefix).
func NewDemo(center *simcc.Center) (*Server, upstreams.SimSource) {
	s := New(center, Config{Username: DemoUsername, Password: DemoPassword, ClientID: DemoClientID})
	var queues []any
	sla := map[string]any{}
	for i, q := range center.Queues() {
		queues = append(queues, map[string]any{"number": QueueNumber(i), "name": q.Name})
		sla[QueueNumber(i)] = q.SLASeconds
	}
	return s, upstreams.SimSource{
		Options: map[string]any{"clientId": DemoClientID, "queues": queues, "slaSeconds": sla, "pollInterval": "5s"},
		Secrets: map[string]string{"username": DemoUsername, "password": DemoPassword},
	}
}

// Close stops nothing: the server has no goroutines of its own (state is read from the
// center on each request). It exists for the simulator contract.
func (s *Server) Close() {}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []RequestRecord {
	return s.reqLog.All()
}

// ResetRequests clears the request log.
func (s *Server) ResetRequests() {
	s.reqLog.Reset()
}

// FailNext makes the next n Data Flow requests answer status with an errors document.
func (s *Server) FailNext(status, n int) {
	s.mu.Lock()
	for range n {
		s.fail = append(s.fail, status)
	}
	s.mu.Unlock()
}

// ExpireTokens revokes every access token (refresh tokens stay valid), as a PBX restart would.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	s.access = map[string]time.Time{}
	s.mu.Unlock()
}

// QueueNumber is the PortSIP queue number of the center's i-th queue (0-based): 8000, 8001…
func QueueNumber(i int) string { return strconv.Itoa(8000 + i) }

// sessionBase makes session ids look like PortSIP's 19-digit snowflake ids.
const sessionBase = 1040099039162400000

// SessionID is the PortSIP session id of the center call with sequence number seq.
func SessionID(seq int64) string { return strconv.FormatInt(sessionBase+seq, 10) }

// CallID is the center call id behind a session id.
func CallID(session string) (string, bool) {
	n, err := strconv.ParseInt(session, 10, 64)
	if err != nil || n <= sessionBase {
		return "", false
	}
	return fmt.Sprintf("c%06d", n-sessionBase), true
}

// ServeHTTP logs the request and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	rec := RequestRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body)}
	if strings.HasSuffix(r.URL.Path, "/login/oauth/token") {
		form, _ := url.ParseQuery(string(body))
		rec.Body = "grant_type=" + form.Get("grant_type") // never keep passwords or tokens
	}
	s.reqLog.Add(rec)
	s.mux.ServeHTTP(w, r)
}

// apiError is one element of the errors document.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"errors": []apiError{{Code: code, Message: msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) routes() {
	s.mux.HandleFunc("POST /api/login/oauth/token", s.handleToken)
	df := func(pattern string, h func(http.ResponseWriter, *http.Request)) {
		s.mux.HandleFunc(pattern, s.authed(h))
	}
	df("POST /api/dataflow/queues/summary", s.queueSummary)
	df("POST /api/dataflow/queues/timeseries", s.queueTimeseries)
	df("POST /api/dataflow/queues/agent/summary", s.agentSummary)
	df("POST /api/dataflow/queues/agent/timeseries", s.agentTimeseries)
	df("POST /api/dataflow/analytics/calls/timeseries", s.callsTimeseries)
	df("POST /api/dataflow/analytics/calls/history", s.callHistory)
	df("POST /api/dataflow/analytics/calls/history/{session_id}", s.callBySession)
	df("POST /api/dataflow/analytics/calls/user/history", s.userHistory)
	df("POST /api/dataflow/analytics/calls/user/history/{session_id}", s.userHistoryBySession)
	df("GET /api/dataflow/report_jobs", s.listJobs)
	df("POST /api/dataflow/report_jobs", s.createJob)
	df("GET /api/dataflow/report_jobs/{id}", s.getJob)
	df("POST /api/dataflow/report_jobs/{id}", s.updateJob)
	df("POST /api/dataflow/report_jobs/{id}/destroy", s.deleteJob)
	df("GET /api/dataflow/report_list", s.listLogs)
	df("POST /api/dataflow/report_list/{id}/destroy", s.deleteLog)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "NOT_FOUND", "no such resource")
	})
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeErr(w, http.StatusBadRequest, "INVALID_REQUEST", "the body must be a form")
		return
	}
	f := r.PostForm
	if f.Get("client_id") != s.cfg.ClientID {
		writeErr(w, http.StatusUnauthorized, "INVALID_CLIENT", "unknown client_id")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f.Get("grant_type") {
	case "password":
		if f.Get("username") != s.cfg.Username || f.Get("password") != s.cfg.Password {
			writeErr(w, http.StatusUnauthorized, "INVALID_CREDENTIALS", "the username or password is incorrect")
			return
		}
	case "refresh_token":
		rt := f.Get("refresh_token")
		if !s.refresh[rt] {
			writeErr(w, http.StatusUnauthorized, "INVALID_GRANT", "the refresh token is invalid or expired")
			return
		}
		delete(s.refresh, rt)
	default:
		writeErr(w, http.StatusBadRequest, "UNSUPPORTED_GRANT_TYPE", "grant_type must be password or refresh_token")
		return
	}
	at, rt := newToken(), newToken()
	s.access[at] = s.center.Now().Add(s.cfg.TokenTTL)
	s.refresh[rt] = true
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": at, "refresh_token": rt, "expires_in": int(s.cfg.TokenTTL / time.Second), "token_type": "Bearer",
	})
}

// authed checks the Bearer token and the injected failures before h.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		exp, known := s.access[tok]
		valid := ok && known && s.center.Now().Before(exp)
		fail := 0
		if valid && len(s.fail) > 0 {
			fail, s.fail = s.fail[0], s.fail[1:]
		}
		s.mu.Unlock()
		switch {
		case !valid:
			writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "the access token is missing, invalid or expired")
		case fail != 0:
			writeErr(w, fail, "INTERNAL_ERROR", "simulated failure")
		default:
			h(w, r)
		}
	}
}

// badRequest is a validation failure written as a 400 errors document.
type badRequest struct{ code, msg string }

func (b *badRequest) Error() string { return b.code + ": " + b.msg }

func bad(code, format string, args ...any) *badRequest {
	return &badRequest{code: code, msg: fmt.Sprintf(format, args...)}
}

func writeBad(w http.ResponseWriter, err error) {
	if b, ok := err.(*badRequest); ok {
		writeErr(w, http.StatusBadRequest, b.code, b.msg)
		return
	}
	writeErr(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
}

// decodeBody reads a JSON object body (an empty body is an empty object).
func decodeBody(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(dst); err != nil && err.Error() != "EOF" {
		return bad("INVALID_REQUEST", "the body is not a valid JSON object: %v", err)
	}
	return nil
}

// parseTime insists on RFC 3339 with an offset, as the document requires.
func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, bad("INVALID_TIME_FORMAT", "%s must be RFC 3339 with a timezone (e.g. 2025-09-28T00:00:00-04:00), got %q", field, v)
	}
	return t, nil
}

// timeRange parses start_time/end_time; a missing one takes its default (zero = required).
func timeRange(start, end string, defStart, defEnd time.Time) (time.Time, time.Time, error) {
	var from, to time.Time
	var err error
	switch {
	case start != "":
		if from, err = parseTime("start_time", start); err != nil {
			return from, to, err
		}
	case defStart.IsZero():
		return from, to, bad("INVALID_TIME_RANGE", "start_time is required")
	default:
		from = defStart
	}
	switch {
	case end != "":
		if to, err = parseTime("end_time", end); err != nil {
			return from, to, err
		}
	case defEnd.IsZero():
		return from, to, bad("INVALID_TIME_RANGE", "end_time is required")
	default:
		to = defEnd
	}
	if !to.After(from) {
		return from, to, bad("INVALID_TIME_RANGE", "end_time must be after start_time")
	}
	return from, to, nil
}

// paging reads top, skip and count (with or without the OData "$").
func paging(q url.Values) (top, skip int, count bool, err error) {
	get := func(k string) string {
		if v := q.Get(k); v != "" {
			return v
		}
		return q.Get("$" + k)
	}
	top, skip = 100, 0
	if v := get("top"); v != "" {
		if top, err = strconv.Atoi(v); err != nil || top < 1 || top > 100 {
			return 0, 0, false, bad("INVALID_PARAMETER", "top must be an integer between 1 and 100")
		}
	}
	if v := get("skip"); v != "" {
		if skip, err = strconv.Atoi(v); err != nil || skip < 0 {
			return 0, 0, false, bad("INVALID_PARAMETER", "skip must be a non-negative integer")
		}
	}
	count = strings.EqualFold(get("count"), "true")
	return top, skip, count, nil
}

// writeList writes one page of items as {"count": N, "items": [...]}.
func writeList[T any](w http.ResponseWriter, r *http.Request, all []T) {
	top, skip, count, err := paging(r.URL.Query())
	if err != nil {
		writeBad(w, err)
		return
	}
	page := []T{}
	if skip < len(all) {
		page = all[skip:min(len(all), skip+top)]
	}
	out := map[string]any{"items": page}
	if count {
		out["count"] = len(all)
	}
	writeJSON(w, http.StatusOK, out)
}

// ts writes t in the PBX's zone; nil for the zero time.
func (s *Server) ts(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.In(s.loc).Format("2006-01-02T15:04:05-07:00")
	return &v
}
