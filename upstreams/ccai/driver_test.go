package ccai_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/ccai"
	"github.com/switchboard-cc/switchboard/upstreams/ccai/sim"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A Wednesday afternoon, so the center is busy.
var t0 = time.Date(2025, 3, 12, 14, 30, 0, 0, time.UTC)

type env struct {
	upstreamstest.Env
	sim    *sim.Server
	driver *ccai.Driver
}

type envOpts struct {
	sim     sim.Config
	options map[string]any
	secret  string
	wrap    func(http.Handler) http.Handler
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	clock := simcc.NewManualClock(t0)
	center := simcc.New(simcc.Config{Name: "Test Center", Seed: 11, Clock: clock, HistoryDays: 1})
	t.Cleanup(center.Close)
	if o.sim.Key == "" {
		o.sim.Key, o.sim.Secret = "k", "s"
	}
	if o.sim.RatePerSec == 0 {
		o.sim.RatePerSec = 1e6
	}
	srv := sim.New(center, o.sim)
	t.Cleanup(srv.Close)
	var h http.Handler = srv
	if o.wrap != nil {
		h = o.wrap(srv)
	}
	hs := upstreamstest.NewServer(t, h)
	if o.options == nil {
		o.options = map[string]any{}
	}
	if _, ok := o.options["ratePerSec"]; !ok {
		o.options["ratePerSec"] = 10000
	}
	secret := "s"
	if o.secret != "" {
		secret = o.secret
	}
	spec := upstreams.SourceSpec{
		Tenant: "acme", ID: "cc1", Vendor: ccai.Vendor, Name: "CCAI", URL: hs.URL, Options: o.options,
		Secret: func(name string) (string, error) {
			switch name {
			case "key":
				return "k", nil
			case "secret":
				return secret, nil
			}
			return "", fmt.Errorf("no secret %q", name)
		},
	}
	d, err := ccai.New(context.Background(), spec, upstreams.Deps{Now: clock.Now, HTTPClient: hs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: upstreamstest.Env{Driver: d, Center: center, Clock: clock, Server: hs}, sim: srv, driver: d.(*ccai.Driver)}
}

// truth is the center's calls of r as the CCAI endpoint has them (no internal calls).
func (e *env) truth(r upstreams.TimeRange) []simcc.Call {
	var out []simcc.Call
	for _, c := range e.Center.Calls(r.From, r.To) {
		if c.Direction != simcc.DirectionInternal {
			out = append(out, c)
		}
	}
	return out
}

// wantOutcome is the schema's outcome of a simcc call: an outbound call nobody answered is
// FAILED in the schema, MISSED in simcc.
func wantOutcome(c simcc.Call) model.Outcome {
	if c.Outcome == simcc.OutcomeMissed && c.Direction == simcc.DirectionOutbound {
		return model.OutcomeFailed
	}
	return model.Outcome(c.Outcome)
}

func listAll(t *testing.T, d *ccai.Driver, q upstreams.CallQuery) ([]*model.Call, *int, int) {
	t.Helper()
	var out []*model.Call
	var total *int
	pages := 0
	for {
		p, err := d.ListCalls(context.Background(), q)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if pages == 0 {
			total = p.TotalCount
		}
		pages++
		for _, e := range p.Edges {
			out = append(out, e.Call)
		}
		if !p.HasNext {
			return out, total, pages
		}
		if len(p.Edges) == 0 {
			t.Fatal("HasNext with an empty page")
		}
		q.After = p.Edges[len(p.Edges)-1].Cursor
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
	}
}

func checkCall(t *testing.T, got *model.Call, want simcc.Call) {
	t.Helper()
	id := sim.CallID(want.Seq)
	if got.VendorID != id {
		t.Fatalf("call %s: got vendor id %s", id, got.VendorID)
	}
	if got.Direction != model.Direction(want.Direction) || got.Outcome != wantOutcome(want) {
		t.Errorf("call %s: direction/outcome %s/%s, want %s/%s (%s)", id, got.Direction, got.Outcome, want.Direction, wantOutcome(want), want.EndReason)
	}
	if !got.StartedAt.Equal(want.StartedAt) || !eqTime(got.AnsweredAt, want.AnsweredAt) || !eqTime(got.EndedAt, want.EndedAt) {
		t.Errorf("call %s: times %v %v %v, want %v %v %v", id, got.StartedAt, got.AnsweredAt, got.EndedAt, want.StartedAt, want.AnsweredAt, want.EndedAt)
	}
	if got.Customer == nil || got.Customer.Number == nil || *got.Customer.Number != want.Customer {
		t.Errorf("call %s: customer %+v, want %s", id, got.Customer, want.Customer)
	}
	if !got.LegsLoaded || len(got.Legs) != len(want.Legs) {
		t.Fatalf("call %s: %d legs (loaded %v), want %d", id, len(got.Legs), got.LegsLoaded, len(want.Legs))
	}
	for i, l := range want.Legs {
		g := got.Legs[i]
		if g.Agent == nil || *g.Agent.VendorID != sim.AgentID(l.AgentID) || deref(g.Answered) != l.Answered {
			t.Errorf("call %s leg %d: agent %v answered %v, want %s %v", id, i, deref(deref(g.Agent).VendorID), deref(g.Answered), l.AgentID, l.Answered)
			continue
		}
		if l.Answered && !l.EndedAt.IsZero() {
			if gt := []int{deref(g.TalkSeconds), deref(g.HoldSeconds), deref(g.WrapUpSeconds), deref(g.RingSeconds)}; !slices.Equal(gt, []int{l.TalkSeconds, l.HoldSeconds, l.WrapUpSeconds, l.RingSeconds}) {
				t.Errorf("call %s leg %d: talk/hold/wrap/ring %v, want %d/%d/%d/%d", id, i, gt, l.TalkSeconds, l.HoldSeconds, l.WrapUpSeconds, l.RingSeconds)
			}
			if !eqTime(g.OfferedAt, l.OfferedAt) || deref(g.TransferredOut) != l.TransferredOut {
				t.Errorf("call %s leg %d: offered %v out %v, want %v %v", id, i, g.OfferedAt, g.TransferredOut, l.OfferedAt, l.TransferredOut)
			}
		}
	}
	var closed []simcc.QueueSegment
	for _, s := range want.Segments {
		if !s.LeftAt.IsZero() || want.EndedAt.IsZero() {
			closed = append(closed, s)
		}
	}
	if len(got.QueueSegments) != len(closed) {
		t.Fatalf("call %s: %d segments, want %d", id, len(got.QueueSegments), len(closed))
	}
	for i, s := range closed {
		g := got.QueueSegments[i]
		if g.Queue == nil || deref(g.Queue.VendorID) != sim.QueueMenuID(s.QueueID) || !eqTime(g.EnteredAt, s.EnteredAt) || !eqTime(g.LeftAt, s.LeftAt) {
			t.Errorf("call %s segment %d: %+v %v %v, want %s %v %v", id, i, g.Queue, g.EnteredAt, g.LeftAt, s.QueueID, s.EnteredAt, s.LeftAt)
			continue
		}
		if !s.LeftAt.IsZero() && (deref(g.Answered) != s.Answered || deref(g.Abandoned) != s.Abandoned) {
			t.Errorf("call %s segment %d: answered/abandoned %v/%v, want %v/%v", id, i, g.Answered, g.Abandoned, s.Answered, s.Abandoned)
		}
	}
	if want.EndedAt.IsZero() {
		return
	}
	if got.Durations.HoldSeconds == nil || *got.Durations.HoldSeconds != want.HoldSeconds ||
		got.Durations.WrapUpSeconds == nil || *got.Durations.WrapUpSeconds != want.WrapUpSeconds {
		t.Errorf("call %s: hold/wrap %v/%v, want %d/%d", id, got.Durations.HoldSeconds, got.Durations.WrapUpSeconds, want.HoldSeconds, want.WrapUpSeconds)
	}
	if deref(got.Recorded) != want.Recorded || deref(got.Transfers) != want.Transfers {
		t.Errorf("call %s: recorded %v transfers %v, want %v %d", id, got.Recorded, got.Transfers, want.Recorded, want.Transfers)
	}
}

func eqTime(p *time.Time, t time.Time) bool {
	if p == nil {
		return t.IsZero()
	}
	return p.Equal(t)
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

func TestPagingToTheEndEqualsGroundTruth(t *testing.T) {
	e := newEnv(t, envOpts{options: map[string]any{"perPage": 20}})
	r := upstreams.TimeRange{From: t0.Add(-3 * time.Hour), To: t0}
	got, total, pages := listAll(t, e.driver, upstreams.CallQuery{Range: r, First: 7})
	want := e.truth(r)
	if len(want) < 100 {
		t.Fatalf("center too quiet for the test: %d calls", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("got %d calls in %d pages, want %d", len(got), pages, len(want))
	}
	for i := range want {
		checkCall(t, got[i], want[i])
	}
	if total == nil || *total != len(want) {
		t.Errorf("totalCount %v, want %d", total, len(want))
	}
}

func TestListCallsPastRangeAndFilters(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := upstreams.TimeRange{From: t0.Add(-26 * time.Hour), To: t0.Add(-20 * time.Hour)}
	got, total, _ := listAll(t, e.driver, upstreams.CallQuery{Range: r, First: 100})
	want := e.truth(r)
	if len(got) != len(want) {
		t.Fatalf("got %d calls, want %d", len(got), len(want))
	}
	if total != nil && *total != len(want) {
		t.Errorf("totalCount %d, want %d or unknown", *total, len(want))
	}

	out := model.DirectionOutbound
	q := upstreams.CallQuery{Range: r, First: 50, Direction: &out, Outcomes: []model.Outcome{model.OutcomeAnswered}}
	got, total, _ = listAll(t, e.driver, q)
	var n int
	for _, c := range want {
		if c.Direction == simcc.DirectionOutbound && c.Outcome == simcc.OutcomeAnswered {
			if n >= len(got) || got[n].VendorID != sim.CallID(c.Seq) {
				t.Fatalf("filtered call %d: want %s", n, sim.CallID(c.Seq))
			}
			n++
		}
	}
	if n != len(got) || n == 0 || total == nil || *total != n {
		t.Errorf("filtered: got %d calls (total %v), want %d", len(got), total, n)
	}
	internal := model.DirectionInternal
	p, err := e.driver.ListCalls(context.Background(), upstreams.CallQuery{Range: r, First: 5, Direction: &internal})
	if err != nil || len(p.Edges) != 0 || p.HasNext {
		t.Errorf("internal calls: %v %+v", err, p)
	}
}

func TestGetCall(t *testing.T) {
	e := newEnv(t, envOpts{})
	want := e.truth(upstreams.TimeRange{From: t0.Add(-time.Hour), To: t0})[5]
	got, err := e.driver.GetCall(context.Background(), sim.CallID(want.Seq))
	if err != nil || got == nil {
		t.Fatalf("GetCall: %v %v", got, err)
	}
	checkCall(t, got, want)
	if got, err := e.driver.GetCall(context.Background(), "99999999"); got != nil || err != nil {
		t.Errorf("unknown call: %v %v", got, err)
	}
	if _, err := e.driver.GetCall(context.Background(), " "); !errors.Is(err, upstreams.ErrBadArgument) {
		t.Errorf("empty id: %v", err)
	}
}

// A page of 50 calls with legs costs at most 2 upstream requests; loading the legs or
// segments of 50 calls by id is one request.
func TestPageWithLegsCostsAtMostTwoRequests(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := upstreams.TimeRange{From: t0.Add(-24 * time.Hour), To: t0}
	e.sim.ResetRequests()
	p, err := e.driver.ListCalls(context.Background(), upstreams.CallQuery{Range: r, First: 50})
	if err != nil || len(p.Edges) != 50 {
		t.Fatalf("ListCalls: %v, %d edges", err, len(p.Edges))
	}
	var ids []string
	for _, edge := range p.Edges {
		if !edge.Call.LegsLoaded || !edge.Call.SegmentsLoaded {
			t.Fatalf("call %s came without legs", edge.Call.VendorID)
		}
		ids = append(ids, edge.Call.VendorID)
	}
	if n := len(e.sim.Requests()); n > 2 {
		t.Errorf("page of 50 with legs cost %d requests", n)
	}
	e.sim.ResetRequests()
	legs, err := e.driver.LoadCallLegs(context.Background(), append(ids, "99999999"))
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.sim.Requests()
	if len(reqs) != 1 || len(reqs[0].Query["id[]"]) != 51 {
		t.Fatalf("legs of 50 calls: %d requests", len(reqs))
	}
	if len(legs) != 50 {
		t.Errorf("legs for %d calls, want 50 (unknown ids absent)", len(legs))
	}
	for _, edge := range p.Edges {
		if len(legs[edge.Call.VendorID]) != len(edge.Call.Legs) {
			t.Errorf("call %s: loader gives %d legs, list %d", edge.Call.VendorID, len(legs[edge.Call.VendorID]), len(edge.Call.Legs))
		}
	}
	e.sim.ResetRequests()
	many := make([]string, 0, 150)
	for i := range 150 {
		many = append(many, fmt.Sprint(i+1))
	}
	segs, err := e.driver.LoadQueueSegments(context.Background(), many)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments: %v", err)
	}
	if n := len(e.sim.Requests()); n != 2 {
		t.Errorf("150 ids cost %d requests, want 2 batches", n)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, envOpts{sim: sim.Config{RatePerSec: 2, Burst: 1}})
	for i := range 3 {
		if _, err := e.driver.GetCall(context.Background(), fmt.Sprint(i+1)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	reqs := e.sim.Requests()
	var limited int
	for i, r := range reqs {
		if r.Status == http.StatusTooManyRequests {
			limited++
			if i+1 >= len(reqs) || reqs[i+1].Status != http.StatusOK {
				t.Errorf("request after a 429 came before Retry-After: %+v", reqs)
			}
		}
	}
	if limited == 0 {
		t.Errorf("the simulator never limited: %+v", reqs)
	}
}

func TestRateLimitStorm(t *testing.T) {
	storm := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":"Too Many Requests","message":"Slow down","status":429}`)
		})
	}
	e := newEnv(t, envOpts{wrap: storm, options: map[string]any{"retries": 1}})
	_, err := e.driver.GetCall(context.Background(), "1")
	if !errors.Is(err, upstreams.ErrRateLimited) || !strings.Contains(err.Error(), "cc1") || !strings.Contains(err.Error(), "Slow down") {
		t.Fatalf("storm: %v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	e := newEnv(t, envOpts{secret: "wrong-secret"})
	_, err := e.driver.ListCalls(context.Background(), upstreams.CallQuery{Range: upstreams.TimeRange{From: t0.Add(-time.Hour), To: t0}, First: 10})
	if !errors.Is(err, upstreams.ErrUnauthorized) {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "cc1") || !strings.Contains(msg, "Invalid company key or secret") || strings.Contains(msg, "wrong-secret") {
		t.Errorf("error %q should name the source and the vendor's message, not the secret", msg)
	}
	if h := e.driver.Health(); h.Status != model.HealthStatusDown {
		t.Errorf("health %s after bad credentials", h.Status)
	}
	if n := len(e.sim.Requests()); n != 1 {
		t.Errorf("401 retried: %d requests", n)
	}
}

func TestServerErrorMidPaging(t *testing.T) {
	e := newEnv(t, envOpts{options: map[string]any{"perPage": 50, "retries": 1}})
	e.Server.Rewrite(func(r *http.Request, rec *httptest.ResponseRecorder) {
		if r.URL.Query().Get("page") == "3" {
			rec.Code = http.StatusBadGateway
			rec.Body.Reset()
			rec.Body.WriteString(`{"error":"Bad Gateway","message":"upstream timeout","status":502}`)
		}
	})
	_, err := e.driver.ListQueues(context.Background(), upstreams.TimeRange{From: t0.Add(-6 * time.Hour), To: t0})
	if !errors.Is(err, upstreams.ErrUnavailable) || !strings.Contains(err.Error(), "upstream timeout") {
		t.Fatalf("got %v", err)
	}
	if h := e.driver.Health(); h.Status != model.HealthStatusDown {
		t.Errorf("health %s", h.Status)
	}
}

func TestLinkLoopAndMalformedLink(t *testing.T) {
	for name, link := range map[string]string{
		"loop":      `<%s?page=1&per=20>; rel="next"`,
		"self":      `<%s?page=2&per=20>; rel="next"`,
		"malformed": `%s?page=2; rel="next"`,
		"foreign":   `<http://evil.example/manager/api/v1/calls?page=2>; rel="next"`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpts{options: map[string]any{"perPage": 20}})
			e.Server.Rewrite(func(r *http.Request, rec *httptest.ResponseRecorder) {
				v := link
				if strings.Contains(v, "%s") {
					v = fmt.Sprintf(v, "http://"+r.Host+r.URL.Path)
				}
				if r.URL.Query().Get("page") == "2" || name == "malformed" || name == "foreign" {
					rec.Header().Set("Link", v)
				}
			})
			_, err := e.driver.CallVolume(context.Background(), upstreams.TimeseriesQuery{
				Range: upstreams.TimeRange{From: t0.Add(-6 * time.Hour), To: t0}, Interval: model.IntervalHour})
			var ue *upstreams.Error
			if !errors.As(err, &ue) || ue.Field != "Link" || !errors.Is(err, upstreams.ErrBadResponse) {
				t.Fatalf("got %v", err)
			}
			if n := len(e.sim.Requests()); n > 3 {
				t.Errorf("%d requests before giving up", n)
			}
		})
	}
}

