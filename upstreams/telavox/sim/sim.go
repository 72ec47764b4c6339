// Package sim simulates Telavox Stream Liner over a simcc center: the historic GraphQL API
// (POST /graphql with callOverview, agentOverview, queueOverview, cursor paging) and the
// live WebSockets /calls, /queues and /agents, with Bearer auth on both.
package sim

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

//go:embed schema.graphql
var schemaSDL string

// DemoToken is the token NewDemo's server accepts.
const DemoToken = "telavox-demo-statistics-token"

// Config tunes the simulator. Zero values take the defaults in brackets.
type Config struct {
	Token           string // accepted Bearer token [DemoToken]
	DefaultPageSize int    // `first` when not given [100]
	MaxPageSize     int    // larger `first` is refused [500]
}

// RequestRecord is one request the simulator received.
type RequestRecord struct {
	Method, Path, Query string
	// Operation is the GraphQL root field (callOverview, …) or the WebSocket path.
	Operation string
}

// Server is the simulator; it is an http.Handler.
type Server struct {
	center *simcc.Center
	cfg    Config
	schema *ast.Schema
	ids    *ids

	ctx    context.Context // cancelled by Close: ends the WebSocket handlers
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	reqLog simcc.RequestLog[RequestRecord]
}

// New builds a simulator of center.
func New(center *simcc.Center, cfg Config) *Server {
	if cfg.Token == "" {
		cfg.Token = DemoToken
	}
	if cfg.DefaultPageSize <= 0 {
		cfg.DefaultPageSize = 100
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 500
	}
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: schemaSDL})
	if err != nil {
		panic(fmt.Sprintf("telavox sim: embedded schema: %v", err)) // a build defect, not input
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{center: center, cfg: cfg, schema: schema, ids: newIDs(center), ctx: ctx, cancel: cancel}
}

// NewDemo returns a simulator with the demo token and the options a gateway source needs.
func NewDemo(center *simcc.Center) (*Server, upstreams.SimSource) {
	s := New(center, Config{})
	var queues, agents []any
	for _, q := range center.Queues() {
		queues = append(queues, map[string]any{"id": s.QueueID(q.ID), "name": q.Name, "slaSeconds": q.SLASeconds})
	}
	for _, a := range center.Agents() {
		qs := []any{}
		for _, q := range a.QueueIDs {
			qs = append(qs, s.QueueID(q))
		}
		agents = append(agents, map[string]any{"id": s.AgentID(a.ID), "name": a.Name, "queues": qs})
	}
	return s, upstreams.SimSource{
		Options: map[string]any{"queues": queues, "agents": agents, "shortAbandonSeconds": center.Config().ShortAbandonSeconds},
		Secrets: map[string]string{"token": DemoToken},
	}
}

// AgentID is the Telavox id of a simcc agent.
func (s *Server) AgentID(simccID string) string { return strconv.Itoa(s.ids.agent[simccID]) }

// QueueID is the Telavox id of a simcc queue.
func (s *Server) QueueID(simccID string) string { return strconv.Itoa(s.ids.queue[simccID]) }

// Close ends the WebSocket handlers and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Requests returns the requests received so far.
func (s *Server) Requests() []RequestRecord {
	return s.reqLog.All()
}

// ResetRequests clears the request log.
func (s *Server) ResetRequests() {
	s.reqLog.Reset()
}

func (s *Server) record(r *http.Request, op string) {
	s.reqLog.Add(RequestRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Operation: op})
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && tok == s.cfg.Token
}

// ServeHTTP routes /graphql and the live paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/graphql":
		s.serveGraphQL(w, r)
	case "/calls", "/queues", "/agents":
		s.record(r, r.URL.Path)
		if !s.authorized(r) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		s.serveLive(w, r)
	default:
		s.record(r, "")
		http.NotFound(w, r)
	}
}

