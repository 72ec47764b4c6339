package sobot

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// Paths of the Data Service, relative to the source URL (the host, e.g. https://sg.sobot.io).
const (
	pathMainCDRs     = "/callservice/tm/tm-reports/maincdrs/_search"
	pathCDRs         = "/callservice/tm/tm-reports/cdrs/_search"
	pathPartyCDRs    = "/callservice/tm/tm-reports/maincdrs/%s/partycdrs"
	pathHistories    = "/callservice/tm/tm-reports/agent-histories/_search"
	pathMetrics      = "/callservice/v6/webmsg/monitoring/agents-metrics"
	pathMetricsWatch = "/callservice/v6/webmsg/monitoring/_watch/agents-metrics"
	pathRelayReport  = "/callservice/tm/tm-reports/gateway-number-table/_search"
	pathAgentReport  = "/callservice/tm/tm-reports/agent-table/_search"
	pathDepartReport = "/callservice/tm/tm-reports/depart-table/_search"
)

// maxPages stops a paging loop whose "total" never comes true.
const maxPages = 10_000

// client is the transport: the company token, the envelope, paging, the SSE connection.
type client struct {
	spec      upstreams.SourceSpec
	cfg       Config
	http      *httpc.Client
	stream    *http.Client
	appID     string
	appSecret string
	now       func() time.Time

	mu      sync.Mutex // guards token and renewAt; held while fetching so one fetch runs
	token   string
	renewAt time.Time
}

// sign is the token request signature: MD5(appId + currentTime + responseType + appSecret).
func sign(parts ...string) string {
	sum := md5.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// accessToken returns a token, fetching a new one when none is held or half its lifetime
// has passed.
func (c *client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.token != "" && now.Before(c.renewAt) {
		return c.token, nil
	}
	const op = "fetching company token"
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	body, _ := json.Marshal(map[string]string{
		"responseType": "token", "appId": c.appID, "currentTime": ts,
		"sign": sign(c.appID, ts, "token", c.appSecret),
	})
	resp, err := c.http.Do(ctx, httpc.Request{
		Op: op, Method: http.MethodPost, URL: c.http.URL(c.cfg.TokenPath, nil), Body: body,
		Header: http.Header{"Content-Type": {"application/json;charset=utf-8"}},
	})
	if err != nil {
		return "", c.withEnvelopeDetail(err, resp)
	}
	data, err := c.unwrap(op, resp.Body, false)
	if err != nil {
		// Any refusal by the token endpoint (bad sign, unknown appId, clock skew) is a
		// credentials problem, whatever code Sobot chose.
		var ue *upstreams.Error
		if errors.As(err, &ue) && !errors.Is(ue.Kind, upstreams.ErrBadResponse) {
			ue.Kind = upstreams.ErrUnauthorized
		}
		return "", err
	}
	var td tokenData
	if err := json.Unmarshal(data, &td); err != nil || td.AccessToken == "" {
		return "", c.spec.FieldError(op, "data.accessToken", errors.New("missing"))
	}
	c.token = td.AccessToken
	c.renewAt = now.Add(c.cfg.TokenLifetime.Or(time.Hour) / 2)
	if exp, ok := jwtExpiry(td.AccessToken); ok {
		c.renewAt = now.Add(exp.Sub(now) / 2)
	}
	return c.token, nil
}

// invalidate drops tok if it is still the held token (another caller may have renewed it).
func (c *client) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// jwtExpiry reads the exp claim of a JWT without verifying it: the token is opaque to us,
// we only need to know when to renew it.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// unwrap checks the envelope and returns its data. bare allows a document without an
// envelope (the agents-metrics GET example is the bare message).
func (c *client) unwrap(op string, body []byte, bare bool) (json.RawMessage, error) {
	// One decode: a bare document (agents-metrics) is one with neither code nor data.
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return nil, c.spec.Errorf(op, upstreams.ErrBadResponse, nil, "response is not a JSON object")
	}
	var env envelope
	err := decodeDoc(body, &env)
	if err == nil && bare && !env.Code.Set && env.Data == nil {
		return body, nil
	}
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return nil, c.spec.FieldError(op, fe.field, fe.err)
		}
		return nil, c.spec.Errorf(op, upstreams.ErrBadResponse, err, "decoding envelope")
	}
	if err := c.envelopeError(op, &env); err != nil {
		return nil, err
	}
	return env.Data, nil
}

