package sim

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The sub-protocols.
const (
	protoTransport = "graphql-transport-ws"
	protoLegacy    = "graphql-ws"
)

type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// conn is one WebSocket. Its handler goroutine reads; a pusher goroutine sends updates
// and keep-alives. Both are waited for by Server.Close through Server.wg.
type conn struct {
	srv   *Server
	ws    *websocket.Conn
	proto string
	dirty chan struct{}

	mu      sync.Mutex // guards the fields below and orders writes of updates
	acked   bool
	expires time.Time
	subs    map[string]*sub
}

// sub is one running subscription and the last result its client has seen.
type sub struct {
	op    *ast.OperationDefinition
	vars  map[string]any
	field *ast.Field
	prev  map[string]*obj // by item key; "" for a single object
}

func (c *conn) poke() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protoTransport, protoLegacy}})
	if err != nil {
		return
	}
	c := &conn{srv: s, ws: ws, proto: ws.Subprotocol(), dirty: make(chan struct{}, 1), subs: map[string]*sub{}}
	if c.proto == "" {
		ws.Close(websocket.StatusPolicyViolation, "sub-protocol graphql-transport-ws or graphql-ws required")
		return
	}
	if exp, ok := s.authorized(r); ok {
		c.expires = exp
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		ws.CloseNow()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		ws.CloseNow()
	}()

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	pushDone := make(chan struct{})
	go func() {
		defer close(pushDone)
		c.push(ctx)
	}()
	defer func() { cancel(); <-pushDone }()
	c.read(ctx)
}

func (c *conn) send(ctx context.Context, m message) {
	b, _ := json.Marshal(m)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = c.ws.Write(wctx, websocket.MessageText, b) // a failed write ends the read loop too
}

func payload(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// read handles client messages until the socket ends.
func (c *conn) read(ctx context.Context) {
	initTimer := time.AfterFunc(c.srv.cfg.InitTimeout, func() {
		c.mu.Lock()
		acked := c.acked
		c.mu.Unlock()
		if !acked {
			c.ws.Close(4408, "Connection initialisation timeout")
		}
	})
	defer initTimer.Stop()
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		var m message
		if err := json.Unmarshal(b, &m); err != nil {
			c.ws.Close(4400, "Invalid message received")
			return
		}
		c.mu.Lock()
		acked := c.acked
		c.mu.Unlock()
		switch m.Type {
		case "connection_init":
			if acked {
				c.ws.Close(4429, "Too many initialisation requests")
				return
			}
			var p struct {
				AccessToken string `json:"accessToken"`
			}
			_ = json.Unmarshal(m.Payload, &p)
			exp, ok := c.srv.tokenValid(p.AccessToken)
			c.mu.Lock()
			if !ok && !c.expires.IsZero() {
				exp, ok = c.expires, true // authenticated by cookie on the upgrade request
			}
			c.acked, c.expires = ok, exp
			c.mu.Unlock()
			if !ok {
				if c.proto == protoLegacy {
					c.send(ctx, message{Type: "connection_error", Payload: payload(map[string]string{"message": "Unauthorized"})})
				}
				c.ws.Close(4403, "Forbidden")
				return
			}
			c.send(ctx, message{Type: "connection_ack"})
			if c.proto == protoLegacy {
				c.send(ctx, message{Type: "ka"})
			}
			c.poke() // starts the expiry timer in the pusher
		case "ping":
			c.send(ctx, message{Type: "pong", Payload: m.Payload})
		case "pong":
		case "subscribe", "start":
			if !acked {
				c.ws.Close(4401, "Unauthorized")
				return
			}
			c.start(ctx, m)
		case "complete", "stop":
			c.mu.Lock()
			delete(c.subs, m.ID)
			c.mu.Unlock()
		case "connection_terminate":
			c.ws.Close(websocket.StatusNormalClosure, "")
			return
		default:
			c.ws.Close(4400, "Invalid message type "+m.Type)
			return
		}
	}
}

func (c *conn) nextType() string {
	if c.proto == protoLegacy {
		return "data"
	}
	return "next"
}

func (c *conn) sendErrors(ctx context.Context, id string, errs gqlerror.List) {
	if c.proto == protoLegacy {
		msg := "error"
		if len(errs) > 0 {
			msg = errs[0].Message
		}
		c.send(ctx, message{ID: id, Type: "error", Payload: payload(map[string]string{"message": msg})})
		return
	}
	c.send(ctx, message{ID: id, Type: "error", Payload: payload(errs)})
}

