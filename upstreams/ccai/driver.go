// Package ccai is the driver for Google Contact Center AI Platform (formerly UJET): call
// history, legs and queue segments from GET /manager/api/v1/calls, live calls and queue
// figures by polling updated_at[from], and queue stats and call volume derived from the
// calls with upstreams/derive. The simulator is in ccai/sim.
package ccai

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// Vendor is the registry name of this driver.
const Vendor = "ccai"

// Config is decoded from the source's options. Secrets: "key" (company key, the Basic
// user) and "secret" (company secret / API token, the Basic password).
type Config struct {
	// RatePerSec is the client-side request rate, requests per second; default 5 (the
	// vendor allows 10 per customer, older documents said 1).
	RatePerSec float64 `json:"ratePerSec"`
	// PerPage is the page size asked for, 1..100; default 100.
	PerPage int `json:"perPage"`
	// PollInterval is the live polling interval; default 5s.
	PollInterval upstreams.Duration `json:"pollInterval"`
	// PollOverlap is how far behind the watermark each poll reads again, so that rows
	// written late are not missed; default 10s.
	PollOverlap upstreams.Duration `json:"pollOverlap"`
	// MaxPages bounds one walk through the pages; default 1000.
	MaxPages int `json:"maxPages"`
	// Timeout is the per-request timeout; default 10s.
	Timeout upstreams.Duration `json:"timeout"`
	// Retries is the number of extra attempts after a 429 or 5xx; default 2.
	Retries *int `json:"retries"`
}

// Driver serves one CCAI Platform source.
type Driver struct {
	spec   upstreams.SourceSpec
	cfg    Config
	client *Client
	health *upstreams.HealthTracker
	now    func() time.Time
	log    *slog.Logger
}

var (
	_ upstreams.Driver             = (*Driver)(nil)
	_ upstreams.CallLister         = (*Driver)(nil)
	_ upstreams.CallGetter         = (*Driver)(nil)
	_ upstreams.CallLegLoader      = (*Driver)(nil)
	_ upstreams.QueueSegmentLoader = (*Driver)(nil)
	_ upstreams.QueueLister        = (*Driver)(nil)
	_ upstreams.CallVolumer        = (*Driver)(nil)
	_ upstreams.Streamer           = (*Driver)(nil)
	_ upstreams.Constructor        = New
)

