package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// The center as TVox sees it: agents are users (profile id = position + 1, site 1), queues
// are services with the queue id as code, and each queue has a skillset "skill_<queue id>"
// (a group) with the queue's agents. Counters cover the current UTC day (TVox's "active
// context"); absent strings are "__EMPTY__" and unknown T4you percentages -1, as TVox sends.

const empty = "__EMPTY__"

// GroupCode is the skillset (group) code the simulator gives a queue.
func GroupCode(queueID string) string { return "skill_" + queueID }

// view is one consistent read of the center for one resolution.
type view struct {
	now      time.Time
	day      time.Time
	agents   []simcc.Agent
	statuses []simcc.AgentStatus
	queues   []simcc.Queue
	calls    map[string]simcc.Call // today's calls and the active ones, by id
	today    []simcc.Call
	c        *simcc.Center
}

func newView(c *simcc.Center) *view {
	now := c.Now()
	v := &view{now: now, day: now.Truncate(24 * time.Hour), agents: c.Agents(), statuses: c.AgentStatuses(), queues: c.Queues(), c: c}
	return v
}

// loadCalls reads the calls lazily: user and queue counters need them, users do not.
func (v *view) loadCalls() {
	if v.calls != nil {
		return
	}
	v.today = v.c.Calls(v.day, v.now.Add(time.Second))
	v.calls = map[string]simcc.Call{}
	for _, c := range v.today {
		v.calls[c.ID] = c
	}
	for _, c := range v.c.ActiveCalls() {
		v.calls[c.ID] = c
	}
}

func (v *view) call(id string) (simcc.Call, bool) {
	v.loadCalls()
	c, ok := v.calls[id]
	if !ok && id != "" {
		c, ok = v.c.Call(id)
	}
	return c, ok
}

// userStatus renders a canonical state as a UserStatus; "" for a logged-out agent.
func (v *view) userStatus(st simcc.AgentStatus) string {
	switch st.State {
	case simcc.StateAvailable:
		return "READY"
	case simcc.StateRinging:
		return "BOOKED"
	case simcc.StateWrapUp:
		return "WNR"
	case simcc.StateNotReady:
		return "NOT_READY"
	case simcc.StateOnCall, simcc.StateOnHold:
		c, _ := v.call(st.CallID)
		switch {
		case c.Direction == simcc.DirectionInbound && len(c.Segments) > 0:
			return "BUSY_service"
		case c.Direction == simcc.DirectionOutbound:
			return "BUSY_dn_call_out"
		default:
			return "BUSY_dn_call_in"
		}
	}
	return ""
}

// filterStatus is the UserStatusFilter a UserStatus falls under.
func filterStatus(s string) string {
	switch {
	case strings.HasPrefix(s, "BUSY"):
		return "BUSY"
	case strings.HasPrefix(s, "NR_BUSY"), s == "NOT_READY_BUSY":
		return "NOT_READY_BUSY"
	}
	return s
}

func splitName(n string) (string, string) {
	first, last, _ := strings.Cut(n, " ")
	return first, last
}

