package resolvers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// Source is one built driver of one tenant.
type Source struct {
	Spec   upstreams.SourceSpec
	Driver upstreams.Driver
	// Identity identifies the credentials the driver uses, without revealing them: two
	// sources share an upstream stream only if tenant, source and identity all match.
	Identity string
}

// Tenant is a tenant's sources, in configuration order.
type Tenant struct {
	ID      string
	Sources []*Source
}

// Source returns the tenant's source with id.
func (t *Tenant) Source(id string) (*Source, bool) {
	for _, s := range t.Sources {
		if s.Spec.ID == id {
			return s, true
		}
	}
	return nil, false
}

// Tenants maps tenant ids to their sources. Immutable once built; a reload builds a new one.
type Tenants struct {
	byID map[string]*Tenant
}

// NewTenants wraps already built tenants (tests).
func NewTenants(ts ...*Tenant) *Tenants {
	m := make(map[string]*Tenant, len(ts))
	for _, t := range ts {
		m[t.ID] = t
	}
	return &Tenants{byID: m}
}

// Get returns a tenant.
func (t *Tenants) Get(id string) (*Tenant, bool) {
	tt, ok := t.byID[id]
	return tt, ok
}

// IDs lists tenant ids, sorted.
func (t *Tenants) IDs() []string {
	out := make([]string, 0, len(t.byID))
	for id := range t.byID {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// All returns every source of every tenant (readiness, shutdown).
func (t *Tenants) All() []*Source {
	var out []*Source
	for _, id := range t.IDs() {
		out = append(out, t.byID[id].Sources...)
	}
	return out
}

// closeNew closes the drivers built so far that were not reused from a running generation.
func (t *Tenants) closeNew(reuse ReuseFunc) error {
	var errs []error
	for _, s := range t.All() {
		if reuse != nil {
			if old, ok := reuse(s.Spec, s.Identity); ok && old == s {
				continue
			}
		}
		errs = append(errs, s.Driver.Close())
	}
	return errors.Join(errs...)
}

// Close closes every driver, joining errors.
func (t *Tenants) Close() error {
	var errs []error
	for _, s := range t.All() {
		if err := s.Driver.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing source %s/%s: %w", s.Spec.Tenant, s.Spec.ID, err))
		}
	}
	return errors.Join(errs...)
}

// DepsFunc gives each source its dependencies (an HTTP client instrumented for it).
type DepsFunc func(spec upstreams.SourceSpec) upstreams.Deps

// ReuseFunc offers an existing source for a spec and credentials identity, on reload.
type ReuseFunc func(spec upstreams.SourceSpec, identity string) (*Source, bool)

// Reusable returns the source with the same tenant, id, vendor, URL, name, options and
// credentials: its driver (and so its live streams) can serve the next configuration.
func (t *Tenants) Reusable(spec upstreams.SourceSpec, identity string) (*Source, bool) {
	tt, ok := t.byID[spec.Tenant]
	if !ok {
		return nil, false
	}
	s, ok := tt.Source(spec.ID)
	if !ok || s.Identity != identity || s.Spec.Vendor != spec.Vendor || s.Spec.URL != spec.URL || s.Spec.Name != spec.Name || !reflect.DeepEqual(s.Spec.Options, spec.Options) {
		return nil, false
	}
	return s, true
}

// CloseExcept closes the drivers that keep does not also hold (all of them when keep is nil).
func (t *Tenants) CloseExcept(keep *Tenants) error {
	kept := map[upstreams.Driver]bool{}
	if keep != nil {
		for _, s := range keep.All() {
			kept[s.Driver] = true
		}
	}
	var errs []error
	for _, s := range t.All() {
		if kept[s.Driver] {
			continue
		}
		if err := s.Driver.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing source %s/%s: %w", s.Spec.Tenant, s.Spec.ID, err))
		}
	}
	return errors.Join(errs...)
}

// BuildTenants builds a driver for every configured source.
func BuildTenants(ctx context.Context, cfg *config.Config, reg *upstreams.Registry, deps DepsFunc, lookup config.Lookup) (*Tenants, error) {
	return BuildTenantsReusing(ctx, cfg, reg, deps, lookup, nil)
}

// BuildTenantsReusing builds the tenants of cfg, taking over drivers reuse offers.
func BuildTenantsReusing(ctx context.Context, cfg *config.Config, reg *upstreams.Registry, deps DepsFunc, lookup config.Lookup, reuse ReuseFunc) (*Tenants, error) {
	out := &Tenants{byID: map[string]*Tenant{}}
	for _, tc := range cfg.Tenants {
		t := &Tenant{ID: tc.ID}
		for _, sc := range tc.Sources {
			spec := upstreams.SourceSpec{
				Tenant: tc.ID, ID: sc.ID, Vendor: sc.Vendor, Name: sc.Name, URL: sc.URL,
				Options: sc.Options, Secret: secretFunc(tc.ID, sc, lookup),
			}
			if spec.Name == "" {
				spec.Name = sc.ID
			}
			id := identity(tc.ID, sc, lookup)
			if reuse != nil {
				if old, ok := reuse(spec, id); ok {
					t.Sources = append(t.Sources, old)
					continue
				}
			}
			d, err := reg.New(ctx, spec, deps(spec))
			if err != nil {
				_ = out.closeNew(reuse)
				return nil, fmt.Errorf("tenant %q: %w", tc.ID, err)
			}
			t.Sources = append(t.Sources, &Source{Spec: spec, Driver: d, Identity: id})
		}
		out.byID[tc.ID] = t
	}
	return out, nil
}

func secretFunc(tenant string, sc config.Source, lookup config.Lookup) func(string) (string, error) {
	return func(name string) (string, error) {
		ref, ok := sc.Secrets[name]
		if !ok {
			return "", fmt.Errorf("tenant %q source %q: secret %q is not configured", tenant, sc.ID, name)
		}
		v, err := ref.Resolve(lookup)
		if err != nil {
			return "", fmt.Errorf("tenant %q source %q: secret %q: %w", tenant, sc.ID, name, err)
		}
		return v, nil
	}
}

// identity hashes the source's URL and secret values so that changed credentials make a
// different stream key, without the key revealing them.
func identity(tenant string, sc config.Source, lookup config.Lookup) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", tenant, sc.ID, sc.Vendor, sc.URL)
	names := make([]string, 0, len(sc.Secrets))
	for n := range sc.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v, _ := sc.Secrets[n].Resolve(lookup)
		fmt.Fprintf(h, "%s=%s\x00", n, v)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// modelSource describes a source for the viewer.
func modelSource(s *Source) *model.Source {
	h := s.Driver.Health()
	return &model.Source{
		ID: s.Spec.ID, Vendor: s.Spec.Vendor, Name: s.Spec.Name,
		Capabilities: upstreams.Capabilities(s.Driver), Health: &h,
	}
}
