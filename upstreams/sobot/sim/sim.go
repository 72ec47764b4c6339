// Package sim simulates the Sobot call center Data Service API (V6) over a simcc center:
// the company token, talk lists, agent status logs, agent metrics (GET and the SSE watch),
// reports and recordings, with Sobot's envelope, paging, space-padded ids, string durations
// and millisecond timestamps; and a pusher that signs and posts webhooks.
package sim

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// Config sets the simulator's credentials and behaviour. Zero values take the defaults.
type Config struct {
	AppID     string // default "sim-app"
	AppSecret string // default "sim-secret"
	CompanyID string // default "sim-company"
	// TokenTTL is the lifetime of issued tokens, on the center's clock [2h].
	TokenTTL time.Duration
	// SignWindow is how far a token request's currentTime may be from now [10m].
	SignWindow time.Duration
	// MaxPageSize caps pageSize [500].
	MaxPageSize int
}

// RequestRecord is one request the simulator received.
type RequestRecord struct {
	Method string
	Path   string
	Query  string
	// Header keeps the headers a test may check (timezoneid, Idempotency-Key).
	Header http.Header
}

// Server is the simulated Data Service; mount it with httptest.NewServer.
type Server struct {
	center *simcc.Center
	cfg    Config
	key    []byte // signs issued tokens
	mux    *http.ServeMux
	done   chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	reqLog    simcc.RequestLog[RequestRecord]
	tokenGen  int64
	minGen    int64 // tokens of earlier generations are revoked
	faults    []fault
	streams   map[chan struct{}]struct{}
	pushSent  int
	pushFails int
}

// fault is a one-shot injected failure of the next API request (the token endpoint excepted).
type fault struct {
	httpStatus int
	code       int
	message    string
}

// New builds a server rendering center.
func New(center *simcc.Center, cfg Config) *Server {
	if cfg.AppID == "" {
		cfg.AppID = "sim-app"
	}
	if cfg.AppSecret == "" {
		cfg.AppSecret = "sim-secret"
	}
	if cfg.CompanyID == "" {
		cfg.CompanyID = "sim-company"
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 2 * time.Hour
	}
	if cfg.SignWindow <= 0 {
		cfg.SignWindow = 10 * time.Minute
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 500
	}
	s := &Server{center: center, cfg: cfg, key: make([]byte, 32), done: make(chan struct{}), streams: map[chan struct{}]struct{}{}}
	_, _ = rand.Read(s.key)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tokens/company", s.handleToken)
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.authed(h)) }
	api("POST /callservice/tm/tm-reports/maincdrs/_search", s.handleMainCDRs)
	api("GET /callservice/tm/tm-reports/maincdrs/{callID}/partycdrs", s.handlePartyCDRs)
	api("POST /callservice/tm/tm-reports/cdrs/_search", s.handleCDRs)
	api("POST /callservice/tm/tm-reports/agent-histories/_search", s.handleHistories)
	api("GET /callservice/v6/webmsg/monitoring/agents-metrics", s.handleMetrics)
	api("GET /callservice/v6/webmsg/monitoring/_watch/agents-metrics", s.handleWatch)
	api("GET /callservice/tm/tm-reports/gateway_number/check_plan", s.handleCheckPlan)
	api("POST /callservice/tm/tm-reports/gateway-number-table/_search", s.handleRelayReport)
	api("POST /callservice/tm/tm-reports/agent-table/_search", s.handleAgentReport)
	api("POST /callservice/tm/tm-reports/depart-table/_search", s.handleDepartReport)
	api("GET /callservice/v6/cc-audios/recordings/{id}", s.handleRecording)
	s.mux = mux
	return s
}

// Demo credentials.
const (
	DemoAppID     = "demo-app"
	DemoAppSecret = "demo-secret"
	DemoCompanyID = "demo-company"
	DemoAppKey    = "demo-app-key"
)

// NewDemo is a server with demo credentials and the Options and Secrets of a gateway
// source for it (the gateway sets the source URL to the server's URL). Start the webhook
// pusher with StartPusher(ctx, webhookURL, DemoCompanyID, DemoAppKey).
func NewDemo(center *simcc.Center) (*Server, upstreams.SimSource) {
	s := New(center, Config{AppID: DemoAppID, AppSecret: DemoAppSecret, CompanyID: DemoCompanyID})
	return s, upstreams.SimSource{
		Options: map[string]any{"appId": DemoAppID, "companyId": DemoCompanyID, "operatorUserId": "demo-supervisor"},
		Secrets: map[string]string{"appSecret": DemoAppSecret, "appKey": DemoAppKey},
	}
}

// ServeHTTP logs the request and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.reqLog.Add(RequestRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()})
	s.mux.ServeHTTP(w, r)
}

// Close ends open streams and the pusher, and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Requests returns the requests received so far.
func (s *Server) Requests() []RequestRecord {
	return s.reqLog.All()
}

// ResetRequests forgets the request log.
func (s *Server) ResetRequests() {
	s.reqLog.Reset()
}

// CompanyID is the enterprise id the server renders and signs pushes with.
func (s *Server) CompanyID() string { return s.cfg.CompanyID }

// FailNext makes the next API request fail: with httpStatus (e.g. 503), or when
// httpStatus is 200 with an error envelope carrying code and message.
func (s *Server) FailNext(httpStatus, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{httpStatus: httpStatus, code: code, message: message})
}

