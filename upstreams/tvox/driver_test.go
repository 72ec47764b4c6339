package tvox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/tvox"
	"github.com/switchboard-cc/switchboard/upstreams/tvox/sim"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is a weekday morning: agents are on shift and calls are flowing.
var t0 = time.Date(2025, 3, 4, 10, 30, 0, 0, time.UTC)

type env struct {
	upstreamstest.Env
	sim    *sim.Server
	driver *tvox.Driver
}

// newEnv starts a center, its simulator (wrapped by wrap when not nil) and a driver.
func newEnv(t *testing.T, cfg sim.Config, opts map[string]any, secrets map[string]string, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	e := &env{Env: upstreamstest.Env{Clock: simcc.NewManualClock(t0)}}
	e.Center = simcc.New(simcc.Config{Seed: 42, Clock: e.Clock})
	e.sim = sim.New(e.Center, cfg)
	t.Cleanup(func() {
		e.sim.Close()
		e.Center.Close()
	})
	var h http.Handler = e.sim
	if wrap != nil {
		h = wrap(h)
	}
	e.Server = upstreamstest.NewServer(t, h)
	if secrets == nil {
		secrets = map[string]string{"username": "admin", "password": "admin"}
	}
	spec := upstreams.SourceSpec{
		Tenant: "acme", ID: "tvox-acme", Vendor: tvox.Vendor, URL: e.Server.URL, Options: opts,
		Secret: func(name string) (string, error) {
			if v, ok := secrets[name]; ok {
				return v, nil
			}
			return "", fmt.Errorf("secret %q not configured", name)
		},
	}
	d, err := tvox.New(context.Background(), spec, upstreams.Deps{HTTPClient: &http.Client{Transport: &http.Transport{}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.Driver, e.driver = d, d.(*tvox.Driver)
	return e
}

func (e *env) step(d time.Duration) {
	e.Clock.Advance(d)
	e.Center.Sync()
}

func (e *env) logins() int {
	n := 0
	for _, r := range e.sim.Requests() {
		if r.Operation == "login" {
			n++
		}
	}
	return n
}

// canonical is how a center state appears through TVox: TVox has no hold state.
func canonical(s simcc.AgentState) model.AgentState {
	if s == simcc.StateOnHold {
		return model.AgentStateOnCall
	}
	return model.AgentState(s)
}

// agentsTruth is the center's logged-in agents as the driver should report them.
func agentsTruth(c *simcc.Center) map[string]string {
	out := map[string]string{}
	for _, st := range c.AgentStatuses() {
		if st.State == simcc.StateOffline {
			continue
		}
		reason := ""
		if st.State == simcc.StateNotReady {
			reason = st.Reason
		}
		out[st.AgentID] = fmt.Sprintf("%s|%s|%s", canonical(st.State), reason, st.Since.UTC().Format(time.RFC3339))
	}
	return out
}

func agentsSeen(agents []*model.Agent) map[string]string {
	out := map[string]string{}
	for _, a := range agents {
		reason, since := "", ""
		if a.NotReadyReason != nil {
			reason = *a.NotReadyReason
		}
		if a.StateSince != nil {
			since = a.StateSince.Format(time.RFC3339)
		}
		out[a.VendorID] = fmt.Sprintf("%s|%s|%s", a.State, reason, since)
	}
	return out
}

func diffMaps(want, got map[string]string) string {
	var b strings.Builder
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			fmt.Fprintf(&b, "%s: want %q got %q\n", k, w, g)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "%s: unexpected %q\n", k, g)
		}
	}
	return b.String()
}

