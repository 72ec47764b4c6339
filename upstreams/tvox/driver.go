// Package tvox is the driver for Teleniasoft's TVox RTD Server: a GraphQL API at
// <host>/rtdserver with queries for the current "photo" of users, services and groups, and
// subscriptions (graphql-transport-ws or legacy graphql-ws) that send only what changed.
// It serves agents and queue statistics, listed and live; TVox has no call-level API.
package tvox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/httpc"
)

// Vendor is the registry name of this driver.
const Vendor = "tvox"

// Config holds the source's options (spec.Options).
type Config struct {
	// Path of the RTD endpoint under the source URL; default "/rtdserver".
	Path string `json:"path"`
	// WSProtocol is the subscription sub-protocol: "graphql-transport-ws" (default) or the
	// legacy "graphql-ws".
	WSProtocol string `json:"wsProtocol"`
	// Channels whose service and group stats are read: CALL, CHAT, VIDEO; default [CALL].
	Channels []string `json:"channels"`
	// Services and Groups are the codes to read; empty = every code found in the users'
	// services and skillsets (TVox has no query listing them).
	Services []string `json:"services"`
	Groups   []string `json:"groups"`
	// ServicesOnly leaves groups (skillsets) out of the queues.
	ServicesOnly bool `json:"servicesOnly"`
	// CustomStatKeys are custom stats to request; they are passed through in raw.
	CustomStatKeys []string `json:"customStatKeys"`
	// UserSite restricts service and group stats to one user site; default all.
	UserSite *int `json:"userSite"`
	// SLASeconds is the "response speed" threshold configured in TVox (not exposed by the
	// API); reported as Queue.slaSeconds. Default 0 = unknown.
	SLASeconds int `json:"slaSeconds"`
	// InitTimeout bounds the wait for connection_ack; default 10s.
	InitTimeout upstreams.Duration `json:"initTimeout"`
	// PingInterval is how often the socket is checked: a graphql-transport-ws ping is sent,
	// and a socket silent for two intervals is dropped; default 30s.
	PingInterval upstreams.Duration `json:"pingInterval"`
	// Timeout is the HTTP timeout per attempt; default 10s.
	Timeout upstreams.Duration `json:"timeout"`
}

// Driver serves one TVox source.
type Driver struct {
	spec   upstreams.SourceSpec
	cfg    Config
	log    *slog.Logger
	client *client
	mapper mapper
	health *upstreams.HealthTracker

	mu      sync.Mutex
	live    map[upstreams.Topic]*liveState
	version string
}

var (
	_ upstreams.Driver      = (*Driver)(nil)
	_ upstreams.AgentLister = (*Driver)(nil)
	_ upstreams.QueueLister = (*Driver)(nil)
	_ upstreams.Streamer    = (*Driver)(nil)
	_ upstreams.Constructor = New
)

