package telavox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// mapper turns Telavox documents into canonical records. It is pure: no I/O, no clock.
type mapper struct {
	spec upstreams.SourceSpec
	// sla returns the service-level threshold of a queue (by id, then name), in seconds.
	sla func(id, name string) int
}

var errMissing = errors.New("missing")

// decode unmarshals one document into dst. Live documents (snake_case) are renamed to the
// historic spelling first; a field error names the field as the document spells it.
func (m mapper) decode(op string, raw []byte, live bool, dst any) error {
	b := raw
	if live {
		var err error
		if b, err = liveToCamel(raw); err != nil {
			return m.spec.FieldError(op, "(document)", fmt.Errorf("decoding JSON: %w", err))
		}
	}
	if err := json.Unmarshal(b, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return m.spec.FieldError(op, m.name(te.Field, live), fmt.Errorf("cannot use %s as %s", te.Value, te.Type))
		}
		return m.spec.FieldError(op, "(document)", fmt.Errorf("decoding JSON: %w", err))
	}
	return nil
}

func (m mapper) name(field string, live bool) string {
	if live {
		return camelToSnake(field)
	}
	return field
}

// decodeCall decodes and maps a call overview document.
func (m mapper) decodeCall(op string, raw []byte, live bool) (*model.Call, error) {
	var d callDoc
	if err := m.decode(op, raw, live, &d); err != nil {
		return nil, err
	}
	d.Raw = append(json.RawMessage(nil), raw...)
	return m.call(op, &d, live)
}

// call maps a call overview record. idCall and time.start are required.
func (m mapper) call(op string, d *callDoc, live bool) (*model.Call, error) {
	if strings.TrimSpace(d.IDCall) == "" {
		return nil, m.spec.FieldError(op, m.name("idCall", live), errMissing)
	}
	if d.Time == nil || !d.Time.Start.OK {
		return nil, m.spec.FieldError(op, "time.start", errMissing)
	}
	dir := direction(d.Internal, d.CallDirection)
	c := &model.Call{
		ID:        model.GlobalID(model.KindCall, m.spec.ID, d.IDCall),
		VendorID:  d.IDCall,
		SourceID:  m.spec.ID,
		Vendor:    m.spec.Vendor,
		Direction: dir,
		Channel:   model.ChannelVoice,
		Outcome:   outcome(d.Active, d.Answered, d.Voicemail, d.OnHookedCalls.callback(), d.TerminatedCallReason, dir),
		StartedAt: d.Time.Start.T,
		Transfers: d.Transfers.ptr(),
		Recorded:  d.Recorded.flag(),
		Durations: m.durations(d),
		Agents:    refs(m.spec.ID, model.KindAgent, d.AgentList, d.AgentFirst.ref(), d.AgentLast.ref()),
		Queues:    refs(m.spec.ID, model.KindQueue, d.QueueList, d.QueueFirst.ref(), d.QueueLast.ref()),
		Ivrs:      refs(m.spec.ID, model.KindIVR, d.IvrList, d.IvrFirst.ref(), d.IvrLast.ref()),
		Raw:       d.Raw,
	}
	c.VendorStatus = nonEmpty(d.CallDirection)
	if r := nonEmpty(d.TerminatedCallReason); r != nil && !d.Active.isTrue() {
		c.VendorReason, c.EndReason = r, r
	}
	if !d.Active.isTrue() {
		c.EndedAt = d.Time.End.ptr()
	}
	if d.Answered.isTrue() {
		c.AnsweredAt = earliest(d.AgentFirst.answered(), d.AgentLast.answered())
	}
	if d.CustomerTarget != nil && strings.TrimSpace(d.CustomerTarget.Number) != "" {
		c.Customer = &model.Customer{Number: model.Ptr(strings.TrimSpace(d.CustomerTarget.Number))}
	}
	c.ServiceNumber = firstNonEmpty(d.IvrFirst.phone(), d.QueueFirst.phone(), d.AgentFirst.phone())
	return c, nil
}

func (m mapper) durations(d *callDoc) *model.CallDurations {
	out := &model.CallDurations{}
	if d.Duration != nil {
		u := d.Duration
		out.TotalSeconds = u.Total.ptr()
		out.QueueSeconds = u.Queue.Total.ptr()
		out.RingSeconds = u.Ring.Total.ptr()
		out.TalkSeconds = u.Talk.Total.ptr()
		out.HoldSeconds = firstNum(u.Hold, u.OnHold)
		out.WaitSeconds = firstNum(u.WaitTime, u.Wait)
	}
	out.IvrSeconds = ivrSeconds(d)
	return out
}