// queuesTruth renders the center's queue stats the way the comparisons read them: the
// counters that change only with events (the longest wait grows with the clock alone).
func queuesTruth(c *simcc.Center, withLongest bool) map[string]string {
	now := c.Now()
	day := now.Truncate(24 * time.Hour)
	out := map[string]string{}
	for _, q := range c.Queues() {
		s := c.QueueStats(q.ID, day, now)
		longest := -1
		if withLongest {
			longest = s.LongestWaitSeconds
		}
		line := fmt.Sprintf("off=%d ans=%d ab=%d short=%d sla=%d wait=%d cb=%d longest=%d avgwait=%s sl=%s agents=%d/%d/%d/%d",
			s.Offered, s.Answered, s.Abandoned, s.ShortAbandoned, s.AnsweredWithinSLA, s.CallsWaiting, s.Callbacks, longest,
			fmtf(s.AverageWaitSeconds), fmtf(s.ServiceLevel),
			s.AgentsByState[simcc.StateAvailable], s.AgentsByState[simcc.StateOnCall]+s.AgentsByState[simcc.StateOnHold],
			s.AgentsByState[simcc.StateWrapUp], s.AgentsByState[simcc.StateNotReady])
		out[q.ID] = line
		out["group/"+sim.GroupCode(q.ID)] = line
	}
	return out
}

func fmtf(f *float64) string {
	if f == nil {
		return "nil"
	}
	return fmt.Sprintf("%.3f", *f)
}

func queuesSeen(qs []*model.Queue, withLongest bool) map[string]string {
	out := map[string]string{}
	for _, q := range qs {
		s := q.Stats
		n := func(p *int) int {
			if p == nil {
				return -99
			}
			return *p
		}
		by := map[model.AgentState]int{}
		for _, c := range s.AgentsByState {
			by[c.State] = c.Count
		}
		longest := -1
		if withLongest {
			longest = n(s.LongestWaitSeconds)
		}
		sla := n(s.AnsweredWithinSLA)
		sl := fmtf(s.ServiceLevel)
		if strings.HasPrefix(q.VendorID, "group/") {
			// Groups report no SLA counter; compare the rest.
			sla, sl = -2, "-"
		}
		out[q.VendorID] = fmt.Sprintf("off=%d ans=%d ab=%d short=%d sla=%d wait=%d cb=%d longest=%d avgwait=%s sl=%s agents=%d/%d/%d/%d",
			n(s.Offered), n(s.Answered), n(s.Abandoned), n(s.ShortAbandoned), sla, n(s.CallsWaiting), n(s.Callbacks), longest,
			fmtf(s.AverageWaitSeconds), sl,
			by[model.AgentStateAvailable], by[model.AgentStateOnCall], by[model.AgentStateWrapUp], by[model.AgentStateNotReady])
	}
	return out
}

// groupsComparable blanks what groups do not report in the ground truth.
func groupsComparable(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if strings.HasPrefix(k, "group/") {
			parts := strings.Fields(v)
			for i, p := range parts {
				switch {
				case strings.HasPrefix(p, "sla="):
					parts[i] = "sla=-2"
				case strings.HasPrefix(p, "sl="):
					parts[i] = "sl=-"
				case strings.HasPrefix(p, "cb="):
					parts[i] = "cb=-99"
				case strings.HasPrefix(p, "avgwait="):
					parts[i] = "avgwait=nil"
				case strings.HasPrefix(p, "longest=") && p != "longest=-1":
					parts[i] = "longest=-99"
				case strings.HasPrefix(p, "agents="):
					// Groups count no busy users.
					a := strings.Split(strings.TrimPrefix(p, "agents="), "/")
					a[1] = "0"
					parts[i] = "agents=" + strings.Join(a, "/")
				}
			}
			v = strings.Join(parts, " ")
		}
		out[k] = v
	}
	return out
}

func TestListAgentsMatchesCenter(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil, nil, nil)
	for i := 0; i < 3; i++ {
		agents, err := e.driver.ListAgents(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d := diffMaps(agentsTruth(e.Center), agentsSeen(agents)); d != "" {
			t.Fatalf("step %d: agents differ from the center:\n%s", i, d)
		}
		for _, a := range agents {
			if a.Counters == nil || a.Counters.Offered == nil || a.SourceID != "tvox-acme" || len(a.Raw) == 0 {
				t.Fatalf("agent %s lacks counters, source or raw: %+v", a.VendorID, a)
			}
		}
		e.step(7 * time.Minute)
	}
	if got := e.driver.Health().Status; got != model.HealthStatusLive {
		t.Errorf("health = %s, want LIVE", got)
	}
}

