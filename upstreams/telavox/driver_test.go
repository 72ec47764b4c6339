package telavox_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/telavox"
	"github.com/switchboard-cc/switchboard/upstreams/telavox/sim"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 3, 13, 10, 30, 0, 0, time.UTC)

type env struct {
	upstreamstest.Env
	sim *sim.Server
	drv *telavox.Driver
}

// newEnv starts a center, its simulator on loopback (wrapped by wrap when given) and a
// driver configured from NewDemo.
func newEnv(t *testing.T, token string, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	clk := simcc.NewManualClock(t0)
	center := simcc.New(simcc.Config{Name: "Acme Support", Seed: 7, Clock: clk, HistoryDays: 1})
	s, src := sim.NewDemo(center)
	var h http.Handler = s
	if wrap != nil {
		h = wrap(s)
	}
	t.Cleanup(func() {
		center.Close()
		s.Close()
	})
	srv := upstreamstest.NewServer(t, h)
	opts := map[string]any{"ratePerSecond": 1000, "pageSize": 50}
	for k, v := range src.Options {
		opts[k] = v
	}
	if token == "" {
		token = src.Secrets["token"]
	}
	spec := upstreams.SourceSpec{Tenant: "t1", ID: "tvx", Vendor: telavox.Vendor, URL: srv.URL, Options: opts,
		Secret: func(name string) (string, error) {
			if name != "token" {
				return "", errors.New("no such secret")
			}
			return token, nil
		}}
	d, err := telavox.New(context.Background(), spec, upstreams.Deps{Now: center.Now, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: upstreamstest.Env{Driver: d, Center: center, Clock: clk, Server: srv}, sim: s, drv: d.(*telavox.Driver)}
}

func listAll(t *testing.T, d *telavox.Driver, r upstreams.TimeRange, first int) []upstreams.CallEdge {
	t.Helper()
	var out []upstreams.CallEdge
	after := ""
	for i := 0; ; i++ {
		p, err := d.ListCalls(context.Background(), upstreams.CallQuery{Range: r, First: first, After: after})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Edges...)
		if !p.HasNext {
			return out
		}
		if len(p.Edges) == 0 || i > 1000 {
			t.Fatal("HasNext with an empty page")
		}
		after = p.Edges[len(p.Edges)-1].Cursor
	}
}

func TestListCallsPagesToTheEnd(t *testing.T) {
	e := newEnv(t, "", nil)
	r := upstreams.TimeRange{From: t0.Add(-8 * time.Hour), To: t0}
	want := e.Center.Calls(r.From, r.To)
	if len(want) < 50 {
		t.Fatalf("center has only %d calls in range", len(want))
	}
	edges := listAll(t, e.drv, r, 37)
	if len(edges) != len(want) {
		t.Fatalf("got %d calls, center has %d", len(edges), len(want))
	}
	for i, c := range want {
		if edges[i].Call.VendorID != c.UUID {
			t.Fatalf("call %d: id %s, want %s", i, edges[i].Call.VendorID, c.UUID)
		}
	}
	// Resume after an edge in the middle of a vendor page.
	k := 41
	p, err := e.drv.ListCalls(context.Background(), upstreams.CallQuery{Range: r, First: 5, After: edges[k].Cursor})
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalCount == nil || *p.TotalCount != len(want) {
		t.Errorf("totalCount = %v, want %d", p.TotalCount, len(want))
	}
	for i, edge := range p.Edges {
		if edge.Call.VendorID != want[k+1+i].UUID {
			t.Errorf("resumed edge %d: %s, want %s", i, edge.Call.VendorID, want[k+1+i].UUID)
		}
	}
	// Outcomes the vendor's flags determine agree with the center (voicemail is filled from
	// queueOverview, callOverview having no voicemail field).
	for i, c := range want {
		got := edges[i].Call
		if (c.Outcome == simcc.OutcomeAnswered) != (got.Outcome == model.OutcomeAnswered) {
			t.Errorf("call %s: outcome %s, center %s", c.UUID, got.Outcome, c.Outcome)
		}
		if c.Outcome == simcc.OutcomeVoicemail && len(c.Segments) > 0 && got.Outcome != model.OutcomeVoicemail {
			t.Errorf("call %s: outcome %s, center VOICEMAIL", c.UUID, got.Outcome)
		}
		if !got.StartedAt.Equal(c.StartedAt) || (c.EndedAt.IsZero() != (got.EndedAt == nil)) {
			t.Errorf("call %s: times differ", c.UUID)
		}
	}
}

