package upstreamstest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// Env is a driver talking to its vendor's simulator over a fresh simcc center.
type Env struct {
	Driver upstreams.Driver
	Center *simcc.Center
	// Clock drives the center (and the driver, where its Deps.Now reads it).
	Clock  *simcc.ManualClock
	Server *Server
}

// WrongSecret is the credential a Harness puts in place of the right one for the auth
// subtests; it must never appear in an error or a health reason.
const WrongSecret = "upstreamstest-wrong-secret-7f3a"

// Harness is what a vendor gives the suite.
type Harness struct {
	// New starts the vendor's simulator over a new center driven by a manual clock at a busy
	// hour, serves it with NewServer, and builds a driver for it. With bad set, the driver's
	// credential is WrongSecret. Live topics should poll fast (tens of milliseconds).
	New func(t *testing.T, bad bool) Env
	// CallIDs lists, in the vendor's order, the vendor ids of the center's calls started in
	// r that the vendor's history reports. Nil skips the paging subtest.
	CallIDs func(c *simcc.Center, r upstreams.TimeRange) []string
	// Malform, when set, breaks one field of the documents the probe operation reads; the
	// error must then name a field. Without it the suite truncates every answer.
	Malform func(r *http.Request, rec *httptest.ResponseRecorder)
	// WebhookTopics are fed by the vendor's pushes, not by a connection: nothing upstream can
	// drop them, so the reconnect check skips them.
	WebhookTopics []upstreams.Topic
}

