// Package sobot is the driver for the Sobot call center Data Service API (V6): talk lists
// (calls and their agent legs), agent metrics now and live over SSE, agent status logs,
// statistical reports, and signed webhook pushes for live calls and agent status.
package sobot

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// Vendor is the registry name of this driver.
const Vendor = "sobot"

// Secret names read from the source's configuration.
const (
	SecretAppID     = "appId"     // used when Options has no appId
	SecretAppSecret = "appSecret" // signs the token request (required)
	SecretAppKey    = "appKey"    // verifies webhook pushes (webhooks refused without it)
)

// TenantQueueID is the vendor id of the one queue Sobot's monitoring describes: all agents
// of the company (the summary has no per-skill-group figures).
const TenantQueueID = "all"

// Config is the source's Options. Zero values take the defaults in brackets.
type Config struct {
	// AppID identifies the API application; may instead be the secret "appId".
	AppID string `json:"appId"`
	// CompanyID is the enterprise id; it is part of the webhook signature.
	CompanyID string `json:"companyId"`
	// TokenPath is the company token endpoint under the source URL [/tokens/company].
	TokenPath string `json:"tokenPath"`
	// TokenLifetime is assumed when a token carries no exp claim [1h].
	TokenLifetime upstreams.Duration `json:"tokenLifetime"`
	// TimeZone is sent as the timezoneid header; report dates and status-log times are
	// read in it [UTC].
	TimeZone string `json:"timezone"`
	// PageSize is the pageSize of every paged request [100].
	PageSize int `json:"pageSize"`
	// LegConcurrency bounds parallel partycdrs requests when loading legs [4].
	LegConcurrency int `json:"legConcurrency"`
	// HideNumber is the hideNumber flag: 2 plaintext (the gateway masks PII itself) [2].
	HideNumber int `json:"hideNumber"`
	// Product is the monitoring "product" parameter [scc].
	Product string `json:"product"`
	// OperatorUserID is required by agents-metrics with a company token.
	OperatorUserID string `json:"operatorUserId"`
	// DepartmentIDs narrow agents-metrics and its watch.
	DepartmentIDs []string `json:"departmentIds"`
	// WatchPageSize is the pageSize of agents-metrics and its SSE watch [200].
	WatchPageSize int `json:"watchPageSize"`
	// AgentReportCounters adds today's agent report durations to listed agents [true].
	AgentReportCounters *bool `json:"agentReportCounters"`
	// Recordings exposes recordUrl as the call's recording URL [true].
	Recordings *bool `json:"recordings"`
	// WebhookWindow is how far a push's X-Log-TimeStamp may be from now [5m].
	WebhookWindow upstreams.Duration `json:"webhookWindow"`
	// WebhookMaxBytes caps a push body [1 MiB].
	WebhookMaxBytes int64 `json:"webhookMaxBytes"`
	// ReplayCacheSize bounds the remembered X-Log-RandomCode values [100000].
	ReplayCacheSize int `json:"replayCacheSize"`
	// MaxLiveCalls bounds the calls held from pushes until they end [10000].
	MaxLiveCalls int `json:"maxLiveCalls"`
	// Timeout is the per-request timeout [10s].
	Timeout upstreams.Duration `json:"timeout"`
	// RatePerSecond limits requests to the source; 0 = unlimited.
	RatePerSecond float64 `json:"ratePerSecond"`
}

func (c *Config) defaults() {
	if c.TokenPath == "" {
		c.TokenPath = "/tokens/company"
	}
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	if c.PageSize <= 0 {
		c.PageSize = 100
	}
	if c.LegConcurrency <= 0 {
		c.LegConcurrency = 4
	}
	if c.HideNumber == 0 {
		c.HideNumber = 2
	}
	if c.Product == "" {
		c.Product = "scc"
	}
	if c.WatchPageSize <= 0 {
		c.WatchPageSize = 200
	}
	if c.WebhookMaxBytes <= 0 {
		c.WebhookMaxBytes = 1 << 20
	}
	if c.ReplayCacheSize <= 0 {
		c.ReplayCacheSize = 100_000
	}
	if c.MaxLiveCalls <= 0 {
		c.MaxLiveCalls = 10_000
	}
}

