package sobot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var simStart = time.Date(2025, 3, 13, 10, 30, 0, 0, time.UTC)

// env is a center, its Sobot simulator on loopback, and a driver pointed at it.
type env struct {
	upstreamstest.Env
	srv *sim.Server
	d   *Driver
	// inFlight and maxInFlight count concurrent partycdrs requests at the server.
	inFlight, maxInFlight atomic.Int32
}

func newEnv(t *testing.T, cfg sim.Config, opts map[string]any) *env {
	t.Helper()
	return newEnvSecrets(t, cfg, opts, nil)
}

// newEnvSecrets is newEnv with the driver's secrets (nil: the right ones).
func newEnvSecrets(t *testing.T, cfg sim.Config, opts map[string]any, secrets map[string]string) *env {
	t.Helper()
	e := &env{Env: upstreamstest.Env{Clock: simcc.NewManualClock(simStart)}}
	e.Center = simcc.New(simcc.Config{Name: "Sobot test", Seed: 7, Clock: e.Clock, HistoryDays: 1})
	if cfg.AppID == "" {
		cfg = sim.Config{AppID: "app", AppSecret: "secret", CompanyID: "comp", TokenTTL: cfg.TokenTTL}
	}
	e.srv = sim.New(e.Center, cfg)
	e.Server = upstreamstest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/partycdrs") {
			n := e.inFlight.Add(1)
			defer e.inFlight.Add(-1)
			for {
				m := e.maxInFlight.Load()
				if n <= m || e.maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond) // let requests overlap so the bound is exercised
		}
		e.srv.ServeHTTP(w, r)
	}))
	if opts == nil {
		opts = map[string]any{}
	}
	opts["companyId"] = "comp"
	tr := &http.Transport{}
	d, err := New(context.Background(), testSpec(e.Server.URL, opts, secrets), upstreams.Deps{Now: e.Clock.Now, HTTPClient: &http.Client{Transport: tr}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.Driver, e.d = d, d.(*Driver)
	t.Cleanup(func() {
		e.srv.Close()
		e.Center.Close()
		tr.CloseIdleConnections()
	})
	return e
}

func (e *env) count(method, path string) int {
	n := 0
	for _, r := range e.srv.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, path) {
			n++
		}
	}
	return n
}

// wantOutcome is what the driver reports for a simcc outcome: Sobot has no voicemail or
// callback result (both show as "system unanswered"), and an unanswered outbound call is
// FAILED in the canonical model.
func wantOutcome(c simcc.Call) model.Outcome {
	switch c.Outcome {
	case simcc.OutcomeVoicemail, simcc.OutcomeCallback:
		return model.OutcomeMissed
	case simcc.OutcomeMissed:
		if c.Direction != simcc.DirectionInbound {
			return model.OutcomeFailed
		}
	}
	return model.Outcome(c.Outcome)
}

