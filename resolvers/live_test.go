package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/live"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// burstDriver streams calls: a burst of n upserts each time the test calls fire.
type burstDriver struct {
	spec upstreams.SourceSpec
	mu   sync.Mutex
	sink upstreams.Sink
	up   chan struct{} // closed once the hub has connected
	once sync.Once
}

func (d *burstDriver) Spec() upstreams.SourceSpec { return d.spec }
func (d *burstDriver) Health() model.SourceHealth { return model.SourceHealth{} }
func (d *burstDriver) Close() error               { return nil }
func (d *burstDriver) Topics() []upstreams.Topic  { return []upstreams.Topic{upstreams.TopicCalls} }
func (d *burstDriver) Stream(ctx context.Context, _ upstreams.Topic, sink upstreams.Sink) error {
	sink.Reset(nil)
	sink.SetHealth(model.HealthStatusLive, "")
	d.mu.Lock()
	d.sink = sink
	d.mu.Unlock()
	d.once.Do(func() { close(d.up) })
	<-ctx.Done()
	return ctx.Err()
}

func (d *burstDriver) fire(from, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("c%d", i)
		d.sink.Upsert(id, &model.Call{ID: id, SourceID: d.spec.ID, StartedAt: time.Now()})
	}
}

// A subscriber that stops reading is ended by the hub, and the operation's last response
// says so with SLOW_CONSUMER instead of the subscription completing silently.
func TestSlowSubscriberGetsSlowConsumerError(t *testing.T) {
	hub := live.New(live.Config{Buffer: 4, Linger: time.Millisecond}, slog.New(slog.DiscardHandler))
	defer hub.Close()
	d := &burstDriver{spec: upstreams.SourceSpec{Tenant: "t1", ID: "s1", Vendor: "fake"}, up: make(chan struct{})}
	r := &Resolver{
		Tenants: NewTenants(&Tenant{ID: "t1", Sources: []*Source{{Spec: d.spec, Driver: d, Identity: "x"}}}),
		Hub:     hub,
		Logger:  slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(auth.WithPrincipal(context.Background(), &auth.Principal{Tenant: "t1", Scopes: []string{"calls:read"}}))
	defer cancel()
	ctx = graphql.WithOperationContext(ctx, &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Subscription}})

	var events <-chan *model.CallEvent
	handler := EndSubscriptions(func(_ context.Context, err error) *gqlerror.Error {
		var ce *codedError
		if !errors.As(err, &ce) {
			t.Fatalf("end reason %v is not a coded error", err)
		}
		return &gqlerror.Error{Message: ce.msg, Extensions: map[string]any{"code": ce.code}}
	})(ctx, func(ctx context.Context) graphql.ResponseHandler {
		var err error
		events, err = r.Subscription().CallEvents(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return func(ctx context.Context) *graphql.Response {
			select {
			case e, ok := <-events:
				if !ok {
					return nil
				}
				return &graphql.Response{Data: []byte(`"` + e.Call.ID + `"`)}
			case <-ctx.Done():
				return nil
			}
		}
	})
	<-d.up
	// Nobody reads: the resolver's channel fills, then the hub's buffer, then the hub
	// ends the subscription. More than both buffers' worth of distinct calls:
	d.fire(0, subscriptionBuffer+50)

	var last *graphql.Response
	received := 0
	for resp := handler(ctx); resp != nil; resp = handler(ctx) {
		last = resp
		received++
		if received > subscriptionBuffer+50 {
			t.Fatal("the subscription was never ended")
		}
	}
	if last == nil || len(last.Errors) != 1 {
		t.Fatalf("last response %+v: want one error", last)
	}
	if code := last.Errors[0].Extensions["code"]; code != CodeSlowConsumer {
		t.Fatalf("error %+v: want code %s", last.Errors[0], CodeSlowConsumer)
	}
	if handler(ctx) != nil {
		t.Fatal("a response after the final error")
	}
}

// A subscription that the client stops gets no error, and a query is never wrapped.
func TestEndSubscriptionsOnlyReportsEarlyEnds(t *testing.T) {
	present := func(context.Context, error) *gqlerror.Error { return &gqlerror.Error{Message: "x"} }
	sub := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Subscription}})
	n := 0
	h := EndSubscriptions(present)(sub, func(ctx context.Context) graphql.ResponseHandler {
		return func(context.Context) *graphql.Response {
			if n++; n == 1 {
				return &graphql.Response{Data: []byte(`1`)}
			}
			return nil
		}
	})
	if h(sub) == nil || h(sub) != nil || h(sub) != nil {
		t.Fatal("a cleanly ended subscription must end with nil, once")
	}
	reportEnd(sub, "s1", live.ErrSlowConsumer) // no end slot in a context EndSubscriptions did not make: ignored
}
