package simcc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Times inside the engine are Unix seconds (0 = not yet), so every ...Seconds figure adds
// up exactly with the timestamps.
const (
	horizon        = 60       // seconds simulated beyond now; views hide them
	maxCallSpan    = 4 * 3600 // no call lasts longer (talk, waits and transfers are capped)
	ringTimeout    = 15       // seconds an offered agent rings before ring-no-answer
	pRingNoAnswer  = 0.06
	pTransfer      = 0.07
	callbackExpiry = 12 * 3600
	day            = 86400
)

type evKind uint8

const (
	evArrival evKind = iota
	evDay
	evIVRDone
	evLeave
	evRingEnd
	evTalkEnd
	evAgentFree
	evShiftStart
	evShiftEnd
	evActivity
	evNotReadyEnd
	evOutbound
	evCallback
)

type leaveKind uint8

const (
	leaveAbandon leaveKind = iota
	leaveCallback
	leaveTimeout
)

// simEvent is one scheduled step of the simulation; ties in time run in scheduling order.
type simEvent struct {
	at    int64
	seq   uint64
	kind  evKind
	leave leaveKind
	idx   int // segment, leg or queue index, by kind
	token int // agent shift or not-ready generation the event belongs to
	call  *callRec
	agent *agentRec
	offer *offer
	cb    *callbackReq
	act   activity
}

func (a *simEvent) less(b *simEvent) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

type callRec struct {
	seq        int64
	id, uuid   string
	dir        Direction
	customer   string
	service    string
	started    int64
	ivr        int // index into ivrs, -1 without IVR
	ivrAt      int64
	ivrLeft    int64
	digit      string
	answered   int64
	ended      int64
	outcome    Outcome
	endReason  string
	segs       []segRec
	legs       []legRec
	recorded   bool
	cbAsked    bool
	callbackOf string

	ringing    *offer // the offer ringing now, nil if none
	everOffer  bool   // some agent's phone rang for this call
	transferIn bool   // the next queue offer follows a transfer
}

type segRec struct {
	queue     int
	entered   int64
	left      int64
	answered  bool
	abandoned bool
	agent     int // -1 unless answered
	reason    string
	overflow  bool // entered by overflow: a timeout goes to voicemail
}

type legRec struct {
	agent                    int
	queue                    int // -1 unless offered by a queue
	offered, answered, ended int64
	ring, talk, hold, wrap   int
	tin, tout                bool
	inType, outType          string
	endReason                string
}

type offer struct {
	call      *callRec
	legs      []int
	winner    int // leg index that answers, -1 if nobody does
	cancelled bool
}

type callbackReq struct {
	orig    *callRec
	queue   int
	expires int64
}

type agentMode uint8

const (
	modeOffline agentMode = iota
	modeReady
	modeRinging
	modeBusy
	modeNotReady
)

type activity struct {
	at, dur int64
	reason  string
}

type spanRec struct {
	from, to int64 // to 0 = open
	state    AgentState
	reason   string
	call     string
}

type agentRec struct {
	idx        int
	info       Agent
	queues     []int
	mode       agentMode
	spans      []spanRec
	plan       []activity // today's breaks, relative to the planned shift start
	planStart  int64
	planEnd    int64
	pending    []activity // breaks due while busy, taken when free
	pendingOff bool       // shift over while busy
	shiftToken int
	nrToken    int
	lastEnd    int64
	cur        *callRec
}

type queueRec struct {
	idx     int
	info    Queue
	weight  float64
	members []int
	rr      int // rrmemory: position of the last agent offered
	waiting []*callRec
}

type pubEvent struct {
	at  int64
	seq uint64
	ev  Event
}

func (a *pubEvent) less(b *pubEvent) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

type engine struct {
	cfg    Config
	rng    *rand.Rand
	start  int64
	agents []*agentRec
	queues []*queueRec
	ivrs   []IVR
	calls  []*callRec

	events   minHeap[simEvent, *simEvent]
	evSeq    uint64
	arrival  float64 // next arrival instant, Unix seconds
	maxRate  float64 // calls per second bounding the arrival rate (thinning)
	numBase  int
	custSalt uint64

	pub       minHeap[pubEvent, *pubEvent]
	pubSeq    uint64
	published int64 // events at or before this second are published (or never will be)
}

func newEngine(cfg Config, start int64) *engine {
	e := &engine{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		start:    start,
		arrival:  float64(start),
		maxRate:  cfg.PeakCallsPerHour / 3600 * 1.1,
		numBase:  1000000 + int(mix(cfg.Seed, 1)%8000)*1000,
		custSalt: mix(cfg.Seed, 2),
	}
	e.build()
	for _, a := range e.agents {
		a.spans = []spanRec{{from: start, state: StateOffline}}
	}
	// Days are planned at local midnights: the first one at or after the history start.
	e.schedule(simEvent{at: start + floorMod(-e.offset(), day), kind: evDay})
	e.nextArrival()
	return e
}

