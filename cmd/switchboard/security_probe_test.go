package main

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSecurityProbe(t *testing.T) {
	e := startAdversarialGateway(t, slog.New(slog.DiscardHandler))
	tok := e.tokens["acme"].Full
	show := func(name string, r httpResult) { t.Logf("%s: %d %s %s", name, r.status, r.header.Get("Content-Type"), truncateBytes(r.body)) }
	show("introspection", e.do(t, http.MethodPost, "/graphql", tok, "application/json", []byte(`{"query":"{ __schema { types { name } } }"}`)))
	show("typename", e.do(t, http.MethodPost, "/graphql", tok, "application/json", []byte(`{"query":"{ __type(name: \"Call\") { name } }"}`)))
	show("batch", e.do(t, http.MethodPost, "/graphql", tok, "application/json", []byte(`[{"query":"{ viewer { tenant } }"}]`)))
	show("textplain", e.do(t, http.MethodPost, "/graphql", tok, "text/plain", []byte(`{"query":"{ viewer { tenant } }"}`)))
	show("form", e.do(t, http.MethodPost, "/graphql", tok, "application/x-www-form-urlencoded", []byte(url.Values{"query": {"{ viewer { tenant } }"}}.Encode())))
	show("multipart", e.do(t, http.MethodPost, "/graphql", tok, "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"{ viewer { tenant } }\"}\r\n--x--\r\n")))
	show("notype", e.do(t, http.MethodPost, "/graphql", tok, "", []byte(`{"query":"{ viewer { tenant } }"}`)))
	show("getmut", e.do(t, http.MethodGet, "/graphql?"+url.Values{"query": {`mutation { deleteReportJob(id: "x") }`}}.Encode(), tok, "", nil))
	show("readyz", e.do(t, http.MethodGet, "/readyz", "", "", nil))
	r := e.do(t, http.MethodGet, "/metrics", "", "", nil); for _, l := range strings.Split(string(r.body), "\n") { if strings.Contains(l, "acme") { t.Log(l) } }; show("malformed", e.do(t, http.MethodPost, "/graphql", tok, "application/json", []byte(`{"query":`)))
}
