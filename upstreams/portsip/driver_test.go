package portsip

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/portsip/sim"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

// testNow is a Wednesday afternoon, so the center is busy; its history starts 3 days before.
var testNow = time.Date(2025, 10, 1, 15, 0, 0, 0, time.UTC)

type env struct {
	upstreamstest.Env
	d   *Driver
	srv *sim.Server
}

// newEnv starts the simulator on loopback and a driver for it; change edits the demo
// source's options and secrets, wrap the handler (nil: the simulator itself).
func newEnv(t *testing.T, change func(opts map[string]any, secrets map[string]string), wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	clk := simcc.NewManualClock(testNow)
	cc := simcc.New(simcc.Config{Name: "Acme", Seed: 11, Clock: clk, UTCOffset: -4 * time.Hour})
	srv, src := sim.NewDemo(cc)
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	t.Cleanup(func() { srv.Close(); cc.Close() })
	hs := upstreamstest.NewServer(t, h)
	src.Options["ratePerSec"] = 10000
	if change != nil {
		change(src.Options, src.Secrets)
	}
	spec := upstreams.SourceSpec{Tenant: "portsip", ID: "pbx", Vendor: Vendor, URL: hs.URL, Options: src.Options,
		Secret: func(name string) (string, error) {
			if v, ok := src.Secrets[name]; ok {
				return v, nil
			}
			return "", errors.New("no such secret")
		}}
	d, err := New(context.Background(), spec, upstreams.Deps{HTTPClient: hs.Client(), Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: upstreamstest.Env{Driver: d, Center: cc, Clock: clk, Server: hs}, d: d.(*Driver), srv: srv}
}

func (e *env) paths(prefix string) []sim.RequestRecord {
	var out []sim.RequestRecord
	for _, r := range e.srv.Requests() {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func wantKind(t *testing.T, err, kind error) *upstreams.Error {
	t.Helper()
	var ue *upstreams.Error
	if !errors.As(err, &ue) || !errors.Is(err, kind) {
		t.Fatalf("err = %v, want a source error of kind %v", err, kind)
	}
	if ue.Source != "pbx" {
		t.Errorf("error names source %q", ue.Source)
	}
	return ue
}

var approx = cmpopts.EquateApprox(0, 1e-9)

// expectedStats is the center's ground truth in canonical form (agents by state aside:
// the Data Flow summary does not report them).
func expectedStats(st simcc.QueueStats) *model.QueueStats {
	return &model.QueueStats{
		From: model.Ptr(st.From.UTC()), To: model.Ptr(st.To.UTC()),
		CallsWaiting: model.Ptr(st.CallsWaiting), LongestWaitSeconds: model.Ptr(st.LongestWaitSeconds),
		Offered: model.Ptr(st.Offered), Answered: model.Ptr(st.Answered), Abandoned: model.Ptr(st.Abandoned),
		ShortAbandoned: model.Ptr(st.ShortAbandoned), AnsweredWithinSLA: model.Ptr(st.AnsweredWithinSLA),
		ServiceLevel: st.ServiceLevel, SLASeconds: model.Ptr(st.SLASeconds),
		AverageSpeedOfAnswerSeconds: st.AverageSpeedOfAnswerSeconds, AverageWaitSeconds: st.AverageWaitSeconds,
		AverageHandleSeconds: st.AverageHandleSeconds, Callbacks: model.Ptr(st.Callbacks),
	}
}

func TestQueueStatsEqualCenter(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	for _, r := range []upstreams.TimeRange{
		{From: testNow.Truncate(24 * time.Hour), To: testNow},
		{From: e.Center.Start(), To: testNow},
	} {
		queues, err := e.d.ListQueues(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(queues) != len(e.Center.Queues()) {
			t.Fatalf("got %d queues, want %d", len(queues), len(e.Center.Queues()))
		}
		for i, q := range e.Center.Queues() {
			got := queues[i]
			if got.VendorID != sim.QueueNumber(i) || got.Name != q.Name || *got.SLASeconds != q.SLASeconds {
				t.Errorf("queue %d = %s %q sla %d", i, got.VendorID, got.Name, *got.SLASeconds)
			}
			want := expectedStats(e.Center.QueueStats(q.ID, r.From, r.To))
			if *want.Offered == 0 {
				t.Fatalf("queue %s has no calls in %v: the test proves nothing", q.ID, r)
			}
			if d := cmp.Diff(want, got.Stats, approx); d != "" {
				t.Errorf("queue %s stats differ from the center (-want +got):\n%s", q.ID, d)
			}
		}
	}
	// One request per queue, each with its SLA threshold.
	reqs := e.paths("/api/dataflow/queues/summary")
	if len(reqs) != 2*len(e.Center.Queues()) {
		t.Fatalf("%d summary requests, want one per queue and range", len(reqs))
	}
	if want := `"queues":[{"number":"8000","sla_secs":20}]`; !strings.Contains(reqs[0].Body, want) {
		t.Errorf("summary body %s lacks %s", reqs[0].Body, want)
	}
}

func TestQueueSLAFromOptions(t *testing.T) {
	e := newEnv(t, func(o map[string]any, _ map[string]string) { o["slaSeconds"] = map[string]any{"8001": 45} }, nil)
	r := upstreams.TimeRange{From: e.Center.Start(), To: testNow}
	queues, err := e.d.ListQueues(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if *queues[0].SLASeconds != defaultSLASeconds || *queues[1].SLASeconds != 45 {
		t.Errorf("SLA = %d, %d; want the default 20 and the option 45", *queues[0].SLASeconds, *queues[1].SLASeconds)
	}
	if !strings.Contains(e.paths("/api/dataflow/queues/summary")[1].Body, `"sla_secs":45`) {
		t.Error("the configured SLA was not sent")
	}
	// A different threshold changes only answered-within-SLA and the service level.
	st := e.Center.QueueStats(e.Center.Queues()[1].ID, r.From, r.To)
	got := queues[1].Stats
	if *got.Offered != st.Offered || *got.Answered != st.Answered || *got.AnsweredWithinSLA < st.AnsweredWithinSLA {
		t.Errorf("45 s stats %+v do not fit the center's 30 s stats %+v", got, st)
	}
}

func TestQueueTimeseriesSplitsIntoDays(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	q := e.Center.Queues()[0]
	r := upstreams.TimeRange{From: e.Center.Start(), To: e.Center.Start().Add(72 * time.Hour)}

	pts, err := e.d.QueueTimeseries(ctx, "8000", upstreams.TimeseriesQuery{Range: r, Interval: model.IntervalHour})
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.paths("/api/dataflow/queues/timeseries")
	if len(reqs) != 3 {
		t.Fatalf("%d timeseries requests, want 3 of 24 h", len(reqs))
	}
	for i, rq := range reqs {
		var body map[string]string
		if err := json.Unmarshal([]byte(rq.Body), &body); err != nil {
			t.Fatal(err)
		}
		from, to := r.From.Add(time.Duration(i)*24*time.Hour), r.From.Add(time.Duration(i+1)*24*time.Hour)
		want := map[string]string{"queue": "8000", "interval": "1h", "start_time": formatTime(from), "end_time": formatTime(to)}
		if d := cmp.Diff(want, body); d != "" {
			t.Errorf("request %d body (-want +got):\n%s", i, d)
		}
	}
	if len(pts) != 72 {
		t.Fatalf("%d points, want 72", len(pts))
	}
	total := 0
	for i, p := range pts {
		from := r.From.Add(time.Duration(i) * time.Hour)
		st := e.Center.QueueStats(q.ID, from, from.Add(time.Hour))
		want := &model.TimeseriesPoint{From: from, To: from.Add(time.Hour), Offered: model.Ptr(st.Offered), Answered: model.Ptr(st.Answered),
			Abandoned: model.Ptr(st.Abandoned), AverageSpeedOfAnswerSeconds: st.AverageSpeedOfAnswerSeconds, AverageHandleSeconds: st.AverageHandleSeconds}
		if d := cmp.Diff(want, p, approx); d != "" {
			t.Errorf("hour %d (-want +got):\n%s", i, d)
		}
		total += st.Offered
	}
	if total == 0 {
		t.Fatal("no calls in the range: the test proves nothing")
	}

	e.srv.ResetRequests()
	days, err := e.d.QueueTimeseries(ctx, "8000", upstreams.TimeseriesQuery{Range: r, Interval: model.IntervalDay})
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 3 || len(e.paths("/api/dataflow/queues/timeseries")) != 3 {
		t.Fatalf("DAY: %d points from %d requests, want 3 from 3", len(days), len(e.paths("/api/dataflow/queues/timeseries")))
	}
	for i, p := range days {
		st := e.Center.QueueStats(q.ID, p.From, p.To)
		if !p.From.Equal(r.From.Add(time.Duration(i)*24*time.Hour)) || *p.Offered != st.Offered || *p.Answered != st.Answered || *p.Abandoned != st.Abandoned {
			t.Errorf("day %d = %v offered %d answered %d abandoned %d; center %d %d %d", i, p.From, *p.Offered, *p.Answered, *p.Abandoned, st.Offered, st.Answered, st.Abandoned)
		}
	}
}

func TestTimeseriesBadArgumentsSendNothing(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	day := upstreams.TimeRange{From: e.Center.Start(), To: e.Center.Start().Add(24 * time.Hour)}
	for name, call := range map[string]func() error{
		"half hour": func() error {
			_, err := e.d.QueueTimeseries(ctx, "8000", upstreams.TimeseriesQuery{Range: day, Interval: model.IntervalHalfHour})
			return err
		},
		"too long": func() error {
			_, err := e.d.QueueTimeseries(ctx, "8000", upstreams.TimeseriesQuery{Range: upstreams.TimeRange{From: day.From, To: day.From.AddDate(0, 4, 0)}, Interval: model.IntervalDay})
			return err
		},
		"reversed": func() error {
			_, err := e.d.QueueTimeseries(ctx, "8000", upstreams.TimeseriesQuery{Range: upstreams.TimeRange{From: day.To, To: day.From}, Interval: model.IntervalHour})
			return err
		},
		"agent half hour": func() error {
			_, err := e.d.QueueAgentTimeseries(ctx, "8000", "1001", upstreams.TimeseriesQuery{Range: day, Interval: model.IntervalHalfHour})
			return err
		},
		"volume half hour": func() error {
			_, err := e.d.CallVolume(ctx, upstreams.TimeseriesQuery{Range: day, Interval: model.IntervalHalfHour})
			return err
		},
		"volume over a year": func() error {
			_, err := e.d.CallVolume(ctx, upstreams.TimeseriesQuery{Range: upstreams.TimeRange{From: day.From, To: day.From.AddDate(1, 0, 2)}, Interval: model.IntervalMonth})
			return err
		},
		"volume hourly for two months": func() error {
			_, err := e.d.CallVolume(ctx, upstreams.TimeseriesQuery{Range: upstreams.TimeRange{From: day.From, To: day.From.AddDate(0, 2, 0)}, Interval: model.IntervalHour})
			return err
		},
		"calls over a year": func() error {
			_, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: upstreams.TimeRange{From: day.From, To: day.From.AddDate(1, 0, 1)}})
			return err
		},
		"bad cursor": func() error {
			_, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: day, After: "not-a-cursor"})
			return err
		},
	} {
		ue := wantKind(t, call(), upstreams.ErrBadArgument)
		if !strings.Contains(ue.Detail, "interval") && !strings.Contains(ue.Detail, "range") && !strings.Contains(ue.Detail, "after") {
			t.Errorf("%s: detail %q names no argument", name, ue.Detail)
		}
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for arguments the API cannot serve", n)
	}
}

func TestAgentQueueFigures(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	a := e.Center.Agents()[0]
	qi := slices.IndexFunc(e.Center.Queues(), func(q simcc.Queue) bool { return q.ID == a.QueueIDs[0] })
	r := upstreams.TimeRange{From: e.Center.Start(), To: e.Center.Start().Add(48 * time.Hour)}
	sum, err := e.d.QueueAgentStats(ctx, sim.QueueNumber(qi), a.Extension, r)
	if err != nil {
		t.Fatal(err)
	}
	offered, answered := 0, 0
	for _, c := range e.Center.Calls(r.From.Add(-4*time.Hour), r.To) {
		for _, l := range c.Legs {
			if l.AgentID == a.ID && l.QueueID == a.QueueIDs[0] && !l.OfferedAt.Before(r.From) && l.OfferedAt.Before(r.To) {
				offered++
				if l.Answered {
					answered++
				}
			}
		}
	}
	if offered == 0 || *sum.Offered != offered || *sum.Answered != answered {
		t.Errorf("agent summary offered %v answered %v, center %d %d", *sum.Offered, *sum.Answered, offered, answered)
	}
	if n := len(e.paths("/api/dataflow/queues/agent/summary")); n != 2 {
		t.Errorf("%d agent summary requests for 48 h, want 2", n)
	}
	pts, err := e.d.QueueAgentTimeseries(ctx, sim.QueueNumber(qi), a.Extension, upstreams.TimeseriesQuery{Range: r, Interval: model.IntervalDay})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || *pts[0].Offered+*pts[1].Offered != offered {
		t.Errorf("agent timeseries %d points, offered sum differs from %d", len(pts), offered)
	}
}

func sessionIDs(calls []simcc.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = sim.SessionID(c.Seq)
	}
	return out
}

