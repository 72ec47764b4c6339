package portsip

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
)

// seriesWindow is the longest range one queue or agent request may cover (documented).
const seriesWindow = 24 * time.Hour

// maxSeriesDays bounds a split queue/agent timeseries: each day is one request.
const maxSeriesDays = 92

// ListQueues asks queues/summary once per configured queue: the API averages the KPIs of
// all queues named in one body, so per-queue figures need one request each.
func (d *Driver) ListQueues(ctx context.Context, r upstreams.TimeRange) ([]*model.Queue, error) {
	const op = "listing queues"
	if len(d.cfg.Queues) == 0 {
		return nil, d.spec.Errorf(op, upstreams.ErrNotSupported, nil, "no queues configured (option queues)")
	}
	if !r.To.After(r.From) {
		return nil, d.badArg(op, "range: to must be after from")
	}
	out := make([]*model.Queue, 0, len(d.cfg.Queues))
	for _, q := range d.cfg.Queues {
		queue, err := d.queueSummary(ctx, op, q.Number, r)
		if err != nil {
			return nil, d.observe(err)
		}
		out = append(out, queue)
	}
	return out, d.observe(nil)
}

func (d *Driver) queueSummary(ctx context.Context, op, number string, r upstreams.TimeRange) (*model.Queue, error) {
	sla := d.slaFor(number)
	body := queueSummaryRequest{Queues: []queueSLA{{Number: number, SLASecs: sla}}, timeRangeBody: wireRange(r)}
	b, err := d.c.call(ctx, op, http.MethodPost, "/dataflow/queues/summary", nil, body, true)
	if err != nil {
		return nil, err
	}
	return d.m.mapQueue(op, number, sla, r, b)
}

func wireRange(r upstreams.TimeRange) timeRangeBody {
	return timeRangeBody{StartTime: formatTime(r.From), EndTime: formatTime(r.To)}
}

// QueueTimeseries serves one queue's buckets; see seriesPlan for ranges and intervals.
func (d *Driver) QueueTimeseries(ctx context.Context, queueVendorID string, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	pts, err := d.series(ctx, "reading queue timeseries", "/dataflow/queues/timeseries", queueVendorID, "", q)
	return pts, d.observe(err)
}

// QueueAgentTimeseries serves one agent's buckets in one queue (queues/agent/timeseries),
// with the same ranges and intervals as QueueTimeseries: offered, answered, talkSeconds and
// averageHandleSeconds are filled.
func (d *Driver) QueueAgentTimeseries(ctx context.Context, queueNumber, agentNumber string, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	const op = "reading agent queue timeseries"
	if strings.TrimSpace(agentNumber) == "" {
		return nil, d.badArg(op, "agent: number is required")
	}
	pts, err := d.series(ctx, op, "/dataflow/queues/agent/timeseries", queueNumber, agentNumber, q)
	return pts, d.observe(err)
}

// QueueAgentStats returns one agent's figures in one queue over r (queues/agent/summary):
// offered, answered, missed, talk, hold and wrap-up seconds, average handle time. Ranges
// over 24 h are split into day requests and summed.
func (d *Driver) QueueAgentStats(ctx context.Context, queueNumber, agentNumber string, r upstreams.TimeRange) (*model.AgentCounters, error) {
	const op = "reading agent queue summary"
	switch {
	case strings.TrimSpace(queueNumber) == "":
		return nil, d.badArg(op, "queue: number is required")
	case strings.TrimSpace(agentNumber) == "":
		return nil, d.badArg(op, "agent: number is required")
	case !r.To.After(r.From):
		return nil, d.badArg(op, "range: to must be after from")
	case r.To.Sub(r.From) > maxSeriesDays*seriesWindow:
		return nil, d.badArg(op, "range: at most 92 days")
	}
	var sum *model.AgentCounters
	var ahtSum, ahtN float64
	for from := r.From; from.Before(r.To); from = from.Add(seriesWindow) {
		chunk := upstreams.TimeRange{From: from, To: minTime(from.Add(seriesWindow), r.To)}
		body := queueTimeseriesRequest{Queue: queueNumber, Agent: agentNumber, timeRangeBody: wireRange(chunk)}
		b, err := d.c.call(ctx, op, http.MethodPost, "/dataflow/queues/agent/summary", nil, body, true)
		if err != nil {
			return nil, d.observe(err)
		}
		c, err := d.m.mapAgentSummary(op, b)
		if err != nil {
			return nil, d.observe(err)
		}
		if sum == nil {
			sum = c
			if c.AverageHandleSeconds != nil && c.Answered != nil {
				ahtSum, ahtN = *c.AverageHandleSeconds*float64(*c.Answered), float64(*c.Answered)
			}
			continue
		}
		sum.Offered, sum.Answered, sum.Missed = addInt(sum.Offered, c.Offered), addInt(sum.Answered, c.Answered), addInt(sum.Missed, c.Missed)
		sum.TalkSeconds, sum.HoldSeconds, sum.WrapUpSeconds = addInt(sum.TalkSeconds, c.TalkSeconds), addInt(sum.HoldSeconds, c.HoldSeconds), addInt(sum.WrapUpSeconds, c.WrapUpSeconds)
		if c.AverageHandleSeconds != nil && c.Answered != nil {
			ahtSum += *c.AverageHandleSeconds * float64(*c.Answered)
			ahtN += float64(*c.Answered)
		}
		sum.AverageHandleSeconds = nil
		if ahtN > 0 {
			sum.AverageHandleSeconds = model.Ptr(ahtSum / ahtN)
		}
	}
	return sum, d.observe(nil)
}