// envelopeError reports a failure envelope. Success is code 200, or 0 as in the report
// examples, or no code with status "Success"; a failure status word overrides the code.
func (c *client) envelopeError(op string, env *envelope) error {
	status := strings.ToLower(strings.TrimSpace(env.Status))
	ok := (env.Code.Set && (env.Code.V == 200 || env.Code.V == 0)) || (!env.Code.Set && status == "success")
	if status == "fail" || status == "failure" || status == "error" {
		ok = false
	}
	if ok {
		return nil
	}
	detail := fmt.Sprintf("code %d", env.Code.V)
	for _, s := range []string{env.Reason, env.Message} {
		if s = strings.TrimSpace(s); s != "" {
			detail += ": " + s
		}
	}
	kind := upstreams.ErrUpstreamStatus
	switch env.Code.V {
	case 401, 403:
		kind = upstreams.ErrUnauthorized
	case 429:
		kind = upstreams.ErrRateLimited
	case 400, 422:
		kind = upstreams.ErrBadArgument
	case 404:
		kind = upstreams.ErrNotFound
	case 500, 502, 503, 504:
		kind = upstreams.ErrUnavailable
	}
	return c.spec.Errorf(op, kind, nil, detail)
}

// withEnvelopeDetail adds the vendor's envelope message to an HTTP status error.
func (c *client) withEnvelopeDetail(err error, resp *httpc.Response) error {
	var ue *upstreams.Error
	if resp == nil || !errors.As(err, &ue) {
		return err
	}
	var env envelope
	if json.Unmarshal(resp.Body, &env) == nil && (env.Message != "" || env.Reason != "") {
		ue.Detail += ": " + strings.TrimSpace(strings.TrimSpace(env.Reason+" "+env.Message))
	}
	return ue
}

// call sends one authenticated request and returns the envelope's data. A 401 (HTTP or
// envelope) drops the token and retries once with a fresh one.
func (c *client) call(ctx context.Context, op, method, path string, q url.Values, body any, bare bool) (json.RawMessage, error) {
	var data json.RawMessage
	err := c.exchange(ctx, op, method, path, q, body, func(b []byte) (err error) {
		data, err = c.unwrap(op, b, bare)
		return err
	})
	return data, err
}

// callPage is call for the paged data shape: envelope and page decode in one pass.
func (c *client) callPage(ctx context.Context, op, method, path string, q url.Values, body any) (*page, error) {
	var p *page
	err := c.exchange(ctx, op, method, path, q, body, func(b []byte) (err error) {
		p, err = c.unwrapPage(op, b)
		return err
	})
	return p, err
}

// exchange sends an authenticated request and hands the 200 body to decode; a 401 (from
// the status or the envelope) drops the token and retries once.
func (c *client) exchange(ctx context.Context, op, method, path string, q url.Values, body any, decode func([]byte) error) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return c.spec.Errorf(op, upstreams.ErrBadArgument, err, "encoding request")
		}
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		resp, err := c.http.Do(ctx, httpc.Request{
			Op: op, Method: method, URL: c.http.URL(path, q), Body: payload, Idempotent: true,
			Build: func(r *http.Request) error { c.headers(r, tok); return nil },
		})
		if err == nil {
			if err = decode(resp.Body); err == nil {
				return nil
			}
		} else {
			err = c.withEnvelopeDetail(err, resp)
		}
		if errors.Is(err, upstreams.ErrUnauthorized) && attempt == 0 {
			c.invalidate(tok)
			continue
		}
		return err
	}
}

func (c *client) headers(r *http.Request, tok string) {
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("timezoneid", c.cfg.TimeZone)
	r.Header.Set("Idempotency-Key", newUUID())
	if r.Body != nil && r.Body != http.NoBody {
		r.Header.Set("Content-Type", "application/json;charset=utf-8")
	}
}

// newUUID is a random (version 4) UUID for the Idempotency-Key header.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// unwrapPage decodes a paged response in one pass. Only when that fails does it take the
// two steps (envelope, then page) whose errors name the field at fault.
func (c *client) unwrapPage(op string, body []byte) (*page, error) {
	var v struct {
		envelope
		Data *page `json:"data"`
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' && json.Unmarshal(body, &v) == nil {
		if err := c.envelopeError(op, &v.envelope); err != nil {
			return nil, err
		}
		if v.Data == nil {
			return &page{}, nil
		}
		return v.Data, nil
	}
	data, err := c.unwrap(op, body, false)
	if err != nil {
		return nil, err
	}
	return c.decodePage(op, data)
}

