// Package derive computes canonical figures from canonical records, with the one set of
// definitions the schema documents (see QueueStats in schema/queues.graphqls). Drivers use
// it wherever a vendor has no API for a figure, so a derived service level means the same
// as a reported one.
package derive

import (
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// DefaultShortAbandonSeconds is the short-abandon threshold when a vendor defines none.
const DefaultShortAbandonSeconds = 5

// ServiceLevel is answeredWithinSla / (offered - shortAbandoned); nil when that is 0.
func ServiceLevel(withinSLA, offered, shortAbandoned int) *float64 {
	den := offered - shortAbandoned
	if den <= 0 {
		return nil
	}
	v := float64(withinSLA) / float64(den)
	if v > 1 {
		v = 1
	}
	return &v
}

// QueueOptions parameterise QueueStats.
type QueueOptions struct {
	SLASeconds          int
	ShortAbandonSeconds int // 0 = DefaultShortAbandonSeconds
}

// MatchQueue reports whether a reference names the queue (by vendor id or by name).
func MatchQueue(ref *model.Ref, key string) bool {
	if ref == nil || key == "" {
		return false
	}
	return (ref.VendorID != nil && *ref.VendorID == key) || (ref.Name != nil && *ref.Name == key) || (ref.ID != nil && *ref.ID == key)
}

// QueueStats counts one queue's segments that entered in r, and those still waiting at now.
func QueueStats(calls []*model.Call, queueKey string, r upstreams.TimeRange, now time.Time, o QueueOptions) *model.QueueStats {
	short := o.ShortAbandonSeconds
	if short == 0 {
		short = DefaultShortAbandonSeconds
	}
	var offered, answered, abandoned, shortAb, within, waiting, longest, callbacks int
	var waitAnswered, waitAll, handle float64
	var nAnswerWait, nWait, nHandle int
	for _, c := range calls {
		for _, s := range c.QueueSegments {
			if !MatchQueue(s.Queue, queueKey) || s.EnteredAt == nil {
				continue
			}
			if s.LeftAt == nil && c.EndedAt == nil {
				waiting++
				if w := int(now.Sub(*s.EnteredAt).Seconds()); w > longest {
					longest = w
				}
			}
			if s.EnteredAt.Before(r.From) || !s.EnteredAt.Before(r.To) {
				continue
			}
			offered++
			wait := segmentWait(s, now)
			if s.LeftAt != nil || c.EndedAt != nil {
				waitAll += float64(wait)
				nWait++
			}
			switch {
			case isTrue(s.Answered):
				answered++
				waitAnswered += float64(wait)
				nAnswerWait++
				if o.SLASeconds > 0 && wait <= o.SLASeconds {
					within++
				}
				if h, ok := handleSeconds(c, s); ok {
					handle += float64(h)
					nHandle++
				}
			case isTrue(s.Abandoned):
				abandoned++
				if wait < short {
					shortAb++
				}
			}
			if c.Outcome == model.OutcomeCallback {
				callbacks++
			}
		}
	}
	st := &model.QueueStats{
		From: model.Ptr(r.From.UTC()), To: model.Ptr(r.To.UTC()),
		CallsWaiting: model.Ptr(waiting), LongestWaitSeconds: model.Ptr(longest),
		Offered: model.Ptr(offered), Answered: model.Ptr(answered), Abandoned: model.Ptr(abandoned),
		ShortAbandoned: model.Ptr(shortAb), Callbacks: model.Ptr(callbacks),
		AverageSpeedOfAnswerSeconds: mean(waitAnswered, nAnswerWait),
		AverageWaitSeconds:          mean(waitAll, nWait),
		AverageHandleSeconds:        mean(handle, nHandle),
	}
	if o.SLASeconds > 0 {
		st.SLASeconds = model.Ptr(o.SLASeconds)
		st.AnsweredWithinSLA = model.Ptr(within)
		st.ServiceLevel = ServiceLevel(within, offered, shortAb)
	}
	return st
}

func segmentWait(s *model.QueueSegment, now time.Time) int {
	if s.WaitSeconds != nil {
		return *s.WaitSeconds
	}
	end := now
	if s.LeftAt != nil {
		end = *s.LeftAt
	}
	return int(end.Sub(*s.EnteredAt).Seconds())
}

// handleSeconds is talk + hold + wrap-up of the leg the segment's agent answered.
func handleSeconds(c *model.Call, s *model.QueueSegment) (int, bool) {
	for _, l := range c.Legs {
		if !isTrue(l.Answered) || l.TalkSeconds == nil {
			continue
		}
		if s.Agent != nil && l.Agent != nil && !sameRef(s.Agent, l.Agent) {
			continue
		}
		return *l.TalkSeconds + deref(l.HoldSeconds) + deref(l.WrapUpSeconds), true
	}
	if c.Durations != nil && c.Durations.TalkSeconds != nil {
		return *c.Durations.TalkSeconds + deref(c.Durations.HoldSeconds) + deref(c.Durations.WrapUpSeconds), true
	}
	return 0, false
}

func sameRef(a, b *model.Ref) bool {
	if a.VendorID != nil && b.VendorID != nil {
		return *a.VendorID == *b.VendorID
	}
	if a.Name != nil && b.Name != nil {
		return *a.Name == *b.Name
	}
	return true
}

// AgentsByState counts agents per state, in the schema's enum order, omitting zeros.
func AgentsByState(agents []*model.Agent) []*model.AgentStateCount {
	counts := map[model.AgentState]int{}
	for _, a := range agents {
		counts[a.State]++
	}
	var out []*model.AgentStateCount
	for _, s := range model.AllAgentState {
		if n := counts[s]; n > 0 {
			out = append(out, &model.AgentStateCount{State: s, Count: n})
		}
	}
	return out
}

// Buckets splits r into intervals aligned in UTC (weeks start on Monday). The first bucket
// starts at r.From aligned down; the last ends at or after r.To.
func Buckets(r upstreams.TimeRange, iv model.Interval) []upstreams.TimeRange {
	var out []upstreams.TimeRange
	for t := Align(r.From.UTC(), iv); t.Before(r.To); {
		next := Next(t, iv)
		out = append(out, upstreams.TimeRange{From: t, To: next})
		t = next
		if len(out) > 100_000 {
			break
		}
	}
	return out
}

// Align rounds t down to the start of its interval.
func Align(t time.Time, iv model.Interval) time.Time {
	t = t.UTC()
	switch iv {
	case model.IntervalHalfHour:
		return t.Truncate(30 * time.Minute)
	case model.IntervalHour:
		return t.Truncate(time.Hour)
	case model.IntervalWeek:
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case model.IntervalMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
}

// Next is the start of the interval after the one starting at t.
func Next(t time.Time, iv model.Interval) time.Time {
	switch iv {
	case model.IntervalHalfHour:
		return t.Add(30 * time.Minute)
	case model.IntervalHour:
		return t.Add(time.Hour)
	case model.IntervalWeek:
		return t.AddDate(0, 0, 7)
	case model.IntervalMonth:
		return t.AddDate(0, 1, 0)
	default:
		return t.AddDate(0, 0, 1)
	}
}

// CallVolume buckets calls by start time: offered/answered/abandoned count inbound calls by
// outcome; inbound/outbound count directions; talk seconds sum call durations.
func CallVolume(calls []*model.Call, r upstreams.TimeRange, iv model.Interval) []*model.TimeseriesPoint {
	buckets := Buckets(r, iv)
	pts := make([]*model.TimeseriesPoint, len(buckets))
	for i, b := range buckets {
		pts[i] = &model.TimeseriesPoint{From: b.From, To: b.To,
			Offered: model.Ptr(0), Answered: model.Ptr(0), Abandoned: model.Ptr(0),
			Inbound: model.Ptr(0), Outbound: model.Ptr(0), TalkSeconds: model.Ptr(0)}
	}
	for _, c := range calls {
		if c.StartedAt.Before(r.From) || !c.StartedAt.Before(r.To) {
			continue
		}
		i := bucketIndex(buckets, c.StartedAt)
		if i < 0 {
			continue
		}
		p := pts[i]
		switch c.Direction {
		case model.DirectionInbound:
			*p.Inbound++
			*p.Offered++
			switch c.Outcome {
			case model.OutcomeAnswered:
				*p.Answered++
			case model.OutcomeAbandoned:
				*p.Abandoned++
			}
		case model.DirectionOutbound:
			*p.Outbound++
		}
		if c.Durations != nil && c.Durations.TalkSeconds != nil {
			*p.TalkSeconds += *c.Durations.TalkSeconds
		}
	}
	return pts
}

func bucketIndex(b []upstreams.TimeRange, t time.Time) int {
	lo, hi := 0, len(b)-1
	for lo <= hi {
		m := (lo + hi) / 2
		switch {
		case t.Before(b[m].From):
			hi = m - 1
		case !t.Before(b[m].To):
			lo = m + 1
		default:
			return m
		}
	}
	return -1
}

func mean(sum float64, n int) *float64 {
	if n == 0 {
		return nil
	}
	v := sum / float64(n)
	return &v
}

func isTrue(b *bool) bool { return b != nil && *b }

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
