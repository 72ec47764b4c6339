package telavox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// badDocsDegraded is how many malformed documents in a row turn the stream DEGRADED.
const badDocsDegraded = 3

// callSeedWindow is how far back the calls topic looks for active calls when it connects.
const callSeedWindow = 4 * time.Hour

// Topics lists the live topics: calls from /calls, agents derived from /agents, queues
// derived from /queues.
func (d *Driver) Topics() []upstreams.Topic {
	return []upstreams.Topic{upstreams.TopicCalls, upstreams.TopicAgents, upstreams.TopicQueues}
}

// topicState is what one topic keeps between documents.
type topicState interface {
	// seed loads today's history before live documents are read; it returns the snapshot.
	seed(ctx context.Context) ([]upstreams.Item, error)
	// apply handles one live document.
	apply(raw []byte, sink upstreams.Sink) error
}

// Stream opens one WebSocket and feeds sink until ctx is done or the connection drops.
// Agents and queues are derived state: on connect, today's history seeds them and a Reset
// replaces what the hub holds; the calls topic seeds the calls still active.
func (d *Driver) Stream(ctx context.Context, topic upstreams.Topic, sink upstreams.Sink) error {
	op := "streaming " + string(topic)
	var st topicState
	switch topic {
	case upstreams.TopicCalls:
		st = &callsTopic{d: d}
	case upstreams.TopicAgents:
		st = newAgentsTopic(d)
	case upstreams.TopicQueues:
		st = &queuesTopic{d: d, qs: newQueueSet(d.m, d.cfg)}
	default:
		return d.spec.Errorf(op, upstreams.ErrNotSupported, nil, "unknown topic "+string(topic))
	}
	sink.SetHealth(model.HealthStatusConnecting, "")
	conn, err := d.c.dial(ctx, op, "/"+string(topic))
	if err != nil {
		sink.SetHealth(model.HealthStatusDown, err.Error())
		return err
	}
	defer conn.CloseNow()
	// Dialled first so that documents sent while the history loads wait in the socket.
	items, err := st.seed(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		d.log.Warn("seeding live state from history", "topic", topic, "err", err)
		sink.SetHealth(model.HealthStatusDegraded, "history unavailable: "+err.Error())
	} else {
		sink.Reset(items)
		sink.SetHealth(model.HealthStatusLive, "")
	}
	bad := 0
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				conn.Close(websocket.StatusNormalClosure, "")
				return nil
			}
			e := d.spec.Errorf(op, upstreams.ErrUnavailable, err, "WebSocket /"+string(topic)+" closed")
			sink.SetHealth(model.HealthStatusDown, e.Error())
			return e
		}
		if err := st.apply(msg, sink); err != nil {
			bad++
			d.log.Error("skipping malformed live document", "topic", topic, "err", err)
			if bad == badDocsDegraded {
				sink.SetHealth(model.HealthStatusDegraded, fmt.Sprintf("%d malformed documents in a row, last: %v", bad, err))
			}
			continue
		}
		if bad >= badDocsDegraded {
			sink.SetHealth(model.HealthStatusLive, "")
		}
		bad = 0
	}
}

// dayRange is the current UTC day.
func (d *Driver) dayRange() upstreams.TimeRange {
	from := d.now().UTC().Truncate(24 * time.Hour)
	return upstreams.TimeRange{From: from, To: from.Add(24 * time.Hour)}
}

// historyRange is from until now (inclusive).
func (d *Driver) historyRange(from time.Time) upstreams.TimeRange {
	return upstreams.TimeRange{From: from, To: d.now().UTC().Truncate(time.Second).Add(time.Second)}
}

type callsTopic struct{ d *Driver }

func (t *callsTopic) seed(ctx context.Context) ([]upstreams.Item, error) {
	var items []upstreams.Item
	err := t.d.c.fetchAll(ctx, "seeding live calls", "callOverview", callFields, t.d.historyRange(t.d.now().Add(-callSeedWindow)), t.d.cfg.PageSize, func(raw json.RawMessage) error {
		c, err := t.d.m.decodeCall("seeding live calls", raw, false)
		if err != nil {
			t.d.log.Error("skipping malformed call record", "err", err)
			return nil
		}
		t.d.times.remember(c)
		if c.Outcome == model.OutcomeInProgress {
			items = append(items, upstreams.Item{Key: c.VendorID, Value: c})
		}
		return nil
	})
	return items, err
}

