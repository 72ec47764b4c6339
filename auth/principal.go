package auth

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Scopes understood by the gateway.
const (
	ScopeCallsRead    = "calls:read"
	ScopeAgentsRead   = "agents:read"
	ScopeQueuesRead   = "queues:read"
	ScopeReportsWrite = "reports:write"
	ScopePIIRead      = "pii:read"
	ScopeRawRead      = "raw:read"
)

// AllScopes returns every scope the gateway understands, in a new slice.
func AllScopes() []string {
	return []string{ScopeCallsRead, ScopeAgentsRead, ScopeQueuesRead, ScopeReportsWrite, ScopePIIRead, ScopeRawRead}
}

// Principal is the verified caller.
type Principal struct {
	Tenant    string
	Subject   string
	Scopes    []string
	Sources   []string // restriction to these source ids; empty means all of the tenant's sources
	ExpiresAt time.Time
}

// Has reports whether p holds scope. A nil Principal holds nothing.
func (p *Principal) Has(scope string) bool {
	return p != nil && slices.Contains(p.Scopes, scope)
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal stored by WithPrincipal; ok is false when
// there is none.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// BearerToken extracts the token from an Authorization header value
// ("Bearer <token>", scheme case-insensitive).
func BearerToken(authorizationHeader string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorizationHeader), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}

// MaskPII hides personal data such as phone numbers and e-mail addresses.
// Letters and digits become '*' except the last three of them; other
// characters ('+', spaces, '-', '@', '.') stay, so the length and the shape
// remain recognisable: "+46701234567" -> "+********567". A value with three
// or fewer characters, or three or fewer letters and digits, would be shown
// whole that way, so it becomes all '*' instead ("+12" -> "***").
func MaskPII(s string) string {
	rs := []rune(s)
	alnum := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	n := 0
	for _, r := range rs {
		if alnum(r) {
			n++
		}
	}
	if len(rs) <= 3 || n <= 3 {
		return strings.Repeat("*", len(rs))
	}
	keep := 3
	for i := len(rs) - 1; i >= 0; i-- {
		if !alnum(rs[i]) {
			continue
		}
		if keep > 0 {
			keep--
			continue
		}
		rs[i] = '*'
	}
	return string(rs)
}
