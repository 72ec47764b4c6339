package tvox

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

var goldenSpec = upstreams.SourceSpec{Tenant: "t1", ID: "tvox-1", Vendor: Vendor}

// goldenOutput maps a case's response (and optional subscription deltas) as the driver does.
func goldenOutput(t *testing.T, dir string) []byte {
	t.Helper()
	var resp Response
	readJSON(t, filepath.Join(dir, "response.json"), &resp)
	st := newStore()
	m := mapper{spec: goldenSpec, slaSeconds: 20}
	out := map[string]any{}
	err := st.load(goldenSpec, "golden", resp.Data)
	if err == nil {
		if _, statErr := os.Stat(filepath.Join(dir, "deltas.json")); statErr == nil {
			var deltas []json.RawMessage
			readJSON(t, filepath.Join(dir, "deltas.json"), &deltas)
			for _, d := range deltas {
				if err = st.load(goldenSpec, "golden", d); err != nil {
					break
				}
			}
		}
	}
	for _, topic := range []upstreams.Topic{upstreams.TopicAgents, upstreams.TopicQueues} {
		if err != nil {
			break
		}
		var objs map[string]any
		if objs, err = st.objects(m, "golden", topic); err == nil {
			list := []any{}
			for _, k := range sortedKeys(objs) {
				list = append(list, objs[k])
			}
			out[string(topic)] = list
		}
	}
	if err != nil {
		out = map[string]any{"error": err.Error()}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func readJSON(t *testing.T, path string, dst any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", d.Name())
			got := goldenOutput(t, dir)
			upstreamstest.Golden(t, filepath.Join(dir, "golden.json"), got, *update)
		})
	}
}

func TestQuirkScalars(t *testing.T) {
	var v struct {
		A Str
		B Int
		C Float
		D Int
		E Float
	}
	if err := json.Unmarshal([]byte(`{"A":"__EMPTY__","B":-1,"C":-1,"D":"42","E":"2.5"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.V != nil || v.B.V != nil || v.C.V != nil {
		t.Errorf("__EMPTY__ / -1 should decode as null: %+v", v)
	}
	if v.D.V == nil || *v.D.V != 42 || v.E.V == nil || *v.E.V != 2.5 {
		t.Errorf("numeric strings should decode: %+v", v)
	}
	var bad struct{ N Int }
	err := json.Unmarshal([]byte(`{"N":1.5}`), &bad)
	var te *json.UnmarshalTypeError
	if !errorsAs(err, &te) || te.Field != "N" {
		t.Errorf("want a type error naming N, got %v", err)
	}
}

func FuzzMapping(f *testing.F) {
	dirs, _ := os.ReadDir("testdata")
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join("testdata", d.Name(), "response.json")); err == nil {
			f.Add(b)
		}
	}
	m := mapper{spec: goldenSpec, slaSeconds: 20}
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp Response
		if json.Unmarshal(b, &resp) != nil {
			return
		}
		st := newStore()
		if st.load(goldenSpec, "fuzz", resp.Data) != nil {
			return
		}
		_, _ = st.objects(m, "fuzz", upstreams.TopicAgents)
		_, _ = st.objects(m, "fuzz", upstreams.TopicQueues)
	})
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }
