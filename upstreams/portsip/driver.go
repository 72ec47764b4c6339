// Package portsip is the driver for PortSIP PBX's Data Flow analytics REST API: queue KPIs
// and timeseries, call history with per-user legs, call volume, scheduled report jobs, and
// live queue and call updates by polling. See README.md for the mapping and the choices.
package portsip

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// Vendor is the registry name of this driver.
const Vendor = "portsip"

// Config is the source's options (spec.Options). Secrets: "username" and "password" of
// the PortSIP user the gateway logs in as.
type Config struct {
	// ClientID is the OAuth client_id sent with every grant. Required.
	ClientID string `json:"clientId"`
	// APIPath is appended to spec.URL unless the URL already ends with it [/api].
	APIPath *string `json:"apiPath"`
	// Queues are the queues to report; the Data Flow API has no queue list.
	Queues []QueueConfig `json:"queues"`
	// SLASeconds maps a queue number to its service-level threshold in seconds.
	SLASeconds map[string]int `json:"slaSeconds"`
	// DefaultSLASeconds is the threshold of queues absent from SLASeconds, seconds [20].
	DefaultSLASeconds int `json:"defaultSlaSeconds"`
	// Tenants are the tenant ids a system administrator's calls timeseries covers (empty:
	// the API's default, all tenants for an administrator, the own tenant for a tenant user).
	Tenants []json.Number `json:"tenants"`
	// PollInterval is the live polling period [5s].
	PollInterval upstreams.Duration `json:"pollInterval"`
	// CallLookback is how far back the live calls poller looks for calls in progress when it
	// starts [1h].
	CallLookback upstreams.Duration `json:"callLookback"`
	// RatePerSec is the client-side request rate limit, requests per second [83.3, the
	// API's 5,000 per minute].
	RatePerSec float64 `json:"ratePerSec"`
}

// QueueConfig is one reported queue: "8000" or {"number": "8000", "name": "Sales"}.
type QueueConfig struct {
	Number string `json:"number"`
	Name   string `json:"name"`
}

// UnmarshalJSON accepts a bare queue number as well as the object form.
func (q *QueueConfig) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*q = QueueConfig{Number: s}
		return nil
	}
	type plain QueueConfig
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("queue must be a number string or {number, name}: %w", err)
	}
	*q = QueueConfig(p)
	return nil
}

const (
	defaultSLASeconds   = 20
	defaultPollInterval = 5 * time.Second
	defaultCallLookback = time.Hour
	defaultRatePerSec   = 5000.0 / 60
)

// Driver serves one PortSIP source.
type Driver struct {
	spec   upstreams.SourceSpec
	cfg    Config
	c      *client
	m      mapper
	health *upstreams.HealthTracker
	log    *slog.Logger
	now    func() time.Time
	// legSem bounds leg requests across concurrent LoadCallLegs calls (dataloader batches).
	legSem chan struct{}
}

// Capabilities, checked at compile time.
var (
	_ upstreams.Driver            = (*Driver)(nil)
	_ upstreams.QueueLister       = (*Driver)(nil)
	_ upstreams.QueueTimeserieser = (*Driver)(nil)
	_ upstreams.CallVolumer       = (*Driver)(nil)
	_ upstreams.CallLister        = (*Driver)(nil)
	_ upstreams.CallGetter        = (*Driver)(nil)
	_ upstreams.CallLegLoader     = (*Driver)(nil)
	_ upstreams.ReportJobber      = (*Driver)(nil)
	_ upstreams.ReportLogger      = (*Driver)(nil)
	_ upstreams.QueueAgentStatser = (*Driver)(nil)
	_ upstreams.Streamer          = (*Driver)(nil)
	_ upstreams.Constructor       = New
)

// New builds the driver from spec; it does not contact the PBX.
func New(_ context.Context, spec upstreams.SourceSpec, deps upstreams.Deps) (upstreams.Driver, error) {
	var cfg Config
	if err := upstreams.DecodeOptions(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("source %q: option clientId is required", spec.ID)
	}
	if cfg.APIPath == nil {
		cfg.APIPath = model.Ptr("/api")
	}
	if cfg.DefaultSLASeconds == 0 {
		cfg.DefaultSLASeconds = defaultSLASeconds
	}
	if cfg.DefaultSLASeconds < 0 {
		return nil, fmt.Errorf("source %q: option defaultSlaSeconds must be positive", spec.ID)
	}
	names := map[string]string{}
	for i, q := range cfg.Queues {
		if q.Number == "" {
			return nil, fmt.Errorf("source %q: option queues[%d]: number is required", spec.ID, i)
		}
		names[q.Number] = q.Name
	}
	for n, s := range cfg.SLASeconds {
		if s <= 0 {
			return nil, fmt.Errorf("source %q: option slaSeconds[%q] must be positive", spec.ID, n)
		}
	}
	if cfg.RatePerSec == 0 {
		cfg.RatePerSec = defaultRatePerSec
	}
	if cfg.RatePerSec < 0 || cfg.PollInterval.D < 0 || cfg.CallLookback.D < 0 {
		return nil, fmt.Errorf("source %q: options ratePerSec, pollInterval and callLookback must not be negative", spec.ID)
	}
	c, err := newClient(spec, deps, cfg)
	if err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Driver{
		legSem: make(chan struct{}, legWorkers),
		spec:   spec, cfg: cfg, c: c, m: mapper{spec: spec, queueNames: names},
		health: upstreams.NewHealthTracker(deps.Now),
		log:    log.With("vendor", spec.Vendor, "source", spec.ID, "tenant", spec.Tenant),
		now:    deps.Clock(),
	}, nil
}

// Spec returns the source the driver was built for.
func (d *Driver) Spec() upstreams.SourceSpec { return d.spec }

// Health returns the source's health as of the last request.
func (d *Driver) Health() model.SourceHealth { return d.health.Health() }

// Close has nothing to release: the driver holds no connections between requests.
func (d *Driver) Close() error { return nil }

// observe records the outcome of a public call in the health tracker and passes err on.
func (d *Driver) observe(err error) error {
	d.health.Observe(err)
	return err
}

func (d *Driver) slaFor(number string) int {
	if s, ok := d.cfg.SLASeconds[number]; ok {
		return s
	}
	return d.cfg.DefaultSLASeconds
}

func (d *Driver) badArg(op, detail string) error {
	return d.spec.Errorf(op, upstreams.ErrBadArgument, nil, detail)
}
