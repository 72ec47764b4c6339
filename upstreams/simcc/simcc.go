// Package simcc is one deterministic, seeded model of a contact center: agents on shifts,
// queues behind IVRs, calls with their segments and legs, agent state spans and live events.
// Every vendor simulator renders this one model in its own wire format, and tests compare the
// gateway's answers with the ground truth it exposes, so history, live events and statistics
// of a source always agree with each other.
//
// The model is a discrete-event simulation that starts Config.HistoryDays before the clock's
// time at construction (aligned to UTC midnight) and runs forward lazily as the clock
// advances. The same Seed and the same start give identical results however often and in
// which steps the clock is read. Every view is "as of Now()": whatever happens later is
// hidden, so an in-progress call has no EndedAt and the outcome IN_PROGRESS.
package simcc

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Clock tells the model what time it is.
type Clock interface{ Now() time.Time }

// RealClock is the wall clock in UTC.
type RealClock struct{}

// Now returns the current wall-clock time in UTC.
func (RealClock) Now() time.Time { return time.Now().UTC() }

// ManualClock is a clock that moves only when told to; tests and replays use it.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock stopped at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t.UTC()} }

// Now returns the clock's time.
func (m *ManualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

// Set moves the clock to t. Moving it backwards hides nothing already published.
func (m *ManualClock) Set(t time.Time) {
	m.mu.Lock()
	m.t = t.UTC()
	m.mu.Unlock()
}

// Advance moves the clock forward by d.
func (m *ManualClock) Advance(d time.Duration) {
	m.mu.Lock()
	m.t = m.t.Add(d)
	m.mu.Unlock()
}

// ScaledClock runs Factor times as fast as the wall clock from the moment it is made. Load
// runs use it to make a center emit its events at many times their natural rate.
type ScaledClock struct {
	origin time.Time
	factor float64
}

// NewScaledClock returns a clock that reads the wall clock now and then advances factor
// seconds per wall-clock second (factor <= 0 is 1).
func NewScaledClock(factor float64) *ScaledClock {
	if !(factor > 0) {
		factor = 1
	}
	return &ScaledClock{origin: time.Now().UTC(), factor: factor}
}

// Now returns the scaled time.
func (s *ScaledClock) Now() time.Time {
	return s.origin.Add(time.Duration(float64(time.Since(s.origin)) * s.factor))
}

// Config describes the center. Zero values take the defaults; out-of-range values are
// clamped to the limits noted, so any Config builds a working center.
type Config struct {
	Name  string // center name, e.g. "Acme Support"; default "Contact Center"
	Seed  uint64 // every random choice derives from it
	Clock Clock  // nil = RealClock
	// HistoryDays is how many whole UTC days of history precede the day of construction;
	// default 3, at most 31.
	HistoryDays int
	// Agents: default one per 10 calls/h of PeakCallsPerHour (12 at the default peak), at
	// least 4; at most 500.
	Agents int
	Queues int // default 3, at most 50
	// PeakCallsPerHour is the inbound arrival rate across the center at the weekday
	// daytime peak, in calls per hour; default 120, at most 3600.
	PeakCallsPerHour float64
	// ShortAbandonSeconds: an abandon after a wait shorter than this is a short abandon;
	// default 5.
	ShortAbandonSeconds int
	// UTCOffset places the center's working day: shifts and the arrival profile follow
	// local time = UTC + UTCOffset (clamped to ±14h). All reported times stay UTC. The demo
	// picks an offset at which it is business hours now, so live views move at any hour.
	UTCOffset time.Duration
	// SyncEvery is how often Run catches the simulation up with the clock and publishes;
	// default 200 ms, at least 1 ms. A fast clock wants it short, or events come in bursts.
	SyncEvery time.Duration
}

func (cfg Config) withDefaults() Config {
	if cfg.Name == "" {
		cfg.Name = "Contact Center"
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	cfg.HistoryDays = clampDefault(cfg.HistoryDays, 3, 31)
	cfg.Queues = clampDefault(cfg.Queues, 3, 50)
	cfg.ShortAbandonSeconds = clampDefault(cfg.ShortAbandonSeconds, 5, 3600)
	if !(cfg.PeakCallsPerHour > 0) { // also catches NaN
		cfg.PeakCallsPerHour = 120
	}
	cfg.PeakCallsPerHour = min(cfg.PeakCallsPerHour, 3600)
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = 200 * time.Millisecond
	}
	cfg.SyncEvery = max(cfg.SyncEvery, time.Millisecond)
	cfg.UTCOffset = max(-14*time.Hour, min(14*time.Hour, cfg.UTCOffset.Truncate(time.Second)))
	// Staffing follows the load, so a busier demo center still answers its calls.
	cfg.Agents = clampDefault(cfg.Agents, max(4, int(math.Round(cfg.PeakCallsPerHour/10))), 500)
	return cfg
}

func clampDefault(v, def, limit int) int {
	if v <= 0 {
		return def
	}
	return min(v, limit)
}

// Center is one simulated contact center. All methods are safe for concurrent use.
type Center struct {
	cfg   Config
	start time.Time
	done  chan struct{}

	mu      sync.Mutex
	e       *engine
	agentIx map[string]int
	subs    []*subscriber
	dropped uint64
	closed  bool
}

// New builds the center and simulates its history up to the clock's now.
func New(cfg Config) *Center {
	cfg = cfg.withDefaults()
	now := cfg.Clock.Now().UTC()
	start := now.Truncate(24*time.Hour).AddDate(0, 0, -cfg.HistoryDays)
	c := &Center{
		cfg:     cfg,
		start:   start,
		done:    make(chan struct{}),
		e:       newEngine(cfg, start.Unix()),
		agentIx: map[string]int{},
	}
	for i, a := range c.e.agents {
		c.agentIx[a.info.ID] = i
	}
	// History before construction is never published: subscribers get what follows.
	c.e.published = now.Unix()
	c.e.runUntil(now.Unix() + horizon)
	return c
}

// Config returns the effective configuration, defaults filled in.
func (c *Center) Config() Config { return c.cfg }

// Name is the center's name.
func (c *Center) Name() string { return c.cfg.Name }

// Now is the clock's time in UTC.
func (c *Center) Now() time.Time { return c.cfg.Clock.Now().UTC() }

// Start is the beginning of the simulated history (UTC midnight).
func (c *Center) Start() time.Time { return c.start }

// Agent is one agent of the center.
type Agent struct {
	ID        string // "a01", "a02", … (zero-padded so IDs sort in order)
	Name      string
	Email     string
	Extension string   // internal extension, e.g. "1001"
	Phone     string   // E.164
	QueueIDs  []string // queues the agent serves, in queue order
}

// Queue is one ACD queue.
type Queue struct {
	ID             string // "q1", "q2", …
	Name           string
	Number         string // E.164 direct number of the queue
	Strategy       string // "rrmemory", "ringall" or "leastrecent" (Asterisk app_queue names)
	SLASeconds     int    // service-level threshold
	MaxWaitSeconds int    // queue timeout: after this wait the caller goes to voicemail or overflows
	IVRID          string // the IVR in front of the queue
	Digit          string // the IVR digit that leads here
}

// IVR is a menu in front of the queues.
type IVR struct {
	ID, Name string
	Number   string // E.164 number customers dial
}

// Agents returns the agents in ID order.
func (c *Center) Agents() []Agent {
	out := make([]Agent, len(c.e.agents))
	for i, a := range c.e.agents {
		out[i] = a.info
		out[i].QueueIDs = append([]string(nil), a.info.QueueIDs...)
	}
	return out
}

// Queues returns the queues in ID order.
func (c *Center) Queues() []Queue {
	out := make([]Queue, len(c.e.queues))
	for i, q := range c.e.queues {
		out[i] = q.info
	}
	return out
}

// IVRs returns the IVRs in ID order.
func (c *Center) IVRs() []IVR { return append([]IVR(nil), c.e.ivrs...) }

// Direction of a call.
type Direction string

// Directions.
const (
	DirectionInbound  Direction = "INBOUND"
	DirectionOutbound Direction = "OUTBOUND"
	DirectionInternal Direction = "INTERNAL" // agent to agent
)

// Outcome of a call as of Now.
//
// ANSWERED: a human answered at some point (inbound: an agent; outbound: the customer;
// internal: the called agent), whatever happened afterwards. Otherwise: ABANDONED, the
// caller hung up in the IVR or in a queue before any agent's phone rang; MISSED, an inbound
// caller hung up after being offered to at least one agent, or an outbound/internal call
// nobody answered (end reason "no_answer" or "busy"); VOICEMAIL, the queue timed out and the
// caller left a message; CALLBACK, the caller left the queue asking to be called back (the
// callback is a separate OUTBOUND call with CallbackOf set); FAILED, the network failed the
// call; IN_PROGRESS, not ended as of Now.
type Outcome string

// Outcomes.
const (
	OutcomeAnswered   Outcome = "ANSWERED"
	OutcomeAbandoned  Outcome = "ABANDONED"
	OutcomeMissed     Outcome = "MISSED"
	OutcomeVoicemail  Outcome = "VOICEMAIL"
	OutcomeCallback   Outcome = "CALLBACK"
	OutcomeFailed     Outcome = "FAILED"
	OutcomeInProgress Outcome = "IN_PROGRESS"
)

// Call is one call as of Now.
type Call struct {
	ID            string // "c000123", stable and unique within the center
	Seq           int64  // 1, 2, … in start order
	UUID          string // RFC 4122 version-4 layout, derived from Seed and Seq
	Direction     Direction
	Customer      string // E.164; empty for INTERNAL calls
	ServiceNumber string // number the customer dialled (inbound) or presented (outbound); the called extension for INTERNAL
	StartedAt     time.Time
	IVRID         string    // empty when the call did not pass an IVR
	IVRAt         time.Time // entered the IVR
	IVRLeftAt     time.Time // left the IVR (digit chosen or hung up); zero while in it
	Digit         string    // digit chosen; empty if the caller hung up in the IVR
	AnsweredAt    time.Time // first answer by a human; zero if never
	EndedAt       time.Time // zero while in progress
	Outcome       Outcome
	// EndReason: "customer_hangup", "agent_hangup", "abandon", "voicemail",
	// "callback_requested", "no_answer", "busy" or "failed". Empty while in progress.
	EndReason string
	Segments  []QueueSegment // in entry order
	Legs      []Leg          // in offer order
	// HoldSeconds and WrapUpSeconds sum the ended legs.
	HoldSeconds, WrapUpSeconds int
	Transfers                  int // agent-initiated transfers (legs with TransferredOut)
	Recorded                   bool
	CallbackRequested          bool
	CallbackOf                 string // for an outbound callback: ID of the call that asked
}

// QueueSegment is one stay of a call in a queue.
type QueueSegment struct {
	QueueID   string
	EnteredAt time.Time
	LeftAt    time.Time // zero while waiting
	Answered  bool      // left because an agent answered
	Abandoned bool      // left because the caller hung up
	AgentID   string    // the answering agent
	// Reason the call left: "answered", "abandon", "timeout" (went to voicemail),
	// "callback" (asked for a callback), "transfer" (overflowed to another queue on timeout).
	Reason string
}

// Leg is one agent's part of a call: from the offer (ring) to hang-up or transfer.
// TalkSeconds + HoldSeconds = EndedAt - AnsweredAt for an answered leg; the wrap-up follows
// EndedAt and is reported with it. The seconds are filled in when the leg has ended
// (RingSeconds already once answered).
type Leg struct {
	AgentID                        string
	QueueID                        string // the queue that offered the call; empty for transfers to an agent, outbound and internal calls
	OfferedAt, AnsweredAt, EndedAt time.Time

	RingSeconds, TalkSeconds, HoldSeconds, WrapUpSeconds int

	Answered       bool
	TransferredIn  bool // the leg started with a transfer (to the agent, or into the offering queue)
	TransferredOut bool // the leg ended by transferring the call on
	// TransferType, "blind" or "attended", of the outgoing transfer when TransferredOut,
	// else of the incoming one; empty when neither.
	TransferType string
	// EndReason: "customer_hangup", "agent_hangup", "transferred", "no_answer" (ring timeout),
	// "answered_elsewhere" (ringall), "abandon", "queue_timeout", "callback_requested",
	// "busy" or "failed".
	EndReason string
}

// AgentState is the normalized agent state.
type AgentState string

// Agent states.
const (
	StateAvailable AgentState = "AVAILABLE"
	StateRinging   AgentState = "RINGING"
	StateOnCall    AgentState = "ON_CALL"
	StateOnHold    AgentState = "ON_HOLD"
	StateWrapUp    AgentState = "WRAP_UP"
	StateNotReady  AgentState = "NOT_READY"
	StateOffline   AgentState = "OFFLINE"
)

// AllAgentStates lists the states in a fixed order.
func AllAgentStates() []AgentState {
	return []AgentState{StateAvailable, StateRinging, StateOnCall, StateOnHold, StateWrapUp, StateNotReady, StateOffline}
}

// AgentStatus is an agent's state now. Reason is the NOT_READY reason ("break", "lunch",
// "meeting", "missed_call"); CallID is set in call states.
type AgentStatus struct {
	AgentID string
	State   AgentState
	Since   time.Time
	Reason  string
	CallID  string
}

// AgentSpan is a stretch of time an agent spent in one state.
type AgentSpan struct {
	AgentID string
	State   AgentState
	Reason  string
	From    time.Time
	To      time.Time // zero = ongoing at Now
	CallID  string
}

// Calls returns the calls with StartedAt in [from, to) that have started by Now, in
// ascending StartedAt then Seq.
func (c *Center) Calls(from, to time.Time) []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.syncLocked()
	lo, hi := c.e.callRange(ceilSec(from), min(ceilSec(to), now+1))
	out := make([]Call, 0, hi-lo)
	for _, r := range c.e.calls[lo:hi] {
		out = append(out, r.view(c.e, now))
	}
	return out
}

