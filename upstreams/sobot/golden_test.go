package sobot

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

// quiet drops the driver's warnings in tests.
var quiet = slog.New(slog.DiscardHandler)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenNow is the clock of the golden cases.
var goldenNow = time.Date(2022, 3, 17, 17, 0, 0, 0, time.UTC)

func testSpec(url string, opts map[string]any, secrets map[string]string) upstreams.SourceSpec {
	if opts == nil {
		opts = map[string]any{}
	}
	if _, ok := opts["appId"]; !ok {
		opts["appId"] = "app"
	}
	if secrets == nil {
		secrets = map[string]string{"appSecret": "secret", "appKey": "key"}
	}
	return upstreams.SourceSpec{
		Tenant: "t1", ID: "sb1", Vendor: Vendor, Name: "Sobot", URL: url, Options: opts,
		Secret: func(name string) (string, error) {
			if v, ok := secrets[name]; ok {
				return v, nil
			}
			return "", errors.New("no such secret")
		},
	}
}

func newTestDriver(t *testing.T, spec upstreams.SourceSpec, now func() time.Time) *Driver {
	t.Helper()
	d, err := New(context.Background(), spec, upstreams.Deps{Now: now, Logger: quiet})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d.(*Driver)
}

// runCase maps one testdata case by the kind its directory name starts with.
func runCase(t *testing.T, d *Driver, kind, dir string, input []byte) (any, error) {
	op := "golden " + kind
	switch kind {
	case "maincdrs_search", "maincdrs":
		data, err := d.c.unwrap(op, input, false)
		if err != nil {
			return nil, err
		}
		p, err := d.c.decodePage(op, data)
		if err != nil {
			return nil, err
		}
		var calls []*model.Call
		for _, raw := range p.List {
			c, err := d.m.mapCall(raw)
			if err != nil {
				return nil, d.mapErr(op, "data.list[].", err)
			}
			calls = append(calls, c)
		}
		return calls, nil
	case "partycdrs":
		data, err := d.c.unwrap(op, input, false)
		if err != nil {
			return nil, err
		}
		p, err := d.c.decodePage(op, data)
		if err != nil {
			return nil, err
		}
		legs, err := d.m.mapLegs(p.List)
		if err != nil {
			return nil, d.mapErr(op, "data.", err)
		}
		return legs, nil
	case "cdrs_search":
		data, err := d.c.unwrap(op, input, false)
		if err != nil {
			return nil, err
		}
		c, err := d.m.mapCDRs(data)
		if err != nil {
			return nil, d.mapErr(op, "data.", err)
		}
		return c, nil
	case "agent_histories":
		data, err := d.c.unwrap(op, input, false)
		if err != nil {
			return nil, err
		}
		p, err := d.c.decodePage(op, data)
		if err != nil {
			return nil, err
		}
		var spans []*model.AgentStateSpan
		for _, raw := range p.items() {
			s, err := d.m.mapSpan(raw)
			if err != nil {
				return nil, d.mapErr(op, "data.pageData[].", err)
			}
			spans = append(spans, s)
		}
		return spans, nil
	case "agents_metrics_get", "agents_metrics":
		data, err := d.c.unwrap(op, input, true)
		if err != nil {
			return nil, err
		}
		msg, err := d.decodeMetrics(op, data)
		if err != nil {
			return nil, err
		}
		var agents []*model.Agent
		for _, raw := range msg.AgentsMetrics.List {
			if isEmptyObject(raw) {
				continue
			}
			a, err := d.m.mapAgent(raw)
			if err != nil {
				return nil, d.mapErr(op, "agentsMetrics.list[].", err)
			}
			agents = append(agents, a)
		}
		q, err := d.m.tenantQueue(TenantQueueID, msg.AgentsSummary, agents, goldenNow)
		if err != nil {
			return nil, d.mapErr(op, "", err)
		}
		return map[string]any{"agents": agents, "queue": q}, nil
	case "watch_full_then_patch", "watch":
		out := map[string]any{}
		for _, topic := range []upstreams.Topic{upstreams.TopicAgents, upstreams.TopicQueues} {
			sink := &upstreamstest.Sink{}
			w := &watch{d: d, topic: topic, sink: sink}
			err := w.handle(op, input)
			if err == nil {
				patch, rerr := os.ReadFile(filepath.Join(dir, "patch.json"))
				if rerr != nil {
					t.Fatal(rerr)
				}
				err = w.handle(op, patch)
			}
			res := map[string]any{"sink": sink.Changes()}
			if err != nil {
				res["error"] = err.Error()
			}
			out[string(topic)] = res
		}
		return out, nil
	case "check_plan":
		data, err := d.c.unwrap(op, input, false)
		if err != nil {
			return nil, err
		}
		var plan struct {
			ID       flexString `json:"id"`
			PlanName string     `json:"planName"`
			PlanType flexInt    `json:"planType"`
		}
		if err := decodeDoc(data, &plan); err != nil {
			return nil, d.mapErr(op, "", err)
		}
		return plan, nil
	case "relay_report", "depart_report":
		data, err := d.c.unwrap(op, input, false)
		if err != nil {
			return nil, err
		}
		p, err := d.c.decodePage(op, data)
		if err != nil {
			return nil, err
		}
		f := relayFields()
		if kind == "depart_report" {
			f = departFields()
		}
		q := upstreams.TimeseriesQuery{Range: upstreams.TimeRange{From: goldenNow.Add(-time.Hour), To: goldenNow.Add(30 * time.Minute)}, Interval: model.IntervalHalfHour}
		pts, err := d.m.mapReport(p.items(), f, q)
		if err != nil {
			return nil, d.mapErr(op, "data.", err)
		}
		return pts, nil
	case "agent_report":
		data, err := d.c.unwrap(op, input, false)
		if err != nil {
			return nil, err
		}
		p, err := d.c.decodePage(op, data)
		if err != nil {
			return nil, err
		}
		counters, err := d.m.mapAgentReport(p.items())
		if err != nil {
			return nil, d.mapErr(op, "data.", err)
		}
		return counters, nil
	case "push_encrypted", "push":
		return nil, d.push(input, goldenNow)
	}
	t.Fatalf("testdata/%s: unknown case kind %q", filepath.Base(dir), kind)
	return nil, nil
}

// TestGolden maps every testdata case (the document's examples, made valid JSON, and some
// broken documents) and compares with its golden.json; -update rewrites them.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/input.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			kind, _, _ := strings.Cut(name, "__")
			d := newTestDriver(t, testSpec("http://127.0.0.1:1", map[string]any{"companyId": "825072edbd914f47aa8704de02f1cdb6"}, nil), func() time.Time { return goldenNow })
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := runCase(t, d, kind, dir, input)
			got := map[string]any{"result": res}
			if err != nil {
				got = map[string]any{"error": err.Error()}
			}
			gotJSON, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatalf("encoding result: %v", err)
			}
			upstreamstest.Golden(t, filepath.Join(dir, "golden.json"), gotJSON, *update)
		})
	}
}
