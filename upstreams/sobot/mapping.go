package sobot

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
)

// mapper holds what the pure mapping functions need: the source identity and the time zone
// the Data Service formats local dates in (the timezoneid header we send).
type mapper struct {
	sourceID string
	vendor   string
	loc      *time.Location
	dateRE   *regexp.Regexp // compiled localTimePattern
}

func newMapper(sourceID, vendor string, loc *time.Location) mapper {
	return mapper{sourceID: sourceID, vendor: vendor, loc: loc, dateRE: regexp.MustCompile(localTimePattern)}
}

// msTime converts a Sobot epoch timestamp. The document says milliseconds, but one comment
// says seconds: values below 1e11 (1973 in ms) are taken as seconds. 0 means unset.
func msTime(n flexInt) *time.Time {
	if !n.Set || n.V <= 0 {
		return nil
	}
	var t time.Time
	if n.V < 1e11 {
		t = time.Unix(n.V, 0).UTC()
	} else {
		t = time.UnixMilli(n.V).UTC()
	}
	return &t
}

func strPtr(s flexString) *string {
	if s == "" {
		return nil
	}
	v := string(s)
	return &v
}

func codeStr(n flexInt) *string {
	if !n.Set {
		return nil
	}
	return model.Ptr(strconv.FormatInt(n.V, 10))
}

// secondsBetween is whole seconds from a to b, nil when either is unknown or b precedes a.
func secondsBetween(a, b *time.Time) *int {
	if a == nil || b == nil || b.Before(*a) {
		return nil
	}
	return model.Ptr(int(b.Sub(*a) / time.Second))
}

func direction(callType flexInt) model.Direction {
	switch callType.V {
	case 1:
		return model.DirectionInternal
	case 2:
		return model.DirectionInbound
	case 3:
		return model.DirectionOutbound
	}
	return model.DirectionUnknown
}

// callOutcome maps the customer-side callResult. The document lists two code sets
// (1-9 in the example comment, 4-8/21/22 in the tables); both are handled.
func callOutcome(d *mainCDR, dir model.Direction) model.Outcome {
	if msTime(d.EndTime) == nil {
		return model.OutcomeInProgress
	}
	switch d.CallResult.V {
	case 8, 21:
		return model.OutcomeAnswered
	case 5:
		return model.OutcomeAbandoned
	case 4, 6, 22:
		return model.OutcomeMissed
	case 7: // "missed call of customer": an inbound caller gave up; nobody picked up an outbound call
		if dir == model.DirectionInbound {
			return model.OutcomeAbandoned
		}
		return model.OutcomeFailed
	case 1, 2, 3, 9:
		return model.OutcomeFailed
	}
	if msTime(d.BridgeTime) != nil {
		return model.OutcomeAnswered
	}
	return model.OutcomeFailed
}

func hangupReason(n flexInt) *string {
	if !n.Set {
		return nil
	}
	switch n.V {
	case 1:
		return model.Ptr("other")
	case 2:
		return model.Ptr("agent_hangup")
	case 3:
		return model.Ptr("customer_hangup")
	}
	return codeStr(n)
}

// dialType labels Sobot's dialType (1 call, 2 transfer, 3 inquiry, 4 monitor, 5 take away,
// 6 interrupt); unknown codes keep their number.
func dialType(n int64) string {
	switch n {
	case 1:
		return "call"
	case 2:
		return "transfer"
	case 3:
		return "consult"
	case 4:
		return "monitor"
	case 5:
		return "takeover"
	case 6:
		return "barge_in"
	}
	return strconv.FormatInt(n, 10)
}

// cleanURL removes the blanks Sobot puts inside URLs ("https:// record.soboten.com/...");
// a URL cannot contain raw spaces, so dropping them is lossless.
func cleanURL(s string) string { return strings.Join(strings.Fields(s), "") }

