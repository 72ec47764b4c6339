// Package config loads the gateway's YAML configuration: server settings, limits, JWT
// verification, and each tenant's sources. `${VAR}` in the text is expanded from the
// environment; secrets are only ever references (env var or file), never values.
package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	Server  Server   `yaml:"server"`
	Limits  Limits   `yaml:"limits"`
	Auth    Auth     `yaml:"auth"`
	Live    Live     `yaml:"live"`
	Cache   Cache    `yaml:"cache"`
	Metrics Metrics  `yaml:"metrics"`
	Tracing Tracing  `yaml:"tracing"`
	Log     Log      `yaml:"log"`
	Tenants []Tenant `yaml:"tenants"`
}

// Server is the HTTP listener.
type Server struct {
	Addr            string   `yaml:"addr"`            // listen address [127.0.0.1:8080]
	AllowedOrigins  []string `yaml:"allowedOrigins"`  // WebSocket Origin patterns; empty = same origin only
	ShutdownTimeout Duration `yaml:"shutdownTimeout"` // graceful shutdown bound [10s]
	GraphiQL        *bool    `yaml:"graphiql"`        // serve GraphiQL at / [true]
	// OpsToken unlocks /readyz detail and /metrics for non-loopback callers (Prometheus
	// bearer_token); without it only loopback callers get them.
	OpsToken *SecretRef `yaml:"opsToken"`
}

// Limits protect the gateway and its upstreams; all are on by default.
type Limits struct {
	MaxBodyBytes               int64    `yaml:"maxBodyBytes"`               // request body [1 MiB]
	MaxDepth                   int      `yaml:"maxDepth"`                   // selection depth [12]
	MaxComplexity              int      `yaml:"maxComplexity"`              // gqlgen complexity [20000]
	MaxAliases                 int      `yaml:"maxAliases"`                 // aliases per operation [30]
	MaxDirectives              int      `yaml:"maxDirectives"`              // directives per operation [20]
	MaxTokens                  int      `yaml:"maxTokens"`                  // lexer tokens per document [15000]
	MaxPageSize                int      `yaml:"maxPageSize"`                // `first` cap [100]
	SubscriptionsPerConnection int      `yaml:"subscriptionsPerConnection"` // [100]
	SubscriptionsPerTenant     int      `yaml:"subscriptionsPerTenant"`     // [5000]
	InitTimeout                Duration `yaml:"initTimeout"`                // WebSocket connection_init [10s]
	KeepAlive                  Duration `yaml:"keepAlive"`                  // WebSocket ping interval [25s]
	MaxMessageBytes            int64    `yaml:"maxMessageBytes"`            // WebSocket frame [64 KiB]
	Introspection              *bool    `yaml:"introspection"`              // [true]
	// IntrospectionScope, when set, allows introspection only to tokens holding this scope
	// (e.g. "schema:read"); others get "introspection disabled" and no field suggestions.
	IntrospectionScope string   `yaml:"introspectionScope"`
	UpstreamTimeout    Duration `yaml:"upstreamTimeout"` // per upstream request [10s]
}

// Auth configures JWT verification. Exactly the key sources given are used.
type Auth struct {
	Algorithms     []string   `yaml:"algorithms"`     // allow-list [HS256]
	Issuer         string     `yaml:"issuer"`         // required iss when set
	Audience       string     `yaml:"audience"`       // required aud when set
	Leeway         Duration   `yaml:"leeway"`         // clock skew allowance [30s]
	TenantClaim    string     `yaml:"tenantClaim"`    // [tenant]
	ScopesClaim    string     `yaml:"scopesClaim"`    // [scope]
	SourcesClaim   string     `yaml:"sourcesClaim"`   // [sources]
	HSSecret       *SecretRef `yaml:"hsSecret"`       // HMAC key reference
	PEMFiles       []PEMFile  `yaml:"pemFiles"`       // public keys
	JWKSURL        string     `yaml:"jwksURL"`        // JWKS endpoint
	JWKSMinRefresh Duration   `yaml:"jwksMinRefresh"` // refresh rate limit [1m]
}

// PEMFile is a public key file with the kid tokens name it by.
type PEMFile struct {
	KID  string `yaml:"kid"`
	File string `yaml:"file,omitempty"`
}

