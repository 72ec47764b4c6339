package telavox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// Field sets of the three historic data sources: every field the document lists for each.
const (
	agentFields = `id name phone email answered toTransfer fromTransfer licence { type ccpro }`
	ivrFields   = `id name phone timestamp`
	callFields  = `idCall callDirection answered active internal recorded transfers
      offeredAndAnswered offeredAndNotAnswered simultaneousDeviceCalls inactiveNumber queuePickup
      customerTarget { number }
      onHookedCalls { noWaitRequest answerWaitRequest customerNoAnswer }
      agentFirst { ` + agentFields + ` }
      agentLast { ` + agentFields + ` }
      agentList agentListAnswer agentListNoAnswer
      queueFirst { id name phone strategy timestart failReason }
      queueLast { id name phone strategy timestart failReason }
      queueList
      ivrFirst { ` + ivrFields + ` }
      ivrLast { ` + ivrFields + ` }
      ivrList
      duration { total talk { first last total } ring { first last total } queue { first last total } wait hold onHold }
      transferFirst { type answered }
      transferLast { type answered }
      redirected { total noReason noAnswer notReachable userBusy unconditional }
      terminatedCallReason
      menuDigit { dialedNumber destination type }
      time { start end }
      timeIvrClosed timeIvrTimeout timeIvrDigit
      saveKeyInput { variableName input }
      timestamp`
	legFields = `idCall callDirection active answered internal recorded transfer voicemail onHookedCalls
      simultaneousDeviceCalls agentEndReason
      agent { ` + agentFields + ` }
      ivr { ` + ivrFields + ` }
      queue { id name phone strategy timestart }
      customerTarget { number }
      time { start end answered }
      duration { total ring talk hold }`
	segFields = `idCall callDirection active answered internal recorded transfer voicemail onHookedCalls
      simultaneousDeviceCalls agentEndReason
      agent { ` + agentFields + ` }
      ivr { ` + ivrFields + ` }
      queue { id name phone strategy timestart failReason }
      customerTarget { number }
      time { start end }
      duration { total queue ring { first last total } talk hold wait }`
)

// maxPages bounds one paged read (a range too large for one answer is refused, not
// fetched for minutes).
const maxPages = 500

// client speaks the Stream Liner APIs: GraphQL over HTTP and the live WebSockets.
type client struct {
	spec    upstreams.SourceSpec
	http    *httpc.Client
	ws      *http.Client
	liveURL string
	health  *upstreams.HealthTracker
	timeout time.Duration
}

// page is one answer of callOverview, agentOverview or queueOverview.
type page struct {
	Data        []json.RawMessage `json:"data"`
	TotalCount  *int              `json:"totalCount"`
	Cursor      *string           `json:"cursor"`
	HasNextPage bool              `json:"hasNextPage"`
}

type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// overviewQuery writes a query in the document's shape, arguments inline as in its examples.
func overviewQuery(root, fields string, r upstreams.TimeRange, first int, after string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query {\n  %s(\n    filter: { startDate: %s, endDate: %s }\n    first: %d\n", root, gqlString(isoTime(r.From)), gqlString(isoTime(r.To)), first)
	if after != "" {
		fmt.Fprintf(&b, "    after: %s\n", gqlString(after))
	}
	fmt.Fprintf(&b, "  ) {\n    data {\n      %s\n    }\n    totalCount\n    cursor\n    hasNextPage\n  }\n}\n", fields)
	return b.String()
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// gqlString quotes s as a GraphQL string (JSON escapes are valid GraphQL escapes).
func gqlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// fetchPage asks one page of root over r.
func (c *client) fetchPage(ctx context.Context, op, root, fields string, r upstreams.TimeRange, first int, after string) (*page, error) {
	body, err := json.Marshal(map[string]string{"query": overviewQuery(root, fields, r, first, after)})
	if err != nil {
		return nil, c.spec.Errorf(op, upstreams.ErrBadArgument, err, "encoding query")
	}
	resp, err := c.http.Do(ctx, httpc.Request{
		Op: op, Method: http.MethodPost, URL: c.http.URL("/graphql", nil), Body: body, Idempotent: true,
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		Build:  c.authorize,
	})
	if err == nil {
		var p *page
		p, err = c.decodePage(op, root, resp.Body)
		c.health.Observe(err)
		return p, err
	}
	c.health.Observe(err)
	return nil, err
}

func (c *client) decodePage(op, root string, body []byte) (*page, error) {
	var g gqlResponse
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, c.spec.FieldError(op, "(response)", fmt.Errorf("decoding GraphQL response: %w", err))
	}
	if len(g.Errors) > 0 {
		msgs := make([]string, 0, len(g.Errors))
		for _, e := range g.Errors {
			msgs = append(msgs, e.Message)
		}
		return nil, c.spec.Errorf(op, upstreams.ErrUpstreamStatus, nil, "GraphQL errors: "+strings.Join(msgs, "; "))
	}
	raw, ok := g.Data[root]
	if !ok || string(raw) == "null" {
		return nil, c.spec.FieldError(op, "data."+root, errMissing)
	}
	var p page
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, c.spec.FieldError(op, "data."+root, fmt.Errorf("decoding page: %w", err))
	}
	return &p, nil
}

// fetchAll reads every page of root over r, handing each record to fn.
func (c *client) fetchAll(ctx context.Context, op, root, fields string, r upstreams.TimeRange, size int, fn func(json.RawMessage) error) error {
	after := ""
	for range maxPages {
		p, err := c.fetchPage(ctx, op, root, fields, r, size, after)
		if err != nil {
			return err
		}
		for _, rec := range p.Data {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if !p.HasNextPage {
			return nil
		}
		if p.Cursor == nil || *p.Cursor == "" || *p.Cursor == after || len(p.Data) == 0 {
			return c.spec.FieldError(op, "data."+root+".cursor", fmt.Errorf("hasNextPage without a new cursor"))
		}
		after = *p.Cursor
	}
	return c.spec.Errorf(op, upstreams.ErrBadArgument, nil, fmt.Sprintf("range holds more than %d pages; ask a shorter range", maxPages))
}

func (c *client) authorize(req *http.Request) error {
	tok, err := c.token()
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

func (c *client) token() (string, error) {
	if c.spec.Secret == nil {
		return "", c.spec.Errorf("reading secret", upstreams.ErrUnauthorized, nil, `secret "token" is not configured`)
	}
	tok, err := c.spec.Secret("token")
	if err != nil || tok == "" {
		return "", c.spec.Errorf("reading secret", upstreams.ErrUnauthorized, err, `secret "token" is not configured`)
	}
	return tok, nil
}

// dial opens one live source (path "/calls", "/queues" or "/agents").
func (c *client) dial(ctx context.Context, op, path string) (*websocket.Conn, error) {
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, strings.TrimRight(c.liveURL, "/")+path, &websocket.DialOptions{
		HTTPClient: c.ws,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}},
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		var e *upstreams.Error
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			e = c.spec.Errorf(op, upstreams.ErrUnauthorized, err, fmt.Sprintf("WebSocket %s: HTTP %d", path, resp.StatusCode))
		} else {
			e = c.spec.Errorf(op, upstreams.ErrUnavailable, err, "connecting WebSocket "+path)
		}
		c.health.Observe(e)
		return nil, e
	}
	conn.SetReadLimit(4 << 20)
	return conn, nil
}
