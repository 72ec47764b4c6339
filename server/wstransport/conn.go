package wstransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// errStoppedByClient is the cancel cause of an operation the client completed or stopped.
var errStoppedByClient = errors.New("operation stopped by client")

// step says how the read loop goes on after one client message.
type step int

const (
	stepNext  step = iota
	stepEnd        // the connection is over
	stepAcked      // connection_ack was sent
)

// serve reads and dispatches client messages until the connection ends, then
// stops every goroutine of the connection and waits for them. With Sessions, the
// messages after connection_ack are read by a goroutine of the Sessions and serve
// returns at once: the HTTP handler's goroutine, grown by the handshake and the
// credentials check, and net/http's state for the request are then released.
func (c *conn) serve(ctx context.Context, r *http.Request) {
	ctx, cancel := context.WithCancel(ctx)
	var stopAfter func() bool
	if c.sessions != nil {
		// Closing the Sessions closes the connection with 1001, which ends the read.
		stopAfter = context.AfterFunc(c.sessions.ctx, func() {
			c.after(0, func() {
				c.awaitFlushed(shutdownGrace)
				c.closeConn(websocket.StatusGoingAway, "server shutting down")
			})
		})
	}
	end := func() {
		if stopAfter != nil {
			stopAfter()
			if c.sessions.ctx.Err() != nil {
				c.closeConn(websocket.StatusGoingAway, "server shutting down")
			}
		}
		c.stopTimers()
		if c.stopOps != nil {
			c.stopOps()
		}
		cancel()
		c.leaveGroups()
		c.closeQueue()
		c.wg.Wait()
		_ = c.ws.CloseNow()
	}

	c.initSeen = make(chan struct{})
	c.after(c.cfg.InitTimeout, func() {
		if !isClosed(c.initSeen) {
			c.fatal(ctx, closeInitTimeout, "Connection initialisation timeout")
		}
	})
	for {
		switch c.read(ctx, r) {
		case stepEnd:
			end()
			return
		case stepAcked:
			if c.sessions != nil && c.sessions.run(func() {
				defer end()
				for c.readShallow(ctx) != stepEnd {
				}
			}) {
				return
			}
		}
	}
}

// readShallow is read for a connection's long-lived reader: the message is handled on a
// goroutine of its own, waited for, so that the reader's stack stays as small as a parked
// read needs. A goroutine's stack only grows, and decoding and starting an operation would
// leave each of thousands of idle readers with a stack several times that size.
func (c *conn) readShallow(ctx context.Context) step {
	data, err := c.readMessage(ctx)
	if err != nil {
		return stepEnd
	}
	res := make(chan step, 1)
	go func() {
		defer func() {
			// Outside net/http's handler a panic would end the process; it ends this
			// connection instead.
			if p := recover(); p != nil {
				c.log.Error("recovering from a websocket message's panic", "panic", fmt.Sprint(p))
				c.closeConn(websocket.StatusInternalError, "internal error")
				res <- stepEnd
			}
		}()
		res <- c.handle(ctx, nil, data, graphql.Now())
	}()
	return <-res
}

// read reads and handles one client message; r is only needed until connection_init.
func (c *conn) read(ctx context.Context, r *http.Request) step {
	data, err := c.readMessage(ctx)
	if err != nil {
		return stepEnd
	}
	return c.handle(ctx, r, data, graphql.Now())
}

func (c *conn) readMessage(ctx context.Context) ([]byte, error) {
	// The read's context has no Done: the library would otherwise register a callback on
	// it for every read, which an idle connection keeps for as long as it waits. Whatever
	// ends the connection closes it, and that ends the read.
	_, data, err := c.ws.Read(context.WithoutCancel(ctx))
	if err != nil {
		c.log.Debug("websocket connection ended", "status", int(websocket.CloseStatus(err)), "err", err)
	}
	return data, err
}

