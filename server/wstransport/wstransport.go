// Package wstransport serves GraphQL over WebSocket as a gqlgen transport,
// speaking both graphql-transport-ws (enisdenjo/graphql-ws PROTOCOL.md) and
// the legacy graphql-ws of apollographql/subscriptions-transport-ws.
//
// Sub-protocol negotiation: graphql-transport-ws is chosen whenever the client
// offers it, otherwise graphql-ws if offered. A client that offers neither
// (including one that sends no Sec-WebSocket-Protocol at all) gets HTTP 400
// before the upgrade: the two protocols reuse message names (connection_init,
// error, complete) with different meanings, so guessing would turn a client
// misconfiguration into confusing protocol errors later.
//
// Both protocols share one rule set. A fatal condition closes the socket with
// the graphql-transport-ws code (4400 invalid message, 4401 subscribe before
// ack, 4403 rejected or expired credentials, 4408 init timeout, 4409 duplicate
// operation id, 4429 second connection_init, 1009 message too big); on legacy
// graphql-ws the close is preceded by a connection_error message carrying the
// same reason. An operation error on legacy graphql-ws is followed by
// complete, as subscriptions-transport-ws clients expect; on
// graphql-transport-ws it is not.
//
// Scale (a Transport made by New, see shared.go and queue.go): identical subscriptions
// within a Config.Share scope run once for all their subscribers; each event is executed
// and encoded once and queued, as shared bytes, to every subscriber's connection. A few
// writer goroutines per Transport write each connection's queue with one system call
// (frames collected by corkConn), so batches grow with load instead of goroutines and
// system calls; a client that reads slowly gets its events for the same live item
// coalesced (latest wins) once a quarter of Config.QueueLimit waits, and is ended with a
// SLOW_CONSUMER error at the limit. With Config.Sessions, an acknowledged connection is
// read by a goroutine of its own and its HTTP handler returns, releasing net/http's
// request state and the handler's stack; that reader hands each message to a short-lived
// goroutine, so its own stack stays small. An idle subscriber then costs one goroutine,
// its connection's buffers and its place in a group. Members that start at the same stream
// seq share one execution of their start too (the group's cached start).
package wstransport

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
)

// Config tunes a Transport. Zero values select the documented defaults.
type Config struct {
	// InitTimeout is how long a client may take to send connection_init; default 10s.
	InitTimeout time.Duration
	// KeepAlive is the interval of server ping (graphql-transport-ws) or ka
	// (graphql-ws) messages after the ack; default 25s, negative disables them.
	KeepAlive time.Duration
	// MaxMessageBytes bounds one client message; default 64 KiB. A larger
	// message closes the socket with 1009.
	MaxMessageBytes int64
	// MaxSubscriptions bounds the operations active at once on one connection;
	// default 100. The operation over the limit gets an error message
	// (extensions.code LIMIT_EXCEEDED); the connection stays open.
	MaxSubscriptions int
	// OriginPatterns are the cross-origin hosts allowed to connect, as in
	// websocket.AcceptOptions; empty allows the same origin only, "*" any.
	OriginPatterns []string
	// Authenticate is called once per connection with the upgrade request and
	// the connection_init payload. It returns the context for the connection's
	// operations and the time at which the credentials expire (zero = never).
	// An error rejects the connection (4403 / connection_error). Where the
	// Authorization comes from (payload["Authorization"],
	// payload["authorization"], payload["headers"]["Authorization"] or the
	// upgrade request header) is Authenticate's business. nil accepts everyone.
	Authenticate func(ctx context.Context, r *http.Request, initPayload map[string]any) (context.Context, time.Time, error)
	// OnOperation is called before starting each operation with its context
	// (the operation context is set); a non-nil error is sent as that
	// operation's error. release, if not nil, is called when the operation
	// ends. nil allows every operation.
	OnOperation func(ctx context.Context) (release func(), err error)
	// Share, if set, lets subscriptions share their execution (see New): it returns the
	// scope of ctx's caller within which identical subscriptions give identical results
	// (for example tenant, scopes and source restrictions, not the subject), and false for
	// an operation that must run on its own.
	Share func(ctx context.Context, oc *graphql.OperationContext) (scope string, ok bool)
	// QueueLimit bounds the messages of shared subscriptions queued on one connection;
	// default 256. At the limit an event replaces the queued one of its subscription and
	// live item (latest wins); an event with nothing to replace ends its subscription
	// with a SLOW_CONSUMER error.
	QueueLimit int
	// SendBuffer is each connection's kernel send buffer (SO_SNDBUF) in bytes: what the
	// system holds for a client that stopped reading, before the gateway's own queue
	// (QueueLimit) fills. Default 64 KiB; negative keeps the system's autotuned buffer,
	// which grows to net.ipv4.tcp_wmem's maximum (4 MiB on Debian): minutes of stale
	// events, and memory, for every stalled subscriber before it is noticed.
	SendBuffer int
	// WriteTimeout bounds one write: a connection whose write has waited this long is
	// closed, its client having stopped reading. Default 10 s.
	WriteTimeout time.Duration
	// OnSlowConsumer, if set, is called each time a shared subscription is ended for
	// falling behind, and each time a connection is closed because its client stopped
	// reading (a write waited 10 s).
	OnSlowConsumer func()
	// OnDelivered, if set, is told how many subscribers a shared subscription's event of
	// topic was queued to.
	OnDelivered func(topic string, n int)
	// Sessions, if set, owns the connections once acknowledged (see Sessions); nil keeps
	// each connection in its HTTP handler until it ends.
	Sessions *Sessions
	// Logger receives connection diagnostics; nil discards them.
	Logger *slog.Logger
}

