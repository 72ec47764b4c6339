package sobot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// envelope is the wrapper of every Data Service response.
type envelope struct {
	APIVersion string          `json:"apiVersion"`
	Status     string          `json:"status"`
	Message    string          `json:"message"`
	Code       flexInt         `json:"code"`
	Reason     string          `json:"reason"`
	Kind       string          `json:"kind"`
	Data       json.RawMessage `json:"data"`
}

// page is the paged list shape: talk lists use "list", agent histories "pageData",
// reports "metric" (with "amount" totals).
type page struct {
	CurrPage flexInt           `json:"currPage"`
	PageSize flexInt           `json:"pageSize"`
	Total    flexInt           `json:"total"`
	List     []json.RawMessage `json:"list"`
	PageData []json.RawMessage `json:"pageData"`
	Metric   []json.RawMessage `json:"metric"`
	Amount   json.RawMessage   `json:"amount"`
}

// tokenData is the data of POST /tokens/company.
type tokenData struct {
	AccessToken string `json:"accessToken"`
}

// mainCDR is the "Main Customer Talk List" (and the fields of the bot variant we use).
type mainCDR struct {
	CallID                        flexString      `json:"callID"`
	CallType                      flexInt         `json:"callType"`
	MainDialType                  flexString      `json:"mainDialType"`
	ScreenNumber                  flexString      `json:"screenNumber"`
	CustomerNumber                flexString      `json:"customerNumber"`
	GatewayNumber                 flexString      `json:"gatewayNumber"`
	StartTime                     flexInt         `json:"startTime"`
	AlertTime                     flexInt         `json:"alertTime"`
	AnswerTime                    flexInt         `json:"answerTime"`
	BridgeTime                    flexInt         `json:"bridgeTime"`
	EndTime                       flexInt         `json:"endTime"`
	Duration                      flexInt         `json:"duration"`
	TotalDuration                 flexInt         `json:"totalDuration"`
	AccumAgentRingingDuration     flexInt         `json:"accumAgentRingingDuration"`
	WaitingForHumanAnswerDuration flexInt         `json:"waitingForHumanAnswerDuration"`
	CallResult                    flexInt         `json:"callResult"`
	ReasonOfNotAnswer             flexString      `json:"reasonOfNotAnswer"`
	HangupDisposition             flexInt         `json:"hangupDisposition"`
	RecordURL                     *flexString     `json:"recordUrl"`
	FirstRouteID                  flexString      `json:"firstRouteId"`
	FirstRouteName                flexString      `json:"firstRouteName"`
	FirstCallAgentUUID            flexString      `json:"firstCallAgentUUID"`
	FirstCallAgentName            flexString      `json:"firstCallAgentName"`
	FirstAgentUUID                flexString      `json:"firstAgentUUID"`
	FirstAgentName                flexString      `json:"firstAgentName"`
	LastAgentUUID                 flexString      `json:"lastAgentUUID"`
	LastAgentName                 flexString      `json:"lastAgentName"`
	BelongAgentUUID               flexString      `json:"belongAgentUUID"`
	BelongAgentName               flexString      `json:"belongAgentName"`
	TransferCount                 flexInt         `json:"transferCount"`
	Parties                       json.RawMessage `json:"parties"`
}

// partyCDR is the "Agent Call Sub talk list".
type partyCDR struct {
	CallID            flexString `json:"callID"`
	PartyID           flexString `json:"partyId"`
	CallType          flexInt    `json:"callType"`
	DialType          flexInt    `json:"dialType"`
	AgentRole         flexInt    `json:"agentRole"`
	AgentUUID         flexString `json:"agentUUID"`
	AgentID           flexString `json:"agentID"`
	AgentName         flexString `json:"agentName"`
	DNIS              flexString `json:"DNIS"`
	FromQueueID       flexString `json:"fromQueueID"`
	FromQueueName     flexString `json:"fromQueueName"`
	StartTime         flexInt    `json:"startTime"`
	AlertTime         flexInt    `json:"alertTime"`
	AnswerTime        flexInt    `json:"answerTime"`
	BridgeTime        flexInt    `json:"bridgeTime"`
	EndTime           flexInt    `json:"endTime"`
	AfterworkEndTime  flexInt    `json:"afterworkEndTime"`
	AlertDuration     flexInt    `json:"alertDuration"`
	Duration          flexInt    `json:"duration"`
	CallResult        flexInt    `json:"callResult"`
	HangupDisposition flexInt    `json:"hangupDisposition"`
}

// agentMetrics is one item of agentsMetrics.list (the "Agent List" structure).
type agentMetrics struct {
	AgentUUID                          flexString `json:"agentUUID"`
	AgentID                            flexString `json:"agentID"`
	AgentName                          flexString `json:"agentName"`
	ThisDN                             flexString `json:"thisDN"`
	AgentLoginStatus                   flexInt    `json:"agentLoginStatus"`
	AgentWorkStatus                    flexInt    `json:"agentWorkStatus"`
	AgentBusyReasonCode                flexInt    `json:"agentBusyReasonCode"`
	LastWorkStatusChangedTime          flexInt    `json:"lastWorkStatusChangedTime"`
	LastLoginStatusChangedTime         flexInt    `json:"lastLoginStatusChangedTime"`
	InboundEstablishedCallsCountToday  flexInt    `json:"inboundEstablishedCallsCountToday"`
	InboundAbandonCallsCountToday      flexInt    `json:"inboundAbandonCallsCountToday"`
	OutboundCallsCountToday            flexInt    `json:"outboundCallsCountToday"`
	OutboundEstablishedCallsCountToday flexInt    `json:"outboundEstablishedCallsCountToday"`
}

