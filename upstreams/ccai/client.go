package ccai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// CallsPath is the documented endpoint, below the source URL.
const CallsPath = "/manager/api/v1/calls"

// MaxPer is the largest page size the client asks for.
const MaxPer = 100

// TimeLayout is how instants are written in filters (UTC, as the vendor writes them).
const TimeLayout = "2006-01-02T15:04:05.000Z"

// CallFilter holds every documented filter of the calls endpoint; zero values are not sent.
// Lists go out as repeated bracketed parameters (id[]=1&id[]=2).
type CallFilter struct {
	ConnectedFrom, ConnectedTo       time.Time
	UpdatedFrom, UpdatedTo           time.Time
	QueuedFrom, QueuedTo             time.Time
	RatingFrom, RatingTo             *int
	CallDurationFrom, CallDurationTo *int
	HoldDurationFrom, HoldDurationTo *int
	IDs                              []string
	AgentIDs                         []string
	EndUserIDs                       []string
	CallStatuses                     []string
	FailReasons                      []string
	CallTypes                        []string
	SupportNumbers                   []string
	Verified                         *bool
	// SortColumn and SortDirection ("asc"/"desc") order the result (README notes).
	SortColumn, SortDirection string
}

// Values encodes the filter as query parameters.
func (f CallFilter) Values() url.Values {
	q := url.Values{}
	tm := func(k string, t time.Time) {
		if !t.IsZero() {
			q.Set(k, t.UTC().Format(TimeLayout))
		}
	}
	num := func(k string, v *int) {
		if v != nil {
			q.Set(k, strconv.Itoa(*v))
		}
	}
	list := func(k string, vs []string) {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	tm("connected_at[from]", f.ConnectedFrom)
	tm("connected_at[to]", f.ConnectedTo)
	tm("updated_at[from]", f.UpdatedFrom)
	tm("updated_at[to]", f.UpdatedTo)
	tm("queued_at[from]", f.QueuedFrom)
	tm("queued_at[to]", f.QueuedTo)
	num("rating[from]", f.RatingFrom)
	num("rating[to]", f.RatingTo)
	num("call_duration[from]", f.CallDurationFrom)
	num("call_duration[to]", f.CallDurationTo)
	num("hold_duration[from]", f.HoldDurationFrom)
	num("hold_duration[to]", f.HoldDurationTo)
	list("id[]", f.IDs)
	list("agent_id[]", f.AgentIDs)
	list("end_user_id[]", f.EndUserIDs)
	list("call_status[]", f.CallStatuses)
	list("call_fail_reason[]", f.FailReasons)
	list("call_type[]", f.CallTypes)
	list("support_number[]", f.SupportNumbers)
	if f.Verified != nil {
		q.Set("verified[]", strconv.FormatBool(*f.Verified))
	}
	if f.SortColumn != "" {
		q.Set("sort_column", f.SortColumn)
	}
	if f.SortDirection != "" {
		q.Set("sort_direction", f.SortDirection)
	}
	return q
}

// Page is one response of the calls endpoint.
type Page struct {
	Number  int    // the page number asked for
	Body    []byte // JSON array of call objects
	Total   *int   // "total" header: calls matching the filter
	PerPage *int   // "per-page" header
	Next    string // absolute URL of the next page (Link rel="next"); "" on the last page
}

// Client reads the calls endpoint of one source.
type Client struct {
	spec     upstreams.SourceSpec
	http     *httpc.Client
	maxPages int
}

// NewClient builds a client; secrets "key" and "secret" are read on every request so that
// rotated credentials are picked up. maxPages bounds one walk (0 = 1000).
func NewClient(spec upstreams.SourceSpec, base *http.Client, cfg httpc.Config, maxPages int) (*Client, error) {
	hc, err := httpc.New(spec, base, cfg)
	if err != nil {
		return nil, err
	}
	if maxPages <= 0 {
		maxPages = 1000
	}
	return &Client{spec: spec, http: hc, maxPages: maxPages}, nil
}

// Requests is how many HTTP attempts the client has sent.
func (c *Client) Requests() int { return c.http.Requests() }

// PageURL is the URL of one page of the filter.
func (c *Client) PageURL(f CallFilter, page, per int) string {
	q := f.Values()
	q.Set("page", strconv.Itoa(max(page, 1)))
	q.Set("per", strconv.Itoa(min(max(per, 1), MaxPer)))
	return c.http.URL(CallsPath, q)
}

// Fetch gets one page by URL (one built by PageURL or a Link from a previous page).
func (c *Client) Fetch(ctx context.Context, op, u string) (*Page, error) {
	resp, err := c.http.Do(ctx, httpc.Request{
		Op:     op,
		Method: http.MethodGet,
		URL:    u,
		Header: http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}},
		Build:  func(r *http.Request) error { return c.auth(op, r) },
	})
	if err != nil {
		return nil, c.withVendorError(op, resp, err)
	}
	p := &Page{Number: pageOf(u, 1), Body: resp.Body, Total: headerInt(resp.Header, "total"), PerPage: headerInt(resp.Header, "per-page")}
	next, err := nextLink(resp.Header, u)
	if err != nil {
		return nil, c.spec.FieldError(op, "Link", err)
	}
	if next != "" {
		if err := c.sameOrigin(next); err != nil {
			return nil, c.spec.FieldError(op, "Link", err)
		}
	}
	p.Next = next
	return p, nil
}

