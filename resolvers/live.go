package resolvers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/live"
	"github.com/switchboard-cc/switchboard/upstreams"
)

type liveEvent = live.Event

// subscriptionBuffer bounds each GraphQL subscription's outgoing channel; the hub already
// buffers and coalesces per subscriber, this only decouples the merge of several sources.
const subscriptionBuffer = 64

func streamKey(src *Source, topic upstreams.Topic) live.StreamKey {
	return live.StreamKey{Tenant: src.Spec.Tenant, Source: src.Spec.ID, Identity: src.Identity, Topic: topic}
}

func opener(st upstreams.Streamer, topic upstreams.Topic) live.Opener {
	return func(ctx context.Context, sink upstreams.Sink) error { return st.Stream(ctx, topic, sink) }
}

// streamers returns the sources able to stream topic.
func streamers(srcs []*Source, topic upstreams.Topic) ([]*Source, []upstreams.Streamer) {
	var out []*Source
	var sts []upstreams.Streamer
	for _, s := range srcs {
		st, ok := s.Driver.(upstreams.Streamer)
		if !ok {
			continue
		}
		for _, t := range st.Topics() {
			if t == topic {
				out = append(out, s)
				sts = append(sts, st)
				break
			}
		}
	}
	return out, sts
}

// subscribeTopic subscribes to topic on each of the caller's sources that stream it and
// merges the events, converted by conv, into one channel closed when ctx ends.
func subscribeTopic[T any](ctx context.Context, r *Resolver, only []string, after *string, topic upstreams.Topic, conv func(*Source, liveEvent, string) (*T, bool)) (<-chan *T, error) {
	all, err := r.tenantSources(ctx, only)
	if err != nil {
		return nil, err
	}
	resume, err := decodeResume(after)
	if err != nil {
		return nil, err
	}
	srcs, sts := streamers(all, topic)
	if len(srcs) == 0 {
		ids := make([]string, len(all))
		for i, s := range all {
			ids[i] = s.Spec.ID
		}
		return nil, &codedError{code: CodeNotSupported, msg: fmt.Sprintf("live %s are not supported by sources %v", topic, ids)}
	}
	feed := live.FeedFrom(ctx)
	subs := make([]*live.Subscription, 0, len(srcs))
	pos := &resumePosition{seqs: map[string]uint64{}}
	for i, s := range srcs {
		opts := live.SubscribeOptions{}
		if seq, ok := resume[s.Spec.ID]; ok {
			opts.After = &seq
			pos.seqs[s.Spec.ID] = seq
		}
		switch {
		case feed == nil:
		case feed.Mode == live.FeedShared:
			opts.DeltasOnly, opts.Shared = true, true
		case feed.Mode == live.FeedInitial && feed.OnAttach != nil:
			opts.InitialOnly = true
			id := s.Spec.ID
			opts.OnAttach = func(seq uint64) { feed.OnAttach(id, seq) }
		}
		sub, err := r.Hub.Subscribe(ctx, streamKey(s, topic), opener(sts[i], topic), opts)
		if err != nil {
			for _, x := range subs {
				x.Close()
			}
			if errors.Is(err, live.ErrTooManySubscribers) {
				return nil, errorf("LIMIT_EXCEEDED", "too many live subscriptions for the tenant")
			}
			return nil, fmt.Errorf("subscribing to %s of source %s: %w", topic, s.Spec.ID, err)
		}
		if opts.InitialOnly {
			sub.SetShares(0) // its subscriber is counted by the group it joins
		}
		subs = append(subs, sub)
	}
	out := make(chan *T, subscriptionBuffer)
	shared := feed != nil && feed.Mode == live.FeedShared
	deliver := func(src *Source, ev liveEvent) (*T, bool) {
		v, ok := conv(src, ev, pos.advance(src.Spec.ID, ev.Seq))
		if ok && r.Observer != nil && !shared { // a shared one is counted per subscriber by its transport
			r.Observer.Delivered(string(topic), 1)
		}
		return v, ok
	}
	if shared {
		shareTopic(ctx, r, srcs, subs, out, deliver, feed, string(topic))
		return out, nil
	}
	if len(subs) == 1 {
		// The common case gets no merge goroutine: with thousands of subscribers each
		// goroutine's stack is a visible share of the memory per subscriber.
		go func() {
			defer close(out)
			defer subs[0].Close()
			forward(ctx, r, srcs[0], subs[0], out, deliver)
		}()
		return out, nil
	}
	merge(ctx, r, srcs, subs, out, deliver, func() { close(out) })
	return out, nil
}

