package ccai

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
)

// Topics: the vendor has no push, so both topics poll updated_at[from].
func (d *Driver) Topics() []upstreams.Topic {
	return []upstreams.Topic{upstreams.TopicCalls, upstreams.TopicQueues}
}

// Stream runs one poll loop for topic until ctx is done or a poll fails.
func (d *Driver) Stream(ctx context.Context, topic upstreams.Topic, sink upstreams.Sink) error {
	switch topic {
	case upstreams.TopicCalls:
		return d.streamCalls(ctx, sink)
	case upstreams.TopicQueues:
		return d.streamQueues(ctx, sink)
	}
	return d.spec.Errorf("streaming", upstreams.ErrNotSupported, nil, "no live topic "+string(topic))
}

func activeStatuses() []string {
	var out []string
	for _, s := range Statuses() {
		if o := statusOutcomes(s); len(o) == 1 && o[0] == model.OutcomeInProgress {
			out = append(out, s)
		}
	}
	return out
}

// poller reads the calls changed since a moving watermark. The watermark is the largest
// updated_at seen (the vendor's clock, not ours); each poll reads again an overlap window
// behind it, so a row committed late with an older updated_at is still seen, and a call
// already handled with the same updated_at is dropped.
type poller struct {
	d         *Driver
	op        string
	overlap   time.Duration
	watermark time.Time
	seen      map[string]time.Time // call id → updated_at handled
}

func (d *Driver) newPoller(op string, start time.Time) *poller {
	return &poller{d: d, op: op, overlap: d.cfg.PollOverlap.Or(10 * time.Second), watermark: start, seen: map[string]time.Time{}}
}

// mark records a call as handled without emitting it (snapshot calls).
func (p *poller) mark(m *mapped) { p.seen[m.call.VendorID] = m.updated }

func (p *poller) poll(ctx context.Context) ([]*mapped, error) {
	f := CallFilter{UpdatedFrom: p.watermark.Add(-p.overlap), SortColumn: "updated_at", SortDirection: "asc"}
	ms, err := p.d.collect(ctx, p.op, f, time.Time{})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(ms, func(a, b *mapped) int { return a.updated.Compare(b.updated) })
	var fresh []*mapped
	for _, m := range ms {
		if last, ok := p.seen[m.call.VendorID]; ok && !m.updated.After(last) {
			continue
		}
		p.seen[m.call.VendorID] = m.updated
		if m.updated.After(p.watermark) {
			p.watermark = m.updated
		}
		fresh = append(fresh, m)
	}
	cut := p.watermark.Add(-p.overlap)
	for id, t := range p.seen {
		if t.Before(cut) { // outside the next window: it can only come back with a newer updated_at
			delete(p.seen, id)
		}
	}
	return fresh, nil
}

func (d *Driver) ticker() *time.Ticker {
	return time.NewTicker(d.cfg.PollInterval.Or(5 * time.Second))
}

