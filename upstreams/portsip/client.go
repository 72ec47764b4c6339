package portsip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// maxTop is the API's largest page (top); bigger reads are paged.
const maxTop = 100

// maxListItems bounds one paged read so a runaway server cannot keep the driver looping.
const maxListItems = 100_000

// client is the transport: OAuth tokens, Bearer headers, the errors body, top/skip paging.
type client struct {
	spec     upstreams.SourceSpec
	http     *httpc.Client
	now      func() time.Time
	prefix   string // "/api" unless spec.URL already ends with it
	clientID string

	// sem is a one-slot lock around the token state that waits with the caller's context.
	sem     chan struct{}
	access  string
	refresh string
	expires time.Time
}

func newClient(spec upstreams.SourceSpec, deps upstreams.Deps, cfg Config) (*client, error) {
	h, err := httpc.New(spec, deps.HTTPClient, httpc.Config{RatePerSec: cfg.RatePerSec, Burst: 10})
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(spec.URL) // httpc.New has validated it
	prefix := strings.TrimRight(*cfg.APIPath, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	if strings.HasSuffix(strings.TrimRight(u.Path, "/"), prefix) {
		prefix = ""
	}
	return &client{spec: spec, http: h, now: deps.Clock(), prefix: prefix, clientID: cfg.ClientID, sem: make(chan struct{}, 1)}, nil
}

func (c *client) lock(ctx context.Context, op string) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return c.spec.Errorf(op, upstreams.ErrUnavailable, ctx.Err(), "cancelled while waiting for a token")
	}
}

func (c *client) unlock() { <-c.sem }

// token returns a valid access token: the cached one, else a refreshed one, else a new one
// from the password grant. It refreshes a minute before expiry (half the lifetime for
// short-lived tokens) so that a request never leaves with a token about to lapse.
func (c *client) token(ctx context.Context, op string) (string, error) {
	if err := c.lock(ctx, op); err != nil {
		return "", err
	}
	defer c.unlock()
	if c.access != "" && c.now().Before(c.expires) {
		return c.access, nil
	}
	if c.refresh != "" {
		err := c.grant(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.refresh}, "client_id": {c.clientID}})
		if err == nil {
			return c.access, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		c.refresh = "" // refused or expired: fall back to the password grant
	}
	user, err := c.spec.Secret("username")
	if err != nil {
		return "", c.spec.Errorf("logging in", upstreams.ErrUnauthorized, nil, "secret \"username\" is not configured")
	}
	pass, err := c.spec.Secret("password")
	if err != nil {
		return "", c.spec.Errorf("logging in", upstreams.ErrUnauthorized, nil, "secret \"password\" is not configured")
	}
	if err := c.grant(ctx, url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}, "client_id": {c.clientID}}); err != nil {
		return "", err
	}
	return c.access, nil
}

// grant posts one OAuth grant; the caller holds the lock.
func (c *client) grant(ctx context.Context, form url.Values) error {
	const op = "logging in"
	resp, err := c.http.Do(ctx, httpc.Request{
		Op: op, Method: http.MethodPost, URL: c.http.URL(c.prefix+"/login/oauth/token", nil),
		// A grant only issues a token: repeating it is harmless, so a 5xx is retried.
		Idempotent: true,
		Body:       []byte(form.Encode()),
		Header:     http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}},
	})
	if err != nil {
		err = c.vendorError(op, err, resp)
		var ue *upstreams.Error
		if errors.As(err, &ue) && errors.Is(ue.Kind, upstreams.ErrBadArgument) {
			// PortSIP answers bad credentials with 400: that is a refusal, not a bad query.
			ue.Kind = upstreams.ErrUnauthorized
		}
		return err
	}
	var t tokenResponse
	if f, err := decodeDoc(resp.Body, &t); err != nil {
		return c.spec.FieldError(op, f, err)
	}
	if t.AccessToken == "" {
		return c.spec.FieldError(op, "access_token", errors.New("missing access_token"))
	}
	life := time.Duration(t.ExpiresIn) * time.Second
	if life <= 0 {
		life = 30 * time.Minute // the documented lower bound of the lifetime
	}
	c.access, c.refresh = t.AccessToken, t.RefreshToken
	c.expires = c.now().Add(life - min(time.Minute, life/2))
	return nil
}

