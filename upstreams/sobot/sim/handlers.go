package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// num is a request number sent as a JSON number or string.
type num struct {
	v   int64
	set bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("want an integer, got %s", b)
	}
	n.v, n.set = v, true
	return nil
}

func (s *Server) handleMainCDRs(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StartTime, EndTime, PageNum, PageSize     num
		CallID, CustomerNumber, GatewayNumber     string
		Agent                                     string
		AgentType, CallType, CallResult, HideNumb num
	}
	var raw map[string]json.RawMessage
	if !decodeBody(w, r, &raw) {
		return
	}
	for k, dst := range map[string]any{"startTime": &req.StartTime, "endTime": &req.EndTime, "pageNum": &req.PageNum, "pageSize": &req.PageSize,
		"callID": &req.CallID, "customerNumber": &req.CustomerNumber, "gatewayNumber": &req.GatewayNumber, "agent": &req.Agent,
		"agentType": &req.AgentType, "callType": &req.CallType, "callResult": &req.CallResult, "hideNumber": &req.HideNumb} {
		if v, ok := raw[k]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				badRequest(w, k+": "+err.Error())
				return
			}
		}
	}
	if !req.StartTime.set || !req.EndTime.set || !req.PageNum.set || !req.PageSize.set {
		badRequest(w, "startTime, endTime, pageNum and pageSize are required")
		return
	}
	agents := s.agentByID()
	var list []map[string]any
	for _, c := range s.center.Calls(time.UnixMilli(req.StartTime.v), time.UnixMilli(req.EndTime.v)) {
		switch {
		case req.CallID != "" && strings.TrimSpace(req.CallID) != c.ID,
			req.CallType.set && int64(callType(c.Direction)) != req.CallType.v,
			req.CallResult.set && (c.EndedAt.IsZero() || int64(callResult(c)) != req.CallResult.v),
			req.CustomerNumber != "" && req.CustomerNumber != c.Customer,
			req.GatewayNumber != "" && req.GatewayNumber != c.ServiceNumber,
			req.Agent != "" && !callHasAgent(c, agents, strings.TrimSpace(req.Agent), req.AgentType.v):
			continue
		}
		list = append(list, s.mainCDR(c, r.Host, int(req.HideNumb.v), agents))
	}
	lo, hi, okay := s.paging(int(req.PageNum.v), int(req.PageSize.v), len(list))
	if !okay {
		badRequest(w, fmt.Sprintf("pageNum must be >= 1 and pageSize 1..%d", s.cfg.MaxPageSize))
		return
	}
	ok(w, "MainCDRInfo", map[string]any{"currPage": req.PageNum.v, "pageSize": req.PageSize.v, "total": len(list), "list": nonNil(list[lo:hi])})
}

func callHasAgent(c simcc.Call, agents map[string]simcc.Agent, who string, agentType int64) bool {
	for _, l := range c.Legs {
		if (agentType == 1 && l.AgentID == who) || (agentType == 0 && agents[l.AgentID].Extension == who) {
			return true
		}
	}
	return false
}

func nonNil(l []map[string]any) []map[string]any {
	if l == nil {
		return []map[string]any{}
	}
	return l
}

func (s *Server) handlePartyCDRs(w http.ResponseWriter, r *http.Request) {
	c, found := s.center.Call(strings.TrimSpace(r.PathValue("callID")))
	if !found {
		writeEnvelope(w, http.StatusOK, 404, "CallNotFound", "no talk record with this callID", "Error", nil)
		return
	}
	ok(w, "PartyCDRInfo", map[string]any{"list": nonNil(s.partyCDRs(c, s.agentByID()))})
}

