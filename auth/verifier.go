package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnauthenticated is wrapped by every error about the token itself; the
// message says why without repeating the token. Callers answer 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrKeysUnavailable means the JWKS URL could not be read and no keys are
// cached, so no token can be judged. Callers answer 503.
var ErrKeysUnavailable = errors.New("signing keys unavailable")

// supportedAlgs is the full set; anything else (PS256, RS384, ES384...) is
// refused at configuration time.
var supportedAlgs = []string{"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"}

// minHSSecretBytes is the RFC 7518 key size for HS256; shorter secrets are
// guessable offline from a single token.
const minHSSecretBytes = 32

// Config configures a Verifier. Zero values take the documented defaults.
type Config struct {
	// Algorithms is the allow-list, a subset of HS256 HS384 HS512 RS256
	// ES256 EdDSA. Default: all six. HS algorithms are dropped when HSSecret
	// is empty, so an RS/ES/EdDSA-only deployment never accepts HS tokens.
	Algorithms []string
	// Issuer, when non-empty, must equal the iss claim.
	Issuer string
	// Audience, when non-empty, must be one of the aud claim's values.
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s.
	Leeway time.Duration
	// TenantClaim names the claim holding the tenant id (a non-empty
	// string, required). Default "tenant".
	TenantClaim string
	// ScopesClaim names the scopes claim: a space-separated string or a
	// JSON array of strings. Default "scope".
	ScopesClaim string
	// SourcesClaim names the optional claim restricting the caller to some
	// source ids, same forms as ScopesClaim. Default "sources".
	SourcesClaim string
	// HSSecret is the HMAC secret for HS*, at least 32 bytes; empty
	// disables HS.
	HSSecret []byte
	// PEMKeys are public keys (RSA >= 2048 bits, EC P-256, Ed25519) as PKIX
	// "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or "CERTIFICATE" blocks. A token
	// with a kid uses only the key of that KID; a token without one tries
	// every key whose type fits its alg.
	PEMKeys []PEMKey
	// JWKSURL is an optional http(s) URL of a JWK set; https is expected
	// anywhere but loopback.
	JWKSURL string
	// JWKSMinRefresh is the least time between two JWKS fetches, whatever
	// triggers them (unknown kid, expired cache, failure). Default 1m.
	JWKSMinRefresh time.Duration
	// JWKSCacheTTL is how long fetched keys count as fresh. Stale keys keep
	// serving while a refresh fails. Default 15m.
	JWKSCacheTTL time.Duration
	// HTTPClient fetches the JWKS. Default: 5s timeout, redirects only
	// within the same host and never from https to http.
	HTTPClient *http.Client
	// MaxTokenBytes rejects longer tokens before any parsing. Default 8192.
	MaxTokenBytes int
}

// PEMKey is one PEM-encoded public key and the kid that selects it ("" = used
// only for tokens without a kid).
type PEMKey struct {
	KID string
	PEM []byte
}

// Verifier checks tokens against a Config. It is safe for concurrent use.
type Verifier struct {
	cfg      Config
	algs     []string
	hsSecret []byte
	pemByKID map[string]pubKey
	pemAll   []pubKey
	jwks     *jwksCache // nil without JWKSURL
	parser   *jwt.Parser
	now      func() time.Time // replaced by tests before first use
}