func outcomeOf(c simcc.Call) model.Outcome { return model.Outcome(c.Outcome) }

func TestListCallsPagesLikeTheCenter(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	r := upstreams.TimeRange{From: testNow.Add(-8 * time.Hour), To: testNow}
	truth := e.Center.Calls(r.From, r.To)
	if len(truth) < 150 {
		t.Fatalf("only %d calls: the test needs more than a page", len(truth))
	}
	var got []*model.Call
	after := ""
	for pages := 0; ; pages++ {
		p, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: r, First: 40, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if p.TotalCount == nil || *p.TotalCount != len(truth) {
			t.Fatalf("total %v, want %d", p.TotalCount, len(truth))
		}
		for _, edge := range p.Edges {
			got = append(got, edge.Call)
		}
		if !p.HasNext {
			break
		}
		after = p.Edges[len(p.Edges)-1].Cursor
		if pages > 100 {
			t.Fatal("paging does not end")
		}
	}
	ids := make([]string, len(got))
	for i, c := range got {
		ids[i] = c.VendorID
	}
	if d := cmp.Diff(sessionIDs(truth), ids); d != "" {
		t.Fatalf("call ids differ from the center (-want +got):\n%s", d)
	}
	for i, c := range truth {
		g := got[i]
		if g.Outcome != outcomeOf(c) || string(g.Direction) != string(c.Direction) || !g.StartedAt.Equal(c.StartedAt) || (g.EndedAt == nil) != c.EndedAt.IsZero() {
			t.Errorf("call %s: %s %s %v; center %s %s %v", c.ID, g.Outcome, g.Direction, g.StartedAt, c.Outcome, c.Direction, c.StartedAt)
		}
	}

	// A cursor from the middle resumes right after its call.
	p, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: r, First: 5})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: r, First: 1, After: p.Edges[2].Cursor})
	if err != nil || p2.Edges[0].Call.VendorID != ids[3] {
		t.Fatalf("resume after edge 2 = %v, %v; want %s", p2, err, ids[3])
	}

	// More than the API's top of 100 is read in pages of at most 100.
	e.srv.ResetRequests()
	big, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: r, First: 150})
	if err != nil {
		t.Fatal(err)
	}
	if len(big.Edges) != 150 {
		t.Fatalf("%d edges, want 150", len(big.Edges))
	}
	reqs := e.paths("/api/dataflow/analytics/calls/history")
	if len(reqs) != 2 || reqs[0].Query.Get("top") != "100" || reqs[1].Query.Get("top") != "50" || reqs[1].Query.Get("skip") != "100" {
		t.Errorf("paging requests %+v, want top=100 then top=50 skip=100", reqs)
	}
}