func TestListCallsPagesToTheEnd(t *testing.T) {
	e := newEnv(t, sim.Config{}, map[string]any{"pageSize": 50})
	r := upstreams.TimeRange{From: simStart.Add(-24 * time.Hour), To: simStart}
	truth := e.Center.Calls(r.From, r.To)
	if len(truth) < 200 {
		t.Fatalf("center has only %d calls; the test needs several vendor pages", len(truth))
	}
	var got []*model.Call
	var cursors []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		p, err := e.d.ListCalls(context.Background(), upstreams.CallQuery{Range: r, First: 37, After: after})
		if err != nil {
			t.Fatalf("ListCalls: %v", err)
		}
		if p.TotalCount == nil || *p.TotalCount != len(truth) {
			t.Fatalf("totalCount = %v, want %d", p.TotalCount, len(truth))
		}
		for _, edge := range p.Edges {
			got = append(got, edge.Call)
			cursors = append(cursors, edge.Cursor)
		}
		if !p.HasNext {
			break
		}
		after = p.Edges[len(p.Edges)-1].Cursor
	}
	if len(got) != len(truth) {
		t.Fatalf("got %d calls, center has %d", len(got), len(truth))
	}
	for i, c := range got {
		w := truth[i]
		if c.VendorID != w.ID || !c.StartedAt.Equal(w.StartedAt) || c.Outcome != wantOutcome(w) {
			t.Fatalf("call %d = %s %v %s, want %s %v %s (simcc %s)", i, c.VendorID, c.StartedAt, c.Outcome, w.ID, w.StartedAt, wantOutcome(w), w.Outcome)
		}
		if c.ID != model.GlobalID(model.KindCall, "sb1", w.ID) || c.SourceID != "sb1" || len(c.Raw) == 0 {
			t.Fatalf("call %d: bad identity %q/%q or no raw", i, c.ID, c.SourceID)
		}
		if w.Recorded != (c.RecordingURL != nil) {
			t.Fatalf("call %s: recorded %v but recording URL %v", w.ID, w.Recorded, c.RecordingURL)
		}
	}
	// Resume after an edge in the middle of a vendor page.
	mid := 61
	p, err := e.d.ListCalls(context.Background(), upstreams.CallQuery{Range: r, First: 5, After: cursors[mid]})
	if err != nil {
		t.Fatal(err)
	}
	for i, edge := range p.Edges {
		if edge.Call.VendorID != truth[mid+1+i].ID {
			t.Fatalf("resumed edge %d = %s, want %s", i, edge.Call.VendorID, truth[mid+1+i].ID)
		}
	}
	if _, err := e.d.ListCalls(context.Background(), upstreams.CallQuery{Range: r, First: 5, After: "garbage!"}); !errors.Is(err, upstreams.ErrBadArgument) {
		t.Fatalf("bad cursor: err = %v, want ErrBadArgument", err)
	}
}

func TestListCallsDirectionPushedUpstream(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	r := upstreams.TimeRange{From: simStart.Add(-6 * time.Hour), To: simStart}
	p, err := e.d.ListCalls(context.Background(), upstreams.CallQuery{Range: r, First: 100, Direction: model.Ptr(model.DirectionOutbound)})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, c := range e.Center.Calls(r.From, r.To) {
		if c.Direction == simcc.DirectionOutbound {
			want++
		}
	}
	if *p.TotalCount != want || want == 0 {
		t.Fatalf("outbound total = %d, want %d (>0)", *p.TotalCount, want)
	}
	for _, edge := range p.Edges {
		if edge.Call.Direction != model.DirectionOutbound {
			t.Fatalf("call %s is %s", edge.Call.VendorID, edge.Call.Direction)
		}
	}
}

// answeredWithLegs picks calls of the last day with several legs.
func answeredWithLegs(e *env, n int) []simcc.Call {
	var out []simcc.Call
	for _, c := range e.Center.Calls(simStart.Add(-24*time.Hour), simStart) {
		if len(c.Legs) >= 2 && !c.EndedAt.IsZero() && len(out) < n {
			out = append(out, c)
		}
	}
	return out
}

func TestGetCallWithParties(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	w := answeredWithLegs(e, 1)[0]
	c, err := e.d.GetCall(context.Background(), " "+w.ID+" ")
	if err != nil {
		t.Fatal(err)
	}
	if c == nil || c.VendorID != w.ID || !c.LegsLoaded || len(c.Legs) != len(w.Legs) {
		t.Fatalf("GetCall = %+v, want %s with %d legs", c, w.ID, len(w.Legs))
	}
	for i, l := range c.Legs {
		if *l.Agent.VendorID != w.Legs[i].AgentID || *l.Answered != w.Legs[i].Answered {
			t.Fatalf("leg %d = %s answered %v, want %s %v", i, *l.Agent.VendorID, *l.Answered, w.Legs[i].AgentID, w.Legs[i].Answered)
		}
	}
	if c, err := e.d.GetCall(context.Background(), "c999999"); err != nil || c != nil {
		t.Fatalf("unknown call = %v, %v; want nil, nil", c, err)
	}
}

