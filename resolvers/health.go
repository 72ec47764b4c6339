package resolvers

import (
	"context"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
)

// healthPoll is how often sourceHealth looks for changes.
const healthPoll = time.Second

// SourceHealth combines the driver's health with its live streams': a stream that is down
// or reconnecting degrades a source whose requests still succeed.
func (r *Resolver) SourceHealth(s *Source) model.SourceHealth {
	h := s.Driver.Health()
	if r.Hub == nil {
		return h
	}
	for _, st := range r.Hub.Streams() {
		if st.Key.Tenant != s.Spec.Tenant || st.Key.Source != s.Spec.ID || st.Subscribers == 0 {
			continue
		}
		if worse(st.Status, h.Status) {
			reason := st.Reason
			h = model.SourceHealth{Status: st.Status, Since: h.Since}
			if reason != "" {
				h.Reason = &reason
			}
		}
	}
	return h
}

func severity(s model.HealthStatus) int {
	switch s {
	case model.HealthStatusLive:
		return 0
	case model.HealthStatusUnknown:
		return 1
	case model.HealthStatusConnecting:
		return 2
	case model.HealthStatusDegraded:
		return 3
	default:
		return 4
	}
}

func worse(a, b model.HealthStatus) bool { return severity(a) > severity(b) }

func (r *Resolver) modelSource(s *Source) *model.Source {
	m := modelSource(s)
	h := r.SourceHealth(s)
	m.Health = &h
	return m
}

func (r *Resolver) watchHealth(ctx context.Context, srcs []*Source) <-chan *model.SourceHealthEvent {
	out := make(chan *model.SourceHealthEvent, len(srcs)+1)
	go func() {
		defer close(out)
		last := make([]model.SourceHealth, len(srcs))
		t := time.NewTicker(healthPoll)
		defer t.Stop()
		first := true
		for {
			for i, s := range srcs {
				h := r.SourceHealth(s)
				if !first && h.Status == last[i].Status && eqStr(h.Reason, last[i].Reason) {
					continue
				}
				last[i] = h
				hc := h
				select {
				case out <- &model.SourceHealthEvent{Source: sourceRef(s), Health: &hc}:
				case <-ctx.Done():
					return
				}
			}
			first = false
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return out
}

func eqStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