func TestGetCallAndLegs(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	var picked []simcc.Call
	for _, c := range e.Center.Calls(testNow.Add(-3*time.Hour), testNow) {
		if len(c.Legs) > 1 && !c.EndedAt.IsZero() || len(picked) < 3 && len(c.Legs) == 1 {
			picked = append(picked, c)
		}
		if len(picked) >= 6 {
			break
		}
	}
	c := picked[0]
	got, err := e.d.GetCall(ctx, sim.SessionID(c.Seq))
	if err != nil || got == nil {
		t.Fatalf("GetCall = %v, %v", got, err)
	}
	if got.Outcome != outcomeOf(c) || got.Customer == nil || *got.Customer.Number != c.Customer {
		t.Errorf("call = %+v, center %+v", got, c)
	}
	if none, err := e.d.GetCall(ctx, "1040099039169999999"); none != nil || err != nil {
		t.Errorf("unknown call = %v, %v; want nil, nil", none, err)
	}
	ids := sessionIDs(picked)
	legs, err := e.d.LoadCallLegs(ctx, append(ids, "1040099039169999999", "not-portsip"))
	if err != nil {
		t.Fatal(err)
	}
	if len(legs) != len(picked) {
		t.Fatalf("legs for %d calls, want %d", len(legs), len(picked))
	}
	ext := map[string]string{}
	for _, a := range e.Center.Agents() {
		ext[a.ID] = a.Extension
	}
	for i, c := range picked {
		l := legs[ids[i]]
		if len(l) != len(c.Legs) {
			t.Fatalf("call %s: %d legs, want %d", c.ID, len(l), len(c.Legs))
		}
		for j, want := range c.Legs {
			if *l[j].Agent.VendorID != ext[want.AgentID] || (l[j].Answered != nil && *l[j].Answered != want.Answered) {
				t.Errorf("call %s leg %d = %+v, center %+v", c.ID, j, l[j], want)
			}
		}
	}
}