// Walk fetches pages from startPage, following Link rel="next" until fn returns false or
// the last page. A Link back to a page already read, or more than maxPages pages, is an
// error: a vendor bug must not keep the gateway paging forever.
func (c *Client) Walk(ctx context.Context, op string, f CallFilter, per, startPage int, fn func(*Page) (bool, error)) error {
	u := c.PageURL(f, startPage, per)
	seen := map[string]bool{}
	for n := 0; u != ""; n++ {
		if n >= c.maxPages {
			return c.spec.Errorf(op, upstreams.ErrBadResponse, nil, fmt.Sprintf("more than %d pages; stopped paging", c.maxPages))
		}
		key := canonicalURL(u)
		if seen[key] {
			return c.spec.FieldError(op, "Link", fmt.Errorf("rel=next points back to page %d, already read", pageOf(u, 0)))
		}
		seen[key] = true
		p, err := c.Fetch(ctx, op, u)
		if err != nil {
			return err
		}
		if p.Next != "" && pageOf(p.Next, p.Number+1) <= p.Number {
			return c.spec.FieldError(op, "Link", fmt.Errorf("rel=next goes from page %d to page %d", p.Number, pageOf(p.Next, 0)))
		}
		more, err := fn(p)
		if err != nil || !more {
			return err
		}
		u = p.Next
	}
	return nil
}

func (c *Client) auth(op string, r *http.Request) error {
	if c.spec.Secret == nil {
		return c.spec.Errorf(op, upstreams.ErrUnauthorized, nil, "no secrets configured (need \"key\" and \"secret\")")
	}
	key, err := c.spec.Secret("key")
	if err != nil || key == "" {
		return c.spec.Errorf(op, upstreams.ErrUnauthorized, err, "secret \"key\" is not set")
	}
	secret, err := c.spec.Secret("secret")
	if err != nil || secret == "" {
		return c.spec.Errorf(op, upstreams.ErrUnauthorized, err, "secret \"secret\" is not set")
	}
	r.SetBasicAuth(key, secret)
	return nil
}

// withVendorError adds the documented JSON error body (error, message, status) to the
// classified HTTP error.
func (c *Client) withVendorError(op string, resp *httpc.Response, err error) error {
	var ue *upstreams.Error
	if resp == nil || resp.Status < 400 || !errors.As(err, &ue) {
		return err
	}
	var body wireError
	if json.Unmarshal(resp.Body, &body) != nil {
		return err
	}
	var parts []string
	for _, s := range []string{body.Error.S, body.Message.S} {
		if s = strings.TrimSpace(s); s != "" && !containsFold(parts, s) {
			parts = append(parts, clip(s, 200))
		}
	}
	if len(parts) == 0 {
		return err
	}
	detail := ue.Detail + ": " + strings.Join(parts, ": ")
	return c.spec.Errorf(op, ue.Kind, err, detail)
}