// invalidate drops tok after the API refused it, keeping the refresh token.
func (c *client) invalidate(tok string) {
	c.sem <- struct{}{}
	if c.access == tok {
		c.access = ""
	}
	<-c.sem
}

// call sends one Data Flow request with a Bearer token; after a 401 it gets a new token
// and tries once more. in is marshalled as the JSON body (nil: no body). It returns the
// body of a 2xx answer, nil for 204.
func (c *client) call(ctx context.Context, op, method, path string, q url.Values, in any, idempotent bool) ([]byte, error) {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, c.spec.Errorf(op, upstreams.ErrBadArgument, err, "encoding request")
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx, op)
		if err != nil {
			return nil, err
		}
		hdr := http.Header{"Accept": {"application/json"}}
		if body != nil {
			hdr.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(ctx, httpc.Request{
			Op: op, Method: method, URL: c.http.URL(c.prefix+path, q), Body: body, Header: hdr,
			Idempotent: idempotent,
			Build: func(r *http.Request) error {
				r.Header.Set("Authorization", "Bearer "+tok)
				return nil
			},
		})
		if err != nil {
			if resp != nil && resp.Status == http.StatusUnauthorized && attempt == 0 {
				c.invalidate(tok)
				continue
			}
			return nil, c.vendorError(op, err, resp)
		}
		if eb := parseErrors(resp.Body); eb != "" {
			// A 2xx carrying an errors document is still a failure.
			return nil, c.spec.Errorf(op, upstreams.ErrUpstreamStatus, nil, eb)
		}
		return resp.Body, nil
	}
}

// vendorError adds the code and message of PortSIP's errors body to httpc's classification.
func (c *client) vendorError(op string, err error, resp *httpc.Response) error {
	var ue *upstreams.Error
	if resp == nil || !errors.As(err, &ue) {
		return err
	}
	if eb := parseErrors(resp.Body); eb != "" {
		return c.spec.Errorf(op, ue.Kind, err, "HTTP "+strconv.Itoa(resp.Status)+": "+eb)
	}
	return err
}

// parseErrors renders a non-empty errors document as "CODE: message; CODE: message".
func parseErrors(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !bytes.Contains(b, []byte(`"errors"`)) {
		return ""
	}
	var eb errorsBody
	if json.Unmarshal(b, &eb) != nil || len(eb.Errors) == 0 {
		return ""
	}
	parts := make([]string, 0, len(eb.Errors))
	for _, e := range eb.Errors {
		parts = append(parts, strings.TrimSpace(e.Code+": "+e.Message))
	}
	return strings.Join(parts, "; ")
}

// list reads want items (want <= 0: all) from skip on, at most maxTop per request, with
// count=true so the total comes back. total is nil when the server does not say.
func (c *client) list(ctx context.Context, op, method, path string, q url.Values, in any, skip, want int) ([]json.RawMessage, *int, error) {
	var items []json.RawMessage
	var total *int
	for {
		top := maxTop
		if want > 0 {
			top = min(maxTop, want-len(items))
		}
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("top", strconv.Itoa(top))
		qq.Set("skip", strconv.Itoa(skip))
		qq.Set("count", "true")
		b, err := c.call(ctx, op, method, path, qq, in, true)
		if err != nil {
			return nil, nil, err
		}
		var page listBody
		if f, err := decodeDoc(b, &page); err != nil {
			return nil, nil, c.spec.FieldError(op, f, err)
		}
		if page.Count != nil {
			total = intPtr(page.Count)
		}
		items = append(items, page.Items...)
		skip += len(page.Items)
		switch {
		case len(page.Items) < top, want > 0 && len(items) >= want, total != nil && skip >= *total:
			return items, total, nil
		case len(items) >= maxListItems:
			return nil, nil, c.spec.Errorf(op, upstreams.ErrBadResponse, nil, "more than "+strconv.Itoa(maxListItems)+" items")
		}
	}
}
