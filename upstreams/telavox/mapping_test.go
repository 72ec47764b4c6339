package telavox

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testMapper() mapper {
	spec := upstreams.SourceSpec{ID: "tvx", Vendor: Vendor}
	return mapper{spec: spec, sla: func(id, name string) int { return 20 }}
}

// mapCase maps a testdata document by the case name: <live|historic>-<call|agent|queue>-….
func mapCase(t *testing.T, m mapper, name string, raw []byte) (any, error) {
	t.Helper()
	parts := strings.SplitN(strings.TrimPrefix(name, "bad-"), "-", 3)
	live := parts[0] == "live"
	switch parts[1] {
	case "call":
		return m.decodeCall("testing", raw, live)
	case "agent":
		_, l, err := m.decodeLeg("testing", raw, live)
		return l, err
	case "queue":
		_, s, err := m.decodeSegment("testing", raw, live)
		return s, err
	}
	t.Fatalf("case %s: unknown kind %q", name, parts[1])
	return nil, nil
}

// golden compares v, as JSON without raw documents, with want.json in dir.
func golden(t *testing.T, dir string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(stripRaw(v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	upstreamstest.Golden(t, filepath.Join(dir, "want.json"), got, *update)
}

func stripRaw(v any) any {
	switch x := v.(type) {
	case *model.Call:
		c := *x
		c.Raw = nil
		return &c
	case *model.CallLeg:
		l := *x
		l.Raw = nil
		return &l
	case *model.QueueSegment:
		s := *x
		s.Raw = nil
		return &s
	}
	return v
}

func rawOf(v any) json.RawMessage {
	switch x := v.(type) {
	case *model.Call:
		return x.Raw
	case *model.CallLeg:
		return x.Raw
	case *model.QueueSegment:
		return x.Raw
	}
	return nil
}

func TestGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	m := testMapper()
	for _, e := range dirs {
		name, dir := e.Name(), filepath.Join("testdata", e.Name())
		if !e.IsDir() || strings.HasPrefix(name, "pair-") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "input.json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := mapCase(t, m, name, raw)
			if strings.HasPrefix(name, "bad-") {
				want, rerr := os.ReadFile(filepath.Join(dir, "want-error.txt"))
				if rerr != nil {
					t.Fatal(rerr)
				}
				var ue *upstreams.Error
				if !errors.As(err, &ue) || ue.Field != strings.TrimSpace(string(want)) || !errors.Is(err, upstreams.ErrBadResponse) {
					t.Fatalf("error = %v, want a bad-response error naming field %q", err, strings.TrimSpace(string(want)))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rawOf(got), raw) {
				t.Errorf("raw is not the document as received")
			}
			golden(t, dir, got)
		})
	}
}

// TestLiveAndHistoricAgree maps the same call as sent live and by the historic API.
func TestLiveAndHistoricAgree(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/pair-*")
	if len(dirs) == 0 {
		t.Fatal("no pair cases")
	}
	m := testMapper()
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			live, err := os.ReadFile(filepath.Join(dir, "live.json"))
			if err != nil {
				t.Fatal(err)
			}
			hist, err := os.ReadFile(filepath.Join(dir, "historic.json"))
			if err != nil {
				t.Fatal(err)
			}
			lc, err := m.decodeCall("testing", live, true)
			if err != nil {
				t.Fatal(err)
			}
			hc, err := m.decodeCall("testing", hist, false)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(lc, hc, cmpopts.IgnoreFields(model.Call{}, "Raw")); d != "" {
				t.Errorf("live and historic differ (-live +historic):\n%s", d)
			}
			golden(t, dir, lc)
		})
	}
}

func TestOutcomeTable(t *testing.T) {
	one, zero := num{V: 1, OK: true}, num{OK: true}
	cases := []struct {
		name                 string
		active, answered, vm num
		callback             bool
		reason               string
		dir                  model.Direction
		want                 model.Outcome
	}{
		{"active", one, zero, zero, false, "", model.DirectionInbound, model.OutcomeInProgress},
		{"answered", zero, one, one, false, "hangup", model.DirectionInbound, model.OutcomeAnswered},
		{"voicemail", zero, zero, one, false, "queue_leave_timeout", model.DirectionInbound, model.OutcomeVoicemail},
		{"callback", zero, zero, zero, true, "queue_leave_digit", model.DirectionInbound, model.OutcomeCallback},
		{"abandon", zero, zero, zero, false, "queue_leave_abandon", model.DirectionInbound, model.OutcomeAbandoned},
		{"hangup in IVR", zero, zero, zero, false, "hangup", model.DirectionInbound, model.OutcomeAbandoned},
		{"busy", zero, zero, zero, false, "busy", model.DirectionInbound, model.OutcomeFailed},
		{"timeout", zero, zero, zero, false, "queue_leave_timeout", model.DirectionInbound, model.OutcomeMissed},
		{"empty", zero, zero, zero, false, "queue_leave_empty", model.DirectionInbound, model.OutcomeMissed},
		{"no answer", zero, zero, zero, false, "no_answer", model.DirectionInternal, model.OutcomeMissed},
		{"outbound unanswered", zero, zero, zero, false, "no_answer", model.DirectionOutbound, model.OutcomeFailed},
		{"unknown reason", zero, zero, zero, false, "something_new", model.DirectionInbound, model.OutcomeMissed},
	}
	for _, c := range cases {
		if got := outcome(c.active, c.answered, c.vm, c.callback, c.reason, c.dir); got != c.want {
			t.Errorf("%s: outcome = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestStampFormats(t *testing.T) {
	for _, in := range []string{`"2025-10-01 T10:13:35Z"`, `"2025-10-01T10:13:35Z"`, `"2025-10-01T12:13:35.250+02:00"`, `1759313615250`, `"1759313615000"`} {
		var s stamp
		if err := json.Unmarshal([]byte(in), &s); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := s.T.Format("2006-01-02T15:04:05Z07:00"); got != "2025-10-01T10:13:35Z" {
			t.Errorf("%s: got %s", in, got)
		}
	}
	for _, in := range []string{`0`, `null`, `""`} {
		var s stamp
		if err := json.Unmarshal([]byte(in), &s); err != nil || s.OK {
			t.Errorf("%s: want unset, got %v %v", in, s, err)
		}
	}
}

func FuzzMapLiveCall(f *testing.F) {
	for _, p := range []string{"testdata/live-call-example/input.json", "testdata/pair-call-answered/live.json", "testdata/pair-call-voicemail/live.json"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	m := testMapper()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := m.decodeCall("fuzzing", b, true)
		if err == nil && (c.VendorID == "" || c.StartedAt.IsZero()) {
			t.Fatalf("mapped a call without id or start")
		}
		_, _, _ = m.decodeLeg("fuzzing", b, true)
		_, _, _ = m.decodeSegment("fuzzing", b, true)
	})
}