// streamCalls: a snapshot of the active calls (call_status[] of the in-progress states),
// then every change. An ending call gets its final Upsert and then Remove, also when it
// started and ended between two polls; later updates of ended calls (after-call work,
// voicemail read) are not live events.
func (d *Driver) streamCalls(ctx context.Context, sink upstreams.Sink) error {
	const op = "polling calls"
	sink.SetHealth(model.HealthStatusConnecting, "")
	start := d.now()
	p := d.newPoller(op, start)
	snap, err := d.collect(ctx, op, CallFilter{CallStatuses: activeStatuses(), SortColumn: "created_at", SortDirection: "asc"}, time.Time{})
	if err != nil {
		return d.streamFailed(ctx, sink, err)
	}
	active := map[string]bool{}
	items := []upstreams.Item{}
	for _, m := range snap {
		if m.call.Outcome == model.OutcomeInProgress {
			active[m.call.VendorID] = true
			items = append(items, upstreams.Item{Key: m.call.VendorID, Value: m.call})
			p.mark(m)
		}
	}
	sink.Reset(items)
	sink.SetHealth(model.HealthStatusLive, "")
	ended := map[string]time.Time{}
	t := d.ticker()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fresh, err := p.poll(ctx)
		if err != nil {
			return d.streamFailed(ctx, sink, err)
		}
		for _, m := range fresh {
			c, id := m.call, m.call.VendorID
			if c.Outcome == model.OutcomeInProgress {
				active[id] = true
				sink.Upsert(id, c)
				continue
			}
			if _, done := ended[id]; done {
				continue
			}
			if active[id] || (c.EndedAt != nil && !c.EndedAt.Before(start.Add(-p.overlap))) {
				sink.Upsert(id, c)
				sink.Remove(id)
				delete(active, id)
				ended[id] = m.updated
			}
		}
		for id, u := range ended {
			if u.Before(p.watermark.Add(-24 * time.Hour)) {
				delete(ended, id)
			}
		}
		sink.SetHealth(model.HealthStatusLive, "")
	}
}

func (d *Driver) streamFailed(ctx context.Context, sink upstreams.Sink, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	d.health.Observe(err)
	sink.SetHealth(model.HealthStatusDegraded, err.Error())
	return err
}

// streamQueues keeps the calls of the current UTC day (and those queued now), updates
// them from each poll and derives every queue's figures with upstreams/derive; a queue is
// sent again when its figures change.
func (d *Driver) streamQueues(ctx context.Context, sink upstreams.Sink) error {
	const op = "polling queue figures"
	sink.SetHealth(model.HealthStatusConnecting, "")
	now := d.now()
	day := derive.Align(now, model.IntervalDay)
	p := d.newPoller(op, now)
	dayCalls, err := d.collect(ctx, op, CallFilter{UpdatedFrom: day, SortColumn: "created_at", SortDirection: "asc"}, time.Time{})
	if err != nil {
		return d.streamFailed(ctx, sink, err)
	}
	queued, err := d.collect(ctx, op, CallFilter{CallStatuses: []string{"queued"}}, time.Time{})
	if err != nil {
		return d.streamFailed(ctx, sink, err)
	}
	calls := map[string]*mapped{}
	for _, m := range mergeCalls(dayCalls, queued) {
		calls[m.call.VendorID] = m
		p.mark(m)
	}
	last := map[string]string{}
	emit := func(reset bool) {
		now := d.now()
		day := derive.Align(now, model.IntervalDay)
		list := make([]*mapped, 0, len(calls))
		for id, m := range calls {
			if m.call.EndedAt != nil && m.call.EndedAt.Before(day) {
				delete(calls, id)
				continue
			}
			list = append(list, m)
		}
		qs := d.queueStats(list, upstreams.TimeRange{From: day, To: now}, now)
		items := make([]upstreams.Item, 0, len(qs))
		for _, q := range qs {
			fp := fingerprint(q.Stats)
			if !reset && last[q.VendorID] == fp {
				continue
			}
			last[q.VendorID] = fp
			if reset {
				items = append(items, upstreams.Item{Key: q.VendorID, Value: q})
			} else {
				sink.Upsert(q.VendorID, q)
			}
		}
		if reset {
			sink.Reset(items)
		}
	}
	emit(true)
	sink.SetHealth(model.HealthStatusLive, "")
	t := d.ticker()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fresh, err := p.poll(ctx)
		if err != nil {
			return d.streamFailed(ctx, sink, err)
		}
		for _, m := range fresh {
			calls[m.call.VendorID] = m
		}
		emit(false)
		sink.SetHealth(model.HealthStatusLive, "")
	}
}

// fingerprint identifies a queue's figures apart from the range end, which moves each poll.
func fingerprint(s *model.QueueStats) string {
	if s == nil {
		return ""
	}
	cp := *s
	cp.To = nil
	b, _ := json.Marshal(cp)
	return string(b)
}
