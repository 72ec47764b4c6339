package upstreams

import (
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
)

// HealthTracker holds a source's health; drivers embed one and call Set as they learn.
type HealthTracker struct {
	mu     sync.Mutex
	health model.SourceHealth
	now    func() time.Time
}

// NewHealthTracker starts at UNKNOWN.
func NewHealthTracker(now func() time.Time) *HealthTracker {
	if now == nil {
		now = time.Now
	}
	return &HealthTracker{now: now, health: model.SourceHealth{Status: model.HealthStatusUnknown, Since: now().UTC()}}
}

// Set records a status; Since changes only when the status does.
func (h *HealthTracker) Set(status model.HealthStatus, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.health.Status != status {
		h.health.Since = h.now().UTC()
	}
	h.health.Status = status
	h.health.Reason = nil
	if reason != "" {
		h.health.Reason = &reason
	}
}

// Observe sets LIVE after a successful call and DEGRADED or DOWN after a failed one.
func (h *HealthTracker) Observe(err error) {
	switch {
	case err == nil:
		h.Set(model.HealthStatusLive, "")
	case isAny(err, ErrUnauthorized, ErrUnavailable):
		h.Set(model.HealthStatusDown, err.Error())
	default:
		h.Set(model.HealthStatusDegraded, err.Error())
	}
}

// Health returns a copy of the current health.
func (h *HealthTracker) Health() model.SourceHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.health
}