// Run runs the conformance suite; each subtest skips when the driver lacks the capability.
func Run(t *testing.T, h Harness) {
	t.Run("PagingToTheEnd", func(t *testing.T) { pagingToTheEnd(t, h) })
	t.Run("EmptyRange", func(t *testing.T) { emptyRange(t, h) })
	t.Run("AuthFailure", func(t *testing.T) { authFailure(t, h) })
	t.Run("Upstream5xx", func(t *testing.T) { upstream5xx(t, h) })
	t.Run("MalformedDocument", func(t *testing.T) { malformed(t, h) })
	t.Run("LiveReconnect", func(t *testing.T) { liveReconnect(t, h) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	t.Cleanup(cancel)
	return ctx
}

func lister(t *testing.T, e Env) upstreams.CallLister {
	t.Helper()
	l, ok := e.Driver.(upstreams.CallLister)
	if !ok {
		t.Skip("driver has no call history")
	}
	return l
}

func pagingToTheEnd(t *testing.T, h Harness) {
	if h.CallIDs == nil {
		t.Skip("harness gives no call ground truth")
	}
	e := h.New(t, false)
	l := lister(t, e)
	now := e.Clock.Now()
	r := upstreams.TimeRange{From: now.Add(-150 * time.Minute), To: now.Add(-30 * time.Minute)}
	const first = 17
	want := h.CallIDs(e.Center, r)
	if len(want) <= 2*first {
		t.Fatalf("the center has %d calls in %v: too few for three pages", len(want), r)
	}
	var got []string
	q := upstreams.CallQuery{Range: r, First: first}
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("paging does not end after %d pages", pages)
		}
		p, err := l.ListCalls(ctxT(t), q)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if len(p.Edges) > first {
			t.Fatalf("page %d has %d edges, asked for %d", pages, len(p.Edges), first)
		}
		if p.TotalCount != nil && *p.TotalCount != len(want) {
			t.Errorf("page %d: totalCount %d, want %d", pages, *p.TotalCount, len(want))
		}
		for _, edge := range p.Edges {
			got = append(got, edge.Call.VendorID)
		}
		if !p.HasNext {
			break
		}
		if len(p.Edges) == 0 {
			t.Fatalf("page %d is empty but has a next page", pages)
		}
		q.After = p.Edges[len(p.Edges)-1].Cursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %d calls, the center has %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	if st := e.Driver.Health().Status; st != model.HealthStatusLive {
		t.Errorf("health %s after successful requests, want LIVE", st)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func emptyRange(t *testing.T, h Harness) {
	e := h.New(t, false)
	l := lister(t, e)
	now := e.Clock.Now()
	p, err := l.ListCalls(ctxT(t), upstreams.CallQuery{Range: upstreams.TimeRange{From: now.Add(time.Hour), To: now.Add(2 * time.Hour)}, First: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Edges) != 0 || p.HasNext || (p.TotalCount != nil && *p.TotalCount != 0) {
		t.Fatalf("a range without calls gave %d edges, hasNext %v, totalCount %v", len(p.Edges), p.HasNext, p.TotalCount)
	}
}

// probe returns the cheapest request-response operation the driver has, by capability.
func probe(t *testing.T, e Env) func(ctx context.Context) error {
	now := e.Clock.Now()
	switch d := e.Driver.(type) {
	case upstreams.CallLister:
		return func(ctx context.Context) error {
			_, err := d.ListCalls(ctx, upstreams.CallQuery{Range: upstreams.TimeRange{From: now.Add(-time.Hour), To: now}, First: 10})
			return err
		}
	case upstreams.AgentLister:
		return func(ctx context.Context) error {
			_, err := d.ListAgents(ctx)
			return err
		}
	case upstreams.QueueLister:
		return func(ctx context.Context) error {
			_, err := d.ListQueues(ctx, upstreams.TimeRange{From: now.Truncate(24 * time.Hour), To: now})
			return err
		}
	}
	t.Skip("driver has no request-response operation")
	return nil
}

// sourceError checks that err is of kind, attributed to the driver's source and free of
// the wrong secret.
func sourceError(t *testing.T, e Env, err, kind error) *upstreams.Error {
	t.Helper()
	var ue *upstreams.Error
	if !errors.Is(err, kind) || !errors.As(err, &ue) {
		t.Fatalf("got %v, want a source error of kind %q", err, kind)
	}
	id := e.Driver.Spec().ID
	if ue.Source != id || !strings.Contains(err.Error(), id) {
		t.Errorf("error %q does not name source %q", err, id)
	}
	if strings.Contains(err.Error(), WrongSecret) {
		t.Errorf("error %q holds the secret", err)
	}
	return ue
}

func wantHealth(t *testing.T, e Env, want ...model.HealthStatus) {
	t.Helper()
	h := e.Driver.Health()
	if !slices.Contains(want, h.Status) {
		t.Errorf("driver health %s, want one of %v", h.Status, want)
	}
	if h.Reason != nil && strings.Contains(*h.Reason, WrongSecret) {
		t.Errorf("health reason %q holds the secret", *h.Reason)
	}
}

// topics lists the driver's live topics, skipping when it has none.
func topics(t *testing.T, e Env) (upstreams.Streamer, []upstreams.Topic) {
	t.Helper()
	s, ok := e.Driver.(upstreams.Streamer)
	if !ok || len(s.Topics()) == 0 {
		t.Skip("driver has no live topics")
	}
	return s, s.Topics()
}

func authFailure(t *testing.T, h Harness) {
	t.Run("Request", func(t *testing.T) {
		e := h.New(t, true)
		sourceError(t, e, probe(t, e)(ctxT(t)), upstreams.ErrUnauthorized)
		wantHealth(t, e, model.HealthStatusDown)
	})
	t.Run("Stream", func(t *testing.T) {
		e := h.New(t, true)
		s, ts := topics(t, e)
		for _, topic := range ts {
			if slices.Contains(h.WebhookTopics, topic) {
				continue
			}
			t.Run(string(topic), func(t *testing.T) {
				sink := &Sink{}
				sourceError(t, e, s.Stream(ctxT(t), topic, sink), upstreams.ErrUnauthorized)
				if st, reason := sink.Health(); st == model.HealthStatusLive || strings.Contains(reason, WrongSecret) {
					t.Errorf("stream health %s %q after refused credentials", st, reason)
				}
			})
		}
	})
}

func upstream5xx(t *testing.T, h Harness) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := h.New(t, false)
			op := probe(t, e)
			// Succeed first, so that a driver holding a session fails on a data request.
			if err := op(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			e.Server.FailWith(status)
			sourceError(t, e, op(ctxT(t)), upstreams.ErrUnavailable)
			if n := e.Server.Faulted(); n < 2 {
				t.Errorf("gave up after %d request(s): a 5xx is worth a retry", n)
			}
			wantHealth(t, e, model.HealthStatusDown)
			e.Server.Heal()
			if err := op(ctxT(t)); err != nil {
				t.Fatalf("after the source recovered: %v", err)
			}
			wantHealth(t, e, model.HealthStatusLive)
		})
	}
}

func malformed(t *testing.T, h Harness) {
	e := h.New(t, false)
	op := probe(t, e)
	edit := h.Malform
	if edit == nil {
		edit = func(_ *http.Request, rec *httptest.ResponseRecorder) { rec.Body.Truncate(rec.Body.Len() / 2) }
	}
	e.Server.Rewrite(edit)
	ue := sourceError(t, e, op(ctxT(t)), upstreams.ErrBadResponse)
	if h.Malform != nil && ue.Field == "" {
		t.Errorf("error %q names no field", ue)
	}
	wantHealth(t, e, model.HealthStatusDegraded, model.HealthStatusDown)
}

func liveReconnect(t *testing.T, h Harness) {
	_, ts := topics(t, h.New(t, false))
	for _, topic := range ts {
		t.Run(string(topic), func(t *testing.T) {
			e := h.New(t, false)
			s := e.Driver.(upstreams.Streamer)
			sink := &Sink{}
			first := StartStream(t, s, topic, sink)
			waitDelivered(t, topic, sink, 1)
			if slices.Contains(h.WebhookTopics, topic) {
				if err := first.Stop(); err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Stream returned %v when cancelled", err)
				}
				t.Skip("webhook topic: no connection to drop")
			}
			// A pushing source holds a stream open: drop it. A polled one is failed instead,
			// since its next poll would simply dial again.
			if n := e.Server.OpenStreams(); n > 0 {
				t.Logf("dropping the connections of %d open stream(s)", n)
				e.Server.DropConnections()
			} else {
				t.Log("no open stream: failing the polls with 503")
				e.Server.FailWith(http.StatusServiceUnavailable)
			}
			err := first.Wait()
			if errors.Is(err, context.Canceled) || err == nil {
				t.Fatalf("Stream returned %v after the source went away, want an error", err)
			}
			sourceError(t, e, err, upstreams.ErrUnavailable)
			if st, _ := sink.Health(); st == model.HealthStatusLive {
				t.Errorf("stream health still LIVE after Stream failed (%v)", sink.Healths())
			}
			e.Server.Heal()
			second := StartStream(t, s, topic, sink) // the hub's reconnect, same sink
			waitDelivered(t, topic, sink, 2)
			if err := second.Stop(); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Stream returned %v when cancelled", err)
			}
		})
	}
}

// waitDelivered waits for the n-th Reset and a LIVE health; agents and queues are never empty.
func waitDelivered(t *testing.T, topic upstreams.Topic, sink *Sink, n int) {
	t.Helper()
	Until(t, fmt.Sprintf("%s snapshot %d", topic, n), func() string {
		if c := sink.Count(OpReset); c < n {
			return fmt.Sprintf("%d resets", c)
		}
		if st, _ := sink.Health(); st != model.HealthStatusLive {
			return fmt.Sprintf("health %v", sink.Healths())
		}
		if topic != upstreams.TopicCalls && len(sink.State()) == 0 {
			return "empty state"
		}
		return ""
	})
}