// decodePage reads the paged data shape.
func (c *client) decodePage(op string, data json.RawMessage) (*page, error) {
	var p page
	if len(data) == 0 || string(data) == "null" {
		return &p, nil
	}
	if err := decodeDoc(data, &p); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return nil, c.spec.FieldError(op, "data."+fe.field, fe.err)
		}
		return nil, c.spec.FieldError(op, "data", err)
	}
	return &p, nil
}

// items returns the records of a page whatever its list key.
func (p *page) items() []json.RawMessage {
	switch {
	case p.List != nil:
		return p.List
	case p.PageData != nil:
		return p.PageData
	}
	return p.Metric
}

// searchAll posts body with pageNum 1, 2, ... until the page total is reached or a short
// page arrives. pageKey is "pageNum" or, for reports, "currPage".
func (c *client) searchAll(ctx context.Context, op, path string, body map[string]any, pageKey string) ([]json.RawMessage, error) {
	size := c.cfg.PageSize
	body["pageSize"] = size
	var all []json.RawMessage
	for n := 1; n <= maxPages; n++ {
		body[pageKey] = n
		p, err := c.callPage(ctx, op, http.MethodPost, path, nil, body)
		if err != nil {
			return nil, err
		}
		items := p.items()
		all = append(all, items...)
		if len(items) == 0 || len(items) < size || (p.Total.Set && len(all) >= int(p.Total.V)) {
			return all, nil
		}
	}
	return nil, c.spec.Errorf(op, upstreams.ErrBadResponse, nil, fmt.Sprintf("more than %d pages", maxPages))
}

// openStream connects the SSE watch.
func (c *client) openStream(ctx context.Context, op, path string, q url.Values) (*http.Response, error) {
	return c.open(ctx, op, path, q, "text/event-stream")
}

// openGet starts a GET whose body the caller streams (recordings).
func (c *client) openGet(ctx context.Context, op, path string) (*http.Response, error) {
	return c.open(ctx, op, path, nil, "")
}

// open sends an authenticated GET and returns the response unread when it is a 200 (of
// contentType, if given). A 401 drops the token and retries once.
func (c *client) open(ctx context.Context, op, path string, q url.Values, contentType string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.http.URL(path, q), nil)
		if err != nil {
			return nil, c.spec.Errorf(op, upstreams.ErrBadArgument, err, "building request")
		}
		c.headers(req, tok)
		if contentType != "" {
			req.Header.Set("Accept", contentType)
		}
		resp, err := c.stream.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the url.Error repeats the URL; keep the cause only
			}
			return nil, c.spec.Errorf(op, upstreams.ErrUnavailable, err, "connecting: "+err.Error())
		}
		ct := resp.Header.Get("Content-Type")
		if resp.StatusCode == http.StatusOK && (contentType == "" && !strings.HasPrefix(ct, "application/json") || contentType != "" && strings.HasPrefix(ct, contentType)) {
			return resp, nil
		}
		// Not what we asked for: an HTTP error, or an error envelope sent with 200.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		err = c.streamError(op, resp.StatusCode, b)
		if errors.Is(err, upstreams.ErrUnauthorized) && attempt == 0 {
			c.invalidate(tok)
			continue
		}
		return nil, err
	}
}

func (c *client) streamError(op string, status int, body []byte) error {
	if status == http.StatusOK {
		if _, err := c.unwrap(op, body, false); err != nil {
			return err
		}
		return c.spec.Errorf(op, upstreams.ErrBadResponse, nil, "unexpected content type of the answer")
	}
	kind := upstreams.ErrUpstreamStatus
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind = upstreams.ErrUnauthorized
	case status == http.StatusNotFound:
		kind = upstreams.ErrNotFound
	case status == http.StatusTooManyRequests:
		kind = upstreams.ErrRateLimited
	case status >= 500:
		kind = upstreams.ErrUnavailable
	}
	detail := "HTTP " + strconv.Itoa(status)
	var env envelope
	if json.Unmarshal(body, &env) == nil && env.Message != "" {
		detail += ": " + env.Message
	}
	return c.spec.Errorf(op, kind, nil, detail)
}
