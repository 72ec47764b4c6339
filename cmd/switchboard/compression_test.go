package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// GraphQL responses are gzipped when the client accepts it and they are big enough; the
// decompressed body is the uncompressed answer.
func TestResponseCompressionIsNegotiated(t *testing.T) {
	opts, _ := frozenDemo(0)
	g := startTestGateway(t, vendorsNamed("portsip"), opts)
	tok := g.tokens["portsip"].Full
	post := func(q, acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": q})
		req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept-Encoding", acceptEncoding) // set by hand: the client does not decompress
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	const big = `{ calls(first: 50) { edges { cursor node { id direction outcome startedAt agents { name } queues { name } } } } }`

	resp, zipped := post(big, "br;q=1.0, gzip;q=0.8")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Fatalf("headers %v: want Content-Encoding gzip and Vary: Accept-Encoding", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	resp, plain := post(big, "identity")
	if resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("identity asked, got Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	var a, b any
	if json.Unmarshal(unzipped, &a) != nil || json.Unmarshal(plain, &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("gunzipped answer differs from the plain one:\n%.300s\n%.300s", unzipped, plain)
	}
	if len(zipped) >= len(plain) {
		t.Fatalf("gzip body %d bytes, plain %d", len(zipped), len(plain))
	}

	for _, ae := range []string{"gzip;q=0", "deflate"} {
		if resp, _ := post(big, ae); resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: got Content-Encoding %q", ae, resp.Header.Get("Content-Encoding"))
		}
	}
	if resp, small := post(`{ viewer { tenant } }`, "gzip"); resp.Header.Get("Content-Encoding") != "" || !bytes.Contains(small, []byte(`"portsip"`)) {
		t.Errorf("a small answer is sent as it is: %v %s", resp.Header, small)
	}
}