// NewVerifier validates cfg, applies defaults and parses the PEM keys. It does
// not contact the JWKS URL; the first token that needs it does.
func NewVerifier(cfg Config, logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "auth")
	if err := applyDefaults(&cfg); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, now: time.Now, pemByKID: map[string]pubKey{}}

	if len(cfg.HSSecret) > 0 {
		if len(cfg.HSSecret) < minHSSecretBytes {
			return nil, fmt.Errorf("auth config: HSSecret: %d bytes, need at least %d", len(cfg.HSSecret), minHSSecretBytes)
		}
		v.hsSecret = slices.Clone(cfg.HSSecret)
		v.cfg.HSSecret = nil // one copy of the secret, owned here
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(supportedAlgs, a) {
			return nil, fmt.Errorf("auth config: Algorithms: unsupported algorithm %q (supported: %s)", a, strings.Join(supportedAlgs, " "))
		}
		if (strings.HasPrefix(a, "HS") && v.hsSecret == nil) || slices.Contains(v.algs, a) {
			continue
		}
		v.algs = append(v.algs, a)
	}

	for i, pk := range cfg.PEMKeys {
		k, err := parsePEMKey(pk.PEM)
		if err != nil {
			return nil, fmt.Errorf("auth config: PEMKeys[%d] (KID %q): %w", i, pk.KID, err)
		}
		if !slices.Contains(v.algs, keyAlg(k)) {
			logger.Warn("PEM key unusable: its algorithm is not allowed", "kid", pk.KID, "alg", keyAlg(k))
		}
		key := pubKey{kid: pk.KID, key: k}
		if pk.KID != "" {
			if _, dup := v.pemByKID[pk.KID]; dup {
				return nil, fmt.Errorf("auth config: PEMKeys[%d]: duplicate KID %q", i, pk.KID)
			}
			v.pemByKID[pk.KID] = key
		}
		v.pemAll = append(v.pemAll, key)
	}

	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("auth config: JWKSURL: want an absolute http(s) URL")
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			logger.Warn("JWKS URL is plain http; keys can be substituted in transit", "jwks_host", u.Host)
		}
		client := cfg.HTTPClient
		if client == nil {
			client = defaultHTTPClient()
		}
		v.jwks = newJWKSCache(u, client, cfg.JWKSCacheTTL, cfg.JWKSMinRefresh, func() time.Time { return v.now() }, logger)
	}

	if len(v.algs) == 0 {
		return nil, errors.New("auth config: Algorithms: none usable (HS algorithms need HSSecret)")
	}
	if v.hsSecret == nil && len(v.pemAll) == 0 && v.jwks == nil {
		return nil, errors.New("auth config: no verification keys: set HSSecret, PEMKeys or JWKSURL")
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func applyDefaults(cfg *Config) error {
	switch {
	case cfg.Leeway < 0:
		return errors.New("auth config: Leeway: negative")
	case cfg.JWKSMinRefresh < 0:
		return errors.New("auth config: JWKSMinRefresh: negative")
	case cfg.JWKSCacheTTL < 0:
		return errors.New("auth config: JWKSCacheTTL: negative")
	case cfg.MaxTokenBytes < 0:
		return errors.New("auth config: MaxTokenBytes: negative")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = supportedAlgs
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	cfg.PEMKeys = slices.Clone(cfg.PEMKeys)
	setDefault(&cfg.Leeway, 30*time.Second)
	setDefault(&cfg.TenantClaim, "tenant")
	setDefault(&cfg.ScopesClaim, "scope")
	setDefault(&cfg.SourcesClaim, "sources")
	setDefault(&cfg.JWKSMinRefresh, time.Minute)
	setDefault(&cfg.JWKSCacheTTL, 15*time.Minute)
	setDefault(&cfg.MaxTokenBytes, 8192)
	return nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// JWKSRefreshes counts JWKS fetch attempts so far (0 without a JWKS URL).
func (v *Verifier) JWKSRefreshes() uint64 {
	if v.jwks == nil {
		return 0
	}
	v.jwks.mu.RLock()
	defer v.jwks.mu.RUnlock()
	return v.jwks.fetches
}

// Verify checks token and returns its Principal. Errors wrap
// ErrUnauthenticated (bad token) or ErrKeysUnavailable (cannot judge it yet);
// an error wrapping neither means ctx ended.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	switch {
	case token == "":
		return nil, unauthenticated("empty token")
	case len(token) > v.cfg.MaxTokenBytes:
		return nil, unauthenticated(fmt.Sprintf("token is %d bytes, limit %d", len(token), v.cfg.MaxTokenBytes))
	}
	// The parser wraps the key lookup's error in its own; keep ours, which
	// knows whether the token or the key source is at fault.
	var keyErr error
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		k, err := v.keyFor(ctx, t)
		keyErr = err
		return k, err
	})
	switch {
	case keyErr != nil:
		return nil, keyErr
	case err != nil && tok != nil && tok.Method != nil && !slices.Contains(v.algs, tok.Method.Alg()):
		return nil, unauthenticated(fmt.Sprintf("algorithm %s not allowed", tok.Method.Alg()))
	case err != nil:
		return nil, unauthenticated(v.jwtReason(err, claims))
	}
	return v.principal(claims)
}

func unauthenticated(reason string) error {
	return fmt.Errorf("%s: %w", reason, ErrUnauthenticated)
}