// New builds the driver. Secrets: "accessToken", or "username" and "password".
func New(_ context.Context, spec upstreams.SourceSpec, deps upstreams.Deps) (upstreams.Driver, error) {
	var cfg Config
	if err := upstreams.DecodeOptions(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		cfg.Path = "/rtdserver"
	}
	switch cfg.WSProtocol {
	case "":
		cfg.WSProtocol = ProtocolTransportWS
	case ProtocolTransportWS, ProtocolLegacyWS:
	default:
		return nil, fmt.Errorf("source %q: options.wsProtocol %q: want %q or %q", spec.ID, cfg.WSProtocol, ProtocolTransportWS, ProtocolLegacyWS)
	}
	if len(cfg.Channels) == 0 {
		cfg.Channels = []string{ChannelCall}
	}
	for _, ch := range cfg.Channels {
		if ch != ChannelCall && ch != ChannelChat && ch != ChannelVideo {
			return nil, fmt.Errorf("source %q: options.channels: unknown channel %q", spec.ID, ch)
		}
	}
	creds, err := readCredentials(spec)
	if err != nil {
		return nil, err
	}
	hc, err := httpc.New(spec, deps.HTTPClient, httpc.Config{Timeout: cfg.Timeout.Or(10 * time.Second)})
	if err != nil {
		return nil, err
	}
	ws := deps.HTTPClient
	if ws == nil {
		ws = http.DefaultClient
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Driver{
		spec: spec, cfg: cfg,
		log:    log.With("vendor", spec.Vendor, "source", spec.ID, "tenant", spec.Tenant),
		client: &client{spec: spec, http: hc, ws: ws, endpoint: hc.URL(cfg.Path, nil), creds: creds},
		mapper: mapper{spec: spec, slaSeconds: cfg.SLASeconds},
		health: upstreams.NewHealthTracker(deps.Now),
		live:   map[upstreams.Topic]*liveState{},
	}, nil
}

func readCredentials(spec upstreams.SourceSpec) (credentials, error) {
	get := func(name string) string {
		if spec.Secret == nil {
			return ""
		}
		v, err := spec.Secret(name)
		if err != nil {
			return ""
		}
		return v
	}
	c := credentials{accessToken: get("accessToken")}
	if c.accessToken == "" {
		c.username, c.password = get("username"), get("password")
		if c.username == "" || c.password == "" {
			return c, fmt.Errorf("source %q: secrets: need \"accessToken\", or \"username\" and \"password\"", spec.ID)
		}
	}
	return c, nil
}

// Spec returns the source the driver was built for.
func (d *Driver) Spec() upstreams.SourceSpec { return d.spec }

// Health returns the source's last known health.
func (d *Driver) Health() model.SourceHealth { return d.health.Health() }

// Close releases nothing: streams are owned by their Stream calls.
func (d *Driver) Close() error { return nil }

// Topics lists the live topics.
func (d *Driver) Topics() []upstreams.Topic {
	return []upstreams.Topic{upstreams.TopicAgents, upstreams.TopicQueues}
}

// Version is the RTD Server version seen by the last Probe ("" before).
func (d *Driver) Version() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// Probe asks the server for its version and health and records them as the source health.
func (d *Driver) Probe(ctx context.Context) error {
	const op = "checking server health"
	data, err := d.client.query(ctx, op, `query Probe { version { server { major minor patch } } serverHealth { status } }`, nil)
	if err != nil {
		d.health.Observe(err)
		return err
	}
	var out struct {
		Version      *RtdVersion   `json:"version"`
		ServerHealth *ServerHealth `json:"serverHealth"`
	}
	if err := d.mapper.decode(op, "data", data, &out); err != nil {
		d.health.Observe(err)
		return err
	}
	if out.ServerHealth == nil {
		err := d.spec.FieldError(op, "serverHealth.status", errors.New("null"))
		d.health.Observe(err)
		return err
	}
	if out.Version != nil {
		d.mu.Lock()
		d.version = versionString(out.Version.Server)
		d.mu.Unlock()
	}
	status, reason := healthOf(*out.ServerHealth)
	d.health.Set(status, reason)
	if status != model.HealthStatusLive {
		return d.spec.Errorf(op, upstreams.ErrUnavailable, nil, reason)
	}
	return nil
}

// ListAgents returns the logged-in users with their CALL stats.
func (d *Driver) ListAgents(ctx context.Context) ([]*model.Agent, error) {
	objs, err := d.snapshot(ctx, "listing agents", upstreams.TopicAgents)
	if err != nil {
		return nil, err
	}
	out := make([]*model.Agent, 0, len(objs))
	for _, k := range sortedKeys(objs) {
		out = append(out, objs[k].(*model.Agent))
	}
	return out, nil
}

// ListQueues returns services and groups with their stats. TVox counts over its own
// "active context" (the current day), whatever r says: the stats carry no range.
func (d *Driver) ListQueues(ctx context.Context, _ upstreams.TimeRange) ([]*model.Queue, error) {
	objs, err := d.snapshot(ctx, "listing queues", upstreams.TopicQueues)
	if err != nil {
		return nil, err
	}
	out := make([]*model.Queue, 0, len(objs))
	for _, k := range sortedKeys(objs) {
		out = append(out, objs[k].(*model.Queue))
	}
	return out, nil
}

func (d *Driver) snapshot(ctx context.Context, op string, topic upstreams.Topic) (map[string]any, error) {
	p, err := d.plan(ctx, op, topic)
	if err != nil {
		d.health.Observe(err)
		return nil, err
	}
	st := newStore()
	err = d.loadSnapshot(ctx, op, p, st)
	if err == nil {
		var objs map[string]any
		objs, err = st.objects(d.mapper, op, topic)
		if err == nil {
			d.health.Observe(nil)
			return objs, nil
		}
	}
	d.health.Observe(err)
	return nil, err
}

// selection sets, shared by queries and subscriptions.
const (
	userFields = `mutation username activeProfile surname name activityCodes { CALL VIDEO CHAT }
    services site skillsets statuses { CALL VIDEO CHAT }`
	agentStatFields = `userSite channel activityCode activityCode2 currentGroup currentService
    numberCallFromService numberCallFromServiceAnswered numberCallFromServiceNotAnswered
    numberCallIn numberCallOut numberCallOutPrivate numberCallServiceOverSpeedAnswer status
    timeInActivityCode { activityCode totalTime } timeInActivityCodeStateBusy { activityCode totalTime }
    timeInActivityCodeStateNotReady { activityCode totalTime } timeInState timeInStateBooked
    timeInStateBusy timeInStateBusyDnCallIn timeInStateBusyDnCallOut timeInStateBusyDnCallOutPrivate
    timeInStateBusyOnService timeInStateNotReady timeInStateReady timeInStateWNR`
	userStatFields    = `username name surname loggedProfileId ` + agentStatFields
	profileStatFields = `id ` + agentStatFields + ` timeInHold { time timeInState }`
	inStatus          = `{ count profileIds }`
	customStatFields  = `customStats { key value { aggregatedValue value } }`
	serviceStatFields = `code channel channelStats { __typename
    ... on ServiceCcCallAtStat { answeredCalls answeredCallsUnderSpeedLimit closedCalls closedCallsCallBack
      connectedCall currentCalls hangupCalls maxTimeCallOnQueue outboundAnsweredCalls
      outboundClosedCallsGenericCause outboundHangupCalls outboundReceivedCalls queuedCalls receivedCalls
      receivedCallsInAccessList receivedCallsWithT4you receivedCallsWithT4youAnonymous
      receivedCallsWithT4youMultiple receivedCallsWithT4youSingle shortCalls averageTimeOnQueue }
    ... on ServiceCcVideoAtStat { answeredCalls closedCalls receivedCalls averageTimeOnQueue }
    ... on ServiceCcChatAtStat { answeredCalls closedCalls receivedCalls averageTimeOnQueue } }
  userStats { busyOnDNCallInUsers ` + inStatus + ` busyOnDNCallOutUsers ` + inStatus +
		` busyOnDNCallOutUsersPrivate ` + inStatus + ` busyOnDNCallUsers ` + inStatus +
		` busyOnServUsers ` + inStatus + ` busyUsers ` + inStatus + ` loggedUsers ` + inStatus +
		` notReadyUsers ` + inStatus + ` notReadyUsersOnActivityCode ` + inStatus +
		` activityCodeIndicators { activityCode count profileIds } postCallUsers ` + inStatus +
		` readyUsers ` + inStatus + ` } ` + customStatFields
	groupStatFields = `code channel channelStats { __typename
    ... on GroupCcCallStat { answeredCalls closedCalls hangupCalls queuedCalls receivedCalls shortCalls }
    ... on GroupCcVideoStat { answeredCalls closedCalls receivedCalls }
    ... on GroupCcChatStat { answeredCalls closedCalls receivedCalls } }
  userStats { loggedUsers ` + inStatus + ` notReadyUsers ` + inStatus + ` notReadyUsersOnActivityCode ` +
		inStatus + ` postCallUsers ` + inStatus + ` readyUsers ` + inStatus + ` } ` + customStatFields
	// usersInAnyStatus makes a logout visible: the user leaves the result (DELETED), which a
	// changed-fields-only update could not say with a null status.
	usersInAnyStatus = `{ statuses: [READY, NOT_READY, BUSY, NOT_READY_BUSY, BOOKED, WNR] }`
)

// field is one root field of a plan: queried for the snapshot, subscribed for updates.
type field struct {
	coll   string
	args   string // argument list with variables, e.g. "(filter: $f)"
	vars   map[string]any
	varDef string // e.g. "$f: UserStatFilter!"
	sel    string
}

func (f field) text(opType string) string {
	return fmt.Sprintf("%s %s%s { %s(%s) { %s } }", opType, f.coll, paren(f.varDef), f.coll, f.args, f.sel)
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// plan is what a topic reads: discovered from the users and configuration.
type plan []field

// snapshotQuery is all the plan's fields in one query document.
func (p plan) snapshotQuery() (string, map[string]any) {
	var defs, body []string
	vars := map[string]any{}
	for _, f := range p {
		if f.varDef != "" {
			defs = append(defs, f.varDef)
		}
		for k, v := range f.vars {
			vars[k] = v
		}
		body = append(body, fmt.Sprintf("%s(%s) { %s }", f.coll, f.args, f.sel))
	}
	return fmt.Sprintf("query Snapshot%s { %s }", paren(strings.Join(defs, ", ")), strings.Join(body, "\n")), vars
}

// plan discovers the users, profiles, services and groups to read: the RTD filters require
// explicit lists and the API has no query listing services or groups.
func (d *Driver) plan(ctx context.Context, op string, topic upstreams.Topic) (plan, error) {
	data, err := d.client.query(ctx, op, `query Discover { users(filter: {}) { username activeProfile services skillsets } }`, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Users []*User `json:"users"`
	}
	if err := d.mapper.decode(op, "data", data, &out); err != nil {
		return nil, err
	}
	var names []string
	var profiles []int
	services, groups := map[string]bool{}, map[string]bool{}
	for i, u := range out.Users {
		if u == nil {
			continue
		}
		if u.Username == "" {
			return nil, d.spec.FieldError(op, fmt.Sprintf("users[%d].username", i), errors.New("missing"))
		}
		names = append(names, u.Username)
		if u.ActiveProfile.V != nil {
			profiles = append(profiles, *u.ActiveProfile.V)
		}
		for _, s := range u.Services {
			services[s] = true
		}
		for _, g := range u.Skillsets {
			groups[g] = true
		}
	}
	sort.Strings(names)
	sort.Ints(profiles)

	var p plan
	switch topic {
	case upstreams.TopicAgents:
		p = append(p, field{coll: collUsers, args: "filter: " + usersInAnyStatus, sel: userFields})
		if len(names) > 0 {
			p = append(p, field{coll: collUserStats, args: "filter: {CALL: {users: $users}}", varDef: "$users: [String!]!",
				vars: map[string]any{"users": names}, sel: userStatFields})
		}
		if len(profiles) > 0 {
			p = append(p, field{coll: collProfileStats, args: "filter: {CALL: {userProfiles: $profiles}}", varDef: "$profiles: [Int!]!",
				vars: map[string]any{"profiles": profiles}, sel: profileStatFields})
		}
	case upstreams.TopicQueues:
		svc := pick(d.cfg.Services, services)
		if len(svc) > 0 {
			p = append(p, field{coll: collServiceStats, args: "filter: $services", varDef: "$services: ServiceStatFilter!",
				vars: map[string]any{"services": d.statFilter("services", svc)}, sel: serviceStatFields})
		}
		if grp := pick(d.cfg.Groups, groups); len(grp) > 0 && !d.cfg.ServicesOnly {
			p = append(p, field{coll: collGroupStats, args: "filter: $groups", varDef: "$groups: GroupStatFilter!",
				vars: map[string]any{"groups": d.statFilter("groups", grp)}, sel: groupStatFields})
		}
	default:
		return nil, d.spec.Errorf(op, upstreams.ErrNotSupported, nil, "topic "+string(topic))
	}
	return p, nil
}

func pick(configured []string, found map[string]bool) []string {
	if len(configured) > 0 {
		return configured
	}
	return sortedKeys(found)
}

// statFilter builds a ServiceStatFilter / GroupStatFilter over the configured channels.
func (d *Driver) statFilter(codesKey string, codes []string) map[string]any {
	f := map[string]any{}
	for _, ch := range d.cfg.Channels {
		c := map[string]any{codesKey: codes}
		if len(d.cfg.CustomStatKeys) > 0 {
			c["customStatKeys"] = d.cfg.CustomStatKeys
		}
		if d.cfg.UserSite != nil {
			c["userSite"] = *d.cfg.UserSite
		}
		f[ch] = c
	}
	return f
}

func (d *Driver) loadSnapshot(ctx context.Context, op string, p plan, st *store) error {
	if len(p) == 0 {
		return nil
	}
	q, vars := p.snapshotQuery()
	data, err := d.client.query(ctx, op, q, vars)
	if err != nil {
		return err
	}
	return st.load(d.spec, op, data)
}