// apply upserts the call, and removes it after its final (inactive) document.
func (t *callsTopic) apply(raw []byte, sink upstreams.Sink) error {
	c, err := t.d.m.decodeCall("streaming calls", raw, true)
	if err != nil {
		return err
	}
	t.d.times.remember(c)
	sink.Upsert(c.VendorID, c)
	if c.Outcome != model.OutcomeInProgress {
		sink.Remove(c.VendorID)
	}
	return nil
}

type queuesTopic struct {
	d   *Driver
	qs  *queueSet
	day time.Time
}

func (t *queuesTopic) seed(ctx context.Context) ([]upstreams.Item, error) {
	const op = "seeding live queues"
	day := t.d.dayRange()
	t.day = day.From
	err := t.d.c.fetchAll(ctx, op, "queueOverview", segFields, t.d.historyRange(day.From), t.d.cfg.PageSize, func(raw json.RawMessage) error {
		doc, s, err := t.d.m.decodeSegment(op, raw, false)
		if err != nil {
			t.d.log.Error("skipping malformed queue record", "err", err)
			return nil
		}
		t.qs.add(doc, s)
		return nil
	})
	items := []upstreams.Item{}
	for _, q := range t.qs.queues(day, t.d.now(), t.d.cfg) {
		items = append(items, upstreams.Item{Key: q.VendorID, Value: q})
	}
	return items, err
}

// apply replaces the record of the call in its queue and upserts that queue's figures.
func (t *queuesTopic) apply(raw []byte, sink upstreams.Sink) error {
	doc, s, err := t.d.m.decodeSegment("streaming queues", raw, true)
	if err != nil {
		return err
	}
	day := t.d.dayRange()
	if !day.From.Equal(t.day) {
		t.day = day.From
		t.qs.prune(day.From)
	}
	key := t.qs.add(doc, s)
	q := t.qs.queue(key, day, t.d.now(), t.d.cfg)
	sink.Upsert(key, q)
	return nil
}

// agentsTopic derives agent states from agent legs (Telavox publishes no agent states):
// an active answered leg is ON_CALL since its answer, an active unanswered one RINGING
// since its offer, and an agent whose legs have all ended is AVAILABLE since the last end.
// Agents known only from configuration are AVAILABLE with an unknown stateSince.
type agentsTopic struct {
	d      *Driver
	agents map[string]*agentLegs
	order  []string
	day    time.Time
}

type agentLegs struct {
	id, name, phone, email string
	queues                 []string
	legs                   map[string]*legDoc // by call id + leg id
	raw                    json.RawMessage
}

func newAgentsTopic(d *Driver) *agentsTopic {
	t := &agentsTopic{d: d, agents: map[string]*agentLegs{}}
	for _, a := range d.cfg.Agents {
		t.get(a.ID, a.Name).queues = a.Queues
	}
	return t
}

func (t *agentsTopic) get(id, name string) *agentLegs {
	key := id
	if key == "" {
		key = name
	}
	a, ok := t.agents[key]
	if !ok {
		a = &agentLegs{id: key, legs: map[string]*legDoc{}}
		t.agents[key] = a
		t.order = append(t.order, key)
	}
	if name != "" {
		a.name = name
	}
	return a
}

func (t *agentsTopic) seed(ctx context.Context) ([]upstreams.Item, error) {
	const op = "seeding live agents"
	day := t.d.dayRange()
	t.day = day.From
	err := t.d.c.fetchAll(ctx, op, "agentOverview", legFields, t.d.historyRange(day.From), t.d.cfg.PageSize, func(raw json.RawMessage) error {
		doc, l, err := t.d.m.decodeLeg(op, raw, false)
		if err != nil {
			t.d.log.Error("skipping malformed agent record", "err", err)
			return nil
		}
		t.add(doc, l)
		return nil
	})
	items := make([]upstreams.Item, 0, len(t.order))
	for _, k := range t.order {
		items = append(items, upstreams.Item{Key: k, Value: t.agent(t.agents[k])})
	}
	return items, err
}

func (t *agentsTopic) apply(raw []byte, sink upstreams.Sink) error {
	doc, l, err := t.d.m.decodeLeg("streaming agents", raw, true)
	if err != nil {
		return err
	}
	if day := t.d.dayRange().From; !day.Equal(t.day) {
		t.day = day
		t.prune(day)
	}
	a := t.add(doc, l)
	sink.Upsert(a.id, t.agent(a))
	return nil
}

func (t *agentsTopic) add(doc *legDoc, l *model.CallLeg) *agentLegs {
	a := t.get(string(doc.Agent.ID), doc.Agent.Name)
	a.phone = cmpOr(doc.Agent.Phone, a.phone)
	a.email = cmpOr(doc.Agent.Email, a.email)
	a.legs[doc.IDCall+"/"+l.ID] = doc
	a.raw = doc.Raw
	return a
}

