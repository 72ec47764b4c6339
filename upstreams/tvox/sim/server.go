// Package sim simulates a TVox RTD Server over the shared synthetic contact center: the
// documented GraphQL schema at /rtdserver (GET ?query= and POST JSON), login mutations,
// access-token cookie, session cookie and connection_init auth, and subscriptions over
// graphql-transport-ws and legacy graphql-ws that send only changed fields.
package sim

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

//go:embed schema.graphql
var schemaSDL string

// Path is where the RTD Server answers.
const Path = "/rtdserver"

// Cookie names.
const (
	AccessTokenCookie = "teleniaRtdAccessToken"
	SessionCookie     = "teleniaRtdSessionID"
)

// Config tunes the simulator. Zero values take the defaults in brackets.
type Config struct {
	Users           map[string]string // username → password [admin: admin]
	TokenLifetime   time.Duration     // access token expiresIn [1h]
	SessionLifetime time.Duration     // session expiresIn [8h]
	KeepAlive       time.Duration     // graphql-ws "ka" / graphql-transport-ws ping interval [15s]
	InitTimeout     time.Duration     // wait for connection_init before closing 4408 [10s]
	Version         [3]int            // server version [1 0 3]
}

// RequestRecord is one request the server received: an HTTP request, or an operation
// started on a WebSocket (Method "WS").
type RequestRecord struct {
	Method string
	Path   string
	Query  string
	// Operation lists the root fields of the GraphQL operation, space separated.
	Operation string
}

// Server is the simulated RTD Server.
type Server struct {
	center *simcc.Center
	cfg    Config
	schema *ast.Schema

	ctx    context.Context // ends the live side on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	tokens   map[string]time.Time // access token → expiry
	sessions map[string]time.Time
	conns    map[*conn]struct{}
	reqLog   simcc.RequestLog[RequestRecord]
	health   string
}

