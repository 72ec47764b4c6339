package sobot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
	"github.com/switchboard-cc/switchboard/upstreams/upstreamstest"
)

// fuzzDriver is a driver on the golden clock with webhook credentials ("comp", "key").
func fuzzDriver(f *testing.F) *Driver {
	f.Helper()
	spec := testSpec("http://127.0.0.1:1", map[string]any{"companyId": "comp"}, nil)
	d, err := New(context.Background(), spec, upstreams.Deps{Now: func() time.Time { return goldenNow }, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	return d.(*Driver)
}

func readSeed(f *testing.F, path string) []byte {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// wantSourceError fails unless err is nil or a source error naming this driver's source.
func wantSourceError(t *testing.T, err error) {
	t.Helper()
	var ue *upstreams.Error
	if err != nil && (!errors.As(err, &ue) || ue.Source != "sb1") {
		t.Fatalf("error is not a source error of sb1: %v", err)
	}
}

// FuzzSobotWebhook drives the push handler: signature, timestamp, replay and body parsing.
// sign=true signs the request correctly so the fuzzer reaches the body. It must never
// panic, and answer a JSON body with a 2xx or 4xx status.
func FuzzSobotWebhook(f *testing.F) {
	now := strconv.FormatInt(goldenNow.UnixMilli(), 10)
	seeds := [][]byte{[]byte(mainPush), readSeed(f, "testdata/push_encrypted/input.json")}
	for _, kind := range []string{"partycdrs", "maincdrs_search"} {
		var env struct {
			Data struct{ List []json.RawMessage } `json:"data"`
		}
		if err := json.Unmarshal(readSeed(f, filepath.Join("testdata", kind, "input.json")), &env); err != nil {
			f.Fatal(err)
		}
		for _, raw := range env.Data.List {
			seeds = append(seeds, raw)
		}
	}
	seeds = append(seeds,
		[]byte(`{"companyId":"comp","messageID":"AgentHistoryLogES","msgType":"agent_working_status_changed_successfully","agentUUID":" a1 ","loginStatus":1,"workStatus":1,"startTime":1647536400000}`),
		[]byte(`{"messageID":"EventRinging","companyId":"comp","callID":"c1","callType":2,"customerNumber":"+6591234567","creationTime":1647536400000}`),
		[]byte(`{"messageID":"EventReleased","callID":"c1"}`))
	for i, s := range seeds {
		f.Add(s, now, "rc"+strconv.Itoa(i), true, "")
	}
	f.Add([]byte(mainPush), now, "forged", false, "00112233445566778899aabbccddeeff")
	f.Add([]byte(mainPush), "not-a-number", "rc", true, "")
	d := fuzzDriver(f)
	h := d.Webhook()
	f.Fuzz(func(t *testing.T, body []byte, ts, rc string, sign bool, sig string) {
		if sign {
			sig = sim.SignPush("comp", ts, rc, "key")
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/sobot/t1/sb1", bytes.NewReader(body))
		for k, v := range map[string]string{"X-Log-TimeStamp": ts, "X-Log-RandomCode": rc, "X-Log-Sign": sig} {
			if !strings.ContainsAny(v, "\r\n\x00") {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var ans struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || ans.Message == "" {
			t.Fatalf("answer is not a JSON message: %q", rec.Body)
		}
	})
}

// FuzzSobotSSE feeds an event stream to the agents-metrics watch (SSE framing, the full
// message and the patch applier) for both topics. It must never panic; a refusal is a
// source error.
func FuzzSobotSSE(f *testing.F) {
	frame := func(docs ...[]byte) []byte {
		var b bytes.Buffer
		for _, d := range docs {
			for _, line := range bytes.Split(bytes.TrimSpace(d), []byte("\n")) {
				b.WriteString("data: ")
				b.Write(line)
				b.WriteString("\n")
			}
			b.WriteString("\n")
		}
		return b.Bytes()
	}
	for _, dir := range []string{"watch_full_then_patch", "watch__unknown_agent_id"} {
		full := readSeed(f, filepath.Join("testdata", dir, "input.json"))
		patch := readSeed(f, filepath.Join("testdata", dir, "patch.json"))
		f.Add(frame(full, patch))
		f.Add(frame(full))
		f.Add(append([]byte(": heartbeat\r\n\r\nevent: x\r\n"), frame(full, patch, patch)...))
	}
	full := readSeed(f, "testdata/watch_full_then_patch/input.json")
	f.Add(frame(full, []byte(`{"MessageID":"EventAgentsMetricsChanged","list":[{"op":"remove","id":"","path":"agentsSummary/readyAgentsCount"},{"op":"add","id":"x","path":"agentsMetrics/list","value":{"agentUUID":"x"}}]}`)))
	// A whole agent replaced by null, then one of its fields patched.
	f.Add(frame(full, []byte(`{"MessageID":"EventAgentsMetricsChanged","list":[{"op":"replace","id":"n1","path":"agentsMetrics/list","value":null},{"op":"replace","id":"n1","path":"agentsMetrics/list/agentWorkStatus","value":1}]}`)))
	f.Add([]byte("data: {\"MessageID\":\"EventAgentsMetricsChanged\",\"list\":[]}\n\n"))
	f.Add([]byte("data: {\"MessageID\":\"EventAgentsMetricsWatch\"\n"))
	d := fuzzDriver(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		for _, topic := range []upstreams.Topic{upstreams.TopicAgents, upstreams.TopicQueues} {
			w := &watch{d: d, topic: topic, sink: &upstreamstest.Sink{}}
			err := readSSE(bytes.NewReader(stream), func(data []byte) error { return w.handle("fuzzing", data) })
			var ue *upstreams.Error
			if err != nil && errors.As(err, &ue) && ue.Source != "sb1" {
				t.Fatalf("error names source %q", ue.Source)
			}
		}
	})
}

// mappingKinds are the testdata kinds runCase maps from one document.
var mappingKinds = []string{"maincdrs_search", "partycdrs", "cdrs_search", "agent_histories", "agents_metrics_get",
	"check_plan", "relay_report", "depart_report", "agent_report"}

// FuzzSobotMapping maps vendor documents (seeded with testdata, built from the document's
// examples) through the envelope, paging and every CDR, agent, history and report mapping.
// It must never panic; a refusal is a source error.
func FuzzSobotMapping(f *testing.F) {
	dirs, err := filepath.Glob("testdata/*/input.json")
	if err != nil || len(dirs) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, in := range dirs {
		kind, _, _ := strings.Cut(filepath.Base(filepath.Dir(in)), "__")
		if k := slices.Index(mappingKinds, kind); k >= 0 {
			f.Add(uint8(k), readSeed(f, in))
		}
	}
	d := fuzzDriver(f)
	f.Fuzz(func(t *testing.T, kind uint8, doc []byte) {
		_, err := runCase(t, d, mappingKinds[int(kind)%len(mappingKinds)], "", doc)
		wantSourceError(t, err)
	})
}
