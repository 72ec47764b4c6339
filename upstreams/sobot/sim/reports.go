package sim

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// reportReq is the body common to the three reports.
type reportReq struct {
	Dimensions     num      `json:"dimensions"`
	DateType       num      `json:"dateType"`
	StartDate      string   `json:"startDate"`
	StartTime      string   `json:"startTime"`
	EndDate        string   `json:"endDate"`
	EndTime        string   `json:"endTime"`
	CallType       num      `json:"callType"`
	CustomerFields string   `json:"customerFields"`
	CurrPage       num      `json:"currPage"`
	PageSize       num      `json:"pageSize"`
	Agents         []string `json:"agents"`
	DepartIDs      []string `json:"departIds"`
	GatewayNumber  []string `json:"gatewayNumber"`
}

// fact is one call or leg contributing values at a time, under dimension keys.
type fact struct {
	at     time.Time
	key    string // the non-time dimension value ("" for none)
	label  map[string]any
	values map[string]int
}

// rangeOf reads the request's local range; an end time "24:00" is the next midnight.
func (q *reportReq) rangeOf(loc *time.Location) (time.Time, time.Time, bool) {
	parse := func(date, hm, def string) (time.Time, bool) {
		hm = strings.ReplaceAll(hm, " ", "")
		if hm == "" {
			hm = def
		}
		next := false
		if hm == "24:00" {
			hm, next = "00:00", true
		}
		t, err := time.ParseInLocation("2006-01-02 15:04", strings.TrimSpace(date)+" "+hm, loc)
		if err != nil {
			return t, false
		}
		if next {
			t = t.AddDate(0, 0, 1)
		}
		return t, true
	}
	from, ok1 := parse(q.StartDate, q.StartTime, "00:00")
	to, ok2 := parse(q.EndDate, q.EndTime, "24:00")
	return from, to, ok1 && ok2 && to.After(from)
}

// bucket is the local start of t's bucket and its result_date rendering.
func bucket(t time.Time, dateType int64, loc *time.Location) (time.Time, string) {
	t = t.In(loc)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	spaced := func(a, b time.Time) string {
		return " " + a.Format("2006-01-02 15 : 04") + " " + b.Format("2006-01-02 15 : 04") + " "
	}
	switch dateType {
	case 11:
		b := day.Add(t.Sub(day).Truncate(30 * time.Minute))
		return b, spaced(b, b.Add(30*time.Minute))
	case 12:
		b := day.Add(t.Sub(day).Truncate(time.Hour))
		return b, spaced(b, b.Add(time.Hour))
	case 14:
		b := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		return b, b.Format("2006-01-02") + " " + b.AddDate(0, 0, 6).Format("2006-01-02")
	case 15:
		b := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
		return b, b.Format("2006-01")
	}
	return day, day.Format("2006-01-02")
}

// writeReport aggregates facts into rows: by time when withTime, by key when withKey.
func (s *Server) writeReport(w http.ResponseWriter, r *http.Request, q *reportReq, facts []fact, withTime, withKey, keyFirst bool) {
	loc := zone(r)
	fields := strings.Split(strings.ReplaceAll(q.CustomerFields, " ", ""), ",")
	type rowKey struct {
		t   time.Time
		key string
	}
	rows := map[rowKey]map[string]any{}
	amount := map[string]any{}
	for _, f := range fields {
		if f != "" {
			amount[f] = 0
		}
	}
	for _, f := range facts {
		k := rowKey{}
		var date string
		if withTime {
			k.t, date = bucket(f.at, q.DateType.v, loc)
		}
		if withKey {
			k.key = f.key
		}
		row := rows[k]
		if row == nil {
			row = map[string]any{}
			if withTime {
				row["result_date"] = date
			}
			if withKey {
				for lk, lv := range f.label {
					row[lk] = lv
				}
			}
			for fld := range amount {
				row[fld] = 0
			}
			rows[k] = row
		}
		for fld := range amount {
			row[fld] = row[fld].(int) + f.values[fld]
			amount[fld] = amount[fld].(int) + f.values[fld]
		}
	}
	keys := make([]rowKey, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if keyFirst && a.key != b.key {
			return a.key < b.key
		}
		if !a.t.Equal(b.t) {
			return a.t.Before(b.t)
		}
		return a.key < b.key
	})
	list := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		list = append(list, rows[k])
	}
	lo, hi, okay := s.paging(int(q.CurrPage.v), int(q.PageSize.v), len(list))
	if !okay {
		badRequest(w, "bad currPage or pageSize")
		return
	}
	ok(w, "ReportData", map[string]any{"metric": list[lo:hi], "amount": amount, "total": len(list), "currPage": q.CurrPage.v, "pageSize": q.PageSize.v})
}