func TestLoadCallLegsBoundedAndDeduplicated(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	calls := answeredWithLegs(e, 12)
	var ids []string
	for _, c := range calls {
		ids = append(ids, c.ID, " "+c.ID+" ") // duplicates, one space-padded
	}
	ids = append(ids, "c999999")
	e.srv.ResetRequests()
	got, err := e.d.LoadCallLegs(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(http.MethodGet, "/partycdrs"); n != len(calls)+1 {
		t.Fatalf("%d partycdrs requests for %d distinct ids", n, len(calls)+1)
	}
	if m := e.maxInFlight.Load(); m > 4 || m < 2 {
		t.Fatalf("max concurrent partycdrs requests = %d, want 2..4", m)
	}
	if _, ok := got["c999999"]; ok {
		t.Fatal("unknown call has legs")
	}
	for _, c := range calls {
		if len(got[c.ID]) != len(c.Legs) {
			t.Fatalf("call %s: %d legs, want %d", c.ID, len(got[c.ID]), len(c.Legs))
		}
	}
}

func TestAgentsMatchCenter(t *testing.T) {
	e := newEnv(t, sim.Config{}, map[string]any{"watchPageSize": 5})
	agents, err := e.d.ListAgents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	truth := e.Center.AgentStatuses()
	if len(agents) != len(truth) {
		t.Fatalf("%d agents, center has %d", len(agents), len(truth))
	}
	for i, a := range agents {
		if a.VendorID != truth[i].AgentID || string(a.State) != string(truth[i].State) {
			t.Fatalf("agent %d = %s %s, want %s %s", i, a.VendorID, a.State, truth[i].AgentID, truth[i].State)
		}
	}
	withReport := 0
	for _, a := range agents {
		if a.Counters != nil && a.Counters.AvailableSeconds != nil {
			withReport++
		}
	}
	if withReport == 0 || e.count(http.MethodPost, "/agent-table/_search") == 0 {
		t.Fatal("no agent has the agent report's durations in its counters")
	}
	for _, r := range e.srv.Requests() {
		if strings.HasSuffix(r.Path, "/agents-metrics") && (r.Header.Get("Idempotency-Key") == "" || r.Header.Get("timezoneid") != "UTC") {
			t.Fatalf("agents-metrics request without Idempotency-Key or timezoneid: %v", r.Header)
		}
	}
}

func TestTokenRenewal(t *testing.T) {
	e := newEnv(t, sim.Config{TokenTTL: time.Hour}, nil)
	ctx := context.Background()
	q := upstreams.CallQuery{Range: upstreams.TimeRange{From: simStart.Add(-time.Hour), To: simStart}, First: 1}
	for i := 0; i < 3; i++ {
		if _, err := e.d.ListCalls(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(http.MethodPost, "/tokens/company"); n != 1 {
		t.Fatalf("%d token requests before half the lifetime, want 1", n)
	}
	e.Clock.Advance(31 * time.Minute) // past half of the 1 h lifetime read from exp
	if _, err := e.d.ListCalls(ctx, q); err != nil {
		t.Fatal(err)
	}
	if n := e.count(http.MethodPost, "/tokens/company"); n != 2 {
		t.Fatalf("%d token requests after half the lifetime, want 2", n)
	}
	e.srv.RevokeTokens()
	e.srv.ResetRequests()
	if _, err := e.d.ListCalls(ctx, q); err != nil {
		t.Fatalf("after a 401 the driver should renew and retry: %v", err)
	}
	var seq []string
	for _, r := range e.srv.Requests() {
		seq = append(seq, r.Method+" "+r.Path[strings.LastIndex(r.Path, "/")+1:])
	}
	if strings.Join(seq, ",") != "POST _search,POST company,POST _search" {
		t.Fatalf("requests after revocation: %v", seq)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	ctx := context.Background()
	q := upstreams.CallQuery{Range: upstreams.TimeRange{From: simStart.Add(-time.Hour), To: simStart}, First: 1}

	e.srv.FailNext(http.StatusOK, 4001, "quota exceeded")
	_, err := e.d.ListCalls(ctx, q)
	var ue *upstreams.Error
	if !errors.Is(err, upstreams.ErrUpstreamStatus) || !errors.As(err, &ue) || ue.Source != "sb1" || !strings.Contains(err.Error(), "4001") {
		t.Fatalf("envelope error with HTTP 200: err = %v", err)
	}
	if e.d.Health().Status != model.HealthStatusDegraded {
		t.Fatalf("health after envelope error = %s", e.d.Health().Status)
	}

	e.srv.FailNext(http.StatusServiceUnavailable, 503, "busy")
	if _, err := e.d.ListCalls(ctx, q); err != nil {
		t.Fatalf("one 503 should be retried: %v", err)
	}
	for i := 0; i < 3; i++ {
		e.srv.FailNext(http.StatusServiceUnavailable, 503, "busy")
	}
	if _, err := e.d.ListCalls(ctx, q); !errors.Is(err, upstreams.ErrUnavailable) {
		t.Fatalf("persistent 503: err = %v, want ErrUnavailable", err)
	}

	bad := newTestDriver(t, testSpec(e.Server.URL, map[string]any{"appId": "app"}, map[string]string{"appSecret": "not-the-secret-xyz"}), e.Clock.Now)
	_, err = bad.ListCalls(ctx, q)
	if !errors.Is(err, upstreams.ErrUnauthorized) || strings.Contains(err.Error(), "not-the-secret-xyz") {
		t.Fatalf("token refusal: err = %v", err)
	}
	if bad.Health().Status != model.HealthStatusDown {
		t.Fatalf("health after token refusal = %s", bad.Health().Status)
	}
}

func TestAgentStateHistory(t *testing.T) {
	e := newEnv(t, sim.Config{}, map[string]any{"pageSize": 20})
	r := upstreams.TimeRange{From: simStart.Add(-8 * time.Hour), To: simStart.Add(-30 * time.Second)}
	agent := e.Center.Agents()[0].ID
	truth := e.Center.AgentSpans(agent, r.From, r.To)
	spans, err := e.d.AgentStateHistory(context.Background(), agent, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != len(truth) || len(truth) < 3 {
		t.Fatalf("%d spans, center has %d", len(spans), len(truth))
	}
	for i, s := range spans {
		if string(s.State) != string(truth[i].State) || !s.From.Equal(truth[i].From) {
			t.Fatalf("span %d = %s %v, want %s %v", i, s.State, s.From, truth[i].State, truth[i].From)
		}
	}
}

func TestReports(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	day := simStart.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	q := upstreams.TimeseriesQuery{Range: upstreams.TimeRange{From: day, To: day.Add(24 * time.Hour)}, Interval: model.IntervalHour}
	pts, err := e.d.CallVolume(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 24 {
		t.Fatalf("%d points, want 24", len(pts))
	}
	var inbound, outbound int
	for _, c := range e.Center.Calls(q.Range.From, q.Range.To) {
		switch c.Direction {
		case simcc.DirectionInbound:
			inbound++
		case simcc.DirectionOutbound:
			outbound++
		}
	}
	var gotIn, gotOut int
	for _, p := range pts {
		gotIn += *p.Inbound
		gotOut += *p.Outbound
	}
	if gotIn != inbound || gotOut != outbound || inbound == 0 {
		t.Fatalf("callVolume inbound/outbound = %d/%d, center %d/%d", gotIn, gotOut, inbound, outbound)
	}
	qid := e.Center.Queues()[0].ID
	qpts, err := e.d.QueueTimeseries(context.Background(), qid, q)
	if err != nil {
		t.Fatal(err)
	}
	offered := 0
	for _, c := range e.Center.Calls(q.Range.From, q.Range.To) {
		for _, l := range c.Legs {
			if l.QueueID == qid && c.Direction == simcc.DirectionInbound && !l.OfferedAt.Before(q.Range.From) && l.OfferedAt.Before(q.Range.To) {
				offered++
			}
		}
	}
	got := 0
	for _, p := range qpts {
		got += *p.Offered
	}
	if got != offered || offered == 0 {
		t.Fatalf("queue %s legs offered = %d, center %d", qid, got, offered)
	}
}

// agentStates folds a sink's events into agent states by key.
func agentStates(ev []upstreamstest.Event) map[string]model.AgentState {
	m := map[string]model.AgentState{}
	for _, e := range ev {
		switch e.Op {
		case "reset":
			m = map[string]model.AgentState{}
			for _, it := range e.Items {
				m[it.Key] = it.Value.(*model.Agent).State
			}
		case "upsert":
			m[e.Key] = e.Value.(*model.Agent).State
		case "remove":
			delete(m, e.Key)
		}
	}
	return m
}

func centerStates(c *simcc.Center) map[string]model.AgentState {
	m := map[string]model.AgentState{}
	for _, s := range c.AgentStatuses() {
		m[s.AgentID] = model.AgentState(s.State)
	}
	return m
}

func sameStates(a, b map[string]model.AgentState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSSEFullThenPatches(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	sink := &upstreamstest.Sink{}
	run := upstreamstest.StartStream(t, e.d, upstreams.TopicAgents, sink)
	sink.WaitFor(t, "the full message", func(ev []upstreamstest.Event) bool { return len(ev) > 0 && ev[0].Op == "reset" })
	if !sameStates(agentStates(sink.Changes()), centerStates(e.Center)) {
		t.Fatal("snapshot differs from the center")
	}
	before := len(sink.Changes())
	e.Clock.Advance(10 * time.Minute)
	e.Center.Sync()
	want := centerStates(e.Center)
	ev := sink.WaitFor(t, "patches bringing the center's states", func(ev []upstreamstest.Event) bool { return sameStates(agentStates(ev), want) && len(ev) > before })
	for _, x := range ev[1:] {
		if x.Op == "reset" {
			t.Fatal("a second full message: patches were not applied")
		}
	}
	if err := run.Stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("stream ended with %v, want context.Canceled", err)
	}
}

func TestSSEQueuesTopic(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	sink := &upstreamstest.Sink{}
	upstreamstest.StartStream(t, e.d, upstreams.TopicQueues, sink)
	ev := sink.WaitFor(t, "the tenant queue", func(ev []upstreamstest.Event) bool { return len(ev) > 0 })
	q := ev[0].Items[0].Value.(*model.Queue)
	total := 0
	for _, c := range q.Stats.AgentsByState {
		total += c.Count
	}
	if q.VendorID != TenantQueueID || total != len(e.Center.Agents()) || q.Stats.Answered == nil {
		t.Fatalf("queue = %+v, agents by state total %d", q, total)
	}
}

func TestSSEDroppedMidLine(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	sink := &upstreamstest.Sink{}
	run := upstreamstest.StartStream(t, e.d, upstreams.TopicAgents, sink)
	sink.WaitFor(t, "the full message", func(ev []upstreamstest.Event) bool { return len(ev) > 0 })
	e.srv.BreakStreams()
	if err := run.Wait(); err == nil || !errors.Is(err, upstreams.ErrUnavailable) || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("dropped stream returned %v", err)
	}
}

func TestSSEAfter401Reconnects(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	if _, err := e.d.ListAgents(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv.RevokeTokens()
	sink := &upstreamstest.Sink{}
	upstreamstest.StartStream(t, e.d, upstreams.TopicAgents, sink)
	sink.WaitFor(t, "the full message after renewing the token", func(ev []upstreamstest.Event) bool { return len(ev) > 0 })
}

func TestRecordings(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	if !e.d.HasRecordings() {
		t.Fatal("HasRecordings = false")
	}
	var url string
	for _, c := range e.Center.Calls(simStart.Add(-6*time.Hour), simStart) {
		if c.Recorded {
			got, err := e.d.GetCall(context.Background(), c.ID)
			if err != nil || got.RecordingURL == nil {
				t.Fatalf("recorded call %s: %v, url %v", c.ID, err, got)
			}
			url = *got.RecordingURL
			break
		}
	}
	if strings.Contains(url, " ") || url == "" {
		t.Fatalf("recording URL %q still has blanks", url)
	}
	body, ct, err := e.d.OpenRecording(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	b, _ := io.ReadAll(body)
	if ct != "audio/mpeg" || !strings.HasPrefix(string(b), "ID3") {
		t.Fatalf("recording %q %q", ct, b)
	}
	if _, _, err := e.d.OpenRecording(context.Background(), "::"); !errors.Is(err, upstreams.ErrBadArgument) {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestConformance(t *testing.T) {
	upstreamstest.Run(t, upstreamstest.Harness{
		New: func(t *testing.T, bad bool) upstreamstest.Env {
			var secrets map[string]string
			if bad {
				secrets = map[string]string{"appSecret": upstreamstest.WrongSecret, "appKey": "key"}
			}
			return newEnvSecrets(t, sim.Config{}, nil, secrets).Env
		},
		CallIDs: func(c *simcc.Center, r upstreams.TimeRange) []string {
			var ids []string
			for _, call := range c.Calls(r.From, r.To) {
				ids = append(ids, call.ID)
			}
			return ids
		},
		WebhookTopics: []upstreams.Topic{upstreams.TopicCalls},
	})
}
