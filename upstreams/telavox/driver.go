// Package telavox is the driver for Telavox Stream Liner (Studio API): call history, agent
// legs and queue segments from its GraphQL statistics API, live calls from its WebSockets,
// and agent states and queue figures derived from both. See README.md.
package telavox

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// Vendor is the registry name of this driver.
const Vendor = "telavox"

// Config is the source's options (spec.Options). Secret: "token", the Statistics token.
type Config struct {
	// LiveURL is the base of the live WebSockets (/calls, /queues, /agents); default: the
	// source URL with scheme ws/wss.
	LiveURL string `json:"liveURL"`
	// SLASeconds is the service-level threshold of queues not listed in Queues [20].
	SLASeconds int `json:"slaSeconds"`
	// ShortAbandonSeconds is the short-abandon threshold in seconds [5].
	ShortAbandonSeconds int `json:"shortAbandonSeconds"`
	// PageSize is the `first` of each GraphQL request, 1..500 [100].
	PageSize int `json:"pageSize"`
	// LookbackDays is how many days back GetCall searches for a call it has not seen [7].
	LookbackDays int `json:"lookbackDays"`
	// Timeout bounds each HTTP request and WebSocket handshake [10s].
	Timeout upstreams.Duration `json:"timeout"`
	// RatePerSecond limits GraphQL requests (Telavox throttles, limits unpublished) [10].
	RatePerSecond float64 `json:"ratePerSecond"`
	// Queues are known queues (listed even without traffic) and their SLA thresholds.
	Queues []QueueConfig `json:"queues"`
	// Agents are known agents (reported AVAILABLE while no call is seen for them).
	Agents []AgentConfig `json:"agents"`
}

// QueueConfig describes one queue; ID is Telavox's queue id.
type QueueConfig struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	SLASeconds int    `json:"slaSeconds"` // [Config.SLASeconds]
}

// AgentConfig describes one agent; ID is Telavox's agent id.
type AgentConfig struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Queues []string `json:"queues"` // queue ids the agent serves
}

// Driver is one Telavox source.
type Driver struct {
	spec   upstreams.SourceSpec
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	health *upstreams.HealthTracker
	c      *client
	m      mapper
	times  *callTimes
}

var (
	_ upstreams.Driver             = (*Driver)(nil)
	_ upstreams.Constructor        = New
	_ upstreams.CallLister         = (*Driver)(nil)
	_ upstreams.CallGetter         = (*Driver)(nil)
	_ upstreams.CallLegLoader      = (*Driver)(nil)
	_ upstreams.QueueSegmentLoader = (*Driver)(nil)
	_ upstreams.QueueLister        = (*Driver)(nil)
	_ upstreams.CallVolumer        = (*Driver)(nil)
	_ upstreams.Streamer           = (*Driver)(nil)
)

// New builds a driver. It does not contact Telavox.
func New(_ context.Context, spec upstreams.SourceSpec, deps upstreams.Deps) (upstreams.Driver, error) {
	var cfg Config
	if err := upstreams.DecodeOptions(spec, &cfg); err != nil {
		return nil, err
	}
	cfg.SLASeconds = cmp.Or(cfg.SLASeconds, 20)
	cfg.ShortAbandonSeconds = cmp.Or(cfg.ShortAbandonSeconds, derive.DefaultShortAbandonSeconds)
	cfg.PageSize = min(max(cmp.Or(cfg.PageSize, 100), 1), 500)
	cfg.LookbackDays = cmp.Or(cfg.LookbackDays, 7)
	cfg.RatePerSecond = cmp.Or(cfg.RatePerSecond, 10)
	if spec.Secret == nil {
		return nil, fmt.Errorf("source %q: secret \"token\" is required", spec.ID)
	}
	if _, err := spec.Secret("token"); err != nil {
		return nil, fmt.Errorf("source %q: secret \"token\": %w", spec.ID, err)
	}
	timeout := cfg.Timeout.Or(10 * time.Second)
	hc, err := httpc.New(spec, deps.HTTPClient, httpc.Config{Timeout: timeout, RatePerSec: cfg.RatePerSecond, Burst: 10})
	if err != nil {
		return nil, err
	}
	live, err := liveURL(spec.URL, cfg.LiveURL)
	if err != nil {
		return nil, fmt.Errorf("source %q: liveURL: %w", spec.ID, err)
	}
	ws := &http.Client{}
	if deps.HTTPClient != nil {
		ws.Transport = deps.HTTPClient.Transport
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	health := upstreams.NewHealthTracker(deps.Now)
	d := &Driver{
		spec: spec, cfg: cfg, now: deps.Clock(), health: health,
		log:   logger.With("vendor", spec.Vendor, "source", spec.ID, "tenant", spec.Tenant),
		c:     &client{spec: spec, http: hc, ws: ws, liveURL: live, health: health, timeout: timeout},
		times: newCallTimes(20000),
	}
	d.m = mapper{spec: spec, sla: d.slaFor}
	return d, nil
}

// liveURL is the configured WebSocket base, or the source URL with a ws scheme.
func liveURL(base, configured string) (string, error) {
	u, err := url.Parse(cmp.Or(configured, base))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute URL", cmp.Or(configured, base))
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("scheme %q is not ws, wss, http or https", u.Scheme)
	}
	return u.String(), nil
}