// Driver serves one Sobot source.
type Driver struct {
	spec   upstreams.SourceSpec
	cfg    Config
	c      *client
	m      mapper
	now    func() time.Time
	log    *slog.Logger
	health *upstreams.HealthTracker
	appKey string
	live   *live
	hook   *webhook
	// legSem bounds partycdrs requests across all concurrent LoadCallLegs calls of the
	// source: the gateway's dataloader may run several batches at once.
	legSem chan struct{}
}

var (
	_ upstreams.Driver            = (*Driver)(nil)
	_ upstreams.CallLister        = (*Driver)(nil)
	_ upstreams.CallGetter        = (*Driver)(nil)
	_ upstreams.CallLegLoader     = (*Driver)(nil)
	_ upstreams.AgentLister       = (*Driver)(nil)
	_ upstreams.AgentHistorian    = (*Driver)(nil)
	_ upstreams.CallVolumer       = (*Driver)(nil)
	_ upstreams.QueueTimeserieser = (*Driver)(nil)
	_ upstreams.Streamer          = (*Driver)(nil)
	_ upstreams.WebhookReceiver   = (*Driver)(nil)
	_ upstreams.Constructor       = New
)

// New builds the driver; it does not contact Sobot.
func New(_ context.Context, spec upstreams.SourceSpec, deps upstreams.Deps) (upstreams.Driver, error) {
	var cfg Config
	if err := upstreams.DecodeOptions(spec, &cfg); err != nil {
		return nil, err
	}
	cfg.defaults()
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("source %q: option timezone: %w", spec.ID, err)
	}
	secret := func(name string) string {
		if spec.Secret == nil {
			return ""
		}
		v, err := spec.Secret(name)
		if err != nil {
			return ""
		}
		return v
	}
	appID := cfg.AppID
	if appID == "" {
		appID = secret(SecretAppID)
	}
	if appID == "" {
		return nil, fmt.Errorf("source %q: option appId (or secret %q) is required", spec.ID, SecretAppID)
	}
	appSecret := secret(SecretAppSecret)
	if appSecret == "" {
		return nil, fmt.Errorf("source %q: secret %q is required", spec.ID, SecretAppSecret)
	}
	hc, err := httpc.New(spec, deps.HTTPClient, httpc.Config{Timeout: cfg.Timeout.D, RatePerSec: cfg.RatePerSecond})
	if err != nil {
		return nil, err
	}
	stream := &http.Client{Transport: http.DefaultTransport}
	if deps.HTTPClient != nil && deps.HTTPClient.Transport != nil {
		stream.Transport = deps.HTTPClient.Transport
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("vendor", spec.Vendor, "source", spec.ID, "tenant", spec.Tenant)
	now := deps.Clock()
	d := &Driver{
		legSem: make(chan struct{}, cfg.LegConcurrency),
		spec:   spec, cfg: cfg, now: now, log: logger,
		m:      newMapper(spec.ID, spec.Vendor, loc),
		health: upstreams.NewHealthTracker(now),
		appKey: secret(SecretAppKey),
		c: &client{spec: spec, cfg: cfg, http: hc, stream: stream, appID: appID, appSecret: appSecret,
			now: now},
		live: newLive(cfg.MaxLiveCalls),
	}
	d.hook = newWebhook(d)
	return d, nil
}

// Spec returns the source.
func (d *Driver) Spec() upstreams.SourceSpec { return d.spec }

// Health returns the source's health.
func (d *Driver) Health() model.SourceHealth { return d.health.Health() }

// Close releases nothing: streams end with their contexts.
func (d *Driver) Close() error { return nil }

// HasRecordings reports that calls carry Sobot's recordUrl.
func (d *Driver) HasRecordings() bool { return d.cfg.Recordings == nil || *d.cfg.Recordings }

// observe records the outcome of a call for health and passes err through.
func (d *Driver) observe(err error) error {
	d.health.Observe(err)
	return err
}

