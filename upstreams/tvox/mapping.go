package tvox

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
)

// mapper turns RTD documents into canonical objects. It holds no clock and does no I/O.
type mapper struct {
	spec       upstreams.SourceSpec
	slaSeconds int // 0 = unknown
}

func (m mapper) decode(op, field string, raw json.RawMessage, dst any) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field != "" {
				field += "." + te.Field
			}
			err = fmt.Errorf("value %s is not %s", te.Value, typeName(te.Type))
		}
		return m.spec.FieldError(op, field, err)
	}
	return nil
}

// Queue vendor ids: a service's CALL channel is its bare code, so that users' service lists
// and the gateway's queue filters name it directly; groups and other channels are qualified.
func queueVendorID(kind, code, channel string) string {
	id := code
	if kind == collGroupStats {
		id = "group/" + code
	}
	if channel != ChannelCall {
		id += "/" + channel
	}
	return id
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	}
	return "a " + t.String()
}

func mapChannel(c string) model.Channel {
	switch c {
	case ChannelCall:
		return model.ChannelVoice
	case ChannelChat:
		return model.ChannelChat
	case ChannelVideo:
		return model.ChannelVideo
	default:
		return model.ChannelOther
	}
}

// mapStatus normalizes a UserStatus. A user busy while "not ready" is on a contact, so the
// contact wins; vendorStatus keeps the difference.
func mapStatus(s UserStatus) model.AgentState {
	switch s {
	case StatusReady:
		return model.AgentStateAvailable
	case StatusNotReady:
		return model.AgentStateNotReady
	case StatusBooked:
		return model.AgentStateRinging
	case StatusWNR:
		return model.AgentStateWrapUp
	case StatusBusy, StatusBusyDnCallIn, StatusBusyDnCallOut, StatusBusyDnCallOutPrivate, StatusBusyService,
		StatusNotReadyBusy, StatusNRBusyDnCallIn, StatusNRBusyDnCallOut, StatusNRBusyDnCallOutPrivate:
		return model.AgentStateOnCall
	default:
		return model.AgentStateUnknown
	}
}

func engaged(s model.AgentState) bool {
	return s == model.AgentStateRinging || s == model.AgentStateOnCall || s == model.AgentStateWrapUp
}

func str(s Str) string {
	if s.V == nil {
		return ""
	}
	return *s.V
}

// agentDocs are the documents one agent is made of; Stat and Profile may be nil.
type agentDocs struct {
	User, Stat, Profile json.RawMessage
}

// agent maps a user with its CALL user stat and profile stat.
func (m mapper) agent(op string, d agentDocs) (*model.Agent, error) {
	var u User
	if err := m.decode(op, "users", d.User, &u); err != nil {
		return nil, err
	}
	if u.Username == "" {
		return nil, m.spec.FieldError(op, "users.username", errors.New("missing"))
	}
	var st *UserStat
	if d.Stat != nil {
		st = &UserStat{}
		if err := m.decode(op, "userStats", d.Stat, st); err != nil {
			return nil, err
		}
	}
	var ps *UserProfileStat
	if d.Profile != nil {
		ps = &UserProfileStat{}
		if err := m.decode(op, "userProfileStats", d.Profile, ps); err != nil {
			return nil, err
		}
	}

	a := &model.Agent{
		ID: model.GlobalID(model.KindAgent, m.spec.ID, u.Username), VendorID: u.Username,
		SourceID: m.spec.ID, Vendor: m.spec.Vendor, State: model.AgentStateUnknown,
		Queues: []*model.Ref{},
	}
	name := strings.TrimSpace(str(u.Name) + " " + str(u.Surname))
	if name == "" && st != nil {
		name = strings.TrimSpace(str(st.Name) + " " + str(st.Surname))
	}
	if name == "" {
		name = u.Username
	}
	a.Name = name

	// The CALL channel decides the state unless another channel holds the agent's attention.
	var statuses, codes ChannelMap
	if u.Statuses != nil {
		statuses = *u.Statuses
	}
	if u.ActivityCodes != nil {
		codes = *u.ActivityCodes
	}
	if statuses.CALL.V == nil && st != nil {
		statuses.CALL = st.Status
	}
	if codes.CALL.V == nil && st != nil {
		codes.CALL = st.ActivityCode
	}
	type chanState struct {
		ch     string
		status Str
		code   Str
	}
	pick := chanState{ChannelCall, statuses.CALL, codes.CALL}
	if pick.status.V == nil || !engaged(mapStatus(UserStatus(*pick.status.V))) {
		for _, c := range []chanState{{ChannelVideo, statuses.VIDEO, codes.VIDEO}, {ChannelChat, statuses.CHAT, codes.CHAT}} {
			if c.status.V != nil && (pick.status.V == nil || engaged(mapStatus(UserStatus(*c.status.V)))) {
				pick = c
				break
			}
		}
	}
	if pick.status.V != nil {
		a.State = mapStatus(UserStatus(*pick.status.V))
		a.VendorStatus = pick.status.V
		if engaged(a.State) {
			a.Channel = model.Ptr(mapChannel(pick.ch))
		}
		if a.State == model.AgentStateNotReady {
			a.NotReadyReason = pick.code.V
		}
	}
	if st != nil && pick.ch == ChannelCall && st.TimeInState.V != nil {
		t, err := time.Parse(time.RFC3339, *st.TimeInState.V)
		if err != nil {
			return nil, m.spec.FieldError(op, "userStats.timeInState", fmt.Errorf("not an RFC 3339 date: %w", err))
		}
		a.StateSince = model.Ptr(t.UTC())
	}

	for _, s := range u.Services {
		a.Queues = append(a.Queues, model.NewRef(model.KindQueue, m.spec.ID, queueVendorID(collServiceStats, s, ChannelCall), s))
	}
	for _, g := range u.Skillsets {
		a.Queues = append(a.Queues, model.NewRef(model.KindQueue, m.spec.ID, queueVendorID(collGroupStats, g, ChannelCall), g))
	}

	if st != nil || ps != nil {
		var s AgentStat
		if st != nil {
			s = st.AgentStat
		} else {
			s = ps.AgentStat
		}
		c := &model.AgentCounters{
			Offered: s.NumberCallFromService.V, Answered: s.NumberCallFromServiceAnswered.V,
			Missed: s.NumberCallFromServiceNotAnswered.V, TalkSeconds: s.TimeInStateBusy.V,
			WrapUpSeconds: s.TimeInStateWNR.V, AvailableSeconds: s.TimeInStateReady.V,
			NotReadySeconds: s.TimeInStateNotReady.V,
		}
		if ps != nil && ps.TimeInHold != nil {
			c.HoldSeconds = ps.TimeInHold.TimeInState.V
		}
		a.Counters = c
	}

	raw := map[string]json.RawMessage{"user": d.User}
	if d.Stat != nil {
		raw["userStat"] = d.Stat
	}
	if d.Profile != nil {
		raw["userProfileStat"] = d.Profile
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, m.spec.FieldError(op, "users", err)
	}
	a.Raw = b
	return a, nil
}

