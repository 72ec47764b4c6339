// Package metrics exposes the gateway's Prometheus metrics: GraphQL operations, upstream
// requests per vendor and source, live streams, and cache efficiency. Tenant appears as a
// label only when configured, since tenants can be many.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// StreamSample describes one live upstream stream at scrape time.
type StreamSample struct {
	Tenant, Vendor, Source, Topic, Status string
	Subscribers, Connects                 int
	Events                                uint64
}

// Sources supply gauges read at scrape time.
type Sources struct {
	Streams func() []StreamSample
	Cache   func() (hits, misses uint64)
	// Breakers reports each source's circuit-breaker state (0 closed, 1 half-open, 2 open).
	Breakers func() map[[2]string]int
	// JWKSRefreshes counts key-set fetches.
	JWKSRefreshes func() uint64
}

// Metrics holds the collectors.
type Metrics struct {
	reg         *prometheus.Registry
	tenantLabel bool

	operations   *prometheus.CounterVec
	opDuration   *prometheus.HistogramVec
	upstreamReqs *prometheus.CounterVec
	upstreamDur  *prometheus.HistogramVec
	dropped      *prometheus.CounterVec
	fanned       *prometheus.CounterVec

	breakersMu sync.Mutex
	breakers   map[[2]string][]func() int
}

// New registers every family on a fresh registry (no global state).
func New(tenantLabel bool, src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	upLabels := []string{"vendor", "source", "outcome"}
	if tenantLabel {
		upLabels = append(upLabels, "tenant")
	}
	m := &Metrics{
		reg: reg, tenantLabel: tenantLabel,
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_graphql_operations_total", Help: "GraphQL responses by operation (type and root fields) and outcome (ok, error).",
		}, []string{"operation", "outcome"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_graphql_operation_duration_seconds", Help: "Time from operation start to the response, queries and mutations.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		upstreamReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_upstream_requests_total", Help: "Requests to vendor APIs by vendor, source and outcome (HTTP status class or error).",
		}, upLabels),
		upstreamDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_upstream_request_duration_seconds", Help: "Vendor API latency until response headers.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"vendor", "source"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_live_events_dropped_total", Help: "Live events coalesced away or subscribers ended for being too slow.",
		}, []string{"reason"}),
		fanned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_live_events_delivered_total", Help: "Live events delivered to GraphQL subscribers, by topic.",
		}, []string{"topic"}),
	}
	reg.MustRegister(m.operations, m.opDuration, m.upstreamReqs, m.upstreamDur, m.dropped, m.fanned)
	m.breakers = map[[2]string][]func() int{}
	if src.Breakers == nil {
		src.Breakers = m.breakerStates
	}
	reg.MustRegister(newScrapeCollector(src))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Operation records one GraphQL response.
func (m *Metrics) Operation(op string, failed bool, d time.Duration, timed bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	m.operations.WithLabelValues(op, outcome).Inc()
	if timed {
		m.opDuration.WithLabelValues(op).Observe(d.Seconds())
	}
}

// Delivered counts n live events sent to subscribers.
func (m *Metrics) Delivered(topic string, n int) {
	if m != nil {
		m.fanned.WithLabelValues(topic).Add(float64(n))
	}
}