// handleCDRs answers in the shape of the document's example: the call, with its parties
// nested, as the one element of data.list.
func (s *Server) handleCDRs(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CallID     string `json:"callID"`
		HideNumber num    `json:"hideNumber"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.CallID) == "" {
		badRequest(w, "callID is required")
		return
	}
	c, found := s.center.Call(strings.TrimSpace(req.CallID))
	if !found {
		writeEnvelope(w, http.StatusOK, 404, "CallNotFound", "no talk record with this callID", "Error", nil)
		return
	}
	agents := s.agentByID()
	doc := s.mainCDR(c, r.Host, int(req.HideNumber.v), agents)
	doc["parties"] = nonNil(s.partyCDRs(c, agents))
	ok(w, "JSONObject", map[string]any{"list": []any{doc}})
}

// localMinute parses "yyyy-MM-dd HH:mm" (blanks around the colon allowed) in loc.
func localMinute(s string, loc *time.Location) (time.Time, error) {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, ":", " : ")), " ")
	s = strings.ReplaceAll(s, " : ", ":")
	return time.ParseInLocation("2006-01-02 15:04", s, loc)
}

// spacedMinute renders a local time as the status log example does: " 2022-07-07 01 : 00 ".
func spacedMinute(t time.Time, loc *time.Location) string {
	return " " + t.In(loc).Format("2006-01-02 15 : 04") + " "
}

func (s *Server) handleHistories(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StartTime string   `json:"startTime"`
		EndTime   string   `json:"endTime"`
		PageNum   num      `json:"pageNum"`
		PageSize  num      `json:"pageSize"`
		Agent     []string `json:"agent"`
		AgentType num      `json:"agentType"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	loc := zone(r)
	from, err1 := localMinute(req.StartTime, loc)
	to, err2 := localMinute(req.EndTime, loc)
	if err1 != nil || err2 != nil || !req.PageNum.set || !req.PageSize.set {
		badRequest(w, "startTime and endTime (yyyy-MM-dd HH:mm), pageNum and pageSize are required")
		return
	}
	agents := s.agentByID()
	var ids []string
	for _, who := range req.Agent {
		who = strings.TrimSpace(who)
		for _, a := range agents {
			if (req.AgentType.v == 1 && a.ID == who) || (req.AgentType.v == 0 && a.Extension == who) {
				ids = append(ids, a.ID)
			}
		}
	}
	if len(req.Agent) == 0 {
		for id := range agents {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var list []map[string]any
	for _, id := range ids {
		a := agents[id]
		for _, sp := range s.center.AgentSpans(id, from, to) {
			login, work, busy := statusCodes(sp.State, sp.Reason)
			doc := map[string]any{
				"id": pad(fmt.Sprintf("%s-%d", id, sp.From.Unix())), "companyId": pad(s.cfg.CompanyID),
				"agentUUID": pad(a.ID), "agentID": a.Extension, "agentName": a.Name, "agentType": 1, "thisDN": a.Extension,
				"startTime": spacedMinute(sp.From, loc), "startTimeMs": sp.From.UnixMilli(),
				"loginStatus": login, "workStatus": work, "noReadyStatus": busy,
			}
			if !sp.To.IsZero() {
				doc["endTime"], doc["endTimeMs"] = spacedMinute(sp.To, loc), sp.To.UnixMilli()
				doc["duration"] = strconv.Itoa(int(sp.To.Sub(sp.From) / time.Second))
			}
			if sp.State == simcc.StateOffline {
				delete(doc, "workStatus")
			}
			list = append(list, doc)
		}
	}
	lo, hi, okay := s.paging(int(req.PageNum.v), int(req.PageSize.v), len(list))
	if !okay {
		badRequest(w, "bad pageNum or pageSize")
		return
	}
	ok(w, "AgentHistory", map[string]any{"currPage": req.PageNum.v, "pageSize": req.PageSize.v, "total": len(list), "pageData": nonNil(list[lo:hi])})
}

// handleMetrics answers the GET with the bare message, as the document's example shows.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Idempotency-Key") == "" || r.URL.Query().Get("product") == "" {
		badRequest(w, "Idempotency-Key header and product are required")
		return
	}
	msg, okay := s.metricsMessage(zone(r), queryInt(r, "pageNum", 1), queryInt(r, "pageSize", 15))
	if !okay {
		badRequest(w, "bad pageNum or pageSize")
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(msg)
}

// handleWatch streams the full message, then EventAgentsMetricsChanged patches computed
// by diffing the rendering after each burst of center events.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Idempotency-Key") == "" || r.URL.Query().Get("product") == "" {
		badRequest(w, "Idempotency-Key header and product are required")
		return
	}
	fl, canFlush := w.(http.Flusher)
	loc := zone(r)
	pageNum, pageSize := queryInt(r, "pageNum", 1), queryInt(r, "pageSize", 15)
	ctx := r.Context()
	events := s.center.Subscribe(ctx, 1024)
	msg, okay := s.metricsMessage(loc, pageNum, pageSize)
	if !okay || !canFlush {
		badRequest(w, "bad pageNum or pageSize")
		return
	}
	brk := make(chan struct{}, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.streams[brk] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, brk)
		s.mu.Unlock()
		s.wg.Done()
	}()
	w.Header().Set("Content-Type", "text/event-stream;charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		fmt.Fprintf(bw, "data: %s\n\n", b)
		if bw.Flush() != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if !send(msg) {
		return
	}
	prevSummary, prevList := msg["agentsSummary"].(map[string]any), indexByID(msg["agentsMetrics"].(map[string]any)["list"].([]map[string]any))
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-brk:
			fmt.Fprint(bw, `data: {"MessageID":"EventAgentsMetricsChanged","list":[{"op":"repl`)
			_ = bw.Flush()
			fl.Flush()
			return
		case _, open := <-events:
			if !open {
				return
			}
			for drained := false; !drained; {
				select {
				case _, open := <-events:
					if !open {
						return
					}
				default:
					drained = true
				}
			}
			cur, okay := s.metricsMessage(loc, pageNum, pageSize)
			if !okay {
				return
			}
			summary := cur["agentsSummary"].(map[string]any)
			list := indexByID(cur["agentsMetrics"].(map[string]any)["list"].([]map[string]any))
			patches := diff(prevSummary, summary, prevList, list)
			prevSummary, prevList = summary, list
			if len(patches) == 0 {
				continue
			}
			if !send(map[string]any{"MessageID": "EventAgentsMetricsChanged", "companyId": pad(s.cfg.CompanyID),
				"creationTime": s.center.Now().UnixMilli(), "list": patches}) {
				return
			}
		}
	}
}