func TestListQueuesMatchesCenter(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil, nil, nil)
	for i := 0; i < 3; i++ {
		qs, err := e.driver.ListQueues(context.Background(), upstreams.TimeRange{})
		if err != nil {
			t.Fatal(err)
		}
		if d := diffMaps(groupsComparable(queuesTruth(e.Center, true)), queuesSeen(qs, true)); d != "" {
			t.Fatalf("step %d: queues differ from the center:\n%s", i, d)
		}
		e.step(11 * time.Minute)
	}
}

// agentsIn and queuesIn are the values a stream left in s.
func agentsIn(s *upstreamstest.Sink) []*model.Agent { return values[*model.Agent](s) }
func queuesIn(s *upstreamstest.Sink) []*model.Queue { return values[*model.Queue](s) }

func values[T any](s *upstreamstest.Sink) []T {
	var out []T
	for _, v := range s.State() {
		out = append(out, v.(T))
	}
	return out
}

// health is the last health the stream reported.
func health(s *upstreamstest.Sink) model.HealthStatus {
	st, _ := s.Health()
	return st
}

func TestStreamFollowsCenter(t *testing.T) {
	for _, proto := range []string{tvox.ProtocolTransportWS, tvox.ProtocolLegacyWS} {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, sim.Config{}, map[string]any{"wsProtocol": proto}, nil, nil)
			agents, queues := &upstreamstest.Sink{}, &upstreamstest.Sink{}
			stopA := upstreamstest.StartStream(t, e.driver, upstreams.TopicAgents, agents)
			stopQ := upstreamstest.StartStream(t, e.driver, upstreams.TopicQueues, queues)
			check := func(step int) {
				upstreamstest.Until(t, fmt.Sprintf("step %d: streamed agents differ from the center", step), func() string {
					return diffMaps(agentsTruth(e.Center), agentsSeen(agentsIn(agents)))
				})
				upstreamstest.Until(t, fmt.Sprintf("step %d: streamed queues differ from the center", step), func() string {
					return diffMaps(groupsComparable(queuesTruth(e.Center, false)), queuesSeen(queuesIn(queues), false))
				})
			}
			check(0)
			for i := 1; i <= 8; i++ {
				e.step(45 * time.Second)
				check(i)
			}
			if r, h := agents.Count(upstreamstest.OpReset), health(agents); r != 1 || h != model.HealthStatusLive {
				t.Errorf("agents: resets = %d, health = %s; want 1 reset and LIVE", r, h)
			}
			if err := stopA.Stop(); err != nil {
				t.Errorf("agents stream: %v", err)
			}
			if err := stopQ.Stop(); err != nil {
				t.Errorf("queues stream: %v", err)
			}
		})
	}
}