func (s *Server) readReport(w http.ResponseWriter, r *http.Request) (*reportReq, time.Time, time.Time, bool) {
	var q reportReq
	if !decodeBody(w, r, &q) {
		return nil, time.Time{}, time.Time{}, false
	}
	from, to, okay := q.rangeOf(zone(r))
	if !okay || !q.DateType.set || !q.Dimensions.set || q.CustomerFields == "" || !q.CurrPage.set || !q.PageSize.set {
		badRequest(w, "dimensions, dateType, startDate, endDate, customerFields, currPage and pageSize are required")
		return nil, time.Time{}, time.Time{}, false
	}
	return &q, from, to, true
}

func legFacts(c simcc.Call, l simcc.Leg) map[string]int {
	v := map[string]int{}
	if c.Direction == simcc.DirectionInbound {
		v["inbound_agent_partits"] = 1
		if l.TransferredIn {
			v["inbound_agent_transferBy_partits"] = 1
		}
		if l.Answered {
			v["inbound_agent_answer_partits"] = 1
			v["inbound_agentTalk_duration"] = l.TalkSeconds + l.HoldSeconds
		} else if !l.EndedAt.IsZero() {
			v["inbound_agent_unAnswer_partits"] = 1
		}
	} else {
		v["outbound_calls"] = 1
		if l.Answered && !c.AnsweredAt.IsZero() {
			v["outbound_customer_answer_calls"] = 1
			v["outbound_calls_talk_duration"] = l.TalkSeconds + l.HoldSeconds
		} else if !l.EndedAt.IsZero() {
			v["outbound_customer_noAnswer_calls"] = 1
		}
	}
	return v
}

// handleRelayReport: calls by relay (gateway) number; dimensions 1 time, 2 number,
// 3 time+number, 4 number+time.
func (s *Server) handleRelayReport(w http.ResponseWriter, r *http.Request) {
	q, from, to, okay := s.readReport(w, r)
	if !okay {
		return
	}
	var facts []fact
	for _, c := range s.center.Calls(from, to) {
		if c.Direction == simcc.DirectionInternal || (q.CallType.set && int64(callType(c.Direction)) != q.CallType.v) {
			continue
		}
		if len(q.GatewayNumber) > 0 && !contains(q.GatewayNumber, c.ServiceNumber) {
			continue
		}
		v := map[string]int{}
		talk := 0
		for _, l := range c.Legs {
			if l.Answered {
				talk += l.TalkSeconds + l.HoldSeconds
			}
		}
		if c.Direction == simcc.DirectionInbound {
			v["inbound_calls"] = 1
			if !c.AnsweredAt.IsZero() {
				v["inbound_humanAgent_answered_calls"], v["inbound_agent_answered_calls"] = 1, 1
			} else if !c.EndedAt.IsZero() {
				v["inbound_no_answered_calls"] = 1
			}
			if len(c.Legs) > 0 {
				v["inbound_offer_agent_calls"] = 1
			}
			v["inbound_agentTalk_duration"] = talk
		} else {
			v["outbound_calls"] = 1
			if !c.AnsweredAt.IsZero() {
				v["outbound_customer_answer_calls"] = 1
			} else if !c.EndedAt.IsZero() {
				v["outbound_customer_noAnswer_calls"] = 1
			}
			v["outbound_calls_talk_duration"] = talk
		}
		facts = append(facts, fact{at: c.StartedAt, key: c.ServiceNumber, label: map[string]any{"gateway_number": c.ServiceNumber}, values: v})
	}
	d := q.Dimensions.v
	s.writeReport(w, r, q, facts, d != 2, d != 1, d == 4)
}

