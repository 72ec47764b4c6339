package resolvers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// liveWait bounds how long a query waits for a just-opened stream's first state.
const liveWait = 10 * time.Second

// collectAgents reads agents from every source that knows them: the hub's live state when
// a stream is up, else the driver's list, else a stream opened for its snapshot.
func (r *Resolver) collectAgents(ctx context.Context, srcs []*Source) ([]*model.Agent, error) {
	return collect(ctx, r, srcs, "agents", upstreams.TopicAgents, true, func(ctx context.Context, s *Source) ([]*model.Agent, bool, error) {
		l, ok := s.Driver.(upstreams.AgentLister)
		if !ok {
			return nil, false, nil
		}
		a, err := cached(ctx, r.Cache, cacheKey(s, "agents", ""), l.ListAgents)
		return a, true, err
	})
}

// collect runs one read per source concurrently; sources that fail become partial errors.
func collect[T any](ctx context.Context, r *Resolver, srcs []*Source, what string, topic upstreams.Topic, useLive bool, list func(context.Context, *Source) ([]*T, bool, error)) ([]*T, error) {
	type result struct {
		items     []*T
		supported bool
		err       error
	}
	res := make([]result, len(srcs))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if items, ok := r.liveState(s, topic); ok && useLive {
				res[i] = result{items: valuesOf[T](items), supported: true}
				return
			}
			items, ok, err := list(ctx, s)
			if ok {
				res[i] = result{items: items, supported: true, err: err}
				return
			}
			srcs, sts := streamers([]*Source{s}, topic)
			if len(srcs) == 0 || !useLive {
				return
			}
			vals, err := r.snapshotOnce(ctx, s, sts[0], topic, liveWait)
			res[i] = result{supported: true, err: err}
			for _, v := range vals {
				if t, ok := v.(*T); ok {
					res[i].items = append(res[i].items, t)
				}
			}
		}()
	}
	wg.Wait()
	var out []*T
	var errs []error
	supported := 0
	for _, x := range res {
		if !x.supported {
			continue
		}
		supported++
		if x.err != nil {
			errs = append(errs, x.err)
			continue
		}
		out = append(out, x.items...)
	}
	if supported == 0 {
		ids := make([]string, len(srcs))
		for i, s := range srcs {
			ids[i] = s.Spec.ID
		}
		return nil, &codedError{code: CodeNotSupported, msg: fmt.Sprintf("%s are not supported by sources %v", what, ids)}
	}
	if len(errs) == supported {
		return nil, errs[0]
	}
	for _, err := range errs {
		addSourceError(ctx, err)
	}
	if out == nil {
		out = []*T{}
	}
	return out, nil
}

func valuesOf[T any](items []upstreams.Item) []*T {
	out := make([]*T, 0, len(items))
	for _, it := range items {
		if v, ok := it.Value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func filterAgents(in []*model.Agent, f *model.AgentFilter) []*model.Agent {
	out := make([]*model.Agent, 0, len(in))
	for _, a := range in {
		if len(f.Ids) > 0 && !slices.Contains(f.Ids, a.ID) {
			continue
		}
		if len(f.States) > 0 && !slices.Contains(f.States, a.State) {
			continue
		}
		if len(f.Queues) > 0 && !anyRef(a.Queues, f.Queues) {
			continue
		}
		out = append(out, a)
	}
	return out
}