// agentsSummary is agentsSummary of the metrics message ("Agent List Summary" plus the
// "Call Monitoring Indicator" counts that patches may set).
type agentsSummary struct {
	InboundEstablishedCallsCountToday  flexInt `json:"inboundEstablishedCallsCountToday"`
	InboundAbandonCallsCountToday      flexInt `json:"inboundAbandonCallsCountToday"`
	OutboundCallsCountToday            flexInt `json:"outboundCallsCountToday"`
	OutboundEstablishedCallsCountToday flexInt `json:"outboundEstablishedCallsCountToday"`
	InboundCallsCount                  flexInt `json:"inboundCallsCount"`
	OutboundCallsCount                 flexInt `json:"outboundCallsCount"`
}

// metricsMessage is the full agents-metrics document (GET answer and first SSE message).
type metricsMessage struct {
	MessageID     string          `json:"MessageID"`
	CompanyID     flexString      `json:"companyId"`
	CreationTime  flexInt         `json:"creationTime"`
	AgentsSummary json.RawMessage `json:"agentsSummary"`
	AgentsMetrics *page           `json:"agentsMetrics"`
	List          []patchOp       `json:"list"`
}

// patchOp is one incremental change of EventAgentsMetricsChanged.
type patchOp struct {
	Op    string          `json:"op"`
	ID    flexString      `json:"id"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// agentHistory is one item of agent-histories/_search pageData.
type agentHistory struct {
	ID            flexString `json:"id"`
	AgentUUID     flexString `json:"agentUUID"`
	AgentID       flexString `json:"agentID"`
	AgentName     flexString `json:"agentName"`
	StartTime     flexString `json:"startTime"`
	EndTime       flexString `json:"endTime"`
	StartTimeMs   flexInt    `json:"startTimeMs"`
	EndTimeMs     flexInt    `json:"endTimeMs"`
	LoginStatus   flexInt    `json:"loginStatus"`
	NoReadyStatus flexInt    `json:"noReadyStatus"`
	WorkStatus    flexInt    `json:"workStatus"`
}

// statusCallback is the pushed "Agent Status Callback".
type statusCallback struct {
	CompanyID      flexString `json:"companyId"`
	MessageID      string     `json:"messageID"`
	MsgType        string     `json:"msgType"`
	CreationTime   flexInt    `json:"creationTime"`
	AgentUUID      flexString `json:"agentUUID"`
	AgentID        flexString `json:"agentID"`
	AgentName      flexString `json:"agentName"`
	LoginStatus    flexInt    `json:"loginStatus"`
	NotReadyStatus flexInt    `json:"notReadyStatus"`
	WorkStatus     flexInt    `json:"workStatus"`
	StartTime      flexInt    `json:"startTime"`
	CallID         flexString `json:"callID"`
}

// callEvent is a pushed call event. The document names the events but never shows their
// body ("Refer to Call Event"), so this is the set of fields we accept; see README.
type callEvent struct {
	MessageID      string     `json:"messageID"`
	MessageIDAlt   string     `json:"MessageID"`
	EventName      string     `json:"eventName"`
	CallID         flexString `json:"callID"`
	CallType       flexInt    `json:"callType"`
	PartyID        flexString `json:"partyId"`
	AgentUUID      flexString `json:"agentUUID"`
	AgentName      flexString `json:"agentName"`
	CustomerNumber flexString `json:"customerNumber"`
	GatewayNumber  flexString `json:"gatewayNumber"`
	CreationTime   flexInt    `json:"creationTime"`
	Timestamp      flexInt    `json:"timestamp"`
}

func (e callEvent) name() string {
	for _, n := range []string{e.MessageID, e.MessageIDAlt, e.EventName} {
		if n != "" {
			return n
		}
	}
	return ""
}

// flexString accepts a string or a number and trims the spaces Sobot pads ids with.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
	case len(b) > 0 && b[0] == '"':
		v, err := unquote(b)
		if err != nil {
			return err
		}
		*s = flexString(strings.TrimSpace(v))
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*s = flexString(b)
	case bytes.Equal(b, []byte("true")) || bytes.Equal(b, []byte("false")):
		*s = flexString(b)
	default:
		return fmt.Errorf("want a string, got %.20s", b)
	}
	return nil
}

// unquote reads a JSON string. The decoder calling an UnmarshalJSON has already checked
// the value is well-formed JSON, so one without escapes is its bytes between the quotes.
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		return string(b[1 : len(b)-1]), nil
	}
	var v string
	err := json.Unmarshal(b, &v)
	return v, err
}

// flexInt is an optional integer sent as a number or a string ("100", " 100 ", "" = absent).
type flexInt struct {
	V   int64
	Set bool
}

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*n = flexInt{}
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var err error
		if s, err = unquote(b); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*n = flexInt{}
			return nil
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = flexInt{V: v, Set: true}
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > 9e18 || f < -9e18 {
		return fmt.Errorf("want an integer, got %.20q", s)
	}
	*n = flexInt{V: int64(f), Set: true}
	return nil
}

func (n flexInt) MarshalJSON() ([]byte, error) {
	if !n.Set {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, n.V, 10), nil
}

// ptr returns the value as *int, nil when absent.
func (n flexInt) ptr() *int {
	if !n.Set {
		return nil
	}
	v := int(n.V)
	return &v
}
