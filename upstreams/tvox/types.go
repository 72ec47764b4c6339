package tvox

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
)

// The RTD Server's wire types (schema 1.0.x), as documented. Optional scalars use Int, Float
// and Str, which absorb the server's "not available" markers.

// emptyMarker is what TVox sends for an absent string value.
const emptyMarker = "__EMPTY__"

// Str is a nullable String; "__EMPTY__" decodes as null.
type Str struct{ V *string }

// UnmarshalJSON accepts null, "__EMPTY__" (null) and strings.
func (s *Str) UnmarshalJSON(b []byte) error {
	s.V = nil
	if isNull(b) {
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return typeError(b, reflect.TypeFor[string]())
	}
	if v != emptyMarker {
		s.V = &v
	}
	return nil
}

// Int is a nullable Int; "__EMPTY__" and -1 decode as null, numeric strings are accepted.
type Int struct{ V *int }

// UnmarshalJSON accepts null, numbers and numeric strings.
func (n *Int) UnmarshalJSON(b []byte) error {
	n.V = nil
	f, ok, err := number(b, reflect.TypeFor[int]())
	if err != nil || !ok {
		return err
	}
	if f != float64(int(f)) {
		return typeError(b, reflect.TypeFor[int]())
	}
	if f != -1 {
		n.V = ptr(int(f))
	}
	return nil
}

// Float is a nullable Float; "__EMPTY__" and -1 decode as null, numeric strings are accepted.
type Float struct{ V *float64 }

// UnmarshalJSON accepts null, numbers and numeric strings.
func (n *Float) UnmarshalJSON(b []byte) error {
	n.V = nil
	f, ok, err := number(b, reflect.TypeFor[float64]())
	if err != nil || !ok {
		return err
	}
	if f != -1 {
		n.V = &f
	}
	return nil
}

func number(b []byte, t reflect.Type) (float64, bool, error) {
	if isNull(b) {
		return 0, false, nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, false, typeError(b, t)
		}
		if s == emptyMarker {
			return 0, false, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false, typeError(b, t)
		}
		return f, true, nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, false, typeError(b, t)
	}
	return f, true, nil
}

func isNull(b []byte) bool { return len(b) == 0 || bytes.Equal(b, []byte("null")) }

// typeError is the error encoding/json decorates with the field path.
func typeError(b []byte, t reflect.Type) error {
	v := string(b)
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return &json.UnmarshalTypeError{Value: v, Type: t}
}

func ptr[T any](v T) *T { return &v }

// UserStatus is the RTD UserStatus enum (kept as a string so unknown values survive).
type UserStatus string

// The documented UserStatus values.
const (
	StatusReady                  UserStatus = "READY"
	StatusNotReady               UserStatus = "NOT_READY"
	StatusBooked                 UserStatus = "BOOKED"
	StatusBusy                   UserStatus = "BUSY"
	StatusNotReadyBusy           UserStatus = "NOT_READY_BUSY"
	StatusWNR                    UserStatus = "WNR"
	StatusBusyDnCallIn           UserStatus = "BUSY_dn_call_in"
	StatusBusyDnCallOut          UserStatus = "BUSY_dn_call_out"
	StatusBusyDnCallOutPrivate   UserStatus = "BUSY_dn_call_out_private"
	StatusBusyService            UserStatus = "BUSY_service"
	StatusNRBusyDnCallIn         UserStatus = "NR_BUSY_dn_call_in"
	StatusNRBusyDnCallOut        UserStatus = "NR_BUSY_dn_call_out"
	StatusNRBusyDnCallOutPrivate UserStatus = "NR_BUSY_dn_call_out_private"
)

// Channel values (MultiChannel).
const (
	ChannelCall  = "CALL"
	ChannelVideo = "VIDEO"
	ChannelChat  = "CHAT"
)

// Mutation values (MutationType).
const (
	MutationCreated = "CREATED"
	MutationUpdated = "UPDATED"
	MutationDeleted = "DELETED"
)

// ChannelMap is UserActivityCodeMap / UserStatusMultiChannelMap.
type ChannelMap struct {
	CALL  Str `json:"CALL"`
	VIDEO Str `json:"VIDEO"`
	CHAT  Str `json:"CHAT"`
}

// User is the User object.
type User struct {
	Mutation      string      `json:"mutation"`
	Username      string      `json:"username"`
	ActiveProfile Int         `json:"activeProfile"`
	Surname       Str         `json:"surname"`
	Name          Str         `json:"name"`
	ActivityCodes *ChannelMap `json:"activityCodes"`
	Services      []string    `json:"services"`
	Site          Int         `json:"site"`
	Skillsets     []string    `json:"skillsets"`
	Statuses      *ChannelMap `json:"statuses"`
}