// mapCall maps a Main Customer Talk List document. parties (may be nil) are its sub lists.
func (m mapper) mapCall(raw json.RawMessage) (*model.Call, error) {
	var d mainCDR
	if err := decodeDoc(raw, &d); err != nil {
		return nil, err
	}
	if d.CallID == "" {
		return nil, fieldErr("callID", "missing")
	}
	started := msTime(d.StartTime)
	if started == nil {
		return nil, fieldErr("startTime", "missing")
	}
	dir := direction(d.CallType)
	c := &model.Call{
		ID: model.GlobalID(model.KindCall, m.sourceID, string(d.CallID)), VendorID: string(d.CallID),
		SourceID: m.sourceID, Vendor: m.vendor,
		Direction: dir, Channel: model.ChannelVoice, Outcome: callOutcome(&d, dir),
		VendorStatus: codeStr(d.CallResult), VendorReason: strPtr(d.ReasonOfNotAnswer),
		StartedAt: *started, AnsweredAt: msTime(d.BridgeTime), EndedAt: msTime(d.EndTime),
		ServiceNumber: strPtr(d.GatewayNumber),
		Durations: &model.CallDurations{
			TotalSeconds: d.TotalDuration.ptr(), TalkSeconds: d.Duration.ptr(),
			RingSeconds: d.AccumAgentRingingDuration.ptr(), WaitSeconds: d.WaitingForHumanAnswerDuration.ptr(),
		},
		Transfers: d.TransferCount.ptr(), EndReason: hangupReason(d.HangupDisposition),
		Agents: []*model.Ref{}, Queues: []*model.Ref{}, Ivrs: []*model.Ref{},
		Raw: raw,
	}
	if c.AnsweredAt == nil && c.Outcome == model.OutcomeAnswered {
		c.AnsweredAt = msTime(d.AnswerTime)
	}
	if num := firstNonEmpty(d.CustomerNumber, d.ScreenNumber); num != "" {
		c.Customer = &model.Customer{Number: model.Ptr(string(num))}
	}
	if d.RecordURL != nil {
		u := cleanURL(string(*d.RecordURL))
		c.Recorded = model.Ptr(u != "")
		if u != "" {
			c.RecordingURL = &u
		}
	}
	if d.FirstRouteID != "" || d.FirstRouteName != "" {
		c.Queues = append(c.Queues, model.NewRef(model.KindQueue, m.sourceID, string(d.FirstRouteID), string(d.FirstRouteName)))
	}
	seen := map[string]bool{}
	addAgent := func(id, name flexString) {
		key := string(id)
		if key == "" {
			key = "name:" + string(name)
		}
		if (id == "" && name == "") || seen[key] {
			return
		}
		seen[key] = true
		c.Agents = append(c.Agents, model.NewRef(model.KindAgent, m.sourceID, string(id), string(name)))
	}
	addAgent(d.FirstCallAgentUUID, d.FirstCallAgentName)
	addAgent(d.FirstAgentUUID, d.FirstAgentName)
	addAgent(d.LastAgentUUID, d.LastAgentName)
	addAgent(d.BelongAgentUUID, d.BelongAgentName)
	if len(d.Parties) > 0 && string(d.Parties) != "null" {
		var parties []json.RawMessage
		if err := json.Unmarshal(d.Parties, &parties); err != nil {
			return nil, fieldErr("parties", "want an array: %v", err)
		}
		legs, err := m.mapLegs(parties)
		if err != nil {
			return nil, within("parties", err)
		}
		c.Legs, c.LegsLoaded = legs, true
		for _, l := range legs {
			if l.Agent != nil {
				addAgent(flexString(deref(l.Agent.VendorID)), flexString(deref(l.Agent.Name)))
			}
		}
	}
	return c, nil
}