// ivrSeconds is the time before the first queue for calls that passed an IVR: the live
// before_queue when sent, else the first queue's entry minus the call's start (historic has
// no before_queue); for a call that ended in the IVR without queue or agent, its total.
func ivrSeconds(d *callDoc) *int {
	if d.IvrFirst == nil && len(d.IvrList) == 0 {
		return nil
	}
	if d.Duration != nil && d.Duration.BeforeQueue.OK {
		return d.Duration.BeforeQueue.ptr()
	}
	if d.QueueFirst != nil && d.QueueFirst.Timestart.OK {
		return model.Ptr(max(0, int(d.QueueFirst.Timestart.T.Sub(d.Time.Start.T)/time.Second)))
	}
	if !d.Active.isTrue() && d.AgentFirst == nil && len(d.AgentList) == 0 && d.Duration != nil {
		return d.Duration.Total.ptr()
	}
	return nil
}

func direction(internal num, dir string) model.Direction {
	if internal.isTrue() {
		return model.DirectionInternal
	}
	switch strings.ToLower(strings.TrimSpace(dir)) {
	case "incoming", "inbound":
		return model.DirectionInbound
	case "outgoing", "outbound":
		return model.DirectionOutbound
	}
	return model.DirectionUnknown
}

// outcome applies the table in README.md, first match wins.
func outcome(active, answered, voicemail num, callback bool, reason string, dir model.Direction) model.Outcome {
	switch {
	case active.isTrue():
		return model.OutcomeInProgress
	case answered.isTrue():
		return model.OutcomeAnswered
	case voicemail.isTrue():
		return model.OutcomeVoicemail
	case callback:
		return model.OutcomeCallback
	case dir == model.DirectionOutbound:
		return model.OutcomeFailed // an outbound call nobody answered
	}
	switch strings.ToLower(strings.TrimSpace(reason)) {
	case "queue_leave_abandon", "hangup":
		return model.OutcomeAbandoned
	case "failed", "busy", "redirect_not_reachable", "redirect_user_busy":
		return model.OutcomeFailed
	}
	return model.OutcomeMissed
}

// refs lists participants in the order of the vendor's name list, taking ids from the
// first/last objects whose names match; without a list, first and last themselves.
func refs(source, kind string, names []string, first, last *named) []*model.Ref {
	out := []*model.Ref{}
	if len(names) == 0 {
		for i, n := range []*named{first, last} {
			if n == nil || (i == 1 && first != nil && first.same(n)) {
				continue
			}
			out = append(out, model.NewRef(kind, source, n.id, n.name))
		}
		return out
	}
	for _, name := range names {
		id := ""
		for _, n := range []*named{first, last} {
			if n != nil && n.name == name && n.id != "" {
				id = n.id
				break
			}
		}
		out = append(out, model.NewRef(kind, source, id, name))
	}
	return out
}

// named is an agent, queue or IVR of a document, as far as refs need it.
type named struct{ id, name string }

func (n *named) same(o *named) bool {
	if n.id != "" || o.id != "" {
		return n.id == o.id
	}
	return n.name == o.name
}

func (a *agentDoc) ref() *named {
	if a == nil || (a.ID == "" && a.Name == "") {
		return nil
	}
	return &named{id: string(a.ID), name: a.Name}
}

func (q *queueDoc) ref() *named {
	if q == nil || (q.ID == "" && q.Name == "") {
		return nil
	}
	return &named{id: string(q.ID), name: q.Name}
}

func (v *ivrDoc) ref() *named {
	if v == nil || (v.ID == "" && v.Name == "") {
		return nil
	}
	return &named{id: string(v.ID), name: v.Name}
}

func (a *agentDoc) answered() *time.Time {
	if a == nil {
		return nil
	}
	return a.Answered.ptr()
}

func (a *agentDoc) phone() string {
	if a == nil {
		return ""
	}
	return a.Phone
}

func (q *queueDoc) phone() string {
	if q == nil {
		return ""
	}
	return q.Phone
}

func (v *ivrDoc) phone() string {
	if v == nil {
		return ""
	}
	return v.Phone
}

