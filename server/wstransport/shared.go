package wstransport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-cc/switchboard/live"
)

// Shared subscriptions. Subscribers that send the same subscription (document, operation
// name, variables) under the same Config.Share scope form a group, and the group's
// operation runs once: one hub subscription, one execution and one encoding per event,
// whatever the number of subscribers. Each subscriber keeps only its queue entry in its
// connection; it has no goroutine of its own once started.
//
// A subscriber's start is its own: its operation runs with a live.FeedInitial feed, which
// delivers its snapshot (or its resume replay, or a RESYNC) and reports each source's
// position S. From then on the group's events of that source with Seq > S are its events:
// exactly what a subscription of its own would have delivered after its start. Group
// events that arrive while its start is being sent wait in the member, in order.

// errFellBehind cancels the start of a member that fell behind while starting.
var errFellBehind = errors.New("subscriber fell behind while starting")

// errNotShared is the end of a group that could not start; its subscriber runs alone.
var errNotShared = errors.New("operation cannot be shared")

// groups are the running shared subscriptions of one Transport.
type groups struct {
	log     *slog.Logger
	pool    sync.Pool // *[]byte write buffers of corkConn
	queues  sync.Pool // *[]outMsg connection queues, between a connection's batches
	writers writers

	wg sync.WaitGroup // the groups' goroutines

	mu sync.Mutex
	m  map[string]*group
}

func newGroups(log *slog.Logger) *groups {
	gs := &groups{log: log, m: map[string]*group{}, writers: writers{max: runtime.GOMAXPROCS(0)}}
	gs.pool.New = func() any { return new([]byte) }
	gs.queues.New = func() any { return new([]outMsg) }
	return gs
}

// group is one shared subscription.
type group struct {
	key    string
	ready  chan struct{} // closed when started (or failed: err)
	err    error
	cancel context.CancelFunc

	mu      sync.Mutex
	feed    *live.Feed // nil until the group's operation has claimed it
	members []*member  // each at its index
	ended   bool
	source  string // the source of the last event, for a slow consumer's error
	start0  startCache
	// onDelivered is Config.OnDelivered of the connection that started the group.
	onDelivered func(topic string, n int)
	wake        []*conn // connections deliver made ready, handed to the writers at once
}

// member is one subscriber of a group.
type member struct {
	c  *conn
	id string
	op *operation
	g  *group

	// Guarded by the group's mu.
	index   int        // in the group's members; -1 when not one
	after   position   // its start's position on its first source
	more    []position // on further sources
	started bool       // its start is sent: events go to its connection
	held    []outMsg   // events that came while its start was being sent
	dropped string     // set when it fell behind while starting: the source
	// attaches counts its start's (re)starts (OnAttach calls); a start that restarted
	// (RESYNC) is not a plain snapshot at one seq and is neither taken from nor kept in
	// the group's start cache.
	attaches int
}

// startCache is the encoded start (snapshot, or replay for a resuming group) of the last
// member that started on a single source at one seq: a member that starts at the same seq
// gets the same messages, so they are sent again instead of executed again. An idle stream
// has one seq for every joiner.
type startCache struct {
	at       position
	payloads [][]byte
}

// cachedStart returns the start of a member that attached once, on one source, at the
// cached position.
func (g *group) cachedStart(m *member) ([][]byte, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.attaches != 1 || len(m.more) > 0 || g.start0.payloads == nil || g.start0.at != m.after {
		return nil, false
	}
	return g.start0.payloads, true
}

// keepStart caches the start m has just been sent in full.
func (g *group) keepStart(m *member, payloads [][]byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.attaches != 1 || len(m.more) > 0 || payloads == nil {
		return
	}
	g.start0 = startCache{at: m.after, payloads: payloads}
}