// mapErr turns a mapping failure into an upstreams.Error naming the field.
func (d *Driver) mapErr(op, prefix string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return d.spec.FieldError(op, prefix+fe.field, fe.err)
	}
	return d.spec.FieldError(op, strings.TrimSuffix(prefix, "."), err)
}

// cursor is the position of one call: its vendor page (of cfg.PageSize) and index there.
type cursor struct {
	Page  int `json:"p"`
	Index int `json:"i"`
	Size  int `json:"s"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Page < 1 || c.Index < 0 || c.Size < 1 {
		return cursor{}, errors.New("malformed cursor")
	}
	return c, nil
}

// ListCalls pages maincdrs/_search. Cursors hold the vendor page and index, so paging
// resumes after any edge whatever the requested page size.
func (d *Driver) ListCalls(ctx context.Context, q upstreams.CallQuery) (*upstreams.CallPage, error) {
	const op = "listing calls"
	first := q.First
	if first <= 0 || first > 100 {
		first = 20
	}
	// A fresh query pages by what was asked for: fetching 100 records to map 20 wasted the
	// upstream and the gateway; the cursor carries the size on.
	pos := cursor{Page: 1, Index: -1, Size: min(d.cfg.PageSize, first)}
	if q.After != "" {
		var err error
		if pos, err = decodeCursor(q.After); err != nil {
			return nil, d.spec.Errorf(op, upstreams.ErrBadArgument, err, "after: malformed cursor")
		}
	}
	body := map[string]any{
		"startTime": q.Range.From.UnixMilli(), "endTime": q.Range.To.UnixMilli(),
		"pageSize": pos.Size, "hideNumber": d.cfg.HideNumber,
	}
	if q.Direction != nil {
		switch *q.Direction {
		case model.DirectionInternal:
			body["callType"] = 1
		case model.DirectionInbound:
			body["callType"] = 2
		case model.DirectionOutbound:
			body["callType"] = 3
		}
	}
	out := &upstreams.CallPage{Edges: []upstreams.CallEdge{}}
	for n := pos.Page; n < pos.Page+maxPages; n++ {
		body["pageNum"] = n
		p, err := d.c.callPage(ctx, op, http.MethodPost, pathMainCDRs, nil, body)
		if err != nil {
			return nil, d.observe(err)
		}
		if p.Total.Set {
			out.TotalCount = p.Total.ptr()
		}
		start := 0
		if n == pos.Page {
			start = pos.Index + 1
		}
		for i := start; i < len(p.List); i++ {
			if len(out.Edges) == first {
				out.HasNext = true
				return out, d.observe(nil)
			}
			if isEmptyObject(p.List[i]) {
				continue
			}
			c, err := d.m.mapCall(p.List[i])
			if err != nil {
				return nil, d.observe(d.mapErr(op, fmt.Sprintf("data.list[%d].", i), err))
			}
			out.Edges = append(out.Edges, upstreams.CallEdge{Cursor: encodeCursor(cursor{Page: n, Index: i, Size: pos.Size}), Call: c})
		}
		more := len(p.List) == pos.Size
		if p.Total.Set {
			more = (n-1)*pos.Size+len(p.List) < int(p.Total.V)
		}
		if len(p.List) == 0 || !more {
			return out, d.observe(nil)
		}
		if len(out.Edges) == first {
			out.HasNext = true
			return out, d.observe(nil)
		}
	}
	return nil, d.observe(d.spec.Errorf(op, upstreams.ErrBadResponse, nil, "too many pages"))
}

// GetCall reads one call with its parties from cdrs/_search; (nil, nil) when unknown.
func (d *Driver) GetCall(ctx context.Context, vendorID string) (*model.Call, error) {
	const op = "getting call"
	data, err := d.c.call(ctx, op, http.MethodPost, pathCDRs, nil,
		map[string]any{"callID": strings.TrimSpace(vendorID), "hideNumber": d.cfg.HideNumber}, false)
	if errors.Is(err, upstreams.ErrNotFound) {
		return nil, d.observe(nil)
	}
	if err != nil {
		return nil, d.observe(err)
	}
	c, err := d.m.mapCDRs(data)
	if err != nil {
		return nil, d.observe(d.mapErr(op, "data.", err))
	}
	return c, d.observe(nil)
}

// mapCDRs reads the cdrs/_search data. The document shows two shapes: the return table
// says {call, parties}; the example nests the call (with its parties) in "list".
func (m mapper) mapCDRs(data json.RawMessage) (*model.Call, error) {
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	var shape struct {
		Call    json.RawMessage `json:"call"`
		Parties json.RawMessage `json:"parties"`
		List    json.RawMessage `json:"list"`
	}
	if err := json.Unmarshal(data, &shape); err != nil {
		return nil, fieldErr("(document)", "not an object")
	}
	switch {
	case len(shape.Call) > 0 && string(shape.Call) != "null":
		c, err := m.mapCall(shape.Call)
		if err != nil {
			return nil, within("call", err)
		}
		if len(shape.Parties) > 0 && string(shape.Parties) != "null" {
			var parties []json.RawMessage
			if err := json.Unmarshal(shape.Parties, &parties); err != nil {
				return nil, fieldErr("parties", "want an array")
			}
			if c.Legs, err = m.mapLegs(parties); err != nil {
				return nil, within("parties", err)
			}
			c.LegsLoaded = true
		}
		return c, nil
	case len(shape.List) > 0 && shape.List[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(shape.List, &list); err != nil {
			return nil, fieldErr("list", "want an array")
		}
		if len(list) == 0 {
			return nil, nil
		}
		c, err := m.mapCall(list[0])
		if err != nil {
			return nil, within("list[0]", err)
		}
		return c, nil
	case len(shape.List) > 0 && shape.List[0] == '{':
		c, err := m.mapCall(shape.List)
		if err != nil {
			return nil, within("list", err)
		}
		return c, nil
	}
	return nil, nil
}

// LoadCallLegs reads partycdrs per call (there is no batch endpoint): ids deduplicated,
// at most cfg.LegConcurrency requests at a time across the source. Unknown calls are absent
// from the map.
func (d *Driver) LoadCallLegs(ctx context.Context, ids []string) (map[string][]*model.CallLeg, error) {
	const op = "loading call legs"
	uniq := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      = make(map[string][]*model.CallLeg, len(uniq))
		firstErr error
		wg       sync.WaitGroup
		sem      = d.legSem
	)
	for _, id := range uniq {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			legs, err := d.loadLegs(ctx, op, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
				cancel()
			case err == nil && legs != nil:
				out[id] = legs
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = d.spec.Errorf(op, upstreams.ErrUnavailable, ctx.Err(), "cancelled")
	}
	if firstErr != nil {
		return nil, d.observe(firstErr)
	}
	return out, d.observe(nil)
}

func (d *Driver) loadLegs(ctx context.Context, op, id string) ([]*model.CallLeg, error) {
	p, err := d.c.callPage(ctx, op, http.MethodGet, fmt.Sprintf(pathPartyCDRs, url.PathEscape(id)), nil, nil)
	if errors.Is(err, upstreams.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	legs, err := d.m.mapLegs(p.List)
	if err != nil {
		return nil, d.mapErr(op, "data.", err)
	}
	return legs, nil
}

// metricsQuery is the query of agents-metrics and its watch.
func (d *Driver) metricsQuery(pageNum int) url.Values {
	q := url.Values{"product": {d.cfg.Product}, "pageNum": {fmt.Sprint(pageNum)}, "pageSize": {fmt.Sprint(d.cfg.WatchPageSize)}}
	if d.cfg.OperatorUserID != "" {
		q.Set("operatorUserId", d.cfg.OperatorUserID)
	}
	if len(d.cfg.DepartmentIDs) > 0 {
		q.Set("departmentIds", strings.Join(d.cfg.DepartmentIDs, ","))
	}
	return q
}

// decodeMetrics reads a full agents-metrics message.
func (d *Driver) decodeMetrics(op string, data json.RawMessage) (*metricsMessage, error) {
	var msg metricsMessage
	if err := decodeDoc(data, &msg); err != nil {
		return nil, d.mapErr(op, "", err)
	}
	if msg.AgentsMetrics == nil {
		return nil, d.spec.FieldError(op, "agentsMetrics", errors.New("missing"))
	}
	return &msg, nil
}

// ListAgents pages agents-metrics and, unless disabled, adds today's agent report figures.
func (d *Driver) ListAgents(ctx context.Context) ([]*model.Agent, error) {
	const op = "listing agents"
	var agents []*model.Agent
	for n := 1; n <= maxPages; n++ {
		data, err := d.c.call(ctx, op, http.MethodGet, pathMetrics, d.metricsQuery(n), nil, true)
		if err != nil {
			return nil, d.observe(err)
		}
		msg, err := d.decodeMetrics(op, data)
		if err != nil {
			return nil, d.observe(err)
		}
		for i, raw := range msg.AgentsMetrics.List {
			if isEmptyObject(raw) {
				continue
			}
			a, err := d.m.mapAgent(raw)
			if err != nil {
				return nil, d.observe(d.mapErr(op, fmt.Sprintf("agentsMetrics.list[%d].", i), err))
			}
			agents = append(agents, a)
		}
		p := msg.AgentsMetrics
		if len(p.List) < d.cfg.WatchPageSize || (p.Total.Set && len(agents) >= int(p.Total.V)) {
			break
		}
	}
	if d.cfg.AgentReportCounters == nil || *d.cfg.AgentReportCounters {
		if err := d.addReportCounters(ctx, agents); err != nil {
			// The listing is still right; only the day's durations are missing.
			d.log.Warn("agent report for counters failed", "err", err)
			d.health.Observe(err)
			return agents, nil
		}
	}
	return agents, d.observe(nil)
}

// addReportCounters merges today's agent report (agent dimension) into the agents' counters.
func (d *Driver) addReportCounters(ctx context.Context, agents []*model.Agent) error {
	const op = "reading agent report"
	now := d.now().In(d.m.loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, d.m.loc)
	body := d.reportBody(upstreams.TimeRange{From: day, To: day.AddDate(0, 0, 1)}, model.IntervalDay)
	body["dimensions"] = 8
	body["agentReportType"] = 2
	body["customerFields"] = strings.Join(agentReportFields(), ",")
	rows, err := d.c.searchAll(ctx, op, pathAgentReport, body, "currPage")
	if err != nil {
		return err
	}
	byID, err := d.m.mapAgentReport(rows)
	if err != nil {
		return d.mapErr(op, "data.", err)
	}
	for _, a := range agents {
		r, ok := byID[a.VendorID]
		if !ok {
			continue
		}
		if a.Counters == nil {
			a.Counters = r
			continue
		}
		a.Counters.TalkSeconds, a.Counters.HoldSeconds, a.Counters.WrapUpSeconds = r.TalkSeconds, r.HoldSeconds, r.WrapUpSeconds
		a.Counters.AvailableSeconds, a.Counters.NotReadySeconds = r.AvailableSeconds, r.NotReadySeconds
	}
	return nil
}

// AgentStateHistory pages agent-histories/_search. Its times have minute resolution in
// the configured zone, so the range is widened to whole minutes and spans are then cut
// to those overlapping r.
func (d *Driver) AgentStateHistory(ctx context.Context, agentVendorID string, r upstreams.TimeRange) ([]*model.AgentStateSpan, error) {
	const op = "reading agent state history"
	const layout = "2006-01-02 15:04"
	to := r.To.In(d.m.loc)
	if to.Truncate(time.Minute) != to {
		to = to.Truncate(time.Minute).Add(time.Minute)
	}
	body := map[string]any{
		"startTime": r.From.In(d.m.loc).Truncate(time.Minute).Format(layout), "endTime": to.Format(layout),
		"agent": []string{strings.TrimSpace(agentVendorID)}, "agentType": 1,
	}
	rows, err := d.c.searchAll(ctx, op, pathHistories, body, "pageNum")
	if err != nil {
		return nil, d.observe(err)
	}
	spans := make([]*model.AgentStateSpan, 0, len(rows))
	for i, raw := range rows {
		if isEmptyObject(raw) {
			continue
		}
		s, err := d.m.mapSpan(raw)
		if err != nil {
			return nil, d.observe(d.mapErr(op, fmt.Sprintf("data.pageData[%d].", i), err))
		}
		if !s.From.Before(r.To) || (s.To != nil && !s.To.After(r.From)) {
			continue
		}
		spans = append(spans, s)
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].From.Before(spans[j].From) })
	return spans, d.observe(nil)
}

// dateType is the reports' dateType of an interval; 0 for none.
func dateType(iv model.Interval) int {
	switch iv {
	case model.IntervalHalfHour:
		return 11
	case model.IntervalHour:
		return 12
	case model.IntervalDay:
		return 13
	case model.IntervalWeek:
		return 14
	case model.IntervalMonth:
		return 15
	}
	return 0
}

// reportBody is the common part of the report requests: the range as local dates and
// times (an end at local midnight is the previous day's "24:00").
func (d *Driver) reportBody(r upstreams.TimeRange, iv model.Interval) map[string]any {
	from, to := r.From.In(d.m.loc), r.To.In(d.m.loc)
	endDate, endTime := to.Format("2006-01-02"), to.Format("15:04")
	if endTime == "00:00" {
		endDate, endTime = to.AddDate(0, 0, -1).Format("2006-01-02"), "24:00"
	}
	return map[string]any{
		"dateType": dateType(iv), "weekType": 0,
		"startDate": from.Format("2006-01-02"), "startTime": from.Format("15:04"),
		"endDate": endDate, "endTime": endTime,
	}
}

func (d *Driver) report(ctx context.Context, op, path string, body map[string]any, f reportFields, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	if dateType(q.Interval) == 0 {
		return nil, d.spec.Errorf(op, upstreams.ErrBadArgument, nil, "unsupported interval "+string(q.Interval))
	}
	if !q.Range.To.After(q.Range.From) {
		return []*model.TimeseriesPoint{}, nil
	}
	rows, err := d.c.searchAll(ctx, op, path, body, "currPage")
	if err != nil {
		return nil, d.observe(err)
	}
	pts, err := d.m.mapReport(rows, f, q)
	if err != nil {
		return nil, d.observe(d.mapErr(op, "data.", err))
	}
	return pts, d.observe(nil)
}

// CallVolume reads the relay-number report by time: the whole company's traffic.
func (d *Driver) CallVolume(ctx context.Context, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	body := d.reportBody(q.Range, q.Interval)
	body["dimensions"] = 1
	body["customerFields"] = relayFields().customerFields()
	return d.report(ctx, "reading call volume", pathRelayReport, body, relayFields(), q)
}

// QueueTimeseries reads the department report (inbound). Departments stand in for queues;
// TenantQueueID means all departments.
func (d *Driver) QueueTimeseries(ctx context.Context, queueVendorID string, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	body := d.reportBody(q.Range, q.Interval)
	body["callType"] = 2
	body["customerFields"] = departFields().customerFields()
	body["dimensions"] = 1
	if id := strings.TrimSpace(queueVendorID); id != TenantQueueID {
		body["dimensions"] = 13
		body["departIds"] = []string{id}
	}
	return d.report(ctx, "reading queue timeseries", pathDepartReport, body, departFields(), q)
}

// pathRecording is the documented recording download; its id is the last path segment of
// the talk list's recordUrl.
const pathRecording = "/callservice/v6/cc-audios/recordings/"

// OpenRecording streams the recording of a call (MP3) through the driver's own token, so
// the gateway can serve it without ever handing out the upstream credential. The caller
// closes the body.
func (d *Driver) OpenRecording(ctx context.Context, recordingURL string) (body io.ReadCloser, contentType string, err error) {
	const op = "opening recording"
	u, err := url.Parse(cleanURL(recordingURL))
	id := ""
	if err == nil {
		id = path.Base(u.Path)
	}
	if id == "" || id == "." || id == "/" {
		return nil, "", d.spec.Errorf(op, upstreams.ErrBadArgument, err, "not a Sobot recording URL")
	}
	resp, err := d.c.openGet(ctx, op, pathRecording+url.PathEscape(id))
	if err != nil {
		return nil, "", d.observe(err)
	}
	d.health.Observe(nil)
	return resp.Body, resp.Header.Get("Content-Type"), nil
}