func TestMalformedDocument(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.Server.Rewrite(breakQueueID)
	_, err := e.driver.ListCalls(context.Background(), upstreams.CallQuery{Range: upstreams.TimeRange{From: t0.Add(-time.Hour), To: t0}, First: 100})
	var ue *upstreams.Error
	if !errors.As(err, &ue) || !strings.Contains(ue.Field, "queue_durations[0].id") || ue.Source != "cc1" {
		t.Fatalf("got %v", err)
	}
}

// breakQueueID makes the first queue segment's id an object.
func breakQueueID(_ *http.Request, rec *httptest.ResponseRecorder) {
	b := strings.Replace(rec.Body.String(), `"queue_durations":[{"id":`, `"queue_durations":[{"id":{"x":1},"was":`, 1)
	rec.Body.Reset()
	rec.Body.WriteString(b)
}

func TestQueuesAndVolumeFromHistory(t *testing.T) {
	e := newEnv(t, envOpts{})
	day := t0.Truncate(24 * time.Hour)
	r := upstreams.TimeRange{From: day, To: t0}
	qs, err := e.driver.ListQueues(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != len(e.Center.Queues()) {
		t.Fatalf("%d queues, want %d", len(qs), len(e.Center.Queues()))
	}
	for i, sq := range e.Center.Queues() {
		checkQueue(t, qs[i], e.Center.QueueStats(sq.ID, r.From, r.To), sq)
	}
	pts, err := e.driver.CallVolume(context.Background(), upstreams.TimeseriesQuery{Range: r, Interval: model.IntervalHour})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pts {
		var in, out, ans int
		for _, c := range e.truth(upstreams.TimeRange{From: p.From, To: p.To}) {
			switch c.Direction {
			case simcc.DirectionInbound:
				in++
				if c.Outcome == simcc.OutcomeAnswered {
					ans++
				}
			case simcc.DirectionOutbound:
				out++
			}
		}
		if *p.Inbound != in || *p.Outbound != out || *p.Answered != ans {
			t.Errorf("%v: in/out/answered %d/%d/%d, want %d/%d/%d", p.From, *p.Inbound, *p.Outbound, *p.Answered, in, out, ans)
		}
	}
}

func checkQueue(t *testing.T, q *model.Queue, want simcc.QueueStats, sq simcc.Queue) {
	t.Helper()
	s := q.Stats
	if q.VendorID != sim.QueueMenuID(sq.ID) || q.Name != sq.Name || deref(q.SLASeconds) != sq.SLASeconds {
		t.Errorf("queue %s: %s %q sla %v", sq.ID, q.VendorID, q.Name, q.SLASeconds)
	}
	got := []int{*s.Offered, *s.Answered, *s.Abandoned, *s.ShortAbandoned, *s.AnsweredWithinSLA, *s.CallsWaiting, *s.LongestWaitSeconds}
	exp := []int{want.Offered, want.Answered, want.Abandoned, want.ShortAbandoned, want.AnsweredWithinSLA, want.CallsWaiting, want.LongestWaitSeconds}
	if !slices.Equal(got, exp) {
		t.Errorf("queue %s offered/answered/abandoned/short/withinSLA/waiting/longest = %v, want %v", sq.ID, got, exp)
	}
	if (s.ServiceLevel == nil) != (want.ServiceLevel == nil) || (s.ServiceLevel != nil && fmt.Sprintf("%.6f", *s.ServiceLevel) != fmt.Sprintf("%.6f", *want.ServiceLevel)) {
		t.Errorf("queue %s service level %v, want %v", sq.ID, s.ServiceLevel, want.ServiceLevel)
	}
}

// events renders what a calls stream sent as "upsert:<id>:<outcome>" and "remove:<id>".
func events(s *upstreamstest.Sink) []string {
	var out []string
	for _, ev := range s.Changes() {
		switch ev.Op {
		case upstreamstest.OpUpsert:
			out = append(out, "upsert:"+ev.Key+":"+string(ev.Value.(*model.Call).Outcome))
		case upstreamstest.OpRemove:
			out = append(out, "remove:"+ev.Key)
		}
	}
	return out
}

func TestLiveCallFinishingAppearsWithinOnePoll(t *testing.T) {
	e := newEnv(t, envOpts{options: map[string]any{"pollInterval": "20ms"}})
	s := &upstreamstest.Sink{}
	run := upstreamstest.StartStream(t, e.driver, upstreams.TopicCalls, s)
	upstreamstest.Eventually(t, "snapshot", func() bool { return s.Count(upstreamstest.OpReset) == 1 })
	state := s.State()
	active := e.Center.ActiveCalls()
	var external int
	for _, c := range active {
		if c.Direction != simcc.DirectionInternal {
			external++
			if _, ok := state[sim.CallID(c.Seq)]; !ok {
				t.Errorf("active call %s missing from the snapshot", sim.CallID(c.Seq))
			}
		}
	}
	if len(state) != external || external == 0 {
		t.Fatalf("snapshot has %d calls, want %d", len(state), external)
	}
	// Move the center on until one of the snapshot's calls has ended.
	var ended string
	for step := 0; step < 200 && ended == ""; step++ {
		e.Clock.Advance(10 * time.Second)
		e.Center.Sync()
		for id := range state {
			var seq int64
			fmt.Sscan(id, &seq)
			if c, ok := e.Center.Call(fmt.Sprintf("c%06d", seq)); ok && !c.EndedAt.IsZero() {
				ended = id
			}
		}
	}
	if ended == "" {
		t.Fatal("no call ended")
	}
	upstreamstest.Eventually(t, "the final upsert and remove of call "+ended, func() bool {
		evs := events(s)
		up := slices.IndexFunc(evs, func(ev string) bool {
			return strings.HasPrefix(ev, "upsert:"+ended+":") && !strings.HasSuffix(ev, ":IN_PROGRESS")
		})
		return up >= 0 && slices.Contains(evs[up:], "remove:"+ended)
	})
	if err := run.Stop(); err != nil {
		t.Errorf("stream returned %v", err)
	}
	// Every ended call was removed once: no event repeats.
	evs := events(s)
	var removes []string
	for _, ev := range evs {
		if strings.HasPrefix(ev, "remove:") {
			if slices.Contains(removes, ev) {
				t.Errorf("%s twice", ev)
			}
			removes = append(removes, ev)
		}
	}
	for _, r := range e.sim.Requests() {
		if r.Query.Get("updated_at[from]") == "" && len(r.Query["call_status[]"]) == 0 {
			t.Errorf("unbounded poll: %v", r.Query)
		}
	}
}

func TestLiveQueues(t *testing.T) {
	e := newEnv(t, envOpts{options: map[string]any{"pollInterval": "20ms"}})
	s := &upstreamstest.Sink{}
	run := upstreamstest.StartStream(t, e.driver, upstreams.TopicQueues, s)
	upstreamstest.Eventually(t, "snapshot", func() bool { return s.Count(upstreamstest.OpReset) == 1 })
	check := func() {
		state := s.State()
		day := e.Clock.Now().Truncate(24 * time.Hour)
		for _, sq := range e.Center.Queues() {
			q, ok := state[sim.QueueMenuID(sq.ID)].(*model.Queue)
			if !ok {
				t.Fatalf("queue %s missing", sq.ID)
			}
			checkQueue(t, q, e.Center.QueueStats(sq.ID, day, e.Clock.Now()), sq)
		}
	}
	check()
	e.sim.ResetRequests()
	e.Clock.Advance(2 * time.Minute)
	e.Center.Sync()
	upstreamstest.Eventually(t, "two polls after the move", func() bool { return len(e.sim.Requests()) >= 2 })
	check()
	if err := run.Stop(); err != nil {
		t.Errorf("stream returned %v", err)
	}
}

func TestStreamFailsOnBadCredentials(t *testing.T) {
	e := newEnv(t, envOpts{secret: "nope"})
	s := &upstreamstest.Sink{}
	err := e.driver.Stream(context.Background(), upstreams.TopicCalls, s)
	if !errors.Is(err, upstreams.ErrUnauthorized) {
		t.Fatalf("got %v", err)
	}
	if err := e.driver.Stream(context.Background(), upstreams.TopicAgents, s); !errors.Is(err, upstreams.ErrNotSupported) {
		t.Errorf("agents topic: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, envOpts{})
	got := upstreams.Capabilities(e.driver)
	for _, c := range []model.Capability{model.CapabilityCallHistory, model.CapabilityCallLegs, model.CapabilityQueueSegments,
		model.CapabilityQueueStats, model.CapabilityCallVolume, model.CapabilityLiveCalls, model.CapabilityLiveQueues, model.CapabilityRecordings} {
		if !slices.Contains(got, c) {
			t.Errorf("missing %s in %v", c, got)
		}
	}
	if slices.Contains(got, model.CapabilityAgents) {
		t.Error("AGENTS claimed")
	}
}

func TestOptions(t *testing.T) {
	spec := upstreams.SourceSpec{ID: "x", Vendor: ccai.Vendor, URL: "http://127.0.0.1:1", Options: map[string]any{"perPage": 500}}
	if _, err := ccai.New(context.Background(), spec, upstreams.Deps{}); err == nil {
		t.Error("perPage 500 accepted")
	}
	spec.Options = map[string]any{"pollIntervall": "1s"}
	if _, err := ccai.New(context.Background(), spec, upstreams.Deps{}); err == nil {
		t.Error("unknown option accepted")
	}
	spec.Options, spec.URL = nil, "not a url"
	if _, err := ccai.New(context.Background(), spec, upstreams.Deps{}); err == nil {
		t.Error("bad url accepted")
	}
}

func TestConformance(t *testing.T) {
	upstreamstest.Run(t, upstreamstest.Harness{
		New: func(t *testing.T, bad bool) upstreamstest.Env {
			o := envOpts{options: map[string]any{"pollInterval": "20ms"}}
			if bad {
				o.secret = upstreamstest.WrongSecret
			}
			return newEnv(t, o).Env
		},
		CallIDs: func(c *simcc.Center, r upstreams.TimeRange) []string {
			var ids []string
			for _, call := range c.Calls(r.From, r.To) {
				if call.Direction != simcc.DirectionInternal {
					ids = append(ids, sim.CallID(call.Seq))
				}
			}
			return ids
		},
		Malform: breakQueueID,
	})
}
