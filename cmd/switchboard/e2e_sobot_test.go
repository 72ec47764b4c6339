package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	sobotsim "github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
)

// sobotOutcome is the outcome the gateway reports for a simulated call through Sobot, whose
// results are lossy: no voicemail or callback result, unanswered outbound shows as failed.
func sobotOutcome(c simcc.Call) string {
	switch c.Outcome {
	case simcc.OutcomeVoicemail, simcc.OutcomeCallback:
		return "MISSED"
	case simcc.OutcomeMissed:
		if c.Direction != simcc.DirectionInbound {
			return "FAILED"
		}
	}
	return string(c.Outcome)
}

// TestSobotCallsPageToTheEndMatchGroundTruth pages the sobot tenant's calls of a past range
// and compares them, in order, with the center's.
func TestSobotCallsPageToTheEndMatchGroundTruth(t *testing.T) {
	opts, _ := frozenDemo(120)
	g := startTestGateway(t, vendorsNamed("sobot"), opts)
	center := g.demo.bySource["sobot/sobot"].center
	to := center.Now().Add(-time.Hour).Truncate(time.Hour)
	from := to.Add(-5 * time.Hour)
	want := center.Calls(from, to)
	if len(want) < 60 {
		t.Fatalf("ground truth has only %d calls", len(want))
	}
	tok := g.tokens["sobot"].Full
	q := `query($from: DateTime!, $to: DateTime!, $after: String) {
	  calls(filter: {range: {from: $from, to: $to}}, first: 50, after: $after) {
	    edges { node { vendorId direction outcome startedAt source { id vendor } } }
	    pageInfo { hasNextPage endCursor }
	    totalCount
	  } }`
	type page struct {
		Calls struct {
			Edges []struct {
				Node struct {
					VendorID, Direction, Outcome string
					StartedAt                    time.Time
					Source                       struct{ ID, Vendor string }
				}
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
			TotalCount *int
		}
	}
	var got []string
	var after any
	for n := 0; ; n++ {
		if n > 50 {
			t.Fatal("paging did not end")
		}
		var p page
		g.mustData(t, tok, q, map[string]any{"from": from, "to": to, "after": after}, &p)
		if p.Calls.TotalCount == nil || *p.Calls.TotalCount != len(want) {
			t.Fatalf("totalCount %s, ground truth %d", fmtPtr(p.Calls.TotalCount), len(want))
		}
		for _, e := range p.Calls.Edges {
			i := len(got)
			got = append(got, e.Node.VendorID)
			if i >= len(want) {
				continue
			}
			w := want[i]
			if e.Node.VendorID != w.ID {
				t.Fatalf("call %d is %s, ground truth %s", i, e.Node.VendorID, w.ID)
			}
			if e.Node.Source.ID != "sobot" || e.Node.Source.Vendor != "sobot" || e.Node.Direction != string(w.Direction) ||
				!e.Node.StartedAt.Equal(w.StartedAt) || e.Node.Outcome != sobotOutcome(w) {
				t.Fatalf("call %s: %+v; ground truth %s %s %s (%s)", w.ID, e.Node, w.Direction, w.StartedAt, sobotOutcome(w), w.Outcome)
			}
		}
		if !p.Calls.PageInfo.HasNextPage {
			break
		}
		after = *p.Calls.PageInfo.EndCursor
	}
	if len(got) != len(want) {
		t.Fatalf("paged %d calls, ground truth has %d", len(got), len(want))
	}
}

// inflight wraps a simulator and records the most requests to one path suffix at once;
// it holds each such request a little, so that unbounded parallelism would show.
type inflight struct {
	simServer
	suffix string

	mu       sync.Mutex
	cur, max int
}

func (f *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, f.suffix) {
		f.mu.Lock()
		f.cur++
		f.max = max(f.max, f.cur)
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.cur--
			f.mu.Unlock()
		}()
		time.Sleep(20 * time.Millisecond)
	}
	f.simServer.ServeHTTP(w, r)
}

func (f *inflight) peak() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max
}

