package sim

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

func ms(t time.Time) any {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// callType is Sobot's callType: 1 internal, 2 inbound, 3 outbound.
func callType(d simcc.Direction) int {
	switch d {
	case simcc.DirectionInbound:
		return 2
	case simcc.DirectionOutbound:
		return 3
	}
	return 1
}

// callResult renders simcc's outcome as Sobot's customer-side result. Sobot has no
// voicemail or callback result: those calls show as "22 System Unanswered".
func callResult(c simcc.Call) int {
	switch c.Outcome {
	case simcc.OutcomeAnswered:
		if c.Direction == simcc.DirectionOutbound {
			return 21
		}
		return 8
	case simcc.OutcomeAbandoned:
		if !c.EndedAt.IsZero() && c.EndedAt.Sub(c.StartedAt) < 10*time.Second {
			return 5
		}
		return 7
	case simcc.OutcomeMissed:
		if c.Direction == simcc.DirectionInbound {
			return 6
		}
		return 7
	case simcc.OutcomeVoicemail, simcc.OutcomeCallback:
		return 22
	}
	return 1
}

func hangup(reason string) int {
	switch reason {
	case "customer_hangup", "abandon":
		return 3
	case "agent_hangup":
		return 2
	}
	return 1
}

func (s *Server) agentByID() map[string]simcc.Agent {
	m := map[string]simcc.Agent{}
	for _, a := range s.center.Agents() {
		m[a.ID] = a
	}
	return m
}

func (s *Server) queueName(id string) string {
	for _, q := range s.center.Queues() {
		if q.ID == id {
			return q.Name
		}
	}
	return ""
}

// recordingID is a stable 32-hex id for a call's recording.
func recordingID(callID string) string {
	sum := md5.Sum([]byte("rec:" + callID))
	return hex.EncodeToString(sum[:])
}

// mainCDR renders a Main Customer Talk List. hideNumber 1 masks the customer number.
func (s *Server) mainCDR(c simcc.Call, host string, hideNumber int, agents map[string]simcc.Agent) map[string]any {
	cust := c.Customer
	if hideNumber == 1 && len(cust) > 4 {
		cust = cust[:3] + strings.Repeat("*", len(cust)-5) + cust[len(cust)-2:]
	}
	doc := map[string]any{
		"callID": pad(c.ID), "callType": callType(c.Direction),
		"mainDialType": map[simcc.Direction]string{simcc.DirectionInbound: "Inbound", simcc.DirectionOutbound: "RegularMakeCall", simcc.DirectionInternal: "Internal"}[c.Direction],
		"screenNumber": cust, "customerNumber": cust, "gatewayNumber": c.ServiceNumber,
		"startTime": c.StartedAt.UnixMilli(), "alertTime": ms(c.StartedAt), "answerTime": ms(c.IVRAt), "bridgeTime": ms(c.AnsweredAt),
		"endTime": ms(c.EndedAt), "earlyDetectCause": 0,
		"platformId": pad("7d6c1b38caad4a539d92b73d390b664c"), "companyId": pad(s.cfg.CompanyID),
		"transferCount": c.Transfers, "consultCount": 0, "sourceType": 0, "sourceId": "",
		"firstRouteId": "", "firstRouteName": "",
		"firstCallAgentUUID": "", "firstCallAgentID": "", "firstAgentUUID": "", "firstAgentID": "", "firstAgentName": "",
		"lastAgentUUID": "", "lastAgentName": "", "lastAgentID": "", "lastAgentDN": "", "lastAgentPhoneType": 0, "lastAgentPstn": "",
		"attachedData": map[string]any{},
	}
	if c.IVRAt.IsZero() && c.Direction != simcc.DirectionInbound {
		doc["answerTime"] = ms(c.AnsweredAt)
	}
	if !c.EndedAt.IsZero() {
		doc["callResult"] = callResult(c)
		doc["hangupDisposition"] = hangup(c.EndReason)
		doc["totalDuration"] = strconv.Itoa(int(c.EndedAt.Sub(c.StartedAt) / time.Second))
		talk := 0
		if !c.AnsweredAt.IsZero() {
			talk = int(c.EndedAt.Sub(c.AnsweredAt) / time.Second)
		}
		doc["duration"] = strconv.Itoa(talk)
		doc["feeSeconds"] = talk
		doc["feeMinutes"] = (talk + 59) / 60
	}
	if c.Recorded {
		doc["recordUrl"] = "http:// " + host + "/callservice/v6/cc-audios/recordings/" + recordingID(c.ID) + " "
	} else {
		doc["recordUrl"] = ""
	}
	if len(c.Segments) > 0 {
		doc["firstRouteId"] = pad(c.Segments[0].QueueID)
		doc["firstRouteName"] = s.queueName(c.Segments[0].QueueID)
	}
	ring := 0
	var answered []simcc.Leg
	for _, l := range c.Legs {
		ring += l.RingSeconds
		if l.Answered {
			answered = append(answered, l)
		}
	}
	doc["accumAgentRingingDuration"] = ring
	if len(c.Legs) > 0 && c.Direction != simcc.DirectionInbound {
		a := agents[c.Legs[0].AgentID]
		doc["firstCallAgentUUID"], doc["firstCallAgentID"], doc["firstCallAgentName"] = pad(a.ID), a.Extension, a.Name
	}
	if len(answered) > 0 {
		f, l := agents[answered[0].AgentID], agents[answered[len(answered)-1].AgentID]
		doc["firstAgentUUID"], doc["firstAgentID"], doc["firstAgentName"] = pad(f.ID), f.Extension, f.Name
		doc["lastAgentUUID"], doc["lastAgentID"], doc["lastAgentName"], doc["lastAgentDN"], doc["lastAgentPhoneType"] = pad(l.ID), l.Extension, l.Name, l.Extension, 1
	}
	return doc
}

// partyCDRs renders the Agent Call Sub talk lists of a call, one per leg.
func (s *Server) partyCDRs(c simcc.Call, agents map[string]simcc.Agent) []map[string]any {
	out := make([]map[string]any, 0, len(c.Legs))
	lastAnswered := -1
	for i, l := range c.Legs {
		if l.Answered {
			lastAnswered = i
		}
	}
	for i, l := range c.Legs {
		a := agents[l.AgentID]
		dial := 1
		if l.TransferredIn {
			dial = 2
		}
		doc := map[string]any{
			"callID": pad(c.ID), "callType": callType(c.Direction), "partyId": pad(fmt.Sprintf("%s-p%d", c.ID, i+1)),
			"dialType": dial, "agentType": 1, "phoneType": 1, "agentRole": 2,
			"agentUUID": pad(a.ID), "agentDN": a.Extension, "agentID": a.Extension, "agentName": a.Name,
			"gatewayNumber": "", "DNIS": "", "companyId": pad(s.cfg.CompanyID), "platformId": "PlatformId",
			"departmentId": a.QueueIDs, "startTime": ms(l.OfferedAt), "alertTime": ms(l.OfferedAt),
			"answerTime": ms(l.AnsweredAt), "bridgeTime": ms(l.AnsweredAt), "endTime": ms(l.EndedAt),
			"earlyDetectCause": 0, "lastAgentFlag": i == lastAnswered,
		}
		doc["departmentId"] = strings.Join(a.QueueIDs, "|")
		if l.QueueID != "" {
			doc["fromQueueID"], doc["fromQueueName"] = pad(l.QueueID), s.queueName(l.QueueID)
		}
		if !l.EndedAt.IsZero() {
			doc["callResult"] = 2
			if l.Answered {
				doc["callResult"] = 3
			}
			doc["hangupDisposition"] = 1
			if l.EndReason == "agent_hangup" {
				doc["hangupDisposition"] = 2
			}
			doc["duration"] = l.TalkSeconds + l.HoldSeconds
			if l.WrapUpSeconds > 0 {
				doc["afterworkEndTime"] = l.EndedAt.Add(time.Duration(l.WrapUpSeconds) * time.Second).UnixMilli()
			}
		} else if l.Answered {
			doc["callResult"] = 3
		}
		out = append(out, doc)
	}
	return out
}

// statusCodes renders a simcc state as Sobot's login status, work status and busy reason
// (login: 0 offline, 1 online, 2 occupied; work: 1 ready, 2 occupied, 4 sorting, 6
// ringing, 7 talking, 8 holding).
func statusCodes(st simcc.AgentState, reason string) (login, work, busy int) {
	switch st {
	case simcc.StateOffline:
		return 0, 0, 0
	case simcc.StateAvailable:
		return 1, 1, 0
	case simcc.StateRinging:
		return 1, 6, 0
	case simcc.StateOnCall:
		return 1, 7, 0
	case simcc.StateOnHold:
		return 1, 8, 0
	case simcc.StateWrapUp:
		return 1, 4, 0
	}
	switch reason {
	case "break":
		busy = 11
	case "lunch":
		busy = 14
	case "meeting":
		busy = 13
	case "missed_call":
		busy = 98
	default:
		busy = 2
	}
	return 2, 2, busy
}

// dayCounts are an agent's call counters since local midnight.
type dayCounts struct{ inAnswered, inMissed, out, outAnswered int }

func (s *Server) todayCounts(loc *time.Location) (map[string]*dayCounts, *dayCounts) {
	now := s.center.Now().In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	per := map[string]*dayCounts{}
	total := &dayCounts{}
	for _, c := range s.center.Calls(day, now.Add(time.Second)) {
		for _, l := range c.Legs {
			if l.EndedAt.IsZero() && !l.Answered {
				continue
			}
			dc := per[l.AgentID]
			if dc == nil {
				dc = &dayCounts{}
				per[l.AgentID] = dc
			}
			for _, x := range []*dayCounts{dc, total} {
				switch {
				case c.Direction == simcc.DirectionInbound && l.Answered:
					x.inAnswered++
				case c.Direction == simcc.DirectionInbound:
					x.inMissed++
				case c.Direction == simcc.DirectionOutbound:
					x.out++
					if l.Answered && !c.AnsweredAt.IsZero() {
						x.outAnswered++
					}
				}
			}
		}
	}
	return per, total
}

// metrics renders the full agents-metrics message (all agents; paging applied by callers).
func (s *Server) metrics(loc *time.Location) (summary map[string]any, list []map[string]any) {
	agents := s.agentByID()
	per, total := s.todayCounts(loc)
	states := map[simcc.AgentState]int{}
	for _, st := range s.center.AgentStatuses() {
		a := agents[st.AgentID]
		login, work, busy := statusCodes(st.State, st.Reason)
		states[st.State]++
		dc := per[st.AgentID]
		if dc == nil {
			dc = &dayCounts{}
		}
		ct := 0
		if st.CallID != "" {
			if c, ok := s.center.Call(st.CallID); ok {
				ct = callType(c.Direction)
			}
		}
		item := map[string]any{
			"agentUUID": pad(a.ID), "agentID": a.Extension, "agentName": a.Name, "phoneType": 1, "thisDN": a.Extension,
			"agentLoginStatus": login, "agentWorkStatus": work,
			"lastWorkStatusChangedTime": st.Since.UnixMilli(), "lastLoginStatusChangedTime": st.Since.UnixMilli(),
			"callType": ct, "customerNumber": "", "customerPrivacyNumber": "",
			"inboundEstablishedCallsCountToday": dc.inAnswered, "inboundAbandonCallsCountToday": dc.inMissed,
			"outboundCallsCountToday": dc.out, "outboundEstablishedCallsCountToday": dc.outAnswered,
			"clientType": "Web",
		}
		if busy != 0 {
			item["agentBusyReasonCode"] = busy
		}
		if st.State == simcc.StateOffline {
			delete(item, "agentWorkStatus")
		}
		list = append(list, item)
	}
	summary = map[string]any{
		"inboundEstablishedCallsCountToday": total.inAnswered, "inboundAbandonCallsCountToday": total.inMissed,
		"outboundCallsCountToday": total.out, "outboundEstablishedCallsCountToday": total.outAnswered,
		"readyAgentsCount": states[simcc.StateAvailable], "ringingAgentsCount": states[simcc.StateRinging],
		"establishedAgentsCount": states[simcc.StateOnCall], "heldAgentsCount": states[simcc.StateOnHold],
		"acwAgentsCount": states[simcc.StateWrapUp], "busyingAgentsCount": states[simcc.StateNotReady],
		"logoutAgentsCount": states[simcc.StateOffline],
		"loginAgentsCount":  len(list) - states[simcc.StateOffline],
	}
	return summary, list
}

func (s *Server) metricsMessage(loc *time.Location, pageNum, pageSize int) (map[string]any, bool) {
	summary, list := s.metrics(loc)
	lo, hi, okay := s.paging(pageNum, pageSize, len(list))
	if !okay {
		return nil, false
	}
	return map[string]any{
		"MessageID": "EventAgentsMetricsWatch", "companyId": pad(s.cfg.CompanyID), "creationTime": s.center.Now().UnixMilli(),
		"agentsSummary": summary,
		"agentsMetrics": map[string]any{"pageNum": pageNum, "pageSize": pageSize, "total": len(list), "list": list[lo:hi]},
	}, true
}

func queryInt(r *http.Request, key string, def int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(key)); err == nil {
		return v
	}
	return def
}