func TestCallVolume(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	r := upstreams.TimeRange{From: e.Center.Start(), To: e.Center.Start().Add(72 * time.Hour)}
	count := func(from, to time.Time) (total, answered int) {
		for _, c := range e.Center.Calls(from, to) {
			total++
			if c.Outcome == simcc.OutcomeAnswered {
				answered++
			}
		}
		return total, answered
	}
	days, err := e.d.CallVolume(ctx, upstreams.TimeseriesQuery{Range: r, Interval: model.IntervalDay})
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 3 || len(e.paths("/api/dataflow/analytics/calls/timeseries")) != 1 {
		t.Fatalf("%d days from %d requests, want 3 from 1", len(days), len(e.paths("/api/dataflow/analytics/calls/timeseries")))
	}
	for _, p := range days {
		tot, ans := count(p.From, p.To)
		if tot == 0 || *p.Offered != tot || *p.Answered != ans || p.Abandoned != nil {
			t.Errorf("day %v: offered %d answered %d; center %d %d", p.From, *p.Offered, *p.Answered, tot, ans)
		}
	}
	e.srv.ResetRequests()
	hours, err := e.d.CallVolume(ctx, upstreams.TimeseriesQuery{Range: upstreams.TimeRange{From: r.From.Add(30 * time.Hour), To: r.From.Add(54 * time.Hour)}, Interval: model.IntervalHour})
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 24 || len(e.paths("/api/dataflow/analytics/calls/timeseries")) != 2 {
		t.Fatalf("%d hours from %d requests, want 24 from 2 (one per day)", len(hours), len(e.paths("/api/dataflow/analytics/calls/timeseries")))
	}
	for _, p := range hours {
		if tot, _ := count(p.From, p.To); *p.Offered != tot {
			t.Errorf("hour %v: %d, center %d", p.From, *p.Offered, tot)
		}
	}
}

