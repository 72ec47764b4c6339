// Package model holds the canonical Go types behind the GraphQL schema. Drivers map vendor
// documents into these types; gqlgen binds the schema to them (enums, inputs and connections
// are generated into models_gen.go beside this file).
package model

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Source describes one upstream of a tenant as the viewer sees it.
type Source struct {
	ID           string
	Vendor       string
	Name         string
	Capabilities []Capability
	Health       *SourceHealth
}

// SourceHealth is a source's last known health.
type SourceHealth struct {
	Status HealthStatus
	Reason *string
	Since  time.Time
}

// Ref points at an agent, queue or IVR by the vendor's id and/or name, as seen inside a call.
type Ref struct {
	// ID is the global id (see GlobalID) when the vendor id is known.
	ID       *string
	VendorID *string
	Name     *string
}

// Customer is the external party of a call. All fields are personal data.
type Customer struct {
	Number *string
	Name   *string
	Email  *string
}

// CallDurations are whole seconds; nil means the source does not know.
type CallDurations struct {
	TotalSeconds  *int
	IvrSeconds    *int
	QueueSeconds  *int
	RingSeconds   *int
	TalkSeconds   *int
	HoldSeconds   *int
	WrapUpSeconds *int
	WaitSeconds   *int
}

// Call is one customer interaction across all its legs and queues.
type Call struct {
	ID            string
	VendorID      string
	SourceID      string
	Vendor        string
	Direction     Direction
	Channel       Channel
	Outcome       Outcome
	VendorStatus  *string
	VendorReason  *string
	StartedAt     time.Time
	AnsweredAt    *time.Time
	EndedAt       *time.Time
	Customer      *Customer
	ServiceNumber *string
	Durations     *CallDurations
	Agents        []*Ref
	Queues        []*Ref
	Ivrs          []*Ref
	Transfers     *int
	Recorded      *bool
	EndReason     *string
	RecordingURL  *string
	Disposition   *string
	Raw           json.RawMessage

	// Legs and QueueSegments are filled when the source returns them with the call;
	// otherwise they are loaded on demand (LegsLoaded / SegmentsLoaded false).
	Legs           []*CallLeg
	LegsLoaded     bool
	QueueSegments  []*QueueSegment
	SegmentsLoaded bool
}

// SourceRef is the call's `source` field (a plain method: gqlgen resolves it inline, with
// no per-field resolver machinery, for every call of every page).
func (c *Call) SourceRef() *SourceRef { return &SourceRef{ID: c.SourceID, Vendor: c.Vendor} }

// DurationsOrEmpty is the call's `durations` field: never null, empty when the source
// reported none.
func (c *Call) DurationsOrEmpty() *CallDurations {
	if c.Durations == nil {
		return &CallDurations{}
	}
	return c.Durations
}

// CallLeg is one agent's part of a call: offered, perhaps answered, talked, held, wrapped up.
type CallLeg struct {
	ID             string
	Agent          *Ref
	Queue          *Ref
	OfferedAt      *time.Time
	AnsweredAt     *time.Time
	EndedAt        *time.Time
	Answered       *bool
	RingSeconds    *int
	TalkSeconds    *int
	HoldSeconds    *int
	WrapUpSeconds  *int
	TransferredIn  *bool
	TransferredOut *bool
	TransferType   *string
	EndReason      *string
	Raw            json.RawMessage
}

// QueueSegment is one stay of a call in one queue.
type QueueSegment struct {
	Queue        *Ref
	Agent        *Ref
	EnteredAt    *time.Time
	LeftAt       *time.Time
	WaitSeconds  *int
	Answered     *bool
	Abandoned    *bool
	WithinSLA    *bool
	VendorReason *string
	Raw          json.RawMessage
}

// AgentCounters are an agent's figures for the current day (source's definition of a day).
type AgentCounters struct {
	Offered              *int
	Answered             *int
	Missed               *int
	TalkSeconds          *int
	HoldSeconds          *int
	WrapUpSeconds        *int
	AvailableSeconds     *int
	NotReadySeconds      *int
	AverageHandleSeconds *float64
}