// handleAgentReport: agent legs and state durations; dimensions 1 time, 8 agent,
// 9 time+agent, 10 agent+time.
func (s *Server) handleAgentReport(w http.ResponseWriter, r *http.Request) {
	q, from, to, okay := s.readReport(w, r)
	if !okay {
		return
	}
	agents := s.agentByID()
	want := func(id string) bool {
		if len(q.Agents) == 0 {
			return true
		}
		for _, a := range q.Agents {
			if a = strings.TrimSpace(a); a == id || a == agents[id].Extension {
				return true
			}
		}
		return false
	}
	label := func(id string) map[string]any {
		a := agents[id]
		return map[string]any{"serviceId": a.ID, "serviceNo": a.Extension, "serviceName": a.Name}
	}
	var facts []fact
	for _, c := range s.center.Calls(from, to) {
		for _, l := range c.Legs {
			if want(l.AgentID) {
				facts = append(facts, fact{at: l.OfferedAt, key: l.AgentID, label: label(l.AgentID), values: legFacts(c, l)})
			}
		}
	}
	stateField := map[simcc.AgentState]string{
		simcc.StateAvailable: "agent_readying_sum_duration", simcc.StateNotReady: "agent_busy_sum_duration",
		simcc.StateWrapUp: "agent_acwing_sum_duration", simcc.StateOnHold: "agent_helding_sum_duration",
		simcc.StateOnCall: "agent_talking_sum_duration", simcc.StateRinging: "agent_ringing_sum_duration",
	}
	now := s.center.Now()
	for id := range agents {
		if !want(id) {
			continue
		}
		for _, sp := range s.center.AgentSpans(id, from, to) {
			a, b := maxTime(sp.From, from), sp.To
			if b.IsZero() {
				b = now
			}
			b = minTime(b, to)
			// Split the span at bucket edges so time dimensions get their share.
			for a.Before(b) {
				end := nextBucket(a, q.DateType.v, zone(r))
				cut := minTime(b, end)
				secs := int(cut.Sub(a) / time.Second)
				v := map[string]int{}
				if f, ok := stateField[sp.State]; ok {
					v[f] = secs
				}
				if sp.State != simcc.StateOffline {
					v["agent_login_sum_duration"] = secs
				}
				facts = append(facts, fact{at: a, key: id, label: label(id), values: v})
				a = cut
			}
		}
	}
	d := q.Dimensions.v
	s.writeReport(w, r, q, facts, d != 8, d != 1, d == 10)
}

// handleDepartReport: agent legs by department (the simulator's departments are the
// center's queues: a leg counts for the queue that offered it); dimensions 1 time,
// 11 department, 12 time+department, 13 department+time.
func (s *Server) handleDepartReport(w http.ResponseWriter, r *http.Request) {
	q, from, to, okay := s.readReport(w, r)
	if !okay {
		return
	}
	var facts []fact
	for _, c := range s.center.Calls(from, to) {
		if q.CallType.set && int64(callType(c.Direction)) != q.CallType.v {
			continue
		}
		for _, l := range c.Legs {
			if len(q.DepartIDs) > 0 && !contains(q.DepartIDs, l.QueueID) {
				continue
			}
			facts = append(facts, fact{at: l.OfferedAt, key: l.QueueID,
				label: map[string]any{"departId": l.QueueID, "departName": s.queueName(l.QueueID)}, values: legFacts(c, l)})
		}
	}
	d := q.Dimensions.v
	s.writeReport(w, r, q, facts, d != 11, d != 1, d == 13)
}

// nextBucket is the start of the bucket after t's.
func nextBucket(t time.Time, dateType int64, loc *time.Location) time.Time {
	b, _ := bucket(t, dateType, loc)
	switch dateType {
	case 11:
		return b.Add(30 * time.Minute)
	case 12:
		return b.Add(time.Hour)
	case 14:
		return b.AddDate(0, 0, 7)
	case 15:
		return b.AddDate(0, 1, 0)
	}
	return b.AddDate(0, 0, 1)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == v {
			return true
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