func containsFold(xs []string, s string) bool {
	for _, x := range xs {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// sameOrigin refuses a next link to another scheme or host: it would get our credentials.
func (c *Client) sameOrigin(next string) error {
	base, err := url.Parse(c.http.URL("", nil))
	if err != nil {
		return err
	}
	n, err := url.Parse(next)
	if err != nil {
		return fmt.Errorf("rel=next is not a URL")
	}
	if !strings.EqualFold(n.Scheme, base.Scheme) || !strings.EqualFold(n.Host, base.Host) {
		return fmt.Errorf("rel=next points to another host %q", n.Host)
	}
	return nil
}

func headerInt(h http.Header, name string) *int {
	v, err := strconv.Atoi(strings.TrimSpace(h.Get(name)))
	if err != nil || v < 0 {
		return nil
	}
	return &v
}

// pageOf reads the page parameter of a URL, def when absent.
func pageOf(u string, def int) int {
	p, err := url.Parse(u)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(p.Query().Get("page"))
	if err != nil || n < 1 {
		return def
	}
	return n
}

// canonicalURL orders the query so that equal pages compare equal.
func canonicalURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.RawQuery = p.Query().Encode()
	p.Fragment = ""
	return p.String()
}

// nextLink finds rel="next" in the Link headers (RFC 8288) and resolves it against the
// request URL. A header that does not parse is an error, not "no next page": stopping
// silently would return a short list as if it were complete.
func nextLink(h http.Header, requestURL string) (string, error) {
	base, err := url.Parse(requestURL)
	if err != nil {
		return "", err
	}
	for _, v := range h.Values("Link") {
		links, err := parseLinks(v)
		if err != nil {
			return "", err
		}
		for _, l := range links {
			for _, rel := range strings.Fields(strings.ToLower(l.rel)) {
				if rel != "next" {
					continue
				}
				ref, err := url.Parse(l.target)
				if err != nil || l.target == "" {
					return "", fmt.Errorf("rel=next target %q is not a URL", clip(l.target, 80))
				}
				return base.ResolveReference(ref).String(), nil
			}
		}
	}
	return "", nil
}

type link struct{ target, rel string }

func parseLinks(v string) ([]link, error) {
	var out []link
	s := strings.TrimSpace(v)
	for s != "" {
		if s[0] != '<' {
			return nil, fmt.Errorf("malformed Link header: expected '<' at %q", clip(s, 40))
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return nil, errors.New("malformed Link header: missing '>'")
		}
		l := link{target: strings.TrimSpace(s[1:end])}
		s = strings.TrimSpace(s[end+1:])
		for s != "" && s[0] == ';' {
			s = strings.TrimSpace(s[1:])
			i := strings.IndexAny(s, "=;,")
			if i < 0 {
				i = len(s)
			}
			name := strings.ToLower(strings.TrimSpace(s[:i]))
			s = s[i:]
			val := ""
			if s != "" && s[0] == '=' {
				s = strings.TrimSpace(s[1:])
				if s != "" && s[0] == '"' {
					j := strings.IndexByte(s[1:], '"')
					if j < 0 {
						return nil, errors.New("malformed Link header: unterminated quote")
					}
					val, s = s[1:j+1], s[j+2:]
				} else {
					j := strings.IndexAny(s, ";,")
					if j < 0 {
						j = len(s)
					}
					val, s = strings.TrimSpace(s[:j]), s[j:]
				}
			}
			if name == "rel" {
				l.rel = val
			}
			s = strings.TrimSpace(s)
		}
		out = append(out, l)
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("malformed Link header: unexpected %q", clip(s, 40))
		}
		s = strings.TrimSpace(s[1:])
	}
	return out, nil
}