// merge runs one forward per source into out, then calls done. One source ending early
// ends the merged subscription: the client is told why and resubscribes with its cursor
// rather than silently missing that source.
func merge[V any](ctx context.Context, r *Resolver, srcs []*Source, subs []*live.Subscription, out chan<- V, conv func(*Source, liveEvent) (V, bool), done func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Go(func() {
			defer sub.Close()
			if !forward(ctx, r, srcs[i], sub, out, conv) {
				cancel()
			}
		})
	}
	go func() {
		wg.Wait()
		cancel()
		done()
	}()
}

// marked is an event of a shared subscription with where it came from.
type marked[T any] struct {
	v    *T
	mark live.Mark
}

// shareTopic serves a shared executor (live.FeedShared): the sources' events wait in a
// channel of their own, and the executor's Pull moves one at a time into out, so that it
// knows which event each response it executes is.
func shareTopic[T any](ctx context.Context, r *Resolver, srcs []*Source, subs []*live.Subscription, out chan *T, deliver func(*Source, liveEvent) (*T, bool), feed *live.Feed, topic string) {
	mid := make(chan marked[T], subscriptionBuffer)
	merge(ctx, r, srcs, subs, mid, func(src *Source, ev liveEvent) (marked[T], bool) {
		v, ok := deliver(src, ev)
		return marked[T]{v: v, mark: live.Mark{Source: src.Spec.ID, Topic: topic, Seq: ev.Seq, Key: ev.Key}}, ok
	}, func() { close(mid) })
	closed := false // Pull runs in the executor's one goroutine
	feed.Claim(func(pctx context.Context) (live.Mark, bool) {
		if closed {
			return live.Mark{}, false
		}
		select {
		case m, ok := <-mid:
			if !ok {
				closed = true
				close(out)
				return live.Mark{}, false
			}
			out <- m.v // out is empty: the executor takes each event before pulling the next
			return m.mark, true
		case <-pctx.Done():
			return live.Mark{}, false
		}
	}, func(n int) {
		for _, sub := range subs {
			sub.SetShares(n)
		}
	})
}

// forward moves one source's events to out until the subscription or ctx ends; an early
// end (slow consumer, hub closed) is reported to the operation (see EndSubscriptions) and
// makes it return false.
func forward[V any](ctx context.Context, r *Resolver, src *Source, sub *live.Subscription, out chan<- V, conv func(*Source, liveEvent) (V, bool)) bool {
	for {
		ev, ok := sub.Next(ctx)
		if !ok {
			if err := sub.Err(); err != nil && ctx.Err() == nil {
				if errors.Is(err, live.ErrSlowConsumer) && r.Observer != nil {
					r.Observer.Dropped("slow_consumer")
				}
				r.Logger.WarnContext(ctx, "subscription ended", "tenant", src.Spec.Tenant, "source", src.Spec.ID, "err", err)
				reportEnd(ctx, src.Spec.ID, err)
				return false
			}
			return true
		}
		v, keep := conv(src, ev)
		if !keep {
			continue
		}
		select {
		case out <- v:
		case <-ctx.Done():
			return true
		}
	}
}

// CodeSlowConsumer and CodeUnavailable end a subscription early (extensions.code).
const (
	CodeSlowConsumer = live.CodeSlowConsumer
	CodeUnavailable  = "UNAVAILABLE"
)

type streamEndKey struct{}

// streamEnd holds the first reason a subscription's streams ended early.
type streamEnd struct {
	mu  sync.Mutex
	err error
}

func reportEnd(ctx context.Context, source string, err error) {
	var ce error
	switch {
	case errors.Is(err, live.ErrSlowConsumer):
		ce = &codedError{code: CodeSlowConsumer, msg: live.SlowConsumerMessage(source)}
	case errors.Is(err, live.ErrHubClosed):
		ce = errorf(CodeUnavailable, "subscription ended: the gateway closed its live streams (shutdown or reload); resubscribe with the last cursor")
	default:
		ce = errorf(CodeUnavailable, "subscription ended: the live stream of source %s ended", source)
	}
	if f := live.FeedFrom(ctx); f != nil {
		f.Fail(ce)
	}
	end, ok := ctx.Value(streamEndKey{}).(*streamEnd)
	if !ok {
		return
	}
	end.mu.Lock()
	defer end.mu.Unlock()
	if end.err == nil {
		end.err = ce
	}
}

