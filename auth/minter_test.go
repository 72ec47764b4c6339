package auth

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMinterRoundTrip(t *testing.T) {
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			m, err := NewMinter(alg, []byte(testSecret), testIss, testAud, "org", "scp")
			if err != nil {
				t.Fatal(err)
			}
			v, clk := newVerifier(t, Config{HSSecret: []byte(testSecret), Algorithms: []string{alg}, TenantClaim: "org", ScopesClaim: "scp"})
			tok, err := m.Mint("acme", AllScopes(), time.Hour, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if p.Tenant != "acme" || !slices.Equal(p.Scopes, AllScopes()) || !p.ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
				t.Errorf("principal = %+v", p)
			}
			clk.Add(2 * time.Hour)
			if _, err := v.Verify(t.Context(), tok); err == nil {
				t.Error("token still valid after its ttl")
			}
		})
	}
}

func TestMinterErrors(t *testing.T) {
	if _, err := NewMinter("RS256", []byte(testSecret), "", "", "", ""); err == nil || !strings.Contains(err.Error(), "RS256") {
		t.Errorf("RS256 minter: %v", err)
	}
	if _, err := NewMinter("HS256", []byte("short"), "", "", "", ""); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("short secret: %v", err)
	}
	m, err := NewMinter("HS256", []byte(testSecret), "", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for name, mint := range map[string]func() (string, error){
		"empty tenant":     func() (string, error) { return m.Mint("", nil, time.Hour, now) },
		"zero ttl":         func() (string, error) { return m.Mint("acme", nil, 0, now) },
		"scope with space": func() (string, error) { return m.Mint("acme", []string{"calls:read pii:read"}, time.Hour, now) },
	} {
		if _, err := mint(); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
}
