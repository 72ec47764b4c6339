package sim

import (
	"strings"
	"time"
	"unicode"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// Records are built once, in the historic (camelCase) spelling with time.Time values, then
// written either way: historic (ISO 8601 with the document's stray space, "2025-10-01
// T10:13:35Z") or live (snake_case keys, epoch milliseconds, wait → wait_time).

type doc = map[string]any

// ids gives simcc objects Telavox's integer ids: agents 5001…, queues 6001…, IVRs 9001….
type ids struct {
	agents map[string]simcc.Agent
	agent  map[string]int
	queues map[string]simcc.Queue
	queue  map[string]int
	ivrs   map[string]simcc.IVR
	ivr    map[string]int
}

func newIDs(c *simcc.Center) *ids {
	x := &ids{agents: map[string]simcc.Agent{}, agent: map[string]int{}, queues: map[string]simcc.Queue{}, queue: map[string]int{}, ivrs: map[string]simcc.IVR{}, ivr: map[string]int{}}
	for i, a := range c.Agents() {
		x.agents[a.ID], x.agent[a.ID] = a, 5001+i
	}
	for i, q := range c.Queues() {
		x.queues[q.ID], x.queue[q.ID] = q, 6001+i
	}
	for i, v := range c.IVRs() {
		x.ivrs[v.ID], x.ivr[v.ID] = v, 9001+i
	}
	return x
}

func b01(b bool) int {
	if b {
		return 1
	}
	return 0
}

func secs(d time.Duration) int { return int(d / time.Second) }

func (x *ids) agentObj(id string, answered time.Time, in, out bool) doc {
	a := x.agents[id]
	d := doc{"id": x.agent[id], "name": a.Name, "phone": a.Phone, "email": a.Email,
		"toTransfer": b01(in), "fromTransfer": b01(out), "licence": doc{"type": "Flow Fixed", "ccpro": 1}}
	if !answered.IsZero() {
		d["answered"] = answered
	}
	return d
}

func (x *ids) queueObj(id string, entered time.Time, fail string) doc {
	q := x.queues[id]
	d := doc{"id": x.queue[id], "name": q.Name, "phone": q.Number, "strategy": q.Strategy, "timestart": entered}
	if fail != "" {
		d["failReason"] = fail
	}
	return d
}

func (x *ids) ivrObj(c simcc.Call) doc {
	if c.IVRID == "" {
		return nil
	}
	v := x.ivrs[c.IVRID]
	return doc{"id": x.ivr[c.IVRID], "name": v.Name, "phone": v.Number, "timestamp": c.IVRAt}
}

// failReason is the Asterisk-style reason a segment left its queue; none when answered.
func failReason(s simcc.QueueSegment) string {
	switch s.Reason {
	case "abandon":
		return "queue_leave_abandon"
	case "timeout", "transfer":
		return "queue_leave_timeout"
	case "callback":
		return "queue_leave_digit"
	}
	return ""
}

// terminatedReason is the call's terminated_call_reason.
func terminatedReason(c simcc.Call) string {
	switch c.EndReason {
	case "":
		return ""
	case "customer_hangup", "agent_hangup":
		return "hangup"
	case "abandon":
		if n := len(c.Segments); n > 0 && c.Segments[n-1].Abandoned {
			return "queue_leave_abandon"
		}
		return "hangup"
	case "voicemail":
		if len(c.Segments) > 0 {
			return "queue_leave_timeout"
		}
		return "queue_leave_empty"
	case "callback_requested":
		return "queue_leave_digit"
	}
	return c.EndReason // no_answer, busy, failed
}

// segSplit divides a segment's wait into queue time and ring time of the agents offered
// from it; queue + ring = wait. ok is false while the call still waits.
func segSplit(c simcc.Call, s simcc.QueueSegment) (queue, ring, wait int, ok bool) {
	if s.LeftAt.IsZero() {
		return 0, 0, 0, false
	}
	wait = secs(s.LeftAt.Sub(s.EnteredAt))
	for _, l := range c.Legs {
		if l.QueueID == s.QueueID && !l.OfferedAt.Before(s.EnteredAt) && !l.OfferedAt.After(s.LeftAt) {
			ring += l.RingSeconds
		}
	}
	ring = min(ring, wait)
	return wait - ring, ring, wait, true
}

func direction(c simcc.Call) string {
	if c.Direction == simcc.DirectionInbound {
		return "incoming"
	}
	return "outgoing"
}

func (x *ids) names(legs []simcc.Leg, keep func(simcc.Leg) bool) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, l := range legs {
		if keep(l) && !seen[l.AgentID] {
			seen[l.AgentID] = true
			out = append(out, x.agents[l.AgentID].Name)
		}
	}
	return out
}

