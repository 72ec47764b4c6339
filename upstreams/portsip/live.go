package portsip

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// Topics lists what the source streams: queue figures (when queues are configured) and calls,
// both by polling the Data Flow endpoints (the PBX's /wsi pub/sub is not in the document).
func (d *Driver) Topics() []upstreams.Topic {
	if len(d.cfg.Queues) == 0 {
		return []upstreams.Topic{upstreams.TopicCalls}
	}
	return []upstreams.Topic{upstreams.TopicQueues, upstreams.TopicCalls}
}

// Stream polls one topic every PollInterval until ctx is done (nil) or a poll fails (the
// error; the hub reconnects with backoff, and the new Stream starts with a full Reset).
func (d *Driver) Stream(ctx context.Context, topic upstreams.Topic, sink upstreams.Sink) error {
	var step func(ctx context.Context, sink upstreams.Sink, first bool) error
	switch topic {
	case upstreams.TopicQueues:
		if len(d.cfg.Queues) == 0 {
			return d.spec.Errorf("streaming queues", upstreams.ErrNotSupported, nil, "no queues configured (option queues)")
		}
		step = newQueuePoller(d).step
	case upstreams.TopicCalls:
		step = newCallPoller(d).step
	default:
		return d.spec.Errorf("streaming "+string(topic), upstreams.ErrNotSupported, nil, "topic not served by PortSIP")
	}
	sink.SetHealth(model.HealthStatusConnecting, "")
	t := time.NewTicker(d.cfg.PollInterval.Or(defaultPollInterval))
	defer t.Stop()
	for first := true; ; first = false {
		if err := step(ctx, sink, first); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			sink.SetHealth(model.HealthStatusDown, err.Error())
			d.log.Warn("live poll failed", "topic", string(topic), "err", err)
			return err
		}
		if first {
			sink.SetHealth(model.HealthStatusLive, "")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// queuePoller reads every queue's summary for the current UTC day and sends the queues
// whose figures changed.
type queuePoller struct {
	d    *Driver
	last map[string]string // queue number -> figures last sent (range excluded)
}

func newQueuePoller(d *Driver) *queuePoller { return &queuePoller{d: d, last: map[string]string{}} }

func (p *queuePoller) step(ctx context.Context, sink upstreams.Sink, first bool) error {
	now := p.d.now().UTC()
	r := upstreams.TimeRange{From: now.Truncate(24 * time.Hour), To: now}
	if !r.To.After(r.From) {
		r.To = r.From.Add(time.Second)
	}
	var items []upstreams.Item
	for _, q := range p.d.cfg.Queues {
		queue, err := p.d.queueSummary(ctx, "polling queues", q.Number, r)
		if err != nil {
			return p.d.observe(err)
		}
		fp := fingerprint(queue.Stats)
		if first {
			items = append(items, upstreams.Item{Key: q.Number, Value: queue})
		} else if p.last[q.Number] != fp {
			sink.Upsert(q.Number, queue)
		}
		p.last[q.Number] = fp
	}
	if first {
		sink.Reset(items)
	}
	return p.d.observe(nil)
}

// fingerprint is the stats without their range, which moves on every poll.
func fingerprint(s *model.QueueStats) string {
	c := *s
	c.From, c.To = nil, nil
	b, _ := json.Marshal(c)
	return string(b)
}

// callPoller follows the call history with a moving watermark: each poll reads the calls
// that started since the previous poll (with an overlap for clock skew) or that were still
// in progress then, upserts what changed and removes calls once they have ended.
type callPoller struct {
	d         *Driver
	watermark time.Time
	active    map[string]activeCall // in progress, as last sent
	done      map[string]time.Time  // ended and already reported -> start, pruned by watermark
}

type activeCall struct {
	raw     string
	started time.Time
}

func newCallPoller(d *Driver) *callPoller {
	return &callPoller{d: d, active: map[string]activeCall{}, done: map[string]time.Time{}}
}

func (p *callPoller) step(ctx context.Context, sink upstreams.Sink, first bool) error {
	const op = "polling calls"
	now := p.d.now().UTC()
	from := p.watermark
	if first {
		from = now.Add(-p.d.cfg.CallLookback.Or(defaultCallLookback))
	}
	for _, a := range p.active {
		if a.started.Before(from) {
			from = a.started
		}
	}
	body := callHistoryRequest{timeRangeBody: wireRange(upstreams.TimeRange{From: from, To: now.Add(time.Second)})}
	raws, _, err := p.d.c.list(ctx, op, http.MethodPost, "/dataflow/analytics/calls/history", nil, body, 0, 0)
	if err != nil {
		return p.d.observe(err)
	}
	var snapshot []upstreams.Item
	for i, raw := range raws {
		c, err := p.d.m.mapCall(op, "items["+strconv.Itoa(i)+"]", raw)
		if err != nil {
			return p.d.observe(err)
		}
		key := c.VendorID
		if _, seen := p.done[key]; seen {
			continue
		}
		if c.EndedAt != nil {
			p.done[key] = c.StartedAt
			delete(p.active, key)
			if !first {
				sink.Upsert(key, c)
				sink.Remove(key)
			}
			continue
		}
		if first {
			snapshot = append(snapshot, upstreams.Item{Key: key, Value: c})
		} else if p.active[key].raw != string(raw) {
			sink.Upsert(key, c)
		}
		p.active[key] = activeCall{raw: string(raw), started: c.StartedAt}
	}
	if first {
		sink.Reset(snapshot)
	}
	// Overlap two intervals so calls the PBX records a little late are not skipped.
	p.watermark = now.Add(-2 * p.d.cfg.PollInterval.Or(defaultPollInterval))
	for k, started := range p.done {
		if started.Before(from) {
			delete(p.done, k)
		}
	}
	return p.d.observe(nil)
}