// Call returns one call by ID, as of Now.
func (c *Center) Call(id string) (Call, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.syncLocked()
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "c"), 10, 64)
	if err != nil || n < 1 || n > int64(len(c.e.calls)) {
		return Call{}, false
	}
	r := c.e.calls[n-1]
	if r.id != id || r.started > now {
		return Call{}, false
	}
	return r.view(c.e, now), true
}

// ActiveCalls returns the calls in progress at Now, in start order.
func (c *Center) ActiveCalls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.syncLocked()
	var out []Call
	for _, r := range c.e.activeRecs(now) {
		out = append(out, r.view(c.e, now))
	}
	return out
}

// AgentStatuses returns every agent's state now, in agent ID order.
func (c *Center) AgentStatuses() []AgentStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.syncLocked()
	out := make([]AgentStatus, len(c.e.agents))
	for i, a := range c.e.agents {
		out[i] = a.status(now)
	}
	return out
}

// AgentSpans returns an agent's state spans that overlap [from, to), as of Now, in time
// order; nil for an unknown agent. The spans of an agent cover its time from Start
// without gaps or overlaps.
func (c *Center) AgentSpans(agentID string, from, to time.Time) []AgentSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.syncLocked()
	i, ok := c.agentIx[agentID]
	if !ok {
		return nil
	}
	return c.e.agents[i].spansIn(now, from, to)
}

