package portsip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// The Data Flow document gives request bodies only; the response documents below are the
// shapes this driver accepts (see README "Response documents"). Numbers may arrive as JSON
// numbers or numeric strings and absent values as null, as PortSIP writes blank fields.

// tokenResponse is the OAuth token endpoint's answer.
type tokenResponse struct {
	AccessToken  string  `json:"access_token"`
	RefreshToken string  `json:"refresh_token"`
	ExpiresIn    flexInt `json:"expires_in"`
	TokenType    string  `json:"token_type"`
}

// errorsBody is PortSIP's error document: {"errors":[{"code","message","detail"}]}.
type errorsBody struct {
	Errors []vendorError `json:"errors"`
}

type vendorError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

// listBody is every list response: {"count": N, "items": [...]}; count only with count=true.
type listBody struct {
	Count *flexInt          `json:"count"`
	Items []json.RawMessage `json:"items"`
}

// timeRangeBody is the start_time/end_time pair every Data Flow body carries.
type timeRangeBody struct {
	StartTime string `json:"start_time,omitempty"`
	EndTime   string `json:"end_time,omitempty"`
}

// queueSLA is one element of the summary body's queues list.
type queueSLA struct {
	Number  string `json:"number"`
	SLASecs int    `json:"sla_secs"`
}

type queueSummaryRequest struct {
	Queues []queueSLA `json:"queues,omitempty"`
	timeRangeBody
}

type queueTimeseriesRequest struct {
	Queue    string `json:"queue,omitempty"`
	Agent    string `json:"agent,omitempty"`
	Interval string `json:"interval,omitempty"`
	timeRangeBody
}

type callsTimeseriesRequest struct {
	Tenants []json.Number `json:"tenants,omitempty"`
	timeRangeBody
}

type callHistoryRequest struct {
	SessionID string `json:"session_id,omitempty"`
	timeRangeBody
}

// queueSummary is the queues/summary answer (the queue's KPIs over the range, and now).
type queueSummary struct {
	Queues              []queueSLA `json:"queues"`
	StartTime           *string    `json:"start_time"`
	EndTime             *string    `json:"end_time"`
	TotalCalls          *flexInt   `json:"total_calls"`
	AnsweredCalls       *flexInt   `json:"answered_calls"`
	AbandonedCalls      *flexInt   `json:"abandoned_calls"`
	ShortAbandonedCalls *flexInt   `json:"short_abandoned_calls"`
	AnsweredInSLACalls  *flexInt   `json:"answered_in_sla_calls"`
	CallbackCalls       *flexInt   `json:"callback_calls"`
	ServiceLevel        *flexFloat `json:"service_level"` // percent, 0..100
	AvgAnswerSecs       *flexFloat `json:"avg_answer_secs"`
	AvgWaitingSecs      *flexFloat `json:"avg_waiting_secs"`
	AvgHandleSecs       *flexFloat `json:"avg_handle_secs"`
	WaitingCalls        *flexInt   `json:"waiting_calls"`
	LongestWaitingSecs  *flexInt   `json:"longest_waiting_secs"`
}

// seriesBody is a timeseries answer: the buckets in items.
type seriesBody struct {
	Queue    string            `json:"queue"`
	Agent    string            `json:"agent"`
	Interval string            `json:"interval"`
	Items    []json.RawMessage `json:"items"`
}

// seriesItem is one bucket of the queue, agent and calls timeseries.
type seriesItem struct {
	StartTime        string     `json:"start_time"`
	EndTime          string     `json:"end_time"`
	TotalCalls       *flexInt   `json:"total_calls"`
	AnsweredCalls    *flexInt   `json:"answered_calls"`
	NotAnsweredCalls *flexInt   `json:"not_answered_calls"`
	AbandonedCalls   *flexInt   `json:"abandoned_calls"`
	MissedCalls      *flexInt   `json:"missed_calls"`
	TalkSecs         *flexInt   `json:"talk_secs"`
	HoldSecs         *flexInt   `json:"hold_secs"`
	WrapUpSecs       *flexInt   `json:"wrap_up_secs"`
	AvgAnswerSecs    *flexFloat `json:"avg_answer_secs"`
	AvgHandleSecs    *flexFloat `json:"avg_handle_secs"`
}

// agentSummary is the queues/agent/summary answer.
type agentSummary struct {
	Queue         string     `json:"queue"`
	Agent         string     `json:"agent"`
	TotalCalls    *flexInt   `json:"total_calls"`
	AnsweredCalls *flexInt   `json:"answered_calls"`
	MissedCalls   *flexInt   `json:"missed_calls"`
	TalkSecs      *flexInt   `json:"talk_secs"`
	HoldSecs      *flexInt   `json:"hold_secs"`
	WrapUpSecs    *flexInt   `json:"wrap_up_secs"`
	AvgHandleSecs *flexFloat `json:"avg_handle_secs"`
}