func orEmpty(s string) string {
	if s == "" {
		return empty
	}
	return s
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func groupsOf(queueIDs []string) []string {
	out := make([]string, len(queueIDs))
	for i, q := range queueIDs {
		out[i] = GroupCode(q)
	}
	return out
}

// --- filters, decoded from the validated arguments ---

type userFilter struct {
	Surname       *string  `json:"surname"`
	Name          *string  `json:"name"`
	Sites         []int    `json:"sites"`
	Statuses      []string `json:"statuses"`
	Skillsets     []string `json:"skillsets"`
	Services      []string `json:"services"`
	ActivityCodes []string `json:"activityCodes"`
	Channels      []string `json:"channels"`
}

type statChannelFilter struct {
	Services       []string `json:"services"`
	Groups         []string `json:"groups"`
	Users          []string `json:"users"`
	UserProfiles   []int    `json:"userProfiles"`
	CustomStatKeys []string `json:"customStatKeys"`
	UserSite       *int     `json:"userSite"`
	ActivityCodes  []string `json:"activityCodes"`
}

type statFilter struct {
	CALL  *statChannelFilter `json:"CALL"`
	VIDEO *statChannelFilter `json:"VIDEO"`
	CHAT  *statChannelFilter `json:"CHAT"`
}

func (f statFilter) channels() []struct {
	name string
	f    *statChannelFilter
} {
	var out []struct {
		name string
		f    *statChannelFilter
	}
	for _, c := range []struct {
		name string
		f    *statChannelFilter
	}{{"CALL", f.CALL}, {"VIDEO", f.VIDEO}, {"CHAT", f.CHAT}} {
		if c.f != nil {
			out = append(out, c)
		}
	}
	return out
}

func decodeArg(args map[string]any, dst any) error {
	b, err := json.Marshal(args["filter"])
	if err != nil {
		return fmt.Errorf("encoding filter: %w", err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("decoding filter: %w", err)
	}
	return nil
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// --- resolvers ---

func (v *view) users(f userFilter) []item {
	var out []item
	for i, a := range v.agents {
		st := v.statuses[i]
		status := v.userStatus(st)
		first, last := splitName(a.Name)
		code := ""
		if st.State == simcc.StateNotReady {
			code = st.Reason
		}
		switch {
		case len(f.Statuses) > 0 && !slices.Contains(f.Statuses, filterStatus(status)),
			f.Name != nil && !strings.Contains(strings.ToLower(first), strings.ToLower(*f.Name)),
			f.Surname != nil && !strings.Contains(strings.ToLower(last), strings.ToLower(*f.Surname)),
			len(f.Sites) > 0 && !slices.Contains(f.Sites, 1),
			len(f.Services) > 0 && !overlaps(f.Services, a.QueueIDs),
			len(f.Skillsets) > 0 && !overlaps(f.Skillsets, groupsOf(a.QueueIDs)),
			len(f.ActivityCodes) > 0 && !slices.Contains(f.ActivityCodes, code),
			len(f.Channels) > 0 && (status == "" || !slices.Contains(f.Channels, "CALL")):
			continue
		}
		var profile any
		if status != "" {
			profile = i + 1
		}
		out = append(out, item{key: a.ID, doc: doc{
			"mutation": "CREATED", "username": a.ID, "activeProfile": profile,
			"name": nilIfEmpty(first), "surname": nilIfEmpty(last),
			"activityCodes": doc{"CALL": nilIfEmpty(code), "VIDEO": nil, "CHAT": nil},
			"services":      a.QueueIDs, "site": 1, "skillsets": groupsOf(a.QueueIDs),
			"statuses": doc{"CALL": nilIfEmpty(status), "VIDEO": nil, "CHAT": nil},
		}})
	}
	return out
}

func (v *view) agentIndex(id string) int {
	for i, a := range v.agents {
		if a.ID == id {
			return i
		}
	}
	return -1
}

// agentStat renders the fields UserStat and UserProfileStat share, for agent i today.
func (v *view) agentStat(i int) doc {
	v.loadCalls()
	a, st := v.agents[i], v.statuses[i]
	status := v.userStatus(st)
	reason, service, group := "", "", ""
	if st.State == simcc.StateNotReady {
		reason = st.Reason
	}
	if c, ok := v.call(st.CallID); ok && st.CallID != "" {
		for _, l := range c.Legs {
			if l.AgentID == a.ID && l.QueueID != "" {
				service, group = l.QueueID, GroupCode(l.QueueID)
			}
		}
	}
	var fromService, answered, notAnswered, in, out, overSpeed, hold int
	for _, c := range v.today {
		for _, l := range c.Legs {
			if l.AgentID != a.ID {
				continue
			}
			if c.Direction == simcc.DirectionOutbound {
				out++
			} else {
				in++
			}
			hold += l.HoldSeconds
			if l.QueueID == "" {
				continue
			}
			fromService++
			switch {
			case l.Answered:
				answered++
				if v.waited(c, l) > v.sla(l.QueueID) {
					overSpeed++
				}
			case !l.EndedAt.IsZero():
				notAnswered++
			}
		}
	}
	secs := map[simcc.AgentState]int{}
	byCode := map[string]int{}
	busy := map[string]int{}
	for _, s := range v.c.AgentSpans(a.ID, v.day, v.now) {
		from, to := s.From, s.To
		if from.Before(v.day) {
			from = v.day
		}
		if to.IsZero() || to.After(v.now) {
			to = v.now
		}
		d := int(to.Sub(from).Seconds())
		secs[s.State] += d
		if s.State == simcc.StateNotReady && s.Reason != "" {
			byCode[s.Reason] += d
		}
		if s.State == simcc.StateOnCall || s.State == simcc.StateOnHold {
			busy[v.userStatus(simcc.AgentStatus{State: s.State, CallID: s.CallID})] += d
		}
	}
	var codes []any
	for _, k := range sortedKeys(byCode) {
		codes = append(codes, doc{"activityCode": k, "totalTime": byCode[k]})
	}
	var since any
	if status != "" {
		since = st.Since.UTC().Format(time.RFC3339)
	}
	return doc{
		"userSite": 1, "channel": "CALL",
		"activityCode": orEmpty(reason), "activityCode2": empty,
		"currentGroup": orEmpty(group), "currentService": orEmpty(service),
		"numberCallFromService": fromService, "numberCallFromServiceAnswered": answered,
		"numberCallFromServiceNotAnswered": notAnswered, "numberCallIn": in, "numberCallOut": out,
		"numberCallOutPrivate": 0, "numberCallServiceOverSpeedAnswer": overSpeed,
		"status": nilIfEmpty(status), "timeInActivityCode": codes, "timeInActivityCodeStateBusy": []any{},
		"timeInActivityCodeStateNotReady": codes, "timeInState": since,
		"timeInStateBooked":       secs[simcc.StateRinging],
		"timeInStateBusy":         secs[simcc.StateOnCall] + secs[simcc.StateOnHold],
		"timeInStateBusyDnCallIn": busy["BUSY_dn_call_in"], "timeInStateBusyDnCallOut": busy["BUSY_dn_call_out"],
		"timeInStateBusyDnCallOutPrivate": 0, "timeInStateBusyOnService": busy["BUSY_service"],
		"timeInStateNotReady": secs[simcc.StateNotReady], "timeInStateReady": secs[simcc.StateAvailable],
		"timeInStateWNR": secs[simcc.StateWrapUp],
		"holdSeconds":    hold, // not a schema field: read by userProfileStats
	}
}

// waited is how long the call waited in the leg's queue before this leg answered.
func (v *view) waited(c simcc.Call, l simcc.Leg) int {
	for _, s := range c.Segments {
		if s.QueueID == l.QueueID && s.AgentID == l.AgentID && !s.LeftAt.IsZero() {
			return int(s.LeftAt.Sub(s.EnteredAt).Seconds())
		}
	}
	return 0
}

func (v *view) sla(queueID string) int {
	for _, q := range v.queues {
		if q.ID == queueID {
			return q.SLASeconds
		}
	}
	return 0
}

func (v *view) userStats(f statFilter) []item {
	var out []item
	if f.CALL == nil {
		return nil
	}
	for _, u := range f.CALL.Users {
		i := v.agentIndex(u)
		if i < 0 || v.statuses[i].State == simcc.StateOffline {
			continue // a logged-out user has no logged profile, so no stat
		}
		d := v.agentStat(i)
		if len(f.CALL.ActivityCodes) > 0 && !slices.Contains(f.CALL.ActivityCodes, d["activityCode"].(string)) {
			continue
		}
		first, last := splitName(v.agents[i].Name)
		d["username"], d["name"], d["surname"], d["loggedProfileId"] = u, nilIfEmpty(first), nilIfEmpty(last), i+1
		out = append(out, item{key: u + "|CALL", doc: d})
	}
	return out
}

func (v *view) userProfileStats(f statFilter) []item {
	var out []item
	if f.CALL == nil {
		return nil
	}
	for _, p := range f.CALL.UserProfiles {
		i := p - 1
		if i < 0 || i >= len(v.agents) {
			continue
		}
		d := v.agentStat(i)
		if len(f.CALL.ActivityCodes) > 0 && !slices.Contains(f.CALL.ActivityCodes, d["activityCode"].(string)) {
			continue
		}
		d["id"] = p
		d["timeInHold"] = doc{"time": nil, "timeInState": d["holdSeconds"]}
		out = append(out, item{key: strconv.Itoa(p) + "|CALL", doc: d})
	}
	return out
}

func (v *view) queue(id string) (simcc.Queue, bool) {
	for _, q := range v.queues {
		if q.ID == id {
			return q, true
		}
	}
	return simcc.Queue{}, false
}

// members lists agent positions serving queue id.
func (v *view) members(id string) []int {
	var out []int
	for i, a := range v.agents {
		if slices.Contains(a.QueueIDs, id) {
			out = append(out, i)
		}
	}
	return out
}

func inStatus(ids []int) doc {
	if ids == nil {
		ids = []int{}
	}
	return doc{"count": len(ids), "profileIds": ids}
}

// queueUserStats counts the queue's agents by TVox status (profile ids).
func (v *view) queueUserStats(id string) doc {
	by := map[string][]int{}
	var logged, nrCode []int
	codes := map[string][]int{}
	for _, i := range v.members(id) {
		st := v.statuses[i]
		s := v.userStatus(st)
		if s == "" {
			continue
		}
		p := i + 1
		logged = append(logged, p)
		by[filterStatus(s)] = append(by[filterStatus(s)], p)
		if s != filterStatus(s) {
			by[s] = append(by[s], p)
		}
		if s == "NOT_READY" && st.Reason != "" {
			nrCode = append(nrCode, p)
			codes[st.Reason] = append(codes[st.Reason], p)
		}
	}
	indicators := []any{}
	for _, k := range sortedKeys(codes) {
		indicators = append(indicators, doc{"activityCode": k, "count": len(codes[k]), "profileIds": codes[k]})
	}
	dn := append(append([]int(nil), by["BUSY_dn_call_in"]...), by["BUSY_dn_call_out"]...)
	sort.Ints(dn)
	return doc{
		"busyOnDNCallInUsers": inStatus(by["BUSY_dn_call_in"]), "busyOnDNCallOutUsers": inStatus(by["BUSY_dn_call_out"]),
		"busyOnDNCallOutUsersPrivate": inStatus(nil), "busyOnDNCallUsers": inStatus(dn),
		"busyOnServUsers": inStatus(by["BUSY_service"]), "busyUsers": inStatus(by["BUSY"]),
		"loggedUsers": inStatus(logged), "notReadyUsers": inStatus(by["NOT_READY"]),
		"notReadyUsersOnActivityCode": inStatus(nrCode), "activityCodeIndicators": indicators,
		"postCallUsers": inStatus(by["WNR"]), "readyUsers": inStatus(by["READY"]),
	}
}

// queueStats resolves serviceStats (group=false) or groupStats (group=true).
func (v *view) queueStats(f statFilter, group bool) []item {
	var out []item
	for _, ch := range f.channels() {
		codes := ch.f.Services
		if group {
			codes = ch.f.Groups
		}
		for _, code := range codes {
			qid := code
			if group {
				qid = strings.TrimPrefix(code, "skill_")
				if qid == code {
					continue
				}
			}
			q, ok := v.queue(qid)
			if !ok {
				continue
			}
			out = append(out, item{key: code + "|" + ch.name, doc: v.queueDoc(q, code, ch.name, ch.f.CustomStatKeys, group)})
		}
	}
	return out
}

func (v *view) queueDoc(q simcc.Queue, code, channel string, customKeys []string, group bool) doc {
	st := v.c.QueueStats(q.ID, v.day, v.now)
	cs := doc{"answeredCalls": 0, "closedCalls": 0, "receivedCalls": 0, "averageTimeOnQueue": nil}
	kind := map[bool]map[string]string{
		false: {"CALL": "ServiceCcCallAtStat", "VIDEO": "ServiceCcVideoAtStat", "CHAT": "ServiceCcChatAtStat"},
		true:  {"CALL": "GroupCcCallStat", "VIDEO": "GroupCcVideoStat", "CHAT": "GroupCcChatStat"},
	}[group][channel]
	if channel == "CALL" {
		// The center is voice-only: its figures are the CALL channel's.
		v.loadCalls()
		current, connected := 0, 0
		for _, c := range v.calls {
			if !c.EndedAt.IsZero() {
				continue
			}
			for _, s := range c.Segments {
				if s.QueueID == q.ID {
					current++
					if s.Answered {
						connected++
					}
					break
				}
			}
		}
		var avg any
		if st.AverageWaitSeconds != nil {
			avg = *st.AverageWaitSeconds
		}
		cs = doc{
			"answeredCalls": st.Answered, "answeredCallsUnderSpeedLimit": st.AnsweredWithinSLA,
			"closedCalls": st.Offered - st.CallsWaiting, "closedCallsCallBack": st.Callbacks,
			"connectedCall": connected, "currentCalls": current, "hangupCalls": st.Abandoned,
			"maxTimeCallOnQueue": st.LongestWaitSeconds, "outboundAnsweredCalls": 0,
			"outboundClosedCallsGenericCause": 0, "outboundHangupCalls": 0, "outboundReceivedCalls": 0,
			"queuedCalls": st.CallsWaiting, "receivedCalls": st.Offered, "receivedCallsInAccessList": 0,
			"receivedCallsWithT4you": -1, "receivedCallsWithT4youAnonymous": -1,
			"receivedCallsWithT4youMultiple": -1, "receivedCallsWithT4youSingle": -1,
			"shortCalls": st.ShortAbandoned, "averageTimeOnQueue": avg,
		}
	}
	cs["__typename"] = kind
	var custom []any
	for _, k := range customKeys {
		val, agg := empty, empty
		if k == "serviceLevel" && channel == "CALL" && st.ServiceLevel != nil {
			val = strconv.FormatFloat(*st.ServiceLevel*100, 'f', 1, 64)
			agg = val
		}
		custom = append(custom, doc{"key": k, "value": doc{"value": val, "aggregatedValue": agg}})
	}
	us := v.queueUserStats(q.ID)
	if channel != "CALL" {
		us = doc{}
	}
	return doc{"code": code, "channel": channel, "channelStats": cs, "userStats": us, "customStats": custom}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
