package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestJWKSRotation(t *testing.T) {
	oldKeys, newKeys := newTestKeys(t), newTestKeys(t)
	srv := newJWKSServer(t, jwkOf(t, "k1", &oldKeys.rsa.PublicKey))
	v, clk := newVerifier(t, Config{JWKSURL: srv.URL})
	tok := func(kid string, k testKeys) string {
		return sign(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": kid}, baseClaims(clk.Now()))
	}
	if _, err := v.Verify(t.Context(), tok("k1", oldKeys)); err != nil {
		t.Fatalf("old key: %v", err)
	}
	srv.set(http.StatusOK, jwkOf(t, "k2", &newKeys.rsa.PublicKey))

	// Within JWKSMinRefresh of the last fetch the unknown kid is refused
	// without asking the server again.
	if _, err := v.Verify(t.Context(), tok("k2", newKeys)); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("rotated key before min refresh: %v", err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", got)
	}

	clk.Add(time.Minute)
	if _, err := v.Verify(t.Context(), tok("k2", newKeys)); err != nil {
		t.Fatalf("rotated key after min refresh: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2", got)
	}
	// The retired key is gone with the refresh.
	if _, err := v.Verify(t.Context(), tok("k1", oldKeys)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("retired key: %v", err)
	}
}

func TestJWKSCacheTTL(t *testing.T) {
	keys := newTestKeys(t)
	srv := newJWKSServer(t, jwkOf(t, "k1", keys.ed.Public()))
	v, clk := newVerifier(t, Config{JWKSURL: srv.URL, JWKSCacheTTL: 10 * time.Minute})
	verify := func() error {
		_, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodEdDSA, keys.ed, map[string]any{"kid": "k1"}, baseClaims(clk.Now())))
		return err
	}
	for range 3 {
		if err := verify(); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times within TTL, want 1", got)
	}
	// Expired cache, server failing: the stale keys keep serving.
	srv.set(http.StatusInternalServerError)
	clk.Add(11 * time.Minute)
	if err := verify(); err != nil {
		t.Fatalf("stale keys during outage: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (one refresh attempt after TTL)", got)
	}
}

func TestJWKSUnknownKidFlood(t *testing.T) {
	keys := newTestKeys(t)
	srv := newJWKSServer(t, jwkOf(t, "good", &keys.ec.PublicKey))
	v, clk := newVerifier(t, Config{JWKSURL: srv.URL})

	flood := func() {
		var wg sync.WaitGroup
		for i := range 100 {
			tok := sign(t, jwt.SigningMethodES256, keys.ec, map[string]any{"kid": fmt.Sprintf("bogus-%d", i)}, baseClaims(clk.Now()))
			wg.Go(func() {
				if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnauthenticated) {
					t.Errorf("unknown kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	flood() // empty cache: the first arrival loads it, the rest wait for that
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("after first flood: %d JWKS fetches, want 1", got)
	}
	clk.Add(time.Minute)
	flood() // once the rate limit allows, one refresh for the whole flood
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("after second flood: %d JWKS fetches, want 2", got)
	}
	if _, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, keys.ec, map[string]any{"kid": "good"}, baseClaims(clk.Now()))); err != nil {
		t.Errorf("good kid after flood: %v", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	keys := newTestKeys(t)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	failing := newJWKSServer(t)
	failing.set(http.StatusBadGateway)
	noUsable := newJWKSServer(t, map[string]any{"kty": "RSA", "use": "enc", "kid": "k", "n": "AQAB", "e": "AQAB"})

	for name, u := range map[string]string{"connection refused": downURL, "HTTP 502": failing.URL, "no signing key": noUsable.URL} {
		t.Run(name, func(t *testing.T) {
			v, clk := newVerifier(t, Config{JWKSURL: u})
			for _, kid := range []any{"k", nil} { // with and without kid
				tok := sign(t, jwt.SigningMethodRS256, keys.rsa, map[string]any{"kid": kid}, baseClaims(clk.Now()))
				_, err := v.Verify(t.Context(), tok)
				if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrUnauthenticated) {
					t.Errorf("kid %v: error %v, want ErrKeysUnavailable only", kid, err)
				}
				if strings.Contains(err.Error(), tok[len(tok)-20:]) {
					t.Errorf("error echoes the token: %v", err)
				}
			}
		})
	}
	// Rate limit also holds while failing: two Verify calls, one fetch.
	if got := failing.hits.Load(); got != 1 {
		t.Errorf("failing JWKS fetched %d times, want 1", got)
	}
}

func TestJWKSCancelledContextDoesNotUseRateLimit(t *testing.T) {
	keys := newTestKeys(t)
	srv := newJWKSServer(t, jwkOf(t, "k", &keys.rsa.PublicKey))
	v, clk := newVerifier(t, Config{JWKSURL: srv.URL})
	tok := sign(t, jwt.SigningMethodRS256, keys.rsa, map[string]any{"kid": "k"}, baseClaims(clk.Now()))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := v.Verify(ctx, tok)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("next caller: %v", err)
	}
}

func TestJKUHeaderIgnored(t *testing.T) {
	good, evil := newTestKeys(t), newTestKeys(t)
	srv := newJWKSServer(t, jwkOf(t, "good", &good.rsa.PublicKey))
	attacker := newJWKSServer(t, jwkOf(t, "evil", &evil.rsa.PublicKey))
	v, clk := newVerifier(t, Config{JWKSURL: srv.URL})

	for _, h := range []map[string]any{
		{"kid": "evil", "jku": attacker.URL},
		{"kid": "evil", "x5u": attacker.URL},
		{"jku": attacker.URL, "jwk": jwkOf(t, "evil", &evil.rsa.PublicKey)},
	} {
		tok := sign(t, jwt.SigningMethodRS256, evil.rsa, h, baseClaims(clk.Now()))
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("header %v: %v", h, err)
		}
	}
	if got := attacker.hits.Load(); got != 0 {
		t.Errorf("attacker's server contacted %d times", got)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("configured JWKS fetched %d times, want 1", got)
	}
}

