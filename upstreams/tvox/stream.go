package tvox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// errReauth ends a connection that must be reopened with a new access token: the token is
// due for renewal, or the server closed the socket as unauthorized.
var errReauth = errors.New("access token must be renewed")

// maxReauths bounds back-to-back re-authentications that never reach a synced stream.
const maxReauths = 3

func (d *Driver) liveState(topic upstreams.Topic) *liveState {
	d.mu.Lock()
	defer d.mu.Unlock()
	ls := d.live[topic]
	if ls == nil {
		ls = &liveState{sem: make(chan struct{}, 1), docs: newStore()}
		d.live[topic] = ls
	}
	return ls
}

// Stream feeds sink with one topic's live state: it discovers what to read, subscribes,
// loads a query snapshot, then merges the changed-fields-only updates. When the access
// token must be renewed it logs in again and resubscribes inside this call, resyncing by
// difference so that the hub sees no reset. Other failures end the call.
func (d *Driver) Stream(ctx context.Context, topic upstreams.Topic, sink upstreams.Sink) error {
	if topic != upstreams.TopicAgents && topic != upstreams.TopicQueues {
		return d.spec.Errorf("streaming "+string(topic), upstreams.ErrNotSupported, nil, "TVox streams agents and queues only")
	}
	ls := d.liveState(topic)
	select {
	case ls.sem <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	defer func() { <-ls.sem }()

	reset, reauths := true, 0
	for {
		synced, err := d.streamOnce(ctx, topic, ls, sink, reset)
		if ctx.Err() != nil {
			return nil
		}
		if synced {
			reset, reauths = false, 0
		}
		if errors.Is(err, errReauth) && reauths < maxReauths {
			reauths++
			d.log.Info("renewing access token for subscription", "topic", topic)
			continue
		}
		if errors.Is(err, errReauth) {
			err = d.spec.Errorf("streaming "+string(topic), upstreams.ErrUnauthorized, err, "server keeps refusing renewed access tokens")
		}
		d.health.Observe(err)
		sink.SetHealth(model.HealthStatusDegraded, err.Error())
		return err
	}
}

// subscription is one subscribe message of a connection.
type subscription struct {
	id string
	f  field
}

// streamOnce runs one WebSocket connection. synced reports whether the snapshot reached sink.
func (d *Driver) streamOnce(ctx context.Context, topic upstreams.Topic, ls *liveState, sink upstreams.Sink, reset bool) (synced bool, err error) {
	op := "streaming " + string(topic)
	sink.SetHealth(model.HealthStatusConnecting, "")
	p, err := d.plan(ctx, op, topic)
	if err != nil {
		return false, err
	}
	tok, err := d.client.accessToken(ctx)
	if err != nil {
		return false, err
	}
	w, err := d.client.dial(ctx, d.cfg.WSProtocol)
	if err != nil {
		return false, err
	}
	defer w.conn.CloseNow()

	if err := d.initConn(ctx, op, w, tok); err != nil {
		return false, err
	}

	// The reader is owned by this call: it stops when the socket closes (deferred above).
	msgs := make(chan wsMsg, 64)
	readErr := make(chan error, 1)
	readCtx, stopRead := context.WithCancel(ctx)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			m, err := w.read(readCtx)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-readCtx.Done():
				return
			}
		}
	}()
	defer func() {
		stopRead()
		w.conn.CloseNow()
		<-readDone
	}()

	subs := make(map[string]field, len(p))
	for i, f := range p {
		id := strconv.Itoa(i + 1)
		subs[id] = f
		payload, _ := json.Marshal(map[string]any{"query": f.text("subscription"), "variables": f.vars})
		if err := w.send(ctx, wsMsg{ID: id, Type: w.subscribe, Payload: payload}); err != nil {
			return false, d.spec.Errorf(op, upstreams.ErrUnavailable, err, "subscribing to "+f.coll)
		}
	}

	// Subscribed first, snapshot second: every change after the snapshot has a message,
	// and messages already buffered are merged on top of it in order.
	fresh := newStore()
	if err := d.loadSnapshot(ctx, op, p, fresh); err != nil {
		return false, err
	}
	ls.docs = fresh
	for drained := false; !drained; {
		select {
		case m := <-msgs:
			if err := d.handle(ctx, op, w, subs, ls, m); err != nil {
				return false, err
			}
		default:
			drained = true
		}
	}
	if err := ls.emit(d.mapper, op, topic, sink, reset); err != nil {
		return false, err
	}
	sink.SetHealth(model.HealthStatusLive, "")
	d.health.Observe(nil)

	interval := d.cfg.PingInterval.Or(30 * time.Second)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var renew <-chan time.Time
	if at := d.client.renewAt(); !at.IsZero() {
		t := time.NewTimer(time.Until(at))
		defer t.Stop()
		renew = t.C
	}
	lastRecv := time.Now()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case <-renew:
			w.conn.Close(websocket.StatusNormalClosure, "renewing access token")
			return true, errReauth
		case <-ticker.C:
			if time.Since(lastRecv) > 2*interval {
				return true, d.spec.Errorf(op, upstreams.ErrUnavailable, nil, "subscription socket silent for "+time.Since(lastRecv).Round(time.Second).String())
			}
			if w.proto == ProtocolTransportWS {
				if err := w.send(ctx, wsMsg{Type: "ping"}); err != nil {
					return true, d.spec.Errorf(op, upstreams.ErrUnavailable, err, "sending ping")
				}
			}
		case err := <-readErr:
			return true, d.closed(op, tok, err)
		case m := <-msgs:
			lastRecv = time.Now()
			if err := d.handle(ctx, op, w, subs, ls, m); err != nil {
				return true, err
			}
			if m.Type == w.next {
				if err := ls.emit(d.mapper, op, topic, sink, false); err != nil {
					return true, err
				}
			}
		}
	}
}

