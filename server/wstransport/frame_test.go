package wstransport

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
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

// appendMessage writes the frame the WebSocket library would for frame(m): FIN text,
// unmasked, with the 7-bit, 16-bit or 64-bit length form the payload needs.
func TestAppendMessageFramesLikeTheLibrary(t *testing.T) {
	big := `{"data":"` + strings.Repeat("x", 70000) + `"}`
	for _, m := range []message{
		{Type: "complete", ID: "1"},
		{ID: "sub-7", Type: "next", Payload: json.RawMessage(`{"data":{"x":1}}`)},
		{ID: "quote\" back\\slash \u2028 <tag> \x01 é", Type: "next", Payload: json.RawMessage(`{"a":[1,2]}`)},
		{ID: "1", Type: "next", Payload: json.RawMessage(`{"data":"` + strings.Repeat("y", 200) + `"}`)},
		{ID: "1", Type: "next", Payload: json.RawMessage(big)},
	} {
		cc := &corkConn{}
		cc.hold()
		cc.appendMessage(m)
		cc.appendMessage(m) // frames follow each other
		want, err := frame(m)
		if err != nil {
			t.Fatal(err)
		}
		b := *cc.buf
		for range 2 {
			if b[0] != 0x81 {
				t.Fatalf("first byte %#x, want FIN|text", b[0])
			}
			n, hdr := int(b[1]), 2
			switch {
			case b[1]&0x80 != 0:
				t.Fatal("server frame is masked")
			case n == 126:
				n, hdr = int(binary.BigEndian.Uint16(b[2:])), 4
			case n == 127:
				n, hdr = int(binary.BigEndian.Uint64(b[2:])), 10
			}
			if got := b[hdr : hdr+n]; !bytes.Equal(got, want) {
				t.Fatalf("payload %.80q..., want %.80q...", got, want)
			}
			b = b[hdr+n:]
		}
		if len(b) != 0 {
			t.Fatalf("%d bytes after the frames", len(b))
		}
	}
}