// serveLive pushes the whole document of every call the center changes.
func (s *Server) serveLive(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// Subscribed before the handshake completes, so a client that has connected sees every
	// event from then on.
	events := s.center.Subscribe(ctx, 4096)
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx = conn.CloseRead(ctx)
	for {
		select {
		case <-ctx.Done():
			conn.Close(websocket.StatusGoingAway, "")
			return
		case ev, ok := <-events:
			if !ok {
				conn.Close(websocket.StatusGoingAway, "")
				return
			}
			if ev.CallID == "" {
				continue
			}
			c, found := s.center.Call(ev.CallID)
			if !found {
				continue
			}
			for _, d := range s.liveDocs(r.URL.Path, c) {
				b, err := json.Marshal(d)
				if err != nil {
					continue
				}
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				err = conn.Write(wctx, websocket.MessageText, b)
				wcancel()
				if err != nil {
					return
				}
			}
		}
	}
}

func (s *Server) account() string { return s.center.Name() }

// liveDocs renders the documents of one call for a live path.
func (s *Server) liveDocs(path string, c simcc.Call) []doc {
	switch path {
	case "/calls":
		return []doc{live(s.ids.callRecord(c, s.account()), historicCallOnly...)}
	case "/queues":
		out := make([]doc, 0, len(c.Segments))
		for i, seg := range c.Segments {
			out = append(out, live(s.ids.segRecord(c, seg, i == len(c.Segments)-1, true, s.account())))
		}
		return out
	default:
		out := make([]doc, 0, len(c.Legs))
		for _, l := range c.Legs {
			d := s.ids.legRecord(c, l)
			d["customerTelavox"] = doc{"id": "285964", "name": s.account()}
			d = live(d)
			if a, ok := d["agent"].(doc); ok {
				a["id"] = fmt.Sprint(a["id"]) // the /agents example sends the agent id as a string
			}
			out = append(out, d)
		}
		return out
	}
}

type gqlError struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func gqlErrors(msgs ...string) map[string]any {
	errs := make([]gqlError, len(msgs))
	for i, m := range msgs {
		errs[i] = gqlError{Message: m}
	}
	return map[string]any{"data": nil, "errors": errs}
}

