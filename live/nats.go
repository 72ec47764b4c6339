package live

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// replicaHeader names the publishing link, so a replica skips its own messages.
const replicaHeader = "Switchboard-Link"

// NATSConfig configures a NATSBus. Zero values take the defaults in brackets.
type NATSConfig struct {
	// ReplicaID names this replica in lease values, for operators [the hostname].
	ReplicaID string
	// LeaseTTL is how long a stream's lease outlives a replica that stopped renewing it; the
	// owner renews every third of it. Every replica must use the same value [10s].
	LeaseTTL time.Duration
	// Bucket is the JetStream key-value bucket holding the leases ["switchboard_leases"].
	Bucket string
	// Prefix is the first token of every subject ["switchboard"].
	Prefix string
}

// NATSBus is a Bus over NATS: leases in a JetStream key-value bucket whose TTL expires the
// lease of a replica that died, changes on core NATS subjects per stream
// (<prefix>.<tenant>.<source>.<topic>.<identity hash>.events), and snapshots by request
// on ...snapshot, answered by the owner.
type NATSBus struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg NATSConfig
	log *slog.Logger

	mu sync.Mutex
	kv jetstream.KeyValue // made on first use, so a server that is down at start only delays leases
}

var _ Bus = (*NATSBus)(nil)

// NewNATSBus returns a bus on nc, which the caller owns and closes after the hub. nc should
// reconnect forever (nats.MaxReconnects(-1)); logger nil discards logs.
func NewNATSBus(nc *nats.Conn, cfg NATSConfig, logger *slog.Logger) (*NATSBus, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReplicaID == "" {
		cfg.ReplicaID, _ = os.Hostname()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "switchboard_leases"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "switchboard"
	}
	if !plain(cfg.Prefix) {
		return nil, fmt.Errorf("configuring nats bus: prefix %q: want letters, digits, '-' or '_'", cfg.Prefix)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening jetstream: %w", err)
	}
	return &NATSBus{nc: nc, js: js, cfg: cfg, log: logger}, nil
}

func (b *NATSBus) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, nil
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: b.cfg.Bucket, TTL: b.cfg.LeaseTTL, History: 1, Storage: jetstream.FileStorage,
		Description: "switchboard live stream leases",
	})
	if err != nil {
		return nil, fmt.Errorf("opening lease bucket %q: %w", b.cfg.Bucket, err)
	}
	b.kv = kv
	return kv, nil
}