// jwtReason names the first problem the jwt library found.
func (v *Verifier) jwtReason(err error, claims jwt.MapClaims) string {
	if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		// The library uses one error for exp, iss and aud.
		required := []string{"exp"}
		if v.cfg.Issuer != "" {
			required = append(required, "iss")
		}
		if v.cfg.Audience != "" {
			required = append(required, "aud")
		}
		for _, name := range required {
			switch c := claims[name].(type) {
			case string:
				if c != "" {
					continue
				}
			case []any:
				if len(c) > 0 {
					continue
				}
			case float64: // the library reads exp 0 as absent
				if c != 0 {
					continue
				}
			case nil:
			default:
				continue
			}
			return "token has no " + name + " claim"
		}
		return "token lacks a required claim"
	}
	for _, r := range []struct {
		err    error
		reason string
	}{
		{jwt.ErrTokenMalformed, "malformed token"},
		{jwt.ErrTokenUnverifiable, "unsupported algorithm"},
		{jwt.ErrTokenSignatureInvalid, "bad signature"},
		{jwt.ErrInvalidType, "a registered claim (exp, nbf, iat, iss, aud, sub) has the wrong type"},
		{jwt.ErrTokenExpired, "token expired"},
		{jwt.ErrTokenNotValidYet, "token not valid yet (nbf)"},
		{jwt.ErrTokenUsedBeforeIssued, "token issued in the future (iat)"},
		{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
		{jwt.ErrTokenInvalidAudience, "wrong audience"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "invalid token"
}

// keyFor picks the keys that may verify t. Only the header's alg and kid
// are read: jku, x5u and jwk would let the token name its own key.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, unauthenticated("unsupported crit header")
	}
	alg := t.Method.Alg()
	if strings.HasPrefix(alg, "HS") {
		// Only the configured secret, never key material from elsewhere:
		// HS256 "signed" with an RSA public key's bytes must fail.
		return v.hsSecret, nil
	}
	var candidates []pubKey
	rawKID, hasKID := t.Header["kid"]
	if hasKID {
		kid, ok := rawKID.(string)
		if !ok || kid == "" {
			return nil, unauthenticated("kid header is not a non-empty string")
		}
		if k, ok := v.pemByKID[kid]; ok {
			candidates = []pubKey{k}
		} else if v.jwks != nil {
			ks, err := v.jwks.keys(ctx, kid)
			if err != nil {
				return nil, err
			}
			candidates = ks
		}
		if len(candidates) == 0 {
			return nil, unauthenticated("unknown kid " + printable(kid))
		}
	} else {
		candidates = v.pemAll
		if v.jwks != nil {
			ks, err := v.jwks.keys(ctx, "")
			if err != nil {
				return nil, err
			}
			candidates = append(slices.Clip(candidates), ks...)
		}
	}
	set := jwt.VerificationKeySet{}
	for _, k := range candidates {
		if keyAlg(k.key) == alg {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, unauthenticated("no key of type " + alg + " for this token")
	}
	return set, nil
}

func (v *Verifier) principal(claims jwt.MapClaims) (*Principal, error) {
	tenant, ok := claims[v.cfg.TenantClaim].(string)
	if !ok || tenant == "" {
		return nil, unauthenticated(fmt.Sprintf("claim %q: want a non-empty string", v.cfg.TenantClaim))
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return nil, unauthenticated(`claim "sub": want a string`)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil || exp.Unix() <= 0 {
		return nil, unauthenticated("token has no exp claim")
	}
	scopes, err := stringList(claims, v.cfg.ScopesClaim)
	if err != nil {
		return nil, err
	}
	sources, err := stringList(claims, v.cfg.SourcesClaim)
	if err != nil {
		return nil, err
	}
	return &Principal{Tenant: tenant, Subject: sub, Scopes: scopes, Sources: sources, ExpiresAt: exp.Time}, nil
}

// stringList reads a claim that is a space-separated string (OAuth "scope")
// or an array of strings ("scp", "roles"); missing or null means none.
func stringList(claims jwt.MapClaims, name string) ([]string, error) {
	var items []string
	switch c := claims[name].(type) {
	case nil:
		return nil, nil
	case string:
		items = strings.Fields(c)
	case []any:
		for _, e := range c {
			s, ok := e.(string)
			if !ok {
				return nil, unauthenticated(fmt.Sprintf("claim %q: array element is not a string", name))
			}
			items = append(items, strings.Fields(s)...)
		}
	default:
		return nil, unauthenticated(fmt.Sprintf("claim %q: want a string or an array of strings", name))
	}
	var out []string
	for _, s := range items {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