// handle handles one client message read at readAt.
func (c *conn) handle(ctx context.Context, r *http.Request, data []byte, readAt time.Time) step {
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		c.fatal(ctx, closeBadRequest, "Invalid message received")
		return stepEnd
	}
	switch c.d.kindOf(m.Type) {
	case kindInit:
		if isClosed(c.initSeen) || r == nil {
			c.fatal(ctx, closeTooManyInitReqs, "Too many initialisation requests")
			return stepEnd
		}
		close(c.initSeen)
		var payload map[string]any
		if !isObjectOrNull(m.Payload) || (len(m.Payload) > 0 && json.Unmarshal(m.Payload, &payload) != nil) {
			c.fatal(ctx, closeBadRequest, "Invalid connection_init payload")
			return stepEnd
		}
		authCtx, expiry, err := c.authenticate(ctx, r, payload)
		if err != nil {
			c.log.Info("rejecting websocket connection", "err", err)
			c.fatal(ctx, closeForbidden, "Forbidden")
			return stepEnd
		}
		if !expiry.IsZero() && !time.Now().Before(expiry) {
			c.fatal(ctx, closeForbidden, "Forbidden: token expired")
			return stepEnd
		}
		c.opsCtx, c.stopOps = context.WithCancel(authCtx)
		_ = c.send(ctx, message{Type: "connection_ack"})
		c.acknowledged(ctx, expiry)
		return stepAcked
	case kindPing:
		if !isObjectOrNull(m.Payload) {
			c.fatal(ctx, closeBadRequest, "Invalid ping payload")
			return stepEnd
		}
		_ = c.send(ctx, message{Type: "pong", Payload: m.Payload})
	case kindPong:
		// Answers to our pings and unsolicited heartbeats need no reply.
	case kindStart:
		if m.ID == "" {
			c.fatal(ctx, closeBadRequest, fmt.Sprintf("Invalid %s message: missing id", m.Type))
			return stepEnd
		}
		if c.opsCtx == nil {
			c.fatal(ctx, closeUnauthorized, "Unauthorized")
			return stepEnd
		}
		if code, reason := c.start(c.opsCtx, m, readAt); code != 0 {
			c.fatal(ctx, code, reason)
			return stepEnd
		}
	case kindStop:
		if m.ID == "" {
			c.fatal(ctx, closeBadRequest, fmt.Sprintf("Invalid %s message: missing id", m.Type))
			return stepEnd
		}
		c.stop(m.ID)
	case kindTerminate:
		c.closeConn(websocket.StatusNormalClosure, "terminated")
		return stepEnd
	default:
		c.fatal(ctx, closeBadRequest, fmt.Sprintf("Unexpected message of type %q received", m.Type))
		return stepEnd
	}
	return stepNext
}

func (c *conn) authenticate(ctx context.Context, r *http.Request, payload map[string]any) (context.Context, time.Time, error) {
	if c.cfg.Authenticate == nil {
		return ctx, time.Time{}, nil
	}
	authCtx, expiry, err := c.cfg.Authenticate(ctx, r, payload)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("authenticating connection_init: %w", err)
	}
	if authCtx == nil {
		authCtx = ctx
	}
	return authCtx, expiry, nil
}

// after runs f once after d in a goroutine counted in c.wg, unless the connection has
// begun to stop. Timers instead of a supervising goroutine: with thousands of idle
// connections, one goroutine less each is a visible share of memory.
func (c *conn) after(d time.Duration, f func()) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.afterLocked(d, f)
}

// every runs f every d until it returns false, on one timer.
func (c *conn) every(d time.Duration, f func() bool) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	var t *time.Timer
	t = c.afterLocked(d, func() {
		if f() {
			c.tmu.Lock()
			if !c.stopping {
				t.Reset(d)
			}
			c.tmu.Unlock()
		}
	})
}

func (c *conn) afterLocked(d time.Duration, f func()) *time.Timer {
	t := time.AfterFunc(d, func() {
		c.tmu.Lock()
		if c.stopping {
			c.tmu.Unlock()
			return
		}
		c.wg.Add(1)
		c.tmu.Unlock()
		defer c.wg.Done()
		f()
	})
	c.timers = append(c.timers, t)
	return t
}

// acknowledged starts keepalives and the credentials' expiry once connection_ack is sent.
func (c *conn) acknowledged(ctx context.Context, expiry time.Time) {
	if c.d.legacy {
		_ = c.send(ctx, message{Type: "ka"})
	}
	if c.cfg.KeepAlive > 0 {
		ka := message{Type: "ping"}
		if c.d.legacy {
			ka = message{Type: "ka"}
		}
		c.every(c.cfg.KeepAlive, func() bool { return c.send(ctx, ka) == nil })
	}
	if !expiry.IsZero() {
		c.after(time.Until(expiry), func() { c.fatal(ctx, closeForbidden, "Forbidden: token expired") })
	}
}

// stopTimers stops every timer; callbacks that already fired are waited for by c.wg.
func (c *conn) stopTimers() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.stopping = true
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
}