// initConn sends connection_init with the access token and waits for connection_ack.
func (d *Driver) initConn(ctx context.Context, op string, w *wsConn, tok string) error {
	payload, _ := json.Marshal(map[string]string{"accessToken": tok})
	if err := w.send(ctx, wsMsg{Type: "connection_init", Payload: payload}); err != nil {
		return d.spec.Errorf(op, upstreams.ErrUnavailable, err, "sending connection_init")
	}
	timeout := d.cfg.InitTimeout.Or(10 * time.Second)
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		m, err := w.read(ictx)
		switch {
		case err != nil && ictx.Err() != nil && ctx.Err() == nil:
			return d.spec.Errorf(op, upstreams.ErrUnavailable, err, "server did not acknowledge connection_init within "+timeout.String())
		case err != nil:
			return d.closed(op, tok, err)
		}
		switch m.Type {
		case "connection_ack":
			return nil
		case "connection_error":
			return d.authFailure(op, tok, "server refused connection_init")
		case "ping":
			if err := w.send(ctx, wsMsg{Type: "pong"}); err != nil {
				return d.spec.Errorf(op, upstreams.ErrUnavailable, err, "sending pong")
			}
		}
	}
}

// closed classifies the end of the socket.
func (d *Driver) closed(op, tok string, err error) error {
	switch code := websocket.CloseStatus(err); code {
	case 4401, 4403:
		return d.authFailure(op, tok, fmt.Sprintf("server closed the socket with %d (unauthorized)", code))
	case -1:
		return d.spec.Errorf(op, upstreams.ErrUnavailable, err, "subscription socket failed")
	default:
		return d.spec.Errorf(op, upstreams.ErrUnavailable, err, fmt.Sprintf("server closed the subscription socket (%d)", code))
	}
}

func (d *Driver) authFailure(op, tok, detail string) error {
	if d.client.renewable() {
		d.client.invalidate(tok)
		return fmt.Errorf("%s: %w", detail, errReauth)
	}
	return d.spec.Errorf(op, upstreams.ErrUnauthorized, nil, detail)
}

// handle applies one message of either sub-protocol.
func (d *Driver) handle(ctx context.Context, op string, w *wsConn, subs map[string]field, ls *liveState, m wsMsg) error {
	switch m.Type {
	case w.next:
		f, ok := subs[m.ID]
		if !ok {
			return nil // a late message of a subscription this connection no longer has
		}
		var r Response
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return d.spec.FieldError(op, f.coll+" payload", err)
		}
		if len(r.Errors) > 0 {
			return d.spec.Errorf(op, upstreams.ErrUpstreamStatus, nil, "subscription "+f.coll+": "+r.Errors[0].Message)
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(r.Data, &data); err != nil {
			return d.spec.FieldError(op, f.coll+" payload.data", err)
		}
		items, ok := data[f.coll]
		if !ok || string(items) == "null" {
			return nil
		}
		return ls.docs.apply(d.spec, op, f.coll, items)
	case "error":
		name := m.ID
		if f, ok := subs[m.ID]; ok {
			name = f.coll
		}
		return d.spec.Errorf(op, upstreams.ErrUpstreamStatus, nil, "subscription "+name+" error: "+errorMessage(m.Payload))
	case "complete":
		name := m.ID
		if f, ok := subs[m.ID]; ok {
			name = f.coll
		}
		return d.spec.Errorf(op, upstreams.ErrUnavailable, nil, "server completed subscription "+name)
	case "connection_error":
		return d.spec.Errorf(op, upstreams.ErrUnauthorized, nil, "connection error: "+errorMessage(m.Payload))
	case "ping":
		if err := w.send(ctx, wsMsg{Type: "pong"}); err != nil {
			return d.spec.Errorf(op, upstreams.ErrUnavailable, err, "sending pong")
		}
	case "pong", "ka", "connection_ack":
	default:
		d.log.Warn("ignoring unknown subscription message", "type", m.Type)
	}
	return nil
}

// errorMessage reads an error payload: a list of GraphQL errors (graphql-transport-ws) or
// one error object (graphql-ws).
func errorMessage(p json.RawMessage) string {
	var list []GraphQLError
	if json.Unmarshal(p, &list) == nil && len(list) > 0 {
		return list[0].Message
	}
	var one GraphQLError
	if json.Unmarshal(p, &one) == nil && one.Message != "" {
		return one.Message
	}
	return "no message"
}
