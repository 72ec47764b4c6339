package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// ErrNoOwner is returned by Link.Sync when no replica answers for the stream.
var ErrNoOwner = errors.New("live: no replica owns the stream")

// ErrLeaseLost is returned by Link.Renew when another replica holds the stream's lease.
var ErrLeaseLost = errors.New("live: stream lease lost")

// Bus decides which replica owns each stream and carries the owner's changes to the other
// replicas. The hub drives it; implementations only move bytes and leases.
type Bus interface {
	// Join starts this replica's part in key's stream; peer receives what the owner sends
	// and answers snapshot requests while this replica owns the stream.
	Join(key StreamKey, peer Peer) (Link, error)
}

// Peer is the hub's side of a joined stream.
type Peer interface {
	// Receive is called with each message another replica published for the stream, one
	// at a time, in the order they were published.
	Receive(msg []byte)
	// Snapshot returns the stream's encoded state when this replica owns it, else nil.
	Snapshot() []byte
}

// Link is one replica's membership in one stream. Its methods are called by the stream's
// goroutine only.
type Link interface {
	// Acquire tries once to take the stream's lease. ok is false when another replica holds
	// it. epoch grows with every acquisition, so replicas can drop a former owner's messages.
	Acquire(ctx context.Context) (epoch uint64, ok bool, err error)
	// Renew extends the held lease; ErrLeaseLost when it is gone.
	Renew(ctx context.Context) error
	// TTL is the lease's lifetime; 0 means it never expires and Renew is not needed.
	TTL() time.Duration
	// Publish sends msg to the stream's other replicas without waiting for them.
	Publish(msg []byte) error
	// Sync asks the owner for its Snapshot; ErrNoOwner when none answers.
	Sync(ctx context.Context) ([]byte, error)
	// Close stops delivery to the Peer and gives up a held lease.
	Close() error
}

// localBus is the in-process default: every stream is owned by the only replica.
type localBus struct{}

type localLink struct{}

func (localBus) Join(StreamKey, Peer) (Link, error) { return localLink{}, nil }

func (localLink) Acquire(context.Context) (uint64, bool, error) { return 1, true, nil }
func (localLink) Renew(context.Context) error                   { return nil }
func (localLink) TTL() time.Duration                            { return 0 }
func (localLink) Publish([]byte) error                          { return nil }
func (localLink) Sync(context.Context) ([]byte, error)          { return nil, ErrNoOwner }
func (localLink) Close() error                                  { return nil }

// Codec turns the values of a topic into bytes for a Bus that crosses processes.
type Codec interface {
	Encode(topic upstreams.Topic, v any) ([]byte, error)
	Decode(topic upstreams.Topic, b []byte) (any, error)
}

// ModelCodec is JSON of the canonical live values: *model.Call for calls, *model.Agent for
// agents, *model.Queue for queues.
type ModelCodec struct{}

var _ Codec = ModelCodec{}

// Encode marshals v as JSON.
func (ModelCodec) Encode(topic upstreams.Topic, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s value: %w", topic, err)
	}
	return b, nil
}

// Decode unmarshals b into the value type of topic.
func (ModelCodec) Decode(topic upstreams.Topic, b []byte) (any, error) {
	var v any
	switch topic {
	case upstreams.TopicCalls:
		v = new(model.Call)
	case upstreams.TopicAgents:
		v = new(model.Agent)
	case upstreams.TopicQueues:
		v = new(model.Queue)
	default:
		return nil, fmt.Errorf("decoding value: unknown topic %q", topic)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decoding %s value: %w", topic, err)
	}
	return v, nil
}
