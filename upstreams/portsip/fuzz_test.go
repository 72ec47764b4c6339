package portsip

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/switchboard-cc/switchboard/upstreams"
)

// fuzzKinds are the mappings FuzzPortSIPMapping drives, by index.
var fuzzKinds = []string{"queue_summary", "series", "agent_summary", "call_history", "user_history", "report_jobs", "report_list"}

// FuzzPortSIPMapping feeds vendor documents (seeded with testdata, built from the document's
// examples) to every mapping: it must never panic, and a refusal must be a bad-response
// error of the source naming the field.
func FuzzPortSIPMapping(f *testing.F) {
	inputs, err := filepath.Glob("testdata/*/input.json")
	if err != nil || len(inputs) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, in := range inputs {
		doc, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		var a caseArgs
		b, err := os.ReadFile(filepath.Join(filepath.Dir(in), "args.json"))
		if err != nil {
			f.Fatal(err)
		}
		if err := json.Unmarshal(b, &a); err != nil {
			f.Fatal(err)
		}
		k := slices.Index(fuzzKinds, a.Kind)
		if k < 0 {
			f.Fatalf("%s: kind %q not fuzzed", in, a.Kind)
		}
		f.Add(uint8(k), doc)
	}
	f.Fuzz(func(t *testing.T, kind uint8, doc []byte) {
		m := mapper{spec: goldenSpec, queueNames: map[string]string{"8000": "Support"}}
		const op = "fuzzing"
		var errs []error
		var l listBody
		_ = json.Unmarshal(doc, &l) // not a list: the list kinds map nothing
		switch fuzzKinds[int(kind)%len(fuzzKinds)] {
		case "queue_summary":
			_, err := m.mapQueue(op, "8000", 20, upstreams.TimeRange{}, doc)
			errs = append(errs, err)
		case "series":
			var sb seriesBody
			if json.Unmarshal(doc, &sb) == nil {
				_, err := m.mapSeries(op, sb.Items)
				errs = append(errs, err)
			}
		case "agent_summary":
			_, err := m.mapAgentSummary(op, doc)
			errs = append(errs, err)
		case "call_history":
			for i, raw := range l.Items {
				_, err := m.mapCall(op, "items["+strconv.Itoa(i)+"]", raw)
				errs = append(errs, err)
			}
		case "user_history":
			for i, raw := range l.Items {
				_, _, err := m.mapLeg(op, "items", i+1, raw)
				errs = append(errs, err)
			}
		case "report_jobs":
			for _, raw := range l.Items {
				_, err := m.mapReportJob(op, "", raw)
				errs = append(errs, err)
			}
		case "report_list":
			for _, raw := range l.Items {
				_, err := m.mapReportLog(op, "", raw)
				errs = append(errs, err)
			}
		}
		for _, err := range errs {
			if err == nil {
				continue
			}
			var ue *upstreams.Error
			if !errors.As(err, &ue) || !errors.Is(err, upstreams.ErrBadResponse) || ue.Source != goldenSpec.ID {
				t.Fatalf("mapping error is not a bad-response error of the source: %v", err)
			}
		}
	})
}
