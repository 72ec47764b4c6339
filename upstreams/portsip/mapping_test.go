package portsip

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var goldenSpec = upstreams.SourceSpec{Tenant: "acme", ID: "pbx", Vendor: Vendor}

type caseArgs struct {
	Kind       string `json:"kind"`
	Queue      string `json:"queue"`
	SLASeconds int    `json:"slaSeconds"`
	From       string `json:"from"`
	To         string `json:"to"`
}

// mapCase runs the mapping a case names; errors become {"error": ...} so that broken
// documents have golden outputs too.
func mapCase(t *testing.T, a caseArgs, input []byte) any {
	t.Helper()
	m := mapper{spec: goldenSpec, queueNames: map[string]string{"8000": "Support"}}
	const op = "mapping"
	var out any
	var err error
	items := func() []json.RawMessage {
		var l listBody
		if err := json.Unmarshal(input, &l); err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	switch a.Kind {
	case "queue_summary":
		from, _ := parseTime(a.From)
		to, _ := parseTime(a.To)
		out, err = m.mapQueue(op, a.Queue, a.SLASeconds, upstreams.TimeRange{From: from, To: to}, input)
	case "series":
		var sb seriesBody
		if err := json.Unmarshal(input, &sb); err != nil {
			t.Fatal(err)
		}
		out, err = m.mapSeries(op, sb.Items)
	case "agent_summary":
		out, err = m.mapAgentSummary(op, input)
	case "call_history":
		var calls []*model.Call
		for i, raw := range items() {
			c, e := m.mapCall(op, "items["+strconv.Itoa(i)+"]", raw)
			if e != nil {
				err = e
				break
			}
			calls = append(calls, c)
		}
		out = calls
	case "user_history":
		var legs []*model.CallLeg
		for i, raw := range items() {
			_, l, e := m.mapLeg(op, "items", i+1, raw)
			if e != nil {
				err = e
				break
			}
			legs = append(legs, l)
		}
		out = legs
	case "report_jobs":
		var jobs []*model.ReportJob
		for _, raw := range items() {
			j, e := m.mapReportJob(op, "", raw)
			if e != nil {
				err = e
				break
			}
			jobs = append(jobs, j)
		}
		out = jobs
	case "report_list":
		var logs []*model.ReportLog
		for _, raw := range items() {
			l, e := m.mapReportLog(op, "", raw)
			if e != nil {
				err = e
				break
			}
			logs = append(logs, l)
		}
		out = logs
	default:
		t.Fatalf("unknown kind %q", a.Kind)
	}
	if err != nil {
		var ue *upstreams.Error
		if !errors.As(err, &ue) || !errors.Is(err, upstreams.ErrBadResponse) {
			t.Fatalf("mapping error is not a bad-response source error: %v", err)
		}
		return map[string]string{"error": err.Error(), "field": ue.Field}
	}
	return out
}

// TestGolden maps each testdata/<case>/input.json (built from the document's examples) and
// compares the canonical JSON with golden.json.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/input.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var a caseArgs
			b, err := os.ReadFile(filepath.Join(dir, "args.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(mapCase(t, a, input), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			upstreamstest.Golden(t, filepath.Join(dir, "golden.json"), got, *update)
		})
	}
}

func TestValidateCron(t *testing.T) {
	for _, ok := range []string{"1 0 * * *", "3 2 1 * *", "2 1 * * 2", "*/15 8-18 * * 1-5", "0,30 * * 1,6,12 0", "0 0 1-31/2 * 7"} {
		if err := validateCron(ok); err != nil {
			t.Errorf("validateCron(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "1-x * * * *"} {
		if err := validateCron(bad); err == nil {
			t.Errorf("validateCron(%q) = nil, want an error", bad)
		}
	}
}

func TestReportJobRequestNamesField(t *testing.T) {
	good := model.ReportJobInput{Name: "Daily", ReportType: "QUEUE_SUMMARY", Format: model.ReportFormatCSV,
		Cron: "1 0 * * *", Recipients: []string{"ops@example.com"}, Timezone: model.Ptr("Asia/Shanghai")}
	if b, f, err := reportJobRequest(good, true); err != nil || b.Timezone != "Asia/Shanghai" || b.TimeZone != "" || !b.Active {
		t.Fatalf("create body = %+v, %q, %v", b, f, err)
	}
	if b, _, _ := reportJobRequest(good, false); b.TimeZone != "Asia/Shanghai" || b.Timezone != "" {
		t.Fatalf("update must send time_zone: %+v", b)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = "a@example.com"
	}
	for field, change := range map[string]func(*model.ReportJobInput){
		"name":          func(in *model.ReportJobInput) { in.Name = strings.Repeat("x", 101) },
		"reportType":    func(in *model.ReportJobInput) { in.ReportType = " " },
		"format":        func(in *model.ReportJobInput) { in.Format = model.ReportFormatXlsx },
		"cron":          func(in *model.ReportJobInput) { in.Cron = "61 * * * *" },
		"recipients":    func(in *model.ReportJobInput) { in.Recipients = many },
		"recipients[1]": func(in *model.ReportJobInput) { in.Recipients = []string{"ok@example.com", "Bob <bob@example.com>"} },
		"timezone":      func(in *model.ReportJobInput) { in.Timezone = model.Ptr("Mars/Olympus") },
	} {
		in := good
		change(&in)
		if _, f, err := reportJobRequest(in, true); err == nil || f != field {
			t.Errorf("field %s: got field %q, err %v", field, f, err)
		}
	}
}

func TestParseTimeNeedsOffset(t *testing.T) {
	if _, err := parseTime("2025-09-28T00:00:00"); err == nil {
		t.Error("a time without offset must be refused")
	}
	got, err := parseTime("2025-09-28T00:00:00-04:00")
	if err != nil || !got.Equal(time.Date(2025, 9, 28, 4, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("parseTime = %v, %v", got, err)
	}
	if s := formatTime(got); s != "2025-09-28T04:00:00+00:00" {
		t.Errorf("formatTime = %q", s)
	}
}
