package wstransport

import (
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The hand-built frames must mean exactly what json.Marshal would have written.
func TestFrameMatchesJSONMarshal(t *testing.T) {
	for _, m := range []message{
		{Type: "connection_ack"},
		{Type: "pong", Payload: json.RawMessage(`{"a": [1, 2]}`)},
		{ID: "1", Type: "next", Payload: json.RawMessage(`{"data":{"x":1}}`)},
		{ID: "quote\" back\\slash \u2028 <tag> \x01 é", Type: "complete"},
	} {
		got, err := frame(m)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if !sameJSON(t, got, want) {
			t.Errorf("frame(%+v) = %s, json.Marshal = %s", m, got, want)
		}
	}
}

func TestEncodeResponseMatchesJSONMarshal(t *testing.T) {
	yes := true
	for _, r := range []*graphql.Response{
		{Data: json.RawMessage(`{"callEvents":{"seq":"3"}}`)},
		{Data: json.RawMessage(`null`), Errors: gqlerror.List{{Message: "boom"}}},
		{Data: json.RawMessage(`{}`), Extensions: map[string]any{"k": 1}},
		{Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{}},
		{Data: json.RawMessage(`{}`), HasNext: &yes},
		{},
	} {
		got, err := encodeResponse(r)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(r)
		if !sameJSON(t, got, want) {
			t.Errorf("encodeResponse = %s, json.Marshal = %s", got, want)
		}
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s is not JSON: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}
