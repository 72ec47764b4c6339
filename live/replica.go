package live

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
)

// wireMsg is what the owner of a stream publishes to the other replicas: a change (Kind
// UPSERT or REMOVE) or, with an empty Kind, its health.
type wireMsg struct {
	Epoch uint64 `json:"epoch"`
	// Prev is the owner's seq before this change; a mirror applies the change only when it
	// holds exactly that seq, so a lost message is noticed at the next one.
	Prev   uint64             `json:"prev,omitempty"`
	Seq    uint64             `json:"seq,omitempty"`
	Kind   model.EventKind    `json:"kind,omitempty"`
	Key    string             `json:"key,omitempty"`
	Value  []byte             `json:"value,omitempty"` // codec output; absent for REMOVE
	At     time.Time          `json:"at"`
	Status model.HealthStatus `json:"status,omitempty"`
	Reason string             `json:"reason,omitempty"`
}

// wireSnap is the owner's answer to a sync request.
type wireSnap struct {
	Epoch    uint64             `json:"epoch"`
	Seq      uint64             `json:"seq"`
	HasState bool               `json:"hasState"`
	Status   model.HealthStatus `json:"status"`
	Reason   string             `json:"reason,omitempty"`
	Items    []wireItem         `json:"items"`
}

type wireItem struct {
	Key   string    `json:"key"`
	Value []byte    `json:"value"`
	At    time.Time `json:"at"`
}

var _ Peer = (*stream)(nil)

func (st *stream) publishLocked(prev uint64, e Event) {
	if !st.remote || !st.owner {
		return
	}
	m := wireMsg{Epoch: st.epoch, Prev: prev, Seq: e.Seq, Kind: e.Kind, Key: e.Key, At: e.At}
	if e.Kind != model.EventKindRemove {
		b, err := st.cfg.Codec.Encode(st.key.Topic, e.Value)
		if err != nil {
			// Mirrors notice the gap at the next message and resync.
			st.log.Error("encoding live event for the bus", slog.String("key", e.Key), slog.Any("err", err))
			return
		}
		m.Value = b
	}
	st.sendLocked(m)
}

func (st *stream) publishHealthLocked() {
	if st.remote && st.owner {
		st.sendLocked(wireMsg{Epoch: st.epoch, At: st.since, Status: st.status, Reason: st.reason})
	}
}

func (st *stream) sendLocked(m wireMsg) {
	b, err := json.Marshal(m)
	if err == nil {
		err = st.link.Publish(b)
	}
	if err != nil {
		st.log.Debug("publishing live event", slog.Any("err", err))
	}
}

// Receive applies a message of the owner to the mirror.
func (st *stream) Receive(b []byte) {
	var m wireMsg
	if err := json.Unmarshal(b, &m); err != nil {
		st.log.Warn("decoding live bus message", slog.Any("err", err))
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.owner || m.Epoch < st.epoch {
		return // this replica is the owner, or the message comes from a former one
	}
	if m.Kind == "" {
		st.epoch = m.Epoch
		st.status, st.reason, st.since = m.Status, m.Reason, m.At
		return
	}
	if !st.synced {
		if len(st.backlog) >= st.cfg.Replay {
			st.backlog = st.backlog[1:]
		}
		st.backlog = append(st.backlog, m)
		return
	}
	st.applyLocked(m)
}

func (st *stream) applyLocked(m wireMsg) {
	newOwner := m.Epoch > st.epoch
	st.epoch = max(st.epoch, m.Epoch)
	if m.Prev != st.seq {
		if !newOwner && m.Seq <= st.seq {
			return // already part of the snapshot this mirror synced from
		}
		st.lostSyncLocked(m)
		return
	}
	e := Event{Seq: m.Seq, Kind: m.Kind, Key: m.Key, At: m.At}
	switch m.Kind {
	case model.EventKindRemove:
		old, ok := st.items[m.Key]
		if !ok {
			st.lostSyncLocked(m)
			return
		}
		e.Value = old.value
		delete(st.items, m.Key)
	case model.EventKindUpsert:
		v, err := st.cfg.Codec.Decode(st.key.Topic, m.Value)
		if err != nil {
			st.log.Warn("decoding live bus event", slog.String("key", m.Key), slog.Any("err", err))
			st.lostSyncLocked(m)
			return
		}
		e.Value = v
		st.items[m.Key] = entry{value: v, at: m.At}
	default:
		st.log.Warn("live bus event of unknown kind", slog.String("kind", string(m.Kind)))
		return
	}
	st.hasState, st.adopted = true, true
	st.recordLocked(e)
}

// lostSyncLocked keeps m for after the next snapshot and wakes the stream goroutine to
// fetch one.
func (st *stream) lostSyncLocked(m wireMsg) {
	st.synced = false
	st.backlog = append(st.backlog[:0], m)
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// Snapshot encodes the owned stream's state for a mirror that syncs.
func (st *stream) Snapshot() []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.remote || !st.owner {
		return nil
	}
	s := wireSnap{Epoch: st.epoch, Seq: st.seq, HasState: st.hasState, Status: st.status, Reason: st.reason,
		Items: make([]wireItem, 0, len(st.items))}
	for k, e := range st.items {
		b, err := st.cfg.Codec.Encode(st.key.Topic, e.value)
		if err != nil {
			st.log.Error("encoding live snapshot for the bus", slog.String("key", k), slog.Any("err", err))
			return nil
		}
		s.Items = append(s.Items, wireItem{Key: k, Value: b, At: e.at})
	}
	b, err := json.Marshal(s)
	if err != nil {
		st.log.Error("encoding live snapshot for the bus", slog.Any("err", err))
		return nil
	}
	return b
}

// applySnapshot replaces the mirror's state with the owner's. Subscribers that saw the old
// state get a RESYNC of the new one when the two differ; the replay window restarts at the
// snapshot, so older resume cursors get a RESYNC too.
func (st *stream) applySnapshot(b []byte) error {
	var s wireSnap
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decoding snapshot: %w", err)
	}
	items := make(map[string]entry, len(s.Items))
	for _, it := range s.Items {
		v, err := st.cfg.Codec.Decode(st.key.Topic, it.Value)
		if err != nil {
			return fmt.Errorf("decoding snapshot item %q: %w", it.Key, err)
		}
		items[it.Key] = entry{value: v, at: it.At}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.owner || s.Epoch < st.epoch {
		return nil
	}
	changed := len(items) != len(st.items)
	for k, e := range items {
		if old, ok := st.items[k]; !ok || !reflect.DeepEqual(old.value, e.value) {
			changed = true
			break
		}
	}
	st.epoch, st.items, st.hasState, st.seq, st.floor = s.Epoch, items, s.HasState, s.Seq, s.Seq
	clear(st.replay)
	st.replay, st.rHead, st.adopted = st.replay[:0], 0, true
	if st.status != s.Status || st.reason != s.Reason {
		st.status, st.reason, st.since = s.Status, s.Reason, st.cfg.Now()
	}
	if changed {
		for sub := range st.subs {
			sub.start(st.resyncLocked(), st.seq)
		}
	}
	st.markSyncedLocked()
	backlog := st.backlog
	st.backlog = nil
	for _, m := range backlog {
		if !st.synced {
			st.backlog = append(st.backlog, m)
			continue
		}
		st.applyLocked(m)
	}
	st.log.Debug("live stream synced from its owner", slog.Uint64("seq", s.Seq), slog.Int("items", len(items)))
	return nil
}