func detail(vals []int) doc {
	if len(vals) == 0 {
		return nil
	}
	t := 0
	for _, v := range vals {
		t += v
	}
	return doc{"first": vals[0], "last": vals[len(vals)-1], "total": t}
}

// callRecord renders a call overview record.
func (x *ids) callRecord(c simcc.Call, account string) doc {
	active := c.EndedAt.IsZero()
	d := doc{
		"idCall": c.UUID, "callDirection": direction(c), "answered": b01(!c.AnsweredAt.IsZero()), "active": b01(active),
		"internal": b01(c.Direction == simcc.DirectionInternal), "recorded": b01(c.Recorded), "transfers": c.Transfers,
		"voicemail": b01(c.Outcome == simcc.OutcomeVoicemail), "simultaneousDeviceCalls": 1, "inactiveNumber": 0, "queuePickup": 0,
		"customerTelavox": doc{"id": "285964", "name": account},
		"onHookedCalls":   doc{"noWaitRequest": 0, "answerWaitRequest": b01(c.CallbackRequested), "customerNoAnswer": 0},
		"time":            doc{"start": c.StartedAt, "end": c.EndedAt},
		"timestamp":       c.StartedAt,
	}
	if c.Customer != "" {
		d["customerTarget"] = doc{"number": c.Customer}
	}
	if r := terminatedReason(c); r != "" {
		d["terminatedCallReason"] = r
	}
	var ans, noAns int
	var rings, talks, queues []int
	wait := 0
	for _, l := range c.Legs {
		switch {
		case l.Answered:
			ans++
		case !l.EndedAt.IsZero():
			noAns++
		}
		if !l.AnsweredAt.IsZero() || !l.EndedAt.IsZero() {
			rings = append(rings, l.RingSeconds)
			if l.QueueID == "" {
				wait += l.RingSeconds
			}
		}
		if !l.EndedAt.IsZero() && l.Answered {
			talks = append(talks, l.TalkSeconds)
		}
	}
	d["offeredAndAnswered"], d["offeredAndNotAnswered"] = ans, noAns
	if n := len(c.Legs); n > 0 {
		first, last := c.Legs[0], c.Legs[n-1]
		d["agentFirst"] = x.agentObj(first.AgentID, first.AnsweredAt, first.TransferredIn, first.TransferredOut)
		d["agentLast"] = x.agentObj(last.AgentID, last.AnsweredAt, last.TransferredIn, last.TransferredOut)
		d["agentList"] = x.names(c.Legs, func(simcc.Leg) bool { return true })
		d["agentListAnswer"] = x.names(c.Legs, func(l simcc.Leg) bool { return l.Answered })
		d["agentListNoAnswer"] = x.names(c.Legs, func(l simcc.Leg) bool { return !l.Answered && !l.EndedAt.IsZero() })
	}
	if n := len(c.Segments); n > 0 {
		first, last := c.Segments[0], c.Segments[n-1]
		d["queueFirst"] = x.queueObj(first.QueueID, first.EnteredAt, failReason(first))
		d["queueLast"] = x.queueObj(last.QueueID, last.EnteredAt, failReason(last))
		var list []string
		for _, s := range c.Segments {
			list = append(list, x.queues[s.QueueID].Name)
			if q, _, w, ok := segSplit(c, s); ok {
				queues = append(queues, q)
				wait += w
			}
		}
		d["queueList"] = list
	}
	if v := x.ivrObj(c); v != nil {
		d["ivrFirst"], d["ivrLast"], d["ivrList"] = v, v, []string{v["name"].(string)}
		if c.Digit != "" && len(c.Segments) > 0 {
			d["menuDigit"] = doc{"dialedNumber": c.Digit, "destination": x.queues[c.Segments[0].QueueID].Name, "type": "Queue"}
			d["timeIvrDigit"] = c.IVRLeftAt
		}
	}
	dur := doc{"queue": detail(queues), "ring": detail(rings), "talk": detail(talks), "hold": c.HoldSeconds, "onHold": c.HoldSeconds}
	if len(c.Segments) > 0 || len(c.Legs) > 0 {
		dur["wait"] = wait
	}
	if len(c.Segments) > 0 {
		dur["beforeQueue"] = secs(c.Segments[0].EnteredAt.Sub(c.StartedAt))
	}
	if !active {
		dur["total"] = secs(c.EndedAt.Sub(c.StartedAt))
	}
	d["duration"] = dur
	var tr []simcc.Leg
	for i, l := range c.Legs {
		if l.TransferredOut {
			next := simcc.Leg{}
			if i+1 < len(c.Legs) {
				next = c.Legs[i+1]
			}
			tr = append(tr, simcc.Leg{TransferType: l.TransferType, Answered: next.Answered})
		}
	}
	if len(tr) > 0 {
		d["transferFirst"] = doc{"type": tr[0].TransferType, "answered": b01(tr[0].Answered)}
		d["transferLast"] = doc{"type": tr[len(tr)-1].TransferType, "answered": b01(tr[len(tr)-1].Answered)}
	}
	return d
}