func indexByID(list []map[string]any) map[string]map[string]any {
	m := make(map[string]map[string]any, len(list))
	for _, it := range list {
		m[it["agentUUID"].(string)] = it
	}
	return m
}

// diff lists the patches turning the previous rendering into the current one.
func diff(prevSum, sum map[string]any, prev, cur map[string]map[string]any) []map[string]any {
	var out []map[string]any
	for _, k := range sortedKeys(sum) {
		if !reflect.DeepEqual(prevSum[k], sum[k]) {
			out = append(out, map[string]any{"op": "replace", "id": "", "path": "agentsSummary/" + k, "value": sum[k]})
		}
	}
	ids := make([]string, 0, len(cur))
	for id := range cur {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		old, had := prev[id]
		if !had {
			out = append(out, map[string]any{"op": "add", "id": id, "path": "agentsMetrics/list", "value": cur[id]})
			continue
		}
		for _, k := range sortedKeys(cur[id]) {
			if v, ok := old[k]; !ok || !reflect.DeepEqual(v, cur[id][k]) {
				op := "replace"
				if !ok {
					op = "add"
				}
				out = append(out, map[string]any{"op": op, "id": id, "path": "agentsMetrics/list/" + k, "value": cur[id][k]})
			}
		}
		for _, k := range sortedKeys(old) {
			if _, ok := cur[id][k]; !ok {
				out = append(out, map[string]any{"op": "remove", "id": id, "path": "agentsMetrics/list/" + k})
			}
		}
	}
	for _, id := range sortedKeys(anyMap(prev)) {
		if _, ok := cur[id]; !ok {
			out = append(out, map[string]any{"op": "remove", "id": id, "path": "agentsMetrics/list"})
		}
	}
	return out
}

func anyMap(m map[string]map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