// Sessions owns acknowledged connections beyond their HTTP handlers: each is read by a
// goroutine of its own, started when connection_ack is sent, and the handler returns, so
// that net/http's state for the upgrade request and the handler's stack (grown by the
// credentials check) are released. With thousands of idle subscribers that is a third of
// the memory per connection. Close ends them all.
type Sessions struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	groups []*groups // of the Transports using s
	wg     sync.WaitGroup
}

// shutdownGrace bounds how long Close waits for shared subscriptions to deliver their
// last messages (the hub closes first and tells every subscriber why), and then for each
// connection's queue to be written, before the connections are closed.
const shutdownGrace = 2 * time.Second

// NewSessions returns an open Sessions.
func NewSessions() *Sessions {
	ctx, cancel := context.WithCancel(context.Background())
	return &Sessions{ctx: ctx, cancel: cancel}
}

// run starts f in a goroutine of s; false once s is closed.
func (s *Sessions) run(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Go(f)
	return true
}

// Close ends every connection of s (close code 1001) and waits for their goroutines,
// operations and shared subscriptions included. Subscriptions that are ending already
// (the hub was closed first) get up to shutdownGrace to send their last messages. It is
// safe to call more than once.
func (s *Sessions) Close() {
	s.mu.Lock()
	s.closed = true
	gs := s.groups
	s.mu.Unlock()
	deadline := time.Now().Add(shutdownGrace)
	for _, g := range gs {
		g.waitIdle(time.Until(deadline))
	}
	s.cancel()
	s.wg.Wait()
	for _, g := range gs {
		g.wg.Wait()         // their members have left with their connections
		g.writers.wg.Wait() // and nothing is left to write
	}
}

func (s *Sessions) register(gs *groups) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = append(s.groups, gs)
}

// Transport is a graphql.Transport for WebSocket upgrade requests. A Transport made by New
// runs identical subscriptions once for all their subscribers (Config.Share); the zero
// Transport runs every operation on its own.
type Transport struct {
	Config Config
	shared *groups
}

var _ graphql.Transport = Transport{}

// New returns a Transport that shares subscriptions as Config.Share allows.
func New(cfg Config) Transport {
	gs := newGroups(cfg.withDefaults().Logger)
	if cfg.Sessions != nil {
		cfg.Sessions.register(gs)
	}
	return Transport{Config: cfg, shared: gs}
}

