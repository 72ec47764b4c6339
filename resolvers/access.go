package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// Error codes in extensions.code, beyond the drivers' (see upstreams.Error.Code).
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeBadInput        = "BAD_USER_INPUT"
	CodeNotSupported    = "NOT_SUPPORTED"
	CodeNotFound        = "NOT_FOUND"
	CodeInternal        = "INTERNAL"
)

// codedError is an error whose message is safe for clients.
type codedError struct {
	code   string
	source string
	msg    string
}

func (e *codedError) Error() string { return e.msg }

func errorf(code, format string, args ...any) error {
	return &codedError{code: code, msg: fmt.Sprintf(format, args...)}
}

// ScopeDirective implements @scope(requires:).
func ScopeDirective(ctx context.Context, _ any, next graphql.Resolver, requires string) (any, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return nil, errorf(CodeUnauthenticated, "authentication required")
	}
	if !p.Has(requires) {
		return nil, errorf(CodeForbidden, "scope %s required", requires)
	}
	return next(ctx)
}

func principal(ctx context.Context) (*auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return nil, errorf(CodeUnauthenticated, "authentication required")
	}
	return p, nil
}

// tenantSources returns the caller's tenant sources, narrowed by the filter's source ids and
// by the token's own source restriction. Naming a source outside the tenant is an input
// error that does not reveal whether it exists elsewhere.
func (r *Resolver) tenantSources(ctx context.Context, only []string) ([]*Source, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	t, ok := r.Tenants.Get(p.Tenant)
	if !ok {
		return nil, errorf(CodeForbidden, "tenant %q is not configured", p.Tenant)
	}
	allowed := func(id string) bool {
		if len(p.Sources) == 0 {
			return true
		}
		for _, s := range p.Sources {
			if s == id {
				return true
			}
		}
		return false
	}
	if len(only) == 0 {
		var out []*Source
		for _, s := range t.Sources {
			if allowed(s.Spec.ID) {
				out = append(out, s)
			}
		}
		return out, nil
	}
	var out []*Source
	for _, id := range only {
		s, ok := t.Source(id)
		if !ok || !allowed(id) {
			return nil, errorf(CodeBadInput, "filter.sources: unknown source %q", id)
		}
		out = append(out, s)
	}
	return out, nil
}

// capable keeps the sources whose driver has capability T. When none has it, the error is
// NOT_SUPPORTED naming the sources asked.
func capable[T any](srcs []*Source, what string) ([]*Source, []T, error) {
	var out []*Source
	var ds []T
	for _, s := range srcs {
		if d, ok := s.Driver.(T); ok {
			out = append(out, s)
			ds = append(ds, d)
		}
	}
	if len(out) == 0 {
		ids := make([]string, len(srcs))
		for i, s := range srcs {
			ids[i] = s.Spec.ID
		}
		e := &codedError{code: CodeNotSupported, msg: fmt.Sprintf("%s is not supported by sources [%s]", what, strings.Join(ids, ", "))}
		if len(ids) == 1 {
			e.source = ids[0]
		}
		return nil, nil, e
	}
	return out, ds, nil
}

// sourceByGlobalID decodes an id and finds the caller's source it belongs to.
func (r *Resolver) sourceByGlobalID(ctx context.Context, id, wantKind string) (*Source, string, error) {
	kind, sourceID, vendorID, err := model.ParseGlobalID(id)
	if err != nil || kind != wantKind {
		return nil, "", errorf(CodeBadInput, "id %q is not a %s id", truncate(id, 80), wantKind)
	}
	srcs, err := r.tenantSources(ctx, nil)
	if err != nil {
		return nil, "", err
	}
	for _, s := range srcs {
		if s.Spec.ID == sourceID {
			return s, vendorID, nil
		}
	}
	return nil, "", errorf(CodeNotFound, "%s %q not found", wantKind, truncate(id, 80))
}

// addSourceError records a failed source as a partial-result error on the current field.
func addSourceError(ctx context.Context, err error) {
	graphql.AddError(ctx, err)
}

// PresentError turns any resolver error into a GraphQL error with extensions.code (and
// extensions.source for source errors). Unknown errors are logged and hidden.
func PresentError(logger *slog.Logger) graphql.ErrorPresenterFunc {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var ce *codedError
		var ue *upstreams.Error
		switch {
		case errors.As(err, &ce):
			gerr.Message = ce.msg
			setExt(gerr, "code", ce.code)
			if ce.source != "" {
				setExt(gerr, "source", ce.source)
			}
		case errors.As(err, &ue):
			gerr.Message = ue.Public()
			setExt(gerr, "code", ue.Code())
			setExt(gerr, "source", ue.Source)
			logger.WarnContext(ctx, "source error", "source", ue.Source, "vendor", ue.Vendor, "err", ue.Error())
		case errors.Is(err, context.DeadlineExceeded):
			gerr.Message = "request deadline exceeded"
			setExt(gerr, "code", "TIMEOUT")
		default:
			var ge *gqlerror.Error
			if errors.As(err, &ge) && ge.Extensions != nil && ge.Extensions["code"] != nil {
				return gerr // validation and parse errors from gqlgen keep their codes
			}
			if errors.As(err, &ge) && ge.Rule != "" {
				setExt(gerr, "code", "GRAPHQL_VALIDATION_FAILED")
				return gerr
			}
			if errors.As(err, &ge) {
				// gqlgen's own errors here are argument coercion failures (a bad DateTime,
				// an unknown enum value): the caller's input, with the path naming it.
				setExt(gerr, "code", CodeBadInput)
				return gerr
			}
			logger.ErrorContext(ctx, "internal error", "err", err)
			gerr.Message = "internal error"
			setExt(gerr, "code", CodeInternal)
		}
		return gerr
	}
}

func setExt(e *gqlerror.Error, k string, v any) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions[k] = v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func maskedOrNil(ctx context.Context, v *string) *string {
	if v == nil {
		return nil
	}
	if p, ok := auth.FromContext(ctx); ok && p.Has(auth.ScopePIIRead) {
		return v
	}
	m := auth.MaskPII(*v)
	return &m
}