func TestStreamSurvivesTokenExpiry(t *testing.T) {
	for _, proto := range []string{tvox.ProtocolTransportWS, tvox.ProtocolLegacyWS} {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, sim.Config{}, map[string]any{"wsProtocol": proto}, nil, nil)
			sink := &upstreamstest.Sink{}
			run := upstreamstest.StartStream(t, e.driver, upstreams.TopicAgents, sink)
			upstreamstest.Until(t, "initial snapshot", func() string {
				return diffMaps(agentsTruth(e.Center), agentsSeen(agentsIn(sink)))
			})
			before := e.logins()
			// The server expires every token and closes the socket with 4401; the center
			// moves on while the driver logs in again and resubscribes.
			e.sim.ExpireTokens()
			e.step(2 * time.Minute)
			upstreamstest.Until(t, "agents after re-authentication", func() string {
				if e.logins() <= before {
					return "no new login yet"
				}
				return diffMaps(agentsTruth(e.Center), agentsSeen(agentsIn(sink)))
			})
			e.step(time.Minute)
			upstreamstest.Until(t, "agents after a change on the new subscription", func() string {
				return diffMaps(agentsTruth(e.Center), agentsSeen(agentsIn(sink)))
			})
			select {
			case <-run.Done():
				t.Fatalf("stream ended: %v", run.Wait())
			default:
			}
			if resets := sink.Count(upstreamstest.OpReset); resets != 1 {
				t.Errorf("resets = %d: the state was rebuilt instead of kept", resets)
			}
			if err := run.Stop(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestStreamRenewsTokenBeforeExpiry(t *testing.T) {
	e := newEnv(t, sim.Config{TokenLifetime: time.Second}, nil, nil, nil)
	sink := &upstreamstest.Sink{}
	run := upstreamstest.StartStream(t, e.driver, upstreams.TopicQueues, sink)
	upstreamstest.Until(t, "three logins as the one-second token runs out", func() string {
		if n := e.logins(); n < 3 {
			return fmt.Sprintf("%d logins", n)
		}
		return ""
	})
	e.step(time.Minute)
	upstreamstest.Until(t, "queues after renewals", func() string {
		return diffMaps(groupsComparable(queuesTruth(e.Center, false)), queuesSeen(queuesIn(sink), false))
	})
	select {
	case <-run.Done():
		t.Fatalf("stream ended: %v", run.Wait())
	default:
	}
	if resets := sink.Count(upstreamstest.OpReset); resets != 1 {
		t.Errorf("resets = %d, want 1", resets)
	}
	if err := run.Stop(); err != nil {
		t.Error(err)
	}
}

func TestStreamErrorAndClose(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(*sim.Server)
		kind   error
		text   string
	}{
		{"error message", func(s *sim.Server) { s.FailSubscriptions("subscription backend crashed") }, upstreams.ErrUpstreamStatus, "subscription backend crashed"},
		{"mid-stream close", (*sim.Server).DropConnections, upstreams.ErrUnavailable, "socket"},
	}
	for _, proto := range []string{tvox.ProtocolTransportWS, tvox.ProtocolLegacyWS} {
		for _, c := range cases {
			t.Run(proto+"/"+c.name, func(t *testing.T) {
				e := newEnv(t, sim.Config{}, map[string]any{"wsProtocol": proto}, nil, nil)
				sink := &upstreamstest.Sink{}
				run := upstreamstest.StartStream(t, e.driver, upstreams.TopicAgents, sink)
				upstreamstest.Until(t, "snapshot", func() string {
					if sink.Count(upstreamstest.OpReset) == 0 {
						return "no reset yet"
					}
					return ""
				})
				c.break_(e.sim)
				err := run.Wait()
				if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), "tvox-acme") || !strings.Contains(err.Error(), c.text) {
					t.Errorf("err = %v; want %v naming the source and %q", err, c.kind, c.text)
				}
				if h := health(sink); h != model.HealthStatusDegraded {
					t.Errorf("sink health = %s, want DEGRADED", h)
				}
			})
		}
	}
}

func TestStreamNeverAcked(t *testing.T) {
	silent := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				next.ServeHTTP(w, r)
				return
			}
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{tvox.ProtocolTransportWS}})
			if err != nil {
				return
			}
			defer c.CloseNow()
			for { // reads connection_init and never answers
				if _, _, err := c.Read(r.Context()); err != nil {
					return
				}
			}
		})
	}
	e := newEnv(t, sim.Config{}, map[string]any{"initTimeout": "200ms"}, nil, silent)
	err := e.driver.Stream(context.Background(), upstreams.TopicAgents, &upstreamstest.Sink{})
	if !errors.Is(err, upstreams.ErrUnavailable) || !strings.Contains(err.Error(), "connection_init") || !strings.Contains(err.Error(), "tvox-acme") {
		t.Fatalf("err = %v, want an unavailable error about connection_init naming the source", err)
	}
}

