package ccai

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testSpec = upstreams.SourceSpec{Tenant: "t1", ID: "ccai-main", Vendor: Vendor, Name: "CCAI"}

// TestGolden maps testdata/<case>/input.json (the vendor document's model and example,
// then quirks and broken documents) and compares with golden.json.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/input.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			ms, err := mapCallsBody(testSpec, "listing calls", body)
			if err != nil {
				got = map[string]string{"error": err.Error()}
			} else {
				calls := make([]any, len(ms))
				for i, m := range ms {
					calls[i] = m.call
				}
				got = calls
			}
			gotJSON, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			upstreamstest.Golden(t, filepath.Join(dir, "golden.json"), gotJSON, *update)
		})
	}
}

// FuzzMapCalls: no input may panic the mapping.
func FuzzMapCalls(f *testing.F) {
	ins, _ := filepath.Glob("testdata/*/input.json")
	for _, in := range ins {
		b, err := os.ReadFile(in)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := mapCallsBody(testSpec, "listing calls", b)
		if err == nil {
			for _, m := range ms {
				if m.call.ID == "" || m.call.VendorID == "" {
					t.Fatalf("mapped a call without id: %s", b)
				}
			}
		}
	})
}
