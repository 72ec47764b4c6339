package ccai

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The wire structs follow the call object of ccai-platform-calls.txt (the model and the
// example response). Scalars use the lenient types below because the document itself is
// inconsistent (ids as numbers but filtered as strings, "hidden" as a string or a boolean,
// "transfer" as false or 0); anything that cannot be coerced fails with a
// *json.UnmarshalTypeError, which encoding/json annotates with the field path.

type wireCall struct {
	ID                          flexID               `json:"id"`
	ParentID                    flexID               `json:"parent_id"`
	Lang                        flexString           `json:"lang"`
	CallType                    flexString           `json:"call_type"`
	Status                      flexString           `json:"status"`
	SubStatus                   flexString           `json:"sub_status"`
	CreatedAt                   stamp                `json:"created_at"`
	QueuedAt                    stamp                `json:"queued_at"`
	AssignedAt                  stamp                `json:"assigned_at"`
	ConnectedAt                 stamp                `json:"connected_at"`
	EndsAt                      stamp                `json:"ends_at"`
	ScheduledAt                 stamp                `json:"scheduled_at"`
	UpdatedAt                   stamp                `json:"updated_at"`
	WaitDuration                flexInt              `json:"wait_duration"` // deprecated: queue_duration
	QueueDuration               flexInt              `json:"queue_duration"`
	CallDuration                flexInt              `json:"call_duration"`
	HoldDuration                flexInt              `json:"hold_duration"`
	Rating                      flexInt              `json:"rating"`
	HasFeedback                 flexBool             `json:"has_feedback"`
	VoipProvider                flexString           `json:"voip_provider"`
	OutTicketID                 flexString           `json:"out_ticket_id"`
	OutTicketURL                flexString           `json:"out_ticket_url"`
	Verified                    flexBool             `json:"verified"`
	RecordingURL                flexString           `json:"recording_url"`
	RecordingPermission         flexString           `json:"recording_permission"`
	VoicemailReason             flexString           `json:"voicemail_reason"`
	Deflection                  flexString           `json:"deflection"`
	DisconnectedBy              flexString           `json:"disconnected_by"`
	FinishReason                flexString           `json:"finish_reason"`
	FailDetails                 flexString           `json:"fail_details"`
	FailReason                  flexString           `json:"fail_reason"`
	AdapterFailCode             flexString           `json:"adapter_fail_code"`
	AdapterFailMessage          flexString           `json:"adapter_fail_message"`
	SupportNumber               flexString           `json:"support_number"`
	OutboundNumber              flexString           `json:"outbound_number"`
	QueuePriorityLevel          flexInt              `json:"queue_priority_level"`
	SelectedMenu                *wireMenu            `json:"selected_menu"`
	MenuPath                    *wireMenuPath        `json:"menu_path"`
	AgentInfo                   *wireAgent           `json:"agent_info"`
	EndUser                     *wireEndUser         `json:"end_user"`
	Photos                      []wireMedia          `json:"photos"`
	Videos                      []wireMedia          `json:"videos"`
	Recordings                  []wireRecording      `json:"recordings"`
	Transfers                   *[]wireTransfer      `json:"transfers"`
	Participants                *[]json.RawMessage   `json:"participants"`
	HandleDurations             *[]json.RawMessage   `json:"handle_durations"`
	QueueDurations              *[]json.RawMessage   `json:"queue_durations"`
	OfferType                   flexString           `json:"offer_type"`
	OfferEvents                 []wireOfferEvent     `json:"offer_events"`
	AnswerType                  flexString           `json:"answer_type"`
	Dispositions                []wireDisposition    `json:"dispositions"`
	ConsumerHandleDurations     []wireConsumerHandle `json:"consumer_handle_durations"`
	ConsumerInMenuDurations     *[]wireMenuDuration  `json:"consumer_in_menu_durations"`
	ConsumerEventDurations      []wireMenuDuration   `json:"consumer_event_durations"`
	VirtualAgent                *wireVirtualAgent    `json:"virtual_agent"`
	VirtualAgentHandleDurations []wireVAHandle       `json:"virtual_agent_handle_durations"`
	// virtual_agent_deflected_escalations, wait_time_sms and in_call_sms are kept in Raw only.
}

type wireMenu struct {
	ID        flexID     `json:"id"`
	Name      flexString `json:"name"`
	ParentID  flexID     `json:"parent_id"`
	Position  flexInt    `json:"position"`
	Deleted   flexBool   `json:"deleted"`
	Hidden    flexString `json:"hidden"` // "string" in the model, false in the example
	MenuType  flexString `json:"menu_type"`
	OutputMsg flexString `json:"output_msg"`
}

type wireMenuPath struct {
	ItemsCount       flexInt    `json:"items_count"`
	Name             flexString `json:"name"`
	MaterializedPath flexString `json:"materialized_path"`
}

type wireAgent struct {
	ID          flexID     `json:"id"`
	Name        flexString `json:"name"`
	LastName    flexString `json:"last_name"`
	FirstName   flexString `json:"first_name"`
	AgentNumber flexString `json:"agent_number"`
	AvatarURL   flexString `json:"avatar_url"`
}

type wireEndUser struct {
	ID           flexID     `json:"id"`
	Identifier   flexString `json:"identifier"`
	OutContactID flexString `json:"out_contact_id"`
}

type wireMedia struct {
	ID        flexID     `json:"id"`
	PhotoType flexString `json:"photo_type"`
	URL       flexString `json:"url"`
}

type wireRecording struct {
	ID            flexID     `json:"id"`
	CallID        flexID     `json:"call_id"`
	ConferenceSID flexString `json:"conference_sid"`
	Duration      flexInt    `json:"duration"`
	RecordingType flexString `json:"recording_type"`
	StartedAt     stamp      `json:"started_at"`
}

type wireTransfer struct {
	ID           flexID        `json:"id"`
	Status       flexString    `json:"status"`
	FailReason   flexString    `json:"fail_reason"`
	CreatedAt    stamp         `json:"created_at"`
	CallDuration flexInt       `json:"call_duration"`
	WaitDuration flexInt       `json:"wait_duration"`
	AssignedAt   stamp         `json:"assigned_at"`
	ConnectedAt  stamp         `json:"connected_at"`
	UpdatedAt    stamp         `json:"updated_at"`
	Deflection   flexString    `json:"deflection"`
	FromMenu     *wireMenuPath `json:"from_menu"`
	ToMenu       *wireMenuPath `json:"to_menu"`
	FromAgent    *wireAgent    `json:"from_agent"`
	ToAgent      *wireAgent    `json:"to_agent"`
}

type wireParticipant struct {
	ID                 flexID     `json:"id"`
	Type               flexString `json:"type"`
	Status             flexString `json:"status"`
	CallID             flexID     `json:"call_id"`
	UserID             flexID     `json:"user_id"`
	EndUserID          flexID     `json:"end_user_id"`
	CallDuration       flexInt    `json:"call_duration"`
	HoldDuration       flexInt    `json:"hold_duration"`
	ConnectedAt        stamp      `json:"connected_at"`
	EndedAt            stamp      `json:"ended_at"`
	FailReason         flexString `json:"fail_reason"`
	AdapterFailCode    flexString `json:"adapter_fail_code"`
	AdapterFailMessage flexString `json:"adapter_fail_message"`
}

type wireHandle struct {
	ID                         flexID     `json:"id"`
	AgentID                    flexID     `json:"agent_id"`
	AcwDuration                flexInt    `json:"acw_duration"`
	BcwDuration                flexInt    `json:"bcw_duration"`
	CallDuration               flexInt    `json:"call_duration"`
	AssignedConnectionDuration flexInt    `json:"assigned_connection_duration"`
	HoldDuration               flexInt    `json:"hold_duration"`
	WaitDuration               flexInt    `json:"wait_duration"`
	MenuPathID                 flexID     `json:"menu_path_id"`
	MenuPath                   flexString `json:"menu_path"`
	Lang                       flexString `json:"lang"`
	Barged                     flexBool   `json:"barged"`
	Transfer                   flexBool   `json:"transfer"`
	TransferID                 flexID     `json:"transfer_id"`
	TransferCold               flexBool   `json:"transfer_cold"`
	StartedAt                  stamp      `json:"started_at"`
	EndedAt                    stamp      `json:"ended_at"`
	ScheduledAt                stamp      `json:"scheduled_at"`
	Event                      flexString `json:"event"`
}

type wireQueueDuration struct {
	ID                               flexID     `json:"id"`
	AgentID                          flexID     `json:"agent_id"`
	QueueDuration                    flexInt    `json:"queue_duration"`
	MenuPathID                       flexID     `json:"menu_path_id"`
	MenuPath                         flexString `json:"menu_path"`
	Lang                             flexString `json:"lang"`
	Transfer                         flexBool   `json:"transfer"`
	TransferID                       flexID     `json:"transfer_id"`
	TransferCold                     flexBool   `json:"transfer_cold"`
	StartedAt                        stamp      `json:"started_at"`
	EndedAt                          stamp      `json:"ended_at"`
	ServiceLevelAbandonTimeThreshold flexInt    `json:"service_level_abandon_time_threshold"`
	ServiceLevelEvent                flexString `json:"service_level_event"`
	ServiceLevelTargetPercent        flexInt    `json:"service_level_target_percent"`
	ServiceLevelTargetTime           flexInt    `json:"service_level_target_time"`
	Event                            flexString `json:"event"`
}

type wireOfferEvent struct {
	CastingTime stamp      `json:"casting_time"`
	Group       flexString `json:"group"`
}

type wireDisposition struct {
	UserID        flexID     `json:"user_id"`
	ParticipantID flexID     `json:"participant_id"`
	TransferID    flexID     `json:"transfer_id"`
	Code          flexString `json:"code"`
}

type wireConsumerHandle struct {
	ID           flexID  `json:"id"`
	CallDuration flexInt `json:"call_duration"`
	HoldDuration flexInt `json:"hold_duration"`
	StartedAt    stamp   `json:"started_at"`
	EndedAt      stamp   `json:"ended_at"`
}

type wireMenuDuration struct {
	ID         flexID     `json:"id"`
	Type       flexString `json:"type"`
	Event      flexString `json:"event"`
	Duration   flexInt    `json:"duration"`
	MenuPathID flexID     `json:"menu_path_id"`
	MenuPath   flexString `json:"menu_path"`
	Lang       flexString `json:"lang"`
	StartedAt  stamp      `json:"started_at"`
	EndedAt    stamp      `json:"ended_at"`
}

type wireVirtualAgent struct {
	ID   flexID     `json:"id"`
	Name flexString `json:"name"`
}

type wireVAHandle struct {
	ID           flexID            `json:"id"`
	VirtualAgent *wireVirtualAgent `json:"virtual_agent"`
	CallDuration flexInt           `json:"call_duration"`
	StartedAt    stamp             `json:"started_at"`
	EndedAt      stamp             `json:"ended_at"`
}

// wireError is the documented error body.
type wireError struct {
	Error   flexString `json:"error"`
	Message flexString `json:"message"`
	Status  flexInt    `json:"status"`
}

func typeError(b []byte, t any) error {
	v := string(b)
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return &json.UnmarshalTypeError{Value: v, Type: reflect.TypeOf(t)}
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

// flexID is a vendor id sent as a number or a string; "" when null or absent.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case isNull(b):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return typeError(b, *f)
		}
		*f = flexID(strings.TrimSpace(s))
	default:
		v, err := strconv.ParseFloat(string(b), 64)
		if err != nil || math.IsInf(v, 0) || v != math.Trunc(v) {
			return typeError(b, *f)
		}
		*f = flexID(strconv.FormatFloat(v, 'f', -1, 64))
	}
	return nil
}

// known reports an id that names something: the model uses 0 as a placeholder.
func (f flexID) known() bool { return f != "" && f != "0" }

// flexString is text that may arrive as a number or a boolean. Present records the key
// was there even when null.
type flexString struct {
	S       string
	Set     bool
	Present bool
}

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*f = flexString{Present: true}
	if isNull(b) || len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		if err := json.Unmarshal(b, &f.S); err != nil {
			return typeError(b, *f)
		}
	case '{', '[':
		return typeError(b, *f)
	default:
		f.S = string(b) // number or boolean literal, as written
	}
	f.Set = true
	return nil
}

func (f flexString) ptr() *string {
	if !f.Set || strings.TrimSpace(f.S) == "" {
		return nil
	}
	return &f.S
}

// flexInt is a whole number sent as a number (rounded), a numeric string or a 0/1 boolean.
type flexInt struct {
	V   int
	Set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*f = flexInt{}
	if isNull(b) {
		return nil
	}
	s := string(b)
	switch {
	case s == "true" || s == "false":
		if s == "true" {
			f.V = 1
		}
		f.Set = true
		return nil
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &s); err != nil {
			return typeError(b, *f)
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.Abs(v) > math.MaxInt32 {
		return typeError(b, *f)
	}
	f.V, f.Set = int(math.Round(v)), true
	return nil
}

func (f flexInt) ptr() *int {
	if !f.Set {
		return nil
	}
	v := f.V
	return &v
}

// flexBool is a boolean sent as true/false, 0/1 or their strings.
type flexBool struct {
	V   bool
	Set bool
}

func (f *flexBool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*f = flexBool{}
	if isNull(b) {
		return nil
	}
	s := strings.Trim(string(b), `"`)
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		f.V, f.Set = true, true
	case "false", "0":
		f.Set = true
	case "":
	default:
		return typeError(b, *f)
	}
	return nil
}

// stamp is an RFC 3339 instant; null or "" leave it unset.
type stamp struct {
	T   time.Time
	Set bool
}

func (s *stamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*s = stamp{}
	if isNull(b) {
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return typeError(b, *s)
	}
	if v = strings.TrimSpace(v); v == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return typeError(b, *s)
	}
	s.T, s.Set = t.UTC(), true
	return nil
}

func (s stamp) ptr() *time.Time {
	if !s.Set {
		return nil
	}
	t := s.T
	return &t
}
