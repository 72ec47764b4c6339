// Package upstreams is the driver contract between the gateway and the vendor packages: a
// small required Driver interface, optional capability interfaces discovered by type
// assertion, the registry that maps vendor names to constructors, and the errors drivers
// return. Vendor packages live beside it (upstreams/<vendor>) and never import each other.
package upstreams

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
)

// SourceSpec is what a driver is built from: one source of one tenant, from configuration.
type SourceSpec struct {
	Tenant string
	ID     string
	Vendor string
	Name   string
	// URL is the vendor API's base URL (scheme, host, optional path prefix).
	URL string
	// Options holds the vendor-specific settings as decoded from YAML. Drivers decode them
	// with DecodeOptions into their own Config type.
	Options map[string]any
	// Secret resolves a named secret of the source (for example "token", "password"),
	// configured as an environment variable or file reference. Never log its result.
	Secret func(name string) (string, error)
}

// Deps are the shared services a driver may use.
type Deps struct {
	Logger *slog.Logger
	// HTTPClient is the base client; drivers wrap its transport (auth, limits), never mutate it.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Clock returns d.Now or time.Now.
func (d Deps) Clock() func() time.Time {
	if d.Now != nil {
		return d.Now
	}
	return time.Now
}

// Driver is the one interface every driver implements. Everything else is optional.
type Driver interface {
	// Spec returns the source the driver was built for.
	Spec() SourceSpec
	// Health returns the source's current health.
	Health() model.SourceHealth
	// Close releases connections; it does not need a context because it must not block long.
	Close() error
}

// Constructor builds a driver for one source. It must not contact the vendor: connections
// are made lazily on first use so that a down vendor does not stop the gateway starting.
type Constructor func(ctx context.Context, spec SourceSpec, deps Deps) (Driver, error)

// Registry maps vendor names to constructors. Built explicitly in cmd, never in init().
type Registry struct {
	constructors map[string]Constructor
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{constructors: map[string]Constructor{}} }

// Register adds a vendor. Registering a name twice replaces the constructor.
func (r *Registry) Register(vendor string, c Constructor) { r.constructors[vendor] = c }

// Vendors lists registered vendor names, sorted.
func (r *Registry) Vendors() []string {
	out := make([]string, 0, len(r.constructors))
	for v := range r.constructors {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// New builds a driver for spec with the constructor registered for spec.Vendor.
func (r *Registry) New(ctx context.Context, spec SourceSpec, deps Deps) (Driver, error) {
	c, ok := r.constructors[spec.Vendor]
	if !ok {
		return nil, fmt.Errorf("source %q: unknown vendor %q", spec.ID, spec.Vendor)
	}
	d, err := c(ctx, spec, deps)
	if err != nil {
		return nil, fmt.Errorf("building driver for source %q: %w", spec.ID, err)
	}
	return d, nil
}

// TimeRange is a half-open interval [From, To).
type TimeRange struct{ From, To time.Time }

// CallQuery asks a source for one page of calls, ordered by start time ascending.
type CallQuery struct {
	Range     TimeRange
	Direction *model.Direction
	Outcomes  []model.Outcome
	// Queues and Agents hold vendor ids or names (drivers match either; the gateway filters
	// again on the mapped calls, so a driver may ignore filters it cannot push upstream).
	Queues []string
	Agents []string
	// First is the page size (1..100); After is a cursor the driver returned earlier ("" = start).
	First int
	After string
}

// CallEdge is a call and the driver's cursor positioned just after it.
type CallEdge struct {
	Cursor string
	Call   *model.Call
}

// CallPage is one page of calls.
type CallPage struct {
	Edges   []CallEdge
	HasNext bool
	// TotalCount is the number of calls matching the query, nil when the vendor does not say.
	TotalCount *int
}

// CallLister serves call history (Capability CALL_HISTORY).
type CallLister interface {
	ListCalls(ctx context.Context, q CallQuery) (*CallPage, error)
}

// CallGetter serves one call by the vendor's id; (nil, nil) when the vendor does not have it.
type CallGetter interface {
	GetCall(ctx context.Context, vendorID string) (*model.Call, error)
}

// CallLegLoader loads the legs of many calls at once (Capability CALL_LEGS). Calls the vendor
// does not know are absent from the map. The gateway batches ids through a dataloader.
type CallLegLoader interface {
	LoadCallLegs(ctx context.Context, callVendorIDs []string) (map[string][]*model.CallLeg, error)
}

// QueueSegmentLoader loads the queue segments of many calls at once (QUEUE_SEGMENTS).
type QueueSegmentLoader interface {
	LoadQueueSegments(ctx context.Context, callVendorIDs []string) (map[string][]*model.QueueSegment, error)
}

// AgentLister serves the agents with their current state (AGENTS).
type AgentLister interface {
	ListAgents(ctx context.Context) ([]*model.Agent, error)
}

// QueueLister serves the queues with their stats over r (QUEUE_STATS).
type QueueLister interface {
	ListQueues(ctx context.Context, r TimeRange) ([]*model.Queue, error)
}

// TimeseriesQuery asks for buckets of Interval over Range.
type TimeseriesQuery struct {
	Range    TimeRange
	Interval model.Interval
}

// CallVolumer serves call volume timeseries (CALL_VOLUME).
type CallVolumer interface {
	CallVolume(ctx context.Context, q TimeseriesQuery) ([]*model.TimeseriesPoint, error)
}

// QueueTimeserieser serves one queue's timeseries (QUEUE_TIMESERIES).
type QueueTimeserieser interface {
	QueueTimeseries(ctx context.Context, queueVendorID string, q TimeseriesQuery) ([]*model.TimeseriesPoint, error)
}

// AgentHistorian serves agent state history (AGENT_STATE_HISTORY).
type AgentHistorian interface {
	AgentStateHistory(ctx context.Context, agentVendorID string, r TimeRange) ([]*model.AgentStateSpan, error)
}

// ReportJobPage is one page of report jobs.
type ReportJobPage struct {
	Jobs       []*model.ReportJob
	HasNext    bool
	TotalCount *int
}

// ReportJobber serves report jobs (REPORT_JOBS). Offset paging: skip, top.
type ReportJobber interface {
	ListReportJobs(ctx context.Context, skip, top int) (*ReportJobPage, error)
	CreateReportJob(ctx context.Context, in model.ReportJobInput) (*model.ReportJob, error)
	UpdateReportJob(ctx context.Context, vendorID string, in model.ReportJobInput) (*model.ReportJob, error)
	DeleteReportJob(ctx context.Context, vendorID string) error
}

// ReportLogPage is one page of report executions.
type ReportLogPage struct {
	Logs       []*model.ReportLog
	HasNext    bool
	TotalCount *int
}

// ReportLogger serves the executions of report jobs (REPORT_LOGS). Offset paging.
type ReportLogger interface {
	ListReportLogs(ctx context.Context, skip, top int) (*ReportLogPage, error)
	DeleteReportLog(ctx context.Context, vendorID string) error
}

// QueueAgentStatser serves one agent's figures within one queue (QUEUE_AGENT_STATS); ids
// are the vendor's queue and agent numbers.
type QueueAgentStatser interface {
	QueueAgentStats(ctx context.Context, queueVendorID, agentVendorID string, r TimeRange) (*model.AgentCounters, error)
	QueueAgentTimeseries(ctx context.Context, queueVendorID, agentVendorID string, q TimeseriesQuery) ([]*model.TimeseriesPoint, error)
}

// Topic names a live stream of a source.
type Topic string

// The live topics. Values sent to a Sink: *model.Call for calls, *model.Agent for agents,
// *model.Queue (with Stats) for queues; keys are the vendor ids.
const (
	TopicCalls  Topic = "calls"
	TopicAgents Topic = "agents"
	TopicQueues Topic = "queues"
)

// Item is one keyed value of live state.
type Item struct {
	Key   string
	Value any
}

// Sink receives a live stream's changes. The hub implements it; calls never block long
// (the hub buffers and coalesces), and it is safe for one goroutine per stream.
type Sink interface {
	// Reset replaces the whole state (after connecting, or a resync); the hub diffs it
	// against what it holds and emits the differences.
	Reset(items []Item)
	// Upsert adds or replaces one object.
	Upsert(key string, value any)
	// Remove drops one object (a call ended, an agent was deleted).
	Remove(key string)
	// SetHealth reports the stream's health (CONNECTING while dialing, LIVE when receiving...).
	SetHealth(status model.HealthStatus, reason string)
}

// Streamer serves live topics (LIVE_CALLS, LIVE_AGENTS, LIVE_QUEUES).
type Streamer interface {
	// Topics lists the topics the source can stream.
	Topics() []Topic
	// Stream connects and feeds sink until ctx is done (return ctx.Err() or nil) or the
	// connection fails (return the error). The hub calls it again with backoff and jitter,
	// so Stream itself does not loop on reconnect.
	Stream(ctx context.Context, topic Topic, sink Sink) error
}

// Capabilities reports what d can serve, by type assertion.
func Capabilities(d Driver) []model.Capability {
	var caps []model.Capability
	add := func(ok bool, c ...model.Capability) {
		if ok {
			caps = append(caps, c...)
		}
	}
	_, lister := d.(CallLister)
	_, getter := d.(CallGetter)
	add(lister && getter, model.CapabilityCallHistory)
	_, legs := d.(CallLegLoader)
	add(legs, model.CapabilityCallLegs)
	_, segs := d.(QueueSegmentLoader)
	add(segs, model.CapabilityQueueSegments)
	_, agents := d.(AgentLister)
	add(agents, model.CapabilityAgents)
	_, queues := d.(QueueLister)
	add(queues, model.CapabilityQueueStats)
	_, hist := d.(AgentHistorian)
	add(hist, model.CapabilityAgentStateHistory)
	_, vol := d.(CallVolumer)
	add(vol, model.CapabilityCallVolume)
	_, qts := d.(QueueTimeserieser)
	add(qts, model.CapabilityQueueTimeseries)
	_, jobs := d.(ReportJobber)
	add(jobs, model.CapabilityReportJobs)
	_, logs := d.(ReportLogger)
	add(logs, model.CapabilityReportLogs)
	_, qa := d.(QueueAgentStatser)
	add(qa, model.CapabilityQueueAgentStats)
	if s, ok := d.(Streamer); ok {
		for _, t := range s.Topics() {
			switch t {
			case TopicCalls:
				caps = append(caps, model.CapabilityLiveCalls)
			case TopicAgents:
				caps = append(caps, model.CapabilityLiveAgents)
			case TopicQueues:
				caps = append(caps, model.CapabilityLiveQueues)
			}
		}
	}
	if r, ok := d.(interface{ HasRecordings() bool }); ok && r.HasRecordings() {
		caps = append(caps, model.CapabilityRecordings)
	}
	return caps
}

// WebhookReceiver is implemented by drivers that accept pushes from their vendor. The gateway
// routes POST /webhooks/<vendor>/<tenant>/<source> to the handler of exactly that tenant's
// source, so a handler only ever sees its own source's traffic. The handler authenticates the
// push itself (signatures, timestamps, replay) and feeds its live streams.
type WebhookReceiver interface {
	Webhook() http.Handler
}

// RecordingOpener streams a call recording with the driver's own upstream credentials, so
// the gateway can serve recordings without ever handing out a vendor token or signed URL.
type RecordingOpener interface {
	OpenRecording(ctx context.Context, recordingURL string) (body io.ReadCloser, contentType string, err error)
}

// SimSource tells the demo and end-to-end tests how to configure a gateway source against a
// running vendor simulator: the source's Options and the values of its named secrets.
type SimSource struct {
	Options map[string]any
	Secrets map[string]string
}
