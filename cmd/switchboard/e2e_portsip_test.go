package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	portsipsim "github.com/switchboard-cc/switchboard/upstreams/portsip/sim"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

type portsipQueue struct {
	ID, VendorID, Name string
	SlaSeconds         *int
	Stats              *queueStatsJSON
}

// checkPortSIPStats compares one queue's stats with the center's over [from, to).
func checkPortSIPStats(t *testing.T, what string, got *queueStatsJSON, w simcc.QueueStats) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no stats", what)
		return
	}
	for _, c := range []struct {
		name string
		got  *int
		want int
	}{
		{"offered", got.Offered, w.Offered}, {"answered", got.Answered, w.Answered}, {"abandoned", got.Abandoned, w.Abandoned},
		{"shortAbandoned", got.ShortAbandoned, w.ShortAbandoned}, {"answeredWithinSla", got.AnsweredWithinSla, w.AnsweredWithinSLA},
		{"callsWaiting", got.CallsWaiting, w.CallsWaiting}, {"longestWaitSeconds", got.LongestWaitSeconds, w.LongestWaitSeconds},
		{"callbacks", got.Callbacks, w.Callbacks}, {"slaSeconds", got.SlaSeconds, w.SLASeconds},
	} {
		if !intIs(c.got, c.want) {
			t.Errorf("%s %s = %s, ground truth %d", what, c.name, fmtPtr(c.got), c.want)
		}
	}
	for _, c := range []struct {
		name      string
		got, want *float64
	}{
		{"serviceLevel", got.ServiceLevel, w.ServiceLevel}, {"averageWaitSeconds", got.AverageWaitSeconds, w.AverageWaitSeconds},
		{"averageSpeedOfAnswerSeconds", got.AverageSpeedOfAnswerSeconds, w.AverageSpeedOfAnswerSeconds},
		{"averageHandleSeconds", got.AverageHandleSeconds, w.AverageHandleSeconds},
	} {
		if !floatIs(c.got, c.want) {
			t.Errorf("%s %s = %s, ground truth %s", what, c.name, fmtPtr(c.got), fmtPtr(c.want))
		}
	}
}

const portsipQueuesQuery = `query($from: DateTime!, $to: DateTime!) {
  queues(filter: {range: {from: $from, to: $to}}) { id vendorId name slaSeconds stats {
    offered answered abandoned shortAbandoned answeredWithinSla callsWaiting longestWaitSeconds callbacks slaSeconds
    serviceLevel averageWaitSeconds averageSpeedOfAnswerSeconds averageHandleSeconds } } }`