// prune forgets ended legs offered before the day started (they only fed the counters).
func (t *agentsTopic) prune(day time.Time) {
	for _, a := range t.agents {
		for k, doc := range a.legs {
			if !doc.Active.isTrue() && doc.Time != nil && doc.Time.Start.OK && doc.Time.Start.T.Before(day) {
				delete(a.legs, k)
			}
		}
	}
}

// agent derives the canonical agent from its legs.
func (t *agentsTopic) agent(a *agentLegs) *model.Agent {
	src := t.d.spec.ID
	out := &model.Agent{
		ID: model.GlobalID(model.KindAgent, src, a.id), VendorID: a.id, SourceID: src, Vendor: t.d.spec.Vendor,
		Name: cmpOr(a.name, a.id), Extension: nonEmpty(a.phone), Email: nonEmpty(a.email),
		State: model.AgentStateAvailable, Channel: model.Ptr(model.ChannelVoice), Queues: []*model.Ref{}, Raw: a.raw,
	}
	var onCall, ringing *legDoc
	var lastEnd *time.Time
	c := &model.AgentCounters{Offered: model.Ptr(0), Answered: model.Ptr(0), Missed: model.Ptr(0), TalkSeconds: model.Ptr(0), HoldSeconds: model.Ptr(0)}
	var handle int
	queues := map[string]*model.Ref{}
	for _, doc := range a.legs {
		tm := doc.Time
		if tm == nil {
			tm = &timeDoc{}
		}
		if r := doc.Queue.ref(); r != nil {
			queues[queueKey(doc.Queue)] = newRef(src, model.KindQueue, r)
		}
		switch {
		case doc.Active.isTrue() && doc.Answered.isTrue():
			if onCall == nil || cmpTime(legSince(doc), legSince(onCall)) > 0 {
				onCall = doc
			}
		case doc.Active.isTrue():
			if ringing == nil || cmpTime(legSince(doc), legSince(ringing)) > 0 {
				ringing = doc
			}
		case tm.End.OK && (lastEnd == nil || tm.End.T.After(*lastEnd)):
			lastEnd = tm.End.ptr()
		}
		if !tm.Start.OK || tm.Start.T.Before(t.day) {
			continue
		}
		*c.Offered++
		if doc.Answered.isTrue() {
			*c.Answered++
		} else if !doc.Active.isTrue() {
			*c.Missed++
		}
		if !doc.Active.isTrue() && doc.Duration != nil {
			talk, hold := doc.Duration.Talk.Total.V, firstNum(doc.Duration.Hold, doc.Duration.OnHold)
			*c.TalkSeconds += talk
			if hold != nil {
				*c.HoldSeconds += *hold
				talk += *hold
			}
			if doc.Answered.isTrue() {
				handle += talk
			}
		}
	}
	switch {
	case onCall != nil:
		out.State, out.StateSince = model.AgentStateOnCall, legSince(onCall)
		out.CurrentCallID = model.Ptr(model.GlobalID(model.KindCall, src, onCall.IDCall))
	case ringing != nil:
		out.State, out.StateSince = model.AgentStateRinging, legSince(ringing)
		out.CurrentCallID = model.Ptr(model.GlobalID(model.KindCall, src, ringing.IDCall))
	default:
		out.StateSince = lastEnd
	}
	if *c.Answered > 0 {
		c.AverageHandleSeconds = model.Ptr(float64(handle) / float64(*c.Answered))
	}
	out.Counters = c
	for _, id := range a.queues {
		out.Queues = append(out.Queues, model.NewRef(model.KindQueue, src, id, ""))
	}
	if len(a.queues) == 0 {
		keys := make([]string, 0, len(queues))
		for k := range queues {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out.Queues = append(out.Queues, queues[k])
		}
	}
	return out
}

// legSince is when an active leg entered its state: the answer if answered, else the offer.
func legSince(doc *legDoc) *time.Time {
	if doc.Time == nil {
		return nil
	}
	if doc.Answered.isTrue() && doc.Time.Answered.OK {
		return doc.Time.Answered.ptr()
	}
	if doc.Answered.isTrue() && doc.Agent != nil && doc.Agent.Answered.OK {
		return doc.Agent.Answered.ptr()
	}
	return doc.Time.Start.ptr()
}

func cmpOr[T comparable](vals ...T) T {
	var zero T
	for _, v := range vals {
		if v != zero {
			return v
		}
	}
	return zero
}
