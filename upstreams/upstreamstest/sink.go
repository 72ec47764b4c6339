// Package upstreamstest is the shared test kit of the vendor drivers: a recording Sink, a
// loopback Server that injects faults into a simulator, golden-file comparison, and Run, the
// conformance suite every driver runs against its own simulator.
package upstreamstest

import (
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// Op names what a stream did to a Sink.
type Op string

// The operations a Sink records.
const (
	OpReset  Op = "reset"
	OpUpsert Op = "upsert"
	OpRemove Op = "remove"
	OpHealth Op = "health"
)

// Event is one call a stream made on a Sink. Its JSON form (health aside) is what golden
// files of live mappings hold.
type Event struct {
	Op     Op
	Key    string             `json:",omitempty"`
	Value  any                `json:",omitempty"`
	Items  []upstreams.Item   `json:",omitempty"`
	Status model.HealthStatus `json:",omitempty"`
	Reason string             `json:",omitempty"`
}

// Sink is a concurrency-safe upstreams.Sink that records every call in order and keeps the
// state those calls build, as the hub would. The zero value is ready to use.
type Sink struct {
	mu     sync.Mutex
	events []Event
	state  map[string]any
}

var _ upstreams.Sink = (*Sink)(nil)

func (s *Sink) add(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		s.state = map[string]any{}
	}
	switch e.Op {
	case OpReset:
		clear(s.state)
		for _, it := range e.Items {
			s.state[it.Key] = it.Value
		}
	case OpUpsert:
		s.state[e.Key] = e.Value
	case OpRemove:
		delete(s.state, e.Key)
	}
	s.events = append(s.events, e)
}

// Reset implements upstreams.Sink.
func (s *Sink) Reset(items []upstreams.Item) {
	s.add(Event{Op: OpReset, Items: slices.Clone(items)})
}

// Upsert implements upstreams.Sink.
func (s *Sink) Upsert(key string, v any) { s.add(Event{Op: OpUpsert, Key: key, Value: v}) }

// Remove implements upstreams.Sink.
func (s *Sink) Remove(key string) { s.add(Event{Op: OpRemove, Key: key}) }

// SetHealth implements upstreams.Sink.
func (s *Sink) SetHealth(st model.HealthStatus, reason string) {
	s.add(Event{Op: OpHealth, Status: st, Reason: reason})
}

// Events returns every recorded call, health included, in order.
func (s *Sink) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Changes returns the recorded resets, upserts and removes in order, without health.
func (s *Sink) Changes() []Event {
	return slices.DeleteFunc(s.Events(), func(e Event) bool { return e.Op == OpHealth })
}

// Count returns how many calls of op the sink received.
func (s *Sink) Count(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.events {
		if e.Op == op {
			n++
		}
	}
	return n
}

// Keys returns the keys of the recorded calls of op, in order.
func (s *Sink) Keys(op Op) []string {
	var out []string
	for _, e := range s.Events() {
		if e.Op == op {
			out = append(out, e.Key)
		}
	}
	return out
}

// State returns a copy of the state the calls built.
func (s *Sink) State() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.state)
}

// Get returns the current value of key, nil when absent.
func (s *Sink) Get(key string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[key]
}

// Health returns the last health reported ("" before any).
func (s *Sink) Health() (model.HealthStatus, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.events) - 1; i >= 0; i-- {
		if e := s.events[i]; e.Op == OpHealth {
			return e.Status, e.Reason
		}
	}
	return "", ""
}

// Healths returns every health reported, in order.
func (s *Sink) Healths() []model.HealthStatus {
	var out []model.HealthStatus
	for _, e := range s.Events() {
		if e.Op == OpHealth {
			out = append(out, e.Status)
		}
	}
	return out
}

// WaitFor waits until cond holds for the recorded changes (health left out) and returns them;
// it fails t after the deadline.
func (s *Sink) WaitFor(t testing.TB, what string, cond func(changes []Event) bool) []Event {
	t.Helper()
	var ev []Event
	Eventually(t, what, func() bool {
		ev = s.Changes()
		return cond(ev)
	})
	return ev
}

// WaitHealth waits until the last health reported is st.
func (s *Sink) WaitHealth(t testing.TB, st model.HealthStatus) {
	t.Helper()
	Eventually(t, "stream health "+string(st), func() bool {
		got, _ := s.Health()
		return got == st
	})
}
