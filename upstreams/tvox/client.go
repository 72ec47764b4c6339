package tvox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// AccessTokenCookie authenticates HTTP requests with an access token.
const AccessTokenCookie = "teleniaRtdAccessToken"

// SessionCookie is the session cookie a login sets (the driver does not use it).
const SessionCookie = "teleniaRtdSessionID"

// The GraphQL-over-WebSocket sub-protocols.
const (
	ProtocolTransportWS = "graphql-transport-ws" // the graphql-ws library (current)
	ProtocolLegacyWS    = "graphql-ws"           // subscriptions-transport-ws (legacy)
)

const loginMutation = `mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    username
    session { id expiresIn }
    authToken { accessToken expiresIn }
  }
}`

// credentials are either a fixed access token or a username and password.
type credentials struct {
	accessToken        string
	username, password string
}

// client is the transport: GraphQL over HTTP with access-token auth, and WebSocket dialing.
type client struct {
	spec     upstreams.SourceSpec
	http     *httpc.Client
	ws       *http.Client
	endpoint string
	creds    credentials

	mu        sync.Mutex // held across a login so that concurrent callers share it
	token     string
	refreshAt time.Time // zero for a configured token: its lifetime is unknown
}

// accessToken returns a usable token, logging in when there is none or it is due for renewal.
func (c *client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds.accessToken != "" {
		return c.creds.accessToken, nil
	}
	if c.token != "" && time.Now().Before(c.refreshAt) {
		return c.token, nil
	}
	su, err := c.login(ctx)
	if err != nil {
		return "", err
	}
	life := time.Duration(su.AuthToken.ExpiresIn) * time.Second
	c.token = su.AuthToken.AccessToken
	c.refreshAt = time.Now().Add(life - min(time.Minute, life/5))
	return c.token, nil
}

// renewable tells whether the driver can obtain a new token by itself.
func (c *client) renewable() bool { return c.creds.accessToken == "" }

// invalidate drops tok so that the next accessToken logs in again.
func (c *client) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// renewAt is when the current token should be replaced (zero: never).
func (c *client) renewAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" {
		return time.Time{}
	}
	return c.refreshAt
}

func (c *client) login(ctx context.Context) (*SessionUser, error) {
	const op = "logging in"
	data, err := c.post(ctx, op, loginMutation, map[string]any{"username": c.creds.username, "password": c.creds.password}, "")
	if err != nil {
		var ue *upstreams.Error
		if errors.As(err, &ue) && errors.Is(ue.Kind, upstreams.ErrUpstreamStatus) {
			// A GraphQL error on login is a refusal; its message may echo the username.
			return nil, c.spec.Errorf(op, upstreams.ErrUnauthorized, nil, "login refused")
		}
		return nil, err
	}
	var out struct {
		Login *SessionUser `json:"login"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, c.spec.FieldError(op, "login", err)
	}
	switch {
	case out.Login == nil:
		return nil, c.spec.FieldError(op, "login", errors.New("null"))
	case out.Login.AuthToken.AccessToken == "":
		return nil, c.spec.FieldError(op, "login.authToken.accessToken", errors.New("missing"))
	case out.Login.AuthToken.ExpiresIn <= 0:
		return nil, c.spec.FieldError(op, "login.authToken.expiresIn", fmt.Errorf("not a positive number of seconds"))
	}
	return out.Login, nil
}

// query runs a GraphQL query with the access-token cookie and returns its data. A 401 on a
// token the driver obtained itself triggers one new login and one retry.
func (c *client) query(ctx context.Context, op, query string, vars map[string]any) (json.RawMessage, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		data, err := c.post(ctx, op, query, vars, tok)
		if err != nil && errors.Is(err, upstreams.ErrUnauthorized) && c.renewable() && attempt == 0 {
			c.invalidate(tok)
			continue
		}
		return data, err
	}
}

func (c *client) post(ctx context.Context, op, query string, vars map[string]any, tok string) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, c.spec.Errorf(op, upstreams.ErrBadArgument, err, "encoding request")
	}
	resp, err := c.http.Do(ctx, httpc.Request{
		Op: op, Method: http.MethodPost, URL: c.endpoint, Body: body, Idempotent: true,
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		Build: func(r *http.Request) error {
			if tok != "" {
				r.AddCookie(&http.Cookie{Name: AccessTokenCookie, Value: tok})
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	var r Response
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, c.spec.Errorf(op, upstreams.ErrBadResponse, err, "response is not a GraphQL JSON document")
	}
	if len(r.Errors) > 0 {
		return nil, c.spec.Errorf(op, upstreams.ErrUpstreamStatus, nil, "graphql error: "+r.Errors[0].Message)
	}
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return nil, c.spec.FieldError(op, "data", errors.New("missing"))
	}
	return r.Data, nil
}

// wsMsg is a message of either sub-protocol.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsConn is one GraphQL WebSocket with its sub-protocol's vocabulary.
type wsConn struct {
	conn                   *websocket.Conn
	proto                  string
	subscribe, next, close string
}

func (c *client) dial(ctx context.Context, proto string) (*wsConn, error) {
	const op = "opening subscription socket"
	conn, resp, err := websocket.Dial(ctx, c.endpoint, &websocket.DialOptions{HTTPClient: c.ws, Subprotocols: []string{proto}})
	if err != nil {
		kind := upstreams.ErrUnavailable
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			kind = upstreams.ErrUnauthorized
		}
		return nil, c.spec.Errorf(op, kind, err, "websocket handshake failed")
	}
	conn.SetReadLimit(8 << 20)
	if conn.Subprotocol() != proto {
		conn.CloseNow()
		return nil, c.spec.Errorf(op, upstreams.ErrBadResponse, nil, fmt.Sprintf("server did not accept sub-protocol %s", proto))
	}
	w := &wsConn{conn: conn, proto: proto, subscribe: "subscribe", next: "next", close: "complete"}
	if proto == ProtocolLegacyWS {
		w.subscribe, w.next, w.close = "start", "data", "stop"
	}
	return w, nil
}

func (w *wsConn) send(ctx context.Context, m wsMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding %s message: %w", m.Type, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("writing %s message: %w", m.Type, err)
	}
	return nil
}

func (w *wsConn) read(ctx context.Context) (wsMsg, error) {
	_, b, err := w.conn.Read(ctx)
	if err != nil {
		return wsMsg{}, err
	}
	var m wsMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return wsMsg{}, fmt.Errorf("decoding message: %w", err)
	}
	return m, nil
}
