package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	pemKeys, jwksKeys := newTestKeys(t), newTestKeys(t)
	srv := newJWKSServer(t,
		jwkOf(t, "j-rsa", &jwksKeys.rsa.PublicKey),
		jwkOf(t, "j-ec", &jwksKeys.ec.PublicKey),
		jwkOf(t, "j-ed", jwksKeys.ed.Public()),
	)
	v, clk := newVerifier(t, Config{
		HSSecret: []byte(testSecret),
		PEMKeys: []PEMKey{
			{KID: "p-rsa", PEM: pkixPEM(t, &pemKeys.rsa.PublicKey)},
			{KID: "p-ec", PEM: pkixPEM(t, &pemKeys.ec.PublicKey)},
			{KID: "p-ed", PEM: pkixPEM(t, pemKeys.ed.Public())},
		},
		JWKSURL: srv.URL,
	})
	now := clk.Now()
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string // "" = no kid header
		claims jwt.MapClaims
	}{
		{"HS256", jwt.SigningMethodHS256, []byte(testSecret), "", nil},
		{"HS384", jwt.SigningMethodHS384, []byte(testSecret), "", nil},
		{"HS512", jwt.SigningMethodHS512, []byte(testSecret), "", nil},
		{"HS256 with a kid uses the secret", jwt.SigningMethodHS256, []byte(testSecret), "whatever", nil},
		{"RS256 PEM", jwt.SigningMethodRS256, pemKeys.rsa, "p-rsa", nil},
		{"ES256 PEM", jwt.SigningMethodES256, pemKeys.ec, "p-ec", nil},
		{"EdDSA PEM", jwt.SigningMethodEdDSA, pemKeys.ed, "p-ed", nil},
		{"RS256 JWKS", jwt.SigningMethodRS256, jwksKeys.rsa, "j-rsa", nil},
		{"ES256 JWKS", jwt.SigningMethodES256, jwksKeys.ec, "j-ec", nil},
		{"EdDSA JWKS", jwt.SigningMethodEdDSA, jwksKeys.ed, "j-ed", nil},
		{"RS256 PEM no kid", jwt.SigningMethodRS256, pemKeys.rsa, "", nil},
		{"ES256 JWKS no kid", jwt.SigningMethodES256, jwksKeys.ec, "", nil},
		{"EdDSA JWKS no kid", jwt.SigningMethodEdDSA, jwksKeys.ed, "", nil},
		{"expired within leeway", jwt.SigningMethodHS256, []byte(testSecret), "",
			with(baseClaims(now), "exp", now.Add(-10*time.Second).Unix())},
		{"aud as array", jwt.SigningMethodHS256, []byte(testSecret), "",
			with(baseClaims(now), "aud", []any{"other", testAud})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := tt.claims
			if claims == nil {
				claims = baseClaims(now)
			}
			header := map[string]any{}
			if tt.kid != "" {
				header["kid"] = tt.kid
			}
			p, err := v.Verify(t.Context(), sign(t, tt.method, tt.key, header, claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Tenant != "acme" || p.Subject != "user-1" || !p.Has(ScopePIIRead) || p.Has(ScopeRawRead) {
				t.Errorf("principal = %+v", p)
			}
			if want := time.Unix(claims["exp"].(int64), 0); !p.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %v, want %v", p.ExpiresAt, want)
			}
		})
	}
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (cache)", got)
	}
}