// TimeInActivityCode is total seconds in one activity code.
type TimeInActivityCode struct {
	ActivityCode string `json:"activityCode"`
	TotalTime    Int    `json:"totalTime"`
}

// TimeInHold is UserProfileStat.timeInHold.
type TimeInHold struct {
	Time        Str `json:"time"`
	TimeInState Int `json:"timeInState"`
}

// AgentStat holds the fields UserStat and UserProfileStat share.
type AgentStat struct {
	UserSite                         Int                  `json:"userSite"`
	Channel                          string               `json:"channel"`
	ActivityCode                     Str                  `json:"activityCode"`
	ActivityCode2                    Str                  `json:"activityCode2"`
	CurrentGroup                     Str                  `json:"currentGroup"`
	CurrentService                   Str                  `json:"currentService"`
	NumberCallFromService            Int                  `json:"numberCallFromService"`
	NumberCallFromServiceAnswered    Int                  `json:"numberCallFromServiceAnswered"`
	NumberCallFromServiceNotAnswered Int                  `json:"numberCallFromServiceNotAnswered"`
	NumberCallIn                     Int                  `json:"numberCallIn"`
	NumberCallOut                    Int                  `json:"numberCallOut"`
	NumberCallOutPrivate             Int                  `json:"numberCallOutPrivate"`
	NumberCallServiceOverSpeedAnswer Int                  `json:"numberCallServiceOverSpeedAnswer"`
	Status                           Str                  `json:"status"`
	TimeInActivityCode               []TimeInActivityCode `json:"timeInActivityCode"`
	TimeInActivityCodeStateBusy      []TimeInActivityCode `json:"timeInActivityCodeStateBusy"`
	TimeInActivityCodeStateNotReady  []TimeInActivityCode `json:"timeInActivityCodeStateNotReady"`
	// TimeInState is documented as a Date "time spent in the current state": the instant
	// the current state began.
	TimeInState                     Str `json:"timeInState"`
	TimeInStateBooked               Int `json:"timeInStateBooked"`
	TimeInStateBusy                 Int `json:"timeInStateBusy"`
	TimeInStateBusyDnCallIn         Int `json:"timeInStateBusyDnCallIn"`
	TimeInStateBusyDnCallOut        Int `json:"timeInStateBusyDnCallOut"`
	TimeInStateBusyDnCallOutPrivate Int `json:"timeInStateBusyDnCallOutPrivate"`
	TimeInStateBusyOnService        Int `json:"timeInStateBusyOnService"`
	TimeInStateNotReady             Int `json:"timeInStateNotReady"`
	TimeInStateReady                Int `json:"timeInStateReady"`
	TimeInStateWNR                  Int `json:"timeInStateWNR"`
}

// UserStat is the UserStat object.
type UserStat struct {
	Username        string `json:"username"`
	Name            Str    `json:"name"`
	Surname         Str    `json:"surname"`
	LoggedProfileID Int    `json:"loggedProfileId"`
	AgentStat
}

// UserProfileStat is the UserProfileStat object.
type UserProfileStat struct {
	ID         Int         `json:"id"`
	TimeInHold *TimeInHold `json:"timeInHold"`
	AgentStat
}

// ProfilesInStatus is UserProfileInStatus.
type ProfilesInStatus struct {
	Count      Int   `json:"count"`
	ProfileIDs []int `json:"profileIds"`
}

// ProfilesInActivityCode is UserProfileInActivityCode.
type ProfilesInActivityCode struct {
	ActivityCode string `json:"activityCode"`
	Count        Int    `json:"count"`
	ProfileIDs   []int  `json:"profileIds"`
}

// QueueUserStat is ServiceUserStat and GroupUserStat (the group's is a subset).
type QueueUserStat struct {
	BusyOnDNCallInUsers         *ProfilesInStatus        `json:"busyOnDNCallInUsers"`
	BusyOnDNCallOutUsers        *ProfilesInStatus        `json:"busyOnDNCallOutUsers"`
	BusyOnDNCallOutUsersPrivate *ProfilesInStatus        `json:"busyOnDNCallOutUsersPrivate"`
	BusyOnDNCallUsers           *ProfilesInStatus        `json:"busyOnDNCallUsers"`
	BusyOnServUsers             *ProfilesInStatus        `json:"busyOnServUsers"`
	BusyUsers                   *ProfilesInStatus        `json:"busyUsers"`
	LoggedUsers                 *ProfilesInStatus        `json:"loggedUsers"`
	NotReadyUsers               *ProfilesInStatus        `json:"notReadyUsers"`
	NotReadyUsersOnActivityCode *ProfilesInStatus        `json:"notReadyUsersOnActivityCode"`
	ActivityCodeIndicators      []ProfilesInActivityCode `json:"activityCodeIndicators"`
	PostCallUsers               *ProfilesInStatus        `json:"postCallUsers"`
	ReadyUsers                  *ProfilesInStatus        `json:"readyUsers"`
}