// join adds m to the group of key, starting the group with start when there is none.
func (gs *groups) join(key string, m *member, start func(*group) error) (*group, error) {
	gs.mu.Lock()
	g := gs.m[key]
	if g != nil {
		g.mu.Lock()
		if g.ended {
			g.mu.Unlock()
			g = nil
		} else {
			g.addLocked(m)
			g.mu.Unlock()
		}
	}
	if g == nil {
		g = &group{key: key, ready: make(chan struct{})}
		g.addLocked(m) // not yet visible to others
		gs.m[key] = g
		gs.mu.Unlock()
		g.err = start(g)
		if g.err != nil {
			gs.remove(g)
			g.mu.Lock()
			g.ended = true
			g.mu.Unlock()
		}
		close(g.ready)
	} else {
		gs.mu.Unlock()
		<-g.ready
	}
	if g.err != nil {
		return nil, g.err
	}
	return g, nil
}

// waitIdle waits up to d for every group to have ended.
func (gs *groups) waitIdle(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		gs.mu.Lock()
		n := len(gs.m)
		gs.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

func (gs *groups) remove(g *group) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.m[g.key] == g {
		delete(gs.m, g.key)
	}
}

// run executes the group's events until its feed ends or its last member leaves.
func (gs *groups) run(ctx context.Context, g *group, feed *live.Feed, responses graphql.ResponseHandler) {
	defer g.cancel()
	defer gs.end(g)
	defer func() {
		if p := recover(); p != nil {
			gs.log.Error("recovering from a shared subscription's panic", "panic", fmt.Sprint(p))
		}
	}()
	for {
		mark, ok := feed.Pull(ctx)
		resp := responses(ctx)
		if resp == nil {
			break
		}
		payload, err := encodeResponse(resp)
		if err != nil {
			gs.log.Error("encoding a shared subscription event", "err", err)
			continue
		}
		// After the feed's end come the operation's last responses (why it ended):
		// every member gets them.
		g.deliver(ctx, mark, payload, !ok)
	}
}

// end ends g and its started members.
func (gs *groups) end(g *group) {
	gs.remove(g)
	g.mu.Lock()
	g.ended = true
	var started []*member // the others are ended by start
	for _, m := range g.members {
		m.index = -1
		if m.started {
			started = append(started, m)
		}
	}
	g.members = nil
	g.mu.Unlock()
	for _, m := range started {
		m.c.endMember(m)
	}
}

// deliver queues an event to every member whose start does not already hold it.
func (g *group) deliver(ctx context.Context, mark live.Mark, payload []byte, final bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if mark.Source != "" {
		g.source = mark.Source
	}
	delivered := 0
	defer func() {
		if f := g.onDelivered; f != nil && delivered > 0 && mark.Topic != "" {
			f(mark.Topic, delivered)
		}
	}()
	// Backwards: removing a member moves the last one, already served, into its place.
	for i := len(g.members) - 1; i >= 0; i-- {
		m := g.members[i]
		if !final {
			if !m.covers(mark) {
				continue
			}
		}
		msg := outMsg{id: m.id, typ: m.c.d.next(), payload: payload, key: mark.Key, final: final}
		switch {
		case !m.started && (len(m.held) < m.c.cfg.QueueLimit || final):
			m.held = append(m.held, msg)
		case !m.started:
			g.removeLocked(m)
			m.held, m.dropped = nil, g.source
			// Stop its start too: it holds a hub subscription while its client is not
			// reading what it sends.
			m.op.cancel(errFellBehind)
		default:
			ok, wake := m.c.enqueue(msg)
			if wake {
				g.wake = append(g.wake, m.c)
			}
			switch {
			case ok:
				delivered++
			case m.c.closing():
				// Its connection is ending and takes the member out of the group: it is
				// gone, not slow.
			default:
				g.removeLocked(m)
				m.c.slowConsumer(ctx, m, g.source)
			}
		}
	}
	if len(g.wake) > 0 {
		g.wake[0].shared.writers.scheduleAll(g.wake)
		clear(g.wake)
		g.wake = g.wake[:0]
	}
}