// start registers operation m.ID and runs it in its own goroutine. A non-zero
// code means the connection must be closed.
func (c *conn) start(opsCtx context.Context, m message, readAt time.Time) (websocket.StatusCode, string) {
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(m.Payload))
	dec.UseNumber()
	if bytes.Equal(bytes.TrimSpace(m.Payload), []byte("null")) || dec.Decode(&params) != nil {
		return closeBadRequest, fmt.Sprintf("Invalid %s payload", m.Type)
	}
	params.Headers = c.headers
	params.ReadTime = graphql.TraceTiming{Start: readAt, End: graphql.Now()}

	c.mu.Lock()
	if _, dup := c.ops[m.ID]; dup {
		c.mu.Unlock()
		return closeDuplicateID, fmt.Sprintf("Subscriber for %s already exists", m.ID)
	}
	if len(c.ops) >= c.cfg.MaxSubscriptions {
		c.mu.Unlock()
		c.sendErrors(opsCtx, m.ID, gqlerror.List{{
			Message:    fmt.Sprintf("too many operations on this connection (limit %d)", c.cfg.MaxSubscriptions),
			Extensions: map[string]any{"code": "LIMIT_EXCEEDED"},
		}})
		return 0, ""
	}
	ctx, cancel := context.WithCancelCause(opsCtx)
	op := &operation{cancel: cancel}
	c.ops[m.ID] = op
	c.mu.Unlock()

	c.wg.Go(func() {
		// A shared subscription's group holds no reference to ctx: cancelling it frees
		// what the start hung on it.
		defer cancel(nil)
		errs, handedOver := c.execute(ctx, m.ID, op, &params)
		if handedOver {
			return // the operation lives on in its group (see shared.go)
		}
		op.done()
		// Free the id before the final message: a client may reuse it as soon as it sees complete.
		c.mu.Lock()
		if c.ops[m.ID] == op {
			delete(c.ops, m.ID)
		}
		c.mu.Unlock()
		switch {
		case opsCtx.Err() != nil:
			// The connection is ending; its close frame tells the client why.
		case errors.Is(context.Cause(ctx), errStoppedByClient):
			if c.d.legacy {
				_ = c.send(opsCtx, message{ID: m.ID, Type: "complete"})
			}
		case len(errs) > 0:
			c.sendErrors(opsCtx, m.ID, errs)
		default:
			_ = c.send(opsCtx, message{ID: m.ID, Type: "complete"})
		}
	})
	return 0, ""
}

// stop cancels operation id; the id is free for reuse at once, as
// graphql-transport-ws allows. Unknown ids are ignored.
func (c *conn) stop(id string) {
	c.mu.Lock()
	op := c.ops[id]
	delete(c.ops, id)
	c.mu.Unlock()
	if op == nil {
		return
	}
	op.cancel(errStoppedByClient)
	if m := op.stop(); m != nil {
		m.g.leave(m)
		c.purge(id)
		if c.d.legacy {
			c.push(outMsg{id: id, typ: "complete", final: true})
		}
		op.done()
	}
}

// leaveGroups takes the connection's shared subscriptions out of their groups as the
// connection ends.
func (c *conn) leaveGroups() {
	c.mu.Lock()
	ops := make([]*operation, 0, len(c.ops))
	for _, op := range c.ops {
		ops = append(ops, op)
	}
	c.mu.Unlock()
	for _, op := range ops {
		if m := op.stop(); m != nil {
			m.g.leave(m)
			op.done()
		}
	}
}

