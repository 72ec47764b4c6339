package main

import (
	"bytes"
	"cmp"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// stream is one subscriber's receive state in a receive loop.
type stream struct {
	pending []byte // the start of a frame whose rest has not arrived
	asm     assembler
	write   func([]byte) error // sends a whole frame (pongs)
}

// tally is what one receive loop counted. A loop owns its tally: nothing in it is shared
// while the loop runs, so a million messages a second cost no cache-line traffic between
// cores; the loops' tallies are merged at the end.
type tally struct {
	window *window
	log    *slog.Logger

	events, deltas, errors, ended int64
	reads                         int64 // socket reads that returned data while measuring
	perDelivery                   histogram
	lastPerEvent                  map[uint64]lastDelivery // per event seq
	ats                           [512]atMemo
}

// lastDelivery is one event's latency to the last subscriber that got it, and when it
// happened.
type lastDelivery struct {
	latency time.Duration
	at      time.Time
}

// atMemo remembers one event's parsed `at`: every subscriber gets the same event, and
// parsing its time ten thousand times would measure this tool.
type atMemo struct {
	raw string
	at  time.Time
}

func newTally(w *window, log *slog.Logger) *tally {
	return &tally{window: w, log: log, lastPerEvent: map[uint64]lastDelivery{}}
}

// window is the measured period: events are counted while it is open, and timed when they
// happened in it (an event of the connect burst that arrives late is not the held state's).
type window struct {
	open  atomic.Bool
	since atomic.Int64 // unix nanoseconds
}

// start opens the window at now.
func (w *window) start(now time.Time) {
	w.since.Store(now.UnixNano())
	w.open.Store(true)
}

func (w *window) stop() { w.open.Store(false) }

// includes reports whether an event that happened at at is timed.
func (w *window) includes(at time.Time) bool { return at.UnixNano() >= w.since.Load() }

// errEnded is a subscription the gateway ended (error or complete message).
var errEnded = errors.New("subscription ended by the gateway")

// feed parses data, read from s's socket at now, into messages and counts them; an error
// ends the subscriber.
func (t *tally) feed(s *stream, data []byte, now time.Time) error {
	if t.window.open.Load() {
		t.reads++
	}
	buf := data
	if len(s.pending) > 0 {
		s.pending = append(s.pending, data...)
		buf = s.pending
	}
	for {
		f, n, err := parseFrame(buf)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		buf = buf[n:]
		if handled, err := control(f, s.write); handled || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		msg, done, err := s.asm.add(f)
		if err != nil {
			return err
		}
		if done {
			if err := t.message(s, msg, now); err != nil {
				return err
			}
		}
	}
	// Keep the unparsed rest; buf may alias s.pending, so move it to the front.
	s.pending = s.pending[:copy(s.pending[:cap(s.pending)], buf)]
	if len(s.pending) < len(buf) {
		s.pending = append(s.pending, buf[len(s.pending):]...)
	}
	return nil
}

// message counts one graphql-transport-ws message.
func (t *tally) message(s *stream, msg []byte, now time.Time) error {
	rest, typ := field(msg, "type")
	switch string(typ) {
	case "ping":
		pong, err := appendFrame(nil, opText, []byte(`{"type":"pong"}`))
		if err == nil {
			err = s.write(pong)
		}
		return err
	case "next":
		if !t.window.open.Load() {
			return nil
		}
	case "error", "complete":
		t.errors++
		t.log.Warn("subscription ended", "message", string(msg))
		return errEnded
	default:
		return nil
	}
	t.events++
	// The fields are looked for in the order the default query selects them, each from
	// where the last was found, falling back to the whole message.
	rest, seqRaw := fieldAfter(msg, rest, "seq")
	rest, kind := fieldAfter(msg, rest, "kind")
	_, atRaw := fieldAfter(msg, rest, "at")
	if string(kind) != "UPSERT" && string(kind) != "REMOVE" {
		return nil // snapshots and RESYNC: their at is the item's last change
	}
	seq, err := strconv.ParseUint(string(seqRaw), 10, 64)
	if err != nil {
		return nil
	}
	memo := &t.ats[seq%uint64(len(t.ats))]
	if memo.raw != string(atRaw) {
		at, err := time.Parse(time.RFC3339Nano, string(atRaw))
		if err != nil {
			return nil
		}
		*memo = atMemo{raw: string(atRaw), at: at}
	}
	if !t.window.includes(memo.at) {
		return nil
	}
	d := now.Sub(memo.at)
	t.deltas++
	t.perDelivery.record(d)
	if old, ok := t.lastPerEvent[seq]; !ok || d > old.latency {
		t.lastPerEvent[seq] = lastDelivery{d, memo.at}
	}
	return nil
}

// add merges o into t.
func (t *tally) add(o *tally) {
	t.events += o.events
	t.deltas += o.deltas
	t.errors += o.errors
	t.ended += o.ended
	t.reads += o.reads
	t.perDelivery.merge(&o.perDelivery)
	for seq, d := range o.lastPerEvent {
		if old, ok := t.lastPerEvent[seq]; !ok || d.latency > old.latency {
			t.lastPerEvent[seq] = d
		}
	}
}

// lastSubscriber returns the per-event latencies of the last subscriber as a histogram.
func (t *tally) lastSubscriber() *histogram {
	h := &histogram{}
	for _, d := range t.lastPerEvent {
		h.record(d.latency)
	}
	return h
}

// lastSubscriberOver returns the p99 to the last subscriber of the events in each span of
// the window from start on, in order: whether a tail is steady or a moment's.
func (t *tally) lastSubscriberOver(start time.Time, span time.Duration) []time.Duration {
	var hs []*histogram
	for _, d := range t.lastPerEvent {
		i := int(d.at.Sub(start) / span)
		if i < 0 {
			continue
		}
		for len(hs) <= i {
			hs = append(hs, &histogram{})
		}
		hs[i].record(d.latency)
	}
	p99 := make([]time.Duration, len(hs))
	for i, h := range hs {
		p99[i] = h.quantile(0.99)
	}
	return p99
}

// slowest returns the n events with the slowest last subscriber, slowest first.
func (t *tally) slowest(n int) []lastDelivery {
	all := slices.Collect(maps.Values(t.lastPerEvent))
	slices.SortFunc(all, func(a, b lastDelivery) int { return cmp.Compare(b.latency, a.latency) })
	return all[:min(n, len(all))]
}

// field returns the first string value of "name" in a JSON message and what follows it,
// without decoding the rest: ten thousand readers decoding full documents would measure
// this tool, not the gateway. The key is looked for without its opening quote, which
// would stop the search at every other byte of a JSON document.
func field(msg []byte, name string) (rest, value []byte) {
	var buf [32]byte // the key is built on the stack: this runs for every message
	key := append(append(buf[:0], name...), `":"`...)
	for from := 0; ; {
		i := bytes.Index(msg[from:], key)
		if i < 0 {
			return msg, nil
		}
		i += from
		if i > 0 && msg[i-1] == '"' {
			rest = msg[i+len(key):]
			j := bytes.IndexByte(rest, '"')
			if j < 0 {
				return msg, nil
			}
			return rest[j+1:], rest[:j]
		}
		from = i + 1
	}
}

// fieldAfter is field looking in after first, then in the whole message.
func fieldAfter(msg, after []byte, name string) (rest, value []byte) {
	if rest, v := field(after, name); v != nil {
		return rest, v
	}
	return field(msg, name)
}