func firstNonEmpty(vs ...flexString) flexString {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// isEmptyObject reports a "{}" list item: the document's examples end every list with one
// to say "more items"; it is no record, so it is skipped rather than refused.
func isEmptyObject(raw json.RawMessage) bool {
	// A byte check: decoding every list item into a map just to find {} was a fifth of the
	// gateway's CPU per calls page (bench/README.md).
	b := bytes.TrimSpace(raw)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	return len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}

// mapLegs maps sub talk lists, in start order.
func (m mapper) mapLegs(raws []json.RawMessage) ([]*model.CallLeg, error) {
	legs := make([]*model.CallLeg, 0, len(raws))
	for i, r := range raws {
		if isEmptyObject(r) {
			continue
		}
		l, err := m.mapLeg(r)
		if err != nil {
			return nil, within("list["+strconv.Itoa(i)+"]", err)
		}
		legs = append(legs, l)
	}
	sort.SliceStable(legs, func(i, j int) bool {
		a, b := legs[i].OfferedAt, legs[j].OfferedAt
		return a != nil && b != nil && a.Before(*b)
	})
	return legs, nil
}

// mapLeg maps one Agent Call Sub talk list.
func (m mapper) mapLeg(raw json.RawMessage) (*model.CallLeg, error) {
	var d partyCDR
	if err := decodeDoc(raw, &d); err != nil {
		return nil, err
	}
	if d.PartyID == "" {
		return nil, fieldErr("partyId", "missing")
	}
	l := &model.CallLeg{ID: string(d.PartyID), Raw: raw, EndedAt: msTime(d.EndTime), EndReason: hangupReason(d.HangupDisposition)}
	name := firstNonEmpty(d.AgentName, d.AgentID)
	if d.AgentRole.V == 4 { // 3rd-party PSTN number: no agent id, the number is the party
		name = firstNonEmpty(d.AgentName, d.DNIS)
	}
	if d.AgentUUID != "" || name != "" {
		l.Agent = model.NewRef(model.KindAgent, m.sourceID, string(d.AgentUUID), string(name))
	}
	if d.FromQueueID != "" || d.FromQueueName != "" {
		l.Queue = model.NewRef(model.KindQueue, m.sourceID, string(d.FromQueueID), string(d.FromQueueName))
	}
	l.OfferedAt = msTime(d.AlertTime)
	if l.OfferedAt == nil {
		l.OfferedAt = msTime(d.StartTime)
	}
	switch d.CallResult.V {
	case 3:
		l.Answered = model.Ptr(true)
	case 1, 2:
		l.Answered = model.Ptr(false)
	}
	if l.Answered != nil && *l.Answered {
		l.AnsweredAt = msTime(d.AnswerTime)
		if l.AnsweredAt == nil {
			l.AnsweredAt = msTime(d.BridgeTime)
		}
		l.TalkSeconds = d.Duration.ptr()
		if l.TalkSeconds == nil {
			l.TalkSeconds = model.Ptr(0)
		}
	}
	if l.RingSeconds = d.AlertDuration.ptr(); l.RingSeconds == nil {
		end := l.AnsweredAt
		if end == nil {
			end = l.EndedAt
		}
		l.RingSeconds = secondsBetween(l.OfferedAt, end)
	}
	if l.EndedAt != nil {
		l.WrapUpSeconds = secondsBetween(l.EndedAt, msTime(d.AfterworkEndTime))
	}
	if d.DialType.Set {
		label := dialType(d.DialType.V)
		l.TransferredIn = model.Ptr(d.DialType.V == 2)
		if d.DialType.V != 1 {
			l.TransferType = &label
		}
	}
	return l, nil
}

// agentState maps Sobot's login and work status. Work status decides while logged in;
// login status only says offline (0), locked (98), or - when no work status is sent -
// online (1) / occupied (2), as the status callback and status log tables number them.
func agentState(login, work, busy flexInt) (model.AgentState, *string, *string) {
	var parts []string
	for _, p := range []struct {
		k string
		v flexInt
	}{{"login", login}, {"work", work}, {"busy", busy}} {
		if p.v.Set {
			parts = append(parts, p.k+"="+strconv.FormatInt(p.v.V, 10))
		}
	}
	var vendorStatus *string
	if len(parts) > 0 {
		vendorStatus = model.Ptr(strings.Join(parts, " "))
	}
	state := model.AgentStateUnknown
	switch {
	case login.Set && login.V == 0:
		state = model.AgentStateOffline
	case login.Set && login.V == 98:
		state = model.AgentStateNotReady
	case work.Set:
		switch work.V {
		case 1:
			state = model.AgentStateAvailable
		case 2, 98:
			state = model.AgentStateNotReady
		case 4:
			state = model.AgentStateWrapUp
		case 5, 7:
			state = model.AgentStateOnCall
		case 6:
			state = model.AgentStateRinging
		case 8:
			state = model.AgentStateOnHold
		}
	case login.Set && login.V == 1:
		state = model.AgentStateAvailable
	case login.Set && login.V == 2:
		state = model.AgentStateNotReady
	}
	var reason *string
	if state == model.AgentStateNotReady {
		reason = busyReason(busy)
		if reason == nil && (login.V == 98 || work.V == 98) {
			reason = model.Ptr("system locked")
		}
	}
	return state, vendorStatus, reason
}

func busyReason(n flexInt) *string {
	if !n.Set || n.V == 0 {
		return nil
	}
	switch n.V {
	case 2:
		return model.Ptr("DND")
	case 4:
		return model.Ptr("after-call work")
	case 11:
		return model.Ptr("break")
	case 12:
		return model.Ptr("training")
	case 13:
		return model.Ptr("meeting")
	case 14:
		return model.Ptr("dining")
	case 15:
		return model.Ptr("active")
	case 16, 17, 18:
		return model.Ptr("custom " + strconv.FormatInt(n.V-15, 10))
	case 97:
		return model.Ptr("enforced by agent")
	case 98:
		return model.Ptr("enforced by system")
	case 99:
		return model.Ptr("enforced by supervisor")
	}
	return codeStr(n)
}

// mapAgent maps one item of agentsMetrics.list.
func (m mapper) mapAgent(raw json.RawMessage) (*model.Agent, error) {
	var d agentMetrics
	if err := decodeDoc(raw, &d); err != nil {
		return nil, err
	}
	id := firstNonEmpty(d.AgentUUID, d.AgentID)
	if id == "" {
		return nil, fieldErr("agentUUID", "missing (and no agentID)")
	}
	state, vs, reason := agentState(d.AgentLoginStatus, d.AgentWorkStatus, d.AgentBusyReasonCode)
	a := &model.Agent{
		ID: model.GlobalID(model.KindAgent, m.sourceID, string(id)), VendorID: string(id),
		SourceID: m.sourceID, Vendor: m.vendor,
		Name: string(firstNonEmpty(d.AgentName, d.AgentID, id)), Extension: strPtr(firstNonEmpty(d.ThisDN, d.AgentID)),
		State: state, VendorStatus: vs, NotReadyReason: reason,
		StateSince: msTime(d.LastWorkStatusChangedTime), Channel: model.Ptr(model.ChannelVoice),
		Queues: []*model.Ref{}, Raw: raw,
	}
	if state == model.AgentStateOffline {
		a.StateSince = msTime(d.LastLoginStatusChangedTime)
	}
	if d.InboundEstablishedCallsCountToday.Set || d.InboundAbandonCallsCountToday.Set {
		a.Counters = &model.AgentCounters{
			Answered: d.InboundEstablishedCallsCountToday.ptr(),
			Missed:   d.InboundAbandonCallsCountToday.ptr(),
		}
		if d.InboundEstablishedCallsCountToday.Set && d.InboundAbandonCallsCountToday.Set {
			a.Counters.Offered = model.Ptr(int(d.InboundEstablishedCallsCountToday.V + d.InboundAbandonCallsCountToday.V))
		}
	}
	return a, nil
}

// mapStatusCallback maps a pushed Agent Status Callback to the agent fields it changes, as
// agents-metrics item fields (so it merges into held state like an SSE patch).
func mapStatusCallback(d *statusCallback) map[string]any {
	f := map[string]any{}
	if d.AgentName != "" {
		f["agentName"] = string(d.AgentName)
	}
	if d.AgentID != "" {
		f["agentID"] = string(d.AgentID)
	}
	for k, v := range map[string]flexInt{"agentLoginStatus": d.LoginStatus, "agentWorkStatus": d.WorkStatus, "agentBusyReasonCode": d.NotReadyStatus, "lastWorkStatusChangedTime": d.StartTime} {
		if v.Set {
			f[k] = v.V
		}
	}
	return f
}

// localTimePattern finds a date, optionally with a time whose colon may be padded.
const localTimePattern = `(\d{4})-(\d{1,2})(?:-(\d{1,2}))?(?:\s*(\d{1,2})\s*:\s*(\d{2}))?`

// parseLocal reads the first date or date-time in s ("2022-07-07 01 : 00", " 2022-03-17 16 :
// 30 2022-03-17 17 : 00 ", "2024-02-21", "2024-02") in loc.
func (m mapper) parseLocal(s string) (time.Time, bool) {
	loc := m.loc
	g := m.dateRE.FindStringSubmatch(s)
	if g == nil {
		return time.Time{}, false
	}
	n := func(i, def int) int {
		if g[i] == "" {
			return def
		}
		v, _ := strconv.Atoi(g[i])
		return v
	}
	return time.Date(n(1, 0), time.Month(n(2, 1)), n(3, 1), n(4, 0), n(5, 0), 0, 0, loc).UTC(), true
}

// mapSpan maps one agent status log.
func (m mapper) mapSpan(raw json.RawMessage) (*model.AgentStateSpan, error) {
	var d agentHistory
	if err := decodeDoc(raw, &d); err != nil {
		return nil, err
	}
	from := msTime(d.StartTimeMs)
	if from == nil {
		if t, ok := m.parseLocal(string(d.StartTime)); ok {
			from = &t
		}
	}
	if from == nil {
		return nil, fieldErr("startTimeMs", "missing (and no startTime)")
	}
	to := msTime(d.EndTimeMs)
	if to == nil {
		if t, ok := m.parseLocal(string(d.EndTime)); ok {
			to = &t
		}
	}
	state, vs, reason := agentState(d.LoginStatus, d.WorkStatus, d.NoReadyStatus)
	return &model.AgentStateSpan{
		Agent: model.NewRef(model.KindAgent, m.sourceID, string(firstNonEmpty(d.AgentUUID, d.AgentID)), string(d.AgentName)),
		State: state, VendorStatus: vs, Reason: reason, From: *from, To: to,
		SourceID: m.sourceID, Vendor: m.vendor,
	}, nil
}

// reportFields says which report indicators feed which TimeseriesPoint counters; several
// indicators for one counter are summed.
type reportFields struct {
	offered, answered, inbound, outbound, talk []string
}

// relayFields are the relay-number report indicators: calls per relay number, the whole
// company's traffic.
func relayFields() reportFields {
	return reportFields{
		offered: []string{"inbound_calls"}, inbound: []string{"inbound_calls"},
		answered: []string{"inbound_humanAgent_answered_calls"},
		outbound: []string{"outbound_calls"},
		talk:     []string{"inbound_agentTalk_duration", "outbound_calls_talk_duration"},
	}
}

// departFields are the department report indicators: agent legs ("partits") of the
// department's agents.
func departFields() reportFields {
	return reportFields{
		offered: []string{"inbound_agent_partits"}, answered: []string{"inbound_agent_answer_partits"},
		talk: []string{"inbound_agentTalk_duration"},
	}
}

func (f reportFields) customerFields() string {
	seen := map[string]bool{}
	var out []string
	for _, list := range [][]string{f.offered, f.answered, f.inbound, f.outbound, f.talk} {
		for _, k := range list {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return strings.Join(out, ",")
}

// reportNumber reads an indicator: a number, a numeric string, or "HH:MM:SS" for durations.
func reportNumber(row map[string]json.RawMessage, key string) (int, bool, error) {
	v, ok := row[key]
	if !ok || string(v) == "null" {
		return 0, false, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		s = strings.TrimSpace(s)
		if parts := strings.Split(s, ":"); len(parts) == 3 {
			h, e1 := strconv.Atoi(strings.TrimSpace(parts[0]))
			mi, e2 := strconv.Atoi(strings.TrimSpace(parts[1]))
			se, e3 := strconv.Atoi(strings.TrimSpace(parts[2]))
			if e1 == nil && e2 == nil && e3 == nil {
				return h*3600 + mi*60 + se, true, nil
			}
		}
		v = json.RawMessage(s)
	}
	var n flexInt
	if err := json.Unmarshal(v, &n); err != nil {
		return 0, false, fieldErr(key, "want a number: %v", err)
	}
	return int(n.V), n.Set, nil
}

// mapReport folds report rows (time dimension) into the buckets of q. Every bucket of the
// range gets a point: a bucket the report has no row for had no traffic.
func (m mapper) mapReport(rows []json.RawMessage, f reportFields, q upstreams.TimeseriesQuery) ([]*model.TimeseriesPoint, error) {
	buckets := derive.Buckets(q.Range, q.Interval)
	pts := make([]*model.TimeseriesPoint, len(buckets))
	index := map[time.Time]int{}
	zero := func(list []string) *int {
		if len(list) == 0 {
			return nil
		}
		return model.Ptr(0)
	}
	for i, b := range buckets {
		index[b.From] = i
		pts[i] = &model.TimeseriesPoint{From: b.From, To: b.To, Offered: zero(f.offered), Answered: zero(f.answered),
			Inbound: zero(f.inbound), Outbound: zero(f.outbound), TalkSeconds: zero(f.talk)}
	}
	for i, raw := range rows {
		var row map[string]json.RawMessage
		if err := json.Unmarshal(raw, &row); err != nil {
			return nil, fieldErr("metric["+strconv.Itoa(i)+"]", "not an object")
		}
		var date string
		if err := json.Unmarshal(row["result_date"], &date); err != nil {
			return nil, fieldErr("metric["+strconv.Itoa(i)+"].result_date", "missing or not a string")
		}
		t, ok := m.parseLocal(date)
		if !ok {
			return nil, fieldErr("metric["+strconv.Itoa(i)+"].result_date", "no date in %q", date)
		}
		bi, ok := index[derive.Align(t, q.Interval)]
		if !ok {
			continue
		}
		p := pts[bi]
		for _, tgt := range []struct {
			dst  *int
			keys []string
		}{{p.Offered, f.offered}, {p.Answered, f.answered}, {p.Inbound, f.inbound}, {p.Outbound, f.outbound}, {p.TalkSeconds, f.talk}} {
			for _, k := range tgt.keys {
				v, _, err := reportNumber(row, k)
				if err != nil {
					return nil, within("metric["+strconv.Itoa(i)+"]", err)
				}
				*tgt.dst += v
			}
		}
	}
	return pts, nil
}

// agentReportFields are the agent report indicators folded into AgentCounters.
func agentReportFields() []string {
	return []string{
		"inbound_agent_partits", "inbound_agent_answer_partits", "inbound_agent_unAnswer_partits",
		"inbound_agentTalk_duration", "outbound_calls_talk_duration", "agent_helding_sum_duration",
		"agent_acwing_sum_duration", "agent_readying_sum_duration", "agent_busy_sum_duration",
	}
}

// mapAgentReport maps agent report rows (agent dimension, one day) to counters by agent id.
func (m mapper) mapAgentReport(rows []json.RawMessage) (map[string]*model.AgentCounters, error) {
	out := map[string]*model.AgentCounters{}
	for i, raw := range rows {
		var row map[string]json.RawMessage
		if err := json.Unmarshal(raw, &row); err != nil {
			return nil, fieldErr("metric["+strconv.Itoa(i)+"]", "not an object")
		}
		var id flexString
		if err := json.Unmarshal(row["serviceId"], &id); err != nil || id == "" {
			return nil, fieldErr("metric["+strconv.Itoa(i)+"].serviceId", "missing")
		}
		get := func(keys ...string) (*int, error) {
			var sum int
			var any bool
			for _, k := range keys {
				v, ok, err := reportNumber(row, k)
				if err != nil {
					return nil, within("metric["+strconv.Itoa(i)+"]", err)
				}
				sum += v
				any = any || ok
			}
			if !any {
				return nil, nil
			}
			return &sum, nil
		}
		c := &model.AgentCounters{}
		var err error
		for _, f := range []struct {
			dst  **int
			keys []string
		}{
			{&c.Offered, []string{"inbound_agent_partits"}}, {&c.Answered, []string{"inbound_agent_answer_partits"}},
			{&c.Missed, []string{"inbound_agent_unAnswer_partits"}},
			{&c.TalkSeconds, []string{"inbound_agentTalk_duration", "outbound_calls_talk_duration"}},
			{&c.HoldSeconds, []string{"agent_helding_sum_duration"}}, {&c.WrapUpSeconds, []string{"agent_acwing_sum_duration"}},
			{&c.AvailableSeconds, []string{"agent_readying_sum_duration"}}, {&c.NotReadySeconds, []string{"agent_busy_sum_duration"}},
		} {
			if *f.dst, err = get(f.keys...); err != nil {
				return nil, err
			}
		}
		out[string(id)] = c
	}
	return out, nil
}

// tenantQueue is the one queue Sobot's monitoring exposes: the company as a whole (the
// agents-metrics summary has no per-skill-group figures).
// The counters are the vendor's "today", from local midnight in m.loc until now.
func (m mapper) tenantQueue(companyID string, summary json.RawMessage, agents []*model.Agent, now time.Time) (*model.Queue, error) {
	var s agentsSummary
	if len(summary) > 0 && string(summary) != "null" {
		if err := decodeDoc(summary, &s); err != nil {
			return nil, within("agentsSummary", err)
		}
	}
	local := now.In(m.loc)
	st := &model.QueueStats{
		From: model.Ptr(time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, m.loc).UTC()), To: model.Ptr(now.UTC()),
		Answered:      s.InboundEstablishedCallsCountToday.ptr(),
		AgentsByState: derive.AgentsByState(agents),
	}
	if st.AgentsByState == nil {
		st.AgentsByState = []*model.AgentStateCount{}
	}
	return &model.Queue{
		ID: model.GlobalID(model.KindQueue, m.sourceID, companyID), VendorID: companyID,
		SourceID: m.sourceID, Vendor: m.vendor, Name: "All agents",
		Channel: model.Ptr(model.ChannelVoice), Stats: st, Raw: summary,
	}, nil
}