// ChannelStats is the union ServiceChannelStatUnion / GroupChannelStatUnion: every member's
// fields in one struct (members share names), told apart by __typename.
type ChannelStats struct {
	Typename                        string `json:"__typename"`
	AnsweredCalls                   Int    `json:"answeredCalls"`
	AnsweredCallsUnderSpeedLimit    Int    `json:"answeredCallsUnderSpeedLimit"`
	ClosedCalls                     Int    `json:"closedCalls"`
	ClosedCallsCallBack             Int    `json:"closedCallsCallBack"`
	ConnectedCall                   Int    `json:"connectedCall"`
	CurrentCalls                    Int    `json:"currentCalls"`
	HangupCalls                     Int    `json:"hangupCalls"`
	MaxTimeCallOnQueue              Int    `json:"maxTimeCallOnQueue"`
	OutboundAnsweredCalls           Int    `json:"outboundAnsweredCalls"`
	OutboundClosedCallsGenericCause Int    `json:"outboundClosedCallsGenericCause"`
	OutboundHangupCalls             Int    `json:"outboundHangupCalls"`
	OutboundReceivedCalls           Int    `json:"outboundReceivedCalls"`
	QueuedCalls                     Int    `json:"queuedCalls"`
	ReceivedCalls                   Int    `json:"receivedCalls"`
	ReceivedCallsInAccessList       Int    `json:"receivedCallsInAccessList"`
	ReceivedCallsWithT4you          Float  `json:"receivedCallsWithT4you"`
	ReceivedCallsWithT4youAnonymous Float  `json:"receivedCallsWithT4youAnonymous"`
	ReceivedCallsWithT4youMultiple  Float  `json:"receivedCallsWithT4youMultiple"`
	ReceivedCallsWithT4youSingle    Float  `json:"receivedCallsWithT4youSingle"`
	ShortCalls                      Int    `json:"shortCalls"`
	AverageTimeOnQueue              Float  `json:"averageTimeOnQueue"`
}

// The union members.
const (
	TypeServiceCall  = "ServiceCcCallAtStat"
	TypeServiceVideo = "ServiceCcVideoAtStat"
	TypeServiceChat  = "ServiceCcChatAtStat"
	TypeGroupCall    = "GroupCcCallStat"
	TypeGroupVideo   = "GroupCcVideoStat"
	TypeGroupChat    = "GroupCcChatStat"
)

// CustomStat is a custom stat, passed through in Raw.
type CustomStat struct {
	Key   string `json:"key"`
	Value *struct {
		AggregatedValue Str `json:"aggregatedValue"`
		Value           Str `json:"value"`
	} `json:"value"`
}

// QueueStat is ServiceStat and GroupStat.
type QueueStat struct {
	Code         string         `json:"code"`
	Channel      string         `json:"channel"`
	ChannelStats *ChannelStats  `json:"channelStats"`
	UserStats    *QueueUserStat `json:"userStats"`
	CustomStats  []CustomStat   `json:"customStats"`
}

// Version is a SemVer triple.
type Version struct {
	Major Int `json:"major"`
	Minor Int `json:"minor"`
	Patch Int `json:"patch"`
}

// RtdVersion is the version query's result.
type RtdVersion struct {
	Client *Version `json:"client"`
	Server *Version `json:"server"`
}

// ServerHealth is the serverHealth query's result.
type ServerHealth struct {
	Status string `json:"status"`
}

// AuthToken is the access token part of a login.
type AuthToken struct {
	AccessToken string `json:"accessToken"`
	ExpiresIn   int    `json:"expiresIn"`
}

// Session is the session part of a login.
type Session struct {
	ID        string `json:"id"`
	ExpiresIn int    `json:"expiresIn"`
}

// SessionUser is what login and loginWithAccessToken return.
type SessionUser struct {
	PublicUsername string    `json:"publicUsername"`
	Username       string    `json:"username"`
	Surname        string    `json:"surname"`
	Name           *string   `json:"name"`
	Session        Session   `json:"session"`
	AuthToken      AuthToken `json:"authToken"`
	Language       string    `json:"language"`
	Supervisor     bool      `json:"supervisor"`
}

// GraphQLError is one entry of a response's errors.
type GraphQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Response is a GraphQL response.
type Response struct {
	Data   json.RawMessage `json:"data,omitempty"`
	Errors []GraphQLError  `json:"errors,omitempty"`
}