// legRecord renders the agent overview record of one leg.
func (x *ids) legRecord(c simcc.Call, l simcc.Leg) doc {
	d := doc{
		"idCall": c.UUID, "callDirection": direction(c), "active": b01(l.EndedAt.IsZero()), "answered": b01(l.Answered),
		"internal": b01(c.Direction == simcc.DirectionInternal), "recorded": b01(c.Recorded),
		"transfer": b01(l.TransferredIn || l.TransferredOut), "voicemail": 0, "onHookedCalls": 0, "simultaneousDeviceCalls": 1,
		"agent": x.agentObj(l.AgentID, l.AnsweredAt, l.TransferredIn, l.TransferredOut),
		"time":  doc{"start": l.OfferedAt, "end": l.EndedAt, "answered": l.AnsweredAt},
	}
	if c.Customer != "" {
		d["customerTarget"] = doc{"number": c.Customer}
	}
	if v := x.ivrObj(c); v != nil {
		d["ivr"] = v
	}
	if l.QueueID != "" {
		entered := l.OfferedAt
		for _, s := range c.Segments {
			if s.QueueID == l.QueueID && !s.EnteredAt.After(l.OfferedAt) {
				entered = s.EnteredAt
			}
		}
		q := x.queueObj(l.QueueID, entered, "")
		d["queue"] = q
	}
	if !l.EndedAt.IsZero() {
		d["agentEndReason"] = l.EndReason
		d["duration"] = doc{"total": secs(l.EndedAt.Sub(l.OfferedAt)), "ring": l.RingSeconds, "talk": l.TalkSeconds, "hold": l.HoldSeconds}
	} else if l.Answered {
		d["duration"] = doc{"ring": l.RingSeconds}
	}
	return d
}