func jobInput(name string) model.ReportJobInput {
	return model.ReportJobInput{Source: "pbx", Name: name, ReportType: "QUEUE_SUMMARY", Format: model.ReportFormatCSV,
		Cron: "1 0 * * *", Timezone: model.Ptr("America/New_York"), Recipients: []string{"ops@example.com", "lead@example.com"}, Queues: []string{"8000"}}
}

func TestReportJobRoundTrip(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	created, err := e.d.CreateReportJob(ctx, jobInput("Daily KPIs"))
	if err != nil {
		t.Fatal(err)
	}
	want := &model.ReportJob{VendorID: created.VendorID, ID: model.GlobalID(model.KindReportJob, "pbx", created.VendorID), SourceID: "pbx", Vendor: Vendor,
		Name: "Daily KPIs", ReportType: "QUEUE_SUMMARY", Format: model.ReportFormatCSV, Cron: "1 0 * * *", Timezone: model.Ptr("America/New_York"),
		Recipients: []string{"ops@example.com", "lead@example.com"}, Queues: []string{"8000"}, Enabled: true}
	ignore := cmpopts.IgnoreFields(model.ReportJob{}, "Raw", "CreatedAt", "UpdatedAt")
	if d := cmp.Diff(want, created, ignore); d != "" {
		t.Errorf("created (-want +got):\n%s", d)
	}
	second, err := e.d.CreateReportJob(ctx, jobInput("Second"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := e.d.ListReportJobs(ctx, 0, 1)
	if err != nil || len(page.Jobs) != 1 || !page.HasNext || *page.TotalCount != 2 || page.Jobs[0].VendorID != created.VendorID {
		t.Fatalf("list = %+v, %v", page, err)
	}

	in := jobInput("Daily KPIs v2")
	in.Cron, in.Enabled, in.Timezone = "*/30 8-18 * * 1-5", model.Ptr(false), model.Ptr("Asia/Shanghai")
	updated, err := e.d.UpdateReportJob(ctx, created.VendorID, in)
	if err != nil {
		t.Fatal(err)
	}
	want.Name, want.Cron, want.Enabled, want.Timezone = "Daily KPIs v2", "*/30 8-18 * * 1-5", false, model.Ptr("Asia/Shanghai")
	if d := cmp.Diff(want, updated, ignore); d != "" {
		t.Errorf("updated (-want +got):\n%s", d)
	}
	if upd := e.paths("/api/dataflow/report_jobs/" + created.VendorID); len(upd) != 2 || !strings.Contains(upd[0].Body, `"time_zone":"Asia/Shanghai"`) {
		t.Errorf("update requests %+v: want a POST with time_zone, then a GET", upd)
	}

	e.srv.RunJobs() // the updated job is inactive now: only the second one runs
	logs, err := e.d.ListReportLogs(ctx, 0, 10)
	if err != nil || len(logs.Logs) != 1 || logs.Logs[0].ReportJobID == nil || *logs.Logs[0].ReportJobID != second.ID || logs.Logs[0].Status == nil || *logs.Logs[0].Status != "SUCCESS" {
		t.Fatalf("report logs = %+v, %v", logs, err)
	}
	if err := e.d.DeleteReportLog(ctx, logs.Logs[0].VendorID); err != nil {
		t.Fatal(err)
	}
	if err := e.d.DeleteReportJob(ctx, created.VendorID); err != nil {
		t.Fatal(err)
	}
	page, err = e.d.ListReportJobs(ctx, 0, 150)
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].Name != "Second" {
		t.Fatalf("after delete: %+v, %v", page, err)
	}
	wantKind(t, e.d.DeleteReportJob(ctx, created.VendorID), upstreams.ErrNotFound)
	wantKind(t, e.d.DeleteReportLog(ctx, logs.Logs[0].VendorID), upstreams.ErrNotFound)
}

func TestReportJobValidationSendsNothing(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	for field, change := range map[string]func(*model.ReportJobInput){
		"cron":          func(in *model.ReportJobInput) { in.Cron = "0 0 * *" },
		"recipients":    func(in *model.ReportJobInput) { in.Recipients = nil },
		"recipients[0]": func(in *model.ReportJobInput) { in.Recipients = []string{"not-an-address"} },
		"format":        func(in *model.ReportJobInput) { in.Format = model.ReportFormatPDF },
	} {
		in := jobInput("x")
		change(&in)
		_, err := e.d.CreateReportJob(ctx, in)
		if ue := wantKind(t, err, upstreams.ErrBadArgument); ue.Field != field {
			t.Errorf("create: field %q, want %q", ue.Field, field)
		}
		_, err = e.d.UpdateReportJob(ctx, "NzAwNTUxOTA5NzczMTQ4MTYw", in)
		if ue := wantKind(t, err, upstreams.ErrBadArgument); ue.Field != field {
			t.Errorf("update: field %q, want %q", ue.Field, field)
		}
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for invalid jobs, want none", n)
	}
}

func TestTokenRefused(t *testing.T) {
	e := newEnv(t, func(_ map[string]any, s map[string]string) { s["password"] = "wrong-secret-value" }, nil)
	_, err := e.d.ListQueues(context.Background(), upstreams.TimeRange{From: testNow.Add(-time.Hour), To: testNow})
	ue := wantKind(t, err, upstreams.ErrUnauthorized)
	if !strings.Contains(ue.Detail, "INVALID_CREDENTIALS") || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("error %q: want the vendor code and no password", err)
	}
	if h := e.d.Health(); h.Status != model.HealthStatusDown {
		t.Errorf("health = %s, want DOWN", h.Status)
	}
	if n := len(e.paths("/api/dataflow/")); n != 0 {
		t.Errorf("%d data requests without a token", n)
	}
}