// Dropped counts events lost to a slow subscriber ("coalesced", "slow_consumer").
func (m *Metrics) Dropped(reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

// Transport instruments a source's HTTP client (REST, GraphQL, SSE and WebSocket dials).
func (m *Metrics) Transport(next http.RoundTripper, tenant, vendor, source string) http.RoundTripper {
	if m == nil {
		return next
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &sourceTransport{m: m, key: [2]string{vendor, source}, rt: roundTripper(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(r)
		outcome := "error"
		if err == nil {
			outcome = strconv.Itoa(resp.StatusCode/100) + "xx"
		}
		labels := []string{vendor, source, outcome}
		if m.tenantLabel {
			labels = append(labels, tenant)
		}
		m.upstreamReqs.WithLabelValues(labels...).Inc()
		m.upstreamDur.WithLabelValues(vendor, source).Observe(time.Since(start).Seconds())
		return resp, err
	})}
}

// sourceTransport is one source's instrumented transport; HTTP clients built on it report
// their circuit breaker through TrackBreaker.
type sourceTransport struct {
	m   *Metrics
	key [2]string
	rt  http.RoundTripper
}

func (t *sourceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.rt.RoundTrip(r)
}

// TrackBreaker registers a breaker state function of the transport's source.
func (t *sourceTransport) TrackBreaker(state func() int) {
	t.m.breakersMu.Lock()
	defer t.m.breakersMu.Unlock()
	t.m.breakers[t.key] = append(t.m.breakers[t.key], state)
}

// breakerStates reports, per source, the worst state of its clients.
func (m *Metrics) breakerStates() map[[2]string]int {
	m.breakersMu.Lock()
	defer m.breakersMu.Unlock()
	out := make(map[[2]string]int, len(m.breakers))
	for k, fs := range m.breakers {
		for _, f := range fs {
			out[k] = max(out[k], f())
		}
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// scrapeCollector reads the live hub, cache and breakers when scraped.
type scrapeCollector struct {
	src                                                              Sources
	streams, subs, conns, events, hits, misses, ratio, breaker, jwks *prometheus.Desc
}

func newScrapeCollector(src Sources) *scrapeCollector {
	d := prometheus.NewDesc
	return &scrapeCollector{src: src,
		streams: d("switchboard_live_streams", "Open upstream live streams by vendor, topic and status.", []string{"vendor", "topic", "status"}, nil),
		subs:    d("switchboard_live_subscribers", "Subscribers attached to upstream streams by vendor and topic.", []string{"vendor", "topic"}, nil),
		conns:   d("switchboard_live_upstream_connects", "Upstream connections opened by the open streams, by vendor and topic.", []string{"vendor", "topic"}, nil),
		events:  d("switchboard_live_stream_events", "Events emitted by the open streams, by vendor and topic.", []string{"vendor", "topic"}, nil),
		hits:    d("switchboard_cache_hits_total", "Reads served from the short TTL cache.", nil, nil),
		misses:  d("switchboard_cache_misses_total", "Reads that went upstream.", nil, nil),
		ratio:   d("switchboard_cache_hit_ratio", "hits / (hits + misses) since start.", nil, nil),
		breaker: d("switchboard_circuit_breaker_state", "Per source: 0 closed, 1 half-open, 2 open.", []string{"vendor", "source"}, nil),
		jwks:    d("switchboard_jwks_refreshes_total", "JWKS key-set fetches.", nil, nil),
	}
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.streams, c.subs, c.conns, c.events, c.hits, c.misses, c.ratio, c.breaker, c.jwks} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Streams != nil {
		type vt struct{ vendor, topic string }
		type vts struct{ vendor, topic, status string }
		streams := map[vts]int{}
		subs, conns := map[vt]int{}, map[vt]int{}
		events := map[vt]uint64{}
		for _, s := range c.src.Streams() {
			streams[vts{s.Vendor, s.Topic, s.Status}]++
			k := vt{s.Vendor, s.Topic}
			subs[k] += s.Subscribers
			conns[k] += s.Connects
			events[k] += s.Events
		}
		for k, n := range streams {
			ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(n), k.vendor, k.topic, k.status)
		}
		for k, n := range subs {
			ch <- prometheus.MustNewConstMetric(c.subs, prometheus.GaugeValue, float64(n), k.vendor, k.topic)
			ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(conns[k]), k.vendor, k.topic)
			ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(events[k]), k.vendor, k.topic)
		}
	}
	if c.src.Cache != nil {
		h, m := c.src.Cache()
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(h))
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(m))
		ratio := 0.0
		if h+m > 0 {
			ratio = float64(h) / float64(h+m)
		}
		ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, ratio)
	}
	if c.src.Breakers != nil {
		for k, v := range c.src.Breakers() {
			ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, float64(v), k[0], k[1])
		}
	}
	if c.src.JWKSRefreshes != nil {
		ch <- prometheus.MustNewConstMetric(c.jwks, prometheus.CounterValue, float64(c.src.JWKSRefreshes()))
	}
}
