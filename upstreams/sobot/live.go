package sobot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// maxEventBytes caps one SSE event (the full message carries every agent).
const maxEventBytes = 16 << 20

// live is the state the webhook pushes feed: calls in progress and the registered sinks.
// Sinks are called with mu held, which serialises pushes arriving on several requests.
type live struct {
	mu        sync.Mutex
	maxCalls  int
	calls     map[string]*model.Call
	callSinks map[*callSink]struct{}
	watches   map[*watch]struct{}
}

type callSink struct{ sink upstreams.Sink }

func newLive(maxCalls int) *live {
	return &live{maxCalls: maxCalls, calls: map[string]*model.Call{}, callSinks: map[*callSink]struct{}{}, watches: map[*watch]struct{}{}}
}

// Topics lists the live topics: calls from webhook pushes, agents and queues from the SSE
// agents-metrics watch.
func (d *Driver) Topics() []upstreams.Topic {
	return []upstreams.Topic{upstreams.TopicCalls, upstreams.TopicAgents, upstreams.TopicQueues}
}

// Stream serves one topic until ctx ends or the connection fails.
func (d *Driver) Stream(ctx context.Context, topic upstreams.Topic, sink upstreams.Sink) error {
	switch topic {
	case upstreams.TopicCalls:
		return d.streamCalls(ctx, sink)
	case upstreams.TopicAgents, upstreams.TopicQueues:
		return d.watchMetrics(ctx, topic, sink)
	}
	return d.spec.Errorf("streaming "+string(topic), upstreams.ErrNotSupported, nil, "unknown topic")
}

// streamCalls registers sink for webhook pushes and waits: Sobot pushes calls, there is
// no connection to hold.
func (d *Driver) streamCalls(ctx context.Context, sink upstreams.Sink) error {
	reg := &callSink{sink: sink}
	l := d.live
	l.mu.Lock()
	items := make([]upstreams.Item, 0, len(l.calls))
	for k, c := range l.calls {
		items = append(items, upstreams.Item{Key: k, Value: c})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	sink.Reset(items)
	sink.SetHealth(model.HealthStatusLive, "")
	l.callSinks[reg] = struct{}{}
	l.mu.Unlock()
	<-ctx.Done()
	l.mu.Lock()
	delete(l.callSinks, reg)
	l.mu.Unlock()
	return ctx.Err()
}

// emitCall sends c to every calls sink, then removes it when it has ended. Call with mu held.
func (l *live) emitCall(c *model.Call) {
	for s := range l.callSinks {
		s.sink.Upsert(c.VendorID, c)
	}
	if c.EndedAt != nil {
		delete(l.calls, c.VendorID)
		for s := range l.callSinks {
			s.sink.Remove(c.VendorID)
		}
		return
	}
	if _, ok := l.calls[c.VendorID]; ok || len(l.calls) < l.maxCalls {
		l.calls[c.VendorID] = c
	}
}

// watch is the state of one agents-metrics SSE connection: the agents and the summary as
// the last full message and the patches since made them.
type watch struct {
	d       *Driver
	topic   upstreams.Topic
	sink    upstreams.Sink
	mu      sync.Mutex
	ready   bool
	agents  map[string]map[string]json.RawMessage
	summary map[string]json.RawMessage
}

var errDiverged = errors.New("patch for an agent the watch does not hold; reconnecting for a full message")

// watchMetrics holds one SSE connection to the agents-metrics watch.
func (d *Driver) watchMetrics(ctx context.Context, topic upstreams.Topic, sink upstreams.Sink) error {
	const op = "watching agent metrics"
	sink.SetHealth(model.HealthStatusConnecting, "")
	resp, err := d.c.openStream(ctx, op, pathMetricsWatch, d.metricsQuery(1))
	if err != nil {
		sink.SetHealth(model.HealthStatusDown, err.Error())
		return d.observe(err)
	}
	defer resp.Body.Close()
	w := &watch{d: d, topic: topic, sink: sink}
	d.live.mu.Lock()
	d.live.watches[w] = struct{}{}
	d.live.mu.Unlock()
	defer func() {
		d.live.mu.Lock()
		delete(d.live.watches, w)
		d.live.mu.Unlock()
	}()
	err = readSSE(resp.Body, func(data []byte) error { return w.handle(op, data) })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		err = errors.New("stream closed by source")
	}
	var ue *upstreams.Error
	if !errors.As(err, &ue) {
		err = d.spec.Errorf(op, upstreams.ErrUnavailable, err, err.Error())
	}
	sink.SetHealth(model.HealthStatusDegraded, err.Error())
	return d.observe(err)
}

