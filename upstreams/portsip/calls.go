package portsip

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
)

// maxHistoryDays is the longest range of the history and calls timeseries endpoints.
const maxHistoryDays = 365

// maxHourlyVolumeDays bounds HOUR call volume: beyond one day the API answers daily, so
// each day is one request.
const maxHourlyVolumeDays = 31

// legWorkers bounds the concurrent per-call leg requests of the source.
const legWorkers = 4

// cursorPrefix versions the cursor format: "o1:" + offset of the next call.
const cursorPrefix = "o1:"

func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.Itoa(offset)))
}

func decodeCursor(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), cursorPrefix))
	return n, err == nil && n >= 0
}

// ListCalls pages analytics/calls/history with skip/top. The history has no direction,
// queue or agent filter in its body, so those are left to the gateway.
func (d *Driver) ListCalls(ctx context.Context, q upstreams.CallQuery) (*upstreams.CallPage, error) {
	const op = "listing calls"
	offset, ok := decodeCursor(q.After)
	if !ok {
		return nil, d.badArg(op, "after: not a cursor of this source")
	}
	if bad := checkHistoryRange(q.Range); bad != "" {
		return nil, d.badArg(op, bad)
	}
	first := q.First
	if first < 1 {
		first = maxTop
	}
	body := callHistoryRequest{timeRangeBody: wireRange(q.Range)}
	items, total, err := d.c.list(ctx, op, http.MethodPost, "/dataflow/analytics/calls/history", nil, body, offset, first)
	if err != nil {
		return nil, d.observe(err)
	}
	page := &upstreams.CallPage{TotalCount: total, Edges: make([]upstreams.CallEdge, 0, len(items))}
	for i, raw := range items {
		c, err := d.m.mapCall(op, "items["+strconv.Itoa(i)+"]", raw)
		if err != nil {
			return nil, d.observe(err)
		}
		page.Edges = append(page.Edges, upstreams.CallEdge{Cursor: encodeCursor(offset + i + 1), Call: c})
	}
	if total != nil {
		page.HasNext = offset+len(items) < *total
	} else {
		page.HasNext = len(items) == first
	}
	return page, d.observe(nil)
}

func checkHistoryRange(r upstreams.TimeRange) string {
	switch {
	case r.From.IsZero() || r.To.IsZero():
		return "range: from and to are required"
	case !r.To.After(r.From):
		return "range: to must be after from"
	case r.To.Sub(r.From) > maxHistoryDays*24*time.Hour:
		return "range: at most 365 days"
	}
	return ""
}

// GetCall reads analytics/calls/history/{session_id}; (nil, nil) when PortSIP has no such call.
func (d *Driver) GetCall(ctx context.Context, vendorID string) (*model.Call, error) {
	const op = "reading call"
	if !isSessionID(vendorID) {
		return nil, d.badArg(op, "id: a PortSIP session id is a decimal number")
	}
	b, err := d.c.call(ctx, op, http.MethodPost, "/dataflow/analytics/calls/history/"+url.PathEscape(vendorID), nil, struct{}{}, true)
	if errors.Is(err, upstreams.ErrNotFound) {
		return nil, d.observe(nil)
	}
	if err != nil {
		return nil, d.observe(err)
	}
	c, err := d.m.mapCall(op, "", b)
	return c, d.observe(err)
}

func isSessionID(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// LoadCallLegs reads analytics/calls/user/history/{session_id} for each call, a few at a
// time: the user history body has no session filter to batch on.
func (d *Driver) LoadCallLegs(ctx context.Context, callVendorIDs []string) (map[string][]*model.CallLeg, error) {
	const op = "loading call legs"
	out := map[string][]*model.CallLeg{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(legWorkers)
	for _, id := range callVendorIDs {
		if !isSessionID(id) {
			continue // not a PortSIP call: absent, like an unknown one
		}
		g.Go(func() error {
			select {
			case d.legSem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-d.legSem }()
			items, _, err := d.c.list(gctx, op, http.MethodPost, "/dataflow/analytics/calls/user/history/"+url.PathEscape(id), nil, struct{}{}, 0, 0)
			if errors.Is(err, upstreams.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			legs := make([]*model.CallLeg, 0, len(items))
			for i, raw := range items {
				_, leg, err := d.m.mapLeg(op, "items["+strconv.Itoa(i)+"]", i+1, raw)
				if err != nil {
					return err
				}
				legs = append(legs, leg)
			}
			if len(legs) == 0 {
				return nil
			}
			mu.Lock()
			out[id] = legs
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, d.observe(err)
	}
	return out, d.observe(nil)
}

// CallVolume reads analytics/calls/timeseries. The API takes 1 to 365 days and groups
// hourly for one day, daily beyond; it has no direction split, so offered counts calls of
// every direction and abandoned, inbound and outbound stay null. The range is widened to
// whole UTC days; HOUR over several days asks one day at a time (at most 31); DAY, WEEK
// and MONTH add up the daily (or, for one day, hourly) points.
func (d *Driver) CallVolume(ctx context.Context, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	const op = "reading call volume"
	switch q.Interval {
	case model.IntervalHour, model.IntervalDay, model.IntervalWeek, model.IntervalMonth:
	case model.IntervalHalfHour:
		return nil, d.badArg(op, "interval: HALF_HOUR is not supported by PortSIP (hourly at most)")
	default:
		return nil, d.badArg(op, "interval: "+string(q.Interval)+" is not a known interval")
	}
	if !q.Range.To.After(q.Range.From) {
		return nil, d.badArg(op, "range: to must be after from")
	}
	from := derive.Align(q.Range.From, q.Interval)
	days := upstreams.TimeRange{From: derive.Align(from, model.IntervalDay), To: alignUp(alignUp(q.Range.To, q.Interval), model.IntervalDay)}
	n := int(days.To.Sub(days.From) / (24 * time.Hour))
	switch {
	case n > maxHistoryDays:
		return nil, d.badArg(op, "range: at most 365 days")
	case q.Interval == model.IntervalHour && n > maxHourlyVolumeDays:
		return nil, d.badArg(op, "range: at most 31 days with interval HOUR")
	}
	var chunks []upstreams.TimeRange
	if q.Interval == model.IntervalHour {
		for t := days.From; t.Before(days.To); t = t.Add(24 * time.Hour) {
			chunks = append(chunks, upstreams.TimeRange{From: t, To: t.Add(24 * time.Hour)})
		}
	} else {
		chunks = []upstreams.TimeRange{days}
	}
	var points []*model.TimeseriesPoint
	for _, c := range chunks {
		body := callsTimeseriesRequest{Tenants: d.cfg.Tenants, timeRangeBody: wireRange(c)}
		b, err := d.c.call(ctx, op, http.MethodPost, "/dataflow/analytics/calls/timeseries", nil, body, true)
		if err != nil {
			return nil, d.observe(err)
		}
		items, f, err := decodeItems(b)
		if err != nil {
			return nil, d.observe(d.m.fieldErr(op, "", f, err))
		}
		pts, err := d.m.mapSeries(op, items)
		if err != nil {
			return nil, d.observe(err)
		}
		points = append(points, pts...)
	}
	r := upstreams.TimeRange{From: from, To: q.Range.To}
	return aggregate(points, derive.Buckets(r, q.Interval)), d.observe(nil)
}