// TestSobotCallLegsAreBatched: the legs of a page of calls, asked twice in one operation,
// cost one party lookup per distinct call and equal the center's legs.
func TestSobotCallLegsAreBatched(t *testing.T) {
	opts, _ := frozenDemo(120)
	vs := vendorsNamed("sobot")
	inner := vs[0].sim
	vs[0].sim = func(c *simcc.Center) (simServer, upstreams.SimSource, startHook) {
		s, src, hook := inner(c)
		return &inflight{simServer: s, suffix: "/partycdrs"}, src, hook
	}
	g := startTestGateway(t, vs, opts)
	src := g.demo.bySource["sobot/sobot"]
	counter := src.handler.(*inflight)
	srv := counter.simServer.(*sobotsim.Server)
	center := src.center
	to := center.Now().Add(-time.Hour)
	from := to.Add(-3 * time.Hour)
	const n = 30
	srv.ResetRequests()
	q := `query($from: DateTime!, $to: DateTime!) {
	  a: calls(filter: {range: {from: $from, to: $to}}, first: 30) { edges { node { vendorId legs { id answered agent { vendorId } } } } }
	  b: calls(filter: {range: {from: $from, to: $to}}, first: 30) { edges { node { vendorId legs { id } } } }
	}`
	type legsPage struct {
		Edges []struct {
			Node struct {
				VendorID string
				Legs     []struct {
					ID       string
					Answered *bool
					Agent    *struct{ VendorID *string }
				}
			}
		}
	}
	var res struct{ A, B legsPage }
	g.mustData(t, g.tokens["sobot"].Full, q, map[string]any{"from": from, "to": to}, &res)
	if len(res.A.Edges) != n || len(res.B.Edges) != n {
		t.Fatalf("pages of %d and %d calls, want %d", len(res.A.Edges), len(res.B.Edges), n)
	}
	perCall := map[string]int{}
	total := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/partycdrs") {
			total++
			perCall[strings.TrimSpace(strings.Split(strings.TrimPrefix(r.Path, "/callservice/tm/tm-reports/maincdrs/"), "/")[0])]++
		}
	}
	if total > n {
		t.Errorf("%d party lookups for the legs of %d distinct calls (asked twice), want at most %d", total, n, n)
	}
	for id, k := range perCall {
		if k > 1 {
			t.Errorf("call %s: %d party lookups, want 1", id, k)
		}
	}
	t.Logf("%d party lookups, at most %d at once", total, counter.peak())
	legs := 0
	for i, e := range res.A.Edges {
		w, ok := center.Call(e.Node.VendorID)
		if !ok {
			t.Fatalf("call %s not in the center", e.Node.VendorID)
		}
		if len(e.Node.Legs) != len(w.Legs) || len(res.B.Edges[i].Node.Legs) != len(w.Legs) {
			t.Fatalf("call %s: %d and %d legs, ground truth %d", w.ID, len(e.Node.Legs), len(res.B.Edges[i].Node.Legs), len(w.Legs))
		}
		for j, l := range e.Node.Legs {
			wl := w.Legs[j]
			if l.Agent == nil || l.Agent.VendorID == nil || *l.Agent.VendorID != wl.AgentID ||
				(!wl.EndedAt.IsZero() && (l.Answered == nil || *l.Answered != wl.Answered)) {
				t.Fatalf("call %s leg %d: %+v, ground truth agent %s answered %v", w.ID, j, l, wl.AgentID, wl.Answered)
			}
		}
		legs += len(w.Legs)
	}
	if legs == 0 {
		t.Fatal("no legs in the page: nothing was compared")
	}
}

// TestSobotCallLegLookupsAreBounded: the legs of 200 calls in one operation (more than one
// dataloader batch) never have more than legConcurrency (4) party lookups in flight at
// Sobot: the driver's README promises "at most legConcurrency at a time".
func TestSobotCallLegLookupsAreBounded(t *testing.T) {
	opts, _ := frozenDemo(120)
	vs := vendorsNamed("sobot")
	inner := vs[0].sim
	vs[0].sim = func(c *simcc.Center) (simServer, upstreams.SimSource, startHook) {
		s, src, hook := inner(c)
		return &inflight{simServer: s, suffix: "/partycdrs"}, src, hook
	}
	g := startTestGateway(t, vs, opts)
	src := g.demo.bySource["sobot/sobot"]
	counter := src.handler.(*inflight)
	end := src.center.Now().Add(-time.Hour)
	calls := src.center.Calls(end.Add(-12*time.Hour), end)
	if len(calls) < 200 {
		t.Fatalf("ground truth has only %d calls", len(calls))
	}
	start, mid := calls[0].StartedAt, calls[100].StartedAt
	q := `query($f1: DateTime!, $t1: DateTime!, $f2: DateTime!, $t2: DateTime!) {
	  a: calls(filter: {range: {from: $f1, to: $t1}}, first: 100) { edges { node { vendorId legs { id } } } }
	  b: calls(filter: {range: {from: $f2, to: $t2}}, first: 100) { edges { node { vendorId legs { id } } } }
	}`
	var res struct {
		A, B struct {
			Edges []struct{ Node struct{ VendorID string } }
		}
	}
	g.mustData(t, g.tokens["sobot"].Full, q, map[string]any{"f1": start, "t1": mid, "f2": mid, "t2": end}, &res)
	if n := len(res.A.Edges) + len(res.B.Edges); n <= 100 {
		t.Fatalf("%d calls: fewer than one dataloader batch holds", n)
	}
	if p := counter.peak(); p < 1 || p > 4 {
		t.Errorf("%d party lookups in flight at once for one operation, want at most legConcurrency (4)", p)
	}
}