func TestVerifyRejects(t *testing.T) {
	keys, other := newTestKeys(t), newTestKeys(t)
	rsaPEM := pkixPEM(t, &keys.rsa.PublicKey)
	cfg := Config{
		HSSecret: []byte(testSecret),
		PEMKeys:  []PEMKey{{KID: "rsa", PEM: rsaPEM}, {KID: "ec", PEM: pkixPEM(t, &keys.ec.PublicKey)}},
	}
	v, clk := newVerifier(t, cfg)
	noHS := cfg
	noHS.HSSecret = nil
	vNoHS, _ := newVerifier(t, noHS)
	rsaOnly := cfg
	rsaOnly.Algorithms = []string{"RS256"}
	vRSAOnly, _ := newVerifier(t, rsaOnly)

	now := clk.Now()
	base := baseClaims(now)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(testSecret), nil, c) }
	rs := func(kid string, key *rsa.PrivateKey) string {
		return sign(t, jwt.SigningMethodRS256, key, map[string]any{"kid": kid}, base)
	}
	valid := rs("rsa", keys.rsa)
	parts := strings.Split(valid, ".")
	b64json := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"tenant":"evil","exp":9999999999,"iss":"` + testIss + `","aud":"` + testAud + `"}`))

	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  string
	}{
		{"empty", v, "", "empty token"},
		{"garbage", v, "not-a-jwt", "malformed"},
		{"megabyte token", v, strings.Repeat("a", 1<<20), "limit 8192"},
		{"alg none", v, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, base), "algorithm none not allowed"},
		{"alg NONE unknown to the library", v, b64json(`{"alg":"NONE"}`) + "." + parts[1] + ".", "unsupported algorithm"},
		{"HS256 signed with the RSA public key PEM", v,
			sign(t, jwt.SigningMethodHS256, rsaPEM, map[string]any{"kid": "rsa"}, base), "bad signature"},
		{"HS256 signed with the RSA public key PEM, HS disabled", vNoHS,
			sign(t, jwt.SigningMethodHS256, rsaPEM, map[string]any{"kid": "rsa"}, base), "algorithm HS256 not allowed"},
		{"HS256 signed with the RSA public key DER", v,
			sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&keys.rsa.PublicKey), nil, base), "bad signature"},
		{"algorithm outside allow-list", vRSAOnly, hs(base), "algorithm HS256 not allowed"},
		{"expired", v, hs(with(base, "exp", now.Add(-time.Hour).Unix())), "token expired"},
		{"missing exp", v, hs(with(base, "exp", nil)), "no exp claim"},
		{"zero exp", v, hs(with(base, "exp", 0)), "no exp claim"},
		{"exp as string", v, hs(with(base, "exp", "tomorrow")), "wrong type"},
		{"nbf in the future", v, hs(with(base, "nbf", now.Add(time.Hour).Unix())), "not valid yet"},
		{"iat in the future", v, hs(with(base, "iat", now.Add(time.Hour).Unix())), "issued in the future"},
		{"wrong aud", v, hs(with(base, "aud", "someone-else")), "wrong audience"},
		{"missing aud", v, hs(with(base, "aud", nil)), "no aud claim"},
		{"wrong iss", v, hs(with(base, "iss", "https://evil.example")), "wrong issuer"},
		{"missing iss", v, hs(with(base, "iss", nil)), "no iss claim"},
		{"forged signature (other key, same kid)", v, rs("rsa", other.rsa), "bad signature"},
		{"tampered payload", v, parts[0] + "." + payload + "." + parts[2], "bad signature"},
		{"signature stripped", v, parts[0] + "." + parts[1] + ".", "bad signature"},
		{"unknown kid", v, rs("nope", keys.rsa), `unknown kid "nope"`},
		{"kid of a key of another type", v,
			sign(t, jwt.SigningMethodES256, keys.ec, map[string]any{"kid": "rsa"}, base), "no key of type ES256"},
		{"kid not a string", v, sign(t, jwt.SigningMethodRS256, keys.rsa, map[string]any{"kid": 7}, base), "kid header"},
		{"crit header", v, sign(t, jwt.SigningMethodRS256, keys.rsa, map[string]any{"kid": "rsa", "crit": []string{"exp"}}, base), "crit"},
		{"missing tenant", v, hs(with(base, "tenant", nil)), `claim "tenant"`},
		{"empty tenant", v, hs(with(base, "tenant", "")), `claim "tenant"`},
		{"tenant not a string", v, hs(with(base, "tenant", 42)), `claim "tenant"`},
		{"scope of wrong type", v, hs(with(base, "scope", 3)), `claim "scope"`},
		{"scope array with a number", v, hs(with(base, "scope", []any{"calls:read", 1})), `claim "scope"`},
		{"sub not a string", v, hs(with(base, "sub", 5)), `claim "sub"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.v.Verify(t.Context(), tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", p)
			}
			if !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("error %q does not wrap ErrUnauthenticated", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if len(tt.token) > 20 && strings.Contains(err.Error(), tt.token[len(tt.token)-20:]) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

func TestVerifyClaimLists(t *testing.T) {
	v, clk := newVerifier(t, Config{HSSecret: []byte(testSecret), ScopesClaim: "scp", SourcesClaim: "src", TenantClaim: "https://sb/tenant"})
	base := with(baseClaims(clk.Now()), "tenant", nil, "scope", nil, "https://sb/tenant", "acme")
	tests := []struct {
		name                 string
		scp, src             any
		wantScopes, wantSrcs []string
	}{
		{"string", "calls:read  agents:read", "telavox-1", []string{"calls:read", "agents:read"}, []string{"telavox-1"}},
		{"array", []any{"calls:read", "raw:read", "calls:read"}, []any{"a", "b"}, []string{"calls:read", "raw:read"}, []string{"a", "b"}},
		{"missing", nil, nil, nil, nil},
		{"empty", "", []any{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), nil, with(base, "scp", tt.scp, "src", tt.src))
			p, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Scopes, tt.wantScopes) || !slices.Equal(p.Sources, tt.wantSrcs) {
				t.Errorf("scopes %q sources %q, want %q %q", p.Scopes, p.Sources, tt.wantScopes, tt.wantSrcs)
			}
			if p.Tenant != "acme" {
				t.Errorf("tenant %q", p.Tenant)
			}
		})
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	keys := newTestKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(keys.ec)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pkixPEM(t, &keys.rsa.PublicKey)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no keys", Config{}, "no verification keys"},
		{"short secret", Config{HSSecret: []byte("short")}, "HSSecret"},
		{"unsupported alg", Config{HSSecret: []byte(testSecret), Algorithms: []string{"PS256"}}, `"PS256"`},
		{"HS only, no secret", Config{Algorithms: []string{"HS256"}, PEMKeys: []PEMKey{{PEM: rsaPEM}}}, "none usable"},
		{"bad PEM", Config{PEMKeys: []PEMKey{{KID: "k", PEM: []byte("nope")}}}, `PEMKeys[0] (KID "k"): no PEM block`},
		{"private key PEM", Config{PEMKeys: []PEMKey{{PEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})}}}, "private key"},
		{"small RSA", Config{PEMKeys: []PEMKey{{PEM: pkixPEM(t, &small.PublicKey)}}}, "1024 bits"},
		{"P-384", Config{PEMKeys: []PEMKey{{PEM: pkixPEM(t, &p384.PublicKey)}}}, "P-256"},
		{"duplicate KID", Config{PEMKeys: []PEMKey{{KID: "a", PEM: rsaPEM}, {KID: "a", PEM: rsaPEM}}}, "duplicate KID"},
		{"JWKS URL relative", Config{JWKSURL: "/keys"}, "JWKSURL"},
		{"JWKS URL ftp", Config{JWKSURL: "ftp://idp/keys"}, "JWKSURL"},
		{"negative leeway", Config{HSSecret: []byte(testSecret), Leeway: -time.Second}, "Leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier error = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestPEMFormats(t *testing.T) {
	keys := newTestKeys(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(-time.Minute)} // expired: only the key is trusted
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &keys.rsa.PublicKey, keys.rsa)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pem  []byte
		alg  string
	}{
		{"PKIX RSA", pkixPEM(t, &keys.rsa.PublicKey), "RS256"},
		{"PKCS1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&keys.rsa.PublicKey)}), "RS256"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), "RS256"},
		{"PKIX EC", pkixPEM(t, &keys.ec.PublicKey), "ES256"},
		{"PKIX Ed25519", pkixPEM(t, keys.ed.Public()), "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := parsePEMKey(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			if got := keyAlg(k); got != tt.alg {
				t.Errorf("keyAlg = %q, want %q", got, tt.alg)
			}
		})
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("empty context has a principal")
	}
	p := &Principal{Tenant: "acme", Scopes: []string{ScopeCallsRead}}
	got, ok := FromContext(WithPrincipal(context.Background(), p))
	if !ok || got != p {
		t.Fatalf("FromContext = %v, %v", got, ok)
	}
	if !got.Has(ScopeCallsRead) || got.Has(ScopeRawRead) {
		t.Error("Has disagrees with Scopes")
	}
	var nilP *Principal
	if nilP.Has(ScopeCallsRead) {
		t.Error("nil principal has a scope")
	}
	if _, ok := FromContext(WithPrincipal(context.Background(), nil)); ok {
		t.Error("nil principal reported as present")
	}
	if all := AllScopes(); len(all) != 6 || !slices.Contains(all, ScopeRawRead) {
		t.Errorf("AllScopes = %v", all)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER   abc  ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"", "", false},
		{"abc", "", false},
	}
	for _, tt := range tests {
		got, ok := BearerToken(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMaskPII(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"1", "*"},
		{"123", "***"},
		{"+12", "***"},
		{"+123", "****"},
		{"1234", "*234"},
		{"+46701234567", "+********567"},
		{"+46 70 123 45 67", "+** ** *** *5 67"},
		{"anna@example.com", "****@*******.com"},
		{"Åsa Öberg", "*** **erg"},
	}
	for _, tt := range tests {
		got := MaskPII(tt.in)
		if got != tt.want {
			t.Errorf("MaskPII(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if len([]rune(got)) != len([]rune(tt.in)) {
			t.Errorf("MaskPII(%q) changed the length", tt.in)
		}
	}
}
