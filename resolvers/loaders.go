package resolvers

import (
	"context"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// loaders are the per-operation dataloaders, one per (source, field): every Call.legs of
// one response is fetched in as few upstream requests as the driver's batch form allows.
type loaders struct {
	mu   sync.Mutex
	legs map[*Source]*dataloader.Loader[string, []*model.CallLeg]
	segs map[*Source]*dataloader.Loader[string, []*model.QueueSegment]
}

type loadersKey struct{}

// WithLoaders gives an operation its own dataloaders; the server wraps every operation.
func WithLoaders(ctx context.Context) context.Context {
	return context.WithValue(ctx, loadersKey{}, &loaders{
		legs: map[*Source]*dataloader.Loader[string, []*model.CallLeg]{},
		segs: map[*Source]*dataloader.Loader[string, []*model.QueueSegment]{},
	})
}

func loadersFrom(ctx context.Context) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return nil
}

const (
	batchWait     = 2 * time.Millisecond
	batchCapacity = 100
)

func batchFunc[V any](load func(context.Context, []string) (map[string]V, error)) dataloader.BatchFunc[string, V] {
	return func(ctx context.Context, keys []string) []*dataloader.Result[V] {
		out := make([]*dataloader.Result[V], len(keys))
		got, err := load(ctx, keys)
		for i, k := range keys {
			if err != nil {
				out[i] = &dataloader.Result[V]{Error: err}
				continue
			}
			out[i] = &dataloader.Result[V]{Data: got[k]}
		}
		return out
	}
}

func loaderFor[V any](l *loaders, m map[*Source]*dataloader.Loader[string, V], src *Source, load func(context.Context, []string) (map[string]V, error)) *dataloader.Loader[string, V] {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ld, ok := m[src]; ok {
		return ld
	}
	ld := dataloader.NewBatchedLoader(batchFunc(load),
		dataloader.WithWait[string, V](batchWait), dataloader.WithBatchCapacity[string, V](batchCapacity))
	m[src] = ld
	return ld
}

func (r *Resolver) callSource(ctx context.Context, c *model.Call) (*Source, error) {
	srcs, err := r.tenantSources(ctx, nil)
	if err != nil {
		return nil, err
	}
	for _, s := range srcs {
		if s.Spec.ID == c.SourceID {
			return s, nil
		}
	}
	return nil, errorf(CodeNotFound, "source %q of call not found", c.SourceID)
}

// loadPerCall resolves a per-call list through the source's batch loader. A source without
// the capability yields an empty list plus a NOT_SUPPORTED error on the field, so the call
// itself is still returned.
func loadPerCall[V any, D any](ctx context.Context, r *Resolver, c *model.Call, what string, pick func(*loaders) map[*Source]*dataloader.Loader[string, []V], load func(D) func(context.Context, []string) (map[string][]V, error)) ([]V, error) {
	src, err := r.callSource(ctx, c)
	if err != nil {
		return nil, err
	}
	_, ds, err := capable[D]([]*Source{src}, what)
	if err != nil {
		addSourceError(ctx, err)
		return []V{}, nil
	}
	l := loadersFrom(ctx)
	if l == nil {
		got, err := load(ds[0])(ctx, []string{c.VendorID})
		if err != nil {
			return nil, err
		}
		return orEmpty(got[c.VendorID]), nil
	}
	v, err := loaderFor(l, pick(l), src, load(ds[0])).Load(ctx, c.VendorID)()
	if err != nil {
		return nil, err
	}
	return orEmpty(v), nil
}

func orEmpty[V any](v []V) []V {
	if v == nil {
		return []V{}
	}
	return v
}

func (r *Resolver) loadLegs(ctx context.Context, c *model.Call) ([]*model.CallLeg, error) {
	return loadPerCall(ctx, r, c, "call legs",
		func(l *loaders) map[*Source]*dataloader.Loader[string, []*model.CallLeg] { return l.legs },
		func(d upstreams.CallLegLoader) func(context.Context, []string) (map[string][]*model.CallLeg, error) {
			return d.LoadCallLegs
		})
}

func (r *Resolver) loadSegments(ctx context.Context, c *model.Call) ([]*model.QueueSegment, error) {
	return loadPerCall(ctx, r, c, "queue segments",
		func(l *loaders) map[*Source]*dataloader.Loader[string, []*model.QueueSegment] { return l.segs },
		func(d upstreams.QueueSegmentLoader) func(context.Context, []string) (map[string][]*model.QueueSegment, error) {
			return d.LoadQueueSegments
		})
}
