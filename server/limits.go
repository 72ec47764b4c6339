package server

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/graph"
	"github.com/switchboard-cc/switchboard/graph/model"
)

// Assumed list sizes for complexity where the caller gives no `first`.
const (
	assumedAgents = 100
	assumedQueues = 50
	assumedLegs   = 5
)

// setComplexity makes list fields cost their page size, so `calls(first: 100) { legs }`
// is counted as the 100 × legs it can cost upstream.
func setComplexity(cfg *graph.Config, maxPage int) {
	page := func(first *int) int {
		if first == nil {
			return 20
		}
		return max(1, min(*first, maxPage))
	}
	c := &cfg.Complexity
	c.Query.Calls = func(child int, _ *model.CallFilter, first *int, _ *string) int { return 1 + page(first)*child }
	c.Query.ReportJobs = func(child int, first *int, _ *string) int { return 1 + page(first)*child }
	c.Query.Agents = func(child int, _ *model.AgentFilter) int { return 1 + assumedAgents*child }
	c.Query.Queues = func(child int, _ *model.QueueFilter) int { return 1 + assumedQueues*child }
	c.Call.Legs = func(child int) int { return 1 + assumedLegs*child }
}

// shapeLimit rejects operations deeper or with more aliases than allowed, before any
// resolver runs (fragments are followed; cycles are already rejected by validation).
type shapeLimit struct {
	maxDepth, maxAliases, maxDirectives int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimit{}

func (shapeLimit) ExtensionName() string                   { return "ShapeLimit" }
func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (l shapeLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	var c counts
	c.directives = len(oc.Operation.Directives)
	depth := walk(oc.Operation.SelectionSet, 1, &c, 0)
	aliases := c.aliases
	if l.maxDepth > 0 && depth > l.maxDepth {
		return limitError(fmt.Sprintf("operation depth %d exceeds the limit of %d", depth, l.maxDepth), "DEPTH_LIMIT_EXCEEDED")
	}
	if l.maxAliases > 0 && aliases > l.maxAliases {
		return limitError(fmt.Sprintf("operation uses %d aliases, the limit is %d", aliases, l.maxAliases), "ALIAS_LIMIT_EXCEEDED")
	}
	if l.maxDirectives > 0 && c.directives > l.maxDirectives {
		return limitError(fmt.Sprintf("operation uses %d directives, the limit is %d", c.directives, l.maxDirectives), "DIRECTIVE_LIMIT_EXCEEDED")
	}
	return nil
}

// maxFragmentHops guards against pathological fragment nesting.
const maxFragmentHops = 64

type counts struct{ aliases, directives int }

func walk(set ast.SelectionSet, depth int, c *counts, hops int) int {
	deepest := depth - 1
	if hops > maxFragmentHops {
		return depth
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				c.aliases++
			}
			c.directives += len(s.Directives)
			d := depth
			if len(s.SelectionSet) > 0 {
				d = walk(s.SelectionSet, depth+1, c, hops)
			}
			deepest = max(deepest, d)
		case *ast.InlineFragment:
			c.directives += len(s.Directives)
			deepest = max(deepest, walk(s.SelectionSet, depth, c, hops+1))
		case *ast.FragmentSpread:
			c.directives += len(s.Directives)
			if s.Definition != nil {
				deepest = max(deepest, walk(s.Definition.SelectionSet, depth, c, hops+1))
			}
		}
	}
	return deepest
}

func limitError(msg, code string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

// introspectionScope allows introspection only to principals holding a scope. It runs after
// gqlgen's Introspection extension, which enables it for everyone.
type introspectionScope struct{ scope string }

func (introspectionScope) ExtensionName() string                   { return "IntrospectionScope" }
func (introspectionScope) Validate(graphql.ExecutableSchema) error { return nil }
func (i introspectionScope) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if p, ok := auth.FromContext(ctx); !ok || !p.Has(i.scope) {
		oc.DisableIntrospection = true
	}
	return nil
}