// TestPortSIPQueueStatsAndTimeseriesMatchGroundTruth: the portsip tenant's queue stats (today
// so far and a past day) and hourly and daily queue timeseries are the center's.
func TestPortSIPQueueStatsAndTimeseriesMatchGroundTruth(t *testing.T) {
	opts, _ := frozenDemo(0)
	g := startTestGateway(t, vendorsNamed("portsip"), opts)
	src := g.demo.bySource["portsip/portsip"]
	center, srv := src.center, src.handler.(*portsipsim.Server)
	tok := g.tokens["portsip"].Full
	now := center.Now()
	today := now.Truncate(24 * time.Hour)
	ranges := []struct {
		name     string
		from, to time.Time
	}{
		{"today so far", today, now},
		{"a past day", today.Add(-30 * time.Hour), today.Add(-6 * time.Hour)},
	}
	var ids map[string]string // queue number → global id
	for _, r := range ranges {
		var res struct{ Queues []portsipQueue }
		g.mustData(t, tok, portsipQueuesQuery, map[string]any{"from": r.from, "to": r.to}, &res)
		if len(res.Queues) != len(center.Queues()) {
			t.Fatalf("%s: %d queues, center has %d", r.name, len(res.Queues), len(center.Queues()))
		}
		ids = map[string]string{}
		offered := 0
		for i, q := range center.Queues() {
			got := res.Queues[i]
			if got.VendorID != portsipsim.QueueNumber(i) || got.Name != q.Name || !intIs(got.SlaSeconds, q.SLASeconds) {
				t.Fatalf("%s: queue %d is %s %q sla %s, want %s %q sla %d", r.name, i, got.VendorID, got.Name,
					fmtPtr(got.SlaSeconds), portsipsim.QueueNumber(i), q.Name, q.SLASeconds)
			}
			ids[got.VendorID] = got.ID
			w := center.QueueStats(q.ID, r.from, r.to)
			offered += w.Offered
			checkPortSIPStats(t, r.name+" queue "+got.VendorID, got.Stats, w)
		}
		if offered == 0 && r.to.Sub(r.from) > 15*time.Minute { // the UTC day may just have begun
			t.Fatalf("%s: no calls offered: nothing was compared", r.name)
		}
	}

	q0 := center.Queues()[0]
	const tsQuery = `query($q: ID!, $from: DateTime!, $to: DateTime!, $iv: Interval!) {
	  queueTimeseries(queue: $q, range: {from: $from, to: $to}, interval: $iv) { from to offered answered abandoned } }`
	type series struct {
		QueueTimeseries []struct {
			From, To                     time.Time
			Offered, Answered, Abandoned *int
		}
	}
	check := func(name string, s series, step time.Duration, from time.Time, n int) {
		t.Helper()
		if len(s.QueueTimeseries) != n {
			t.Fatalf("%s: %d points, want %d", name, len(s.QueueTimeseries), n)
		}
		offered := 0
		for i, p := range s.QueueTimeseries {
			bf := from.Add(time.Duration(i) * step)
			w := center.QueueStats(q0.ID, bf, bf.Add(step))
			offered += w.Offered
			if !p.From.Equal(bf) || !p.To.Equal(bf.Add(step)) || !intIs(p.Offered, w.Offered) || !intIs(p.Answered, w.Answered) || !intIs(p.Abandoned, w.Abandoned) {
				t.Fatalf("%s point %d: %s..%s offered %s answered %s abandoned %s; ground truth %s..%s %d %d %d", name, i,
					p.From, p.To, fmtPtr(p.Offered), fmtPtr(p.Answered), fmtPtr(p.Abandoned), bf, bf.Add(step), w.Offered, w.Answered, w.Abandoned)
			}
		}
		if offered == 0 {
			t.Fatalf("%s: no calls offered: nothing was compared", name)
		}
	}
	var hourly series
	hFrom := today.Add(-30 * time.Hour)
	g.mustData(t, tok, tsQuery, map[string]any{"q": ids[portsipsim.QueueNumber(0)], "from": hFrom, "to": hFrom.Add(24 * time.Hour), "iv": "HOUR"}, &hourly)
	check("hourly", hourly, time.Hour, hFrom, 24)

	srv.ResetRequests()
	var daily series
	dFrom := today.Add(-48 * time.Hour)
	g.mustData(t, tok, tsQuery, map[string]any{"q": ids[portsipsim.QueueNumber(0)], "from": dFrom, "to": today, "iv": "DAY"}, &daily)
	check("daily", daily, 24*time.Hour, dFrom, 2)
	n := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/queues/timeseries") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("2 days of queue timeseries took %d upstream requests, want 2 (24 h each)", n)
	}
}

type reportJobJSON struct {
	ID, VendorID, Name, ReportType, Format, Cron string
	Timezone                                     *string
	Recipients, Queues                           []string
	Enabled                                      bool
	Source                                       struct{ ID, Vendor string }
}

const reportJobFields = `id vendorId name reportType format cron timezone recipients queues enabled source { id vendor }`

func (j reportJobJSON) summary() string {
	return fmt.Sprintf("%s %s %s %s %s %v %v %v", j.Name, j.ReportType, j.Format, j.Cron, fmtPtr(j.Timezone), j.Recipients, j.Queues, j.Enabled)
}