// RevokeTokens makes every token issued so far answer 401, as an expired one does.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minGen = s.tokenGen + 1
}

// BreakStreams makes every open SSE watch write half a line and drop the connection.
func (s *Server) BreakStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.streams {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Pushes reports webhook pushes sent (2xx answers) and failed.
func (s *Server) Pushes() (sent, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushSent, s.pushFails
}

// writeEnvelope writes Sobot's response envelope.
func writeEnvelope(w http.ResponseWriter, httpStatus, code int, reason, message, kind string, data any) {
	status := "Success"
	if code != 200 {
		status = "Failure"
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "6.2", "status": status, "message": message, "code": code,
		"reason": reason, "kind": kind, "data": data,
	})
}

func ok(w http.ResponseWriter, kind string, data any) {
	writeEnvelope(w, http.StatusOK, 200, "OK", "", kind, data)
}

func badRequest(w http.ResponseWriter, msg string) {
	writeEnvelope(w, http.StatusOK, 400, "BadRequest", msg, "Error", nil)
}

// handleToken issues a company token for a correctly signed request.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ResponseType string          `json:"responseType"`
		AppID        string          `json:"appId"`
		CurrentTime  json.RawMessage `json:"currentTime"`
		Sign         string          `json:"sign"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		badRequest(w, "body must be JSON")
		return
	}
	ts := strings.Trim(string(req.CurrentTime), `"`)
	ms, err := strconv.ParseInt(ts, 10, 64)
	now := s.center.Now()
	sum := md5.Sum([]byte(req.AppID + ts + req.ResponseType + s.cfg.AppSecret))
	switch {
	case req.ResponseType != "token":
		badRequest(w, "responseType must be token")
		return
	case req.AppID != s.cfg.AppID || !hmac.Equal([]byte(strings.ToLower(req.Sign)), []byte(hex.EncodeToString(sum[:]))):
		writeEnvelope(w, http.StatusOK, 4001, "InvalidSign", "appId or sign is wrong", "Error", nil)
		return
	case err != nil || now.Sub(time.UnixMilli(ms)).Abs() > s.cfg.SignWindow:
		writeEnvelope(w, http.StatusOK, 4002, "InvalidTimestamp", "currentTime is not within the allowed window", "Error", nil)
		return
	}
	s.mu.Lock()
	s.tokenGen++
	gen := s.tokenGen
	s.mu.Unlock()
	claims, _ := json.Marshal(map[string]any{"sub": s.cfg.AppID, "cid": s.cfg.CompanyID, "iat": now.Unix(), "exp": now.Add(s.cfg.TokenTTL).Unix(), "gen": gen})
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body := head + "." + base64.RawURLEncoding.EncodeToString(claims)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(body))
	ok(w, "Token", map[string]any{"accessToken": body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))})
}

// checkToken verifies a token's signature, expiry (center clock) and generation.
func (s *Server) checkToken(tok string) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("malformed token")
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return errors.New("bad token signature")
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct{ Exp, Gen int64 }
	if json.Unmarshal(b, &c) != nil {
		return errors.New("malformed token")
	}
	s.mu.Lock()
	revoked := c.Gen < s.minGen
	s.mu.Unlock()
	if revoked || !s.center.Now().Before(time.Unix(c.Exp, 0)) {
		return errors.New("token expired")
	}
	return nil
}

// authed checks the token, then applies an injected fault, then serves.
func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err := s.checkToken(tok); err != nil {
			writeEnvelope(w, http.StatusUnauthorized, 401, "Unauthorized", err.Error(), "Error", nil)
			return
		}
		s.mu.Lock()
		var f *fault
		if len(s.faults) > 0 {
			f = &s.faults[0]
			s.faults = s.faults[1:]
		}
		s.mu.Unlock()
		if f != nil {
			writeEnvelope(w, f.httpStatus, f.code, "InjectedFault", f.message, "Error", nil)
			return
		}
		h(w, r)
	})
}

// zone is the request's timezoneid (Asia/Singapore by default, as documented).
func zone(r *http.Request) *time.Location {
	if loc, err := time.LoadLocation(r.Header.Get("timezoneid")); err == nil && r.Header.Get("timezoneid") != "" {
		return loc
	}
	loc, err := time.LoadLocation("Asia/Singapore")
	if err != nil {
		return time.FixedZone("SGT", 8*3600)
	}
	return loc
}

// decodeBody reads a JSON request body into dst.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(dst); err != nil {
		badRequest(w, fmt.Sprintf("body: %v", err))
		return false
	}
	return true
}

// paging validates pageNum/pageSize and returns the slice bounds for n items.
func (s *Server) paging(num, size, n int) (lo, hi int, okay bool) {
	if num < 1 || size < 1 || size > s.cfg.MaxPageSize {
		return 0, 0, false
	}
	lo = min((num-1)*size, n)
	return lo, min(lo+size, n), true
}

// pad renders an id the way Sobot's examples do: with a blank on either side.
func pad(id string) string { return " " + id + " " }

func (s *Server) handleCheckPlan(w http.ResponseWriter, r *http.Request) {
	ok(w, "CheckPlan", map[string]any{"planType": 2, "planName": "Default plan", "checked": 1, "id": pad("765b29d607da42a3b57a8e4e868a31dc")})
}

func (s *Server) handleRecording(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "audio/mpeg")
	_, _ = w.Write([]byte("ID3\x03\x00\x00\x00\x00\x00\x00sobot-sim recording " + r.PathValue("id")))
}
