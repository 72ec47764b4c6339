// Package resolvers holds the hand-written GraphQL resolvers. They are thin: principal →
// the tenant's sources → driver calls (through dataloaders for per-item fields, through the
// live hub for streams) → merge → errors naming the source. No vendor knowledge lives here.
package resolvers

import (
	"log/slog"
	"time"

	"github.com/switchboard-cc/switchboard/live"
)

// Resolver is the root resolver; one per gateway.
type Resolver struct {
	Tenants *Tenants
	Hub     *live.Hub
	Logger  *slog.Logger
	// MaxPageSize caps `first` [100].
	MaxPageSize int
	// Now is the clock [time.Now].
	Now func() time.Time
	// Cache holds slow-moving figures briefly and coalesces identical reads; nil = none.
	Cache *Cache
	// Observer is told about live deliveries and drops (metrics); nil = none.
	Observer Observer
}

// Observer receives live-delivery events for metrics.
type Observer interface {
	Delivered(topic string, n int)
	Dropped(reason string)
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}