const (
	firstNames = "Anna Erik Maria Lars Karin Johan Sara Anders Emma Per Elin Nils Ida Oskar Lena Jonas Maja Hugo Sofia Viktor Alice Leo Julia Axel Ebba Filip Wilma Isak Klara Gustav"
	lastNames  = "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson Pettersson Jonsson Lindberg Lindqvist Berg Holm Nyberg Lund Ek Wallin Sandberg Lindgren Axelsson Falk Dahl"
	queueNames = "Support Sales Billing Technical Returns Enterprise Partners Claims Bookings Priority"
)

func (e *engine) build() {
	cfg := e.cfg
	nIVR := (cfg.Queues + 8) / 9
	for i := range nIVR {
		name := "Main menu"
		if i > 0 {
			name = fmt.Sprintf("Menu %d", i+1)
		}
		e.ivrs = append(e.ivrs, IVR{ID: fmt.Sprintf("i%d", i+1), Name: name, Number: e.number(i)})
	}
	strategies := [...]string{"rrmemory", "ringall", "leastrecent"}
	slas := [...]int{20, 30, 60}
	waits := [...]int{120, 90, 180}
	qnames := strings.Fields(queueNames)
	for k := range cfg.Queues {
		name := qnames[k%len(qnames)]
		if k >= len(qnames) {
			name = fmt.Sprintf("%s %d", name, k/len(qnames)+1)
		}
		e.queues = append(e.queues, &queueRec{
			idx:    k,
			weight: float64(cfg.Queues - k + 1),
			info: Queue{
				ID: fmt.Sprintf("q%d", k+1), Name: name, Number: e.number(100 + k),
				Strategy: strategies[k%3], SLASeconds: slas[k%3], MaxWaitSeconds: waits[k%3],
				IVRID: e.ivrs[k/9].ID, Digit: fmt.Sprint(k%9 + 1),
			},
		})
	}
	firsts, lasts := strings.Fields(firstNames), strings.Fields(lastNames)
	pf, pl := e.rng.Perm(len(firsts)), e.rng.Perm(len(lasts))
	domain := slug(cfg.Name) + ".example"
	width := max(2, len(fmt.Sprint(cfg.Agents)))
	for i := range cfg.Agents {
		first, last := firsts[pf[i%len(firsts)]], lasts[pl[i%len(lasts)]]
		local := strings.ToLower(first + "." + last)
		if i >= len(firsts) {
			local += fmt.Sprint(i / len(firsts))
		}
		a := &agentRec{idx: i, info: Agent{
			ID: fmt.Sprintf("a%0*d", width, i+1), Name: first + " " + last,
			Email: local + "@" + domain, Extension: fmt.Sprint(1001 + i),
			Phone: fmt.Sprintf("+4673%07d", (mix(e.cfg.Seed, 3)+uint64(i)*7919)%10000000),
		}}
		a.queues = []int{i % cfg.Queues}
		if cfg.Queues > 1 && i%2 == 0 {
			a.queues = append(a.queues, (i+1)%cfg.Queues)
			if a.queues[1] < a.queues[0] {
				a.queues[0], a.queues[1] = a.queues[1], a.queues[0]
			}
		}
		for _, q := range a.queues {
			a.info.QueueIDs = append(a.info.QueueIDs, e.queues[q].info.ID)
			e.queues[q].members = append(e.queues[q].members, i)
		}
		e.agents = append(e.agents, a)
	}
}

func (e *engine) number(i int) string { return fmt.Sprintf("+468%07d", e.numBase+i) }

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimSuffix(b.String(), "-")
	if out == "" {
		return "center"
	}
	return out
}