// seriesPlan turns a canonical query into the vendor's terms. The API serves 1h to 8h
// buckets over at most 24 h per request: HOUR asks 1h buckets; DAY, WEEK and MONTH ask 1h
// buckets too and add them up (a UTC day is 24 whole hours, and hourly points let any
// calendar bucket be built); HALF_HOUR cannot be served. The range is widened to whole
// buckets and split into 24 h requests.
func seriesPlan(q upstreams.TimeseriesQuery) (upstreams.TimeRange, string, string) {
	switch q.Interval {
	case model.IntervalHour, model.IntervalDay, model.IntervalWeek, model.IntervalMonth:
	case model.IntervalHalfHour:
		return upstreams.TimeRange{}, "", "interval: HALF_HOUR is not supported by PortSIP (buckets of 1h to 8h)"
	default:
		return upstreams.TimeRange{}, "", "interval: " + string(q.Interval) + " is not a known interval"
	}
	if !q.Range.To.After(q.Range.From) {
		return upstreams.TimeRange{}, "", "range: to must be after from"
	}
	r := upstreams.TimeRange{From: derive.Align(q.Range.From, q.Interval), To: alignUp(q.Range.To, q.Interval)}
	return r, "1h", ""
}

func alignUp(t time.Time, iv model.Interval) time.Time {
	a := derive.Align(t, iv)
	if a.Equal(t.UTC()) {
		return a
	}
	return derive.Next(a, iv)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// series reads a queue (agent == "") or agent timeseries in 24 h requests and merges them.
func (d *Driver) series(ctx context.Context, op, path, queue, agent string, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	if strings.TrimSpace(queue) == "" {
		return nil, d.badArg(op, "queue: number is required")
	}
	r, iv, bad := seriesPlan(q)
	if bad != "" {
		return nil, d.badArg(op, bad)
	}
	if r.To.Sub(r.From) > maxSeriesDays*seriesWindow {
		return nil, d.badArg(op, "range: at most 92 days (one request per day)")
	}
	var points []*model.TimeseriesPoint
	for from := r.From; from.Before(r.To); from = from.Add(seriesWindow) {
		chunk := upstreams.TimeRange{From: from, To: minTime(from.Add(seriesWindow), r.To)}
		body := queueTimeseriesRequest{Queue: queue, Agent: agent, Interval: iv, timeRangeBody: wireRange(chunk)}
		b, err := d.c.call(ctx, op, http.MethodPost, path, nil, body, true)
		if err != nil {
			return nil, err
		}
		var sb seriesBody
		if f, err := decodeDoc(b, &sb); err != nil {
			return nil, d.m.fieldErr(op, "", f, err)
		}
		pts, err := d.m.mapSeries(op, sb.Items)
		if err != nil {
			return nil, err
		}
		points = append(points, pts...)
	}
	return aggregate(points, derive.Buckets(r, q.Interval)), nil
}

// decodeItems reads the items of a list or series body.
func decodeItems(b []byte) ([]json.RawMessage, string, error) {
	var sb seriesBody
	f, err := decodeDoc(b, &sb)
	return sb.Items, f, err
}