func TestTokenRefreshAndRetryAfter401(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	r := upstreams.TimeRange{From: testNow.Add(-time.Hour), To: testNow}
	grants := func() []string {
		var out []string
		for _, rq := range e.paths("/api/login/oauth/token") {
			out = append(out, rq.Body)
		}
		return out
	}
	if _, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: r, First: 1}); err != nil {
		t.Fatal(err)
	}
	// Just before the 30-minute lifetime ends the driver refreshes instead of waiting for a 401.
	e.Clock.Advance(29*time.Minute + 30*time.Second)
	if _, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: r, First: 1}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"grant_type=password", "grant_type=refresh_token"}, grants()); d != "" {
		t.Errorf("grants (-want +got):\n%s", d)
	}
	// A token the PBX revoked: 401, refresh, the same request again.
	e.srv.ExpireTokens()
	e.srv.ResetRequests()
	if _, err := e.d.ListCalls(ctx, upstreams.CallQuery{Range: r, First: 1}); err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, rq := range e.srv.Requests() {
		seq = append(seq, rq.Path)
	}
	want := []string{"/api/dataflow/analytics/calls/history", "/api/login/oauth/token", "/api/dataflow/analytics/calls/history"}
	if d := cmp.Diff(want, seq); d != "" {
		t.Errorf("requests after revocation (-want +got):\n%s", d)
	}
}

