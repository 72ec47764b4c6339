package resolvers

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
)

// maxBuckets bounds a timeseries answer.
const maxBuckets = 2000

// collectQueues reads queues with stats. With no range the stats are today's and the hub's
// live state serves them when a stream is up; an explicit range always asks the driver.
func (r *Resolver) collectQueues(ctx context.Context, srcs []*Source, rng *model.TimeRange) ([]*model.Queue, error) {
	now := r.now()
	tr := upstreams.TimeRange{From: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), To: now}
	if rng != nil {
		var err error
		if tr, err = r.timeRange(rng, 0, "filter.range"); err != nil {
			return nil, err
		}
	}
	useLive := rng == nil
	return collect(ctx, r, srcs, "queues", upstreams.TopicQueues, useLive, func(ctx context.Context, s *Source) ([]*model.Queue, bool, error) {
		l, ok := s.Driver.(upstreams.QueueLister)
		if !ok {
			return nil, false, nil
		}
		// An open range ending now is cached by its start only: "today until now".
		args := tr.From.Format(time.RFC3339Nano)
		if rng != nil {
			args += "/" + tr.To.Format(time.RFC3339Nano)
		}
		q, err := cached(ctx, r.Cache, cacheKey(s, "queues", args), func(ctx context.Context) ([]*model.Queue, error) {
			return l.ListQueues(ctx, tr)
		})
		return q, true, err
	})
}

func filterQueues(in []*model.Queue, ids []string) []*model.Queue {
	if len(ids) == 0 {
		return in
	}
	out := make([]*model.Queue, 0, len(in))
	for _, q := range in {
		if slices.Contains(ids, q.ID) {
			out = append(out, q)
		}
	}
	return out
}

func checkBuckets(tr upstreams.TimeRange, iv model.Interval) error {
	if !iv.IsValid() {
		return errorf(CodeBadInput, "interval: unknown value")
	}
	n := 0
	for t := derive.Align(tr.From, iv); t.Before(tr.To); t = derive.Next(t, iv) {
		if n++; n > maxBuckets {
			return errorf(CodeBadInput, "range: more than %d %s buckets", maxBuckets, iv)
		}
	}
	return nil
}

// parallel runs f(0..n-1) concurrently and waits; one call (the common single source)
// runs on the caller's goroutine.
func parallel(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}

// mergeSeries sums sources' buckets by start time; averages are weighted by answered calls
// and the service level is recomputed from the summed counters.
func mergeSeries(ctx context.Context, series [][]*model.TimeseriesPoint, errs []error) ([]*model.TimeseriesPoint, error) {
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed == len(errs) && failed > 0 {
		return nil, errs[0]
	}
	for _, err := range errs {
		if err != nil {
			addSourceError(ctx, err)
		}
	}
	if len(series)-failed == 1 {
		for i, s := range series {
			if errs[i] == nil {
				return s, nil
			}
		}
	}
	byStart := map[time.Time]*model.TimeseriesPoint{}
	weights := map[time.Time][2]float64{}
	var order []time.Time
	for i, s := range series {
		if errs[i] != nil {
			continue
		}
		for _, p := range s {
			m, ok := byStart[p.From]
			if !ok {
				m = &model.TimeseriesPoint{From: p.From, To: p.To}
				byStart[p.From] = m
				order = append(order, p.From)
			}
			m.Offered = addInt(m.Offered, p.Offered)
			m.Answered = addInt(m.Answered, p.Answered)
			m.Abandoned = addInt(m.Abandoned, p.Abandoned)
			m.Inbound = addInt(m.Inbound, p.Inbound)
			m.Outbound = addInt(m.Outbound, p.Outbound)
			m.AnsweredWithinSLA = addInt(m.AnsweredWithinSLA, p.AnsweredWithinSLA)
			m.TalkSeconds = addInt(m.TalkSeconds, p.TalkSeconds)
			w := weights[p.From]
			if p.Answered != nil && *p.Answered > 0 {
				if p.AverageSpeedOfAnswerSeconds != nil {
					w[0] += *p.AverageSpeedOfAnswerSeconds * float64(*p.Answered)
				}
				if p.AverageHandleSeconds != nil {
					w[1] += *p.AverageHandleSeconds * float64(*p.Answered)
				}
			}
			weights[p.From] = w
		}
	}
	slices.SortFunc(order, func(a, b time.Time) int { return a.Compare(b) })
	out := make([]*model.TimeseriesPoint, 0, len(order))
	for _, t := range order {
		m := byStart[t]
		if m.Answered != nil && *m.Answered > 0 {
			w := weights[t]
			m.AverageSpeedOfAnswerSeconds = model.Ptr(w[0] / float64(*m.Answered))
			m.AverageHandleSeconds = model.Ptr(w[1] / float64(*m.Answered))
		}
		if m.AnsweredWithinSLA != nil && m.Offered != nil {
			m.ServiceLevel = derive.ServiceLevel(*m.AnsweredWithinSLA, *m.Offered, 0)
		}
		out = append(out, m)
	}
	return out, nil
}

func addInt(a, b *int) *int {
	switch {
	case b == nil:
		return a
	case a == nil:
		return model.Ptr(*b)
	default:
		return model.Ptr(*a + *b)
	}
}

// queueAgent finds the source of a queue that serves per-agent figures.
func (r *Resolver) queueAgent(ctx context.Context, queue string, rng model.TimeRange) (upstreams.QueueAgentStatser, string, upstreams.TimeRange, error) {
	src, vendorID, err := r.sourceByGlobalID(ctx, queue, model.KindQueue)
	if err != nil {
		return nil, "", upstreams.TimeRange{}, err
	}
	tr, err := r.timeRange(&rng, 0, "range")
	if err != nil {
		return nil, "", upstreams.TimeRange{}, err
	}
	_, qa, err := capable[upstreams.QueueAgentStatser]([]*Source{src}, "per-agent queue figures")
	if err != nil {
		return nil, "", upstreams.TimeRange{}, err
	}
	return qa[0], vendorID, tr, nil
}