// QueueStats are the ground-truth KPIs of one queue. All counters concern the queue
// segments that entered the queue in [From, To), with their outcome as of Now:
//
//   - Offered: segments that entered the queue in the range.
//   - Answered: of those, segments answered by an agent.
//   - Abandoned: segments whose caller hung up while waiting (short abandons included).
//   - ShortAbandoned: abandoned segments that waited less than ShortAbandonSeconds.
//   - AnsweredWithinSLA: answered segments that waited at most the queue's SLASeconds.
//   - ServiceLevel: AnsweredWithinSLA / (Offered - ShortAbandoned); nil when that is 0.
//   - Callbacks: segments left with reason "callback".
//   - AverageSpeedOfAnswerSeconds: mean wait (LeftAt - EnteredAt) of answered segments.
//   - AverageWaitSeconds: mean wait of segments that have left the queue.
//   - AverageHandleSeconds: mean talk + hold + wrap-up of the legs that answered those
//     segments (the leg of the segment's agent, from this queue, answered at LeftAt) and
//     have ended by Now.
//
// Averages are nil when nothing is averaged. CallsWaiting and LongestWaitSeconds are the
// segments of this queue open at Now, whatever the range; AgentsByState counts the agents
// serving the queue by their state now, with every state present.
type QueueStats struct {
	QueueID  string
	From, To time.Time

	Offered, Answered, Abandoned, ShortAbandoned, AnsweredWithinSLA int
	CallsWaiting, Callbacks                                         int
	LongestWaitSeconds                                              int
	SLASeconds                                                      int

	ServiceLevel                *float64
	AverageSpeedOfAnswerSeconds *float64
	AverageWaitSeconds          *float64
	AverageHandleSeconds        *float64

	AgentsByState map[AgentState]int
}