// attach records that m's start covers source up to seq; called under the stream's lock.
func (g *group) attach(m *member, source string, seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m.attaches++
	if m.after.source == "" || m.after.source == source {
		m.after = position{source, seq}
		return
	}
	for i := range m.more {
		if m.more[i].source == source {
			m.more[i].seq = seq
			return
		}
	}
	m.more = append(m.more, position{source, seq})
}

// position is where a member's start left a source.
type position struct {
	source string
	seq    uint64
}

// covers reports whether the event at mark comes after m's start (a slice, not a map: a
// subscription has a source or two, and this runs for every member and event).
func (m *member) covers(mark live.Mark) bool {
	if m.after.source == mark.Source {
		return mark.Seq > m.after.seq
	}
	for _, p := range m.more {
		if p.source == mark.Source {
			return mark.Seq > p.seq
		}
	}
	return false // not started on that source yet: its start will hold the event
}

// dropped names the source m fell behind on while starting, or "".
func (g *group) dropped(m *member) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return m.dropped
}

func (g *group) attached(m *member) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return m.after.source != ""
}

// How a member's start ended.
const (
	startLive    = iota // the group now sends its events
	startEnded          // the group ended meanwhile: its last responses are queued
	startDropped        // it fell behind while starting (m.dropped names the source)
)

// start hands m's held events to its connection once its own start is sent.
func (g *group) start(m *member) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.dropped != "" {
		return startDropped
	}
	m.started = true
	for _, msg := range m.held {
		if !m.c.push(msg) && !g.ended && !m.c.closing() {
			g.removeLocked(m)
			m.held, m.dropped = nil, g.source
			return startDropped
		}
	}
	m.held = nil
	if g.ended {
		return startEnded
	}
	return startLive
}

// leave removes m; the group stops when its last member has left.
func (g *group) leave(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.index >= 0 {
		g.removeLocked(m)
	}
}

// addLocked makes m a member.
func (g *group) addLocked(m *member) {
	m.index = len(g.members)
	g.members = append(g.members, m)
	g.count()
}

// removeLocked removes m and stops the group when it was the last member.
func (g *group) removeLocked(m *member) {
	last := g.members[len(g.members)-1]
	g.members[m.index], last.index = last, m.index
	g.members[len(g.members)-1] = nil
	g.members, m.index = g.members[:len(g.members)-1], -1
	g.count()
	if len(g.members) == 0 && !g.ended {
		g.ended = true
		g.cancel()
	}
}

// count tells the hub how many subscribers the group serves; g.mu is held.
func (g *group) count() {
	if g.feed != nil { // nil while starting: startGroup counts once the feed is claimed
		g.feed.Members(len(g.members))
	}
}

// shareKey names the group of an operation under scope.
func shareKey(scope string, rc *graphql.OperationContext) (string, error) {
	vars, err := json.Marshal(rc.Variables) // map keys are sorted
	if err != nil {
		return "", fmt.Errorf("encoding variables: %w", err)
	}
	var b strings.Builder
	for _, s := range []string{scope, rc.OperationName, rc.RawQuery} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	b.Write(vars)
	return b.String(), nil
}