// TestSobotAgentUpdatesReflectSSEPatch: with no webhook pusher running, an agent change
// reaches agentUpdates through the SSE watch's patch within 2 s.
func TestSobotAgentUpdatesReflectSSEPatch(t *testing.T) {
	opts, clk := frozenDemo(0)
	vs := vendorsNamed("sobot")
	inner := vs[0].sim
	vs[0].sim = func(c *simcc.Center) (simServer, upstreams.SimSource, startHook) {
		s, src, _ := inner(c)
		return s, src, nil // no pushes: only the SSE watch can tell the gateway
	}
	g := startTestGateway(t, vs, opts)
	src := g.demo.bySource["sobot/sobot"]
	srv := src.handler.(*sobotsim.Server)
	w := g.dialWS(t, g.tokens["sobot"].Full)
	w.subscribe("1", agentUpdatesSub)
	if _, ok := w.nextData(time.Now().Add(20 * time.Second)); !ok {
		t.Fatal("no snapshot")
	}
	waitStreamLive(t, g, "sobot", "sobot", upstreams.TopicAgents, 1)
	want := changedAgents(t, clk, src.center, func(s simcc.AgentState) string { return string(s) }, true)
	awaitAgentStates(t, w, want, time.Now().Add(2*time.Second+3*time.Second), "within 2 s (+3 s slack)")
	watches := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/_watch/agents-metrics") {
			watches++
		}
	}
	if watches != 1 {
		t.Errorf("%d SSE watch requests, want 1", watches)
	}
	if sent, _ := srv.Pushes(); sent != 0 {
		t.Errorf("%d webhook pushes sent; the test needs none", sent)
	}
}

// TestSobotSignedWebhookAppearsInCallEvents: the simulator's signed pushes of a call that
// starts reach a callEvents subscriber.
func TestSobotSignedWebhookAppearsInCallEvents(t *testing.T) {
	opts, clk := frozenDemo(0)
	g := startTestGateway(t, vendorsNamed("sobot"), opts)
	src := g.demo.bySource["sobot/sobot"]
	srv := src.handler.(*sobotsim.Server)
	center := src.center
	w := g.dialWS(t, g.tokens["sobot"].Full)
	w.subscribe("1", `subscription { callEvents { kind call { vendorId outcome source { id vendor } } } }`)
	waitStreamLive(t, g, "sobot", "sobot", upstreams.TopicCalls, 1)

	started := map[string]bool{}
	for range 60 {
		before := center.Now()
		moveClock(clk, 5*time.Second)
		for _, c := range center.Calls(before.Add(time.Second), center.Now().Add(time.Second)) {
			started[c.ID] = true
		}
		if len(started) > 0 {
			break
		}
	}
	if len(started) == 0 {
		t.Fatal("no call started in 5 simulated minutes")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		data, ok := w.nextData(deadline)
		if !ok {
			sent, failed := srv.Pushes()
			t.Fatalf("no callEvents event for the started calls %v (pushes sent %d, failed %d)", keys(started), sent, failed)
		}
		var ev struct {
			CallEvents struct {
				Kind string
				Call struct {
					VendorID, Outcome string
					Source            struct{ ID, Vendor string }
				}
			}
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		c := ev.CallEvents.Call
		if started[c.VendorID] && ev.CallEvents.Kind == "UPSERT" {
			if c.Source.ID != "sobot" || c.Source.Vendor != "sobot" {
				t.Fatalf("event from source %+v", c.Source)
			}
			break
		}
	}
	if _, failed := srv.Pushes(); failed != 0 {
		t.Errorf("%d pushes were refused", failed)
	}
}