func TestJWKSRedirectToOtherHostRefused(t *testing.T) {
	keys := newTestKeys(t)
	other := newJWKSServer(t, jwkOf(t, "k", &keys.rsa.PublicKey))
	// Same loopback IP, another port: a different host for the redirect check.
	redirect := httptest.NewServer(http.RedirectHandler(other.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	v, clk := newVerifier(t, Config{JWKSURL: redirect.URL})
	_, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, keys.rsa, map[string]any{"kid": "k"}, baseClaims(clk.Now())))
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "another host") {
		t.Errorf("redirect: %v", err)
	}
	if got := other.hits.Load(); got != 0 {
		t.Errorf("redirect target contacted %d times", got)
	}
}

func TestParseJWKS(t *testing.T) {
	keys := newTestKeys(t)
	ecJWK := jwkOf(t, "ec", &keys.ec.PublicKey)
	body := fmt.Sprintf(`{"keys":[
		{"kty":"RSA","kid":"rsa","use":"sig","n":%q,"e":"AQAB"},
		{"kty":"EC","kid":"ec","crv":"P-256","x":%q,"y":%q},
		{"kty":"OKP","kid":"ed","crv":"Ed25519","x":%q},
		{"kty":"RSA","kid":"enc","use":"enc","n":%q,"e":"AQAB"},
		{"kty":"oct","kid":"sym","k":"c2VjcmV0"},
		{"kty":"EC","kid":"p384","crv":"P-384","x":"AA","y":"AA"},
		{"kty":"EC","kid":"off-curve","crv":"P-256","x":%q,"y":%q},
		{"kty":"OKP","kid":"x25519","crv":"X25519","x":%q},
		{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"},
		{"kty":"RSA","kid":"bad-b64","n":"!!!","e":"AQAB"},
		{"kty":"RSA","kid":"alg-mismatch","alg":"PS256","n":%q,"e":"AQAB"},
		"not an object"
	]}`,
		b64(keys.rsa.N.Bytes()), ecJWK["x"], ecJWK["y"], b64([]byte(keys.ed.Public().(ed25519.PublicKey))),
		b64(keys.rsa.N.Bytes()), ecJWK["x"], ecJWK["x"], b64([]byte(keys.ed.Public().(ed25519.PublicKey))),
		b64(keys.rsa.N.Bytes()))
	got, skipped, err := parseJWKS([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range got {
		kids = append(kids, k.kid+"/"+keyAlg(k.key))
	}
	if want := "rsa/RS256 ec/ES256 ed/EdDSA"; strings.Join(kids, " ") != want {
		t.Errorf("keys = %v, want %s", kids, want)
	}
	if len(skipped) != 9 {
		t.Errorf("skipped %d keys, want 9: %q", len(skipped), skipped)
	}
	for _, bad := range []string{``, `[]`, `{"keys":{}}`} {
		if _, _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("parseJWKS(%q) succeeded", bad)
		}
	}
}
