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
	// Logger receives connection diagnostics; nil discards them.
	Logger *slog.Logger
}

// Transport is a graphql.Transport for WebSocket upgrade requests.
type Transport struct{ Config Config }

var _ graphql.Transport = Transport{}

const (
	protoTransportWS = "graphql-transport-ws"
	protoLegacyWS    = "graphql-ws"

	defaultInitTimeout      = 10 * time.Second
	defaultKeepAlive        = 25 * time.Second
	defaultMaxMessageBytes  = 64 << 10
	defaultMaxSubscriptions = 100
	// writeTimeout bounds one write so a stalled client cannot hold the writer forever.
	writeTimeout = 10 * time.Second
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
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
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
		cfg:     cfg,
		ws:      ws,
		exec:    exec,
		d:       dialect{legacy: proto == protoLegacyWS},
		headers: r.Header,
		log:     cfg.Logger.With("subprotocol", proto, "remote", r.RemoteAddr),
		ops:     map[string]*operation{},
	}
	c.serve(r.Context(), r)
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
	watchdog *time.Timer // closes the socket when one write takes writeTimeout

	mu  sync.Mutex // guards ops
	ops map[string]*operation

	tmu      sync.Mutex // guards timers and stopping
	timers   []*time.Timer
	stopping bool
}

type operation struct{ cancel context.CancelCauseFunc }