func TestEmptyRange(t *testing.T) {
	e := newEnv(t, "", nil)
	p, err := e.drv.ListCalls(context.Background(), upstreams.CallQuery{Range: upstreams.TimeRange{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}, First: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Edges) != 0 || p.HasNext || p.TotalCount == nil || *p.TotalCount != 0 {
		t.Fatalf("page = %+v", p)
	}
}

func TestGetCall(t *testing.T) {
	e := newEnv(t, "", nil)
	calls := e.Center.Calls(t0.Add(-20*time.Hour), t0.Add(-19*time.Hour))
	if len(calls) == 0 {
		t.Skip("no calls at night")
	}
	want := calls[len(calls)/2]
	got, err := e.drv.GetCall(context.Background(), want.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.VendorID != want.UUID || !got.StartedAt.Equal(want.StartedAt) {
		t.Fatalf("GetCall = %+v", got)
	}
	e.sim.ResetRequests()
	again, err := e.drv.GetCall(context.Background(), want.UUID)
	if err != nil || again == nil {
		t.Fatalf("second GetCall = %v, %v", again, err)
	}
	if n := len(e.sim.Requests()); n > 2 {
		t.Errorf("a remembered call took %d requests", n)
	}
	none, err := e.drv.GetCall(context.Background(), "00000000-0000-4000-8000-000000000000")
	if err != nil || none != nil {
		t.Fatalf("unknown call = %v, %v", none, err)
	}
}

func TestLoadLegsAndSegments(t *testing.T) {
	e := newEnv(t, "", nil)
	r := upstreams.TimeRange{From: t0.Add(-3 * time.Hour), To: t0.Add(-2 * time.Hour)}
	calls := e.Center.Calls(r.From, r.To)
	listAll(t, e.drv, r, 100)
	var ids []string
	for _, c := range calls {
		ids = append(ids, c.UUID)
	}
	e.sim.ResetRequests()
	legs, err := e.drv.LoadCallLegs(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := e.drv.LoadQueueSegments(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.Requests()); n > 8 {
		t.Errorf("loading %d calls' legs and segments took %d requests", len(ids), n)
	}
	for _, c := range calls {
		ls, ok := legs[c.UUID]
		if !ok || len(ls) != len(c.Legs) {
			t.Fatalf("call %s: %d legs, center %d", c.UUID, len(ls), len(c.Legs))
		}
		for i, l := range c.Legs {
			if *ls[i].Agent.VendorID != e.sim.AgentID(l.AgentID) || *ls[i].Answered != l.Answered {
				t.Errorf("call %s leg %d: agent %s answered %v, want %s %v", c.UUID, i, *ls[i].Agent.VendorID, *ls[i].Answered, e.sim.AgentID(l.AgentID), l.Answered)
			}
		}
		ss := segs[c.UUID]
		if len(ss) != len(c.Segments) {
			t.Fatalf("call %s: %d segments, center %d", c.UUID, len(ss), len(c.Segments))
		}
		for i, s := range c.Segments {
			g := ss[i]
			if *g.Queue.VendorID != e.sim.QueueID(s.QueueID) || *g.Answered != s.Answered || (g.Abandoned != nil && *g.Abandoned != s.Abandoned) ||
				!g.EnteredAt.Equal(s.EnteredAt) || (g.LeftAt == nil) != s.LeftAt.IsZero() || (g.LeftAt != nil && !g.LeftAt.Equal(s.LeftAt)) {
				t.Errorf("call %s segment %d differs: %+v vs %+v", c.UUID, i, g, s)
			}
		}
	}
}

func TestQueuesMatchCenter(t *testing.T) {
	e := newEnv(t, "", nil)
	day := t0.Truncate(24 * time.Hour)
	r := upstreams.TimeRange{From: day, To: t0}
	qs, err := e.drv.ListQueues(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != len(e.Center.Queues()) {
		t.Fatalf("%d queues, center has %d", len(qs), len(e.Center.Queues()))
	}
	for i, q := range e.Center.Queues() {
		compareStats(t, qs[i].Stats, e.Center.QueueStats(q.ID, r.From, r.To))
	}
}

func compareStats(t *testing.T, got *model.QueueStats, want simcc.QueueStats) {
	t.Helper()
	if d := statsDiff(got, want); d != "" {
		t.Errorf("queue %s: %s", want.QueueID, d)
	}
}

func statsDiff(got *model.QueueStats, want simcc.QueueStats) string {
	if got == nil {
		return "no stats"
	}
	for name, p := range map[string][2]int{
		"offered": {*got.Offered, want.Offered}, "answered": {*got.Answered, want.Answered}, "abandoned": {*got.Abandoned, want.Abandoned},
		"shortAbandoned": {*got.ShortAbandoned, want.ShortAbandoned}, "answeredWithinSla": {*got.AnsweredWithinSLA, want.AnsweredWithinSLA},
		"callsWaiting": {*got.CallsWaiting, want.CallsWaiting}, "callbacks": {*got.Callbacks, want.Callbacks},
	} {
		if p[0] != p[1] {
			return name + " differs"
		}
	}
	return ""
}

func TestCallVolume(t *testing.T) {
	e := newEnv(t, "", nil)
	r := upstreams.TimeRange{From: t0.Add(-4 * time.Hour).Truncate(time.Hour), To: t0.Truncate(time.Hour)}
	pts, err := e.drv.CallVolume(context.Background(), upstreams.TimeseriesQuery{Range: r, Interval: model.IntervalHour})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 4 {
		t.Fatalf("%d points", len(pts))
	}
	for _, p := range pts {
		in, out := 0, 0
		for _, c := range e.Center.Calls(p.From, p.To) {
			switch c.Direction {
			case simcc.DirectionInbound:
				in++
			case simcc.DirectionOutbound:
				out++
			}
		}
		if *p.Inbound != in || *p.Outbound != out {
			t.Errorf("%s: inbound %d outbound %d, center %d %d", p.From, *p.Inbound, *p.Outbound, in, out)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	e := newEnv(t, "wrong-token", nil)
	_, err := e.drv.ListCalls(context.Background(), upstreams.CallQuery{Range: upstreams.TimeRange{From: t0.Add(-time.Hour), To: t0}, First: 10})
	if !errors.Is(err, upstreams.ErrUnauthorized) {
		t.Fatalf("ListCalls error = %v, want unauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Fatal("error leaks the token")
	}
	if e.drv.Health().Status != model.HealthStatusDown {
		t.Errorf("health = %s", e.drv.Health().Status)
	}
	err = e.drv.Stream(context.Background(), upstreams.TopicCalls, &upstreamstest.Sink{})
	if !errors.Is(err, upstreams.ErrUnauthorized) {
		t.Fatalf("Stream error = %v, want unauthorized", err)
	}
}

func TestUpstream5xx(t *testing.T) {
	e := newEnv(t, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/graphql" {
				http.Error(w, "maintenance", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	_, err := e.drv.ListCalls(context.Background(), upstreams.CallQuery{Range: upstreams.TimeRange{From: t0.Add(-time.Hour), To: t0}, First: 10})
	if !errors.Is(err, upstreams.ErrUnavailable) {
		t.Fatalf("error = %v, want unavailable", err)
	}
}

func TestGraphQLErrorIsSourceError(t *testing.T) {
	e := newEnv(t, "", nil)
	// A cursor of ours wrapping a vendor cursor the API refuses.
	_, err := e.drv.ListCalls(context.Background(), upstreams.CallQuery{Range: upstreams.TimeRange{From: t0.Add(-time.Hour), To: t0}, First: 10, After: "eyJhIjoibm9wZSJ9"})
	var ue *upstreams.Error
	if !errors.As(err, &ue) || !errors.Is(err, upstreams.ErrUpstreamStatus) || !strings.Contains(ue.Detail, "cursor") {
		t.Fatalf("error = %v", err)
	}
}

// stream runs Stream in the background until the test ends and waits for it to be live.
func stream(t *testing.T, d *telavox.Driver, topic upstreams.Topic) *upstreamstest.Sink {
	t.Helper()
	s := &upstreamstest.Sink{}
	run := upstreamstest.StartStream(t, d, topic, s)
	t.Cleanup(func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Stream returned %v after cancel", err)
		}
	})
	s.WaitHealth(t, model.HealthStatusLive)
	return s
}

func advance(e *env, d time.Duration) {
	for range int(d / (10 * time.Second)) {
		e.Clock.Advance(10 * time.Second)
		e.Center.Sync()
	}
}

func TestStreamCalls(t *testing.T) {
	e := newEnv(t, "", nil)
	s := stream(t, e.drv, upstreams.TopicCalls)
	// Step until a call starts, see it in progress, then step until it ends.
	var c simcc.Call
	for c.UUID == "" {
		advance(e, 10*time.Second)
		for _, a := range e.Center.ActiveCalls() {
			if a.StartedAt.After(t0) {
				c = a
				break
			}
		}
	}
	upstreamstest.Eventually(t, "the call in progress", func() bool {
		v, _ := s.Get(c.UUID).(*model.Call)
		return v != nil && v.Outcome == model.OutcomeInProgress
	})
	for {
		got, _ := e.Center.Call(c.ID)
		if !got.EndedAt.IsZero() {
			c = got
			break
		}
		advance(e, 10*time.Second)
	}
	upstreamstest.Eventually(t, "the call's removal", func() bool { return slices.Contains(s.Keys(upstreamstest.OpRemove), c.UUID) })
	// final is each call's last upsert.
	final := map[string]*model.Call{}
	for _, ev := range s.Changes() {
		if ev.Op == upstreamstest.OpUpsert {
			final[ev.Key] = ev.Value.(*model.Call)
		}
	}
	last := final[c.UUID]
	if last.EndedAt == nil || !last.EndedAt.Equal(c.EndedAt) || last.Outcome == model.OutcomeInProgress {
		t.Errorf("last upsert: ended %v outcome %s, want the ended call", last.EndedAt, last.Outcome)
	}
	// Every call the stream saw end maps as the historic API's record of it does.
	for _, id := range s.Keys(upstreamstest.OpRemove) {
		live := final[id]
		hist, err := e.drv.GetCall(context.Background(), id)
		if err != nil || hist == nil {
			t.Fatalf("GetCall(%s) = %v, %v", id, hist, err)
		}
		if d := cmp.Diff(hist, live, cmpopts.IgnoreFields(model.Call{}, "Raw")); d != "" && !(live.Outcome == model.OutcomeVoicemail && len(live.Queues) == 0) {
			t.Errorf("call %s: historic and live differ (-historic +live):\n%s", id, d)
		}
	}
}

func TestStreamAgents(t *testing.T) {
	e := newEnv(t, "", nil)
	s := stream(t, e.drv, upstreams.TopicAgents)
	if n := len(s.State()); n != len(e.Center.Agents()) {
		t.Errorf("snapshot has %d agents, center %d", n, len(e.Center.Agents()))
	}
	advance(e, 5*time.Minute)
	var busy []simcc.AgentStatus
	for _, st := range e.Center.AgentStatuses() {
		if st.State == simcc.StateOnCall || st.State == simcc.StateOnHold {
			busy = append(busy, st)
		}
	}
	if len(busy) == 0 {
		t.Fatal("nobody on a call")
	}
	for _, st := range busy {
		id := e.sim.AgentID(st.AgentID)
		upstreamstest.Eventually(t, "agent "+id+" on call", func() bool {
			a, _ := s.Get(id).(*model.Agent)
			return a != nil && a.State == model.AgentStateOnCall && a.CurrentCallID != nil
		})
	}
}

func TestStreamQueues(t *testing.T) {
	e := newEnv(t, "", nil)
	s := stream(t, e.drv, upstreams.TopicQueues)
	advance(e, 5*time.Minute)
	day := t0.Truncate(24 * time.Hour)
	for _, q := range e.Center.Queues() {
		want := e.Center.QueueStats(q.ID, day, day.Add(24*time.Hour))
		upstreamstest.Eventually(t, "queue "+q.ID+" stats", func() bool {
			v, _ := s.Get(e.sim.QueueID(q.ID)).(*model.Queue)
			return v != nil && statsDiff(v.Stats, want) == ""
		})
	}
}

// TestStreamMalformed feeds the driver broken documents between good ones.
func TestStreamMalformed(t *testing.T) {
	good, err := os.ReadFile("testdata/pair-call-answered/live.json")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	e := newEnv(t, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/calls" {
				h.ServeHTTP(w, r)
				return
			}
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			<-release
			for _, m := range []string{`{"id_call":"x","time":{"start":"soon"}}`, `not json`, `{"active":1}`, string(good)} {
				if c.Write(r.Context(), websocket.MessageText, []byte(m)) != nil {
					return
				}
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	})
	s := &upstreamstest.Sink{}
	run := upstreamstest.StartStream(t, e.drv, upstreams.TopicCalls, s)
	s.WaitHealth(t, model.HealthStatusLive)
	close(release)
	if err := run.Wait(); !errors.Is(err, upstreams.ErrUnavailable) {
		t.Errorf("Stream returned %v, want unavailable after the server closed", err)
	}
	if ups := s.Keys(upstreamstest.OpUpsert); !slices.Equal(ups, []string{"0b7e6f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"}) {
		t.Errorf("upserts = %v, want only the good document", ups)
	}
	if !slices.Contains(s.Healths(), model.HealthStatusDegraded) {
		t.Errorf("health went %v, want DEGRADED after three bad documents", s.Healths())
	}
}

func TestConformance(t *testing.T) {
	upstreamstest.Run(t, upstreamstest.Harness{
		New: func(t *testing.T, bad bool) upstreamstest.Env {
			token := ""
			if bad {
				token = upstreamstest.WrongSecret
			}
			return newEnv(t, token, nil).Env
		},
		CallIDs: func(c *simcc.Center, r upstreams.TimeRange) []string {
			var ids []string
			for _, call := range c.Calls(r.From, r.To) {
				ids = append(ids, call.UUID)
			}
			return ids
		},
	})
}