// plain reports whether s is a short run of letters, digits, '-' and '_': safe as a subject
// token and as part of a key.
func plain(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// token makes s usable as a subject token and key part: itself when it is plain, else a hash.
func token(s string) string {
	if plain(s) {
		return s
	}
	return "h" + hashHex(s)
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// Join subscribes to key's changes.
func (b *NATSBus) Join(key StreamKey, peer Peer) (Link, error) {
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	name := token(key.Tenant) + "." + token(key.Source) + "." + token(string(key.Topic)) + ".i" + hashHex(key.Identity)
	l := &natsLink{
		bus: b, peer: peer, key: name, subject: b.cfg.Prefix + "." + name,
		value: b.cfg.ReplicaID + "/" + hex.EncodeToString(nonce[:]),
	}
	sub, err := b.nc.Subscribe(l.subject+".events", func(m *nats.Msg) {
		if m.Header.Get(replicaHeader) != l.value {
			peer.Receive(m.Data)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", l.subject, err)
	}
	l.events = sub
	return l, nil
}

// natsLink is one stream's membership. rev and snaps belong to the stream goroutine.
type natsLink struct {
	bus     *NATSBus
	peer    Peer
	key     string // in the lease bucket
	subject string
	value   string // this link's lease value: replica id and a nonce
	events  *nats.Subscription
	snaps   *nats.Subscription
	rev     uint64 // of the held lease; 0 when not held
}

func (l *natsLink) TTL() time.Duration { return l.bus.cfg.LeaseTTL }

func (l *natsLink) Acquire(ctx context.Context) (uint64, bool, error) {
	kv, err := l.bus.bucket(ctx)
	if err != nil {
		return 0, false, err
	}
	rev, err := kv.Create(ctx, l.key, []byte(l.value))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("creating lease %s: %w", l.key, err)
	}
	l.rev = rev
	if l.snaps == nil {
		l.snaps, err = l.bus.nc.Subscribe(l.subject+".snapshot", func(m *nats.Msg) {
			// An empty answer from a replica that just lost the lease reads as "no owner".
			_ = m.Respond(l.peer.Snapshot())
		})
		if err != nil {
			l.release()
			return 0, false, fmt.Errorf("subscribing to %s.snapshot: %w", l.subject, err)
		}
	}
	return rev, true, nil
}

func (l *natsLink) Renew(ctx context.Context) error {
	kv, err := l.bus.bucket(ctx)
	if err != nil {
		return err
	}
	rev, err := kv.Update(ctx, l.key, []byte(l.value), l.rev)
	if err == nil {
		l.rev = rev
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("renewing lease %s: %w", l.key, err)
	}
	// The previous renewal may have been stored although its answer was lost.
	if e, gerr := kv.Get(ctx, l.key); gerr == nil && string(e.Value()) == l.value {
		l.rev = e.Revision()
		return nil
	}
	l.dropSnapshots()
	l.rev = 0
	return ErrLeaseLost
}

func (l *natsLink) Publish(msg []byte) error {
	m := &nats.Msg{Subject: l.subject + ".events", Data: msg, Header: nats.Header{}}
	m.Header.Set(replicaHeader, l.value)
	if err := l.bus.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("publishing to %s: %w", l.subject, err)
	}
	return nil
}

func (l *natsLink) Sync(ctx context.Context) ([]byte, error) {
	m, err := l.bus.nc.RequestWithContext(ctx, l.subject+".snapshot", nil)
	if errors.Is(err, nats.ErrNoResponders) || (err == nil && len(m.Data) == 0) {
		return nil, ErrNoOwner
	}
	if err != nil {
		return nil, fmt.Errorf("requesting snapshot of %s: %w", l.subject, err)
	}
	return m.Data, nil
}

func (l *natsLink) Close() error {
	l.dropSnapshots()
	err := l.events.Unsubscribe()
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		err = nil
	}
	l.release()
	if err != nil {
		return fmt.Errorf("unsubscribing from %s: %w", l.subject, err)
	}
	return nil
}

func (l *natsLink) dropSnapshots() {
	if l.snaps != nil {
		_ = l.snaps.Unsubscribe()
		l.snaps = nil
	}
}

// release deletes a held lease so that another replica takes the stream over at once
// rather than after the TTL. Failing that, the TTL does it.
func (l *natsLink) release() {
	if l.rev == 0 || l.bus.nc.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if kv, err := l.bus.bucket(ctx); err == nil {
		if err := kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
			l.bus.log.Debug("releasing live stream lease", slog.String("key", l.key), slog.Any("err", err))
		}
	}
	l.rev = 0
}

// EmbeddedConfig configures an in-process NATS server.
type EmbeddedConfig struct {
	// Port is the port on 127.0.0.1 [0: a free one].
	Port int
	// StoreDir keeps JetStream data (the leases) [a new temporary directory, removed on
	// Shutdown].
	StoreDir string
}

// EmbeddedServer is a NATS server with JetStream running inside this process, for a
// single-binary cluster and for tests.
type EmbeddedServer struct {
	srv *server.Server
	tmp string
}

// EmbeddedNATS starts a NATS server with JetStream on 127.0.0.1 and waits until it accepts
// connections.
func EmbeddedNATS(cfg EmbeddedConfig) (*EmbeddedServer, error) {
	e := &EmbeddedServer{}
	dir := cfg.StoreDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "switchboard-nats-")
		if err != nil {
			return nil, fmt.Errorf("making nats store directory: %w", err)
		}
		dir, e.tmp = tmp, tmp
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		e.removeTemp()
		return nil, fmt.Errorf("configuring embedded nats: %w", err)
	}
	e.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		e.Shutdown()
		return nil, errors.New("starting embedded nats: not ready after 10s")
	}
	return e, nil
}

// URL is the server's client URL (nats://127.0.0.1:port).
func (e *EmbeddedServer) URL() string { return e.srv.ClientURL() }

// Port is the port the server listens on.
func (e *EmbeddedServer) Port() int {
	if a, ok := e.srv.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Shutdown stops the server, waits for it, and removes a temporary store directory.
func (e *EmbeddedServer) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.removeTemp()
}

func (e *EmbeddedServer) removeTemp() {
	if e.tmp != "" {
		_ = os.RemoveAll(e.tmp)
	}
}