// readSSE reads text/event-stream framing and calls fn with each event's data. It returns
// fn's error, the read error, io.ErrUnexpectedEOF when the stream ends inside an event, or
// nil on a clean end.
func readSSE(r io.Reader, fn func([]byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var data bytes.Buffer
	var pending bool
	for {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) && !pending && len(line) == 0 {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("reading event stream: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("reading event stream: %w", err)
		}
		if len(line) == 0 {
			if pending {
				if err := fn(data.Bytes()); err != nil {
					return err
				}
			}
			data.Reset()
			pending = false
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(field) == 0 {
			continue // comment / heartbeat
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) == "data" {
			if pending {
				data.WriteByte('\n')
			}
			if data.Len()+len(value) > maxEventBytes {
				return fmt.Errorf("reading event stream: event larger than %d bytes", maxEventBytes)
			}
			data.Write(value)
			pending = true
		}
	}
}

// readLine returns one line without its terminator; at EOF it returns what it has with
// io.EOF, so a line cut off by a dropped connection is seen as such.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxEventBytes {
			return nil, fmt.Errorf("line longer than %d bytes", maxEventBytes)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return line, err
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
		return line, nil
	}
}

// handle applies one SSE message.
func (w *watch) handle(op string, data []byte) error {
	var msg metricsMessage
	if err := decodeDoc(data, &msg); err != nil {
		return w.d.mapErr(op, "", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch msg.MessageID {
	case "EventAgentsMetricsWatch":
		return w.full(op, &msg)
	case "EventAgentsMetricsChanged":
		if !w.ready {
			return w.d.spec.Errorf(op, upstreams.ErrBadResponse, nil, "incremental message before the full message")
		}
		return w.patch(op, msg.List)
	}
	w.d.log.Warn("ignoring agents-metrics message of unknown type", "messageID", msg.MessageID)
	return nil
}

// full replaces the state from an EventAgentsMetricsWatch message.
func (w *watch) full(op string, msg *metricsMessage) error {
	if msg.AgentsMetrics == nil {
		return w.d.spec.FieldError(op, "agentsMetrics", errors.New("missing"))
	}
	agents := map[string]map[string]json.RawMessage{}
	for i, raw := range msg.AgentsMetrics.List {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(raw, &doc); err != nil {
			return w.d.spec.FieldError(op, fmt.Sprintf("agentsMetrics.list[%d]", i), errors.New("not an object"))
		}
		if len(doc) == 0 {
			continue // the document's examples end lists with an empty {}
		}
		id, err := docID(doc)
		if err != nil {
			return w.d.mapErr(op, fmt.Sprintf("agentsMetrics.list[%d].", i), err)
		}
		agents[id] = doc
	}
	if total := msg.AgentsMetrics.Total; total.Set && int(total.V) > len(msg.AgentsMetrics.List) {
		w.d.log.Warn("agents-metrics watch holds one page only; raise watchPageSize", "total", total.V, "got", len(msg.AgentsMetrics.List))
	}
	summary := map[string]json.RawMessage{}
	if len(msg.AgentsSummary) > 0 && string(msg.AgentsSummary) != "null" {
		if err := json.Unmarshal(msg.AgentsSummary, &summary); err != nil {
			return w.d.spec.FieldError(op, "agentsSummary", errors.New("not an object"))
		}
	}
	w.agents, w.summary, w.ready = agents, summary, true
	mapped, err := w.mapAll(op)
	if err != nil {
		return err
	}
	if w.topic == upstreams.TopicAgents {
		items := make([]upstreams.Item, 0, len(mapped))
		for _, a := range mapped {
			items = append(items, upstreams.Item{Key: a.VendorID, Value: a})
		}
		w.sink.Reset(items)
	} else {
		q, err := w.queue(op, mapped)
		if err != nil {
			return err
		}
		w.sink.Reset([]upstreams.Item{{Key: q.VendorID, Value: q}})
	}
	w.sink.SetHealth(model.HealthStatusLive, "")
	w.d.health.Observe(nil)
	return nil
}

func docID(doc map[string]json.RawMessage) (string, error) {
	for _, k := range []string{"agentUUID", "agentID"} {
		var id flexString
		if v, ok := doc[k]; ok {
			if err := json.Unmarshal(v, &id); err != nil {
				return "", &fieldError{field: k, err: err}
			}
			if id != "" {
				return string(id), nil
			}
		}
	}
	return "", fieldErr("agentUUID", "missing (and no agentID)")
}

func (w *watch) mapAgent(op, id string) (*model.Agent, error) {
	raw, _ := json.Marshal(w.agents[id])
	a, err := w.d.m.mapAgent(raw)
	if err != nil {
		return nil, w.d.mapErr(op, "agentsMetrics.list["+id+"].", err)
	}
	return a, nil
}

func (w *watch) mapAll(op string) ([]*model.Agent, error) {
	ids := make([]string, 0, len(w.agents))
	for id := range w.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*model.Agent, 0, len(ids))
	for _, id := range ids {
		a, err := w.mapAgent(op, id)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (w *watch) queue(op string, agents []*model.Agent) (*model.Queue, error) {
	raw, _ := json.Marshal(w.summary)
	q, err := w.d.m.tenantQueue(TenantQueueID, raw, agents, w.d.now())
	if err != nil {
		return nil, w.d.mapErr(op, "", err)
	}
	return q, nil
}

// patch applies an EventAgentsMetricsChanged list. A patch naming an agent we do not hold
// means our state diverged: the error ends the stream and the reconnect brings a full
// message. A path we do not know is logged and skipped (forward compatibility).
func (w *watch) patch(op string, ops []patchOp) error {
	changed := map[string]bool{}
	removed := map[string]bool{}
	summary := false
	for i, p := range ops {
		segs := strings.Split(strings.Trim(p.Path, "/"), "/")
		id := string(p.ID)
		switch {
		case len(segs) >= 2 && segs[0] == "agentsMetrics" && segs[1] == "list":
			if len(segs) == 2 { // a whole item
				switch p.Op {
				case "add", "replace":
					var doc map[string]json.RawMessage
					// JSON null decodes into a nil map without error: refuse it like any non-object.
					if err := json.Unmarshal(p.Value, &doc); err != nil || doc == nil {
						return w.d.spec.FieldError(op, fmt.Sprintf("list[%d].value", i), errors.New("want an agent object"))
					}
					if vid, err := docID(doc); err == nil {
						id = vid
					}
					if id == "" {
						return w.d.spec.FieldError(op, fmt.Sprintf("list[%d].id", i), errors.New("missing"))
					}
					w.agents[id] = doc
					changed[id], removed[id] = true, false
				case "remove":
					if _, ok := w.agents[id]; !ok {
						return w.d.spec.Errorf(op, upstreams.ErrBadResponse, errDiverged, fmt.Sprintf("list[%d]: unknown agent id %q", i, id))
					}
					delete(w.agents, id)
					changed[id], removed[id] = false, true
				default:
					w.d.log.Warn("ignoring patch with unknown op", "op", p.Op, "path", p.Path)
				}
				continue
			}
			doc, ok := w.agents[id]
			if !ok || doc == nil {
				return w.d.spec.Errorf(op, upstreams.ErrBadResponse, errDiverged, fmt.Sprintf("list[%d]: unknown agent id %q", i, id))
			}
			field := strings.Join(segs[2:], "/")
			switch p.Op {
			case "add", "replace":
				doc[field] = p.Value
			case "remove":
				delete(doc, field)
			default:
				w.d.log.Warn("ignoring patch with unknown op", "op", p.Op, "path", p.Path)
				continue
			}
			changed[id] = true
		case len(segs) == 2 && segs[0] == "agentsSummary":
			switch p.Op {
			case "add", "replace":
				w.summary[segs[1]] = p.Value
			case "remove":
				delete(w.summary, segs[1])
			default:
				w.d.log.Warn("ignoring patch with unknown op", "op", p.Op, "path", p.Path)
				continue
			}
			summary = true
		default:
			w.d.log.Warn("ignoring patch for unknown path", "path", p.Path)
		}
	}
	return w.emit(op, changed, removed, summary)
}

// emit sends what a patch or push changed. Call with w.mu held.
func (w *watch) emit(op string, changed, removed map[string]bool, summary bool) error {
	if w.topic == upstreams.TopicQueues {
		if len(changed) == 0 && len(removed) == 0 && !summary {
			return nil
		}
		agents, err := w.mapAll(op)
		if err != nil {
			return err
		}
		q, err := w.queue(op, agents)
		if err != nil {
			return err
		}
		w.sink.Upsert(q.VendorID, q)
		return nil
	}
	ids := make([]string, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		switch {
		case removed[id]:
			w.sink.Remove(id)
		case changed[id]:
			a, err := w.mapAgent(op, id)
			if err != nil {
				return err
			}
			w.sink.Upsert(id, a)
		}
	}
	return nil
}

// applyStatus merges a pushed agent status into every watch holding state, as a patch of
// the agent's fields would, and emits the change. Without a running watch there is no
// state to update: the next full message brings the agent as it is.
// applyStatus merges one agent's pushed status into this watch's state.
func (w *watch) applyStatus(op, id string, fields map[string]any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ready {
		return nil
	}
	doc, ok := w.agents[id]
	if !ok || doc == nil {
		doc = map[string]json.RawMessage{"agentUUID": json.RawMessage(fmt.Sprintf("%q", id))}
		w.agents[id] = doc
	}
	for k, v := range fields {
		b, _ := json.Marshal(v)
		doc[k] = b
	}
	return w.emit(op, map[string]bool{id: true}, nil, false)
}

func (l *live) applyStatus(op, id string, fields map[string]any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for w := range l.watches {
		errs = append(errs, w.applyStatus(op, id, fields))
	}
	return errors.Join(errs...)
}
