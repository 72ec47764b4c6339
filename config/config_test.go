package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const valid = `
server:
  addr: 127.0.0.1:9999
auth:
  issuer: ${ISSUER}
  hsSecret: {env: HS}
tenants:
  - id: acme
    sources:
      - id: acme-telavox
        vendor: telavox
        url: http://127.0.0.1:1
        secrets:
          token: {env: ACME_TOKEN}
        options:
          slaSeconds: 30
`

func TestParseExpandsAndDefaults(t *testing.T) {
	c, err := Parse([]byte(valid), env(map[string]string{"ISSUER": "me"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Issuer != "me" || c.Server.Addr != "127.0.0.1:9999" {
		t.Fatalf("expansion: %+v", c.Auth)
	}
	if c.Limits.MaxDepth != 12 || c.Limits.MaxPageSize != 100 || c.Auth.TenantClaim != "tenant" || c.Auth.Algorithms[0] != "HS256" {
		t.Fatalf("defaults not applied: %+v %+v", c.Limits, c.Auth)
	}
	src := c.Tenants[0].Sources[0]
	if src.Options["slaSeconds"] != 30 {
		t.Fatalf("options: %#v", src.Options)
	}
	v, err := src.Secrets["token"].Resolve(env(map[string]string{"ACME_TOKEN": "s3cret"}))
	if err != nil || v != "s3cret" {
		t.Fatalf("resolve: %q %v", v, err)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]struct{ text, want string }{
		"missing env":      {valid, "ISSUER"},
		"unknown field":    {"auth: {hsSecret: {env: X}}\nbogus: 1\n", "bogus"},
		"no keys":          {"tenants: []\n", "no keys"},
		"secret value":     {"auth: {hsSecret: {env: X, file: y}}\n", "exactly one"},
		"duplicate tenant": {"auth: {hsSecret: {env: X}}\ntenants: [{id: a}, {id: a}]\n", "duplicate tenant"},
		"bad source id":    {"auth: {hsSecret: {env: X}}\ntenants: [{id: a, sources: [{id: 'a:b', vendor: v, url: u}]}]\n", "must be"},
		"duplicate source": {"auth: {hsSecret: {env: X}}\ntenants: [{id: a, sources: [{id: s, vendor: v, url: u}, {id: s, vendor: v, url: u}]}]\n", "duplicate source"},
		"bad duration":     {"auth: {hsSecret: {env: X}, leeway: soon}\n", "not a duration"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSecretFileAndErrorsHideValues(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := SecretRef{File: p}.Resolve(nil)
	if err != nil || v != "from-file" {
		t.Fatalf("file secret: %q %v", v, err)
	}
	_, err = SecretRef{Env: "NOPE"}.Resolve(env(nil))
	if err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Fatalf("missing env error: %v", err)
	}
}