func newRef(source, kind string, n *named) *model.Ref {
	if n == nil {
		return nil
	}
	return model.NewRef(kind, source, n.id, n.name)
}

// decodeLeg decodes and maps an agent overview document.
func (m mapper) decodeLeg(op string, raw []byte, live bool) (*legDoc, *model.CallLeg, error) {
	var d legDoc
	if err := m.decode(op, raw, live, &d); err != nil {
		return nil, nil, err
	}
	d.Raw = append(json.RawMessage(nil), raw...)
	l, err := m.leg(op, &d, live)
	return &d, l, err
}

// leg maps an agent overview record; idCall and the agent (id or name) are required.
func (m mapper) leg(op string, d *legDoc, live bool) (*model.CallLeg, error) {
	if strings.TrimSpace(d.IDCall) == "" {
		return nil, m.spec.FieldError(op, m.name("idCall", live), errMissing)
	}
	a := d.Agent.ref()
	if a == nil {
		return nil, m.spec.FieldError(op, "agent.id", errMissing)
	}
	l := &model.CallLeg{
		ID:       legID(a, d.Time),
		Agent:    newRef(m.spec.ID, model.KindAgent, a),
		Queue:    newRef(m.spec.ID, model.KindQueue, d.Queue.ref()),
		Answered: d.Answered.flag(),
		Raw:      d.Raw,
	}
	if d.Time != nil {
		l.OfferedAt = d.Time.Start.ptr()
		l.AnsweredAt = d.Time.Answered.ptr()
		if !d.Active.isTrue() {
			l.EndedAt = d.Time.End.ptr()
		}
	}
	if l.AnsweredAt == nil {
		l.AnsweredAt = d.Agent.Answered.ptr()
	}
	if !d.Answered.isTrue() {
		l.AnsweredAt = nil
	}
	if u := d.Duration; u != nil {
		l.RingSeconds = u.Ring.Total.ptr()
		l.TalkSeconds = u.Talk.Total.ptr()
		l.HoldSeconds = firstNum(u.Hold, u.OnHold)
	}
	l.TransferredIn = d.Agent.ToTransfer.flag()
	l.TransferredOut = d.Agent.FromTransfer.flag()
	l.EndReason = nonEmpty(d.AgentEndReason)
	return l, nil
}

// legID is unique within a call: the agent and the second the offer started (one agent can
// be offered the same call twice, from two queues).
func legID(a *named, t *timeDoc) string {
	id := a.id
	if id == "" {
		id = a.name
	}
	if t != nil && t.Start.OK {
		id += "@" + fmt.Sprint(t.Start.T.Unix())
	}
	return id
}

// decodeSegment decodes and maps a queue overview document.
func (m mapper) decodeSegment(op string, raw []byte, live bool) (*segDoc, *model.QueueSegment, error) {
	var d segDoc
	if err := m.decode(op, raw, live, &d); err != nil {
		return nil, nil, err
	}
	d.Raw = append(json.RawMessage(nil), raw...)
	s, err := m.segment(op, &d, live)
	return &d, s, err
}

// segment maps a queue overview record; idCall and the queue (id or name) are required.
// The segment is left when the wait is known (the vendor fills durations when the call
// leaves the queue) or when the record is no longer active.
func (m mapper) segment(op string, d *segDoc, live bool) (*model.QueueSegment, error) {
	if strings.TrimSpace(d.IDCall) == "" {
		return nil, m.spec.FieldError(op, m.name("idCall", live), errMissing)
	}
	q := d.Queue.ref()
	if q == nil {
		return nil, m.spec.FieldError(op, "queue.id", errMissing)
	}
	s := &model.QueueSegment{
		Queue:    newRef(m.spec.ID, model.KindQueue, q),
		Answered: d.Answered.flag(),
		Raw:      d.Raw,
	}
	s.EnteredAt = d.Queue.Timestart.ptr()
	if s.EnteredAt == nil && d.Time != nil && !live {
		s.EnteredAt = d.Time.Start.ptr() // historic time.start is the queue entry
	}
	if u := d.Duration; u != nil {
		s.WaitSeconds = firstNum(u.Wait, u.WaitTime)
		if s.WaitSeconds == nil && (u.Queue.Total.OK || u.Ring.Total.OK) {
			s.WaitSeconds = model.Ptr(u.Queue.Total.V + u.Ring.Total.V)
		}
	}
	switch {
	case s.WaitSeconds != nil && s.EnteredAt != nil:
		s.LeftAt = model.Ptr(s.EnteredAt.Add(time.Duration(*s.WaitSeconds) * time.Second))
	case !d.Active.isTrue() && d.Time != nil:
		s.LeftAt = d.Time.End.ptr()
	}
	reason := strings.TrimSpace(d.Queue.FailReason)
	s.VendorReason = nonEmpty(reason)
	if s.LeftAt != nil {
		s.Abandoned = model.Ptr(reason == "queue_leave_abandon")
	}
	if d.Answered.isTrue() {
		if a := firstRef(d.Agent.ref(), d.AgentLast.ref()); a != nil {
			s.Agent = newRef(m.spec.ID, model.KindAgent, a)
		}
		if sla := m.slaOf(q); sla > 0 && s.WaitSeconds != nil {
			s.WithinSLA = model.Ptr(*s.WaitSeconds <= sla)
		}
	} else if s.LeftAt != nil && m.slaOf(q) > 0 {
		s.WithinSLA = model.Ptr(false)
	}
	return s, nil
}

