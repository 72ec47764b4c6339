package server

import (
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed graphiql.html
var graphiqlHTML string

// graphiqlHandler serves GraphiQL with a fetcher that sends subscriptions over
// graphql-transport-ws carrying the header editor's Authorization in connection_init.
func graphiqlHandler(headers map[string]string) (http.Handler, error) {
	t, err := template.New("graphiql").Delims("{{", "}}").Parse(graphiqlHTML)
	if err != nil {
		return nil, err
	}
	if headers == nil {
		headers = map[string]string{"Authorization": "Bearer <token>"}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = t.Execute(w, struct{ Headers map[string]string }{headers})
	}), nil
}
