package live

import (
	"context"
	"sync"
)

// FeedMode says what a subscription resolver does for a shared executor (see Feed).
type FeedMode int

const (
	// FeedShared runs a subscription once for a group of subscribers: the resolver
	// subscribes with DeltasOnly and lets the executor pull each event with its Mark.
	FeedShared FeedMode = iota + 1
	// FeedInitial runs one subscriber's start: the resolver subscribes with InitialOnly,
	// reports each source's position through OnAttach, and ends after the initial events.
	FeedInitial
)

// Mark is where an event of a shared subscription comes from: its source, topic, Seq and key.
type Mark struct {
	Source, Topic string
	Seq           uint64
	Key           string
}

// Feed is the contract between a subscription resolver and an executor that runs one
// operation for many subscribers (server/wstransport). The executor puts a Feed in the
// operation's context (WithFeed); a resolver that supports sharing finds it (FeedFrom) and
// behaves as the Mode says. A subscriber then sees its own start (FeedInitial, positions
// per source S) followed by the group's events with Seq > S of that source: the same
// sequence a subscription of its own would have delivered.
type Feed struct {
	Mode FeedMode
	// OnAttach (FeedInitial) is called, under the stream's lock, with each source's Seq
	// when the subscriber's view starts or restarts (a RESYNC).
	OnAttach func(source string, seq uint64)

	mu      sync.Mutex
	pull    func(ctx context.Context) (Mark, bool)
	members func(n int)
	err     error
}

type feedKey struct{}

// WithFeed returns ctx carrying f.
func WithFeed(ctx context.Context, f *Feed) context.Context {
	return context.WithValue(ctx, feedKey{}, f)
}

// FeedFrom returns the Feed of ctx, or nil.
func FeedFrom(ctx context.Context) *Feed {
	f, _ := ctx.Value(feedKey{}).(*Feed)
	return f
}

// Claim is called by the resolver (FeedShared): pull moves the next event into the
// channel the resolver returned and says where it came from, false once the subscription
// has ended (the channel is then closed); members is told how many subscribers share it.
func (f *Feed) Claim(pull func(ctx context.Context) (Mark, bool), members func(n int)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pull, f.members = pull, members
}

// Members tells the resolver how many subscribers share the subscription now.
func (f *Feed) Members(n int) {
	f.mu.Lock()
	members := f.members
	f.mu.Unlock()
	if members != nil {
		members(n)
	}
}

// Claimed reports whether the resolver took up the feed (FeedShared).
func (f *Feed) Claimed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pull != nil
}

// Pull moves the next event into the resolver's channel, for the executor to execute it.
func (f *Feed) Pull(ctx context.Context) (Mark, bool) {
	f.mu.Lock()
	pull := f.pull
	f.mu.Unlock()
	if pull == nil {
		return Mark{}, false
	}
	return pull(ctx)
}

// Fail records why the subscription's streams ended early; the first reason wins.
func (f *Feed) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

// Err is the reason recorded by Fail, or nil.
func (f *Feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
