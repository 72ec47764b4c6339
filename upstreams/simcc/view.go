package simcc

import (
	"sort"
	"time"
)

// The engine records what it has decided, including the near future; these views cut
// everything after now.

func ts(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// vis reports whether the instant s is set and has happened by now.
func vis(s, now int64) bool { return s != 0 && s <= now }

// ceilSec is the first whole second at or after t: for whole-second instants s,
// s >= t exactly when s >= ceilSec(t).
func ceilSec(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// callRange is the index range of the calls started in [from, to).
func (e *engine) callRange(from, to int64) (int, int) {
	lo := sort.Search(len(e.calls), func(i int) bool { return e.calls[i].started >= from })
	hi := sort.Search(len(e.calls), func(i int) bool { return e.calls[i].started >= to })
	return lo, max(lo, hi)
}

func (e *engine) activeRecs(now int64) []*callRec {
	lo, hi := e.callRange(now-maxCallSpan, now+1)
	var out []*callRec
	for _, r := range e.calls[lo:hi] {
		if !vis(r.ended, now) {
			out = append(out, r)
		}
	}
	return out
}

func (r *callRec) view(e *engine, now int64) Call {
	c := Call{
		ID: r.id, Seq: r.seq, UUID: r.uuid, Direction: r.dir, Customer: r.customer,
		ServiceNumber: r.service, StartedAt: ts(r.started), CallbackOf: r.callbackOf,
		Outcome: OutcomeInProgress,
	}
	if r.ivr >= 0 {
		c.IVRID, c.IVRAt = e.ivrs[r.ivr].ID, ts(r.ivrAt)
		if vis(r.ivrLeft, now) {
			c.IVRLeftAt, c.Digit = ts(r.ivrLeft), r.digit
		}
	}
	if vis(r.answered, now) {
		c.AnsweredAt, c.Recorded = ts(r.answered), r.recorded
	}
	for _, s := range r.segs {
		if s.entered > now {
			break
		}
		qs := QueueSegment{QueueID: e.queues[s.queue].info.ID, EnteredAt: ts(s.entered)}
		if vis(s.left, now) {
			qs.LeftAt, qs.Answered, qs.Abandoned, qs.Reason = ts(s.left), s.answered, s.abandoned, s.reason
			if s.agent >= 0 {
				qs.AgentID = e.agents[s.agent].info.ID
			}
		}
		c.Segments = append(c.Segments, qs)
	}
	for _, l := range r.legs {
		if l.offered > now {
			break
		}
		lv := Leg{AgentID: e.agents[l.agent].info.ID, OfferedAt: ts(l.offered), TransferredIn: l.tin}
		if l.queue >= 0 {
			lv.QueueID = e.queues[l.queue].info.ID
		}
		if l.tin {
			lv.TransferType = l.inType
		}
		if vis(l.answered, now) {
			lv.AnsweredAt, lv.Answered, lv.RingSeconds = ts(l.answered), true, l.ring
		}
		if vis(l.ended, now) {
			lv.EndedAt, lv.EndReason = ts(l.ended), l.endReason
			lv.RingSeconds, lv.TalkSeconds, lv.HoldSeconds, lv.WrapUpSeconds = l.ring, l.talk, l.hold, l.wrap
			if l.tout {
				lv.TransferredOut, lv.TransferType = true, l.outType
				c.Transfers++
			}
			c.HoldSeconds += l.hold
			c.WrapUpSeconds += l.wrap
		}
		c.Legs = append(c.Legs, lv)
	}
	if vis(r.ended, now) {
		c.EndedAt, c.Outcome, c.EndReason, c.CallbackRequested = ts(r.ended), r.outcome, r.endReason, r.cbAsked
	}
	return c
}

func (a *agentRec) status(now int64) AgentStatus {
	i := sort.Search(len(a.spans), func(i int) bool { return a.spans[i].from > now }) - 1
	if i < 0 { // a clock set back before the history
		return AgentStatus{AgentID: a.info.ID, State: StateOffline, Since: ts(a.spans[0].from)}
	}
	s := a.spans[i]
	return AgentStatus{AgentID: a.info.ID, State: s.state, Since: ts(s.from), Reason: s.reason, CallID: s.call}
}

func (a *agentRec) spansIn(now int64, from, to time.Time) []AgentSpan {
	fromS, toS := from.Unix(), min(ceilSec(to), now+1)
	// Spans end in increasing order, and one ending after now is shown as ongoing.
	lo := sort.Search(len(a.spans), func(i int) bool { s := a.spans[i]; return s.to == 0 || s.to > min(now, fromS) })
	hi := sort.Search(len(a.spans), func(i int) bool { return a.spans[i].from >= toS })
	var out []AgentSpan
	for _, s := range a.spans[lo:max(lo, hi)] {
		sp := AgentSpan{AgentID: a.info.ID, State: s.state, Reason: s.reason, From: ts(s.from), CallID: s.call}
		if vis(s.to, now) {
			sp.To = ts(s.to)
		}
		out = append(out, sp)
	}
	return out
}

func (e *engine) queueStats(now int64, queueID string, from, to time.Time) QueueStats {
	st := QueueStats{QueueID: queueID, From: from, To: to, AgentsByState: map[AgentState]int{}}
	var q *queueRec
	for _, x := range e.queues {
		if x.info.ID == queueID {
			q = x
		}
	}
	if q == nil {
		return st
	}
	st.SLASeconds = q.info.SLASeconds
	for _, s := range AllAgentStates() {
		st.AgentsByState[s] = 0
	}
	for _, ai := range q.members {
		st.AgentsByState[e.agents[ai].status(now).State]++
	}
	fromS, toS := ceilSec(from), ceilSec(to)
	var asa, wait, handle mean
	lo, hi := e.callRange(fromS-maxCallSpan, min(toS, now+1))
	for _, r := range e.calls[lo:hi] {
		if len(r.segs) == 0 {
			continue
		}
		c := r.view(e, now)
		for _, s := range c.Segments {
			if s.QueueID != queueID || s.EnteredAt.Unix() < fromS || s.EnteredAt.Unix() >= toS {
				continue
			}
			st.Offered++
			w := int(s.LeftAt.Sub(s.EnteredAt) / time.Second)
			if !s.LeftAt.IsZero() {
				wait.add(w)
			}
			switch {
			case s.Answered:
				st.Answered++
				asa.add(w)
				if w <= q.info.SLASeconds {
					st.AnsweredWithinSLA++
				}
				for _, l := range c.Legs {
					if l.AgentID == s.AgentID && l.QueueID == queueID && l.AnsweredAt.Equal(s.LeftAt) && !l.EndedAt.IsZero() {
						handle.add(l.TalkSeconds + l.HoldSeconds + l.WrapUpSeconds)
						break
					}
				}
			case s.Abandoned:
				st.Abandoned++
				if w < e.cfg.ShortAbandonSeconds {
					st.ShortAbandoned++
				}
			}
			if s.Reason == "callback" {
				st.Callbacks++
			}
		}
	}
	for _, r := range e.activeRecs(now) {
		for _, s := range r.segs {
			if s.queue == q.idx && s.entered <= now && !vis(s.left, now) {
				st.CallsWaiting++
				st.LongestWaitSeconds = max(st.LongestWaitSeconds, int(now-s.entered))
			}
		}
	}
	if den := st.Offered - st.ShortAbandoned; den > 0 {
		v := float64(st.AnsweredWithinSLA) / float64(den)
		st.ServiceLevel = &v
	}
	st.AverageSpeedOfAnswerSeconds, st.AverageWaitSeconds, st.AverageHandleSeconds = asa.value(), wait.value(), handle.value()
	return st
}

type mean struct{ sum, n int }

func (m *mean) add(v int) { m.sum += v; m.n++ }

func (m *mean) value() *float64 {
	if m.n == 0 {
		return nil
	}
	v := float64(m.sum) / float64(m.n)
	return &v
}
