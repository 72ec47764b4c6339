package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Minter issues HS-signed tokens for `switchboard token` and the demo.
type Minter struct {
	method      jwt.SigningMethod
	secret      []byte
	issuer      string
	audience    string
	tenantClaim string
	scopesClaim string
}

// NewMinter returns a Minter for alg (HS256, HS384 or HS512) and a secret of
// at least 32 bytes. Empty issuer/audience leave the claim out; empty claim
// names take the Verifier's defaults ("tenant", "scope").
func NewMinter(alg string, secret []byte, issuer, audience, tenantClaim, scopesClaim string) (*Minter, error) {
	if !slices.Contains([]string{"HS256", "HS384", "HS512"}, alg) {
		return nil, fmt.Errorf("creating minter: algorithm %q: want HS256, HS384 or HS512", alg)
	}
	if len(secret) < minHSSecretBytes {
		return nil, fmt.Errorf("creating minter: secret: %d bytes, need at least %d", len(secret), minHSSecretBytes)
	}
	setDefault(&tenantClaim, "tenant")
	setDefault(&scopesClaim, "scope")
	return &Minter{
		method: jwt.GetSigningMethod(alg), secret: slices.Clone(secret),
		issuer: issuer, audience: audience, tenantClaim: tenantClaim, scopesClaim: scopesClaim,
	}, nil
}

// Mint signs a token for tenant with scopes (written as one space-separated
// string), issued at now and valid for ttl.
func (m *Minter) Mint(tenant string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	switch {
	case tenant == "":
		return "", errors.New("minting token: tenant: empty")
	case ttl <= 0:
		return "", errors.New("minting token: ttl: must be positive")
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' }) {
			return "", fmt.Errorf("minting token: scope %q: empty or contains whitespace", s)
		}
	}
	claims := jwt.MapClaims{
		m.tenantClaim: tenant,
		m.scopesClaim: strings.Join(scopes, " "),
		"iat":         now.Unix(),
		"exp":         now.Add(ttl).Unix(),
	}
	if m.issuer != "" {
		claims["iss"] = m.issuer
	}
	if m.audience != "" {
		claims["aud"] = m.audience
	}
	s, err := jwt.NewWithClaims(m.method, claims).SignedString(m.secret)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return s, nil
}