// Agent is a person handling contacts, with the current state.
type Agent struct {
	ID             string
	VendorID       string
	SourceID       string
	Vendor         string
	Name           string
	Email          *string
	Extension      *string
	State          AgentState
	VendorStatus   *string
	StateSince     *time.Time
	NotReadyReason *string
	Channel        *Channel
	Queues         []*Ref
	CurrentCallID  *string
	Counters       *AgentCounters
	Raw            json.RawMessage
}

// AgentStateCount is how many agents are in one state.
type AgentStateCount struct {
	State AgentState
	Count int
}

// QueueStats are a queue's figures over a range (default: the current UTC day) and now.
type QueueStats struct {
	From                        *time.Time
	To                          *time.Time
	CallsWaiting                *int
	LongestWaitSeconds          *int
	Offered                     *int
	Answered                    *int
	Abandoned                   *int
	ShortAbandoned              *int
	AnsweredWithinSLA           *int
	ServiceLevel                *float64
	SLASeconds                  *int
	AverageSpeedOfAnswerSeconds *float64
	AverageWaitSeconds          *float64
	AverageHandleSeconds        *float64
	Callbacks                   *int
	AgentsByState               []*AgentStateCount
}

// Queue is a queue, service, skill group or department that distributes contacts.
type Queue struct {
	ID         string
	VendorID   string
	SourceID   string
	Vendor     string
	Name       string
	Number     *string
	Channel    *Channel
	Strategy   *string
	SLASeconds *int
	Stats      *QueueStats
	Raw        json.RawMessage
}

// TimeseriesPoint is one interval of a timeseries.
type TimeseriesPoint struct {
	From                        time.Time
	To                          time.Time
	Offered                     *int
	Answered                    *int
	Abandoned                   *int
	Inbound                     *int
	Outbound                    *int
	AnsweredWithinSLA           *int
	ServiceLevel                *float64
	TalkSeconds                 *int
	AverageSpeedOfAnswerSeconds *float64
	AverageHandleSeconds        *float64
}

// AgentStateSpan is a period an agent spent in one state.
type AgentStateSpan struct {
	Agent        *Ref
	State        AgentState
	VendorStatus *string
	Reason       *string
	From         time.Time
	To           *time.Time
	SourceID     string
	Vendor       string
}

// ReportJob is a scheduled report kept by a source.
type ReportJob struct {
	ID         string
	VendorID   string
	SourceID   string
	Vendor     string
	Name       string
	ReportType string
	Format     ReportFormat
	Cron       string
	Timezone   *string
	Recipients []string
	Queues     []string
	Enabled    bool
	CreatedAt  *time.Time
	UpdatedAt  *time.Time
	Raw        json.RawMessage
}

// ReportLog is one execution of a report job, kept by the source.
type ReportLog struct {
	ID          string
	VendorID    string
	SourceID    string
	Vendor      string
	ReportJobID *string
	Name        string
	Status      *string
	Format      *string
	FileName    *string
	CreatedAt   *time.Time
	Raw         json.RawMessage
}

// GlobalID builds the opaque, stable id of an object: kind, source id and vendor id.
func GlobalID(kind, sourceID, vendorID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + sourceID + ":" + vendorID))
}

// ErrBadID reports an id that GlobalID did not make.
var ErrBadID = errors.New("malformed id")

// ParseGlobalID splits an id made by GlobalID.
func ParseGlobalID(id string) (kind, sourceID, vendorID string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return "", "", "", ErrBadID
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", ErrBadID
	}
	return parts[0], parts[1], parts[2], nil
}

// NewRef builds a reference; the global id is set only when vendorID is known.
func NewRef(kind, sourceID, vendorID, name string) *Ref {
	r := &Ref{}
	if vendorID != "" {
		r.ID = Ptr(GlobalID(kind, sourceID, vendorID))
		r.VendorID = Ptr(vendorID)
	}
	if name != "" {
		r.Name = Ptr(name)
	}
	return r
}

// Kinds of global ids.
const (
	KindCall      = "Call"
	KindAgent     = "Agent"
	KindQueue     = "Queue"
	KindIVR       = "Ivr"
	KindReportJob = "ReportJob"
	KindReportLog = "ReportLog"
)

// Ptr returns a pointer to v; mapping code uses it for optional fields.
func Ptr[T any](v T) *T { return &v }