// segRecord renders the queue overview record of one segment. live adds the fields of the
// /queues example (the call's agents and times) that the historic record spells otherwise.
func (x *ids) segRecord(c simcc.Call, s simcc.QueueSegment, last bool, live bool, account string) doc {
	q, ring, wait, left := segSplit(c, s)
	d := doc{
		"idCall": c.UUID, "callDirection": direction(c), "answered": b01(s.Answered),
		"internal": b01(c.Direction == simcc.DirectionInternal), "recorded": b01(c.Recorded),
		"transfer": b01(s.Reason == "transfer"), "voicemail": b01(last && c.Outcome == simcc.OutcomeVoicemail),
		"simultaneousDeviceCalls": 1,
		"queue":                   x.queueObj(s.QueueID, s.EnteredAt, failReason(s)),
	}
	if c.Customer != "" {
		d["customerTarget"] = doc{"number": c.Customer}
	}
	if v := x.ivrObj(c); v != nil {
		d["ivr"] = v
	}
	var legs []simcc.Leg
	talk, hold := 0, 0
	for _, l := range c.Legs {
		if l.QueueID == s.QueueID && !l.OfferedAt.Before(s.EnteredAt) && (s.LeftAt.IsZero() || !l.OfferedAt.After(s.LeftAt)) {
			legs = append(legs, l)
			if l.Answered && l.AgentID == s.AgentID {
				talk, hold = l.TalkSeconds, l.HoldSeconds
			}
		}
	}
	dur := doc{}
	if left {
		dur["queue"], dur["wait"] = q, wait
		dur["ring"] = doc{"first": ring, "last": ring, "total": ring}
		if s.Answered {
			dur["talk"], dur["hold"] = talk, hold
		}
	}
	if live {
		d["active"] = b01(c.EndedAt.IsZero())
		d["time"] = doc{"start": c.StartedAt, "end": c.EndedAt}
		d["customerTelavox"] = doc{"id": "285964", "name": account}
		d["onHookedCalls"] = doc{"noWaitRequest": 0, "answerWaitRequest": b01(s.Reason == "callback"), "customerNoAnswer": 0}
		if len(legs) > 0 {
			first, lastLeg := legs[0], legs[len(legs)-1]
			if s.AgentID != "" {
				for _, l := range legs {
					if l.AgentID == s.AgentID && l.Answered {
						lastLeg = l
					}
				}
			}
			d["agentFirst"] = x.agentObj(first.AgentID, first.AnsweredAt, first.TransferredIn, first.TransferredOut)
			d["agentLast"] = x.agentObj(lastLeg.AgentID, lastLeg.AnsweredAt, lastLeg.TransferredIn, lastLeg.TransferredOut)
			d["agentList"] = x.names(legs, func(simcc.Leg) bool { return true })
			d["agentListAnswer"] = x.names(legs, func(l simcc.Leg) bool { return l.Answered })
			d["agentListNoAnswer"] = x.names(legs, func(l simcc.Leg) bool { return !l.Answered && !l.EndedAt.IsZero() })
		}
		if left {
			dur["ring"] = ring // live /queues durations are plain integers
			delete(dur, "wait")
		}
		if !c.EndedAt.IsZero() {
			dur["total"] = secs(c.EndedAt.Sub(c.StartedAt))
		}
	} else {
		d["active"] = b01(!left)
		d["onHookedCalls"] = b01(s.Reason == "callback")
		d["time"] = doc{"start": s.EnteredAt, "end": s.LeftAt}
		if s.Answered && s.AgentID != "" {
			var ans time.Time
			for _, l := range legs {
				if l.AgentID == s.AgentID && l.Answered {
					ans = l.AnsweredAt
				}
			}
			d["agent"] = x.agentObj(s.AgentID, ans, false, false)
		}
		if left {
			dur["total"] = wait + talk + hold
		}
	}
	if len(dur) > 0 {
		d["duration"] = dur
	}
	return d
}

// Call overview fields only the historic API has, and those only the live /calls has.
var (
	historicCallOnly = []string{"inactiveNumber", "queuePickup", "timestamp", "timeIvrDigit", "onHold"}
	liveCallOnly     = []string{"voicemail", "customerTelavox", "beforeQueue"}
)

func dropper(drop []string, rename func(string) string) func(string) string {
	return func(k string) string {
		for _, d := range drop {
			if k == d {
				return ""
			}
		}
		return rename(k)
	}
}

// historic writes a record as the GraphQL API does: DateTime as "2006-01-02 T15:04:05Z",
// absent times as null, without the fields in drop.
func historic(d doc, drop ...string) doc {
	return convert(d, dropper(drop, func(k string) string { return k }), func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format("2006-01-02 T15:04:05Z")
	}).(doc)
}

// live writes a record as the WebSockets do: snake_case keys, epoch milliseconds (0 while
// unknown: time.end is always present), wait → wait_time, without the fields in drop.
func live(d doc, drop ...string) doc {
	return convert(d, dropper(drop, func(k string) string {
		switch k {
		case "wait":
			return "wait_time"
		case "notReachable":
			return "no_reachable"
		}
		return snake(k)
	}), func(t time.Time) any {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}).(doc)
}

// convert renames keys (dropping those renamed to "") and rewrites times; nil values are
// left out, which is how optional objects go missing from the vendor's documents.
func convert(v any, key func(string) string, tm func(time.Time) any) any {
	switch x := v.(type) {
	case doc:
		out := doc{}
		for k, e := range x {
			nk := key(k)
			if nk == "" || e == nil {
				continue
			}
			if m, ok := e.(doc); ok && m == nil {
				continue
			}
			out[nk] = convert(e, key, tm)
		}
		return out
	case []doc:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = convert(e, key, tm)
		}
		return out
	case time.Time:
		return tm(x)
	}
	return v
}

func snake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