// New builds a server rendering center and starts its live side.
func New(center *simcc.Center, cfg Config) *Server {
	if len(cfg.Users) == 0 {
		cfg.Users = map[string]string{"admin": "admin"}
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 8 * time.Hour
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.Version == [3]int{} {
		cfg.Version = [3]int{1, 0, 3}
	}
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: schemaSDL})
	if err != nil {
		panic(fmt.Sprintf("tvox sim: embedded schema: %v", err)) // a build defect, caught by every test
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		center: center, cfg: cfg, schema: schema, ctx: ctx, cancel: cancel,
		tokens: map[string]time.Time{}, sessions: map[string]time.Time{}, conns: map[*conn]struct{}{},
		health: "PASS",
	}
	events := center.Subscribe(ctx, 1024)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for range events {
			s.mu.Lock()
			for c := range s.conns {
				c.poke()
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// NewDemo builds a server with a demo supervisor and the source settings to reach it.
func NewDemo(center *simcc.Center) (*Server, upstreams.SimSource) {
	s := New(center, Config{Users: map[string]string{"supervisor": "demo-supervisor"}})
	return s, upstreams.SimSource{
		Options: map[string]any{"wsProtocol": "graphql-transport-ws", "slaSeconds": demoSLA(center)},
		Secrets: map[string]string{"username": "supervisor", "password": "demo-supervisor"},
	}
}

// demoSLA is the first queue's threshold: TVox has one "response speed" setting.
func demoSLA(c *simcc.Center) int {
	if qs := c.Queues(); len(qs) > 0 {
		return qs[0].SLASeconds
	}
	return 0
}

// Close ends every WebSocket and the live side, and waits for them.
func (s *Server) Close() {
	s.cancel()
	for _, c := range s.connList() {
		c.ws.CloseNow()
	}
	s.wg.Wait()
}

// Requests returns the request log.
func (s *Server) Requests() []RequestRecord {
	return s.reqLog.All()
}

// ResetRequests clears the request log.
func (s *Server) ResetRequests() {
	s.reqLog.Reset()
}

// SetServerHealth sets what serverHealth reports ("PASS" or "FAIL").
func (s *Server) SetServerHealth(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health = status
}

// ExpireTokens makes every access token and session expire now and closes the sockets
// they opened with 4401, as the server does when a token runs out.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	now := time.Now()
	for k := range s.tokens {
		s.tokens[k] = now
	}
	for k := range s.sessions {
		s.sessions[k] = now
	}
	s.mu.Unlock()
	for _, c := range s.connList() {
		c.ws.Close(4401, "access token expired")
	}
}

func (s *Server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// FailSubscriptions sends an error message for every running subscription.
func (s *Server) FailSubscriptions(message string) {
	for _, c := range s.connList() {
		c.failAll(message)
	}
}

// DropConnections closes every WebSocket abruptly, as a crashing server would.
func (s *Server) DropConnections() {
	for _, c := range s.connList() {
		c.ws.CloseNow()
	}
}

func (s *Server) log(r RequestRecord) {
	s.reqLog.Add(r)
}

func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}

// tokenValid reports whether tok is a live access token, and its expiry.
func (s *Server) tokenValid(tok string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return exp, ok && time.Now().Before(exp)
}

func (s *Server) sessionValid(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sessions[id]
	return ok && time.Now().Before(exp)
}

// authorized checks the request's cookies.
func (s *Server) authorized(r *http.Request) (time.Time, bool) {
	if c, err := r.Cookie(AccessTokenCookie); err == nil {
		if exp, ok := s.tokenValid(c.Value); ok {
			return exp, true
		}
	}
	if c, err := r.Cookie(SessionCookie); err == nil && s.sessionValid(c.Value) {
		return time.Now().Add(s.cfg.SessionLifetime), true
	}
	return time.Time{}, false
}

// ServeHTTP serves /rtdserver: GraphQL over HTTP, or a WebSocket upgrade.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.log(RequestRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
		s.serveWS(w, r)
		return
	}
	var req gqlRequest
	switch r.Method {
	case http.MethodGet:
		req.Query = r.URL.Query().Get("query")
		req.OperationName = r.URL.Query().Get("operationName")
		if v := r.URL.Query().Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				writeErrors(w, http.StatusBadRequest, "variables is not a JSON object")
				return
			}
		}
	case http.MethodPost:
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = json.Unmarshal(b, &req)
		}
		if err != nil {
			s.log(RequestRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
			writeErrors(w, http.StatusBadRequest, "body is not a GraphQL JSON request")
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeErrors(w, http.StatusMethodNotAllowed, "use GET or POST")
		return
	}
	op, vars, errs := s.parse(req)
	rec := RequestRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if op != nil {
		rec.Operation = rootFields(op)
	}
	s.log(rec)
	if errs != nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": errs})
		return
	}
	switch op.Operation {
	case ast.Subscription:
		writeErrors(w, http.StatusBadRequest, "subscriptions need a WebSocket")
		return
	case ast.Query:
		if _, ok := s.authorized(r); !ok {
			writeErrors(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
	}
	res := s.execute(op, vars, func(session string) {
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: session, Path: Path, HttpOnly: true, Secure: r.TLS != nil})
	})
	writeJSON(w, http.StatusOK, res)
}

type gqlRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// parse validates the request against the schema and coerces its variables.
func (s *Server) parse(req gqlRequest) (*ast.OperationDefinition, map[string]any, gqlerror.List) {
	doc, errs := gqlparser.LoadQuery(s.schema, req.Query)
	if errs != nil {
		return nil, nil, errs
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil {
		return nil, nil, gqlerror.List{gqlerror.Errorf("operation %q not found", req.OperationName)}
	}
	vars, err := validator.VariableValues(s.schema, op, req.Variables)
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			return nil, nil, gqlerror.List{ge}
		}
		return nil, nil, gqlerror.List{gqlerror.Wrap(err)}
	}
	return op, vars, nil
}

func rootFields(op *ast.OperationDefinition) string {
	var names []string
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			names = append(names, f.Name)
		}
	}
	return strings.Join(names, " ")
}

