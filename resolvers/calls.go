package resolvers

import (
	"slices"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

const maxRange = 366 * 24 * time.Hour

func (r *Resolver) timeRange(tr *model.TimeRange, def time.Duration, arg string) (upstreams.TimeRange, error) {
	if tr == nil {
		now := r.now()
		return upstreams.TimeRange{From: now.Add(-def), To: now}, nil
	}
	if !tr.To.After(tr.From) {
		return upstreams.TimeRange{}, errorf(CodeBadInput, "%s: to must be after from", arg)
	}
	if tr.To.Sub(tr.From) > maxRange {
		return upstreams.TimeRange{}, errorf(CodeBadInput, "%s: longer than 366 days", arg)
	}
	return upstreams.TimeRange{From: tr.From.UTC(), To: tr.To.UTC()}, nil
}

func (r *Resolver) callQuery(f *model.CallFilter, first int) (upstreams.CallQuery, error) {
	tr, err := r.timeRange(f.Range, 24*time.Hour, "filter.range")
	if err != nil {
		return upstreams.CallQuery{}, err
	}
	return upstreams.CallQuery{Range: tr, Direction: f.Direction, Outcomes: f.Outcomes, Queues: f.Queues, Agents: f.Agents, First: first}, nil
}

// callMatcher re-applies the filter to mapped calls: drivers push down what their API
// supports, the gateway guarantees the rest.
func callMatcher(f *model.CallFilter) func(*model.Call) bool {
	return func(c *model.Call) bool {
		if f.Direction != nil && c.Direction != *f.Direction {
			return false
		}
		if len(f.Outcomes) > 0 && !slices.Contains(f.Outcomes, c.Outcome) {
			return false
		}
		if len(f.Queues) > 0 && !anyRef(c.Queues, f.Queues) {
			return false
		}
		if len(f.Agents) > 0 && !anyRef(c.Agents, f.Agents) {
			return false
		}
		return true
	}
}

func anyRef(refs []*model.Ref, keys []string) bool {
	for _, ref := range refs {
		if ref == nil {
			continue
		}
		if containsFold(keys, ref.ID) || containsFold(keys, ref.VendorID) || containsFold(keys, ref.Name) {
			return true
		}
	}
	return false
}

func sourceRef(s *Source) *model.SourceRef {
	return &model.SourceRef{ID: s.Spec.ID, Vendor: s.Spec.Vendor}
}