// TestPortSIPReportJobRoundTrip: a report job goes create → list → update → delete through
// GraphQL and the PBX keeps exactly what was asked; a basic token changes nothing.
func TestPortSIPReportJobRoundTrip(t *testing.T) {
	opts, _ := frozenDemo(0)
	g := startTestGateway(t, vendorsNamed("portsip"), opts)
	srv := g.demo.bySource["portsip/portsip"].handler.(*portsipsim.Server)
	full, basic := g.tokens["portsip"].Full, g.tokens["portsip"].Basic
	input := map[string]any{
		"source": "portsip", "name": "Daily KPIs", "reportType": "QUEUE_SUMMARY", "format": "CSV",
		"cron": "0 7 * * 1-5", "timezone": "Europe/Stockholm", "recipients": []string{"ops@example.com"},
		"queues": []string{portsipsim.QueueNumber(0)}, "enabled": true,
	}
	const create = `mutation($in: ReportJobInput!) { createReportJob(input: $in) { ` + reportJobFields + ` } }`
	const list = `{ reportJobs(first: 10) { totalCount edges { node { ` + reportJobFields + ` } } } }`
	type listed struct {
		ReportJobs struct {
			TotalCount *int
			Edges      []struct{ Node reportJobJSON }
		}
	}

	if r := g.query(t, basic, create, map[string]any{"in": input}); fmt.Sprint(r.codes()) != "[FORBIDDEN]" {
		t.Fatalf("createReportJob with a basic token: %v %s", r.codes(), r.Data)
	}
	if r := g.query(t, basic, list, nil); fmt.Sprint(r.codes()) != "[FORBIDDEN]" {
		t.Fatalf("reportJobs with a basic token: %v", r.codes())
	}
	if n := len(srv.Jobs()); n != 0 {
		t.Fatalf("the PBX holds %d jobs after refused calls", n)
	}

	var c struct{ CreateReportJob reportJobJSON }
	g.mustData(t, full, create, map[string]any{"in": input}, &c)
	job := c.CreateReportJob
	want := "Daily KPIs QUEUE_SUMMARY CSV 0 7 * * 1-5 Europe/Stockholm [ops@example.com] [8000] true"
	if job.summary() != want || job.Source.ID != "portsip" || job.Source.Vendor != "portsip" || job.VendorID == "" {
		t.Fatalf("created %s (source %+v, vendorId %q), want %s", job.summary(), job.Source, job.VendorID, want)
	}
	if jobs := srv.Jobs(); len(jobs) != 1 || !strings.Contains(string(jobs[0]), `"schedule_name":"Daily KPIs"`) {
		t.Fatalf("the PBX holds %s", jobs)
	}

	var l listed
	g.mustData(t, full, list, nil, &l)
	if l.ReportJobs.TotalCount == nil || *l.ReportJobs.TotalCount != 1 || len(l.ReportJobs.Edges) != 1 ||
		l.ReportJobs.Edges[0].Node.ID != job.ID || l.ReportJobs.Edges[0].Node.summary() != want {
		t.Fatalf("listed %s jobs: %+v", fmtPtr(l.ReportJobs.TotalCount), l.ReportJobs.Edges)
	}

	const update = `mutation($id: ID!, $in: ReportJobInput!) { updateReportJob(id: $id, input: $in) { ` + reportJobFields + ` } }`
	input["name"], input["cron"], input["enabled"] = "Weekly KPIs", "30 6 * * 1", false
	input["recipients"] = []string{"ops@example.com", "lead@example.com"}
	if r := g.query(t, basic, update, map[string]any{"id": job.ID, "in": input}); fmt.Sprint(r.codes()) != "[FORBIDDEN]" {
		t.Fatalf("updateReportJob with a basic token: %v", r.codes())
	}
	var u struct{ UpdateReportJob reportJobJSON }
	g.mustData(t, full, update, map[string]any{"id": job.ID, "in": input}, &u)
	want = "Weekly KPIs QUEUE_SUMMARY CSV 30 6 * * 1 Europe/Stockholm [ops@example.com lead@example.com] [8000] false"
	if u.UpdateReportJob.ID != job.ID || u.UpdateReportJob.summary() != want {
		t.Fatalf("updated %s %s, want %s %s", u.UpdateReportJob.ID, u.UpdateReportJob.summary(), job.ID, want)
	}
	g.mustData(t, full, list, nil, &l)
	if len(l.ReportJobs.Edges) != 1 || l.ReportJobs.Edges[0].Node.summary() != want {
		t.Fatalf("listed after update: %+v", l.ReportJobs.Edges)
	}

	const del = `mutation($id: ID!) { deleteReportJob(id: $id) }`
	if r := g.query(t, basic, del, map[string]any{"id": job.ID}); fmt.Sprint(r.codes()) != "[FORBIDDEN]" {
		t.Fatalf("deleteReportJob with a basic token: %v", r.codes())
	}
	if n := len(srv.Jobs()); n != 1 {
		t.Fatalf("the PBX holds %d jobs after a refused delete, want 1", n)
	}
	var d struct{ DeleteReportJob string }
	g.mustData(t, full, del, map[string]any{"id": job.ID}, &d)
	if d.DeleteReportJob != job.ID {
		t.Fatalf("deleted %q, want %q", d.DeleteReportJob, job.ID)
	}
	g.mustData(t, full, list, nil, &l)
	if l.ReportJobs.TotalCount == nil || *l.ReportJobs.TotalCount != 0 || len(l.ReportJobs.Edges) != 0 || len(srv.Jobs()) != 0 {
		t.Fatalf("after delete: %s listed, %d held by the PBX", fmtPtr(l.ReportJobs.TotalCount), len(srv.Jobs()))
	}
}