// mix is SplitMix64: stable pseudo-random values derived from the seed, for identifiers.
func mix(seed, n uint64) uint64 {
	z := seed + n*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (e *engine) schedule(ev simEvent) {
	e.evSeq++
	ev.seq = e.evSeq
	e.events.push(ev)
}

func (e *engine) emit(at int64, ev Event) {
	if at <= e.published {
		return
	}
	e.pubSeq++
	e.pub.push(pubEvent{at: at, seq: e.pubSeq, ev: ev})
}

// publish hands over, in time order, the events the clock has passed.
func (e *engine) publish(now int64, deliver func(Event)) {
	if now <= e.published {
		return
	}
	for e.pub.len() > 0 && e.pub.peek().at <= now {
		p := e.pub.pop()
		p.ev.At = time.Unix(p.at, 0).UTC()
		deliver(p.ev)
	}
	e.published = now
}

func (e *engine) runUntil(t int64) {
	for e.events.len() > 0 && e.events.peek().at <= t {
		ev := e.events.pop()
		e.handle(&ev)
	}
}

func (e *engine) handle(ev *simEvent) {
	t := ev.at
	switch ev.kind {
	case evArrival:
		e.inbound(t)
		e.nextArrival()
	case evDay:
		e.planDay(t)
		e.schedule(simEvent{at: t + day, kind: evDay})
	case evIVRDone:
		c := ev.call
		c.ivrLeft = t
		if e.rng.Float64() < 0.03 {
			e.endCall(c, t, OutcomeAbandoned, "customer_hangup")
			return
		}
		c.digit = e.queues[ev.idx].info.Digit
		e.enqueue(c, ev.idx, t, false)
	case evLeave:
		if ev.call.segs[ev.idx].left == 0 {
			e.leave(ev.call, t, ev.leave)
		}
	case evRingEnd:
		if !ev.offer.cancelled {
			e.ringEnd(ev.offer, t)
		}
	case evTalkEnd:
		e.talkEnd(ev.call, ev.idx, t)
	case evAgentFree:
		if a := ev.agent; a.mode == modeBusy && a.cur == ev.call {
			e.becomeFree(a, t)
		}
	case evShiftStart:
		e.shiftStart(ev.agent, t)
	case evShiftEnd:
		a := ev.agent
		switch {
		case ev.token != a.shiftToken || a.mode == modeOffline:
		case a.mode == modeReady || a.mode == modeNotReady:
			e.goOffline(a, t)
		default:
			a.pendingOff = true
		}
	case evActivity:
		a := ev.agent
		switch {
		case ev.token != a.shiftToken || a.mode == modeOffline:
		case a.mode == modeReady:
			e.notReady(a, t, ev.act.reason, ev.act.dur)
		default:
			a.pending = append(a.pending, ev.act)
		}
	case evNotReadyEnd:
		if a := ev.agent; a.mode == modeNotReady && ev.token == a.nrToken {
			e.becomeFree(a, t)
		}
	case evOutbound:
		e.outboundAttempt(ev.agent, ev.token, t)
	case evCallback:
		e.callbackAttempt(ev.cb, t)
	}
}

// hourly is the share of the peak arrival rate at each UTC hour of the day.
func hourly(h int64) float64 {
	p := [24]float64{0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.12, 0.45, 0.85, 1, 0.95,
		0.75, 0.9, 1, 0.9, 0.7, 0.45, 0.25, 0.15, 0.1, 0.07, 0.05, 0.03}
	return p[h%24]
}

func weekdayFactor(wd time.Weekday) float64 {
	switch wd {
	case time.Monday:
		return 1.1
	case time.Friday:
		return 0.9
	case time.Saturday:
		return 0.35
	case time.Sunday:
		return 0.25
	}
	return 1
}

func weekday(t int64) time.Weekday { return time.Weekday((floorDiv(t, day)%7 + 11) % 7) } // 1970-01-01 was a Thursday

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// offset is the center's UTC offset in seconds.
func (e *engine) offset() int64 { return int64(e.cfg.UTCOffset / time.Second) }

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// rate is the inbound arrival rate in calls per second at t, interpolated between the
// hours of the center's local day.
func (e *engine) rate(t float64) float64 {
	lt := int64(t) + e.offset()
	sec := floorMod(lt, day)
	h, frac := sec/3600, float64(sec%3600)/3600
	f := hourly(h)*(1-frac) + hourly(h+1)*frac
	return e.cfg.PeakCallsPerHour / 3600 * f * weekdayFactor(weekday(lt))
}

// nextArrival draws the next inbound call of a non-homogeneous Poisson process by thinning.
func (e *engine) nextArrival() {
	for {
		e.arrival += e.rng.ExpFloat64() / e.maxRate
		if e.rng.Float64()*e.maxRate <= e.rate(e.arrival) {
			break
		}
	}
	e.schedule(simEvent{at: int64(e.arrival), kind: evArrival})
}

func (e *engine) uni(lo, hi int64) int64 { return lo + e.rng.Int64N(hi-lo+1) }

func (e *engine) newCall(t int64, dir Direction, customer, service string) *callRec {
	seq := int64(len(e.calls) + 1)
	c := &callRec{seq: seq, id: fmt.Sprintf("c%06d", seq), uuid: uuidFor(e.cfg.Seed, seq),
		dir: dir, customer: customer, service: service, started: t, ivr: -1}
	e.calls = append(e.calls, c)
	e.emit(t, Event{Type: EventCallStarted, CallID: c.id})
	return c
}

func uuidFor(seed uint64, seq int64) string {
	hi, lo := mix(seed, uint64(seq)*2+100), mix(seed, uint64(seq)*2+101)
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}

// customer picks a caller from a pool, so some customers call more than once.
func (e *engine) customer() string {
	k := uint64(e.rng.IntN(4000))
	return fmt.Sprintf("+4670%07d", mix(e.custSalt, k)%10000000)
}

func (e *engine) inbound(t int64) {
	var total float64
	for _, q := range e.queues {
		total += q.weight
	}
	qi, x := 0, e.rng.Float64()*total
	for qi < len(e.queues)-1 && x >= e.queues[qi].weight {
		x -= e.queues[qi].weight
		qi++
	}
	q := e.queues[qi]
	viaIVR := e.rng.Float64() < 0.8
	service := q.info.Number
	if viaIVR {
		service = e.ivrs[qi/9].Number
	}
	c := e.newCall(t, DirectionInbound, e.customer(), service)
	if e.rng.Float64() < 0.01 {
		e.endCall(c, t+e.uni(0, 2), OutcomeFailed, "failed")
		return
	}
	if !viaIVR {
		e.enqueue(c, qi, t, false)
		return
	}
	c.ivr, c.ivrAt = qi/9, t
	e.schedule(simEvent{at: t + e.uni(4, 25), kind: evIVRDone, call: c, idx: qi})
}

func (e *engine) endCall(c *callRec, at int64, outcome Outcome, reason string) {
	if c.answered != 0 {
		outcome = OutcomeAnswered
	}
	c.ended, c.outcome, c.endReason = at, outcome, reason
	e.emit(at, Event{Type: EventCallEnded, CallID: c.id, Reason: reason, Outcome: outcome})
}

// enqueue puts the call in a queue and decides now when the caller would give up waiting.
// A queue with nobody logged in is closed: the caller is sent to voicemail (or hangs up)
// without entering it.
func (e *engine) enqueue(c *callRec, qi int, t int64, overflow bool) {
	q := e.queues[qi]
	if !e.open(q) {
		if e.rng.Float64() < 0.4 {
			e.endCall(c, t+e.uni(2, 15), OutcomeAbandoned, "customer_hangup")
		} else {
			e.endCall(c, t+e.uni(15, 75), OutcomeVoicemail, "voicemail")
		}
		return
	}
	c.segs = append(c.segs, segRec{queue: qi, entered: t, agent: -1, overflow: overflow})
	q.waiting = append(q.waiting, c)
	e.emit(t, Event{Type: EventCallQueued, CallID: c.id, QueueID: q.info.ID})

	var patience int64
	if e.rng.Float64() < 0.07 {
		patience = e.uni(1, 4) // short abandon
	} else {
		patience = 5 + int64(e.rng.ExpFloat64()*150)
	}
	wait, kind := int64(q.info.MaxWaitSeconds), leaveTimeout
	if patience < wait {
		wait, kind = patience, leaveAbandon
	}
	// Only a first stay of a never-answered call offers the callback, so a CALLBACK call has
	// exactly one segment and it is the one that asked.
	if len(c.segs) == 1 && c.answered == 0 && e.rng.Float64() < 0.2 {
		if at := e.uni(45, 90); at < wait {
			wait, kind = at, leaveCallback
		}
	}
	e.schedule(simEvent{at: t + wait, kind: evLeave, leave: kind, call: c, idx: len(c.segs) - 1})
	e.dispatch(t)
}

func (e *engine) closeSeg(c *callRec, t int64, reason string) *segRec {
	s := &c.segs[len(c.segs)-1]
	s.left, s.reason = t, reason
	q := e.queues[s.queue]
	for i, w := range q.waiting {
		if w == c {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			break
		}
	}
	ev := Event{Type: EventCallDequeued, CallID: c.id, QueueID: q.info.ID, Reason: reason}
	if reason == "answered" {
		s.answered = true
		s.agent = c.legs[c.ringing.winner].agent
		ev.AgentID = e.agents[s.agent].info.ID
	}
	e.emit(t, ev)
	return s
}

func (e *engine) leave(c *callRec, t int64, kind leaveKind) {
	legReason := [...]string{"abandon", "callback_requested", "queue_timeout"}[kind]
	var freed []*agentRec
	if o := c.ringing; o != nil {
		o.cancelled = true
		c.ringing = nil
		for _, li := range o.legs {
			e.endRing(c, li, t, legReason)
			freed = append(freed, e.agents[c.legs[li].agent])
		}
	}
	switch kind {
	case leaveAbandon:
		s := e.closeSeg(c, t, "abandon")
		s.abandoned = true
		out := OutcomeAbandoned
		if c.everOffer {
			out = OutcomeMissed
		}
		e.endCall(c, t, out, "abandon")
	case leaveCallback:
		e.closeSeg(c, t, "callback")
		c.cbAsked = true
		e.endCall(c, t, OutcomeCallback, "callback_requested")
		qi := c.segs[len(c.segs)-1].queue
		e.schedule(simEvent{at: t + e.uni(120, 900), kind: evCallback,
			cb: &callbackReq{orig: c, queue: qi, expires: t + callbackExpiry}})
	case leaveTimeout:
		s := c.segs[len(c.segs)-1]
		if !s.overflow && len(e.queues) > 1 && e.rng.Float64() < 0.3 {
			e.closeSeg(c, t, "transfer")
			e.enqueue(c, (s.queue+1)%len(e.queues), t, true)
			break
		}
		e.closeSeg(c, t, "timeout")
		e.endCall(c, t+e.uni(10, 60), OutcomeVoicemail, "voicemail")
	}
	for _, a := range freed {
		e.becomeFree(a, t)
	}
	e.dispatch(t)
}

func (e *engine) endRing(c *callRec, li int, t int64, reason string) {
	l := &c.legs[li]
	l.ended, l.ring, l.endReason = t, int(t-l.offered), reason
}

// dispatch offers waiting callers to ready agents, the longest-waiting caller first.
func (e *engine) dispatch(t int64) {
	for {
		var best *callRec
		bq := -1
		for qi, q := range e.queues {
			var head *callRec
			for _, w := range q.waiting {
				if w.ringing == nil {
					head = w
					break
				}
			}
			if head == nil || !e.anyReady(q) {
				continue
			}
			hs, bs := head.segs[len(head.segs)-1].entered, int64(0)
			if best != nil {
				bs = best.segs[len(best.segs)-1].entered
			}
			if best == nil || hs < bs || hs == bs && head.seq < best.seq {
				best, bq = head, qi
			}
		}
		if best == nil {
			return
		}
		e.offer(best, bq, t)
	}
}

func (e *engine) open(q *queueRec) bool {
	for _, ai := range q.members {
		if e.agents[ai].mode != modeOffline {
			return true
		}
	}
	return false
}

func (e *engine) anyReady(q *queueRec) bool {
	for _, ai := range q.members {
		if e.agents[ai].mode == modeReady {
			return true
		}
	}
	return false
}

// pick chooses the agents to ring by the queue's strategy; at least one is ready.
func (e *engine) pick(q *queueRec) []int {
	n := len(q.members)
	switch q.info.Strategy {
	case "ringall":
		var out []int
		for _, ai := range q.members {
			if e.agents[ai].mode == modeReady {
				out = append(out, ai)
			}
		}
		return out
	case "leastrecent":
		return []int{e.leastRecent(q)}
	default: // rrmemory: the next ready member after the last one rung
		for k := 1; k <= n; k++ {
			p := (q.rr + k) % n
			if e.agents[q.members[p]].mode == modeReady {
				q.rr = p
				return []int{q.members[p]}
			}
		}
	}
	return nil
}

func (e *engine) leastRecent(q *queueRec) int {
	best := -1
	for _, ai := range q.members {
		a := e.agents[ai]
		if a.mode == modeReady && (best < 0 || a.lastEnd < e.agents[best].lastEnd) {
			best = ai
		}
	}
	return best
}

func (e *engine) offer(c *callRec, qi int, t int64) {
	q := e.queues[qi]
	o := &offer{call: c, winner: -1}
	var best int64
	for _, ai := range e.pick(q) {
		a := e.agents[ai]
		li := len(c.legs)
		l := legRec{agent: ai, queue: qi, offered: t, tin: c.transferIn}
		if l.tin {
			l.inType = "blind"
		}
		c.legs = append(c.legs, l)
		o.legs = append(o.legs, li)
		a.mode, a.cur = modeRinging, c
		e.setState(a, t, StateRinging, "", c.id)
		e.emit(t, Event{Type: EventCallOffered, CallID: c.id, AgentID: a.info.ID, QueueID: q.info.ID})
		if e.rng.Float64() >= pRingNoAnswer {
			if d := e.uni(2, 10); o.winner < 0 || d < best {
				o.winner, best = li, d
			}
		}
	}
	c.ringing, c.everOffer = o, true
	end := t + ringTimeout
	if o.winner >= 0 {
		end = t + best
	}
	e.schedule(simEvent{at: end, kind: evRingEnd, offer: o})
}

func (e *engine) ringEnd(o *offer, t int64) {
	c := o.call
	var freed []*agentRec
	if o.winner >= 0 {
		e.closeSeg(c, t, "answered")
		c.ringing, c.transferIn = nil, false
		for _, li := range o.legs {
			if li != o.winner {
				e.endRing(c, li, t, "answered_elsewhere")
				freed = append(freed, e.agents[c.legs[li].agent])
			}
		}
		w := e.agents[c.legs[o.winner].agent]
		w.mode = modeBusy
		e.startTalk(c, o.winner, t, 0)
		for _, a := range freed {
			e.becomeFree(a, t)
		}
		return
	}
	c.ringing = nil
	ringall := e.queues[c.legs[o.legs[0]].queue].info.Strategy == "ringall"
	for _, li := range o.legs {
		e.endRing(c, li, t, "no_answer")
		a := e.agents[c.legs[li].agent]
		if ringall {
			freed = append(freed, a)
		} else {
			// Most ACDs pause an agent who let an offer ring out.
			a.cur = nil
			e.notReady(a, t, "missed_call", e.uni(30, 90))
		}
	}
	for _, a := range freed {
		e.becomeFree(a, t)
	}
	e.dispatch(t)
}

// startTalk answers leg li at `at` (which may be later than the current step, for a
// transfer) and plans the talk with its holds, up to an evTalkEnd. The first busy seconds
// of the talk (an attended transfer's consultation) are longer than busy and hold-free.
func (e *engine) startTalk(c *callRec, li int, at, busy int64) {
	l := &c.legs[li]
	a := e.agents[l.agent]
	l.answered, l.ring = at, int(at-l.offered)
	if c.answered == 0 {
		c.answered = at
		c.recorded = e.rng.Float64() < 0.7
	}
	e.setState(a, at, StateOnCall, "", c.id)
	qid := ""
	if l.queue >= 0 {
		qid = e.queues[l.queue].info.ID
	}
	e.emit(at, Event{Type: EventCallAnswered, CallID: c.id, AgentID: a.info.ID, QueueID: qid})

	median := 110.0
	if c.dir == DirectionOutbound {
		median = 90
	}
	talk := int64(min(max(median*math.Exp(0.65*e.rng.NormFloat64()), 15), 2400))
	talk = max(talk, busy+15)
	first := max(10, busy)
	var held int64
	if talk >= first+30 && e.rng.Float64() < 0.2 {
		n := 1
		if e.rng.Float64() < 0.3 {
			n = 2
		}
		offs := []int64{e.uni(first, talk-10)}
		if n == 2 {
			o2 := e.uni(first, talk-10)
			offs = append(offs, o2)
			if o2 < offs[0] {
				offs[0], offs[1] = o2, offs[0]
			}
		}
		for _, off := range offs {
			h := e.uni(15, 120)
			e.setState(a, at+off+held, StateOnHold, "", c.id)
			held += h
			e.setState(a, at+off+held, StateOnCall, "", c.id)
		}
	}
	l.talk, l.hold = int(talk), int(held)
	e.schedule(simEvent{at: at + talk + held, kind: evTalkEnd, call: c, idx: li})
}

func (e *engine) wrapUp(c *callRec) int64 {
	switch {
	case c.dir != DirectionInbound:
		return e.uni(0, 30)
	case e.rng.Float64() < 0.15:
		return 0
	}
	return min(5+int64(e.rng.ExpFloat64()*25), 240)
}

func (e *engine) talkEnd(c *callRec, li int, t int64) {
	if c.dir == DirectionInbound && e.transfers(c) < 2 && e.rng.Float64() < pTransfer && e.transfer(c, li, t) {
		return
	}
	reason := "customer_hangup"
	if e.rng.Float64() < 0.35 {
		reason = "agent_hangup"
	}
	e.endLeg(c, li, t, reason, e.wrapUp(c))
	e.endCall(c, t, OutcomeAnswered, reason)
}

func (e *engine) transfers(c *callRec) int {
	n := 0
	for _, l := range c.legs {
		if l.tout {
			n++
		}
	}
	return n
}

// transfer hands the call on to a ready agent (blind or attended) or, with nobody ready,
// blind into another queue. It reports false when it cannot.
func (e *engine) transfer(c *callRec, li int, t int64) bool {
	from := e.agents[c.legs[li].agent]
	var ready []*agentRec
	for _, a := range e.agents {
		if a.mode == modeReady {
			ready = append(ready, a)
		}
	}
	if len(ready) == 0 {
		if len(e.queues) < 2 {
			return false
		}
		qi := e.rng.IntN(len(e.queues))
		if cur := c.legs[li].queue; cur >= 0 {
			qi = (cur + 1 + e.rng.IntN(len(e.queues)-1)) % len(e.queues) // another queue
		}
		c.legs[li].tout, c.legs[li].outType = true, "blind"
		e.endLeg(c, li, t, "transferred", e.uni(0, 20))
		e.emit(t, Event{Type: EventCallTransferred, CallID: c.id, AgentID: from.info.ID,
			QueueID: e.queues[qi].info.ID, Reason: "blind"})
		c.transferIn = true
		e.enqueue(c, qi, t, false)
		return true
	}
	to := ready[e.rng.IntN(len(ready))]
	kind := "blind"
	if e.rng.Float64() < 0.4 {
		kind = "attended"
	}
	ring := e.uni(2, 6)
	bi := len(c.legs)
	c.legs = append(c.legs, legRec{agent: to.idx, queue: -1, offered: t, tin: true, inType: kind})
	to.mode, to.cur = modeBusy, c
	e.setState(to, t, StateRinging, "", c.id)
	e.emit(t, Event{Type: EventCallOffered, CallID: c.id, AgentID: to.info.ID})
	leaveAt, consult := t, int64(0)
	if kind == "attended" {
		// The customer holds while the agents ring and consult; then the first agent drops.
		consult = e.uni(15, 60)
		leaveAt = t + ring + consult
		c.legs[li].hold += int(ring + consult)
	}
	c.legs[li].tout, c.legs[li].outType = true, kind
	e.endLeg(c, li, leaveAt, "transferred", e.uni(0, 20))
	e.emit(leaveAt, Event{Type: EventCallTransferred, CallID: c.id, AgentID: from.info.ID,
		ToAgentID: to.info.ID, Reason: kind})
	e.startTalk(c, bi, t+ring, consult)
	return true
}

// endLeg ends an agent's leg at `at` and plans the wrap-up, after which the agent is free.
func (e *engine) endLeg(c *callRec, li int, at int64, reason string, wrap int64) {
	l := &c.legs[li]
	l.ended, l.endReason, l.wrap = at, reason, int(wrap)
	a := e.agents[l.agent]
	a.lastEnd = at
	if wrap > 0 {
		e.setState(a, at, StateWrapUp, "", c.id)
	}
	e.schedule(simEvent{at: at + wrap, kind: evAgentFree, agent: a, call: c})
}

// setState starts a new span for the agent at `at` (never before the open span's start).
func (e *engine) setState(a *agentRec, at int64, st AgentState, reason, callID string) {
	last := &a.spans[len(a.spans)-1]
	if last.state == st && last.reason == reason && last.call == callID {
		return
	}
	e.emit(at, Event{Type: EventAgentState, AgentID: a.info.ID, State: st, Reason: reason, CallID: callID})
	if at <= last.from {
		// Several changes in one second: keep the last, merged with an equal predecessor.
		a.spans = a.spans[:len(a.spans)-1]
		if n := len(a.spans); n > 0 {
			if p := &a.spans[n-1]; p.state == st && p.reason == reason && p.call == callID {
				p.to = 0
				return
			}
		}
		at = last.from
	} else {
		last.to = at
	}
	a.spans = append(a.spans, spanRec{from: at, state: st, reason: reason, call: callID})
}

func (e *engine) becomeFree(a *agentRec, t int64) {
	a.cur = nil
	if a.pendingOff {
		e.goOffline(a, t)
		return
	}
	if len(a.pending) > 0 {
		act := a.pending[0]
		a.pending = a.pending[1:]
		e.notReady(a, t, act.reason, act.dur)
		return
	}
	a.mode = modeReady
	e.setState(a, t, StateAvailable, "", "")
	e.dispatch(t)
}

func (e *engine) notReady(a *agentRec, t int64, reason string, dur int64) {
	a.mode = modeNotReady
	a.nrToken++
	e.setState(a, t, StateNotReady, reason, "")
	e.schedule(simEvent{at: t + dur, kind: evNotReadyEnd, agent: a, token: a.nrToken})
}

func (e *engine) goOffline(a *agentRec, t int64) {
	a.mode, a.cur, a.pending, a.pendingOff = modeOffline, nil, nil, false
	a.nrToken++
	a.shiftToken++
	e.setState(a, t, StateOffline, "", "")
}

// planDay decides who works on the local day starting at d, their shifts and breaks.
func (e *engine) planDay(d int64) {
	wd := weekday(d + e.offset())
	weekend := wd == time.Saturday || wd == time.Sunday
	starts := [...]int64{7 * 3600, 8 * 3600, 9 * 3600, 10 * 3600}
	for i, a := range e.agents {
		works := e.rng.Float64() >= 0.04
		if weekend {
			works = (int64(i)+d/day)%3 == 0
		}
		if !works {
			continue
		}
		start := d + starts[i%len(starts)] + e.uni(-180, 420)
		a.planStart, a.planEnd = start, start+30600+e.uni(-600, 900)
		a.plan = a.plan[:0]
		a.plan = append(a.plan,
			activity{at: 2*3600 + e.uni(-900, 900), dur: 900, reason: "break"},
			activity{at: 4*3600 + e.uni(-900, 900), dur: e.uni(1800, 2700), reason: "lunch"})
		if e.rng.Float64() < 0.2 {
			a.plan = append(a.plan, activity{at: 5*3600 + 1200 + e.uni(0, 1200), dur: e.uni(1200, 2400), reason: "meeting"})
		}
		a.plan = append(a.plan, activity{at: 7*3600 + e.uni(-600, 600), dur: 900, reason: "break"})
		e.schedule(simEvent{at: start, kind: evShiftStart, agent: a})
	}
}

func (e *engine) shiftStart(a *agentRec, t int64) {
	if a.mode != modeOffline {
		return
	}
	a.shiftToken++
	a.mode = modeReady
	e.setState(a, t, StateAvailable, "", "")
	for _, act := range a.plan {
		e.schedule(simEvent{at: t + act.at, kind: evActivity, agent: a, token: a.shiftToken, act: act})
	}
	e.schedule(simEvent{at: a.planEnd, kind: evShiftEnd, agent: a, token: a.shiftToken})
	e.schedule(simEvent{at: t + e.outboundGap(), kind: evOutbound, agent: a, token: a.shiftToken})
	e.dispatch(t)
}

func (e *engine) outboundGap() int64 { return 600 + int64(e.rng.ExpFloat64()*5400) }

func (e *engine) callersWaiting(a *agentRec) bool {
	for _, qi := range a.queues {
		if len(e.queues[qi].waiting) > 0 {
			return true
		}
	}
	return false
}

func (e *engine) outboundAttempt(a *agentRec, token int, t int64) {
	if token != a.shiftToken {
		return
	}
	e.schedule(simEvent{at: t + e.outboundGap(), kind: evOutbound, agent: a, token: token})
	if a.mode != modeReady || e.callersWaiting(a) {
		return
	}
	if e.rng.Float64() < 0.12 {
		var peers []*agentRec
		for _, b := range e.agents {
			if b != a && b.mode == modeReady {
				peers = append(peers, b)
			}
		}
		if len(peers) > 0 {
			e.internal(a, peers[e.rng.IntN(len(peers))], t)
			return
		}
	}
	e.outbound(a, t, e.customer(), e.ivrs[0].Number, "")
}

func (e *engine) callbackAttempt(cb *callbackReq, t int64) {
	if t > cb.expires {
		return
	}
	q := e.queues[cb.queue]
	if len(q.waiting) == 0 {
		if ai := e.leastRecent(q); ai >= 0 {
			e.outbound(e.agents[ai], t, cb.orig.customer, q.info.Number, cb.orig.id)
			return
		}
	}
	e.schedule(simEvent{at: t + 300, kind: evCallback, cb: cb})
}

// outbound has a ready agent dial a customer; the dial result is decided at once.
func (e *engine) outbound(a *agentRec, t int64, customer, service, callbackOf string) {
	c := e.newCall(t, DirectionOutbound, customer, service)
	c.callbackOf = callbackOf
	c.legs = append(c.legs, legRec{agent: a.idx, queue: -1, offered: t})
	a.mode, a.cur = modeBusy, c
	e.setState(a, t, StateOnCall, "", c.id)
	e.emit(t, Event{Type: EventCallOffered, CallID: c.id, AgentID: a.info.ID})
	var out Outcome
	var reason string
	var d int64
	switch r := e.rng.Float64(); {
	case r < 0.04:
		out, reason, d = OutcomeFailed, "failed", e.uni(1, 3)
	case r < 0.09:
		out, reason, d = OutcomeMissed, "busy", e.uni(2, 6)
	case r < 0.22:
		out, reason, d = OutcomeMissed, "no_answer", e.uni(25, 40)
	default:
		e.startTalk(c, 0, t+e.uni(5, 20), 0)
		return
	}
	e.endRing(c, 0, t+d, reason)
	e.endCall(c, t+d, out, reason)
	e.schedule(simEvent{at: t + d, kind: evAgentFree, agent: a, call: c})
}

// internal is an agent calling a colleague; it is planned to its end at once.
func (e *engine) internal(a, b *agentRec, t int64) {
	c := e.newCall(t, DirectionInternal, "", b.info.Extension)
	c.legs = append(c.legs, legRec{agent: a.idx, queue: -1, offered: t}, legRec{agent: b.idx, queue: -1, offered: t})
	a.mode, a.cur, b.mode, b.cur = modeBusy, c, modeBusy, c
	e.setState(a, t, StateOnCall, "", c.id)
	e.setState(b, t, StateRinging, "", c.id)
	e.emit(t, Event{Type: EventCallOffered, CallID: c.id, AgentID: a.info.ID})
	e.emit(t, Event{Type: EventCallOffered, CallID: c.id, AgentID: b.info.ID})
	end := t + 20
	if e.rng.Float64() < 0.85 {
		ans := t + e.uni(3, 8)
		end = ans + e.uni(30, 240)
		c.answered = ans
		e.setState(b, ans, StateOnCall, "", c.id)
		e.emit(ans, Event{Type: EventCallAnswered, CallID: c.id, AgentID: a.info.ID})
		e.emit(ans, Event{Type: EventCallAnswered, CallID: c.id, AgentID: b.info.ID})
		for i := range c.legs {
			l := &c.legs[i]
			l.answered, l.ring, l.talk = ans, int(ans-t), int(end-ans)
			l.ended, l.endReason = end, "agent_hangup"
		}
		e.endCall(c, end, OutcomeAnswered, "agent_hangup")
	} else {
		for i := range c.legs {
			e.endRing(c, i, end, "no_answer")
		}
		e.endCall(c, end, OutcomeMissed, "no_answer")
	}
	a.lastEnd, b.lastEnd = end, end
	e.schedule(simEvent{at: end, kind: evAgentFree, agent: a, call: c})
	e.schedule(simEvent{at: end, kind: evAgentFree, agent: b, call: c})
}

// lesser orders heap items.
type lesser[T any] interface {
	*T
	less(*T) bool
}

// minHeap is a binary min-heap of values.
type minHeap[T any, P lesser[T]] struct{ items []T }

func (h *minHeap[T, P]) len() int { return len(h.items) }
func (h *minHeap[T, P]) peek() *T { return &h.items[0] }

func (h *minHeap[T, P]) push(x T) {
	h.items = append(h.items, x)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !P(&h.items[i]).less(&h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *minHeap[T, P]) pop() T {
	top := h.items[0]
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && P(&h.items[l]).less(&h.items[m]) {
			m = l
		}
		if r < n && P(&h.items[r]).less(&h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}