// QueueStats computes the KPIs of one queue; an unknown queue gives zero counters.
func (c *Center) QueueStats(queueID string, from, to time.Time) QueueStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.syncLocked()
	return c.e.queueStats(now, queueID, from, to)
}

// EventType names a live event.
type EventType string

// Event types. CALL_DEQUEUED (a segment left its queue, Reason = the segment reason) is
// the addition to the list every simulator needs for live queue figures.
const (
	EventCallStarted     EventType = "CALL_STARTED"
	EventCallQueued      EventType = "CALL_QUEUED"
	EventCallDequeued    EventType = "CALL_DEQUEUED"
	EventCallOffered     EventType = "CALL_OFFERED"
	EventCallAnswered    EventType = "CALL_ANSWERED"
	EventCallTransferred EventType = "CALL_TRANSFERRED"
	EventCallEnded       EventType = "CALL_ENDED"
	EventAgentState      EventType = "AGENT_STATE"
)

// Event is one live change. AgentID is the agent concerned (for a transfer, the one
// transferring; ToAgentID or QueueID the target). Reason is the NOT_READY reason, the
// segment reason, the transfer type or the call's end reason; Outcome is set on CALL_ENDED.
type Event struct {
	Type      EventType
	At        time.Time
	CallID    string
	AgentID   string
	QueueID   string
	State     AgentState
	Reason    string
	ToAgentID string
	Outcome   Outcome
}

