package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

const (
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaJSON            = "application/json"
)

// requestErrorCodes are rejections of the whole request before execution: under
// application/graphql-response+json they answer 400 without `data`, as the GraphQL over
// HTTP spec says for validation failures (our limits are extra validation rules).
func requestErrorCode(code string) bool {
	switch code {
	case "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "DEPTH_LIMIT_EXCEEDED", "ALIAS_LIMIT_EXCEEDED", "DIRECTIVE_LIMIT_EXCEEDED", "COMPLEXITY_LIMIT_EXCEEDED", "PERSISTED_QUERY_NOT_FOUND":
		return true
	}
	return false
}

// withHTTPSpec adjusts gqlgen's single-response HTTP answers to the GraphQL over HTTP spec:
// application/json answers 200 for request errors (gqlgen says 422); graphql-response+json
// answers 4xx without `data` for request errors, including our limit rules; a mutation over
// GET is 405 with Allow: POST (gqlgen says 406). Streams (SSE, WebSocket) pass untouched.
func withHTTPSpec(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) || (r.Method != http.MethodPost && r.Method != http.MethodGet) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		status, body := rec.status, rec.body.Bytes()
		ct := rec.header.Get("Content-Type")
		switch {
		case r.Method == http.MethodGet && status == http.StatusNotAcceptable:
			status = http.StatusMethodNotAllowed
			rec.header.Set("Allow", "POST")
		case strings.HasPrefix(ct, mediaJSON) && status == http.StatusUnprocessableEntity:
			status = http.StatusOK
		case strings.HasPrefix(ct, mediaGraphQLResponse):
			if b, isRequestError := dropData(body, status); isRequestError {
				body = b
				if status < 400 {
					status = http.StatusBadRequest
				}
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}

// dropData removes `"data": null` from a response that failed as a whole: a 4xx, or a 200
// whose errors are all request errors (our limit rules).
func dropData(body []byte, status int) ([]byte, bool) {
	if !bytes.HasPrefix(body, []byte(`{"errors"`)) {
		return body, false
	}
	var resp struct {
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
		Data       json.RawMessage `json:"data"`
		Extensions json.RawMessage `json:"extensions,omitempty"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || (len(resp.Data) > 0 && string(resp.Data) != "null") {
		return body, false
	}
	if status < 400 {
		for _, e := range resp.Errors {
			code, _ := e.Extensions["code"].(string)
			if !requestErrorCode(code) {
				return body, false
			}
		}
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return body, false
	}
	delete(raw, "data")
	b, err := json.Marshal(raw)
	if err != nil {
		return body, false
	}
	return b, true
}

// recorder buffers one response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// negotiated picks the error body's media type from Accept.
func negotiated(r *http.Request) string {
	if strings.Contains(r.Header.Get("Accept"), mediaGraphQLResponse) {
		return mediaGraphQLResponse
	}
	return mediaJSON
}
