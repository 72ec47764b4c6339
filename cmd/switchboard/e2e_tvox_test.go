package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	tvoxsim "github.com/switchboard-cc/switchboard/upstreams/tvox/sim"
)

// Helpers shared by the e2e_<vendor>_test.go files.

// frozenDemo returns demo options whose centers all run on one manual clock set to now (in
// business hours, as the demo places them), so ground truth holds still until the test
// moves the clock. peak 0 keeps the demo's rate.
func frozenDemo(peak float64) (demoOptions, *simcc.ManualClock) {
	clk := simcc.NewManualClock(time.Now().UTC().Truncate(time.Second))
	return demoOptions{center: func(tenant, vendor string) simcc.Config {
		c := demoCenter(tenant, vendor)
		c.Clock = clk
		if peak > 0 {
			c.PeakCallsPerHour = peak
		}
		return c
	}}, clk
}

// moveClock advances clk by d, and at least to the wall clock: vendor timestamps must stay
// near real time for webhook windows and pollers' watermarks.
func moveClock(clk *simcc.ManualClock, d time.Duration) {
	to := clk.Now().Add(d)
	if now := time.Now().UTC().Truncate(time.Second); now.After(to) {
		to = now
	}
	clk.Set(to)
}

// waitStreamLive waits until the hub holds a LIVE stream for the tenant's source and topic
// with n subscribers, and returns it.
func waitStreamLive(t *testing.T, g *testGateway, tenant, source string, topic upstreams.Topic, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last []string
	for time.Now().Before(deadline) {
		last = last[:0]
		for _, s := range g.gw.hub.Streams() {
			last = append(last, fmt.Sprintf("%s %s %d %s", s.Key, s.Status, s.Subscribers, s.Reason))
			if s.Key.Tenant == tenant && s.Key.Source == source && s.Key.Topic == topic &&
				s.Status == model.HealthStatusLive && s.Subscribers == n {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no LIVE %s/%s/%s stream with %d subscribers; streams: %v", tenant, source, topic, n, last)
}

// nextData reads the subscription's next `data` before deadline; false when none came.
// Errors and completion fail the test.
func (w *wsClient) nextData(deadline time.Time) (json.RawMessage, bool) {
	w.t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for {
		var m struct {
			Type    string
			Payload struct {
				Data   json.RawMessage
				Errors []gqlError
			}
		}
		if err := wsjson.Read(ctx, w.conn, &m); err != nil {
			if ctx.Err() != nil {
				return nil, false
			}
			w.t.Fatalf("reading websocket: %v", err)
		}
		switch m.Type {
		case "ping":
			w.send(map[string]any{"type": "pong"})
			continue
		case "next":
			if len(m.Payload.Errors) > 0 {
				w.t.Fatalf("subscription errors: %+v", m.Payload.Errors)
			}
			return m.Payload.Data, true
		}
		w.t.Fatalf("unexpected %q message: %+v", m.Type, m.Payload)
	}
}

// agentEvent is an agentUpdates payload as the tests select it.
type agentEvent struct {
	AgentUpdates struct {
		Kind  string
		Agent struct {
			VendorID string
			State    string
		}
	}
}

const agentUpdatesSub = `subscription { agentUpdates { kind agent { vendorId state } } }`

// awaitAgentStates reads agentUpdates until every agent in want has arrived as an UPSERT
// with the wanted state, or fails at deadline naming those that did not.
func awaitAgentStates(t *testing.T, w *wsClient, want map[string]string, deadline time.Time, within string) {
	t.Helper()
	pending := map[string]string{}
	for k, v := range want {
		pending[k] = v
	}
	for len(pending) > 0 {
		data, ok := w.nextData(deadline)
		if !ok {
			t.Fatalf("agent changes not delivered %s: %v (of %v)", within, pending, want)
		}
		var ev agentEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		a := ev.AgentUpdates.Agent
		if st, ok := pending[a.VendorID]; ok && ev.AgentUpdates.Kind == "UPSERT" && a.State == st {
			delete(pending, a.VendorID)
		}
	}
}

// changedAgents moves the clock in steps until some agent logged in before and after
// changes its state as mapped by state, and returns those agents' new mapped states.
func changedAgents(t *testing.T, clk *simcc.ManualClock, center *simcc.Center, state func(simcc.AgentState) string, keepOffline bool) map[string]string {
	t.Helper()
	before := map[string]simcc.AgentStatus{}
	for _, s := range center.AgentStatuses() {
		before[s.AgentID] = s
	}
	for range 60 {
		moveClock(clk, 5*time.Second)
		out := map[string]string{}
		for _, s := range center.AgentStatuses() { // reading publishes the step's events
			b := before[s.AgentID]
			if !keepOffline && (b.State == simcc.StateOffline || s.State == simcc.StateOffline) {
				continue
			}
			if state(b.State) != state(s.State) {
				out[s.AgentID] = state(s.State)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	t.Fatal("no agent changed state in 5 simulated minutes")
	return nil
}

// tvoxState is the canonical state TVox reports for a simulated agent: TVox has no hold.
func tvoxState(s simcc.AgentState) string {
	if s == simcc.StateOnHold {
		return string(simcc.StateOnCall)
	}
	return string(s)
}

type tvoxAgent struct {
	VendorID       string
	Name           string
	State          string
	VendorStatus   *string
	NotReadyReason *string
	Source         struct{ ID, Vendor string }
}

// checkTVoxAgents compares agents with the center's logged-in agents; "" when they agree.
func checkTVoxAgents(center *simcc.Center, got []tvoxAgent) string {
	want := map[string]simcc.AgentStatus{}
	for _, s := range center.AgentStatuses() {
		if s.State != simcc.StateOffline { // TVox lists logged-in users only (driver README)
			want[s.AgentID] = s
		}
	}
	var diffs []string
	seen := map[string]bool{}
	for _, a := range got {
		seen[a.VendorID] = true
		w, ok := want[a.VendorID]
		switch {
		case !ok:
			diffs = append(diffs, a.VendorID+" is not logged in")
		case a.State != tvoxState(w.State):
			diffs = append(diffs, fmt.Sprintf("%s state %s, want %s", a.VendorID, a.State, tvoxState(w.State)))
		case a.Source.ID != "tvox" || a.Source.Vendor != "tvox":
			diffs = append(diffs, fmt.Sprintf("%s source %+v", a.VendorID, a.Source))
		case w.State == simcc.StateNotReady && w.Reason != "" && (a.NotReadyReason == nil || *a.NotReadyReason != w.Reason):
			diffs = append(diffs, fmt.Sprintf("%s notReadyReason %v, want %s", a.VendorID, a.NotReadyReason, w.Reason))
		}
	}
	for id := range want {
		if !seen[id] {
			diffs = append(diffs, id+" missing")
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

const tvoxAgentsQuery = `{ agents { vendorId name state vendorStatus notReadyReason source { id vendor } } }`

type queueStatsJSON struct {
	Offered, Answered, Abandoned, ShortAbandoned, AnsweredWithinSla *int
	CallsWaiting, LongestWaitSeconds, Callbacks, SlaSeconds         *int
	ServiceLevel, AverageWaitSeconds, AverageSpeedOfAnswerSeconds   *float64
	AverageHandleSeconds                                            *float64
	AgentsByState                                                   []struct {
		State string
		Count int
	}
}

func intIs(got *int, want int) bool { return got != nil && *got == want }

func floatIs(got, want *float64) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return math.Abs(*got-*want) < 1e-6
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// TestTVoxAgentsAndQueuesMatchGroundTruth: the tvox tenant's agents and queue stats are the
// simulated center's, for TVox services (queues) and groups (skillsets).
func TestTVoxAgentsAndQueuesMatchGroundTruth(t *testing.T) {
	opts, _ := frozenDemo(0)
	g := startTestGateway(t, vendorsNamed("tvox"), opts)
	center := g.demo.bySource["tvox/tvox"].center
	tok := g.tokens["tvox"].Full

	var ag struct{ Agents []tvoxAgent }
	g.mustData(t, tok, tvoxAgentsQuery, nil, &ag)
	states := map[string]int{}
	for _, a := range ag.Agents {
		states[a.State]++
	}
	if len(ag.Agents) < 5 || len(states) < 2 {
		t.Fatalf("too little to compare: %d agents in states %v", len(ag.Agents), states)
	}
	if d := checkTVoxAgents(center, ag.Agents); d != "" {
		t.Fatalf("agents differ from ground truth: %s", d)
	}

	var qs struct {
		Queues []struct {
			VendorID string
			Stats    *queueStatsJSON
		}
	}
	g.mustData(t, tok, `{ queues { vendorId stats { offered answered abandoned shortAbandoned answeredWithinSla
		callsWaiting longestWaitSeconds callbacks serviceLevel averageWaitSeconds agentsByState { state count } } } }`, nil, &qs)
	now := center.Now()
	day := now.Truncate(24 * time.Hour)
	byID := map[string]*queueStatsJSON{}
	for _, q := range qs.Queues {
		byID[q.VendorID] = q.Stats
	}
	if len(qs.Queues) != 2*len(center.Queues()) {
		t.Errorf("%d queues, want a service and a group per center queue (%d)", len(qs.Queues), 2*len(center.Queues()))
	}
	offered := 0
	for _, q := range center.Queues() {
		w := center.QueueStats(q.ID, day, now)
		offered += w.Offered
		wantStates := map[string]int{
			"AVAILABLE": w.AgentsByState[simcc.StateAvailable],
			"ON_CALL":   w.AgentsByState[simcc.StateOnCall] + w.AgentsByState[simcc.StateOnHold],
			"WRAP_UP":   w.AgentsByState[simcc.StateWrapUp],
			"NOT_READY": w.AgentsByState[simcc.StateNotReady],
		}
		// A group (skillset) reports fewer figures than a service (GroupCcCallStat,
		// GroupUserStat in the document): the rest must be null, never a made-up zero.
		for _, group := range []bool{false, true} {
			id := q.ID
			if group {
				id = "group/" + tvoxsim.GroupCode(q.ID)
			}
			st := byID[id]
			if st == nil {
				t.Errorf("queue %s: no stats (queues %v)", id, keys(byID))
				continue
			}
			ints := []struct {
				name    string
				got     *int
				want    int
				inGroup bool
			}{
				{"offered", st.Offered, w.Offered, true}, {"answered", st.Answered, w.Answered, true},
				{"abandoned", st.Abandoned, w.Abandoned, true}, {"shortAbandoned", st.ShortAbandoned, w.ShortAbandoned, true},
				{"callsWaiting", st.CallsWaiting, w.CallsWaiting, true},
				{"answeredWithinSla", st.AnsweredWithinSla, w.AnsweredWithinSLA, false},
				{"longestWaitSeconds", st.LongestWaitSeconds, w.LongestWaitSeconds, false}, {"callbacks", st.Callbacks, w.Callbacks, false},
			}
			for _, c := range ints {
				if group && !c.inGroup {
					if c.got != nil {
						t.Errorf("queue %s %s = %d, want null (groups do not report it)", id, c.name, *c.got)
					}
				} else if !intIs(c.got, c.want) {
					t.Errorf("queue %s %s = %s, ground truth %d", id, c.name, fmtPtr(c.got), c.want)
				}
			}
			wantSL, wantWait := w.ServiceLevel, w.AverageWaitSeconds
			if group {
				wantSL, wantWait = nil, nil
			}
			if !floatIs(st.ServiceLevel, wantSL) || !floatIs(st.AverageWaitSeconds, wantWait) {
				t.Errorf("queue %s serviceLevel %s averageWait %s, want %s %s", id,
					fmtPtr(st.ServiceLevel), fmtPtr(st.AverageWaitSeconds), fmtPtr(wantSL), fmtPtr(wantWait))
			}
			gotStates := map[string]int{}
			for _, s := range st.AgentsByState {
				gotStates[s.State] = s.Count
			}
			for s, n := range wantStates {
				if group && s == "ON_CALL" {
					n = 0 // GroupUserStat has no busyUsers
				}
				if gotStates[s] != n {
					t.Errorf("queue %s agentsByState %v, ground truth %v", id, gotStates, wantStates)
					break
				}
			}
		}
	}
	if offered == 0 && now.Sub(day) > 15*time.Minute { // the UTC day may just have begun
		t.Fatal("no calls offered today: nothing was compared")
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestTVoxAgentUpdatesDeliverSimulatorChanges: a change the simulator makes reaches an
// agentUpdates subscriber within 2 s, and agents then reads the new state.
func TestTVoxAgentUpdatesDeliverSimulatorChanges(t *testing.T) {
	opts, clk := frozenDemo(0)
	g := startTestGateway(t, vendorsNamed("tvox"), opts)
	center := g.demo.bySource["tvox/tvox"].center
	tok := g.tokens["tvox"].Full
	w := g.dialWS(t, tok)
	w.subscribe("1", agentUpdatesSub)
	if _, ok := w.nextData(time.Now().Add(20 * time.Second)); !ok {
		t.Fatal("no snapshot")
	}
	waitStreamLive(t, g, "tvox", "tvox", upstreams.TopicAgents, 1)

	want := changedAgents(t, clk, center, tvoxState, false)
	awaitAgentStates(t, w, want, time.Now().Add(2*time.Second+3*time.Second), "within 2 s (+3 s slack)")

	// The query now reads the stream's held state: it must be the center's.
	var diff string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ag struct{ Agents []tvoxAgent }
		g.mustData(t, tok, tvoxAgentsQuery, nil, &ag)
		if diff = checkTVoxAgents(center, ag.Agents); diff == "" {
			return
		}
	}
	t.Fatalf("agents after the change differ from ground truth: %s", diff)
}

// TestTVoxFiftySubscribersShareOneUpstream: 50 agentUpdates subscribers of one tenant hold
// one upstream stream, and TVox sees one subscription.
func TestTVoxFiftySubscribersShareOneUpstream(t *testing.T) {
	opts, _ := frozenDemo(0)
	g := startTestGateway(t, vendorsNamed("tvox"), opts)
	srv := g.demo.bySource["tvox/tvox"].handler.(*tvoxsim.Server)
	tok := g.tokens["tvox"].Full
	const n = 50
	for i := range n {
		w := g.dialWS(t, tok)
		w.subscribe("1", `subscription { agentUpdates { kind agent { vendorId } } }`)
		if _, ok := w.nextData(time.Now().Add(20 * time.Second)); !ok {
			t.Fatalf("subscriber %d got nothing", i)
		}
	}
	waitStreamLive(t, g, "tvox", "tvox", upstreams.TopicAgents, n)
	streams := 0
	for _, s := range readyStreams(t, g) {
		if s.Tenant == "tvox" && s.Topic == string(upstreams.TopicAgents) {
			streams++
			if s.Subscribers != n || s.Connects != 1 {
				t.Errorf("agents stream: %d subscribers, %d upstream connects; want %d and 1", s.Subscribers, s.Connects, n)
			}
		}
	}
	if streams != 1 {
		t.Errorf("%d agents streams for the tenant, want 1", streams)
	}
	subs := map[string]int{}
	for _, r := range srv.Requests() {
		if r.Method == "WS" {
			subs[r.Operation]++
		}
	}
	if subs["users"] != 1 {
		t.Errorf("TVox saw %d users subscriptions, want 1 (WebSocket operations: %v)", subs["users"], subs)
	}
}