func (m mapper) slaOf(q *named) int {
	if m.sla == nil || q == nil {
		return 0
	}
	return m.sla(q.id, q.name)
}

// segmentCall wraps one queue record as a call holding just that segment, which is what
// derive.QueueStats needs: the segment, whether the call ended, talk and hold for handle
// time, and whether a callback was requested.
func segmentCall(d *segDoc, s *model.QueueSegment) *model.Call {
	c := &model.Call{VendorID: d.IDCall, Outcome: model.OutcomeInProgress, QueueSegments: []*model.QueueSegment{s}, SegmentsLoaded: true}
	if !d.Active.isTrue() {
		c.Outcome = model.OutcomeMissed
		c.EndedAt = s.LeftAt
		if d.Time != nil && d.Time.End.OK {
			c.EndedAt = d.Time.End.ptr()
		}
		if c.EndedAt == nil {
			c.EndedAt = s.EnteredAt
		}
	}
	if d.OnHookedCalls.callback() {
		c.Outcome = model.OutcomeCallback
	}
	if d.Answered.isTrue() && d.Duration != nil && d.Duration.Talk.Total.OK {
		c.Durations = &model.CallDurations{TalkSeconds: d.Duration.Talk.Total.ptr(), HoldSeconds: firstNum(d.Duration.Hold, d.Duration.OnHold)}
	}
	return c
}

// queue builds a canonical queue from the vendor's queue object of a record.
func (m mapper) queue(q *queueDoc, stats *model.QueueStats) *model.Queue {
	n := q.ref()
	key := n.id
	if key == "" {
		key = n.name
	}
	out := &model.Queue{
		ID:       model.GlobalID(model.KindQueue, m.spec.ID, key),
		VendorID: key,
		SourceID: m.spec.ID,
		Vendor:   m.spec.Vendor,
		Name:     n.name,
		Number:   nonEmpty(q.Phone),
		Channel:  model.Ptr(model.ChannelVoice),
		Strategy: nonEmpty(q.Strategy),
		Stats:    stats,
	}
	if out.Name == "" {
		out.Name = key
	}
	if sla := m.slaOf(n); sla > 0 {
		out.SLASeconds = model.Ptr(sla)
	}
	if raw, err := json.Marshal(q.wire()); err == nil {
		out.Raw = raw
	}
	return out
}

// wire is the queue object as the historic API spells it (for Queue.raw, which has no
// document of its own: the queue is derived from call records).
func (q *queueDoc) wire() map[string]any {
	out := map[string]any{"id": string(q.ID), "name": q.Name}
	for k, v := range map[string]string{"phone": q.Phone, "strategy": q.Strategy} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func nonEmpty(s string) *string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return &s
}

func firstNonEmpty(ss ...string) *string {
	for _, s := range ss {
		if p := nonEmpty(s); p != nil {
			return p
		}
	}
	return nil
}

func firstNum(ns ...num) *int {
	for _, n := range ns {
		if n.OK {
			return n.ptr()
		}
	}
	return nil
}

func firstRef(ns ...*named) *named {
	for _, n := range ns {
		if n != nil {
			return n
		}
	}
	return nil
}

func earliest(ts ...*time.Time) *time.Time {
	var out *time.Time
	for _, t := range ts {
		if t != nil && (out == nil || t.Before(*out)) {
			out = t
		}
	}
	return out
}