func TestErrorsBodySurfaces(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	day := upstreams.TimeseriesQuery{Range: upstreams.TimeRange{From: e.Center.Start(), To: e.Center.Start().Add(time.Hour)}, Interval: model.IntervalHour}
	_, err := e.d.QueueTimeseries(ctx, "9999", day)
	ue := wantKind(t, err, upstreams.ErrBadArgument)
	if ue.Detail != "HTTP 400: INVALID_QUEUE: unknown queue number 9999" {
		t.Errorf("detail %q", ue.Detail)
	}
	e.srv.FailNext(http.StatusServiceUnavailable, 3)
	_, err = e.d.QueueTimeseries(ctx, "8000", day)
	ue = wantKind(t, err, upstreams.ErrUnavailable)
	if !strings.Contains(ue.Detail, "INTERNAL_ERROR") {
		t.Errorf("detail %q lacks the vendor code", ue.Detail)
	}
	if h := e.d.Health(); h.Status != model.HealthStatusDown {
		t.Errorf("health = %s after 5xx, want DOWN", h.Status)
	}
	if _, err := e.d.QueueTimeseries(ctx, "8000", day); err != nil {
		t.Fatal(err)
	}
	if h := e.d.Health(); h.Status != model.HealthStatusLive {
		t.Errorf("health = %s after success, want LIVE", h.Status)
	}
}