// New builds the driver; it does not contact the vendor.
func New(ctx context.Context, spec upstreams.SourceSpec, deps upstreams.Deps) (upstreams.Driver, error) {
	var cfg Config
	if err := upstreams.DecodeOptions(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.RatePerSec < 0 || cfg.PerPage < 0 || cfg.PerPage > MaxPer || cfg.MaxPages < 0 {
		return nil, spec.Errorf("configuring source", upstreams.ErrBadArgument, nil, "ratePerSec, perPage (1..100) and maxPages must not be negative")
	}
	if cfg.RatePerSec == 0 {
		cfg.RatePerSec = 5
	}
	if cfg.PerPage == 0 {
		cfg.PerPage = MaxPer
	}
	hcfg := httpc.Config{RatePerSec: cfg.RatePerSec, Timeout: cfg.Timeout.D}
	if cfg.Retries != nil {
		hcfg.Retries = *cfg.Retries
		if hcfg.Retries == 0 {
			hcfg.Retries = -1 // httpc reads 0 as "default"
		}
	}
	client, err := NewClient(spec, deps.HTTPClient, hcfg, cfg.MaxPages)
	if err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := deps.Clock()
	return &Driver{
		spec: spec, cfg: cfg, client: client, now: now,
		health: upstreams.NewHealthTracker(now),
		log:    logger.With("vendor", spec.Vendor, "source", spec.ID, "tenant", spec.Tenant),
	}, nil
}

// Spec returns the source.
func (d *Driver) Spec() upstreams.SourceSpec { return d.spec }

// Health returns the source's last known health.
func (d *Driver) Health() model.SourceHealth { return d.health.Health() }

// Close releases nothing: streams stop with their contexts.
func (d *Driver) Close() error { return nil }

// HasRecordings reports the RECORDINGS capability: calls carry recording_url.
func (d *Driver) HasRecordings() bool { return true }

// Client exposes the calls client (tests and tools).
func (d *Driver) Client() *Client { return d.client }

// cursor is the position after one call of a ListCalls walk: the vendor page it was read
// from and its (created_at, id) key. Resuming re-reads that page and skips keys up to the
// cursor, so calls inserted ahead of it (an old call updated since) shift nothing.
type cursor struct {
	Page int    `json:"p"`
	At   int64  `json:"t"` // created_at, Unix milliseconds
	ID   string `json:"i"`
	Pre  int    `json:"n"` // calls created before the range at the head of the walk
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c.Page < 1 || c.ID == "" || c.Pre < 0 {
		return nil, errors.New("cursor fields out of range")
	}
	return &c, nil
}

// compareKey orders calls by created_at then id (numerically when both are numbers).
func compareKey(at time.Time, id string, at2 time.Time, id2 string) int {
	if c := at.Compare(at2); c != 0 {
		return c
	}
	a, errA := strconv.ParseInt(id, 10, 64)
	b, errB := strconv.ParseInt(id2, 10, 64)
	if errA == nil && errB == nil {
		return cmp.Compare(a, b)
	}
	return strings.Compare(id, id2)
}

func sortByStart(ms []*mapped) {
	slices.SortStableFunc(ms, func(a, b *mapped) int {
		return compareKey(a.call.StartedAt, a.call.VendorID, b.call.StartedAt, b.call.VendorID)
	})
}

// statusOutcomes lists the outcomes each documented status can map to (see outcome).
func statusOutcomes(status string) []model.Outcome {
	switch status {
	case "selecting", "queued", "assigned", "connecting", "connected", "switching", "action_only", "voicemail":
		return []model.Outcome{model.OutcomeInProgress}
	case "finished", "action_only_finished", "recovered":
		return []model.Outcome{model.OutcomeAnswered}
	case "failed":
		return []model.Outcome{model.OutcomeAbandoned, model.OutcomeMissed, model.OutcomeFailed}
	case "deflected":
		return []model.Outcome{model.OutcomeVoicemail, model.OutcomeCallback, model.OutcomeMissed}
	case "scheduled":
		return []model.Outcome{model.OutcomeCallback}
	case "voicemail_received", "voicemail_read":
		return []model.Outcome{model.OutcomeVoicemail}
	}
	return nil
}

// Statuses are the documented call_status[] values.
func Statuses() []string {
	return []string{"scheduled", "queued", "assigned", "connecting", "switching", "connected", "finished", "failed",
		"recovered", "deflected", "selecting", "action_only", "action_only_finished", "voicemail", "voicemail_received", "voicemail_read"}
}

// pushdown turns the query into vendor filters. exact reports that the vendor's total then
// counts exactly the calls the query matches (apart from the range, handled apart).
// ok is false when nothing can match (INTERNAL calls do not exist here).
func pushdown(q upstreams.CallQuery) (f CallFilter, exact, ok bool) {
	f = CallFilter{UpdatedFrom: q.Range.From, SortColumn: "created_at", SortDirection: "asc"}
	exact = len(q.Queues) == 0 && len(q.Agents) == 0
	if q.Direction != nil {
		switch *q.Direction {
		case model.DirectionInbound:
			f.CallTypes = []string{"IvrCall", "IncomingCallApp", "IncomingCallWeb"}
		case model.DirectionOutbound:
			f.CallTypes = []string{"OutboundCall", "ScheduledCallApp", "ScheduledCallWeb", "AgentScheduledCall"}
		case model.DirectionInternal:
			return f, true, false
		default:
			exact = false
		}
	}
	if len(q.Outcomes) > 0 {
		for _, s := range Statuses() {
			outs := statusOutcomes(s)
			n := 0
			for _, o := range outs {
				if slices.Contains(q.Outcomes, o) {
					n++
				}
			}
			if n > 0 {
				f.CallStatuses = append(f.CallStatuses, s)
			}
			if n > 0 && n < len(outs) {
				exact = false
			}
		}
		if len(f.CallStatuses) == 0 {
			return f, true, false
		}
	}
	return f, exact, true
}

// matches applies the query's filters to a mapped call (the vendor cannot filter by queue,
// and agent_id[] is not documented as "offered or handled").
func matches(c *model.Call, q upstreams.CallQuery) bool {
	if q.Direction != nil && c.Direction != *q.Direction {
		return false
	}
	if len(q.Outcomes) > 0 && !slices.Contains(q.Outcomes, c.Outcome) {
		return false
	}
	anyRef := func(refs []*model.Ref, keys []string) bool {
		for _, r := range refs {
			for _, k := range keys {
				if derive.MatchQueue(r, k) {
					return true
				}
			}
		}
		return false
	}
	if len(q.Queues) > 0 && !anyRef(c.Queues, q.Queues) {
		return false
	}
	if len(q.Agents) > 0 && !anyRef(c.Agents, q.Agents) {
		return false
	}
	return true
}

// ListCalls pages through the calls that started in q.Range. The endpoint has no
// created_at filter, so the walk asks for updated_at >= From (every call started since
// then was updated since then) sorted by created_at, skips the few older calls updated
// since at the head, and stops at the first call started at or after To.
func (d *Driver) ListCalls(ctx context.Context, q upstreams.CallQuery) (*upstreams.CallPage, error) {
	const op = "listing calls"
	first := min(max(q.First, 1), 100)
	f, exact, ok := pushdown(q)
	page := &upstreams.CallPage{Edges: []upstreams.CallEdge{}}
	if !ok {
		page.TotalCount = model.Ptr(0)
		return page, nil
	}
	start, pre, preKnown := 1, 0, false
	var after *cursor
	if q.After != "" {
		c, err := decodeCursor(q.After)
		if err != nil {
			return nil, d.spec.Errorf(op, upstreams.ErrBadArgument, err, "malformed cursor")
		}
		after, start, pre, preKnown = c, c.Page, c.Pre, true
	}
	var total *int
	post := -1 // calls at or after To that the vendor's total counts; -1 unknown
	if q.Range.To.IsZero() || q.Range.To.After(d.now()) {
		post = 0
	}
	err := d.client.Walk(ctx, op, f, d.cfg.PerPage, start, func(p *Page) (bool, error) {
		if total == nil {
			total = p.Total
		}
		ms, err := mapCallsBody(d.spec, op, p.Body)
		if err != nil {
			return false, err
		}
		sortByStart(ms)
		for i, m := range ms {
			c := m.call
			if after != nil && compareKey(c.StartedAt, c.VendorID, time.UnixMilli(after.At), after.ID) <= 0 {
				continue
			}
			if c.StartedAt.Before(q.Range.From) {
				if !preKnown {
					pre++
				}
				continue
			}
			preKnown = true
			if !q.Range.To.IsZero() && !c.StartedAt.Before(q.Range.To) {
				if p.Next == "" {
					post = len(ms) - i
				}
				return false, nil
			}
			if !matches(c, q) {
				continue
			}
			if len(page.Edges) == first {
				page.HasNext = true
				return false, nil
			}
			cur := cursor{Page: p.Number, At: c.StartedAt.UnixMilli(), ID: c.VendorID, Pre: pre}
			page.Edges = append(page.Edges, upstreams.CallEdge{Cursor: cur.encode(), Call: c})
		}
		if p.Next == "" {
			preKnown, post = true, 0
		}
		return true, nil
	})
	if err == nil && exact && total != nil && preKnown && post < 0 {
		post, err = d.countFrom(ctx, op, f, q.Range.To)
	}
	d.health.Observe(err)
	if err != nil {
		return nil, err
	}
	if exact && total != nil && preKnown && post >= 0 && *total-pre-post >= 0 {
		page.TotalCount = model.Ptr(*total - pre - post)
	}
	return page, nil
}

// countFrom counts the calls of f created at or after to, which the vendor's total counts
// although they are outside the range: they are among the calls updated since to, few
// when to is recent. One request; -1 when they do not fit in one page.
func (d *Driver) countFrom(ctx context.Context, op string, f CallFilter, to time.Time) (int, error) {
	f.UpdatedFrom, f.SortColumn, f.SortDirection = to, "", ""
	p, err := d.client.Fetch(ctx, op, d.client.PageURL(f, 1, MaxPer))
	if err != nil {
		return -1, err
	}
	ms, err := mapCallsBody(d.spec, op, p.Body)
	if err != nil {
		return -1, err
	}
	if p.Total == nil || *p.Total > len(ms) {
		return -1, nil
	}
	n := 0
	for _, m := range ms {
		if !m.call.StartedAt.Before(to) {
			n++
		}
	}
	return n, nil
}

// byIDs fetches calls by id[] in batches of at most MaxPer ids, one request per batch.
func (d *Driver) byIDs(ctx context.Context, op string, ids []string) (map[string]*mapped, error) {
	var uniq []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(uniq, id) {
			uniq = append(uniq, id)
		}
	}
	out := make(map[string]*mapped, len(uniq))
	for batch := range slices.Chunk(uniq, MaxPer) {
		err := d.client.Walk(ctx, op, CallFilter{IDs: batch}, MaxPer, 1, func(p *Page) (bool, error) {
			ms, err := mapCallsBody(d.spec, op, p.Body)
			if err != nil {
				return false, err
			}
			for _, m := range ms {
				if slices.Contains(batch, m.call.VendorID) {
					out[m.call.VendorID] = m
				}
			}
			return true, nil
		})
		d.health.Observe(err)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GetCall fetches one call by id[]; (nil, nil) when the vendor does not have it.
func (d *Driver) GetCall(ctx context.Context, vendorID string) (*model.Call, error) {
	if strings.TrimSpace(vendorID) == "" {
		return nil, d.spec.Errorf("getting call", upstreams.ErrBadArgument, nil, "empty call id")
	}
	ms, err := d.byIDs(ctx, "getting call", []string{vendorID})
	if err != nil {
		return nil, err
	}
	if m, ok := ms[strings.TrimSpace(vendorID)]; ok {
		return m.call, nil
	}
	return nil, nil
}

// LoadCallLegs loads the legs of many calls, MaxPer calls per request.
func (d *Driver) LoadCallLegs(ctx context.Context, ids []string) (map[string][]*model.CallLeg, error) {
	ms, err := d.byIDs(ctx, "loading call legs", ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]*model.CallLeg, len(ms))
	for id, m := range ms {
		out[id] = m.call.Legs
		if out[id] == nil {
			out[id] = []*model.CallLeg{}
		}
	}
	return out, nil
}

// LoadQueueSegments loads the queue segments of many calls, MaxPer calls per request.
func (d *Driver) LoadQueueSegments(ctx context.Context, ids []string) (map[string][]*model.QueueSegment, error) {
	ms, err := d.byIDs(ctx, "loading queue segments", ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]*model.QueueSegment, len(ms))
	for id, m := range ms {
		out[id] = m.call.QueueSegments
		if out[id] == nil {
			out[id] = []*model.QueueSegment{}
		}
	}
	return out, nil
}