// Live tunes the live hub.
type Live struct {
	// MaxTenantSubscribers caps live subscriptions per tenant on this replica [0: no cap
	// beyond limits.subscriptionsPerTenant].
	MaxTenantSubscribers int `yaml:"maxTenantSubscribers"`
	// NATS, when set, shares streams between replicas: one replica holds each upstream stream.
	NATS   *NATS    `yaml:"nats"`
	Linger Duration `yaml:"linger"` // keep an upstream stream after its last subscriber [30s]
	Buffer int      `yaml:"buffer"` // per-subscriber events [256]
}

// NATS configures the bus between replicas.
type NATS struct {
	URL          string   `yaml:"url"`          // nats://host:4222; empty with embedded = the embedded server
	Embedded     bool     `yaml:"embedded"`     // run a NATS server with JetStream in this process (127.0.0.1 only)
	EmbeddedPort int      `yaml:"embeddedPort"` // its port [a free one]
	StoreDir     string   `yaml:"storeDir"`     // its JetStream directory [a temporary one]
	LeaseTTL     Duration `yaml:"leaseTTL"`     // stream ownership lease; the same on every replica [10s]
	ReplicaID    string   `yaml:"replicaID"`    // this replica's name in leases [hostname]
	Bucket       string   `yaml:"bucket"`       // JetStream KV bucket of leases [switchboard_leases]
	Prefix       string   `yaml:"prefix"`       // subject prefix [switchboard]
}

// Cache tunes the short per-tenant cache of slow-moving figures (queue stats, agent lists).
type Cache struct {
	TTL Duration `yaml:"ttl"` // how long an answer is reused [2s]
}

// Metrics configures /metrics.
type Metrics struct {
	Disabled    bool `yaml:"disabled"`    // turn /metrics off [false]
	TenantLabel bool `yaml:"tenantLabel"` // add a tenant label to upstream metrics; only with few tenants [false]
}

// Tracing configures OpenTelemetry; off unless an endpoint is set.
type Tracing struct {
	Endpoint    string  `yaml:"endpoint"`    // OTLP/HTTP collector host:port, e.g. otel-collector:4318
	Insecure    bool    `yaml:"insecure"`    // no TLS to the collector
	SampleRatio float64 `yaml:"sampleRatio"` // share of new traces kept, 0..1 [1]
	ServiceName string  `yaml:"serviceName"` // [switchboard]
}

// Log configures logging.
type Log struct {
	Format string `yaml:"format"` // text | json [text]
	Level  string `yaml:"level"`  // debug | info | warn | error [info]
}

// Tenant is one customer of the gateway and its upstream sources.
type Tenant struct {
	ID      string   `yaml:"id"`
	Sources []Source `yaml:"sources"`
}

// Source is one vendor API of a tenant.
type Source struct {
	ID      string               `yaml:"id"`
	Vendor  string               `yaml:"vendor"`
	Name    string               `yaml:"name"`
	URL     string               `yaml:"url"`
	Secrets map[string]SecretRef `yaml:"secrets"`
	Options map[string]any       `yaml:"options"`
}

// SecretRef names where a secret lives: an environment variable or a file.
type SecretRef struct {
	Env  string `yaml:"env,omitempty"`
	File string `yaml:"file,omitempty"`
}

// Duration is a time.Duration written like "5s" in YAML.
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 5s: %w", n.Line, n.Value, err)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d.Duration == 0 {
		return def
	}
	return d.Duration
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Lookup finds an environment variable; os.LookupEnv in production, a map in the demo.
type Lookup func(name string) (string, bool)

// Load reads and parses a file, expanding ${VAR} with lookup.
func Load(path string, lookup Lookup) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(b, lookup)
}