func TestMalformedDocumentNamesField(t *testing.T) {
	e := newEnv(t, nil, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/dataflow/analytics/calls/history" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"count": 2, "items": [{"session_id": "1040099039162400001", "start_time": "2025-10-01T10:00:00Z"}, {"session_id": "1040099039162400002", "start_time": 1759312800}]}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	_, err := e.d.ListCalls(context.Background(), upstreams.CallQuery{Range: upstreams.TimeRange{From: testNow.Add(-time.Hour), To: testNow}})
	if ue := wantKind(t, err, upstreams.ErrBadResponse); ue.Field != "items[1].start_time" {
		t.Errorf("field %q, want items[1].start_time", ue.Field)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]map[string]any{
		"no client id":  {},
		"unknown key":   {"clientId": "x", "slaSecs": 3},
		"negative sla":  {"clientId": "x", "slaSeconds": map[string]any{"8000": -1}},
		"queue no num":  {"clientId": "x", "queues": []any{map[string]any{"name": "Sales"}}},
		"bad duration":  {"clientId": "x", "pollInterval": "soon"},
		"negative poll": {"clientId": "x", "pollInterval": "-1s"},
	} {
		if _, err := New(context.Background(), upstreams.SourceSpec{ID: "pbx", Vendor: Vendor, URL: "http://127.0.0.1:1", Options: opts}, upstreams.Deps{}); err == nil {
			t.Errorf("%s: New accepted %v", name, opts)
		}
	}
	d, err := New(context.Background(), upstreams.SourceSpec{ID: "pbx", Vendor: Vendor, URL: "https://pbx.example.com:8887/api/",
		Options: map[string]any{"clientId": "x", "queues": []any{"8000", map[string]any{"number": "8001", "name": "Sales"}}}}, upstreams.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	dd := d.(*Driver)
	if dd.c.prefix != "" || dd.m.queueNames["8001"] != "Sales" || len(dd.cfg.Queues) != 2 {
		t.Errorf("prefix %q, queues %+v", dd.c.prefix, dd.cfg.Queues)
	}
	if got := upstreams.Capabilities(d); len(got) != 10 {
		t.Errorf("capabilities %v", got)
	}
}

func TestStreamQueuesAndCalls(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := newEnv(t, func(o map[string]any, _ map[string]string) { o["pollInterval"] = "10ms" }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	qs, cs := &upstreamstest.Sink{}, &upstreamstest.Sink{}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for topic, sink := range map[upstreams.Topic]*upstreamstest.Sink{upstreams.TopicQueues: qs, upstreams.TopicCalls: cs} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.d.Stream(ctx, topic, sink)
		}()
	}
	first := func(s *upstreamstest.Sink) []upstreams.Item {
		return s.WaitFor(t, "snapshot", func(ev []upstreamstest.Event) bool { return len(ev) > 0 && ev[0].Op == upstreamstest.OpReset })[0].Items
	}
	if n := len(first(qs)); n != len(e.Center.Queues()) {
		t.Fatalf("queue snapshot has %d queues", n)
	}
	active := len(e.Center.ActiveCalls())
	if n := len(first(cs)); n != active {
		t.Errorf("call snapshot has %d calls, the center %d in progress", n, active)
	}

	startedBefore := testNow
	e.Clock.Advance(10 * time.Minute)
	e.Center.Sync()
	ended := map[string]bool{}
	for _, c := range e.Center.Calls(testNow.Add(-4*time.Hour), e.Clock.Now()) {
		if !c.EndedAt.IsZero() && c.EndedAt.After(startedBefore) {
			ended[sim.SessionID(c.Seq)] = true
		}
	}
	upstreamstest.Eventually(t, "queue update", func() bool { return qs.Count(upstreamstest.OpUpsert) > 0 })
	upstreamstest.Eventually(t, "every call that ended to be removed", func() bool {
		n := 0
		for _, k := range cs.Keys(upstreamstest.OpRemove) {
			if ended[k] {
				n++
			}
		}
		return n == len(ended)
	})
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Stream returned %v after cancel", err)
		}
	}
	// Every removed call was upserted as ended just before.
	last := map[string]*model.Call{}
	var firstQueue *model.Queue
	for _, u := range cs.Changes() {
		if u.Op == upstreamstest.OpUpsert {
			last[u.Key] = u.Value.(*model.Call)
		}
	}
	for _, u := range qs.Changes() {
		if u.Op == upstreamstest.OpUpsert && firstQueue == nil {
			firstQueue = u.Value.(*model.Queue)
		}
	}
	for _, k := range cs.Keys(upstreamstest.OpRemove) {
		if c := last[k]; c == nil || c.EndedAt == nil {
			t.Errorf("call %s removed without a final upsert", k)
		}
	}
	q := firstQueue
	qi := slices.IndexFunc(e.Center.Queues(), func(x simcc.Queue) bool { return x.Name == q.Name })
	st := e.Center.QueueStats(e.Center.Queues()[qi].ID, *q.Stats.From, *q.Stats.To)
	if *q.Stats.Offered != st.Offered {
		t.Errorf("live queue offered %d, center %d", *q.Stats.Offered, st.Offered)
	}
	if h, _ := qs.Health(); h != model.HealthStatusLive {
		t.Errorf("stream health %v", qs.Healths())
	}
	e.Server.Close()
}

func TestConformance(t *testing.T) {
	upstreamstest.Run(t, upstreamstest.Harness{
		New: func(t *testing.T, bad bool) upstreamstest.Env {
			return newEnv(t, func(o map[string]any, s map[string]string) {
				o["pollInterval"] = "10ms"
				if bad {
					s["password"] = upstreamstest.WrongSecret
				}
			}, nil).Env
		},
		CallIDs: func(c *simcc.Center, r upstreams.TimeRange) []string { return sessionIDs(c.Calls(r.From, r.To)) },
		Malform: func(r *http.Request, rec *httptest.ResponseRecorder) {
			if r.URL.Path == "/api/dataflow/analytics/calls/history" {
				b := strings.Replace(rec.Body.String(), `"start_time":"`, `"start_time":1759312800,"was":"`, 1)
				rec.Body.Reset()
				rec.Body.WriteString(b)
			}
		},
	})
}