// EndSubscriptions is an operation middleware: a subscription whose live stream ends early
// (its subscriber fell too far behind, or the hub closed) gets one last response carrying
// the reason as a GraphQL error before it completes, whatever the transport.
func EndSubscriptions(present graphql.ErrorPresenterFunc) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
			return next(ctx)
		}
		end := &streamEnd{}
		h := next(context.WithValue(ctx, streamEndKey{}, end))
		done := false
		return func(rctx context.Context) *graphql.Response {
			if done {
				return nil
			}
			if resp := h(rctx); resp != nil {
				return resp
			}
			done = true
			end.mu.Lock()
			err := end.err
			end.mu.Unlock()
			if err == nil || rctx.Err() != nil {
				return nil
			}
			return &graphql.Response{Errors: gqlerror.List{present(rctx, err)}}
		}
	}
}

// resumePosition is a subscription's last sequence number per source; its encoding is the
// `cursor` of each event and the `after` argument of a resumed subscription.
type resumePosition struct {
	mu   sync.Mutex
	seqs map[string]uint64
}

func (p *resumePosition) advance(source string, seq uint64) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq > p.seqs[source] {
		p.seqs[source] = seq
	}
	// The JSON object json.Marshal would write (keys sorted), built without reflection:
	// every delivery to every subscriber carries one.
	keys := make([]string, 0, len(p.seqs))
	for k := range p.seqs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 32*len(keys))
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k) // source IDs are config identifiers: quoting is JSON's
		b = append(b, ':')
		b = strconv.AppendUint(b, p.seqs[k], 10)
	}
	b = append(b, '}')
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeResume(after *string) (map[string]uint64, error) {
	m := map[string]uint64{}
	if after == nil || *after == "" {
		return m, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*after)
	if err != nil || json.Unmarshal(b, &m) != nil {
		return nil, errorf(CodeBadInput, "after: malformed resume cursor")
	}
	return m, nil
}

// liveState returns a source's live state for topic when a stream is up and holds state.
func (r *Resolver) liveState(src *Source, topic upstreams.Topic) ([]upstreams.Item, bool) {
	if r.Hub == nil {
		return nil, false
	}
	return r.Hub.State(streamKey(src, topic))
}

// snapshotOnce opens (or joins) a source's stream for topic and waits up to wait for it to
// hold state; the hub keeps the stream for its linger so following queries are cheap.
func (r *Resolver) snapshotOnce(ctx context.Context, src *Source, st upstreams.Streamer, topic upstreams.Topic, wait time.Duration) ([]any, error) {
	values := func(items []upstreams.Item) []any {
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = it.Value
		}
		return out
	}
	if items, ok := r.liveState(src, topic); ok {
		return values(items), nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	sub, err := r.Hub.Subscribe(ctx, streamKey(src, topic), opener(st, topic), live.SubscribeOptions{})
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s of source %s: %w", topic, src.Spec.ID, err)
	}
	defer sub.Close()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if items, ok := r.liveState(src, topic); ok {
			return values(items), nil
		}
		select {
		case <-ctx.Done():
			return nil, &codedError{code: "UPSTREAM_UNAVAILABLE", source: src.Spec.ID, msg: fmt.Sprintf("source %s: no live %s state yet", src.Spec.ID, topic)}
		case _, ok := <-sub.Events():
			if !ok {
				return nil, fmt.Errorf("live %s of source %s: %w", topic, src.Spec.ID, sub.Err())
			}
		case <-tick.C:
		}
	}
}

// ShareScope says within which callers a subscription gives the same results, for a
// transport that runs identical subscriptions once (wstransport Config.Share): the tenant,
// the scopes and the source restriction of the token, not its subject. Only the live topic
// subscriptions, which take up a live.Feed, are shared.
func ShareScope(ctx context.Context, oc *graphql.OperationContext) (string, bool) {
	p, ok := auth.FromContext(ctx)
	if !ok || oc.Operation == nil || len(oc.Operation.SelectionSet) != 1 {
		return "", false
	}
	f, ok := oc.Operation.SelectionSet[0].(*ast.Field)
	if !ok || !slices.Contains([]string{"callEvents", "agentUpdates", "queueUpdates"}, f.Name) {
		return "", false
	}
	scopes, sources := slices.Clone(p.Scopes), slices.Clone(p.Sources)
	slices.Sort(scopes)
	slices.Sort(sources)
	b, err := json.Marshal([]any{p.Tenant, scopes, sources})
	if err != nil {
		return "", false
	}
	return string(b), true
}