// queue maps a ServiceStat (kind collServiceStats) or GroupStat (collGroupStats).
func (m mapper) queue(op, kind string, raw json.RawMessage) (*model.Queue, error) {
	var s QueueStat
	if err := m.decode(op, kind, raw, &s); err != nil {
		return nil, err
	}
	if s.Code == "" {
		return nil, m.spec.FieldError(op, kind+".code", errors.New("missing"))
	}
	if s.Channel == "" {
		return nil, m.spec.FieldError(op, kind+".channel", errors.New("missing"))
	}
	id := queueVendorID(kind, s.Code, s.Channel)
	q := &model.Queue{
		ID: model.GlobalID(model.KindQueue, m.spec.ID, id), VendorID: id,
		SourceID: m.spec.ID, Vendor: m.spec.Vendor, Name: s.Code,
		Channel: model.Ptr(mapChannel(s.Channel)), Raw: raw,
	}
	if m.slaSeconds > 0 {
		q.SLASeconds = model.Ptr(m.slaSeconds)
	}
	st := &model.QueueStats{SLASeconds: q.SLASeconds}
	if cs := s.ChannelStats; cs != nil && knownMember(kind, cs.Typename) {
		st.Offered = cs.ReceivedCalls.V
		st.Answered = cs.AnsweredCalls.V
		st.Abandoned = cs.HangupCalls.V
		st.ShortAbandoned = cs.ShortCalls.V
		st.CallsWaiting = cs.QueuedCalls.V
		st.LongestWaitSeconds = cs.MaxTimeCallOnQueue.V
		st.AverageWaitSeconds = cs.AverageTimeOnQueue.V
		st.AnsweredWithinSLA = cs.AnsweredCallsUnderSpeedLimit.V
		st.Callbacks = cs.ClosedCallsCallBack.V
		if st.AnsweredWithinSLA != nil && st.Offered != nil && st.ShortAbandoned != nil {
			st.ServiceLevel = derive.ServiceLevel(*st.AnsweredWithinSLA, *st.Offered, *st.ShortAbandoned)
		}
	}
	if us := s.UserStats; us != nil {
		for _, c := range []struct {
			state model.AgentState
			in    *ProfilesInStatus
		}{
			{model.AgentStateAvailable, us.ReadyUsers},
			{model.AgentStateOnCall, us.BusyUsers},
			{model.AgentStateWrapUp, us.PostCallUsers},
			{model.AgentStateNotReady, us.NotReadyUsers},
		} {
			if c.in == nil {
				continue
			}
			n := c.in.Count.V
			if n == nil && c.in.ProfileIDs != nil {
				n = model.Ptr(len(c.in.ProfileIDs))
			}
			if n != nil && *n > 0 {
				st.AgentsByState = append(st.AgentsByState, &model.AgentStateCount{State: c.state, Count: *n})
			}
		}
		if st.AgentsByState == nil {
			st.AgentsByState = []*model.AgentStateCount{}
		}
	}
	q.Stats = st
	return q, nil
}

// knownMember tells whether a channelStats union member is one this driver reads. An
// unknown member (a newer server) leaves the counters unknown rather than guessing.
func knownMember(kind, typename string) bool {
	switch typename {
	case TypeServiceCall, TypeServiceVideo, TypeServiceChat:
		return kind == collServiceStats
	case TypeGroupCall, TypeGroupVideo, TypeGroupChat:
		return kind == collGroupStats
	}
	return false
}

// healthOf maps serverHealth.status.
func healthOf(h ServerHealth) (model.HealthStatus, string) {
	switch h.Status {
	case "PASS":
		return model.HealthStatusLive, ""
	case "FAIL":
		return model.HealthStatusDegraded, "server health reports FAIL"
	default:
		return model.HealthStatusDegraded, "server health reports unknown status " + h.Status
	}
}

// versionString renders a Version as major.minor.patch ("" when absent).
func versionString(v *Version) string {
	if v == nil || v.Major.V == nil {
		return ""
	}
	n := func(p Int) int {
		if p.V == nil {
			return 0
		}
		return *p.V
	}
	return fmt.Sprintf("%d.%d.%d", n(v.Major), n(v.Minor), n(v.Patch))
}