// callRecord is one item of analytics/calls/history (and the /{session_id} answer).
type callRecord struct {
	SessionID  flexString `json:"session_id"`
	CallID     *string    `json:"call_id"`
	Direction  *string    `json:"direction"`
	From       *string    `json:"from"`
	To         *string    `json:"to"`
	Status     *string    `json:"status"` // NONE, ANSWERED, NOT_ANSWERED
	EndReason  *string    `json:"end_reason"`
	StartTime  *string    `json:"start_time"`
	AnswerTime *string    `json:"answer_time"`
	EndTime    *string    `json:"end_time"`
	Duration   *flexInt   `json:"duration"`
	TalkSecs   *flexInt   `json:"talk_secs"`
	HoldSecs   *flexInt   `json:"hold_secs"`
	WrapUpSecs *flexInt   `json:"wrap_up_secs"`
	Queues     []string   `json:"queues"`
	Agents     []string   `json:"agents"`
	Transfers  *flexInt   `json:"transfers"`
	Recorded   *bool      `json:"recorded"`
}

// userCallRecord is one item of analytics/calls/user/history: one user's part of a call.
type userCallRecord struct {
	SessionID      flexString `json:"session_id"`
	User           *string    `json:"user"`
	UserName       *string    `json:"user_name"`
	Queue          *string    `json:"queue"`
	Direction      *string    `json:"direction"`
	Destination    *string    `json:"destination"`
	Status         *string    `json:"status"`
	StartTime      *string    `json:"start_time"`
	AnswerTime     *string    `json:"answer_time"`
	EndTime        *string    `json:"end_time"`
	RingSecs       *flexInt   `json:"ring_secs"`
	TalkSecs       *flexInt   `json:"talk_secs"`
	HoldSecs       *flexInt   `json:"hold_secs"`
	WrapUpSecs     *flexInt   `json:"wrap_up_secs"`
	TransferredIn  *bool      `json:"transferred_in"`
	TransferredOut *bool      `json:"transferred_out"`
	TransferType   *string    `json:"transfer_type"`
	EndReason      *string    `json:"end_reason"`
}

// reportJobBody is what create and update send. Create names the zone "timezone", update
// "time_zone" (as documented); the unused one stays empty and is omitted.
type reportJobBody struct {
	Type         string        `json:"type"`
	Format       string        `json:"format"`
	ScheduleName string        `json:"schedule_name"`
	CronExpr     string        `json:"cron_expr"`
	Active       bool          `json:"active"`
	Recipients   string        `json:"recipients"`
	Timezone     string        `json:"timezone,omitempty"`
	TimeZone     string        `json:"time_zone,omitempty"`
	Params       *reportParams `json:"params,omitempty"`
}

// reportParams is the params object; the document leaves its variants unnamed, so the
// driver sends only the queue list.
type reportParams struct {
	Queues []string `json:"queues,omitempty"`
}

// reportJob is a job as the API returns it.
type reportJob struct {
	ID           flexString    `json:"id"`
	Type         *string       `json:"type"`
	Format       *string       `json:"format"`
	ScheduleName *string       `json:"schedule_name"`
	CronExpr     *string       `json:"cron_expr"`
	Active       *bool         `json:"active"`
	Recipients   *string       `json:"recipients"`
	Timezone     *string       `json:"timezone"`
	TimeZone     *string       `json:"time_zone"`
	Params       *reportParams `json:"params"`
	CreatedAt    *string       `json:"created_at"`
	UpdatedAt    *string       `json:"updated_at"`
}

// reportLog is one report_list item: one execution of a job.
type reportLog struct {
	ID           flexString `json:"id"`
	JobID        *string    `json:"job_id"`
	ScheduleName *string    `json:"schedule_name"`
	Status       *string    `json:"status"`
	Format       *string    `json:"format"`
	FileName     *string    `json:"file_name"`
	CreatedAt    *string    `json:"created_at"`
}

// flexInt accepts 12, 12.0 and "12".
type flexInt int64

func (f *flexInt) UnmarshalJSON(raw []byte) error {
	b := unquote(raw)
	if len(b) == 0 {
		return fmt.Errorf("empty number")
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*f = flexInt(n)
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || v != float64(int64(v)) {
		return fmt.Errorf("%s is not an integer", raw)
	}
	*f = flexInt(v)
	return nil
}

// flexFloat accepts 1.5 and "1.5".
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseFloat(string(unquote(b)), 64)
	if err != nil {
		return fmt.Errorf("%s is not a number", b)
	}
	*f = flexFloat(v)
	return nil
}

// flexString accepts "1040099039162400768" and 1040099039162400768 (the document types
// session_id as a string in one path and an integer in another); digits are kept exact.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("%s is neither a string nor a number", b)
	}
	*f = flexString(n.String())
	return nil
}

func unquote(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return bytes.TrimSpace(b[1 : len(b)-1])
	}
	return b
}

func intPtr(f *flexInt) *int {
	if f == nil {
		return nil
	}
	v := int(*f)
	return &v
}

func floatPtr(f *flexFloat) *float64 {
	if f == nil {
		return nil
	}
	v := float64(*f)
	return &v
}