// TestPortSIPReportLogsAndAgentQueueStats: executions of report jobs are listed and deleted
// through GraphQL, and one agent's figures within a queue agree with ground truth.
func TestPortSIPReportLogsAndAgentQueueStats(t *testing.T) {
	g := startTestGateway(t, vendorsNamed("portsip"), demoOptions{})
	tok := g.tokens["portsip"].Full
	src := g.demo.bySource["portsip/portsip"]
	srv := src.handler.(*portsipsim.Server)
	var created struct{ CreateReportJob struct{ ID string } }
	g.mustData(t, tok, `mutation($in: ReportJobInput!) { createReportJob(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"source": "portsip", "name": "Nightly", "reportType": "queue_summary", "format": "CSV", "cron": "0 2 * * *",
		"recipients": []string{"ops@example.com"}, "queues": []string{portsipsim.QueueNumber(0)}, "enabled": true,
	}}, &created)
	srv.RunJobs()
	var logs struct {
		ReportLogs struct {
			Edges []struct {
				Node struct {
					ID          string
					ReportJobID *string
					Status      *string
					Source      struct{ ID string }
				}
			}
			TotalCount *int
		}
	}
	const list = `{ reportLogs(first: 10) { edges { node { id reportJobId status source { id } } } totalCount } }`
	g.mustData(t, tok, list, nil, &logs)
	var mine string
	for _, e := range logs.ReportLogs.Edges {
		if e.Node.ReportJobID != nil && *e.Node.ReportJobID == created.CreateReportJob.ID {
			mine = e.Node.ID
		}
	}
	if mine == "" {
		t.Fatalf("no execution of the new job in %+v", logs.ReportLogs.Edges)
	}
	if r := g.query(t, g.tokens["portsip"].Basic, list, nil); fmt.Sprint(r.codes()) != "[FORBIDDEN]" {
		t.Fatalf("reportLogs with a basic token: %v", r.codes())
	}
	var del struct{ DeleteReportLog string }
	g.mustData(t, tok, `mutation($id: ID!) { deleteReportLog(id: $id) }`, map[string]any{"id": mine}, &del)
	g.mustData(t, tok, list, nil, &logs)
	for _, e := range logs.ReportLogs.Edges {
		if e.Node.ID == mine {
			t.Fatal("the deleted execution is still listed")
		}
	}

	// Per-agent queue figures over a past day.
	var qs struct {
		Queues []struct{ ID, VendorID string }
	}
	g.mustData(t, tok, `{ queues { id vendorId } }`, nil, &qs)
	var queueID string
	for _, q := range qs.Queues {
		if q.VendorID == portsipsim.QueueNumber(0) {
			queueID = q.ID
		}
	}
	center := src.center
	to := center.Now().Truncate(time.Hour).Add(-time.Hour)
	from := to.Add(-12 * time.Hour)
	queue := center.Queues()[0]
	var agentExt string
	answered := 0
	for _, a := range center.Agents() {
		n := 0
		for _, c := range center.Calls(from, to) {
			for _, l := range c.Legs {
				if l.AgentID == a.ID && l.QueueID == queue.ID && l.Answered {
					n++
				}
			}
		}
		if n > answered {
			agentExt, answered = a.Extension, n
		}
	}
	if agentExt == "" {
		t.Skip("no agent answered from the first queue in the range")
	}
	var stats struct {
		QueueAgentStats *struct{ Offered, Answered *int }
	}
	g.mustData(t, tok, `query($q: ID!, $a: String!, $from: DateTime!, $to: DateTime!) { queueAgentStats(queue: $q, agent: $a, range: {from: $from, to: $to}) { offered answered } }`,
		map[string]any{"q": queueID, "a": agentExt, "from": from, "to": to}, &stats)
	if stats.QueueAgentStats == nil || stats.QueueAgentStats.Answered == nil || *stats.QueueAgentStats.Answered != answered {
		t.Fatalf("queueAgentStats answered %v, ground truth %d", stats.QueueAgentStats, answered)
	}
}