const (
	protoTransportWS = "graphql-transport-ws"
	protoLegacyWS    = "graphql-ws"

	defaultInitTimeout      = 10 * time.Second
	defaultKeepAlive        = 25 * time.Second
	defaultMaxMessageBytes  = 64 << 10
	defaultMaxSubscriptions = 100
	defaultQueueLimit       = 256
	defaultSendBuffer       = 64 << 10
	defaultWriteTimeout     = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.InitTimeout <= 0 {
		c.InitTimeout = defaultInitTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = defaultKeepAlive
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = defaultMaxMessageBytes
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = defaultMaxSubscriptions
	}
	if c.QueueLimit <= 0 {
		c.QueueLimit = defaultQueueLimit
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = defaultSendBuffer
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Supports reports whether r asks for a WebSocket upgrade.
func (Transport) Supports(r *http.Request) bool {
	return hasToken(r.Header, "Upgrade", "websocket")
}

// Do upgrades the request and serves the connection until it ends; every
// goroutine it starts has stopped when Do returns.
func (t Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	cfg := t.Config.withDefaults()
	proto := protoTransportWS
	if !hasToken(r.Header, "Sec-WebSocket-Protocol", protoTransportWS) {
		if !hasToken(r.Header, "Sec-WebSocket-Protocol", protoLegacyWS) {
			transport.SendErrorf(w, http.StatusBadRequest,
				"Sec-WebSocket-Protocol must offer %s or %s", protoTransportWS, protoLegacyWS)
			return
		}
		proto = protoLegacyWS
	}
	cw := &corkingWriter{ResponseWriter: w, sendBuffer: cfg.SendBuffer}
	if t.shared != nil {
		cw.pool = &t.shared.pool
	}
	ws, err := websocket.Accept(cw, r, &websocket.AcceptOptions{
		Subprotocols:   []string{proto},
		OriginPatterns: cfg.OriginPatterns,
	})
	if err != nil {
		// Accept has already written the HTTP error response.
		cfg.Logger.Debug("rejecting websocket upgrade", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(cfg.MaxMessageBytes)
	c := &conn{
		cfg:      cfg,
		ws:       ws,
		exec:     exec,
		d:        dialect{legacy: proto == protoLegacyWS},
		headers:  r.Header,
		log:      cfg.Logger.With("subprotocol", proto, "remote", r.RemoteAddr),
		ops:      map[string]*operation{},
		shared:   t.shared,
		cork:     cw.conn,
		sessions: cfg.Sessions,
	}
	ctx := r.Context()
	if cfg.Sessions != nil {
		ctx = context.WithoutCancel(ctx) // the request's context ends with the handler
	}
	c.serve(ctx, r)
}

// hasToken reports whether the comma-separated header name holds token.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), token) {
				return true
			}
		}
	}
	return false
}

// conn is one upgraded WebSocket. The reading goroutine (serve) owns the
// protocol state; timer callbacks and the operation goroutines only write.
type conn struct {
	cfg     Config
	ws      *websocket.Conn
	exec    graphql.GraphExecutor
	d       dialect
	headers http.Header
	log     *slog.Logger
	wg      sync.WaitGroup // every operation goroutine and firing timer callback
	// stopOps cancels every operation even when Authenticate returned a
	// context not derived from the connection's; used by serve only.
	stopOps context.CancelFunc

	wmu      sync.Mutex // serializes writes; guards closed and watchdog
	closed   bool
	watchdog *time.Timer // closes the socket when one write takes cfg.WriteTimeout
	cork     *corkConn   // batches the writes under wmu; nil if not hijacked by corkingWriter

	sessions *Sessions     // nil: the connection stays in its HTTP handler
	initSeen chan struct{} // closed by connection_init
	// opsCtx is the acknowledged connection's context for operations; set by serve
	// before any operation starts.
	opsCtx context.Context
	shared *groups // nil: no shared subscriptions

	qmu      sync.Mutex // guards queue, qclosed and flushing
	queue    []outMsg   // messages of shared subscriptions for the writer goroutine
	qbox     *[]outMsg  // the pooled slice queue came from (nil with queue)
	qclosed  bool
	flushing bool // the writer goroutine (flush) runs

	mu  sync.Mutex // guards ops
	ops map[string]*operation

	tmu      sync.Mutex // guards timers and stopping
	timers   []*time.Timer
	stopping bool
}

// operation is one active operation of the connection.
type operation struct {
	cancel  context.CancelCauseFunc
	release func() // from Config.OnOperation; nil if none
	once    sync.Once

	mu      sync.Mutex
	stopped bool    // the client stopped it, or the connection ended
	member  *member // set when a shared subscription's group took it over
}

// done releases the operation's resources once.
func (op *operation) done() {
	op.once.Do(func() {
		if op.release != nil {
			op.release()
		}
	})
}

// handOver lets m's group own the operation; false if it was stopped meanwhile.
func (op *operation) handOver(m *member) bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.stopped {
		return false
	}
	op.member = m
	return true
}

// stop marks the operation stopped and returns its group member, if any.
func (op *operation) stop() *member {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.stopped = true
	return op.member
}