// collect reads every call of filter f (sorted by created_at) started before to (zero: no
// bound), stopping at the first later one.
func (d *Driver) collect(ctx context.Context, op string, f CallFilter, to time.Time) ([]*mapped, error) {
	var out []*mapped
	err := d.client.Walk(ctx, op, f, d.cfg.PerPage, 1, func(p *Page) (bool, error) {
		ms, err := mapCallsBody(d.spec, op, p.Body)
		if err != nil {
			return false, err
		}
		for _, m := range ms {
			if !to.IsZero() && !m.call.StartedAt.Before(to) && f.SortColumn == "created_at" {
				return false, nil
			}
			out = append(out, m)
		}
		return true, nil
	})
	d.health.Observe(err)
	return out, err
}

// rangeCalls returns the calls started in r (and older ones updated since r.From).
func (d *Driver) rangeCalls(ctx context.Context, op string, r upstreams.TimeRange) ([]*mapped, error) {
	return d.collect(ctx, op, CallFilter{UpdatedFrom: r.From, SortColumn: "created_at", SortDirection: "asc"}, r.To)
}

// ListQueues derives the queues and their stats from the calls of r plus the calls
// queued now. The endpoint has no queue list: a queue appears once a call has used it.
func (d *Driver) ListQueues(ctx context.Context, r upstreams.TimeRange) ([]*model.Queue, error) {
	const op = "listing queues"
	calls, err := d.rangeCalls(ctx, op, r)
	if err != nil {
		return nil, err
	}
	queued, err := d.collect(ctx, op, CallFilter{CallStatuses: []string{"queued"}}, time.Time{})
	if err != nil {
		return nil, err
	}
	return d.queueStats(mergeCalls(calls, queued), r, d.now()), nil
}

