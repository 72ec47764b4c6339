package live

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/switchboard-cc/switchboard/graph/model"
)

// Subscription is one subscriber's view of a stream.
type Subscription struct {
	hub   *Hub
	st    *stream
	limit int
	opts  SubscribeOptions
	// shares is how many subscribers this subscription serves (see SetShares); -1 unset.
	shares atomic.Int64

	out  chan Event
	wake chan struct{} // a push happened; capacity 1
	stop chan struct{} // closed by end
	done chan struct{} // closed once the subscription has left its stream

	pumpOnce   sync.Once
	finishOnce sync.Once
	stopAfter  func() bool // unregisters the end-on-ctx-done callback

	mu sync.Mutex
	// queue[head:] is pending; the consumed prefix is reused instead of reallocated.
	queue []Event
	head  int
	// initial counts the snapshot or replay entries still at the front of queue; they do
	// not count against limit, so a large snapshot cannot make a new subscriber "slow".
	initial int
	ended   bool
	started bool // start has queued the initial events
	pumping bool // Events was called: a goroutine feeds out
	err     error
}

func newSubscription(h *Hub, st *stream, limit int, opts SubscribeOptions) *Subscription {
	s := &Subscription{
		hub: h, st: st, limit: limit, opts: opts,
		out: make(chan Event), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	s.shares.Store(-1)
	return s
}

// Events delivers the snapshot (kind SNAPSHOT, or RESYNC when a resume missed too much),
// then the changes in Seq order. It is closed when the subscription ends; see Err. The
// first call starts a goroutine that feeds the channel; Next does the same without one. Use
// one or the other for a subscription.
func (s *Subscription) Events() <-chan Event {
	s.pumpOnce.Do(func() {
		s.mu.Lock()
		s.pumping = true
		s.mu.Unlock()
		s.hub.wg.Add(1)
		go s.pump()
	})
	return s.out
}

// Next waits for the next event, in the order Events would deliver it. It returns false
// when the subscription has ended (see Err) or ctx is done. With thousands of subscribers
// the goroutine Events needs per subscriber is a visible share of memory and scheduling,
// so consumers that loop anyway should call Next.
func (s *Subscription) Next(ctx context.Context) (Event, bool) {
	for {
		if e, ok := s.next(); ok {
			return e, true
		}
		select {
		case <-s.wake:
		case <-s.stop:
			return Event{}, false
		case <-ctx.Done():
			return Event{}, false
		}
	}
}

// SetShares records that the subscription serves n subscribers (a shared subscription,
// see Feed), for StreamInfo.Subscribers; it counts as one until set.
func (s *Subscription) SetShares(n int) { s.shares.Store(int64(max(n, 0))) }

func (s *Subscription) weight() int {
	if n := s.shares.Load(); n >= 0 {
		return int(n)
	}
	return 1
}

// Err says why Events was closed: nil after Close or the context ending, ErrSlowConsumer,
// or ErrHubClosed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription, leaves the stream and, if Events was used, waits until it
// is closed.
func (s *Subscription) Close() {
	s.end(nil)
	if !s.isPumping() {
		s.finish()
	}
	<-s.done
}

func (s *Subscription) isPumping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pumping
}

// finish leaves the stream once: by Close, by the pump's exit, or when the subscriber's
// context ends.
func (s *Subscription) finish() {
	s.finishOnce.Do(func() {
		if s.stopAfter != nil {
			s.stopAfter()
		}
		s.hub.release(s.st, s)
		close(s.done)
	})
}

// ctxDone ends the subscription when the subscriber's context ends.
func (s *Subscription) ctxDone() {
	s.end(nil)
	if !s.isPumping() {
		s.finish()
	}
}

// start queues what the subscriber must see first, the stream being at seq; called again
// with a RESYNC snapshot, it drops the queued deltas, which the snapshot supersedes. The
// stream's lock is held.
func (s *Subscription) start(first []Event, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.opts.DeltasOnly && !s.started {
		first = nil
	}
	s.started = true
	if s.opts.OnAttach != nil {
		s.opts.OnAttach(seq)
	}
	s.queue, s.head, s.initial = first, 0, len(first)
	s.signal()
}

// push queues e without blocking; the stream goroutine calls it under the stream's lock.
func (s *Subscription) push(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.opts.InitialOnly {
		return
	}
	defer s.signal()
	if len(s.queue)-s.head-s.initial < s.limit {
		s.append(e)
		return
	}
	i := s.lastIndex(e.Key)
	if i < 0 {
		if s.opts.Shared {
			s.append(e)
			return
		}
		s.endLocked(ErrSlowConsumer)
		return
	}
	if old := s.queue[i]; i-s.head < s.initial && (old.Kind == model.EventKindSnapshot || old.Kind == model.EventKindResync) {
		// The subscriber has not seen this key yet: patch the snapshot instead of queueing.
		if e.Kind == model.EventKindRemove {
			s.removeAt(i)
		} else {
			s.queue[i].Value, s.queue[i].At = e.Value, e.At
		}
		return
	}
	// Move the key to the back so that Seqs stay increasing; the latest value wins.
	s.removeAt(i)
	s.append(e)
}

func (s *Subscription) append(e Event) {
	if len(s.queue) == cap(s.queue) && s.head > 0 {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	s.queue = append(s.queue, e)
}

func (s *Subscription) lastIndex(key string) int {
	for i := len(s.queue) - 1; i >= s.head; i-- {
		if s.queue[i].Key == key {
			return i
		}
	}
	return -1
}

func (s *Subscription) removeAt(i int) {
	if i-s.head < s.initial {
		s.initial--
	}
	copy(s.queue[i:], s.queue[i+1:])
	s.queue[len(s.queue)-1] = Event{}
	s.queue = s.queue[:len(s.queue)-1]
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subscription) next() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.queue) {
		if s.opts.InitialOnly && s.started {
			s.endLocked(nil)
		}
		return Event{}, false
	}
	e := s.queue[s.head]
	s.queue[s.head] = Event{}
	s.head++
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
	}
	if s.initial > 0 {
		s.initial--
	}
	return e, true
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(err)
}

func (s *Subscription) endLocked(err error) {
	if s.ended {
		return
	}
	s.ended, s.err, s.queue, s.head, s.initial = true, err, nil, 0, 0
	close(s.stop)
}

// pump moves queued events to Events until the subscription ends.
func (s *Subscription) pump() {
	defer s.hub.wg.Done()
	defer s.finish()
	defer close(s.out)
	for {
		e, ok := s.next()
		if !ok {
			select {
			case <-s.wake:
				continue
			case <-s.stop:
				return
			}
		}
		select {
		case s.out <- e:
		case <-s.stop:
			return
		}
	}
}