func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.record(r, "")
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if !s.authorized(r) {
		s.record(r, "")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
		return
	}
	var req struct {
		Query         string         `json:"query"`
		Variables     map[string]any `json:"variables"`
		OperationName string         `json:"operationName"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		s.record(r, "")
		writeJSON(w, http.StatusBadRequest, gqlErrors("request body must be JSON with a query"))
		return
	}
	qd, errs := gqlparser.LoadQuery(s.schema, req.Query)
	if len(errs) > 0 {
		s.record(r, "")
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Message
		}
		writeJSON(w, http.StatusOK, gqlErrors(msgs...))
		return
	}
	op := qd.Operations.ForName(req.OperationName)
	if op == nil || op.Operation != ast.Query {
		s.record(r, "")
		writeJSON(w, http.StatusOK, gqlErrors("only query operations are supported"))
		return
	}
	data := map[string]any{}
	var roots []string
	for _, f := range collect(op.SelectionSet) {
		roots = append(roots, f.Name)
		if f.Name == "__typename" {
			data[alias(f)] = "Query"
			continue
		}
		res, err := s.resolveRoot(f, req.Variables)
		if err != nil {
			s.record(r, strings.Join(roots, ","))
			writeJSON(w, http.StatusOK, gqlErrors(err.Error()))
			return
		}
		data[alias(f)] = project(res, f.SelectionSet)
	}
	s.record(r, strings.Join(roots, ","))
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

func alias(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// collect flattens fragments into the fields they select.
func collect(set ast.SelectionSet) []*ast.Field {
	var out []*ast.Field
	for _, sel := range set {
		switch x := sel.(type) {
		case *ast.Field:
			out = append(out, x)
		case *ast.InlineFragment:
			out = append(out, collect(x.SelectionSet)...)
		case *ast.FragmentSpread:
			if x.Definition != nil {
				out = append(out, collect(x.Definition.SelectionSet)...)
			}
		}
	}
	return out
}

// project keeps the selected fields of a resolved value.
func project(v any, set ast.SelectionSet) any {
	if len(set) == 0 {
		return v
	}
	switch x := v.(type) {
	case doc:
		out := doc{}
		for _, f := range collect(set) {
			if f.Name == "__typename" {
				if f.ObjectDefinition != nil {
					out[alias(f)] = f.ObjectDefinition.Name
				}
				continue
			}
			out[alias(f)] = project(x[f.Name], f.SelectionSet)
		}
		return out
	case []doc:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(e, set)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(e, set)
		}
		return out
	}
	return v
}

// resolveRoot answers one data source: records in [startDate, endDate), ordered by their
// time, one page after the cursor.
func (s *Server) resolveRoot(f *ast.Field, vars map[string]any) (doc, error) {
	args := f.ArgumentMap(vars)
	now := s.center.Now()
	from, to := s.center.Start(), now.Add(time.Second)
	if filter, ok := args["filter"].(map[string]any); ok {
		var err error
		if v, ok := filter["startDate"].(string); ok {
			if from, err = parseDate(v); err != nil {
				return nil, fmt.Errorf("filter.startDate: %v", err)
			}
		}
		if v, ok := filter["endDate"].(string); ok {
			if to, err = parseDate(v); err != nil {
				return nil, fmt.Errorf("filter.endDate: %v", err)
			}
		}
	}
	first := s.cfg.DefaultPageSize
	if v, ok := args["first"]; ok && v != nil {
		n, ok := v.(int64)
		if !ok || n < 1 || n > int64(s.cfg.MaxPageSize) {
			return nil, fmt.Errorf("first must be between 1 and %d", s.cfg.MaxPageSize)
		}
		first = int(n)
	}
	offset := 0
	if v, ok := args["after"].(string); ok && v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		n, cerr := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || cerr != nil || !strings.HasPrefix(string(b), "offset:") || n < 0 {
			return nil, errors.New("after: invalid cursor")
		}
		offset = n
	}
	recs := s.records(f.Name, from, to)
	end := min(offset+first, len(recs))
	page := recs[min(offset, len(recs)):end]
	return doc{
		"data":        page,
		"totalCount":  len(recs),
		"cursor":      base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(max(end, offset)))),
		"hasNextPage": end < len(recs),
	}, nil
}

// parseDate accepts ISO 8601 as in the document, including its "2025-10-01 T10:13:35Z".
func parseDate(v string) (time.Time, error) {
	v = strings.Replace(strings.TrimSpace(v), " T", "T", 1)
	return time.Parse(time.RFC3339Nano, v)
}

// maxSpan is how long before a range a call may have started and still have a leg or
// segment starting inside it.
const maxSpan = 6 * time.Hour

func (s *Server) records(root string, from, to time.Time) []doc {
	var out []doc
	switch root {
	case "callOverview":
		for _, c := range s.center.Calls(from, to) {
			out = append(out, historic(s.ids.callRecord(c, s.account()), liveCallOnly...))
		}
		return out
	case "agentOverview":
		type rec struct {
			at time.Time
			d  doc
		}
		var rs []rec
		for _, c := range s.center.Calls(from.Add(-maxSpan), to) {
			for _, l := range c.Legs {
				if !l.OfferedAt.Before(from) && l.OfferedAt.Before(to) {
					rs = append(rs, rec{l.OfferedAt, historic(s.ids.legRecord(c, l))})
				}
			}
		}
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].at.Before(rs[j].at) })
		for _, r := range rs {
			out = append(out, r.d)
		}
		return out
	default: // queueOverview
		type rec struct {
			at time.Time
			d  doc
		}
		var rs []rec
		for _, c := range s.center.Calls(from.Add(-maxSpan), to) {
			for i, seg := range c.Segments {
				if !seg.EnteredAt.Before(from) && seg.EnteredAt.Before(to) {
					rs = append(rs, rec{seg.EnteredAt, historic(s.ids.segRecord(c, seg, i == len(c.Segments)-1, false, s.account()))})
				}
			}
		}
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].at.Before(rs[j].at) })
		for _, r := range rs {
			out = append(out, r.d)
		}
		return out
	}
}