// subscriber is one Subscribe channel; stop detaches the context watch.
type subscriber struct {
	ch   chan Event
	stop func() bool
}

// Subscribe returns the events that happen after this moment, in time order, as the
// simulation passes them (Sync, Run, or any view reading a later clock). The channel
// holds buffer events (default 1024); when it is full the oldest is dropped and counted in
// DroppedEvents, so a slow reader never blocks the model. It is closed when ctx is done or
// the center is closed.
func (c *Center) Subscribe(ctx context.Context, buffer int) <-chan Event {
	if buffer <= 0 {
		buffer = 1024
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &subscriber{ch: make(chan Event, buffer)}
	if c.closed {
		close(s.ch)
		return s.ch
	}
	c.syncLocked()
	c.subs = append(c.subs, s)
	s.stop = context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.removeSub(s)
	})
	return s.ch
}

func (c *Center) removeSub(s *subscriber) {
	for i, x := range c.subs {
		if x == s {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			close(s.ch)
			return
		}
	}
}

// DroppedEvents counts events dropped because a subscriber's buffer was full.
func (c *Center) DroppedEvents() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// Sync advances the simulation to the clock's now and publishes the events passed, before
// it returns. Tests with a ManualClock call it after Advance.
func (c *Center) Sync() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncLocked()
}

// Run keeps the simulation up with the clock, waking every Config.SyncEvery, until ctx is done or the
// center is closed; it then returns nil.
func (c *Center) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.SyncEvery)
	defer t.Stop()
	for {
		c.Sync()
		select {
		case <-ctx.Done():
			return nil
		case <-c.done:
			return nil
		case <-t.C:
		}
	}
}

// Close closes every subscription and stops Run. Views keep working.
func (c *Center) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for _, s := range c.subs {
		s.stop()
		close(s.ch)
	}
	c.subs = nil
	close(c.done)
}

// syncLocked runs the simulation up to now (plus the look-ahead horizon) and publishes
// what the clock has passed; it returns now in Unix seconds.
func (c *Center) syncLocked() int64 {
	now := c.Now().Unix()
	c.e.runUntil(now + horizon)
	c.e.publish(now, func(ev Event) {
		for _, s := range c.subs {
			select {
			case s.ch <- ev:
				continue
			default:
			}
			select { // full: drop the oldest, then there is room (only we send)
			case <-s.ch:
				c.dropped++
			default:
			}
			select {
			case s.ch <- ev:
			default:
				c.dropped++
			}
		}
	})
	return now
}