// result is a GraphQL response.
type result struct {
	Data   any            `json:"data"`
	Errors gqlerror.List  `json:"errors,omitempty"`
	items  map[string]any // root alias → []item or doc, for subscriptions
}

// execute runs a query or mutation. setSession receives a new session id on login.
func (s *Server) execute(op *ast.OperationDefinition, vars map[string]any, setSession func(string)) result {
	ex := executor{schema: s.schema, vars: vars}
	root := s.schema.Query
	switch op.Operation {
	case ast.Mutation:
		root = s.schema.Mutation
	case ast.Subscription:
		root = s.schema.Subscription
	}
	data := &obj{typename: root.Name}
	res := result{items: map[string]any{}}
	var v *view
	for _, f := range ex.collect(op.SelectionSet, root.Name) {
		alias := f.Alias
		if alias == "" {
			alias = f.Name
		}
		if f.Name == "__typename" {
			data.fields = append(data.fields, kv{key: alias, name: f.Name, val: root.Name})
			continue
		}
		if v == nil && op.Operation != ast.Mutation {
			v = newView(s.center)
		}
		val, err := s.resolve(v, f.Name, f.ArgumentMap(vars), setSession)
		if err != nil {
			res.Errors = append(res.Errors, &gqlerror.Error{Message: err.Error(), Path: ast.Path{ast.PathName(alias)}})
			if f.Definition.Type.NonNull {
				res.Data = nil
				return res
			}
		}
		res.items[alias] = val
		data.fields = append(data.fields, kv{key: alias, name: f.Name, val: ex.project(f.SelectionSet, f.Definition.Type, val), nonNull: f.Definition.Type.NonNull})
	}
	res.Data = data
	return res
}

func (s *Server) resolve(v *view, name string, args map[string]any, setSession func(string)) (any, error) {
	switch name {
	case "version":
		ver := doc{"major": s.cfg.Version[0], "minor": s.cfg.Version[1], "patch": s.cfg.Version[2]}
		return doc{"client": ver, "server": ver}, nil
	case "serverHealth":
		s.mu.Lock()
		defer s.mu.Unlock()
		return doc{"status": s.health}, nil
	case "login":
		user, _ := args["username"].(string)
		pass, _ := args["password"].(string)
		if want, ok := s.cfg.Users[user]; !ok || want != pass {
			return nil, errors.New("Invalid credentials")
		}
		return s.newSession(user, setSession), nil
	case "loginWithAccessToken":
		tok, _ := args["accessToken"].(string)
		if _, ok := s.tokenValid(tok); !ok {
			return nil, errors.New("Invalid access token")
		}
		return s.newSession("admin", setSession), nil
	case "users":
		var f userFilter
		if err := decodeArg(args, &f); err != nil {
			return nil, err
		}
		return v.users(f), nil
	}
	var f statFilter
	if err := decodeArg(args, &f); err != nil {
		return nil, err
	}
	switch name {
	case "userStats":
		return v.userStats(f), nil
	case "userProfileStats":
		return v.userProfileStats(f), nil
	case "serviceStats":
		return v.queueStats(f, false), nil
	case "groupStats":
		return v.queueStats(f, true), nil
	}
	return nil, fmt.Errorf("field %s is not implemented", name)
}

func (s *Server) newSession(user string, setSession func(string)) doc {
	tok, sid := newSecret(), newSecret()
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.cfg.TokenLifetime)
	s.sessions[sid] = time.Now().Add(s.cfg.SessionLifetime)
	s.mu.Unlock()
	if setSession != nil {
		setSession(sid)
	}
	return doc{
		"publicUsername": user, "username": user, "surname": "Supervisor", "name": "Demo",
		"session":   doc{"id": sid, "expiresIn": int(s.cfg.SessionLifetime.Seconds())},
		"authToken": doc{"accessToken": tok, "expiresIn": max(1, int(s.cfg.TokenLifetime.Seconds()))},
		"language":  "EN", "supervisor": true,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErrors(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"message": msg}}})
}