// start runs a subscribe/start message: a subscription is registered with its current
// result as the baseline (the client hears only changes); a query runs once.
func (c *conn) start(ctx context.Context, m message) {
	var req gqlRequest
	if err := json.Unmarshal(m.Payload, &req); err != nil || m.ID == "" {
		c.ws.Close(4400, "Invalid subscribe message")
		return
	}
	c.mu.Lock()
	_, dup := c.subs[m.ID]
	c.mu.Unlock()
	if dup {
		c.ws.Close(4409, "Subscriber for "+m.ID+" already exists")
		return
	}
	op, vars, errs := c.srv.parse(req)
	rec := RequestRecord{Method: "WS", Path: Path}
	if op != nil {
		rec.Operation = rootFields(op)
	}
	c.srv.log(rec)
	if errs != nil {
		c.sendErrors(ctx, m.ID, errs)
		return
	}
	if op.Operation != ast.Subscription {
		res := c.srv.execute(op, vars, nil)
		c.send(ctx, message{ID: m.ID, Type: c.nextType(), Payload: payload(res)})
		c.send(ctx, message{ID: m.ID, Type: "complete"})
		return
	}
	f := op.SelectionSet[0].(*ast.Field) // validation guarantees one root field
	s := &sub{op: op, vars: vars, field: f}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.prev, _ = c.srv.current(s)
	c.subs[m.ID] = s
}

// current resolves a subscription's field now, projected and keyed.
func (s *Server) current(sb *sub) (map[string]*obj, error) {
	res := s.execute(&ast.OperationDefinition{Operation: ast.Subscription, SelectionSet: ast.SelectionSet{sb.field}}, sb.vars, nil)
	if len(res.Errors) > 0 {
		return nil, res.Errors[0]
	}
	ex := executor{schema: s.schema, vars: sb.vars}
	out := map[string]*obj{}
	switch v := res.items[aliasOf(sb.field)].(type) {
	case []item:
		for _, it := range v {
			out[it.key] = ex.object(sb.field.SelectionSet, sb.field.Definition.Type.Name(), it.doc)
		}
	case doc:
		out[""] = ex.object(sb.field.SelectionSet, sb.field.Definition.Type.Name(), v)
	}
	return out, nil
}

func aliasOf(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// push sends changes when the center moves, keep-alives, and closes the socket when its
// access token expires.
func (c *conn) push(ctx context.Context) {
	ka := time.NewTicker(c.srv.cfg.KeepAlive)
	defer ka.Stop()
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			c.ws.Close(4401, "access token expired")
			return
		case <-ka.C:
			c.mu.Lock()
			acked := c.acked
			c.mu.Unlock()
			if !acked {
				continue
			}
			if c.proto == protoLegacy {
				c.send(ctx, message{Type: "ka"})
			} else {
				c.send(ctx, message{Type: "ping"})
			}
		case <-c.dirty:
			c.mu.Lock()
			if c.acked {
				expiry.Reset(time.Until(c.expires))
			}
			c.update(ctx)
			c.mu.Unlock()
		}
	}
}

// update sends every subscription's changed items; c.mu is held.
func (c *conn) update(ctx context.Context) {
	for id, s := range c.subs {
		cur, err := c.srv.current(s)
		if err != nil {
			continue
		}
		var changed []any
		var single any
		for _, key := range sortedKeys(cur) {
			o := cur[key]
			d, ch := diff(s.prev[key], o)
			if !ch {
				continue
			}
			d = d.clone()
			if s.prev[key] == nil {
				d.setField("mutation", "CREATED")
			} else {
				d.setField("mutation", "UPDATED")
			}
			if key == "" {
				single = d
			} else {
				changed = append(changed, d)
			}
		}
		for _, key := range sortedKeys(s.prev) {
			if _, ok := cur[key]; !ok && key != "" {
				d := blank(s.prev[key])
				d.setField("mutation", "DELETED")
				changed = append(changed, d)
			}
		}
		s.prev = cur
		var val any = changed
		if _, isSingle := cur[""]; isSingle {
			if single == nil {
				continue
			}
			val = single
		} else if len(changed) == 0 {
			continue
		}
		data := &obj{typename: "Subscription", fields: []kv{{key: aliasOf(s.field), name: s.field.Name, val: val}}}
		c.send(ctx, message{ID: id, Type: c.nextType(), Payload: payload(map[string]any{"data": data})})
	}
}

// failAll sends an error for every subscription and forgets them.
func (c *conn) failAll(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.subs {
		c.sendErrors(context.Background(), id, gqlerror.List{{Message: msg}})
		delete(c.subs, id)
	}
}