// Spec returns the source.
func (d *Driver) Spec() upstreams.SourceSpec { return d.spec }

// Health returns the source's health as of the last request.
func (d *Driver) Health() model.SourceHealth { return d.health.Health() }

// Close releases nothing: requests and streams are bounded by their contexts.
func (d *Driver) Close() error { return nil }

func (d *Driver) slaFor(id, name string) int {
	for _, q := range d.cfg.Queues {
		if (id != "" && q.ID == id) || (id == "" && name != "" && q.Name == name) {
			return cmp.Or(q.SLASeconds, d.cfg.SLASeconds)
		}
	}
	return d.cfg.SLASeconds
}

// cursor is the per-edge position: the vendor cursor of the page and how many records of
// it to skip. Telavox hands out one cursor per page, so an edge in the middle of a page is
// "the page's starting cursor plus an offset".
type cursor struct {
	After string `json:"a,omitempty"`
	Skip  int    `json:"s,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err == nil && c.Skip < 0 {
		err = fmt.Errorf("negative offset")
	}
	return c, err
}

// ListCalls pages callOverview. Only the time range is pushed upstream (the API has no
// other filter); totalCount is reported only when no other filter is asked.
func (d *Driver) ListCalls(ctx context.Context, q upstreams.CallQuery) (*upstreams.CallPage, error) {
	const op = "listing calls"
	cur, err := decodeCursor(q.After)
	if err != nil {
		return nil, d.spec.Errorf(op, upstreams.ErrBadArgument, err, "malformed cursor")
	}
	first := min(max(q.First, 1), 100)
	out := &upstreams.CallPage{Edges: []upstreams.CallEdge{}}
	for range maxPages {
		p, err := d.c.fetchPage(ctx, op, "callOverview", callFields, q.Range, min(d.cfg.PageSize, cur.Skip+first-len(out.Edges)), cur.After)
		if err != nil {
			return nil, err
		}
		if q.Direction == nil && len(q.Outcomes) == 0 && len(q.Queues) == 0 && len(q.Agents) == 0 {
			out.TotalCount = p.TotalCount
		}
		rest := p.Data[min(cur.Skip, len(p.Data)):]
		take := rest[:min(first-len(out.Edges), len(rest))]
		calls, err := d.mapCalls(ctx, op, take)
		if err != nil {
			return nil, err
		}
		next := ""
		if p.Cursor != nil {
			next = *p.Cursor
		}
		for i, c := range calls {
			pos := cur.Skip + i + 1
			ec := cursor{After: cur.After, Skip: pos}
			if pos == len(p.Data) && next != "" {
				ec = cursor{After: next}
			}
			out.Edges = append(out.Edges, upstreams.CallEdge{Cursor: ec.encode(), Call: c})
		}
		if len(out.Edges) == first {
			out.HasNext = cur.Skip+len(take) < len(p.Data) || p.HasNextPage
			return out, nil
		}
		if !p.HasNextPage {
			return out, nil
		}
		if next == "" || len(p.Data) == 0 {
			return nil, d.spec.FieldError(op, "data.callOverview.cursor", fmt.Errorf("hasNextPage without a cursor"))
		}
		cur = cursor{After: next, Skip: max(0, cur.Skip-len(p.Data))}
	}
	return nil, d.spec.Errorf(op, upstreams.ErrBadArgument, nil, "cursor skips too far")
}

// mapCalls maps historic call records, filling voicemail from the other overviews (see
// fillVoicemail), and remembers each call's time span for the leg and segment loaders.
func (d *Driver) mapCalls(ctx context.Context, op string, recs []json.RawMessage) ([]*model.Call, error) {
	docs := make([]*callDoc, len(recs))
	for i, raw := range recs {
		var doc callDoc
		if err := d.m.decode(op, raw, false, &doc); err != nil {
			return nil, err
		}
		doc.Raw = append(json.RawMessage(nil), raw...)
		docs[i] = &doc
	}
	if err := d.fillVoicemail(ctx, op, docs); err != nil {
		return nil, err
	}
	calls := make([]*model.Call, len(docs))
	for i, doc := range docs {
		c, err := d.m.call(op, doc, false)
		if err != nil {
			return nil, err
		}
		d.times.remember(c)
		calls[i] = c
	}
	return calls, nil
}

// fillVoicemail sets the voicemail flag of ended, unanswered historic calls: callOverview
// has no voicemail field, while queueOverview and agentOverview have one per record. One
// request (or a few pages) per overview covers all such calls of a page.
func (d *Driver) fillVoicemail(ctx context.Context, op string, docs []*callDoc) error {
	var viaQueue, viaAgent []*callDoc
	for _, c := range docs {
		if c.Voicemail.OK || c.Active.isTrue() || c.Answered.isTrue() || c.OnHookedCalls.callback() || c.Time == nil || !c.Time.Start.OK ||
			direction(c.Internal, c.CallDirection) == model.DirectionOutbound {
			continue
		}
		switch {
		case c.QueueFirst != nil || len(c.QueueList) > 0:
			viaQueue = append(viaQueue, c)
		case c.AgentFirst != nil || len(c.AgentList) > 0:
			viaAgent = append(viaAgent, c)
		}
	}
	for _, g := range []struct {
		root string
		docs []*callDoc
	}{{"queueOverview", viaQueue}, {"agentOverview", viaAgent}} {
		if len(g.docs) == 0 {
			continue
		}
		want := map[string]*callDoc{}
		var r upstreams.TimeRange
		for _, c := range g.docs {
			want[c.IDCall] = c
			end := c.Time.Start.T
			if c.Time.End.OK {
				end = c.Time.End.T
			}
			if r.From.IsZero() || c.Time.Start.T.Before(r.From) {
				r.From = c.Time.Start.T
			}
			r.To = maxTime(r.To, end.Add(time.Second))
		}
		for _, c := range g.docs {
			c.Voicemail = num{OK: true}
		}
		err := d.c.fetchAll(ctx, op, g.root, "idCall voicemail", r, 500, func(raw json.RawMessage) error {
			var rec struct {
				IDCall    string `json:"idCall"`
				Voicemail num    `json:"voicemail"`
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				return d.spec.FieldError(op, g.root+".voicemail", err)
			}
			if c := want[rec.IDCall]; c != nil && rec.Voicemail.isTrue() {
				c.Voicemail = rec.Voicemail
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// GetCall finds one call. callOverview cannot filter by id: the driver searches the time
// window it remembers for the id (from earlier lists, streams and loads), else the last
// LookbackDays days, newest day first.
func (d *Driver) GetCall(ctx context.Context, vendorID string) (*model.Call, error) {
	found, err := d.locate(ctx, "getting call", []string{vendorID})
	if err != nil {
		return nil, err
	}
	return found[vendorID], nil
}

// locate searches call records by id, as GetCall describes.
func (d *Driver) locate(ctx context.Context, op string, ids []string) (map[string]*model.Call, error) {
	found := map[string]*model.Call{}
	want := map[string]bool{}
	var windows []upstreams.TimeRange
	for _, id := range ids {
		want[id] = true
		if s, ok := d.times.get(id); ok {
			windows = append(windows, upstreams.TimeRange{From: s.start, To: s.start.Add(time.Second)})
		}
	}
	end := d.now().UTC().Truncate(time.Second).Add(time.Second)
	for i := range d.cfg.LookbackDays {
		windows = append(windows, upstreams.TimeRange{From: end.Add(-time.Duration(i+1) * 24 * time.Hour), To: end.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	for _, w := range mergeWindows(windows[:len(windows)-d.cfg.LookbackDays], 0) {
		if err := d.searchWindow(ctx, op, w, want, found); err != nil || len(found) == len(want) {
			return found, err
		}
	}
	for _, w := range windows[len(windows)-d.cfg.LookbackDays:] {
		if err := d.searchWindow(ctx, op, w, want, found); err != nil || len(found) == len(want) {
			return found, err
		}
	}
	return found, nil
}

func (d *Driver) searchWindow(ctx context.Context, op string, w upstreams.TimeRange, want map[string]bool, found map[string]*model.Call) error {
	var hits []json.RawMessage
	err := d.c.fetchAll(ctx, op, "callOverview", callFields, w, d.cfg.PageSize, func(raw json.RawMessage) error {
		var rec struct {
			IDCall string `json:"idCall"`
		}
		if json.Unmarshal(raw, &rec) == nil && want[rec.IDCall] && found[rec.IDCall] == nil {
			hits = append(hits, raw)
		}
		return nil
	})
	if err != nil {
		return err
	}
	calls, err := d.mapCalls(ctx, op, hits)
	for _, c := range calls {
		found[c.VendorID] = c
	}
	return err
}

// spans returns the time windows covering the calls' spans, searching for calls it has not
// seen; ids it cannot find are left out of known.
func (d *Driver) spans(ctx context.Context, op string, ids []string) ([]upstreams.TimeRange, map[string]bool, error) {
	var missing []string
	for _, id := range ids {
		if _, ok := d.times.get(id); !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		if _, err := d.locate(ctx, op, missing); err != nil {
			return nil, nil, err
		}
	}
	known := map[string]bool{}
	var ws []upstreams.TimeRange
	now := d.now().UTC()
	for _, id := range ids {
		s, ok := d.times.get(id)
		if !ok {
			continue
		}
		known[id] = true
		end := s.end
		if s.open {
			end = now
		}
		ws = append(ws, upstreams.TimeRange{From: s.start, To: maxTime(end, s.start).Add(time.Second)})
	}
	return mergeWindows(ws, 30*time.Minute), known, nil
}

// mergeWindows sorts windows and joins those less than gap apart.
func mergeWindows(ws []upstreams.TimeRange, gap time.Duration) []upstreams.TimeRange {
	ws = slices.Clone(ws)
	sort.Slice(ws, func(i, j int) bool { return ws[i].From.Before(ws[j].From) })
	var out []upstreams.TimeRange
	for _, w := range ws {
		if n := len(out); n > 0 && !w.From.After(out[n-1].To.Add(gap)) {
			out[n-1].To = maxTime(out[n-1].To, w.To)
			continue
		}
		out = append(out, w)
	}
	return out
}

// LoadCallLegs reads agentOverview over the merged time spans of the calls (one paged
// request per cluster of calls less than 30 minutes apart) and keeps their records.
func (d *Driver) LoadCallLegs(ctx context.Context, ids []string) (map[string][]*model.CallLeg, error) {
	const op = "loading call legs"
	windows, known, err := d.spans(ctx, op, ids)
	if err != nil {
		return nil, err
	}
	out := map[string][]*model.CallLeg{}
	for id := range known {
		out[id] = []*model.CallLeg{}
	}
	seen := map[string]bool{}
	for _, w := range windows {
		err := d.c.fetchAll(ctx, op, "agentOverview", legFields, w, d.cfg.PageSize, func(raw json.RawMessage) error {
			id := idOf(raw)
			if !known[id] {
				return nil
			}
			_, l, err := d.m.decodeLeg(op, raw, false)
			if err != nil {
				return err
			}
			if k := id + "/" + l.ID; !seen[k] {
				seen[k] = true
				out[id] = append(out[id], l)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, ls := range out {
		slices.SortStableFunc(ls, func(a, b *model.CallLeg) int { return cmpTime(a.OfferedAt, b.OfferedAt) })
	}
	return out, nil
}

// LoadQueueSegments reads queueOverview the same way as LoadCallLegs.
func (d *Driver) LoadQueueSegments(ctx context.Context, ids []string) (map[string][]*model.QueueSegment, error) {
	const op = "loading queue segments"
	windows, known, err := d.spans(ctx, op, ids)
	if err != nil {
		return nil, err
	}
	out := map[string][]*model.QueueSegment{}
	for id := range known {
		out[id] = []*model.QueueSegment{}
	}
	seen := map[string]bool{}
	for _, w := range windows {
		err := d.c.fetchAll(ctx, op, "queueOverview", segFields, w, d.cfg.PageSize, func(raw json.RawMessage) error {
			id := idOf(raw)
			if !known[id] {
				return nil
			}
			_, s, err := d.m.decodeSegment(op, raw, false)
			if err != nil {
				return err
			}
			k := fmt.Sprintf("%s/%s/%v", id, *s.Queue.ID, s.EnteredAt)
			if !seen[k] {
				seen[k] = true
				out[id] = append(out[id], s)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, ss := range out {
		slices.SortStableFunc(ss, func(a, b *model.QueueSegment) int { return cmpTime(a.EnteredAt, b.EnteredAt) })
	}
	return out, nil
}

func idOf(raw json.RawMessage) string {
	var rec struct {
		IDCall string `json:"idCall"`
	}
	_ = json.Unmarshal(raw, &rec)
	return rec.IDCall
}

func cmpTime(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return a.Compare(*b)
}

// ListQueues derives each queue's figures from queueOverview over r with derive.QueueStats.
// Queues are those configured plus those seen in r.
func (d *Driver) ListQueues(ctx context.Context, r upstreams.TimeRange) ([]*model.Queue, error) {
	const op = "listing queues"
	qs := newQueueSet(d.m, d.cfg)
	err := d.c.fetchAll(ctx, op, "queueOverview", segFields, r, d.cfg.PageSize, func(raw json.RawMessage) error {
		doc, s, err := d.m.decodeSegment(op, raw, false)
		if err != nil {
			return err
		}
		qs.add(doc, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return qs.queues(r, d.now(), d.cfg), nil
}

// CallVolume derives call volume from callOverview over the range with derive.CallVolume.
func (d *Driver) CallVolume(ctx context.Context, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	const op = "reading call volume"
	var calls []*model.Call
	err := d.c.fetchAll(ctx, op, "callOverview", callFields, q.Range, d.cfg.PageSize, func(raw json.RawMessage) error {
		c, err := d.m.decodeCall(op, raw, false)
		if err != nil {
			return err
		}
		calls = append(calls, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return derive.CallVolume(calls, q.Range, q.Interval), nil
}

// queueSet gathers queue records per queue for derive.QueueStats.
type queueSet struct {
	m     mapper
	meta  map[string]*queueDoc // by queue key
	order []string
	calls map[string]*model.Call // by call id + queue key
}

func newQueueSet(m mapper, cfg Config) *queueSet {
	qs := &queueSet{m: m, meta: map[string]*queueDoc{}, calls: map[string]*model.Call{}}
	for _, q := range cfg.Queues {
		qs.note(&queueDoc{ID: ident(q.ID), Name: q.Name})
	}
	return qs
}

func queueKey(q *queueDoc) string { return cmp.Or(string(q.ID), q.Name) }

func (qs *queueSet) note(q *queueDoc) string {
	k := queueKey(q)
	if old, ok := qs.meta[k]; !ok {
		qs.order = append(qs.order, k)
	} else if q.Name == "" {
		q.Name = old.Name
	}
	qs.meta[k] = q
	return k
}

// add records (or replaces) the record of one call in one queue.
func (qs *queueSet) add(d *segDoc, s *model.QueueSegment) string {
	k := qs.note(d.Queue)
	qs.calls[d.IDCall+"\x00"+k+"\x00"+fmt.Sprint(s.EnteredAt)] = segmentCall(d, s)
	return k
}

// prune drops records of calls that entered before from and have left the queue.
func (qs *queueSet) prune(from time.Time) {
	for k, c := range qs.calls {
		s := c.QueueSegments[0]
		if c.EndedAt != nil && s.EnteredAt != nil && s.EnteredAt.Before(from) {
			delete(qs.calls, k)
		}
	}
}

func (qs *queueSet) stats(key string, r upstreams.TimeRange, now time.Time, cfg Config) *model.QueueStats {
	calls := make([]*model.Call, 0, len(qs.calls))
	for _, c := range qs.calls {
		calls = append(calls, c)
	}
	q := qs.meta[key]
	return derive.QueueStats(calls, key, r, now, derive.QueueOptions{SLASeconds: qs.m.slaOf(q.ref()), ShortAbandonSeconds: cfg.ShortAbandonSeconds})
}

func (qs *queueSet) queue(key string, r upstreams.TimeRange, now time.Time, cfg Config) *model.Queue {
	return qs.m.queue(qs.meta[key], qs.stats(key, r, now, cfg))
}

func (qs *queueSet) queues(r upstreams.TimeRange, now time.Time, cfg Config) []*model.Queue {
	out := make([]*model.Queue, 0, len(qs.order))
	for _, k := range qs.order {
		out = append(out, qs.queue(k, r, now, cfg))
	}
	return out
}

// callTimes remembers the time span of calls the driver has seen, so that legs and
// segments of a call can be asked for its window (the API filters by time only). Bounded:
// the oldest entries are forgotten first.
type callTimes struct {
	mu    sync.Mutex
	max   int
	spans map[string]span
	order []string
}

type span struct {
	start, end time.Time
	open       bool
}

func newCallTimes(n int) *callTimes { return &callTimes{max: n, spans: map[string]span{}} }

func (t *callTimes) remember(c *model.Call) {
	s := span{start: c.StartedAt, end: c.StartedAt, open: c.EndedAt == nil}
	if c.EndedAt != nil {
		s.end = *c.EndedAt
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.spans[c.VendorID]; !ok {
		if len(t.order) >= t.max {
			delete(t.spans, t.order[0])
			t.order = t.order[1:]
		}
		t.order = append(t.order, c.VendorID)
	}
	t.spans[c.VendorID] = s
}

func (t *callTimes) get(id string) (span, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.spans[id]
	return s, ok
}