// executeShared runs a subscription as a member of its group. handled is false when the
// operation cannot be shared (it then runs on its own); otherwise the member's start has
// been sent and, when handedOver, the group owns the operation from now on.
func (c *conn) executeShared(ctx context.Context, id string, op *operation, params *graphql.RawParams, rc *graphql.OperationContext, scope string) (handled, handedOver bool) {
	key, err := shareKey(scope, rc)
	if err != nil {
		return false, false
	}
	m := &member{c: c, id: id, op: op, index: -1}
	g, err := c.shared.join(key, m, func(g *group) error { return c.startGroup(g, params) })
	if err != nil {
		if !errors.Is(err, errNotShared) {
			c.log.Debug("running a subscription on its own", "err", err)
		}
		return false, false
	}
	m.g = g
	defer func() {
		if !handedOver {
			g.leave(m) // also when the start panics
		}
	}()
	feed := &live.Feed{Mode: live.FeedInitial, OnAttach: func(source string, seq uint64) { g.attach(m, source, seq) }}
	ictx, stopStart := context.WithCancel(live.WithFeed(ctx, feed))
	defer stopStart()
	// The resolver subscribes within DispatchOperation: when the stream has state, the
	// member's position is known when it returns.
	responses, ictx := c.exec.DispatchOperation(ictx, rc)
	if cached, ok := g.cachedStart(m); ok {
		stopStart() // its own start is not needed: the same one was executed before
		for _, b := range cached {
			if c.send(ctx, message{ID: id, Type: c.d.next(), Payload: b}) != nil {
				break
			}
		}
	} else {
		var sent [][]byte
		for {
			resp := responses(ictx)
			if resp == nil {
				break
			}
			b, err := encodeResponse(resp)
			if err == nil {
				err = c.send(ctx, message{ID: id, Type: c.d.next(), Payload: b})
			}
			if err != nil {
				sent = nil
				break
			}
			sent = append(sent, b)
		}
		if ctx.Err() == nil && feed.Err() == nil && sent != nil {
			g.keepStart(m, sent)
		}
	}
	if src := g.dropped(m); src != "" && op.handOver(m) {
		c.slowConsumer(context.WithoutCancel(ctx), m, src)
		return true, true
	}
	if ctx.Err() != nil || feed.Err() != nil || !g.attached(m) || !op.handOver(m) {
		// Stopped, failed (the error is sent), or never subscribed: it ends here.
		return true, false
	}
	switch g.start(m) {
	case startEnded:
		c.endMember(m)
	case startDropped:
		c.slowConsumer(ctx, m, g.dropped(m))
	}
	return true, true
}

// startGroup starts g's operation with a live.FeedShared feed, in a context of its own
// that carries the first member's credentials (all members share its scope).
func (c *conn) startGroup(g *group, params *graphql.RawParams) error {
	gctx, cancel := context.WithCancel(context.WithoutCancel(c.opsCtx))
	g.cancel = cancel
	rc, errs := c.exec.CreateOperationContext(gctx, params)
	if errs != nil {
		cancel()
		return fmt.Errorf("%w: %v", errNotShared, errs)
	}
	feed := &live.Feed{Mode: live.FeedShared}
	gctx = graphql.WithOperationContext(live.WithFeed(graphql.StartOperationTrace(gctx), feed), rc)
	responses, gctx := c.exec.DispatchOperation(gctx, rc)
	if !feed.Claimed() {
		cancel()
		return errNotShared
	}
	g.mu.Lock()
	g.feed, g.onDelivered = feed, c.cfg.OnDelivered
	g.count()
	g.mu.Unlock()
	c.shared.wg.Go(func() { c.shared.run(gctx, g, feed, responses) })
	return nil
}

// slowConsumer ends a member whose connection cannot keep up, telling it why.
func (c *conn) slowConsumer(ctx context.Context, m *member, source string) {
	err := &gqlerror.Error{
		Message:    live.SlowConsumerMessage(source),
		Extensions: map[string]any{"code": live.CodeSlowConsumer},
	}
	b, jerr := json.Marshal(graphql.Response{Errors: c.presented(ctx, gqlerror.List{err})})
	if jerr == nil {
		c.push(outMsg{id: m.id, typ: c.d.next(), payload: b, final: true})
	}
	if c.cfg.OnSlowConsumer != nil {
		c.cfg.OnSlowConsumer()
	}
	c.log.Warn("shared subscription ended: slow consumer", "source", source)
	c.endMember(m)
}

// endMember completes a started member's operation: its id is freed, complete is queued
// after its last events, and its resources are released.
func (c *conn) endMember(m *member) {
	c.mu.Lock()
	if c.ops[m.id] == m.op {
		delete(c.ops, m.id)
	}
	c.mu.Unlock()
	c.push(outMsg{id: m.id, typ: "complete", final: true})
	m.op.done()
}