func mergeCalls(lists ...[]*mapped) []*mapped {
	seen := map[string]int{}
	var out []*mapped
	for _, l := range lists {
		for _, m := range l {
			if i, ok := seen[m.call.VendorID]; ok {
				if !m.updated.Before(out[i].updated) {
					out[i] = m
				}
				continue
			}
			seen[m.call.VendorID] = len(out)
			out = append(out, m)
		}
	}
	return out
}

// queueStats builds every queue seen in calls with stats derived over r at now.
func (d *Driver) queueStats(ms []*mapped, r upstreams.TimeRange, now time.Time) []*model.Queue {
	infos := map[string]*queueInfo{}
	calls := make([]*model.Call, 0, len(ms))
	for _, m := range ms {
		calls = append(calls, m.call)
		for _, qi := range m.queues {
			cur, ok := infos[qi.vendorID]
			if !ok {
				cp := qi
				infos[qi.vendorID] = &cp
				continue
			}
			if qi.name != "" {
				cur.name = qi.name
			}
			if qi.slaSeconds > 0 {
				cur.slaSeconds = qi.slaSeconds
			}
			if qi.shortAbandon > 0 {
				cur.shortAbandon = qi.shortAbandon
			}
			if qi.raw != nil {
				cur.raw = qi.raw
			}
		}
	}
	out := make([]*model.Queue, 0, len(infos))
	for id, qi := range infos {
		q := &model.Queue{
			ID: model.GlobalID(model.KindQueue, d.spec.ID, id), VendorID: id,
			SourceID: d.spec.ID, Vendor: d.spec.Vendor, Name: qi.name,
			Channel: model.Ptr(model.ChannelVoice), Raw: qi.raw,
		}
		if q.Name == "" {
			q.Name = id
		}
		if qi.slaSeconds > 0 {
			q.SLASeconds = model.Ptr(qi.slaSeconds)
		}
		q.Stats = derive.QueueStats(calls, id, r, now, derive.QueueOptions{SLASeconds: qi.slaSeconds, ShortAbandonSeconds: qi.shortAbandon})
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *model.Queue) int { return compareKey(time.Time{}, a.VendorID, time.Time{}, b.VendorID) })
	return out
}

// CallVolume derives call volume from the calls of the range.
func (d *Driver) CallVolume(ctx context.Context, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	ms, err := d.rangeCalls(ctx, "reading call volume", q.Range)
	if err != nil {
		return nil, err
	}
	calls := make([]*model.Call, len(ms))
	for i, m := range ms {
		calls[i] = m.call
	}
	return derive.CallVolume(calls, q.Range, q.Interval), nil
}