// Parse parses YAML text, expanding ${VAR} with lookup, applies defaults and validates.
func Parse(text []byte, lookup Lookup) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var missing []string
	expanded := envRef.ReplaceAllStringFunc(string(text), func(m string) string {
		name := envRef.FindStringSubmatch(m)[1]
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("config: environment variables not set: %s", strings.Join(missing, ", "))
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ApplyDefaults fills unset fields with their documented defaults.
func (c *Config) ApplyDefaults() {
	setDefault(&c.Server.Addr, "127.0.0.1:8080")
	setDefault(&c.Limits.MaxBodyBytes, 1<<20)
	setDefault(&c.Limits.MaxDepth, 12)
	setDefault(&c.Limits.MaxComplexity, 20000)
	setDefault(&c.Limits.MaxAliases, 30)
	setDefault(&c.Limits.MaxDirectives, 20)
	setDefault(&c.Limits.MaxTokens, 15000)
	setDefault(&c.Limits.MaxPageSize, 100)
	setDefault(&c.Limits.SubscriptionsPerConnection, 100)
	setDefault(&c.Limits.SubscriptionsPerTenant, 5000)
	setDefault(&c.Limits.MaxMessageBytes, 64<<10)
	if len(c.Auth.Algorithms) == 0 {
		c.Auth.Algorithms = []string{"HS256"}
	}
	setDefault(&c.Auth.TenantClaim, "tenant")
	setDefault(&c.Auth.ScopesClaim, "scope")
	setDefault(&c.Auth.SourcesClaim, "sources")
	setDefault(&c.Live.Buffer, 256)
	setDefault(&c.Cache.TTL, Duration{2 * time.Second})
	// A stream a query opened stays warm for the next query or wallboard refresh.
	setDefault(&c.Live.Linger, Duration{30 * time.Second})
	setDefault(&c.Log.Format, "text")
	setDefault(&c.Log.Level, "info")
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports every problem it finds, joined.
func (c *Config) Validate() error {
	var errs []error
	if c.Auth.HSSecret == nil && len(c.Auth.PEMFiles) == 0 && c.Auth.JWKSURL == "" {
		errs = append(errs, errors.New("auth: no keys: set hsSecret, pemFiles or jwksURL"))
	}
	if c.Auth.HSSecret != nil {
		if err := c.Auth.HSSecret.validate(); err != nil {
			errs = append(errs, fmt.Errorf("auth.hsSecret: %w", err))
		}
	}
	if n := c.Live.NATS; n != nil && n.URL == "" && !n.Embedded {
		errs = append(errs, errors.New("live.nats: set url, or embedded: true"))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	tenants := map[string]bool{}
	for i, t := range c.Tenants {
		where := fmt.Sprintf("tenants[%d]", i)
		if !validID(t.ID) {
			errs = append(errs, fmt.Errorf("%s.id: %q must be 1-64 of [A-Za-z0-9_.-]", where, t.ID))
		}
		if tenants[t.ID] {
			errs = append(errs, fmt.Errorf("%s.id: duplicate tenant %q", where, t.ID))
		}
		tenants[t.ID] = true
		sources := map[string]bool{}
		for j, s := range t.Sources {
			sw := fmt.Sprintf("%s.sources[%d]", where, j)
			if !validID(s.ID) {
				errs = append(errs, fmt.Errorf("%s.id: %q must be 1-64 of [A-Za-z0-9_.-]", sw, s.ID))
			}
			if sources[s.ID] {
				errs = append(errs, fmt.Errorf("%s.id: duplicate source %q in tenant %q", sw, s.ID, t.ID))
			}
			sources[s.ID] = true
			if s.Vendor == "" {
				errs = append(errs, fmt.Errorf("%s.vendor: required", sw))
			}
			if s.URL == "" {
				errs = append(errs, fmt.Errorf("%s.url: required", sw))
			}
			for name, ref := range s.Secrets {
				if err := ref.validate(); err != nil {
					errs = append(errs, fmt.Errorf("%s.secrets.%s: %w", sw, name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func validID(s string) bool { return idPattern.MatchString(s) }

func (r SecretRef) validate() error {
	if (r.Env == "") == (r.File == "") {
		return errors.New("give exactly one of env or file")
	}
	return nil
}

// Resolve reads the secret. Errors name the reference, never the value.
func (r SecretRef) Resolve(lookup Lookup) (string, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if r.Env != "" {
		v, ok := lookup(r.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("secret env var %s is not set", r.Env)
		}
		return v, nil
	}
	b, err := os.ReadFile(r.File)
	if err != nil {
		return "", fmt.Errorf("reading secret file %s: %w", r.File, errors.Unwrap(err))
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Tenant returns the tenant with id.
func (c *Config) Tenant(id string) (*Tenant, bool) {
	for i := range c.Tenants {
		if c.Tenants[i].ID == id {
			return &c.Tenants[i], true
		}
	}
	return nil, false
}
