package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	ccaisim "github.com/switchboard-cc/switchboard/upstreams/ccai/sim"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// ccaiVendors is the CCAI vendor of the demo; the test is skipped until it is registered.
func ccaiVendors(t *testing.T) []demoVendor {
	t.Helper()
	vs := vendorsNamed("ccai")
	if len(vs) == 0 {
		t.Skip("vendor ccai is not registered in demoVendors (cmd/switchboard/vendors.go) yet")
	}
	return vs
}

// TestCCAICallsMatchGroundTruth pages the ccai tenant's calls of a past range and compares
// them, in order, with the center's.
func TestCCAICallsMatchGroundTruth(t *testing.T) {
	opts, _ := frozenDemo(120)
	g := startTestGateway(t, ccaiVendors(t), opts)
	center := g.demo.bySource["ccai/ccai"].center
	to := center.Now().Add(-time.Hour).Truncate(time.Hour)
	from := to.Add(-5 * time.Hour)
	var want []simcc.Call
	for _, c := range center.Calls(from, to) {
		if c.Direction != simcc.DirectionInternal { // agent-to-agent calls are no CCAI call records
			want = append(want, c)
		}
	}
	if len(want) <= 100 {
		t.Fatalf("ground truth has only %d calls: paging would not be tested", len(want))
	}
	q := `query($from: DateTime!, $to: DateTime!, $after: String) {
	  calls(filter: {range: {from: $from, to: $to}}, first: 100, after: $after) {
	    edges { node { vendorId startedAt source { id vendor } } }
	    pageInfo { hasNextPage endCursor }
	    totalCount
	  } }`
	var got []string
	var after any
	for n := 0; ; n++ {
		if n > 50 {
			t.Fatal("paging did not end")
		}
		var p struct {
			Calls struct {
				Edges []struct {
					Node struct {
						VendorID  string
						StartedAt time.Time
						Source    struct{ ID, Vendor string }
					}
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
				TotalCount *int
			}
		}
		g.mustData(t, g.tokens["ccai"].Full, q, map[string]any{"from": from, "to": to, "after": after}, &p)
		if p.Calls.TotalCount != nil && *p.Calls.TotalCount != len(want) {
			t.Fatalf("totalCount %d, ground truth %d", *p.Calls.TotalCount, len(want))
		}
		for _, e := range p.Calls.Edges {
			i := len(got)
			got = append(got, e.Node.VendorID)
			if i >= len(want) {
				continue
			}
			w := want[i]
			if e.Node.VendorID != ccaisim.CallID(w.Seq) || !e.Node.StartedAt.Equal(w.StartedAt) ||
				e.Node.Source.ID != "ccai" || e.Node.Source.Vendor != "ccai" {
				t.Fatalf("call %d: %+v; ground truth %s started %s", i, e.Node, ccaisim.CallID(w.Seq), w.StartedAt)
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

// TestCCAIPageOfCallsWithLegsCostsTwoRequests: 50 calls with their legs cost at most 2
// upstream requests, and every answering agent of the center is in the call's legs.
func TestCCAIPageOfCallsWithLegsCostsTwoRequests(t *testing.T) {
	opts, _ := frozenDemo(120)
	g := startTestGateway(t, ccaiVendors(t), opts)
	src := g.demo.bySource["ccai/ccai"]
	center, srv := src.center, src.handler.(*ccaisim.Server)
	to := center.Now().Add(-time.Hour)
	from := to.Add(-4 * time.Hour)
	srv.ResetRequests()
	var p struct {
		Calls struct {
			Edges []struct {
				Node struct {
					VendorID string
					Legs     []struct {
						ID    string
						Agent *struct{ VendorID *string }
					}
				}
			}
		}
	}
	g.mustData(t, g.tokens["ccai"].Full, `query($from: DateTime!, $to: DateTime!) {
	  calls(filter: {range: {from: $from, to: $to}}, first: 50) { edges { node { vendorId legs { id agent { vendorId } } } } } }`,
		map[string]any{"from": from, "to": to}, &p)
	if len(p.Calls.Edges) != 50 {
		t.Fatalf("%d calls, want a page of 50", len(p.Calls.Edges))
	}
	reqs := srv.Requests()
	if len(reqs) > 2 {
		t.Errorf("a page of 50 calls with legs cost %d upstream requests, want at most 2: %+v", len(reqs), reqs)
	}
	bySeq := map[string]simcc.Call{}
	for _, c := range center.Calls(from.Add(-time.Hour), to) {
		bySeq[ccaisim.CallID(c.Seq)] = c
	}
	answered := 0
	for _, e := range p.Calls.Edges {
		w, ok := bySeq[e.Node.VendorID]
		if !ok {
			t.Fatalf("call %s is not in the center's range", e.Node.VendorID)
		}
		agents := map[string]bool{}
		for _, l := range e.Node.Legs {
			if l.Agent != nil && l.Agent.VendorID != nil {
				agents[*l.Agent.VendorID] = true
			}
		}
		for _, l := range w.Legs {
			if !l.Answered {
				continue
			}
			answered++
			if !agents[ccaisim.AgentID(l.AgentID)] {
				t.Errorf("call %s: answering agent %s (%s) not in legs %v", e.Node.VendorID, l.AgentID, ccaisim.AgentID(l.AgentID), agents)
			}
		}
	}
	if answered == 0 {
		t.Fatal("no answered legs in the page: nothing was compared")
	}
}

// TestCCAIFinishedCallAppearsInCallEvents: a call that finishes in the simulator reaches a
// callEvents subscriber within one poll interval plus 1 s.
func TestCCAIFinishedCallAppearsInCallEvents(t *testing.T) {
	opts, clk := frozenDemo(0)
	g := startTestGateway(t, ccaiVendors(t), opts)
	center := g.demo.bySource["ccai/ccai"].center
	poll := 5 * time.Second // the driver's default
	for _, tn := range g.demo.cfg.Tenants {
		for _, s := range tn.Sources {
			if tn.ID == "ccai" && s.ID == "ccai" {
				if v, ok := s.Options["pollInterval"].(string); ok {
					d, err := time.ParseDuration(v)
					if err != nil {
						t.Fatal(err)
					}
					poll = d
				}
			}
		}
	}
	w := g.dialWS(t, g.tokens["ccai"].Full)
	w.subscribe("1", `subscription { callEvents { kind call { vendorId outcome endedAt source { id vendor } } } }`)
	waitStreamLive(t, g, "ccai", "ccai", upstreams.TopicCalls, 1)

	active := map[string]bool{}
	for _, c := range center.ActiveCalls() {
		active[c.ID] = true
	}
	finished := map[string]string{} // vendor id → simcc id
	for range 60 {
		moveClock(clk, 5*time.Second)
		for id := range active {
			if c, ok := center.Call(id); ok && !c.EndedAt.IsZero() {
				finished[ccaisim.CallID(c.Seq)] = c.ID
			}
		}
		if len(finished) > 0 {
			break
		}
	}
	if len(finished) == 0 {
		t.Fatalf("none of the %d active calls finished in 5 simulated minutes", len(active))
	}
	within := poll + time.Second
	deadline := time.Now().Add(within + 3*time.Second)
	for {
		data, ok := w.nextData(deadline)
		if !ok {
			t.Fatalf("no callEvents event for the finished calls %v within %s (+3 s slack)", finished, within)
		}
		var ev struct {
			CallEvents struct {
				Kind string
				Call struct {
					VendorID, Outcome string
					EndedAt           *time.Time
					Source            struct{ ID, Vendor string }
				}
			}
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		c := ev.CallEvents.Call
		if _, ok := finished[c.VendorID]; !ok {
			continue
		}
		if ev.CallEvents.Kind == "REMOVE" || c.EndedAt != nil && c.Outcome != "IN_PROGRESS" {
			if c.Source.ID != "ccai" || c.Source.Vendor != "ccai" {
				t.Fatalf("event from source %+v", c.Source)
			}
			return
		}
	}
}