func TestAuth(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		e := newEnv(t, sim.Config{}, nil, map[string]string{"username": "admin", "password": "nope"}, nil)
		_, err := e.driver.ListAgents(context.Background())
		if !errors.Is(err, upstreams.ErrUnauthorized) || strings.Contains(err.Error(), "nope") {
			t.Fatalf("err = %v, want unauthorized without the password", err)
		}
		if h := e.driver.Health().Status; h != model.HealthStatusDown {
			t.Errorf("health = %s, want DOWN", h)
		}
	})
	t.Run("bad access token", func(t *testing.T) {
		e := newEnv(t, sim.Config{}, nil, map[string]string{"accessToken": "forged"}, nil)
		_, err := e.driver.ListQueues(context.Background(), upstreams.TimeRange{})
		if !errors.Is(err, upstreams.ErrUnauthorized) || strings.Contains(err.Error(), "forged") {
			t.Fatalf("err = %v, want unauthorized without the token", err)
		}
		err = e.driver.Stream(context.Background(), upstreams.TopicAgents, &upstreamstest.Sink{})
		if !errors.Is(err, upstreams.ErrUnauthorized) {
			t.Fatalf("stream err = %v, want unauthorized", err)
		}
	})
	t.Run("relogin after 401", func(t *testing.T) {
		e := newEnv(t, sim.Config{}, nil, nil, nil)
		if _, err := e.driver.ListAgents(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.sim.ExpireTokens()
		if _, err := e.driver.ListAgents(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.logins(); n != 2 {
			t.Errorf("logins = %d, want 2", n)
		}
	})
	t.Run("no secrets", func(t *testing.T) {
		_, err := tvox.New(context.Background(), upstreams.SourceSpec{ID: "x", Vendor: tvox.Vendor, URL: "http://127.0.0.1:1",
			Secret: func(string) (string, error) { return "", errors.New("none") }}, upstreams.Deps{})
		if err == nil {
			t.Fatal("want an error without credentials")
		}
	})
}

func TestUpstreamFailures(t *testing.T) {
	respond := func(status int, body string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && r.Header.Get("Cookie") != "" {
					w.WriteHeader(status)
					fmt.Fprint(w, body)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	cases := []struct {
		name   string
		status int
		body   string
		kind   error
		field  string
	}{
		{"5xx", http.StatusServiceUnavailable, `{}`, upstreams.ErrUnavailable, ""},
		{"not json", http.StatusOK, `<html>`, upstreams.ErrBadResponse, ""},
		{"users not a list", http.StatusOK, `{"data":{"users":"nope"}}`, upstreams.ErrBadResponse, "data.users"},
		{"graphql error", http.StatusOK, `{"errors":[{"message":"Cannot query field"}]}`, upstreams.ErrUpstreamStatus, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, sim.Config{}, map[string]any{"timeout": "2s"}, nil, respond(c.status, c.body))
			_, err := e.driver.ListAgents(context.Background())
			var ue *upstreams.Error
			if !errors.Is(err, c.kind) || !errors.As(err, &ue) || ue.Source != "tvox-acme" || !strings.HasPrefix(ue.Field, c.field) {
				t.Fatalf("err = %v, want %v naming the source and field %q", err, c.kind, c.field)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	e := newEnv(t, sim.Config{Version: [3]int{1, 3, 0}}, nil, nil, nil)
	if err := e.driver.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := e.driver.Version(); v != "1.3.0" {
		t.Errorf("version = %q", v)
	}
	e.sim.SetServerHealth("FAIL")
	if err := e.driver.Probe(context.Background()); err == nil {
		t.Error("want an error for FAIL")
	}
	if h := e.driver.Health().Status; h != model.HealthStatusDegraded {
		t.Errorf("health = %s, want DEGRADED", h)
	}
	if caps := upstreams.Capabilities(e.driver); fmt.Sprint(caps) != "[AGENTS QUEUE_STATS LIVE_AGENTS LIVE_QUEUES]" {
		t.Errorf("capabilities = %v", caps)
	}
}

func TestConformance(t *testing.T) {
	upstreamstest.Run(t, upstreamstest.Harness{
		New: func(t *testing.T, bad bool) upstreamstest.Env {
			var secrets map[string]string
			if bad {
				secrets = map[string]string{"username": "admin", "password": upstreamstest.WrongSecret}
			}
			return newEnv(t, sim.Config{}, nil, secrets, nil).Env
		},
	})
}