// execute runs one operation, sending each result, and returns the errors
// that end it without a result (invalid operation, refusal, panic). handedOver is true
// when a shared subscription's group has taken the operation over.
func (c *conn) execute(ctx context.Context, id string, op *operation, params *graphql.RawParams) (errs gqlerror.List, handedOver bool) {
	ctx = graphql.StartOperationTrace(ctx)
	var rc *graphql.OperationContext
	defer func() {
		if p := recover(); p != nil {
			err := error(gqlerror.Errorf("internal system error"))
			if rc != nil {
				if rerr := rc.Recover(ctx, p); rerr != nil {
					err = rerr
				}
			}
			c.log.Error("recovering from operation panic", "panic", fmt.Sprint(p))
			errs = gqlerror.List{gqlerror.WrapIfUnwrapped(err)}
		}
	}()

	rc, cerrs := c.exec.CreateOperationContext(ctx, params)
	if cerrs != nil {
		return c.presented(graphql.WithOperationContext(ctx, rc), cerrs), false
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	if c.cfg.OnOperation != nil {
		release, err := c.cfg.OnOperation(ctx)
		if err != nil {
			return c.presented(ctx, gqlerror.List{gqlerror.WrapIfUnwrapped(err)}), false
		}
		op.release = release
	}
	if c.shared != nil && c.cfg.Share != nil && rc.Operation.Operation == ast.Subscription {
		if scope, ok := c.cfg.Share(ctx, rc); ok {
			if handled, handedOver := c.executeShared(ctx, id, op, params, rc, scope); handled {
				return nil, handedOver
			}
		}
	}

	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	for {
		resp := responses(ctx)
		if resp == nil {
			return nil, false
		}
		b, err := encodeResponse(resp)
		if err != nil {
			return gqlerror.List{gqlerror.Errorf("encoding result: %v", err)}, false
		}
		if err := c.send(ctx, message{ID: id, Type: c.d.next(), Payload: b}); err != nil {
			return nil, false
		}
	}
}

// encodeResponse encodes resp. The common subscription event, data alone, is framed by
// hand: gqlgen has already encoded it, and json.Marshal would validate and compact it
// again for every subscriber.
func encodeResponse(resp *graphql.Response) ([]byte, error) {
	if len(resp.Errors) > 0 || resp.Label != "" || len(resp.Path) > 0 || resp.HasNext != nil || len(resp.Extensions) > 0 || len(resp.Data) == 0 {
		return json.Marshal(resp)
	}
	b := make([]byte, 0, len(resp.Data)+len(`{"data":}`))
	return append(append(append(b, `{"data":`...), resp.Data...), '}'), nil
}

// presented passes errs through the server's error presenter and response middleware.
func (c *conn) presented(ctx context.Context, errs gqlerror.List) gqlerror.List {
	if resp := c.exec.DispatchError(ctx, errs); resp != nil && len(resp.Errors) > 0 {
		return resp.Errors
	}
	return errs
}

// sendErrors ends operation id with an error message; legacy clients also get complete.
func (c *conn) sendErrors(ctx context.Context, id string, errs gqlerror.List) {
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"internal system error"}]`)
	}
	if c.send(ctx, message{ID: id, Type: "error", Payload: b}) == nil && c.d.legacy {
		_ = c.send(ctx, message{ID: id, Type: "complete"})
	}
}

// send writes m unless ctx is done, so that nothing more goes out for an
// operation the client has stopped.
func (c *conn) send(ctx context.Context, m message) error {
	b, err := frame(m)
	if err != nil {
		return fmt.Errorf("encoding %s message: %w", m.Type, err)
	}
	err = c.write(ctx, 0, func() error { return c.ws.Write(context.Background(), websocket.MessageText, b) })
	if err != nil && ctx.Err() == nil {
		c.log.Debug("writing websocket message", "type", m.Type, "err", err)
		return fmt.Errorf("writing %s message: %w", m.Type, err)
	}
	return err
}

// frame encodes m. A payload is already JSON (gqlgen's encoded response, or a value
// decoded from the client), so it is copied as it is rather than re-validated and
// compacted as json.Marshal would for every message of every subscriber.
func frame(m message) ([]byte, error) {
	b := make([]byte, 0, len(m.Payload)+len(m.ID)+40)
	b = append(b, '{')
	if m.ID != "" {
		id, err := json.Marshal(m.ID)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, `"id":`...), id...), ',')
	}
	b = append(append(append(b, `"type":"`...), m.Type...), '"')
	if len(m.Payload) > 0 {
		b = append(append(b, `,"payload":`...), m.Payload...)
	}
	return append(b, '}'), nil
}

// fatal ends the connection; legacy clients learn the reason from connection_error first.
func (c *conn) fatal(ctx context.Context, code websocket.StatusCode, reason string) {
	reason = closeReason(reason)
	c.log.Debug("closing websocket connection", "status", int(code), "reason", reason)
	if c.d.legacy {
		b, _ := json.Marshal(map[string]string{"message": reason})
		_ = c.send(ctx, message{Type: "connection_error", Payload: b})
	}
	c.closeConn(code, reason)
}

// closeConn runs the close handshake once; later writes are dropped.
func (c *conn) closeConn(code websocket.StatusCode, reason string) {
	c.wmu.Lock()
	already := c.closed
	c.closed = true
	c.wmu.Unlock()
	if already {
		return
	}
	if err := c.ws.Close(code, reason); err != nil {
		c.log.Debug("closing websocket", "status", int(code), "err", err)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
